"""DNN+NeuroSim V1.4's VGG-8 CIFAR-10 inference chip (user manual of DNN+NeuroSim V1.4, section 11,
Table VII; github neurosim/DNN_NeuroSim_V1.4): RRAM, 22 nm, on/off 17, 1 bit per cell, 128x128
sub-arrays, 8-bit weights and activations, 4-bit ADC, current-mode sensing (Param.cpp
currentMode = true: the design's readout says sense: current_mode).

| parallel read | area (mm2) | TOPS | TOPS/W |
|---------------|------------|------|--------|
| 32 rows       | 381.90     | 6.25 | 11.25  |
| 64 rows       | 378.06     | 8.16 | 19.88  |

Model: architectures/vgg8_cifar10_inference.yaml (its header: the network of VGG.py and
NetWork_VGG8.csv, 8 one-bit slices per weight, bit-serial inputs, 8 columns per ADC, NeuroSim's
pipeline duplication 16/16/4/4, the floorplan area model with the write path's level shifters),
cell and level shifter device_libraries/neurosim_v14_22nm.yaml, CMOS cmos_22nm; analytic counts
with every input active (input_density 1: no CIFAR data).

Second reference, stated as such: DNN+NeuroSim V1.4 itself, compiled from its repository and run
with Table VII's settings (Param.cpp: memcelltype 2 (RRAM), levelOutput 16 (4-bit ADC), the rest
default: LSTP, validated = true, pipeline, novel mapping; main.cpp arguments NetWork_VGG8.csv 8 8
128 32|64), stopped after ChipCalculateArea (no weight or input traces needed) and with its
sub-array's component sizes printed. Its printed area (mm2), 32 / 64 rows:

| NeuroSim category                         | NeuroSim run    | cimest (32 rows)                       |
|-------------------------------------------|-----------------|----------------------------------------|
| chip (floorplan, sqrt x sqrt)             | 345.17 / 341.32 | 319.53 (tile boxes + unplaced units)   |
| CIM arrays                                | 3.605           | 3.691 cells (+2.4 %: 9,698 vs 9,472 arrays) |
| ADC (multilevel sense amps + encoders)    | 5.067           | 16.37 (NeuroSim SAR ADC entry, 4 bits) |
| accumulation (shift-adds, adders, trees)  | 17.08 / 16.47   | 5.19 (shift-adds, partial-sum adders)  |
| interconnect (tile H-trees, chip bus)     | 26.31 / 26.16   | 0 (feature bus priced per bit, no area) |
| other (level shifters, switch matrices, muxes, decoders, buffers, pooling, ReLU) | 46.85 / 46.84 | 41.72 (37.28 of it level shifters) |
| sum of the categories                     | 98.9 / 97.2     | 66.94                                  |
| empty floorplan corners                   | (the rest)      | 252.59 (`layout`)                      |

Its 22 nm sub-array (128x128): a bounding box of 113.7 um x 288.1 um = 32,752 um2, of which its
components fill 6,754 um2 (array 381; WL, BL and SL level shifters 3 x 1,281; switch matrices
301 + 179; mux and mux decoder 214; sense amps and encoders 535; shift-adds 360 + 704; adders and
flip-flops 236). The WL and BL level shifters, pitch-matched to an array 11.3 um high, are each
113.8 um wide; the column peripherals stack 102 um below it; the corners are empty. 9,472 such
boxes are 310 mm2 of the 345 mm2: NeuroSim's chip area is 71 % empty layout (Table VII's
381.90 mm2 is 10 % above this build's 345.17).

cimest's floorplan area model (technology.area_model: floorplan, cimest/costs/floorplan.py) lays a
tile out the same way: its 128x128 box is 115.0 um x 284.9 um = 32,759 um2 (+1.1 % / -1.1 % /
+0.02 %), the array 11.26 x 33.79 um with 2,829 um2 of row-side peripherals (2 x 128 level
shifters of NeuroSim's 10.01 um2, 128 input drivers of 2.08 um2) and 3,504 um2 of column-side ones
(16 SAR ADCs, muxes and shift-adds, 128 level shifters), 26,045 um2 of it empty corners. The
height and width compensate: cimest's SAR ADC is 3x NeuroSim's sense amps (taller column side),
and it has no separate switch matrices (narrower row side). Its chip, 9,698 boxes (317.7 mm2) and
the unplaced digital units and buffers (1.8 mm2), lacks NeuroSim's H-trees and buffers (26 mm2
of interconnect, 17 mm2 of accumulation trees outside the sub-arrays).

Measured (model / published - 1) and what each test asserts:

| quantity                        | cimest        | published | error  | test                       |
|---------------------------------|---------------|-----------|--------|----------------------------|
| MACs per image                  | 615,917,568   | (by hand) | 0      | exact                      |
| cell arrays (mm2)               | 3.691         | 3.605 (NeuroSim run) | +2.4 % | within 5 %      |
| TOPS/W gain, 64 over 32 rows    | 1.887         | 1.767     | +6.8 % | within 15 %                |
| area ratio, 32 over 64 rows     | 1.000         | 1.010     | -1 %   | within 2 %                 |
| TOPS/W, 32 rows                 | 12.18         | 11.25     | +8.2 % | within 30 % (acceptance), 16 % |
| TOPS/W, 64 rows                 | 22.98         | 19.88     | +15.6 %| within 30 % (acceptance)   |
| area, 32 rows (mm2)             | 319.53        | 381.90    | -16 %  | within 30 % (acceptance)   |
| area, 64 rows (mm2)             | 319.53        | 378.06    | -15 %  | within 30 % (acceptance)   |
| area, 32 rows (mm2)             | 319.53        | 345.17 (NeuroSim run) | -7.4 % | within 15 % |
| sub-array box (um)              | 115.0 x 284.9 | 113.7 x 288.1 (NeuroSim run) | +1.1 % / -1.1 % | within 2.5 % each |
| TOPS, 32 / 64 rows (not tested) | 14.7 / 29.0   | 6.25/8.16 | +136 % / +255 % | -                 |

What moved in issue 16's block-by-block check (each a modelling error, not a fit):
- The cell: 48 F^2 at the 22 nm node (SubArray.cpp lays 1T1R arrays out in the node's feature
  size; the run's array is 88 nm x 264 nm per cell), not 48 x (40 nm)^2: cells 12.2 -> 3.7 mm2.
- The shift-add: V1.4's own 8-bit shift-add with its default validated = true (adder switching
  0.15, flip-flop switching 0.5), 19.87 fJ per op from its ShiftAdd/Adder/DFF run at 22 nm, not
  cmos_22nm's unscaled 70 fJ (V1.3): TOPS/W 6.15 -> 8.89 and 9.14 -> 11.83.
- The area: NeuroSim's floorplan (pitch-matched sub-array boxes) and the write path's level
  shifters it places on this inference chip, not the sum of placed areas: 29.66 -> 319.53 mm2.
- The read: current-mode sensing (readout sense: current_mode, the column_sense entry of
  neurosim_v14_22nm: MultilevelSenseAmp.cpp's column power over its conversion, 21.25 fJ per
  conversion, nearly flat in the rows read at once) instead of V_read^2 G t_read per conducting
  cell (1.60 fJ each, 103 fJ per MAC at both points; NeuroSim's SubArray.cpp drops that term as
  "already considered in multilevelsenseamp"): TOPS/W 8.89 -> 12.18 and 11.83 -> 22.98; the
  64-row miss (-40 %) closed, the gain 1.33 -> 1.89 (NeuroSim 1.77).

Why the remaining differences (none is an expected failure now):
- Area (now within 30 %, -16 %): what remains is NeuroSim's PE/tile/chip level (its H-trees and
  chip bus, 26 mm2, and the tile/PE buffers and accumulation trees), which cimest does not place,
  and Table VII's figure being 10 % above the code's own 345 mm2.
- TOPS/W (+8 % at 32 rows, +16 % at 64): the column_sense number is a hand evaluation of
  NeuroSim's fit for every input on and half the weights on (7.3 kohm at 32 rows, 3.6 kohm at
  64); the analytic counts also drive every input bit (input_density 1), where NeuroSim reads
  CIFAR-10 images and ReLU activations, most of whose bits are 0 (its own interconnect toggle
  rate for VGG-8 is 0.18), and NeuroSim charges its word lines, sense-amp references and
  buffers, which cimest prices otherwise. (Before current-mode sensing: 8.89 and 11.83, -21 % and
  -40 %: cimest charged every conducting cell V_read^2 G_mid t_read, 46 % and 61 % of its energy,
  which does not fall with the rows read at once.)
- TOPS: cimest's schedule pipelines the layers with the duplicated copies sharing positions and
  has no buffer or bus latency; NeuroSim's pipeline stage includes its H-tree and buffer time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cimest.api import bind_design, estimate_design
from cimest.costs.floorplan import tile_boxes
from cimest.graph import compile_graph
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures" / "vgg8_cifar10_inference.yaml"
TABLE_VII = {32: (381.90e-6, 11.25), 64: (378.06e-6, 19.88)}  # (area m2, TOPS/W)
REL = 0.30  # the acceptance band for the absolute figures


def design(parallel_rows: int):
    text = ARCH.read_text(encoding="utf-8")
    text = text.replace("parallel_rows: 32", f"parallel_rows: {parallel_rows}")
    assert text.count(f"parallel_rows: {parallel_rows}") == 2
    return parse_architecture(text, str(ARCH))


@pytest.fixture(scope="module")
def estimates():
    return {pr: estimate_design(bind_design(design(pr))) for pr in TABLE_VII}


def test_the_network_is_neurosims_vgg8():
    g = compile_graph(design(32).spec)
    # NetWork_VGG8.csv: IFM H, W, C, kernel, maps ('same' padding) and the dense 8192-1024-10
    csv = [
        (32, 3, 128),
        (32, 128, 128),
        (16, 128, 256),
        (16, 256, 256),
        (8, 256, 512),
        (8, 512, 512),
    ]
    for lm, (hw, c, k) in zip(g.layers, csv, strict=False):
        assert (lm.kind, lm.in_shape, lm.out_shape, lm.kernel) == (
            "conv",
            (c, hw, hw),
            (k, hw, hw),
            3,
        )
    assert [(lm.n_in, lm.n_out) for lm in g.layers[6:]] == [(8192, 1024), (1024, 10)]
    # MACs by hand: sum of H*W * 9*C * K over the convolutions, plus 8192*1024 + 1024*10
    convs = sum(hw * hw * 9 * c * k for hw, c, k in csv)
    assert sum(g.macs_per_sample().values()) == convs + 8192 * 1024 + 1024 * 10 == 615_917_568
    # 8-bit weights on 1-bit cells: 8 columns each, (128 - 1 reference) // 8 = 15 maps per tile
    assert {(lm.slices, lm.weight_cols_per_tile) for lm in g.layers} == {(8, 15)}
    assert [lm.duplicate for lm in g.layers] == [16, 16, 4, 4, 1, 1, 1, 1]


def test_the_cell_arrays_take_the_area_neurosim_gives_them(estimates):
    # DNN+NeuroSim V1.4 run (docstring): "Chip total CIM array : 3.60536e+06um^2" at both points
    cells = sum(r.area_m2 for r in estimates[32].area if r.component == "cell")
    assert cells == pytest.approx(3.60536e-6, rel=0.05)  # measured +2.4 % (9,698 vs 9,472 arrays)


def test_reading_more_rows_at_once_gains_what_neurosim_gains(estimates):
    gain = estimates[64].tops_per_w / estimates[32].tops_per_w
    published = TABLE_VII[64][1] / TABLE_VII[32][1]  # 1.767
    assert gain == pytest.approx(published, rel=0.15)  # measured +6.8 %


def test_parallel_read_leaves_the_area_as_neurosim_does(estimates):
    ratio = estimates[32].area_m2 / estimates[64].area_m2
    assert ratio == pytest.approx(TABLE_VII[32][0] / TABLE_VII[64][0], rel=0.02)  # measured -1 %


def test_tops_per_w_within_30_percent_at_32_rows(estimates):
    assert estimates[32].tops_per_w == pytest.approx(TABLE_VII[32][1], rel=REL)  # measured +8.2 %
    assert estimates[32].tops_per_w == pytest.approx(TABLE_VII[32][1], rel=0.16)


def test_tops_per_w_within_30_percent_at_64_rows(estimates):
    assert estimates[64].tops_per_w == pytest.approx(TABLE_VII[64][1], rel=REL)  # measured +15.6 %


@pytest.mark.parametrize("rows", [32, 64])
def test_current_mode_sensing_charges_conversions_not_cell_reads(estimates, rows):
    # NeuroSim V1.4 (SubArray.cpp CalculatePower): no bit-line energy per cell in current mode;
    # MultilevelSenseAmp.cpp charges the column per conversion instead
    records = estimates[rows].breakdown
    assert not [r for r in records if r.component == "cell" and r.phase == "forward" and r.count]
    senses = {r.layer: r.count for r in records if r.component == "column_sense"}
    converts = {
        r.layer: r.count for r in records if (r.component, r.action) == ("readout", "convert")
    }
    assert senses == converts and len(senses) == 8


@pytest.mark.parametrize("rows", [32, 64])
def test_area_within_30_percent(estimates, rows):
    # measured -16 % (32 rows) and -15 % (64): no H-trees or PE/tile buffers (docstring)
    assert estimates[rows].area_m2 == pytest.approx(TABLE_VII[rows][0], rel=REL)


def test_the_chip_area_is_near_neurosims_own_run(estimates):
    # DNN+NeuroSim V1.4 run (docstring): "ChipArea : 3.45172e+08um^2" at 32 rows
    assert estimates[32].area_m2 == pytest.approx(345.17e-6, rel=0.15)  # measured -7.4 %


def test_a_tile_is_the_bounding_box_neurosim_lays_a_sub_array_out_as():
    # DNN+NeuroSim V1.4 run (docstring): a 128x128 sub-array is 113.7 um high and 288.1 um wide
    d = bind_design(design(32))
    box = tile_boxes(d.graph, d.priced)[0]
    assert box.height_m == pytest.approx(113.7e-6, rel=0.025)  # measured +1.1 %
    assert box.width_m == pytest.approx(288.1e-6, rel=0.025)  # measured -1.1 %
