"""ISAAC (Shafiee et al., "ISAAC: A Convolutional Neural Network Accelerator with In-Situ Analog
Arithmetic in Crossbars", ISCA 2016, 32 nm): component energies through the cost model.

Published values (reference/anchors.md): 8-bit ADC 1.667 pJ per conversion, 1200 um^2; 1-bit DAC
0.417 pJ; shift-and-add 0.021 pJ; eDRAM 20.45 pJ per 256-bit access; router 20.74 pJ per 256-bit
flit. device_libraries/isaac_32nm.yaml holds them; an architecture at ISAAC's node and the library's
supply (32 nm, 0.9 V) applies scaling factors of exactly 1, so the priced energies must equal the
published ones. Tolerance: 1e-12 relative (float round-off only).
"""

from __future__ import annotations

import pytest

from cimest.costs.pricing import price
from cimest.graph.compile import Component
from cimest.spec import parse_architecture
from cimest.spec.libraries import default_search_path, load_library_set

REL = 1e-12

ARCH = """
name: isaac-like
technology: {node_nm: 32, vdd_v: 0.9, clock_mhz: 1200}
libraries: [isaac_32nm, cmos_32nm]
workload: {network: [128, 127], mode: inference, input_bits: 16}
algorithm: {rule: backprop}
crossbar: {rows: 128, cols: 128, cell: isaac_cell}
peripherals:
  input_driver: {kind: dac, bits: 1, bit_serial: true}
  readout: {kind: adc, bits: 8, columns_per_adc: 128}
  error_input: {kind: dac, bits: 1}
  error_readout: {kind: adc, bits: 8}
  update: {kind: pulse_train}
  gradient_accumulator: {kind: sram_buffer, bits: 16}
"""


@pytest.fixture(scope="module")
def isaac():
    spec = parse_architecture(ARCH).spec
    return spec, load_library_set(spec.libraries, default_search_path())


@pytest.mark.parametrize(
    "kind, bits, action, energy_j",
    [
        ("adc", 8, "convert", 1.667e-12),
        ("dac", 1, "convert", 0.417e-12),
        ("row_driver", None, "drive", 0.417e-12),  # the 1-bit DAC as bit-serial row driver
        ("shift_add", 16, "op", 0.021e-12),
        ("sram_buffer", 16, "read_bit", 20.45e-12 / 256),
        ("interconnect", None, "transfer_bit", 20.74e-12 / 256),
    ],
)
def test_component_energy_is_the_published_value(isaac, kind, bits, action, energy_j):
    spec, libs = isaac
    p = price(Component("L1", kind, kind, None, 1, bits), libs, spec)
    assert p.variant.startswith("isaac")
    # per-bit eDRAM/router values are stored rounded to 4 digits (0.0799, 0.0810 pJ)
    rel = REL if kind not in ("sram_buffer", "interconnect") else 2e-3
    assert p.energy_j[action] == pytest.approx(energy_j, rel=rel)
    prov = next(x for x in p.provenance if x.quantity == f"energy:{action}")
    assert prov.factor == 1.0  # no node, supply or resolution scaling at ISAAC's own point
    assert prov.library == "isaac_32nm"


def test_adc_area_is_the_published_value(isaac):
    spec, libs = isaac
    p = price(Component("L1", "readout", "adc", None, 1, 8), libs, spec)
    assert p.area_m2 == pytest.approx(1200e-12, rel=REL)


def test_not_mnsims_adc_energy(isaac):
    """MNSIM's P (bits + 2) / fs gives 15.6-16.7 pJ for this ADC (device_data.md trap)."""
    spec, libs = isaac
    e = price(Component("L1", "readout", "adc", None, 1, 8), libs, spec).energy_j["convert"]
    assert e < 2e-12


def test_a_whole_isaac_like_inference_is_costed(isaac):
    from cimest.api import bind_design, estimate_design

    est = estimate_design(bind_design(parse_architecture(ARCH)))
    adc = [r for r in est.breakdown if r.kind == "adc" and r.phase != "static"]  # leakage aside
    # 127 outputs (one tile: 127 weight columns + reference), each digitised once per input bit
    # (ISAAC converts every one of the 16 bit-serial cycles before the shift-and-add) at 1.667 pJ
    assert sum(r.energy_j for r in adc) == pytest.approx(16 * 127 * 1.667e-12, rel=REL)
    drives = [r for r in est.breakdown if r.kind == "row_driver" and r.phase != "static"]
    # bit-serial: 16 input bits x 128 driven rows (input_density 1) x 0.417 pJ
    assert sum(r.energy_j for r in drives) == pytest.approx(16 * 128 * 0.417e-12, rel=REL)


def test_isaacs_16_bit_weights_on_2_bit_cells_are_read_slice_by_slice(isaac):
    """ISAAC's mapping: a 16-bit weight over 8 two-bit cells of neighbouring columns, each column
    digitised on its own for every input bit and the slices shift-added (Shafiee et al. 2016,
    section 4). The same crossbar holds (128 - 1 reference) // 8 = 15 weights per row."""
    from cimest.api import bind_design, estimate_design

    text = ARCH.replace("[128, 127]", "[128, 15]").replace(
        "cell: isaac_cell}", "cell: isaac_cell, weight_bits: 16, bits_per_cell: 2}"
    )
    est = estimate_design(bind_design(parse_architecture(text)))
    adc = [r for r in est.breakdown if r.kind == "adc" and r.phase != "static"]
    # 16 input bits x 15 outputs x 8 slices conversions at 1.667 pJ
    assert sum(r.energy_j for r in adc) == pytest.approx(16 * 15 * 8 * 1.667e-12, rel=REL)
    sa = [r for r in est.breakdown if r.kind == "shift_add" and r.phase != "static"]
    assert sum(r.count for r in sa) == pytest.approx(16 * 15 * 8, rel=REL)
