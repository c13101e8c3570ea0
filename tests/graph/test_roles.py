"""The role registry, layer shapes and per-layer arrays."""

from __future__ import annotations

import typing
from dataclasses import replace

import pytest

from cimest.api import bind_design, estimate_design
from cimest.costs.schedule import step_durations
from cimest.devices.model import DEVICE_MODELS
from cimest.errors import SpecError
from cimest.graph.analytic import analytic_activity, count_analytic
from cimest.graph.compile import compile_graph
from cimest.graph.roles import ROLES
from cimest.spec import parse_architecture
from cimest.spec.library import DeviceSpec


def spec_of(path, *edits):
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return parse_architecture(text, str(path))


def test_every_component_has_a_declared_role(bsl_toy, fp_toy):
    for path in (bsl_toy, fp_toy):
        g = compile_graph(spec_of(path).spec)
        assert {role for _, role in g.components} <= set(ROLES)


def test_a_misspelt_role_is_an_error_not_zero_seconds(fp_toy):
    d = bind_design(spec_of(fp_toy))
    comp = d.graph.components[("L1", "readout")]
    d.graph.components[("L1", "readuot")] = replace(comp, role="readuot")
    d.priced[("L1", "readuot")] = d.priced[("L1", "readout")]
    with pytest.raises(KeyError, match="unknown component role 'readuot'"):
        step_durations(d.graph, d.priced, analytic_activity(d.graph))


def test_every_device_model_a_library_may_name_exists():
    names = typing.get_args(DeviceSpec.model_fields["model"].annotation)
    assert set(names) == set(DEVICE_MODELS)


def test_dense_layers_have_shapes_and_one_use_per_sample(fp_toy):
    g = compile_graph(spec_of(fp_toy).spec)
    L1, L2 = g.layers
    assert (L1.in_shape, L1.out_shape, L1.uses_per_sample) == ((64,), (128,), 1)
    assert (L2.in_shape, L2.out_shape) == ((128,), (10,))
    assert g.macs_per_sample() == {
        "forward": 64 * 128 + 128 * 10,
        "backward": 128 * 10,
        "update": 64 * 128 + 128 * 10,
    }


def test_a_layer_of_its_own_tile_size_pays_for_its_own_adcs(fp_toy):
    """A 10-output layer on 128-column tiles pays for 128 output ADCs (one per column); on
    16-column tiles, for 16."""
    wide = bind_design(spec_of(fp_toy))
    narrow = bind_design(
        spec_of(
            fp_toy,
            (
                "  weight_encoding: reference_column",
                "  weight_encoding: reference_column\n  per_layer:\n    L2: {cols: 16}",
            ),
        )
    )
    assert narrow.graph.layer("L2").cols == 16 and narrow.graph.layer("L1").cols == 128
    assert narrow.graph.component("L2", "readout").count == 16
    assert wide.graph.component("L2", "readout").count == 128
    assert estimate_design(narrow).area_m2 < estimate_design(wide).area_m2
    # the counts do not depend on the tile width here: one column tile either way
    assert count_analytic(narrow.graph).counts == count_analytic(wide.graph).counts


def test_fit_sizes_each_tile_to_its_layer_and_the_warning_goes(fp_toy):
    fixed = bind_design(spec_of(fp_toy))
    fit = bind_design(spec_of(fp_toy, ("  cols: 128\n", "  cols: 128\n  size: fit\n")))
    L1, L2 = fit.graph.layers
    assert (L1.rows, L1.cols) == (64, 128)  # 128 outputs + a reference need 129 > 128 columns
    assert (L2.rows, L2.cols) == (128, 11)  # 10 outputs + the reference column
    assert L2.utilisation == 1.0
    assert fixed.graph.layer("L2").column_utilisation == pytest.approx(10 / 127)
    assert any("L2: 10 of 127 weight columns" in w for w in estimate_design(fixed).warnings)
    assert not any(w.startswith("L2") for w in estimate_design(fit).warnings)


def test_per_layer_peripherals_override_one_layer(fp_toy):
    d = bind_design(
        spec_of(
            fp_toy,
            (
                "  output_readout: {kind: adc, bits: 6, columns_per_adc: 1}",
                "  output_readout: {kind: adc, bits: 6, columns_per_adc: 1}\n"
                "  per_layer:\n    L1: {readout: {kind: adc, bits: 4, columns_per_adc: 2}}",
            ),
        )
    )
    assert d.graph.component("L1", "readout").bits == 4
    # two column tiles (128 outputs + a reference need 129 columns), 128 / 2 ADCs each
    assert d.graph.component("L1", "readout").count == 2 * 64
    assert d.graph.component("L2", "readout").bits == 6


@pytest.mark.parametrize("section", ["crossbar", "peripherals"])
def test_an_unknown_layer_name_is_refused_at_its_line(fp_toy, section):
    body = "{cols: 16}" if section == "crossbar" else "{readout: {kind: adc, bits: 4}}"
    anchor = (
        "  weight_encoding: reference_column"
        if section == "crossbar"
        else "  output_readout: {kind: adc, bits: 6, columns_per_adc: 1}"
    )
    with pytest.raises(SpecError) as err:
        spec_of(fp_toy, (anchor, f"{anchor}\n  per_layer:\n    L7: {body}"))
    msg = str(err.value)
    assert f"{section}.per_layer: no layer 'L7'" in msg and "L1, L2" in msg


def test_digital_backward_prices_its_macs_and_drops_the_error_periphery(fp_toy):
    d = bind_design(
        spec_of(
            fp_toy,
            (
                "  error_input: {kind: dac, bits: 8}\n  error_readout: {kind: adc, bits: 8, columns_per_adc: 8}\n",
                "  backward: {kind: digital, bits: 8}\n",
            ),
        )
    )
    roles = {role for layer, role in d.graph.components if layer == "L2"}
    assert {"error_mac", "error_add", "error_weights"} <= roles
    assert not roles & {"error_input", "error_readout"}
    c = count_analytic(d.graph)
    assert c.get("L2", "backward", "error_mac", "op") == 128 * 10
    assert c.get("L2", "backward", "error_weights", "read_bit") == 128 * 10 * 8
    assert c.get("L2", "backward", "cell", "read") == 0  # nothing read from the arrays
