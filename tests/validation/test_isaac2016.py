"""ISAAC (Shafiee et al., "ISAAC: A Convolutional Neural Network Accelerator with In-Situ Analog
Arithmetic in Crossbars", ISCA 2016, 32 nm): component energies through the cost model, and the
shipped ISAAC-CE design (architectures/isaac_like.yaml) at chip level against the paper's peak
efficiency (Table IV) and its component table (Table I); the second half of this file.

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


# --- chip level: architectures/isaac_like.yaml against the paper's peak efficiency -------------
#
# Published figures (Shafiee et al., ISCA 2016, the corrected version of 5 October 2016, whose
# banner reads "This version corrects some of the results for the ISAAC-PE and ISAAC-SE
# configurations"; read through a public transcription of its Table I and Table IV, which checks
# itself: every group total below adds up to the printed IMA, tile and chip totals):
# - Table IV (peak, "assuming that all IMAs can be somehow utilized in every cycle", HyperTransport
#   included): ISAAC-CE 478.95 GOPS/s/mm^2 (CE) and 627.5 GOPS/W (PE); section VII defines CE and
#   PE over "16-bit operations", and a 16-bit MAC is 2 of them (the arithmetic below gives Table
#   IV's PE to 4 digits that way).
# - Table I, "ISAAC Tile at 1.2 GHz": power (mW) and area (mm^2) of each component group per tile
#   (IMA rows x 12 IMAs); 168 tiles plus the HyperTransport links (4 links of 6.4 GB/s, 10.4 W,
#   22.88 mm^2) make the chip (65.8 W, 85.4 mm^2).
# - Section IV-V: a cycle is one crossbar read, 100 ns; a 16-bit input takes 16 cycles; a 128x128
#   array of 2-bit cells holds 16 weights of 16 bits per row, so it does 128 x 16 MACs per 1.6 us.
#
# cimest's library values of ISAAC's parts are Table I's powers divided by the events each part
# serves per cycle when every array is busy (device_libraries/isaac_32nm.yaml), so what these
# tests check is cimest's counting and schedule against ISAAC's dataflow (conversions, samples,
# drives, cell reads, register and bus bits per MAC, 16 cycles per use, one ADC, 128 DACs and
# 129 sample-and-holds per array) and what the chip level adds. Nothing is fitted: no factor of
# the design or its library was set from the figures checked.
#
# Measured (model / published - 1) and what each test asserts (tolerance about 2x the error;
# "exact" rows agree to the library's 4 significant digits, asserted within 0.1 %):
#
# | quantity                                  | cimest   | ISAAC    | error   | asserted      |
# |-------------------------------------------|----------|----------|---------|---------------|
# | PE, GOPS/W (Table IV)                     | 767.5    | 627.5    | +22.3 % | 0 to +45 %    |
# | PE, the links at Table I's 10.4 W         | 655.5    | 627.5    | +4.5 %  | within 9 %    |
# | CE, GOPS/s/mm^2 (Table IV)                | 433.7    | 478.95   | -9.5 %  | within 19 %   |
# | time of one input-bit cycle, ns           | 110.2    | 100      | +10.2 % | within 20 %   |
# | ADC energy per MAC, pJ                    | 1.667    | 1.5625   | +6.7 %  | within 14 %   |
# | DAC energy per MAC, pJ                    | 0.4170   | 0.3906   | +6.8 %  | within 14 %   |
# | crossbar energy per MAC, pJ               | 0.2362   | 0.2344   | +0.8 %  | within 2 %    |
# | shift-and-add energy per MAC, pJ          | 0.02101  | 0.01994  | +5.4 %  | within 11 %   |
# | S+H / IR / OR / bus energy per MAC, pJ    | 0.000977 / 0.1211 / 0.02246 / 0.05697 | same | exact | 0.1 % |
# | ADC / DAC area per array, um^2            | 1200 / 21.25 | 1200 / 21.25 | 0 | within 1 %    |
# | eDRAM / router area per array, um^2       | 863.5 / 390.2 | 864.6 / 393.2 | -0.1 / -0.8 % | within 2 % |
# | S+H / IR / OR area per array, um^2        | 5.04 / 262.6 / 96.26 | 5.0 / 262.5 / 96.25 | +0.9 / 0 / 0 % | within 2 % |
# | bus / links area per array, um^2          | 936.4 / 1418.7 | 937.5 / 1418.7 | -0.1 / 0 % | within 2 % |
# | links energy per MAC, pJ (not asserted)   | 0.0588   | 0.5038   | -88 %   | -             |
# | eDRAM energy per MAC, pJ (not asserted)   | 0.0028   | 0.1685   | -98 %   | -             |
# | router energy per MAC, pJ (not asserted)  | 0.0001   | 0.0854   | -100 %  | -             |
# | cells per array, um^2 (not asserted)      | 67.6     | 25       | +170 %  | -             |
#
# Before the sample-and-holds, IR, OR, bus and links were priced (the same design without its
# sample_hold, array_registers, tile_bus and chip_io sections): PE 852.6 (+35.9 %), CE 882.8
# (+84.3 %), those parts being 23 % of Table I's power and 52 % of its area.
#
# Why the chip-level figures miss (each from Table I):
# - PE +22.3 %: the links are charged per bit the workload moves (its input and output, 1.2e-3
#   bits per MAC, at Table I's 50.8 pJ per bit at full bandwidth), where Table I's 10.4 W is
#   their power at full bandwidth, 9.9e-3 bits per MAC at ISAAC's peak rate: 0.445 pJ per MAC
#   of idle links. Why not a static 10.4 W: cimest charges static power over a sample's latency,
#   here the three conv layers one after another (1.04 ms), three times the pipeline's period.
#   With the links at Table I's power instead (second row) the rest of the chip is +4.5 %: the
#   ADC and DAC priced at Table I's 1.2 GS/s where its powers serve 128 conversions per 100 ns
#   (1.28 GS/s), +0.13 pJ per MAC; the eDRAM and router charged per bit moved (each input read
#   once per use for all 512 outputs, each output sent once), far below Table I's powers at
#   ISAAC's full rate, -0.25 pJ per MAC; the tile's output register (1.68 mW per tile, 0.4 % of
#   the chip) has no role, -0.014 pJ per MAC.
# - CE -9.5 %: the input-bit cycle is 10.2 % longer (DAC, cell read and 129 conversions at 1.2
#   GS/s one after another, where ISAAC's 128 conversions at 1.28 GS/s fill its 100 ns stage and
#   overlap the next crossbar read: the conversions alone take 107.5 ns, so overlapping the
#   stages would win about 2 %), and the area per array is 0.9 % larger: cells of 4 F^2 at 32 nm
#   (Table I's 0.0002 mm^2 per 8 arrays, one significant digit, is 4 F^2 at 19.5 nm: +43 um^2
#   per array), a shift-add per ADC (ISAAC 4 per 8 arrays) and the row tiles' partial-sum adders
#   (+41 um^2), against the tile output register it leaves out (-33 um^2); the paper's CE is
#   also 0.9 % below its own Table I arithmetic.
# - The areas per array of the eDRAM, router, bus and links match by construction: the design
#   provisions them per 96 arrays or per array at the library's area per bit and per share,
#   which are Table I's; those tests check the provisioning arithmetic.

ISAAC_LIKE = "architectures/isaac_like.yaml"

# Table I per tile: power (W) and area (m^2) of each component group (IMA rows x 12)
TABLE_I_TILE = {
    "adc": (12 * 16e-3, 12 * 0.0096e-6),
    "dac": (12 * 4e-3, 12 * 0.00017e-6),
    "sample_hold": (12 * 10e-6, 12 * 0.00004e-6),
    "crossbar": (12 * 2.4e-3, 12 * 0.0002e-6),
    "ima_shift_add": (12 * 0.2e-3, 12 * 0.00024e-6),
    "ima_input_register": (12 * 1.24e-3, 12 * 0.0021e-6),
    "ima_output_register": (12 * 0.23e-3, 12 * 0.00077e-6),
    "edram": (20.7e-3, 0.083e-6),
    "edram_bus": (7e-3, 0.090e-6),
    "router": (42e-3 / 4, 0.151e-6 / 4),  # one router per 4 tiles
    "sigmoid": (0.52e-3, 0.0006e-6),
    "tile_shift_add": (0.05e-3, 0.00006e-6),
    "maxpool": (0.4e-3, 0.00024e-6),
    "tile_output_register": (1.68e-3, 0.0032e-6),
}
TILES = 168
HYPERTRANSPORT = (10.4, 22.88e-6)  # W, m^2 per chip
CHIP_POWER_W, CHIP_AREA_M2 = 65.8, 85.4e-6  # Table I, chip total
TABLE_IV_PE = 627.5e9  # ops/s/W
TABLE_IV_CE = 478.95e9 / 1e-6  # ops/s/m^2

ARRAYS_PER_TILE = 12 * 8
CYCLE_S = 100e-9
MACS_PER_ARRAY_USE = 128 * (128 // 8)  # 128 rows x 16 weights of 16 bits
TILE_MACS_PER_S = ARRAYS_PER_TILE * MACS_PER_ARRAY_USE / (16 * CYCLE_S)  # 122.88 G


def _paper_energy_per_mac(*groups: str) -> float:
    return sum(TABLE_I_TILE[g][0] for g in groups) / TILE_MACS_PER_S


@pytest.fixture(scope="module")
def isaac_chip():
    from pathlib import Path

    from cimest.api import estimate_design, load_design

    path = Path(__file__).resolve().parents[2] / ISAAC_LIKE
    est = estimate_design(load_design(str(path)))
    macs = sum(est.macs_per_sample.values())
    arrays = sum(layer["n_tiles"] for layer in est.layers)
    return est, macs, arrays


def _energy_per_mac(est, macs, kind: str = "", component: str = "") -> float:
    return (
        sum(
            r.energy_j
            for r in est.breakdown
            if (r.kind == kind or r.component == component) and r.phase != "static"
        )
        / macs
    )


def _area_per_array(est, arrays, component: str) -> float:
    return sum(r.area_m2 for r in est.area if r.component == component) / arrays


def test_the_reading_of_table_i_reproduces_the_chip_totals_and_table_iv():
    """The reference side alone: Table I's groups add up to its tile and chip totals, and the peak
    rate (every array busy every cycle, 2 ops per 16-bit MAC) over them gives Table IV's PE to 4
    digits and its CE within 1 % (the paper's 478.95 is 0.9 % below its own Table I arithmetic)."""
    tile_w = sum(p for p, _ in TABLE_I_TILE.values())
    tile_m2 = sum(a for _, a in TABLE_I_TILE.values())
    assert tile_w == pytest.approx(0.330, rel=2e-3)  # "1 Tile Total 330 mW"
    assert tile_m2 == pytest.approx(0.372e-6, rel=2e-3)  # "0.372 mm2"
    assert TILES * tile_w + HYPERTRANSPORT[0] == pytest.approx(CHIP_POWER_W, rel=2e-3)
    assert TILES * tile_m2 + HYPERTRANSPORT[1] == pytest.approx(CHIP_AREA_M2, rel=2e-3)
    peak_ops = 2 * TILES * TILE_MACS_PER_S
    assert peak_ops / CHIP_POWER_W == pytest.approx(TABLE_IV_PE, rel=1e-3)
    assert peak_ops / CHIP_AREA_M2 == pytest.approx(TABLE_IV_CE, rel=0.01)


def test_isaac_like_maps_every_array_full_and_as_isaac(isaac_chip):
    """ISAAC-CE's array: 128 rows x 16 weights of 16 bits on 8 two-bit cells each, plus the unit
    column; one 8-bit ADC, 128 one-bit DACs and a sample-and-hold per column per array; every
    array of the three conv5 layers full."""
    est, macs, arrays = isaac_chip
    conv = [layer for layer in est.layers if layer["kind"] == "conv"]
    assert all(layer["utilisation"] == 1.0 and layer["slices"] == 8 for layer in conv)
    assert all(layer["tile"] == [128, 129] for layer in conv)
    adc = sum(r.instances for r in est.area if r.component == "readout")
    dac = sum(r.instances for r in est.area if r.component == "input_driver")
    sh = sum(r.instances for r in est.area if r.component == "readout_sample_hold")
    assert adc == arrays
    assert dac == 128 * arrays
    assert sh == 129 * arrays


def test_one_conversion_and_one_dac_drive_per_16_bit_mac(isaac_chip):
    """8 slices x 16 input bits / 128 rows: one 8-bit conversion and one 1-bit DAC drive per MAC."""
    est, macs, arrays = isaac_chip
    conv = sum(r.count for r in est.breakdown if r.kind == "adc" and r.phase == "forward")
    drives = sum(r.count for r in est.breakdown if r.kind == "row_driver" and r.phase == "forward")
    assert conv / macs == pytest.approx(1.0, rel=1e-12)
    assert drives / macs == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    "kind, component, groups, tolerance",
    [
        ("adc", "", ("adc",), 0.14),  # +6.7 %: priced at Table I's 1.2 GS/s, used at 1.28 GS/s
        ("row_driver", "", ("dac",), 0.14),  # +6.8 %: the same rate
        ("cell", "", ("crossbar",), 0.02),  # +0.8 %: cimest also reads the 129th (unit) column
        ("shift_add", "", ("ima_shift_add", "tile_shift_add"), 0.11),  # +5.4 %
        # exact: a sample per conversion, the register and bus bits of ISAAC's dataflow
        ("", "readout_sample_hold", ("sample_hold",), 1e-3),
        ("", "input_register", ("ima_input_register",), 1e-3),
        ("", "output_register", ("ima_output_register",), 1e-3),
        ("", "tile_bus", ("edram_bus",), 1e-3),
    ],
)
def test_energy_per_mac_by_component_against_table_i(
    isaac_chip, kind, component, groups, tolerance
):
    est, macs, arrays = isaac_chip
    model = _energy_per_mac(est, macs, kind, component)
    assert model == pytest.approx(_paper_energy_per_mac(*groups), rel=tolerance)


@pytest.mark.parametrize(
    "component, group, tolerance",
    [
        ("readout", "adc", 0.01),  # one ADC per array, 0 %
        ("input_driver", "dac", 0.01),  # 128 DACs per array, 0 %
        ("feature_buffer", "edram", 0.02),  # 64 KB per 96 arrays, -0.1 %
        ("feature_bus", "router", 0.02),  # a router share per 96 arrays, -0.8 %
        ("readout_sample_hold", "sample_hold", 0.02),  # +0.9 %: 129 columns where ISAAC has 128
        ("input_register", "ima_input_register", 0.02),  # 128 rows x 16 bits, 0 %
        ("output_register", "ima_output_register", 0.02),  # 16 outputs x 16 bits, 0 %
        ("tile_bus", "edram_bus", 0.02),  # one per 96 arrays, -0.1 % (the classifier has none)
    ],
)
def test_area_per_array_against_table_i(isaac_chip, component, group, tolerance):
    est, macs, arrays = isaac_chip
    paper = TABLE_I_TILE[group][1] / ARRAYS_PER_TILE
    assert _area_per_array(est, arrays, component) == pytest.approx(paper, rel=tolerance)


def test_links_area_per_array_against_table_i(isaac_chip):
    """One array's share of the HyperTransport links, 22.88 mm^2 / (168 x 96 arrays), 0 %."""
    est, macs, arrays = isaac_chip
    paper = HYPERTRANSPORT[1] / (TILES * ARRAYS_PER_TILE)
    assert _area_per_array(est, arrays, "chip_io") == pytest.approx(paper, rel=0.02)


def test_input_bit_cycle_against_isaacs_100_ns(isaac_chip):
    """+10.2 %: 1-bit DAC (1 ns), cell read (1 ns) and 129 conversions at 1.2 GS/s (107.5 ns) in
    series, where ISAAC overlaps the crossbar read with the previous cycle's conversions."""
    est, macs, arrays = isaac_chip
    conv1 = next(s for s in est.schedule if s.layer == "L1")
    cycle = conv1.duration_s / 196 / 16  # 196 positions of 16 input bits
    assert cycle == pytest.approx(CYCLE_S, rel=0.20)


def test_chip_power_efficiency_against_table_iv(isaac_chip):
    """PE, Table IV: 627.5 GOPS/W; cimest 767.5 (+22.3 %): its links are charged per bit the
    workload moves, Table I's at their full bandwidth (0.445 pJ per MAC of idle links)."""
    est, macs, arrays = isaac_chip
    # above the paper's (idle links uncharged), by at most twice the measured +22.3 %
    assert 1.0 < est.tops_per_w * 1e12 / TABLE_IV_PE < 1.45


def test_chip_power_efficiency_with_the_links_at_table_is_power(isaac_chip):
    """PE with the links charged Table I's 10.4 W at ISAAC's peak rate instead of per bit moved:
    655.5 GOPS/W, +4.5 % against Table IV (ADC and DAC +0.13 pJ per MAC, eDRAM and router -0.25,
    the tile's output register -0.014)."""
    est, macs, arrays = isaac_chip
    links_per_mac = HYPERTRANSPORT[0] / (TILES * TILE_MACS_PER_S)  # 0.504 pJ
    energy_per_mac = est.energy_per_mac_j - _energy_per_mac(est, macs, component="chip_io")
    energy_per_mac += links_per_mac
    assert 2 / energy_per_mac == pytest.approx(TABLE_IV_PE, rel=0.09)


def test_chip_computational_efficiency_against_table_iv(isaac_chip):
    """CE, Table IV: 478.95 GOPS/s/mm^2; cimest 433.7 (-9.5 %): a 10.2 % longer input-bit cycle
    and 0.9 % more area per array."""
    est, macs, arrays = isaac_chip
    assert est.tops_per_mm2 * 1e12 / 1e-6 == pytest.approx(TABLE_IV_CE, rel=0.19)
