"""Property tests (hypothesis) over the spec loaders, units and the CLI.

Whatever the text, loading raises SpecError or nothing, and every message reads
``FILE:LINE: field.path: message``; units round-trip; the CLI exits 0 or 2 on any arguments.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cimest import cli
from cimest.api import load_design
from cimest.errors import SpecError
from cimest.spec import parse_architecture
from cimest.units import DIMENSIONS, PREFIXES, format_si, parse_quantity

FIXTURES = Path(__file__).parents[1] / "fixtures"
BASE = yaml.safe_load((FIXTURES / "bsl_toy.yaml").read_text())
FP = yaml.safe_load((FIXTURES / "fp_toy.yaml").read_text())
NAME = "arch.yaml"
# Problems about the file as a whole carry no line; every other one names its line.
WHOLE_FILE = ("file is empty", "YAML nested too deeply", "no such file", "not UTF-8")
FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_messages(err: SpecError, name: str = NAME) -> None:
    assert err.problems, "a SpecError without problems"
    for m in err.messages():
        assert "Traceback" not in m
        match = re.match(rf"^{re.escape(name)}:(\d+):( [\w.\[\]-]+:)? \S", m)
        if match is None:
            assert any(w in m for w in WHOLE_FILE), f"not FILE:LINE: form: {m!r}"
            assert m.startswith(f"{name}: "), m
        else:
            assert int(match.group(1)) >= 1, m


def parse(text: str):
    try:
        return parse_architecture(text, NAME)
    except SpecError as err:
        check_messages(err)
        return None


# --- random text --------------------------------------------------------------------------------

YAMLISH = st.lists(
    st.sampled_from(
        list("ab:-[]{},&*!?|>'\"#%@`\n\t .0123456789e+~<=")
        + [
            "\n  ",
            ": ",
            "- ",
            "!!python/object:os.system ",
            "&a ",
            "*a",
            "<<: ",
            "---\n",
            "...\n",
            "\x00",
            "é",
            "\ufeff",
            ".nan",
            ".inf",
            "network: ",
            "kind: ",
        ]
    ),
    max_size=60,
).map("".join)


@FAST
@given(YAMLISH)
def test_random_yamlish_text_raises_only_spec_errors(text):
    parse(text)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_from_a_file_raise_only_spec_errors(tmp_path_factory, data):
    f = tmp_path_factory.getbasetemp() / "random.yaml"
    f.write_bytes(data)
    try:
        load_design(f)
    except SpecError as err:
        check_messages(err, str(f))


# --- mutated valid architectures ------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "1 fJ",
            "0.9 V",
            "-3 ns",
            "1e999 V",
            "nan V",
            "digits",
            "adc",
            "comparator",
            "mnist-idx:/nonexistent",
            "toy_rram",
            "row_driver",
        ]
    ),
    st.lists(st.integers(min_value=-5, max_value=300), max_size=4),
)


def paths(node, prefix=()):
    """Every key path of a parsed YAML document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


def get(node, path):
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw):
    doc = copy.deepcopy(draw(st.sampled_from([BASE, FP])))
    for _ in range(draw(st.integers(1, 3))):
        all_paths = [p for p in paths(doc) if p]
        if not all_paths:
            break
        path = draw(st.sampled_from(all_paths))
        parent = get(doc, path[:-1])
        how = draw(st.sampled_from(["drop", "replace", "insert", "replace"]))
        if how == "drop":
            del parent[path[-1]]
        elif how == "replace":
            parent[path[-1]] = draw(SCALARS)
        else:
            target = get(doc, path) if isinstance(get(doc, path), dict) else parent
            if isinstance(target, dict):
                target[draw(st.sampled_from(["colums", "bitz", "kind", "variant", "x"]))] = draw(
                    SCALARS
                )
    return doc


@FAST
@given(mutated())
def test_mutated_architectures_raise_only_spec_errors_with_lines(doc):
    parse(yaml.safe_dump(doc, allow_unicode=True))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=mutated())
def test_mutated_architectures_load_or_fail_cleanly_with_libraries(toy_libs, tmp_path_factory, doc):
    f = tmp_path_factory.getbasetemp() / "mutated.yaml"
    f.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        load_design(f)
    except SpecError as err:
        check_messages(err, str(f))


# --- units ------------------------------------------------------------------------------------

MAGNITUDES = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(MAGNITUDES, st.sampled_from(sorted(DIMENSIONS)), st.sampled_from(sorted(PREFIXES)))
def test_quantity_strings_round_trip(x, dimension, prefix):
    symbol = DIMENSIONS[dimension][0]
    scale = PREFIXES[prefix] ** (2 if dimension == "area" else 1)
    got = parse_quantity(f"{x!r} {prefix}{symbol}", dimension, 1.0)
    assert math.isclose(got, x * scale, rel_tol=1e-12)
    # a bare number is in the field's own unit
    assert math.isclose(parse_quantity(x, dimension, scale), x * scale, rel_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-18, max_value=1e3), st.sampled_from(["J", "s", "W", "V", "Hz"]))
def test_displayed_quantities_read_back_within_display_precision(value, unit):
    text = format_si(value, unit, digits=6)
    dimension = {"J": "energy", "s": "time", "W": "power", "V": "voltage", "Hz": "frequency"}[unit]
    number, _, shown_unit = text.partition(" ")
    assume(shown_unit.endswith(unit))  # display-only units (e.g. TOPS/W) are not parseable
    assert math.isclose(parse_quantity(text, dimension, 1.0), value, rel_tol=1e-5)


# --- the command line ---------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        "validate",
        "graph",
        "estimate",
        "library",
        "list",
        "show",
        "--json",
        "--csv",
        "--epochs",
        "--seed",
        "-3",
        "abc",
        "0",
        "--kind",
        "adc",
        "--measured",
        "--debug",
        "--no-such",
        "",
        "-",
        "--",
        "toy_cells",
        str(FIXTURES / "bsl_toy.yaml"),
        str(FIXTURES / "fp_toy.yaml"),
        str(FIXTURES),
        "/nonexistent.yaml",
        str(Path(__file__)),
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=st.lists(TOKENS, max_size=5))
def test_the_cli_exits_0_or_2_on_any_arguments(
    toy_libs, tmp_path_factory, monkeypatch, capsys, argv
):
    assume("--measured" not in argv)  # training is exercised by tests/engine
    monkeypatch.chdir(tmp_path_factory.getbasetemp())  # --json/--csv land in a scratch folder
    try:
        status = cli.main(argv)
    except SystemExit as e:  # argparse
        status = e.code
    err = capsys.readouterr().err
    assert status in (0, 2), f"cimest {' '.join(argv)} -> {status}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err


@pytest.mark.parametrize("text", ["", "\n", "---\n", "# c\n", "~\n", "null\n"])
def test_empty_documents(text):
    with pytest.raises(SpecError, match="file is empty|expected a mapping"):
        parse_architecture(text, NAME)
