"""The floorplan area model (technology.area_model: floorplan) and the inference write path's
level shifters (crossbar.level_shifters), both opt-in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cimest.api import bind_design, estimate_design
from cimest.costs.calibrate import MeasuredBreakdownSpec, fit_calibration
from cimest.costs.floorplan import LAYOUT_ROLE, tile_boxes
from cimest.errors import CimestError, SpecError
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures"


def design(name: str, *edits: tuple[str, str]):
    path = ARCH / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(path)))


FLOORPLAN = ("clock_mhz: 1000}", "clock_mhz: 1000, area_model: floorplan}")


def test_sum_is_the_default_and_floorplan_only_adds_the_empty_corners():
    plain = estimate_design(design("full_precision_rram"))
    planned = estimate_design(design("full_precision_rram", FLOORPLAN))
    assert LAYOUT_ROLE not in {r.component for r in plain.area}
    placed = [r for r in planned.area if r.component != LAYOUT_ROLE]
    assert placed == plain.area  # every placed component keeps its area
    layout = [r for r in planned.area if r.component == LAYOUT_ROLE]
    assert [r.layer for r in layout] == ["L1", "L2"] and all(r.area_m2 > 0 for r in layout)
    assert planned.area_m2 == pytest.approx(sum(r.area_m2 for r in planned.area), rel=1e-12)
    assert planned.energy_per_sample_j == plain.energy_per_sample_j


def test_the_floorplan_is_the_tiles_bounding_boxes_plus_the_unplaced_components():
    d = design("full_precision_rram", FLOORPLAN)
    est = estimate_design(d)
    total = 0.0
    for lm in d.graph.layers:
        comps = {role: c for (layer, role), c in d.graph.components.items() if layer == lm.name}
        area = {role: d.priced[(lm.name, role)].area_m2 for role in comps}

        def edge(role: str, per_tile: int, comps=comps, area=area) -> float:
            return per_tile * area[role] if role in comps else 0.0

        side = math.sqrt(area["cell"])  # the shipped cells are square (no aspect_hw)
        height, width = lm.rows * side, lm.cols * side
        # by the roles: a DAC per row and the row decoder beside the array; the ADCs with their
        # muxes and the column decoder below it; a level shifter per row and per column line
        adcs = math.ceil(lm.cols / (8 if lm.name == "L1" else 1))  # columns_per_adc 8, output 1
        # the error MVM (L2) reads the rows (its ADCs, columns_per_adc 8, beside the array) and
        # drives the columns (a DAC per column, below it)
        row_adcs = math.ceil(lm.rows / 8)
        row = (
            edge("input_driver", lm.rows)
            + edge("row_decoder", 1)
            + edge("level_shifter", lm.rows)
            + edge("error_readout", row_adcs)
            + edge("error_mux", row_adcs)
        )
        col = (
            edge("column_decoder", 1)
            + edge("level_shifter", lm.cols)
            + edge("readout", adcs)
            + edge("readout_mux", adcs)
            + edge("shift_add", adcs)
            + edge("error_input", lm.cols)
        )
        assert comps["readout"].edge_col == adcs
        box = (width + row / height) * (height + col / width)
        placed_on_edges = height * width + row + col
        unplaced = sum(
            area[role] * c.count
            for role, c in comps.items()
            if role not in ("cell", "input_driver", "row_decoder", "column_decoder")
            and role not in ("level_shifter", "readout", "readout_mux", "shift_add")
            and role not in ("error_readout", "error_mux", "error_input")
        )
        total += lm.n_tiles * box + unplaced
        assert lm.n_tiles * placed_on_edges < lm.n_tiles * box
    assert est.area_m2 == pytest.approx(total, rel=1e-9)


def test_a_cells_aspect_sets_the_arrays_sides_as_neurosim_lays_them_out():
    # DNN+NeuroSim V1.4 run with Table VII's settings (device_libraries/neurosim_v14_22nm.yaml
    # header): a 128x128 array of 1T1R cells, 4F x 12F at 22 nm, is 11.264 um x 33.792 um
    d = design("vgg8_cifar10_inference")
    box = tile_boxes(d.graph, d.priced)[0]
    assert box.array_height_m == pytest.approx(11.264e-6, rel=1e-9)
    assert box.array_width_m == pytest.approx(33.792e-6, rel=1e-9)


def test_inference_chips_get_write_level_shifters_only_when_they_ask():
    off = ("level_shifters: {on_inference: true, per_row: 2, per_column: 1}", "")
    without = design("vgg8_cifar10_inference", off)
    assert not [k for k in without.graph.components if k[1] == "level_shifter"]
    d = design("vgg8_cifar10_inference")
    for lm in d.graph.layers:
        c = d.graph.components[(lm.name, "level_shifter")]
        assert (c.count, c.edge_row, c.edge_col) == (lm.n_tiles * (2 * 128 + 128), 256, 128)
    # no writes on an inference chip: its energy does not move (NeuroSim's shifters do not leak)
    assert estimate_design(d).energy_per_sample_j == estimate_design(without).energy_per_sample_j


def test_training_chips_keep_one_level_shifter_per_line_by_default():
    d = design("full_precision_rram")
    lm = d.graph.layers[0]
    c = d.graph.components[("L1", "level_shifter")]
    assert c.count == lm.n_tiles * (lm.rows + lm.cols)


def test_an_unknown_area_model_names_the_allowed_ones():
    path = ARCH / "full_precision_rram.yaml"
    text = path.read_text(encoding="utf-8").replace(*FLOORPLAN).replace("floorplan}", "boxes}")
    with pytest.raises(SpecError) as err:
        parse_architecture(text, str(path))
    assert "technology.area_model: 'boxes' is not allowed. Allowed: sum, floorplan" in str(
        err.value
    )


def test_area_calibration_fits_placed_kinds_and_refuses_the_layout_line():
    d = design("full_precision_rram", FLOORPLAN)
    adc = sum(r.area_m2 for r in estimate_design(d).area if r.kind == "adc")
    fit = fit_calibration(
        d.spec,
        d.libraries,
        MeasuredBreakdownSpec.model_validate({"area_um2": {"adc": 2 * adc * 1e12}}),
    )
    assert fit.area_calibration["adc"] == pytest.approx(2.0, rel=1e-9)
    with pytest.raises(CimestError) as err:
        fit_calibration(
            d.spec, d.libraries, MeasuredBreakdownSpec.model_validate({"area_um2": {"layout": 5}})
        )
    assert "area_um2.layout: unknown component kind" in str(err.value)
