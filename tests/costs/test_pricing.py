"""Pricing one component from a library entry (cimest/costs/pricing.py): resolution tables are
interpolated between their points, leakage is scaled and sourced, and credible alternative models
are recorded next to the one used."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from cimest.costs import scaling
from cimest.costs.pricing import price
from cimest.graph.compile import Component
from cimest.spec import load_architecture
from cimest.spec.libraries import LibrarySet
from cimest.spec.library import LibrarySpec

ROOT = Path(__file__).resolve().parents[2]
PJ = 1e-12
NW = 1e-9


@pytest.fixture(scope="module")
def chip():
    """The shipped binary design's spec: 32 nm, 0.9 V, no calibration."""
    return load_architecture(ROOT / "architectures" / "binary_stochastic_rram.yaml").spec


def library(entries: list[dict]) -> LibrarySet:
    spec = LibrarySpec.model_validate(
        {"name": "t", "node_nm": 32, "vdd_v": 0.9, "entries": entries}
    )
    return LibrarySet([(spec, "t.yaml")])


def adc(bits: int, energy_pj: float, **extra) -> dict:
    return {
        "kind": "adc",
        "variant": "table",
        "bits": bits,
        "bit_scaling": "exponential",
        "source": "test table",
        "area_um2": 100.0 * bits,
        "actions": {"convert": {"energy_pj": energy_pj, "latency_ns": bits}},
        **extra,
    }


def convert_j(libs, chip, bits, variant="table") -> float:
    return price(Component("L1", "readout", "adc", variant, 1, bits), libs, chip).energy_j[
        "convert"
    ]


# --- interpolation between resolutions ----------------------------------------------------------


def test_interpolate_bits_reproduces_a_doubling_table_and_stays_between():
    assert scaling.interpolate_bits(4, 1.0, 6, 4.0, 5) == pytest.approx(2.0, rel=1e-12)
    assert scaling.interpolate_bits(4, 1.0, 8, 1.0, 6) == pytest.approx(1.0, rel=1e-12)
    assert 1.0 < scaling.interpolate_bits(4, 1.0, 6, 1.2, 5) < 1.2
    # a value of 0 (no latency given) interpolates linearly
    assert scaling.interpolate_bits(1, 0.0, 3, 2.0, 2) == pytest.approx(1.0)
    for bad in ((4, 1.0, 6, 2.0, 4), (4, 1.0, 6, 2.0, 7), (4, -1.0, 6, 2.0, 5)):
        with pytest.raises(ValueError):
            scaling.interpolate_bits(*bad)


def test_a_gentle_table_is_priced_monotonically_between_its_points(chip):
    # 4 and 6 bits only, 1.0 and 1.2 pJ, 2^dbits outside: the nearest-point rule priced 5 bits
    # as the 6-bit point halved (0.6 pJ), below the 4-bit point.
    libs = library([adc(4, 1.0), adc(6, 1.2)])
    energies = [convert_j(libs, chip, b) for b in range(2, 10)]
    assert all(a < b for a, b in zip(energies, energies[1:], strict=False)), energies
    assert energies[3] == pytest.approx(math.sqrt(1.0 * 1.2) * PJ, rel=1e-12)  # 5 bits
    assert energies[2] == pytest.approx(1.0 * PJ, rel=1e-12)  # a point is its own value
    assert energies[0] == pytest.approx(1.0 / 4 * PJ, rel=1e-12)  # below the table: 2^dbits


def test_interpolated_price_says_so_and_interpolates_area_and_latency(chip):
    libs = library([adc(4, 1.0), adc(6, 4.0)])
    p = price(Component("L1", "readout", "adc", "table", 1, 5), libs, chip)
    assert p.area_m2 == pytest.approx(math.sqrt(400 * 600) * 1e-12, rel=1e-12)
    assert p.latency_s["convert"] == pytest.approx(math.sqrt(4 * 6) * 1e-9, rel=1e-12)
    rec = next(pr for pr in p.provenance if pr.quantity == "energy:convert")
    assert "interpolated between 4 b and 6 b" in rec.rule
    assert rec.scaled == pytest.approx(2.0 * PJ, rel=1e-12)


# --- leakage -------------------------------------------------------------------------------------


def test_leakage_is_sourced_and_scales_like_area_with_bits_and_linearly_with_supply(chip):
    entry = adc(8, 1.0, leakage_nw=10.0, leakage_source="test leakage model")
    libs = library([entry])
    p8 = price(Component("L1", "readout", "adc", "table", 1, 8), libs, chip)
    assert p8.leakage_w == pytest.approx(10 * NW, rel=1e-12)
    rec = next(pr for pr in p8.provenance if pr.quantity == "leakage")
    assert rec.source == "test leakage model"
    p7 = price(Component("L1", "readout", "adc", "table", 1, 7), libs, chip)
    assert p7.leakage_w == pytest.approx(5 * NW, rel=1e-12)  # exponential, like the area
    low_v = chip.model_copy(
        update={"technology": chip.technology.model_copy(update={"vdd_v": 0.45})}
    )
    assert price(
        Component("L1", "readout", "adc", "table", 1, 8), libs, low_v
    ).leakage_w == pytest.approx(5 * NW, rel=1e-12)


def test_a_negative_leakage_is_refused():
    with pytest.raises(ValidationError, match="leakage"):
        library([adc(8, 1.0, leakage_nw=-1.0)])


# --- models that disagree ------------------------------------------------------------------------


def test_model_spread_records_the_alternatives_cost_for_the_same_component(chip):
    spread = {"variants": ["survey"], "note": "the survey is 8x the SAR fit"}
    libs = library(
        [
            adc(6, 0.1, model_spread=spread),
            {**adc(6, 0.8), "variant": "survey"},
        ]
    )
    p = price(Component("L1", "readout", "adc", "table", 1, 6), libs, chip)
    alt = [pr for pr in p.provenance if pr.quantity.startswith("alternative:")]
    assert len(alt) == 1
    assert alt[0].variant == "survey" and alt[0].quantity == "alternative:convert"
    assert alt[0].value == pytest.approx(0.1 * PJ) and alt[0].scaled == pytest.approx(0.8 * PJ)
    assert alt[0].factor == pytest.approx(8.0)
    assert "8x the SAR fit" in alt[0].rule
    # pricing the alternative does not change the price of the model used
    assert p.energy_j["convert"] == pytest.approx(0.1 * PJ)


def test_model_spread_must_name_variants_of_the_same_kind_in_the_library():
    spread = {"variants": ["nosuch"], "note": "a model that is not there"}
    with pytest.raises(ValidationError, match="nosuch"):
        library([adc(6, 0.1, model_spread=spread)])
    with pytest.raises(ValidationError, match="own variant"):
        library([adc(6, 0.1, model_spread={"variants": ["table"], "note": "itself"})])


def test_1t1r_holds_the_unselected_columns_at_v_set_cross_point_half_selects(tmp_path):
    """MLP+NeuroSim V3.0 Train.cpp: in a 1T1R array the unselected columns of a written row are
    charged to the SET voltage once (SET phase; 0 V in the RESET phase); in a cross-point array
    they are half-selected at V_write / 2."""
    from cimest.api import load_design

    root = Path(__file__).resolve().parents[2]
    text = (root / "architectures" / "neurosim_mlp_taox.yaml").read_text()
    import yaml

    assert "access" not in yaml.safe_load(text)["crossbar"]  # the default, 1t1r
    cross = tmp_path / "cross.yaml"
    cross.write_text(text.replace("  size: fit\n", "  size: fit\n  access: cross_point\n"))
    one = load_design(str(root / "architectures" / "neurosim_mlp_taox.yaml"))
    two = load_design(str(cross))
    line = [d.priced[("L1", "bitline")].energy_j for d in (one, two)]
    v_set, v_reset = 1.6, 1.6  # taox_hfox_rram
    c = line[0]["write"] / ((v_set**2 + v_reset**2) / 2)
    assert line[0]["half_select"] == pytest.approx(c * v_set**2, rel=1e-12)
    assert line[1]["half_select"] == pytest.approx(c * (v_set**2 + v_reset**2) / 8, rel=1e-12)
