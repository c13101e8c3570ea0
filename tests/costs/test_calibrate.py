"""Calibration: per-kind factors fitted to a measured breakdown, written back into the YAML."""

from __future__ import annotations

import math

import pytest
import yaml

from cimest.api import estimate_design, load_design
from cimest.cli import main
from cimest.costs.calibrate import (
    FACTOR_MAX,
    FACTOR_MIN,
    MeasuredBreakdownSpec,
    fit_calibration,
    kind_totals,
    set_top_level_section,
)
from cimest.spec import load_architecture

FACTORS = {"adc": 3.7, "cell": 0.42, "dac": 1.9, "sram_buffer": 0.8}
AREA_FACTORS = {"adc": 2.5, "sram_buffer": 0.6}


def _measurement(path, design_file, tmp_path, per="sample"):
    """Per-kind energies of the design with known factors set: the synthetic measurement."""
    text = (
        design_file.read_text() + "calibration: " + yaml.safe_dump(FACTORS, default_flow_style=True)
    )
    text += "area_calibration: " + yaml.safe_dump(AREA_FACTORS, default_flow_style=True)
    truth = tmp_path / "truth.yaml"
    truth.write_text(text)
    est = estimate_design(load_design(truth))
    dyn, leak, area = kind_totals(est, per == "mac")
    measured = {
        "per": per,
        "energy_pj": {k: (dyn[k] + leak.get(k, 0.0)) * 1e12 for k in FACTORS},
        "area_um2": {k: area[k] * 1e12 for k in AREA_FACTORS},
    }
    path.write_text(yaml.safe_dump(measured))
    return est


@pytest.mark.parametrize("per", ["sample", "mac"])
def test_known_factors_are_recovered(fp_toy, tmp_path, per):
    meas = tmp_path / "meas.yaml"
    _measurement(meas, fp_toy, tmp_path, per)
    d = load_design(fp_toy)
    m = MeasuredBreakdownSpec.model_validate(yaml.safe_load(meas.read_text()))
    fit = fit_calibration(d.spec, d.libraries, m)
    for k, f in FACTORS.items():
        assert fit.calibration[k] == pytest.approx(f, rel=1e-9)
    for k, f in AREA_FACTORS.items():
        assert fit.area_calibration[k] == pytest.approx(f, rel=1e-9)
    assert fit.rms_before > 0.1
    assert fit.rms_after < 1e-9


def test_cli_writes_only_the_calibration_sections(fp_toy, tmp_path, capsys):
    meas = tmp_path / "meas.yaml"
    truth_est = _measurement(meas, fp_toy, tmp_path)
    original = fp_toy.read_text()
    arch = tmp_path / "arch.yaml"
    # an existing calibration section in the middle of the file, with a comment after it
    arch.write_text(
        original.replace(
            "workload:", "calibration:\n  adc: 9.0\n  mux: 2.0\n# keep me\nworkload:", 1
        )
    )
    out = tmp_path / "out.yaml"
    assert main(["calibrate", str(arch), "--measured", str(meas), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RMS relative error: before" in printed
    assert "after 0" in printed or "after 1e-" in printed or "e-1" in printed
    spec = load_architecture(out).spec
    for k, f in FACTORS.items():
        assert spec.calibration[k] == pytest.approx(f, rel=1e-9)
    assert spec.calibration["mux"] == 2.0  # a kind the measurement does not name keeps its factor
    assert arch.read_text().count("adc: 9.0") == 1  # -o leaves the input alone
    # every line outside the calibration sections is unchanged
    body = [
        ln
        for ln in out.read_text().splitlines()
        if not ln.startswith(("calibration:", "area_calibration:", "  "))
    ]
    kept = [ln for ln in arch.read_text().splitlines() if not ln.startswith(("calibration:", "  "))]
    assert [ln for ln in body if ln.strip()] == [ln for ln in kept if ln.strip()]
    assert "# keep me" in out.read_text()
    dyn, leak, area = kind_totals(estimate_design(load_design(out)), False)
    t_dyn, t_leak, t_area = kind_totals(truth_est, False)
    for k in FACTORS:
        assert math.isclose(dyn[k] + leak.get(k, 0.0), t_dyn[k] + t_leak.get(k, 0.0), rel_tol=1e-9)
    for k in AREA_FACTORS:
        assert math.isclose(area[k], t_area[k], rel_tol=1e-9)


def test_cli_rewrites_the_file_in_place_without_o(fp_toy, tmp_path):
    meas = tmp_path / "meas.yaml"
    _measurement(meas, fp_toy, tmp_path)
    arch = tmp_path / "arch.yaml"
    arch.write_text(fp_toy.read_text())
    assert main(["calibrate", str(arch), "--measured", str(meas)]) == 0
    assert load_architecture(arch).spec.calibration["adc"] == pytest.approx(3.7, rel=1e-9)


@pytest.mark.parametrize(
    "content, message",
    [
        ("energy_pj: {adcc: 5}", "energy_pj.adcc: unknown component kind"),
        ("energy_pj: {comparator: 5}", "the design has no comparator energy"),
        ("energy_pj: {adc: 0}", "a measured value of 0"),
        ("energy_pj: {adc: '5 fW'}", "energy_pj.adc"),
        ("per: batch\nenergy_pj: {adc: 5}", "per"),
        ("{}", "nothing to fit"),
    ],
)
def test_bad_measurements_exit_2(fp_toy, tmp_path, capsys, content, message):
    meas = tmp_path / "meas.yaml"
    meas.write_text(content + "\n")
    arch = tmp_path / "arch.yaml"
    arch.write_text(fp_toy.read_text())
    assert main(["calibrate", str(arch), "--measured", str(meas)]) == 2
    assert message in capsys.readouterr().err
    assert arch.read_text() == fp_toy.read_text()


def test_section_edit_appends_and_replaces():
    text = "a: 1\nb:\n  x: 2\n\n# c follows\nc: 3\n"
    assert (
        set_top_level_section(text, "b", {"y": 1.5}) == "a: 1\nb:\n  y: 1.5\n\n# c follows\nc: 3\n"
    )
    assert set_top_level_section(text, "d", {"z": 2.0}).endswith("c: 3\nd:\n  z: 2.0\n")
    assert set_top_level_section("a: 1\nb: {x: 2}\nc: 3\n", "b", {}) == "a: 1\nb: {}\nc: 3\n"


@pytest.mark.parametrize(
    "measured_pj, factor",
    [
        (1e12, FACTOR_MAX),  # 1 J per sample, the largest measurement: the model cannot reach it
        (1e-300, FACTOR_MIN),  # so small that its square underflows: the model is far above it
    ],
)
def test_extreme_measurements_clip_the_factor_instead_of_dividing_by_zero(
    fp_toy, measured_pj, factor
):
    d = load_design(fp_toy)
    measured = MeasuredBreakdownSpec.model_validate({"energy_pj": {"adc": measured_pj}})
    fit = fit_calibration(d.spec, d.libraries, measured)
    assert fit.calibration["adc"] == factor


def test_a_measurement_beyond_its_range_is_refused_with_its_unit(fp_toy, tmp_path, capsys):
    meas = tmp_path / "meas.yaml"
    meas.write_text("energy_pj: {adc: 1.0e+308}\n")
    arch = tmp_path / "arch.yaml"
    arch.write_text(fp_toy.read_text())
    assert main(["calibrate", str(arch), "--measured", str(meas)]) == 2
    assert (
        "meas.yaml:1: energy_pj.adc: 1e+308 pJ is out of range: allowed 0 to 1e+12 pJ"
        in capsys.readouterr().err
    )
