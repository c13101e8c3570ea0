"""MLP+NeuroSim V3.0's learning rule as options of the full-precision rules: a sigmoid output with
a squared-error delta (algorithm.output), per-layer learning rates (algorithm.per_layer) and the
hidden activations' gradient taken before the drivers (algorithm.gradient_input)."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.api import bind_design
from cimest.engine.datasets import load_dataset
from cimest.engine.rules import backprop, train_batch
from cimest.engine.rules.common import Meter
from cimest.engine.train import init_state, make_setup
from cimest.errors import SpecError
from cimest.spec import parse_architecture


def _design(path, *edits):
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(path)))


SOFTWARE = ("rule: backprop", "rule: software")
SIGMOID = ("  activation_gain: 4\n", "  activation_gain: 4\n  output: sigmoid\n")


def _batch(n=5):
    data = load_dataset("digits")
    return data.x_train[:n], data.y_train[:n]


def _forward(d, state=None):
    setup = make_setup(d.graph, d.libraries)
    state = state if state is not None else init_state(setup, 0)
    xb, yb = _batch()
    return setup, state, backprop.forward(setup, state, xb, yb, Meter(d.graph, 1))


def test_sigmoid_output_by_hand_at_zero_output(fp_toy):
    """With the output layer's weights and bias at zero every output is sigma(0) = 1/2: the
    labelled one's delta is -2 (1/2)(1/2)(1 - 1/2) = -1/4, the others' -2 (1/2)(1/2)(0 - 1/2) = 1/4,
    and each sample's squared error 1/4 + 9 x 1/4 = 5/2."""
    d = _design(fp_toy, SOFTWARE, SIGMOID)
    setup = make_setup(d.graph, d.libraries)
    state = init_state(setup, 0)
    state.layers[-1].w[:] = 0.0
    state.layers[-1].b[:] = 0.0
    _, _, (_, _, delta, loss, _, _) = _forward(d, state)
    _, yb = _batch()
    want = np.full((len(yb), 10), 0.25)
    want[np.arange(len(yb)), yb] = -0.25
    np.testing.assert_array_equal(delta, want)
    assert loss == 2.5 * len(yb)


def test_sigmoid_output_delta_is_the_squared_errors_gradient(fp_toy):
    """The delta is dL/dv of the summed squared error, v the output pre-activation: checked by
    central finite differences on the output bias (v = x W + b, so dL/db_j = sum over samples)."""
    d = _design(fp_toy, SOFTWARE, SIGMOID)
    setup, state, (_, _, delta, _, _, _) = _forward(d)
    b = state.layers[-1].b
    h = 1e-6
    for j in range(b.size):
        losses = []
        for step in (h, -h):
            b[j] += step
            losses.append(_forward(d, state)[2][3])
            b[j] -= step
        fd = (losses[0] - losses[1]) / (2 * h)
        assert fd == pytest.approx(delta[:, j].sum(), rel=1e-6, abs=1e-9), j


def test_softmax_stays_the_default(fp_toy):
    d = _design(fp_toy, SOFTWARE)
    assert d.graph.spec.algorithm.output == "softmax"
    _, _, (_, _, delta, _, _, _) = _forward(d)
    np.testing.assert_allclose(delta.sum(axis=1), 0.0, atol=1e-12)  # p - onehot sums to 0


def test_a_layers_learning_rate_changes_only_its_layer(fp_toy):
    """Float weights: doubling L2's rate doubles L2's change exactly and leaves L1's bit for bit
    (L1's error goes down through the pre-update L2 weights)."""
    changes = []
    for edit in (
        (),
        (
            (
                "  activation_gain: 4\n",
                "  activation_gain: 4\n  per_layer: {L2: {learning_rate: 0.2}}\n",
            ),
        ),
    ):
        d = _design(fp_toy, SOFTWARE, *edit)
        setup = make_setup(d.graph, d.libraries)
        state = init_state(setup, 0)
        before = [ls.w.copy() for ls in state.layers]
        xb, yb = _batch()
        train_batch(setup, state, xb, yb, Meter(d.graph, len(yb)))
        changes.append([ls.w - w0 for ls, w0 in zip(state.layers, before, strict=True)])
    (l1, l2), (l1_fast, l2_fast) = changes
    np.testing.assert_array_equal(l1_fast, l1)
    assert np.any(l2 != 0)
    np.testing.assert_allclose(l2_fast, 2 * l2, rtol=1e-12, atol=1e-15)


def test_gradient_input_activation_takes_the_sigmoid_before_the_row_drivers(fp_toy):
    """Behind on/off row drivers L2's crossbar sees 0/1; with gradient_input: activation its
    gradient takes the sigmoid's output itself (MLP+NeuroSim: s2 x a1, not da1)."""
    rows = ("  input_driver: {kind: dac, bits: 8}\n", "  input_driver: {kind: row_driver}\n")
    driven = _forward(_design(fp_toy, rows))[2][0]
    analog = _forward(
        _design(
            fp_toy,
            rows,
            ("  activation_gain: 4\n", "  activation_gain: 4\n  gradient_input: activation\n"),
        )
    )[2][0]
    assert set(np.unique(driven[1])) <= {0.0, 1.0}
    assert np.any((analog[1] > 0) & (analog[1] < 1))
    np.testing.assert_array_equal(analog[0], driven[0])  # the chip's own input: as driven
    np.testing.assert_array_equal(analog[1] >= 0.5, driven[1] == 1.0)


@pytest.mark.parametrize(
    "edit, message",
    [
        ("  output: sigmoid\n", "algorithm.output: rule binary_stochastic samples"),
        ("  gradient_input: activation\n", "algorithm.gradient_input: rule binary_stochastic"),
        ("  per_layer: {L9: {learning_rate: 0.1}}\n", "algorithm.per_layer: no layer 'L9'"),
    ],
)
def test_options_that_do_not_apply_are_refused(bsl_toy, edit, message):
    text = bsl_toy.read_text().replace("  learning_rate:", edit + "  learning_rate:", 1)
    with pytest.raises(SpecError, match=message):
        parse_architecture(text, "x.yaml")
