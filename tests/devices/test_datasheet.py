"""User-defined devices: the datasheet block, `cimest device fit`, and the README walk-through."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from cimest.cli import main
from cimest.errors import SpecError
from cimest.spec import load_library
from cimest.spec.datasheet import alpha_from_nl, nl_from_alpha

ROOT = Path(__file__).parents[2]

# (NL label, alpha) pairs the shipped libraries hold (their notes), rounded to 3 digits there.
LIBRARY_PAIRS = [
    (0.04, 0.0317),
    (0.63, 0.501),
    (2.4, 2.00),
    (4.88, 4.99),
    (1.94, 1.59),
    (0.61, 0.485),
    (3.68, 3.33),
    (6.76, 9.98),
    (0.105, 0.0832),
    (1.75, 1.42),
    (1.46, 1.18),
    (0.5, 0.397),
]


@pytest.mark.parametrize("nl, alpha", LIBRARY_PAIRS)
def test_nl_conversion_is_the_libraries_one(nl, alpha):
    assert alpha_from_nl(nl) == pytest.approx(alpha, rel=5e-3)
    assert alpha_from_nl(-nl) == alpha_from_nl(nl)
    assert nl_from_alpha(alpha_from_nl(nl)) == pytest.approx(nl, rel=1e-9)


def test_nl_conversion_matches_neurosim_a_norm():
    # NeuroSim getParamA: A_norm 31.57 for NL 0.04 and 1.997 for NL 0.63 (rram_taox_hfox.yaml note)
    assert 1 / alpha_from_nl(0.04) == pytest.approx(31.57, rel=2e-3)
    assert 1 / alpha_from_nl(0.63) == pytest.approx(1.997, rel=2e-3)
    assert alpha_from_nl(0) == 0.0
    with pytest.raises(ValueError, match="below 10.1"):
        alpha_from_nl(10.5)


def _readme_block(after: str, lang: str = "yaml") -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(after)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert m, f"no ```{lang} block after {after!r}"
    return m.group(1)


def test_datasheet_entry_converts_to_the_section_2_model(tmp_path):
    f = tmp_path / "my_devices.yaml"
    f.write_text(_readme_block("**1. Write a library file**"))
    e = load_library(f).spec.entries[0]
    d = e.device
    assert d.g_max_s == pytest.approx(1e-5, rel=1e-12)
    assert d.g_min_s == pytest.approx(1e-6, rel=1e-12)
    assert (d.levels, d.n_p, d.n_d) == (128, 128, 128)
    assert d.alpha_p == pytest.approx(0.0317, rel=5e-3) and d.alpha_d == pytest.approx(
        0.501, rel=5e-3
    )
    assert d.gamma_p == d.gamma_d == pytest.approx(0.037 * 128, rel=1e-12)
    assert (d.v_set_v, d.t_set_s, d.v_read_v, d.t_read_s) == (
        1.6,
        pytest.approx(50e-9),
        0.5,
        pytest.approx(5e-9),
    )
    assert d.endurance_cycles == 1e6
    # the same numbers as the shipped table entry, which was converted by hand
    shipped = next(
        x
        for x in load_library(ROOT / "device_libraries/rram_taox_hfox.yaml").spec.entries
        if x.variant == "taox_hfox_rram"
    ).device
    for field in ("g_min_s", "g_max_s", "n_p", "n_d", "alpha_p", "alpha_d", "gamma_p", "gamma_d"):
        assert getattr(d, field) == pytest.approx(getattr(shipped, field), rel=5e-3), field


def _lib(tmp_path, datasheet: dict, extra: str = "") -> Path:
    entry = {"kind": "cell", "variant": "c", "source": "test", "datasheet": datasheet}
    text = yaml.safe_dump({"name": "t", "node_nm": 32, "vdd_v": 0.9, "entries": [entry]}) + extra
    f = tmp_path / "t.yaml"
    f.write_text(text)
    return f


BASE = {
    "levels": 16,
    "r_on_ohm": 1e5,
    "on_off_ratio": 10,
    "v_set_v": 1,
    "v_reset_v": 1,
    "t_set_ns": 10,
    "t_reset_ns": 10,
}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"alpha_p": 1.0, "nonlinearity_p": 1.0},
            "nonlinearity_p (a NeuroSim label) or alpha_p, not both",
        ),
        ({"on_off_ratio": 0.5}, "on_off_ratio"),
        ({"v_reset_v": -2.8}, "must not be negative"),
        ({"r_on_ohm": 0.5}, "r_on_ohm: 0.5 Ohm is out of range: allowed 1 to 1e+12 Ohm"),
        ({"levels": 1000, "c2c_sigma": 0.5}, "derived device is not valid"),  # gamma 500 > 100
        ({"nonlinearity_d": -12}, "nonlinearity_d"),
        ({"levels_typo": 3}, "unknown field"),
    ],
)
def test_bad_datasheets_are_reported_with_their_line(tmp_path, change, message):
    f = _lib(tmp_path, {**BASE, **change})
    with pytest.raises(SpecError) as err:
        load_library(f)
    assert message in str(err.value)
    assert re.search(r"t\.yaml:\d+: entries\[0\]", str(err.value))


def test_device_and_datasheet_together_are_refused(tmp_path):
    f = _lib(tmp_path, BASE)
    data = yaml.safe_load(f.read_text())
    data["entries"][0]["device"] = {
        "g_min_s": 1e-6,
        "g_max_s": 1e-5,
        "v_read_v": 0.5,
        "v_set_v": 1,
        "v_reset_v": 1,
        "t_set_ns": 1,
        "t_reset_ns": 1,
        "n_p": 4,
        "n_d": 4,
    }
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="device block or a datasheet block, not both"):
        load_library(f)


def test_readme_walkthrough_from_a_temp_folder(tmp_path, monkeypatch, capsys):
    """Exactly what the README's "Add your own device" says, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    libdir = tmp_path / "mylibs"
    libdir.mkdir()
    monkeypatch.setenv("CIMEST_LIBRARY_PATH", str(libdir))
    (libdir / "my_devices.yaml").write_text(_readme_block("**1. Write a library file**"))

    assert main(["library", "show", "my_devices"]) == 0
    shown = capsys.readouterr().out
    assert "cell/my_rram datasheet: 128 levels" in shown
    assert "cell/my_rram device (derived from the datasheet):" in shown
    assert "alpha 0.03168/0.5007, gamma 4.736/4.736" in shown  # the README shows this output
    for line in _readme_block("cimest library show my_devices", "text").splitlines()[1:]:
        assert line in shown, line  # the README shows what the command prints

    change = _readme_block("**2. Name it in an architecture**")
    new_libs = re.search(r"^(libraries: .*?)\s+#", change, re.M).group(1)
    new_cell = re.search(r"^  (cell: \w+)", change, re.M).group(1)
    new_name = re.search(r"^(name: \S+)\s+#", change, re.M).group(1)
    text = (ROOT / "architectures/binary_stochastic_rram.yaml").read_text()
    text = re.sub(r"^name: .*$", new_name, text, count=1, flags=re.M)
    text = re.sub(r"^libraries: .*$", new_libs, text, count=1, flags=re.M)
    text = re.sub(r"^  cell: \w+", "  " + new_cell, text, count=1, flags=re.M)
    # keep the run short: 1 epoch on 200 samples (not part of the README's steps)
    text = text.replace("workload:", "workload:\n  max_train_samples: 200", 1)
    (tmp_path / "my_chip.yaml").write_text(text)

    assert main(["validate", "my_chip.yaml"]) == 0
    assert "my_chip.yaml: OK" in capsys.readouterr().out
    assert main(["estimate", "my_chip.yaml"]) == 0
    capsys.readouterr()
    assert main(["train", "my_chip.yaml", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "events counted" in out


def _pulse_csv(path: Path, n=50, alpha_p=2.0, alpha_d=3.0, noise=0.0) -> None:
    gmin, gmax = 1e-6, 1e-5
    k = np.arange(0, n + 10)

    def s(a):
        t = np.minimum(k / n, 1.0)
        return (1 - np.exp(-a * t)) / (1 - math.exp(-a))

    rng = np.random.default_rng(1)
    rows = ["pulse,conductance_s,direction"]
    rows += [
        f"{i},{float(g)!r},pot"
        for i, g in zip(
            k,
            gmin + (gmax - gmin) * s(alpha_p) * (1 + noise * rng.standard_normal(k.size)),
            strict=True,
        )
    ]
    rows += [
        f"{i},{float(g)!r},dep" for i, g in zip(k, gmax - (gmax - gmin) * s(alpha_d), strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")


def test_device_fit_writes_a_library_that_loads(tmp_path, capsys):
    data = tmp_path / "meas.csv"
    _pulse_csv(data)
    out = tmp_path / "fitted.yaml"
    assert main(["device", "fit", str(data), "--name", "my_cell", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fit error: pot: RMS" in printed and "dep: RMS" in printed
    lib = load_library(out).spec
    assert lib.name == "fitted"
    (e,) = lib.entries
    assert e.kind == "cell" and e.variant == "my_cell" and e.confidence == "M"
    assert e.source == f"{data}, fitted by cimest device fit"
    assert "fit error" in e.note
    d = e.device
    assert d.n_p == 50 and d.n_d == 50
    assert d.alpha_p == pytest.approx(2.0, rel=1e-3) and d.alpha_d == pytest.approx(3.0, rel=1e-3)
    assert d.g_min_s == pytest.approx(1e-6) and d.g_max_s == pytest.approx(1e-5)


def test_device_fit_only_one_direction(tmp_path, capsys):
    data = tmp_path / "pot.csv"
    _pulse_csv(data)
    data.write_text(
        "\n".join(ln for ln in data.read_text().splitlines() if not ln.endswith(",dep")) + "\n"
    )
    assert main(["device", "fit", str(data), "-o", str(tmp_path / "p.yaml")]) == 0
    d = load_library(tmp_path / "p.yaml").spec.entries[0].device
    assert d.weight_mode == "pot_only" and d.n_d == 0


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            "pulse,conductance_s,direction\n0,1e-6,pot\n1,abc,pot\n",
            ":3: conductance_s: 'abc' is not a number",
        ),
        ("pulse,conductance,direction\n0,1e-6,pot\n", ":1: header must name the columns"),
        ("pulse,conductance_s,direction\n0,1e-6,pot\n1,2e-6,up\n", ":3: direction: 'up'"),
        (
            "pulse,conductance_s,direction\n0,1e-6,pot\n1,2e-6,pot\n",
            "direction pot: need at least 3 points",
        ),
    ],
)
def test_device_fit_bad_csv_exits_2_with_file_and_line(tmp_path, capsys, content, expected):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["device", "fit", str(data), "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and expected in err
    assert not (tmp_path / "x.yaml").exists()


def test_device_fit_missing_file_exits_2(tmp_path, capsys):
    assert main(["device", "fit", str(tmp_path / "none.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
