"""Full-precision in-situ backprop (reference/algorithms.md section 3).

Room: engine. DAC inputs, ADC read-outs, digital sigmoid and derivative, errors through W^T on the
same arrays (or a digital backward pass), a digital outer-product gradient, and pulse trains of
the quantized weight change:

    r += -eta * G / B * n_steps   (n_steps: the device's pulses across its range, so one pulse is
                                   one nominal step of 1/n_steps in weight units)
    n = fix(r) capped at max_pulses;  r -= n

The gradient memory keeps the remainder r for the next batch, as in the binary rule; a chip
without one (online SGD, no gradient_accumulator) rounds each change at half a pulse,
n = sign(q) floor(|q| + 1/2) with q = -eta * G * n_steps, and loses the rest. The
functions here are shared by the other full-precision rules (software, DFA, pulse coincidence).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimest.engine import kernels
from cimest.engine.peripherals import adc_values, dac_values
from cimest.engine.rules.common import (
    BACKWARD_RANGE,
    FORWARD_RANGE,
    Meter,
    Setup,
    after_update,
    backward_weights,
    bias_step,
    check_finite,
    drive_levels,
    error_at_input,
    error_at_output,
    layer_output,
    layer_rows,
    mvm,
    onehot,
    output_probabilities,
    output_sigmoid,
    program,
    program_at,
    read_weights,
    sigmoid,
)
from cimest.engine.state import EngineState, LayerState
from cimest.graph.shapes import LayerMap


def forward(setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter):
    """Analog forward pass through DACs and ADCs. Returns (the gradient's input rows of every
    layer: the crossbar's, or with gradient_input: activation a hidden layer's sigmoid outputs,
    activation derivatives of the hidden layers at their output rows, output error (p - onehot,
    or the sigmoid/squared-error delta with output: sigmoid), summed loss, weights, the max-pool
    routing of every hidden layer). A convolution's outputs
    are digitised and activated at every position, then pooled before the next layer's DACs."""
    g = setup.graph
    layers = g.layers
    a = setup.gain
    W = read_weights(setup, state)
    h = xb.astype(np.float64)
    if not setup.ideal:
        first = g.plan(layers[0].name).per.input_driver
        h = drive_levels(first, h, setup.spec.workload.input_bits)
    xs, dz, routes = [], [], []
    # Why: the digital gradient may take a hidden layer's activations before the next layer's
    # drivers quantise them (algorithm.gradient_input: activation, MLP+NeuroSim's a1)
    analog_grad = setup.spec.algorithm.gradient_input == "activation"
    z = None
    for i, lm in enumerate(layers[:-1]):
        x = layer_rows(lm, h)
        xs.append(x if z is None or not analog_grad else layer_rows(lm, z))
        meter.inputs(lm.name, x)
        y = mvm(state, i, x, W[i])
        check_finite(y, "pre-activation", state.epoch, lm.name)
        if not setup.ideal:
            r = FORWARD_RANGE / a
            y = adc_values(y, g.plan(lm.name).readout_spec.bits, -r, r)
        z = sigmoid(a * y)
        dz.append(a * z * (1.0 - z))
        z, route = layer_output(lm, z)
        routes.append(route)
        h = z
        nxt = g.plan(layers[i + 1].name).per.input_driver
        if not setup.ideal:
            h = drive_levels(nxt, z, getattr(nxt, "bits", 1))
    x = layer_rows(layers[-1], h)
    xs.append(x if z is None or not analog_grad else layer_rows(layers[-1], z))
    if setup.spec.algorithm.output == "sigmoid":
        _, delta, loss = output_sigmoid(setup, state, x, W[-1], yb, meter)
        return xs, dz, delta, loss, W, routes
    p, loss = output_probabilities(setup, state, x, W[-1], yb, meter)
    return xs, dz, p - onehot(yb, p.shape[1], p.dtype), loss, W, routes


def error_path(setup: Setup) -> tuple[Callable, Callable]:
    """(drive, read) of the error MVMs: drive(d) gives the errors as the column drivers apply them
    and the power-of-two scale taken out first; read(v, scale) the error read-out of the result."""
    per = setup.spec.peripherals
    analog = not setup.ideal and per.backward is None
    err_dac = analog and per.error_input.kind == "dac"
    adc = analog and per.error_readout.kind == "adc"

    def drive(d: np.ndarray) -> tuple[np.ndarray, float]:
        if not analog:
            return d, 1.0
        if not err_dac:
            return np.sign(d), 1.0
        peak = float(np.max(np.abs(d), initial=0.0))
        scale = 2.0 ** np.ceil(np.log2(peak)) if peak > 0 else 1.0
        return dac_values(d / scale, per.error_input.bits, -1.0, 1.0), scale

    def read(v: np.ndarray, scale: float) -> np.ndarray:
        if not adc:
            return v * scale
        return adc_values(v, per.error_readout.bits, -BACKWARD_RANGE, BACKWARD_RANGE) * scale

    return drive, read


def update(
    setup: Setup,
    layer: LayerState,
    lm: LayerMap,
    x: np.ndarray,
    delta: np.ndarray,
    rng: np.random.Generator,
    meter: Meter,
) -> np.ndarray | None:
    """Digital outer-product gradient, then float SGD or pulse trains of quantized length. ``x``
    and ``delta`` hold one row per use: a convolution's gradient sums its positions.

    Returns the flat indices of the only devices changed (reference_column layers), or None when
    the update may have changed any weight."""
    meter.update(lm.name)
    eta = setup.eta_of(lm.name)
    rows = x.shape[0]  # batch x uses
    B = rows // lm.uses_per_sample
    # the digital outer product forms every term, at every use
    meter.gradient(lm.name, rows * lm.n_weights)
    if setup.variant == "float":
        layer.w += -eta * (x.T @ delta / B)
        bias_step(layer, delta, eta, B)
        return None
    upd = setup.spec.peripherals.update
    cap = upd.max_pulses if upd.kind == "pulse_train" else 1
    if setup.spec.peripherals.gradient_accumulator is None:
        # Why: online SGD without a gradient memory has nowhere to keep a remainder; each update's
        # change is rounded to whole pulses at half a pulse and the rest is lost, as MLP+NeuroSim
        # V3.0 programs (Cell.cpp RealDevice::Write: truncate(dW, levels), threshold 0.5).
        q = -eta * (x.T @ delta / B) * setup.device.n_steps
        n = np.clip(np.sign(q) * np.floor(np.abs(q) + 0.5), -cap, cap).astype(np.int64)
        if layer.g_minus is None:
            flat = n.reshape(-1)
            idx = np.flatnonzero(flat)
            program_at(setup, layer, idx, flat[idx], rng, meter, lm.name)
            return idx
        program(setup, layer, n, rng, meter, lm.name)
        return None
    # The accumulator keeps what a whole pulse cannot express yet (remainder carried, as in BSL):
    # r += dw x n_steps; n = clip(trunc(r), -cap, cap); r -= n, in one compiled pass
    # (residual_pulses_reference is the same in numpy)
    layer.residual = np.ascontiguousarray(layer.residual, dtype=np.float64)
    flat = layer.residual.reshape(-1)
    if rows == 1 and x.dtype == np.float64 and delta.dtype == np.float64:
        # one sample: the outer product formed in the same pass (each term one product, as
        # BLAS forms it)
        idx, n = kernels.residual_pulses_outer(
            flat, x[0], delta[0], -eta, setup.device.n_steps, cap
        )
    else:
        grad = np.ascontiguousarray(x.T @ delta, dtype=np.float64).reshape(-1)
        idx, n = kernels.residual_pulses(flat, grad, -eta, B, setup.device.n_steps, cap)
    if layer.g_minus is None:
        program_at(setup, layer, idx, n, rng, meter, lm.name)
        return idx
    dense = np.zeros(layer.residual.shape, dtype=np.int64)
    dense.reshape(-1)[idx] = n
    program(setup, layer, dense, rng, meter, lm.name)
    return None


def residual_pulses_reference(
    residual: np.ndarray, dw: np.ndarray, n_steps: int, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient memory's step in numpy: (new residual, pulse counts n) for the weight change
    ``dw``: the reference kernels.residual_pulses is tested against."""
    residual = residual + dw * n_steps
    n = np.clip(np.trunc(residual), -cap, cap).astype(np.int64)
    residual -= n
    return residual, n


def backward_transpose(
    setup: Setup,
    state: EngineState,
    W: list[np.ndarray],
    delta: np.ndarray,
    dz: list[np.ndarray],
    meter: Meter,
    update_layer: Callable[[int, np.ndarray], None],
    routes: list | None = None,
) -> None:
    """Errors top-down through W^T, each layer updated right after its error went down (with the
    pre-update weights, as the reference does). A convolution's per-position read-outs are summed
    onto its input (col2im); below it, the error is routed through the pooling of the layer
    before."""
    layers = setup.graph.layers
    drive, read = error_path(setup)
    deltas: list[np.ndarray] = [None] * len(layers)  # type: ignore[list-item]
    deltas[-1] = delta
    routes = routes or [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        lm = layers[i]
        if i > 0:
            dq, scale = drive(deltas[i])
            meter.errors(lm.name, dq)
            back = error_at_input(
                lm, read(dq @ backward_weights(setup, state.layers[i], W[i]).T, scale)
            )
            deltas[i - 1] = error_at_output(layers[i - 1], back, routes[i - 1]) * dz[i - 1]
        else:
            meter.errors(lm.name, deltas[i])
        update_layer(i, deltas[i])


def train_batch(
    setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter
) -> float:
    """One backprop step on a batch."""
    xs, dz, delta, loss, W, routes = forward(setup, state, xb, yb, meter)
    layers = setup.graph.layers

    def update_layer(i: int, d: np.ndarray) -> None:
        changed = update(setup, state.layers[i], layers[i], xs[i], d, state.device_rng, meter)
        after_update(setup, state, i, layers[i].name, changed)

    backward_transpose(setup, state, W, delta, dz, meter, update_layer, routes)
    return loss
