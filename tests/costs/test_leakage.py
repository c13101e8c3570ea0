"""Static power: every CMOS library entry states its leakage and where it comes from, and leakage
energy over the schedule reaches every estimate of the shipped designs, its JSON and its CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cimest.api import estimate_design, load_design
from cimest.spec import load_library

ROOT = Path(__file__).resolve().parents[2]
LIBRARY_DIR = ROOT / "device_libraries"
CMOS_LIBRARIES = [f"cmos_{n}nm" for n in (22, 32, 45, 65, 130)] + ["isaac_32nm"]
SHIPPED = ["binary_stochastic_rram", "full_precision_rram"]
# Entries whose static power is zero by construction, each with its reason in leakage_source.
ZERO_BY_CONSTRUCTION = {
    ("interconnect", "wire"),  # a wire; repeaters are not modelled
    ("row_driver", "neurram_wordline"),  # stacked over the cells, drivers inside the neuron
    ("activation", "neurram_neuron"),  # priced in the neuron's adc/integrator/sample_hold
    # ISAAC's Table I parts priced per event at its peak rate, their whole power in the events
    ("sample_hold", "isaac"),
    ("register", "isaac_input_register"),
    ("register", "isaac_output_register"),
    ("interconnect", "isaac_edram_bus"),
    ("io_link", "isaac_hypertransport"),
}

# MLP_NeuroSim_V3.0 run for a 128x128 1T1R TaOx array, LP devices, 300 K: BL switch-matrix leakage
# (nW, whole matrix; SwitchMatrix.cpp: only each row's DFF leaks). Per row = / 128.
NEUROSIM_SWITCH_MATRIX_LEAKAGE_NW = {22: 4.4414, 32: 7.3816, 45: 12.306, 65: 19.630}


def lib(name: str):
    return load_library(LIBRARY_DIR / f"{name}.yaml").spec


@pytest.mark.parametrize("name", CMOS_LIBRARIES)
def test_every_cmos_entry_has_leakage_with_a_source(name):
    for e in lib(name).entries:
        if e.kind == "cell":
            continue
        where = f"{name}: {e.kind}/{e.variant}/{e.bits}"
        assert e.leakage_source and len(e.leakage_source) > 20, where
        if (e.kind, e.variant) in ZERO_BY_CONSTRUCTION or e.kind == "wire":  # array lines
            assert e.leakage_w == 0, where
        else:
            assert e.leakage_w > 0, where


def test_chip_libraries_state_their_leakage_too():
    spec = lib("neurram_130nm")
    for e in spec.entries:
        if e.kind != "cell":
            assert e.leakage_source, e.variant
            assert (e.leakage_w > 0) != ((e.kind, e.variant) in ZERO_BY_CONSTRUCTION), e.variant


@pytest.mark.parametrize("node", sorted(NEUROSIM_SWITCH_MATRIX_LEAKAGE_NW))
def test_row_and_write_driver_leak_like_neurosims_switch_matrix_row(node):
    spec = lib(f"cmos_{node}nm")
    per_row = NEUROSIM_SWITCH_MATRIX_LEAKAGE_NW[node] * 1e-9 / 128
    for kind in ("row_driver", "write_driver"):
        e = next(x for x in spec.entries if x.kind == kind and x.variant == "neurosim")
        assert e.leakage_w == pytest.approx(per_row, rel=0.005), kind


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_designs_report_leakage_and_its_energy_over_the_schedule(name):
    est = estimate_design(load_design(ROOT / "architectures" / f"{name}.yaml"))
    assert est.leakage_w > 0
    static = [r for r in est.breakdown if r.phase == "static"]
    assert static and all(r.action == "leakage" for r in static)
    assert sum(r.energy_j for r in static) == pytest.approx(
        est.leakage_w * est.latency_per_sample_s, rel=1e-9
    )
    dynamic = sum(r.energy_j for r in est.breakdown if r.phase != "static")
    assert est.energy_per_sample_j == pytest.approx(
        dynamic + est.leakage_w * est.latency_per_sample_s, rel=1e-12
    )
    assert est.to_dict()["leakage_w"] == est.leakage_w


def test_the_cli_json_and_csv_carry_the_leakage(tmp_path, capsys, monkeypatch):
    from cimest.cli import main

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("CIMEST_LIBRARY_PATH", raising=False)
    out_json, out_csv = tmp_path / "e.json", tmp_path / "e.csv"
    arch = "architectures/binary_stochastic_rram.yaml"
    assert main(["estimate", arch, "--json", str(out_json), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    data = json.loads(out_json.read_text())
    assert data["leakage_w"] > 0
    with out_csv.open() as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == "static"]
    assert rows and sum(float(r["energy_j_per_sample"]) for r in rows) == pytest.approx(
        data["leakage_w"] * data["latency_per_sample_s"], rel=1e-9
    )
    assert "Leakage power" in printed


def test_hp_transistors_leak_neurosims_hp_over_lstp_ratio():
    """MLP_NeuroSim_V3.0 NeuroSim/Technology.cpp, 32 nm at 300 K: HP off-current 100.30 + 100.10
    nA/um (NMOS + PMOS) against LSTP 100.10 + 100.10 pA/um."""
    from cimest.costs.scaling import transistor_leakage_factor

    assert transistor_leakage_factor(32, "lp") == 1.0
    assert transistor_leakage_factor(32, "hp") == pytest.approx(200.4 / 200.2 * 1e3, rel=1e-9)
    # between table nodes: linear; beyond 22-130 nm: held flat
    mid = transistor_leakage_factor(38.5, "hp")
    lo, hi = transistor_leakage_factor(32, "hp"), transistor_leakage_factor(45, "hp")
    assert mid == pytest.approx((lo + hi) / 2, rel=1e-9)
    assert transistor_leakage_factor(7, "hp") == transistor_leakage_factor(22, "hp")
    with pytest.raises(ValueError, match="lp, hp"):
        transistor_leakage_factor(32, "fast")


def test_hp_changes_the_cmos_leakage_only(tmp_path):
    text = (ROOT / "architectures" / "full_precision_rram.yaml").read_text()
    assert "transistor:" not in text
    path = tmp_path / "hp.yaml"
    path.write_text(text.replace("technology: {", "technology: {transistor: hp, ", 1))
    lp = estimate_design(load_design(ROOT / "architectures" / "full_precision_rram.yaml"))
    hp = estimate_design(load_design(path))
    from cimest.costs.scaling import transistor_leakage_factor

    assert hp.leakage_w == pytest.approx(lp.leakage_w * transistor_leakage_factor(32, "hp"))
    assert hp.latency_per_sample_s == lp.latency_per_sample_s
    dyn = [sum(r.energy_j for r in e.breakdown if r.phase != "static") for e in (lp, hp)]
    assert dyn[0] == dyn[1]
