"""Layer-to-tile mapping and component instance counts for known shapes."""

from __future__ import annotations

import math

from cimest.graph import compile_graph
from cimest.spec import parse_architecture

BASE = """
name: t
technology: {node_nm: 32, vdd_v: 0.9, clock_mhz: 1000}
libraries: [toy_cmos, toy_cells]
workload: {network: [784, 500, 10], epochs: 1, batch_size: 100}
algorithm: {rule: backprop}
crossbar: {rows: 128, cols: 128, cell: toy_rram, weight_encoding: ENC}
peripherals:
  input_driver: {kind: dac, bits: 8}
  readout: {kind: adc, bits: 8, columns_per_adc: 8}
  error_input: {kind: dac, bits: 8}
  error_readout: {kind: adc, bits: 8, columns_per_adc: 8}
  update: {kind: pulse_train, max_pulses: 16}
  gradient_accumulator: {kind: sram_buffer, bits: 8}
"""


def graph(encoding="reference_column"):
    return compile_graph(parse_architecture(BASE.replace("ENC", encoding)).spec)


def test_784x500_on_128x128_reference_column():
    g = graph()
    L1 = g.layer("L1")
    # 784 rows / 128 = 6.125 -> 7 row tiles; 500 weights / 127 usable columns -> 4 column tiles
    assert (L1.row_tiles, L1.col_tiles) == (7, 4)
    assert L1.n_tiles == 28
    assert g.component("L1", "cell").count == 28 * 128 * 128
    assert g.component("L1", "input_driver").count == 28 * 128  # a DAC per tile row
    assert g.component("L1", "readout").count == 28 * 128 // 8  # one ADC per 8 columns per tile
    assert g.component("L1", "partial_sum_adder").count == 500  # 7 row tiles summed per output
    # cells read per driven row: 500 weights + one reference column in each of 4 column tiles
    assert L1.cols_read_per_row == 504


def test_784x500_differential_pair_uses_two_devices_per_weight():
    g = graph("differential_pair")
    L1 = g.layer("L1")
    assert L1.weight_cols_per_tile == 64
    assert (L1.row_tiles, L1.col_tiles) == (7, math.ceil(500 / 64))
    assert L1.n_devices == 2 * 784 * 500
    assert L1.cols_read_per_row == 1000


def test_784x500_differential_rows_holds_half_the_inputs_per_tile():
    g = graph("differential_rows")
    L1 = g.layer("L1")
    # 784 inputs / 64 per tile (row pairs) -> 13 row tiles; 500 outputs / 128 columns -> 4
    assert (L1.row_tiles, L1.col_tiles) == (13, 4)
    assert L1.devices_per_weight == 2 and L1.rows_per_input == 2
    assert L1.n_devices == 2 * 784 * 500
    from cimest.graph.analytic import count_analytic

    c = count_analytic(g).counts
    # every input converts on both rows of its pair, in each of the 4 column tiles
    assert c[("L1", "forward", "input_driver", "convert")] == 784 * 4 * 2
    # a driven input reads both devices of every weight on its rows
    assert c[("L1", "forward", "cell", "read")] == 784 * 2 * 500


def test_macs_per_sample_follow_the_algorithm():
    g = graph()
    fwd = 784 * 500 + 500 * 10
    assert g.macs_per_sample() == {"forward": fwd, "backward": 500 * 10, "update": fwd}


def test_graph_edges_carry_bit_widths():
    g = graph()
    data_edges = [(a, b, d) for a, b, d in g.graph.edges(data=True) if d.get("relation") == "data"]
    assert data_edges
    assert all(d["bits"] >= 1 and d["width"] >= 1 for _, _, d in data_edges)
    # the second layer's input comes from the first layer's read-out chain
    assert any(b == "L2.input_driver" for _, b, _ in data_edges)
