"""Convolutions mapped as the field does (NeuroSim, ISAAC): the kernel unrolled along C*R*S rows,
the maps along columns, the array reused at every output position; duplication, weights split over
cells, parallel row reads; pooling and the feature maps between layers. Every expected value is
worked out by hand from the shapes in the comment beside it."""

from __future__ import annotations

import math

import pytest

from cimest.api import bind_design, estimate_design
from cimest.errors import CimestError
from cimest.graph import compile_graph
from cimest.graph.analytic import analytic_activity, count_analytic
from cimest.spec import parse_architecture

BASE = """
name: t
technology: {node_nm: 32, vdd_v: 0.9, clock_mhz: 1000}
libraries: [toy_cmos, toy_cells]
workload:
  network: NET
  mode: MODE
  batch_size: 10
  activity: {input_density: 0.5, error_density: 0.25, gradient_density: 0.1}
algorithm: {rule: backprop}
crossbar:
  rows: 128
  cols: 128
  cell: toy_rram
XBAR
peripherals:
  input_driver: {kind: dac, bits: 8}
  readout: {kind: adc, bits: 8, columns_per_adc: 8READOUT}
  error_input: {kind: dac, bits: 8}
  error_readout: {kind: adc, bits: 8, columns_per_adc: 8}
  update: {kind: pulse_train, max_pulses: 16}
  gradient_accumulator: {kind: sram_buffer, bits: 8}
"""

# MNIST-like: 1x28x28 -> conv 9x9, 8 maps ('valid': 20x20 positions) -> 10
CONV = "[[1, 28, 28], {conv: {maps: 8, kernel: 9}}, 10]"
DENSE = "[81, 8, 10]"  # the same 81 x 8 weight matrix, used once


def spec(net=CONV, mode="train", xbar="", readout=""):
    text = (
        BASE.replace("NET", net)
        .replace("MODE", mode)
        .replace("XBAR", xbar)
        .replace("READOUT", readout)
    )
    return parse_architecture(text)


def steps(est):
    return {(s.layer, s.phase): s.duration_s for s in est.schedule}


def test_a_convolution_repeats_its_step_at_every_position(toy_libs):
    conv = steps(estimate_design(bind_design(spec(CONV))))
    dense = steps(estimate_design(bind_design(spec(DENSE))))
    # 20 x 20 = 400 positions, one array: the forward step of L1 is 400 times the dense one's
    assert conv[("L1", "forward")] == pytest.approx(400 * dense[("L1", "forward")], rel=1e-12)
    # L1 (the first layer) has no backward MVM; L2 is dense in both
    assert conv[("L2", "backward")] == pytest.approx(dense[("L2", "backward")], rel=1e-12)


def test_duplication_shares_the_positions_and_multiplies_the_tiles(toy_libs):
    one = estimate_design(bind_design(spec(CONV)))
    dup = spec(CONV, xbar="  per_layer: {L1: {duplicate: 4}}")
    four = estimate_design(bind_design(dup))
    # ceil(400 / 4) = 100 positions per copy
    assert steps(four)[("L1", "forward")] == pytest.approx(
        steps(one)[("L1", "forward")] / 4, rel=1e-12
    )
    g1, g4 = compile_graph(spec(CONV).spec), compile_graph(dup.spec)
    assert g4.component("L1", "cell").count == 4 * g1.component("L1", "cell").count
    assert g4.component("L1", "readout").count == 4 * g1.component("L1", "readout").count
    # the forward work is the same, only spread over the copies
    c1, c4 = count_analytic(g1), count_analytic(g4)
    fwd = [k for k in c1.counts if k[0] == "L1" and k[1] == "forward"]
    assert fwd and all(c4.counts[k] == pytest.approx(c1.counts[k], rel=1e-12) for k in fwd)
    # every copy is programmed: 4x the pulses of L1
    pulses = ("L1", "update", "write_driver", "pulse")
    assert c4.counts[pulses] == pytest.approx(4 * c1.counts[pulses], rel=1e-12)


def test_per_weight_work_once_per_sample_per_term_work_per_term(toy_libs):
    g = compile_graph(spec(CONV).spec)
    c = count_analytic(g)
    n_weights, uses = 81 * 8, 400
    # the accumulator is read-modify-written once per weight per sample (8 bits), not per position
    assert c.counts[("L1", "update", "gradient_accumulator", "write_bit")] == pytest.approx(
        n_weights * 8
    )
    # the gradient adder and multiplier work per term: every weight at every position
    assert c.counts[("L1", "update", "gradient_adder", "op")] == pytest.approx(n_weights * uses)
    # the adders take the positions one after another, each row by row (81 rows, 1 ns per add)
    est = estimate_design(bind_design(spec(CONV)))
    dense = estimate_design(bind_design(spec(DENSE)))
    extra = steps(est)[("L1", "update")] - steps(dense)[("L1", "update")]
    assert extra == pytest.approx((uses - 1) * 81 * 2 * 1e-9, rel=1e-9)  # adder + multiplier


def test_forward_counts_scale_with_the_positions(toy_libs):
    g = compile_graph(spec(CONV).spec)
    c = count_analytic(g)
    # DAC converts: 81 inputs x 1 column tile per position; ADC: 8 outputs x 1 row tile
    assert c.counts[("L1", "forward", "input_driver", "convert")] == pytest.approx(400 * 81)
    assert c.counts[("L1", "forward", "readout", "convert")] == pytest.approx(400 * 8)
    # cell reads: driven inputs (density 0.5) x (8 weights + 1 reference)
    assert c.counts[("L1", "forward", "cell", "read")] == pytest.approx(0.5 * 81 * 400 * 9)


def test_pooling_and_feature_maps_are_priced_roles(toy_libs):
    net = "[[1, 28, 28], {conv: {maps: 8, kernel: 9}}, {pool: {kind: max, size: 2}}, 10]"
    g = compile_graph(spec(net).spec)
    c = count_analytic(g)
    # 8 maps of 20x20 pooled 2x2 -> 8 x 10 x 10 = 800 outputs, 3 compares each
    assert c.counts[("L1", "forward", "pool", "op")] == pytest.approx(800 * 3)
    # the input map (784 values of 8 bits) written once, an 81-value window read per position
    assert c.counts[("L1", "forward", "feature_buffer", "write_bit")] == pytest.approx(784 * 8)
    assert c.counts[("L1", "forward", "feature_buffer", "read_bit")] == pytest.approx(400 * 81 * 8)
    # the pooled maps cross the bus at the read-out's 8 bits
    assert c.counts[("L1", "forward", "feature_bus", "transfer_bit")] == pytest.approx(800 * 8)
    assert g.component("L1", "feature_buffer").count == 784 * 8


def test_provisioned_buffers_and_bus_follow_the_tiles(toy_libs):
    """A chip that provisions its buffers per group of arrays (ISAAC: 64 KB of eDRAM and a router
    share per 96 arrays): the instances follow the layer's tiles, the reads and writes do not."""
    net = "[[16, 12, 12], {conv: {maps: 40, kernel: 3}}, 10]"
    # 16 x 3 x 3 = 144 rows -> 2 row tiles; 40 maps on 127 weight columns -> 1; 3 copies: 6 tiles
    xbar = "  per_layer: {L1: {duplicate: 3}}"
    plain = spec(net, xbar=xbar)
    fb = "  feature_buffer: {provision: {bits: 1000, tiles: 4}, bus_tiles: 4}\n"
    base = (
        BASE.replace("NET", net)
        .replace("MODE", "train")
        .replace("XBAR", xbar)
        .replace("READOUT", "")
    )
    provisioned = parse_architecture(base.replace("  update:", fb + "  update:"))
    g0 = compile_graph(plain.spec)
    g = compile_graph(provisioned.spec)
    assert g.plan("L1").lm.n_tiles == 6
    assert g.component("L1", "feature_buffer").count == 2 * 1000  # ceil(6 / 4) buffers
    assert g.component("L1", "feature_bus").count == 2  # ceil(6 / 4) instances
    assert g0.component("L1", "feature_buffer").count == 16 * 12 * 12 * 8  # the input maps
    assert g0.component("L1", "feature_bus").count == 1
    assert count_analytic(g).counts == count_analytic(g0).counts


def test_isaacs_array_tile_and_chip_parts_are_counted_per_bit_and_conversion(toy_libs):
    """ISAAC's sample-and-holds, IMA registers, eDRAM-to-IMA bus and off-chip links (placed only
    when their sections are given): instances and events worked out from the shapes."""
    # conv: 16 x 3 x 3 = 144 rows -> 2 row tiles; 40 maps on 127 weight columns -> 1 column tile;
    # 3 copies: 6 tiles of 128 x 128; 10 x 10 positions; dense 10 -> L2, output
    net = "[[16, 12, 12], {conv: {maps: 40, kernel: 3}}, 10]"
    xbar = "  per_layer: {L1: {duplicate: 3}}"
    parts = (
        "  sample_hold: {}\n"
        "  array_registers: {output_bits: 12}\n"
        "  tile_bus: {tiles: 4}\n"
        "  chip_io: {}\n"
    )
    base = (
        BASE.replace("NET", net)
        .replace("MODE", "inference")
        .replace("XBAR", xbar)
        .replace("READOUT", "")
    )
    g = compile_graph(parse_architecture(base.replace("  update:", parts + "  update:")).spec)
    g0 = compile_graph(spec(net, mode="inference", xbar=xbar).spec)
    c = count_analytic(g).counts
    c0 = count_analytic(g0).counts
    assert c0.items() <= c.items()  # the parts add events, change none
    lm = g.plan("L1").lm
    assert (lm.n_tiles, lm.uses_per_sample, lm.n_in, lm.col_tiles) == (6, 100, 144, 1)
    assert g.component("L1", "readout_sample_hold").count == 6 * 128  # one per column
    assert g.component("L1", "input_register").count == 6 * 128 * 8  # rows x 8-bit inputs
    assert g.component("L1", "output_register").count == 6 * 127 * 12  # outputs x 12 bits
    assert g.component("L1", "tile_bus").count == 2  # ceil(6 / 4)
    assert g.component("L1", "chip_io").count == 6  # a share per tile
    assert ("L2", "tile_bus") not in g.components  # dense: no feature buffer, no bus
    n = 1  # the analytic counter counts one sample
    conversions = c[("L1", "forward", "readout", "convert")]
    assert c[("L1", "forward", "readout_sample_hold", "sample")] == conversions
    bits_in = n * 100 * 144 * 8  # every row's 8-bit input per use
    for action in ("write_bit", "read_bit"):
        assert c[("L1", "forward", "input_register", action)] == bits_in
        assert c[("L1", "forward", "output_register", action)] == n * 100 * 40 * 2 * 12
    assert c[("L1", "forward", "tile_bus", "transfer_bit")] == bits_in
    # the links carry the network's input (16 x 12 x 12 values of 8 bits) and output (10 x 8)
    assert c[("L1", "forward", "chip_io", "transfer_bit")] == n * 16 * 12 * 12 * 8
    assert c[("L2", "forward", "chip_io", "transfer_bit")] == n * 10 * 8


def test_a_part_without_a_library_entry_is_a_clear_error(toy_libs):
    """The CMOS libraries price no sample-and-hold, register or off-chip link: a design placing
    one without a library that does is refused with the kind it lacks."""
    from cimest.errors import SpecError

    text = (
        BASE.replace("NET", CONV)
        .replace("MODE", "inference")
        .replace("XBAR", "")
        .replace("READOUT", "")
    )
    parts = "  array_registers: {}\n  chip_io: {}\n"
    with pytest.raises(SpecError) as err:
        bind_design(parse_architecture(text.replace("  update:", parts + "  update:")))
    assert "no register in libraries [toy_cmos, toy_cells]" in str(err.value)
    assert "no io_link in libraries" in str(err.value)


def test_dense_layers_have_no_feature_map_roles(toy_libs):
    g = compile_graph(spec(DENSE).spec)
    roles = {r for _, r in g.components}
    assert not roles & {"pool", "feature_buffer", "feature_bus"}


def test_weights_split_over_cells(toy_libs):
    xbar = "  weight_bits: 8\n  bits_per_cell: 2"
    s = spec("[128, 31]", mode="inference", xbar=xbar)
    g = compile_graph(s.spec)
    L1 = g.layer("L1")
    # 4 slices per weight: (128 - 1 reference) // 4 = 31 outputs per tile, 4 x 31 + 1 columns read
    assert (L1.slices, L1.weight_cols_per_tile, L1.col_tiles) == (4, 31, 1)
    assert L1.cols_read_per_row == 4 * 31 + 1
    c = count_analytic(g)
    # every slice column is converted on its own and shift-added
    assert c.counts[("L1", "forward", "readout", "convert")] == pytest.approx(31 * 4)
    assert c.counts[("L1", "forward", "shift_add", "op")] == pytest.approx(31 * 4)
    assert g.component("L1", "shift_add").count == g.component("L1", "readout").count


def test_split_weights_are_refused_for_training(toy_libs):
    with pytest.raises(CimestError, match="weight_bits"):
        spec("[128, 31]", xbar="  weight_bits: 8")


@pytest.mark.parametrize(("n_in", "groups"), [(128, 4), (27, 1), (300, 4 + 4 + 2)])
def test_parallel_rows_read_a_tile_in_groups(toy_libs, n_in, groups):
    s = spec(f"[{n_in}, 10, 10]", mode="inference", readout=", parallel_rows: 32")
    g = compile_graph(s.spec)
    c = count_analytic(g)
    # rows read 32 at a time: ceil(rows in each tile / 32) groups, each converted and summed
    assert c.counts[("L1", "forward", "readout", "convert")] == pytest.approx(10 * groups)
    adds = c.counts.get(("L1", "forward", "partial_sum_adder", "op"), 0.0)
    assert adds == pytest.approx(10 * (groups - 1))
    est = estimate_design(bind_design(s))
    per_tile = math.ceil(min(128, n_in) / 32)
    plain = estimate_design(bind_design(spec(f"[{n_in}, 10, 10]", mode="inference")))
    # a tile's groups are converted one after another: its ADC step is per_tile times as long
    adc = 8 * 1e-9  # 8 columns per ADC, 1 ns each (toy ADC)
    extra = steps(est)[("L1", "forward")] - steps(plain)[("L1", "forward")]
    log_adds = math.ceil(math.log2(groups)) if groups > 1 else 0
    plain_adds = math.ceil(math.log2(math.ceil(n_in / 128))) if n_in > 128 else 0
    assert extra == pytest.approx((per_tile - 1) * adc + (log_adds - plain_adds) * 1e-9)


def test_analytic_activity_is_per_position(toy_libs):
    g = compile_graph(spec(CONV).spec)
    a = analytic_activity(g)["L1"]
    assert a.inputs_driven == pytest.approx(0.5 * 81 * 400)


def test_json_graph_and_report_show_each_layers_kind_and_shapes(toy_libs, tmp_path, capsys):
    from cimest.api import load_design
    from cimest.cli import main
    from cimest.report import design_from, render_report

    net = "[[1, 28, 28], {conv: {maps: 8, kernel: 9}}, {pool: {kind: max, size: 2}}, 10]"
    path = tmp_path / "cnn.yaml"
    path.write_text(
        BASE.replace("NET", net).replace("MODE", "train").replace("XBAR", "").replace("READOUT", "")
    )
    est = estimate_design(bind_design(parse_architecture(path.read_text(), str(path))))
    L1 = est.to_dict()["layers"][0]
    assert (L1["kind"], L1["in_shape"], L1["out_shape"], L1["uses_per_sample"]) == (
        "conv",
        [1, 28, 28],
        [8, 20, 20],
        400,
    )
    assert (L1["kernel"], L1["stride"], L1["padding"], L1["next_shape"]) == (9, 1, 0, [8, 10, 10])
    assert L1["pool"] == {"kind": "max", "size": 2, "stride": 2}
    text = "conv 9×9 (stride 1, padding 0) 1×28×28 → 8×20×20, 400 positions, max-pool 2×2 → 8×10×10"
    assert L1["text"] == text
    assert main(["graph", str(path)]) == 0
    assert text in capsys.readouterr().out
    html = render_report([design_from(load_design(path), est)])
    assert "400 positions, max-pool 2×2" in html


def test_a_tile_too_narrow_for_one_weights_slices_is_refused(toy_libs):
    xbar = "  weight_bits: 16\n  bits_per_cell: 1\n  per_layer: {L1: {cols: 16}}"
    # 16 slices + 1 reference column do not fit 16 columns
    with pytest.raises(CimestError, match=r"per_layer.L1.cols: .* at least 17 columns; got 16"):
        spec("[128, 31]", mode="inference", xbar=xbar)
