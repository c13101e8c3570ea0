"""Every file in tests/spec/bad/ is rejected with the message its first line expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from cimest.api import load_design
from cimest.errors import SpecError

BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: "), f"{path.name} needs a '# expect: ' first line"
    return first[len("# expect: ") :]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_is_rejected_with_its_message(path, toy_libs):
    with pytest.raises(SpecError) as err:
        load_design(path)
    messages = err.value.messages()
    want = expected(path)
    assert any(want in m for m in messages), f"want {want!r} in {messages}"
    # every message names the file
    assert all(m.startswith(str(path)) for m in messages)


def test_several_problems_are_all_reported_sorted_by_line(tmp_path, toy_libs):
    src = (Path(__file__).parents[1] / "fixtures" / "bsl_toy.yaml").read_text()
    src = src.replace("epochs: 10", "epocs: 10").replace("rows: 128", "rows: -1")
    src = src.replace("rule: binary_stochastic", "rule: nope")
    f = tmp_path / "a.yaml"
    f.write_text(src)
    with pytest.raises(SpecError) as err:
        load_design(f)
    lines = [int(m.split(":")[1]) for m in err.value.messages()]
    assert len(lines) == 3
    assert lines == sorted(lines)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_design(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a directory"):
        load_design(tmp_path)
