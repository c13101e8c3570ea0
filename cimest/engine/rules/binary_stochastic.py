"""Binary stochastic learning (Li et al., arXiv:2304.12866): reference/algorithms.md section 1.

Room: engine. Signals are sampled to {0, 1} by comparators against random references, errors are
sign-binarised, the integer gradient x^T delta is accumulated per weight, and a device gets one
pulse when its accumulator crosses +-theta (or float / integer weights for the software checks).
Backward runs top-down, interleaved with the updates: the error passed to layer l-1 uses layer l's
weights before layer l is updated.
"""

from __future__ import annotations

import numpy as np

from cimest.engine import kernels
from cimest.engine.peripherals import accumulate_steps
from cimest.engine.rules.common import (
    Meter,
    Setup,
    after_update,
    backward_weights,
    bias_step,
    error_at_input,
    error_at_output,
    layer_output,
    layer_rows,
    mvm,
    onehot,
    output_probabilities,
    program,
    read_weights,
    sigmoid,
    single_pulses,
)
from cimest.engine.state import EngineState, LayerState
from cimest.graph.shapes import LayerMap

SMALL_BATCH = 8
"""Up to this batch the gradient is accumulated by a compiled loop; above, BLAS forms it faster."""


def forward(setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter):
    """Sampled forward pass. Returns (crossbar input rows of every layer, sampled derivatives of
    the hidden layers, the output error delta in {-1, 0, 1}, the summed loss, the read weights,
    the max-pool routing of every hidden layer).

    A convolution (algorithms.md 1b): the sigmoid of every position, then its pooling of the
    analog outputs, and the pooled value sampled (sample-of-max); the derivative is sampled at
    every position before pooling."""
    layers = setup.graph.layers
    a = setup.gain
    s = state.samplers
    W = read_weights(setup, state)
    h = s["input"].exceeds(xb, np.float32)
    xs, ds, routes = [], [], []
    for i, lm in enumerate(layers[:-1]):
        x = layer_rows(lm, h)
        xs.append(x)
        meter.inputs(lm.name, x)
        z = sigmoid(a * mvm(state, i, x, W[i]))
        zp, route = layer_output(lm, z)  # a convolution's pooled maps (batch, P', Q', K)
        h = s[f"z{i + 1}"].exceeds(zp.reshape(zp.shape[0], -1), np.float32).reshape(zp.shape)
        d = a * z * (1.0 - z)
        ds.append(s[f"d{i + 1}"].exceeds(d, np.int8))
        routes.append(route)
    x = layer_rows(layers[-1], h)
    xs.append(x)
    p, loss = output_probabilities(setup, state, x, W[-1], yb, meter)
    zs = s["out"].exceeds(p, np.int8)
    delta = (zs - onehot(yb, p.shape[1], np.int8)).astype(np.int8)
    return xs, ds, delta, loss, W, routes


def update(
    setup: Setup,
    layer: LayerState,
    lm: LayerMap,
    x: np.ndarray,
    delta: np.ndarray,
    rng: np.random.Generator,
    meter: Meter,
) -> np.ndarray | None:
    """Integer gradient G = x^T delta, then the float, integer or memristor update (section 1).
    ``x`` and ``delta`` hold one row per use: a convolution's gradient is summed over its output
    positions and the batch.

    Returns the flat indices of the only devices changed (single pulses on reference-column
    layers), or None when the update may have changed any weight."""
    L = lm.name
    rows = x.shape[0]  # batch x uses
    acc = layer.acc
    if (
        setup.variant != "float"
        and rows <= SMALL_BATCH
        and acc.dtype == np.int32
        and acc.flags.c_contiguous
        and 1 <= setup.acc_bits <= 30
        and setup.theta >= 1
    ):
        # small batches: the gradient added to the accumulator in one compiled pass, never
        # formed (integer sums: the same in any order; the numpy path below is the reference)
        lo, hi = -(1 << (setup.acc_bits - 1)), (1 << (setup.acc_bits - 1)) - 1
        idx, dw, terms = kernels.binary_accumulate(x, delta, acc.reshape(-1), lo, hi, setup.theta)
        meter.gradient(L, terms)
        meter.update(L)
        return _apply_steps(setup, layer, idx, dw, rng, meter, L)
    # Why float32: numpy's integer matmul bypasses BLAS and is ~50x slower; sums of B terms in
    # {-1, 0, 1} are exact in float32 up to 2^24, above any batch size cimest allows (10^6), so
    # every partial sum is an exact integer and the cast to int32 exact too. A convolution sums
    # batch x positions terms: float64 (exact to 2^53) where they could pass 2^24.
    exact = np.float32 if x.shape[0] < 1 << 24 else np.float64
    grad = (x.T.astype(exact, copy=False) @ delta.astype(exact)).astype(np.int32)
    nz_x = np.count_nonzero(x, axis=1).astype(np.int64)
    nz_d = np.count_nonzero(delta, axis=1).astype(np.int64)
    meter.gradient(L, int(nz_x @ nz_d))
    meter.update(L)
    B = rows // lm.uses_per_sample
    if setup.variant == "float":
        layer.w -= setup.eta_of(L) * grad / B
        bias_step(layer, delta, setup.eta_of(L), B)
        return None
    # acc changes in place; only the weights whose accumulator crossed +-theta come back
    idx, dw = accumulate_steps(
        layer.acc, grad, setup.acc_bits, setup.theta, delta_bound=rows
    )  # |x^T delta| <= the rows summed
    return _apply_steps(setup, layer, idx, dw, rng, meter, L)


def _apply_steps(
    setup: Setup,
    layer: LayerState,
    idx: np.ndarray,
    dw: np.ndarray,
    rng: np.random.Generator,
    meter: Meter,
    L: str,
) -> np.ndarray | None:
    """The integer or memristor update of the steps ``dw`` at flat indices ``idx``."""
    if setup.variant == "integer":
        top = (1 << (setup.spec.algorithm.integer_bits - 1)) - 1
        w = np.ascontiguousarray(layer.w_int)
        flat = w.reshape(-1)
        flat[idx] = np.clip(flat[idx] + dw, -top - 1, top)
        layer.w_int = w
        return None
    if layer.g_minus is None:
        single_pulses(setup, layer, idx, np.sign(dw), rng, meter, L)
        return idx
    n = np.zeros(layer.acc.shape, dtype=np.int64)
    n.reshape(-1)[idx] = np.sign(dw)
    program(setup, layer, n, rng, meter, L)
    return None


def train_batch(
    setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter
) -> float:
    """One BSL step on a batch: sampled forward, sign-binarised errors through W^T, updates.
    Below a convolution the sign is taken at its pooled output, then routed through the pooling
    and multiplied by the sampled derivative (algorithms.md 1b)."""
    layers = setup.graph.layers
    xs, ds, delta, loss, W, routes = forward(setup, state, xb, yb, meter)
    deltas: list[np.ndarray] = [None] * len(layers)  # type: ignore[list-item]
    deltas[-1] = delta
    for i in range(len(layers) - 1, -1, -1):
        lm = layers[i]
        d_i = deltas[i]
        meter.errors(lm.name, d_i)
        if i > 0:
            Wb = backward_weights(setup, state.layers[i], W[i])
            back = error_at_input(lm, d_i.astype(Wb.dtype) @ Wb.T)
            e = np.sign(back).astype(np.int8)  # sign(0) = 0
            e = error_at_output(layers[i - 1], e, routes[i - 1], binary=True)
            deltas[i - 1] = (e * ds[i - 1]).astype(np.int8)
        changed = update(setup, state.layers[i], lm, xs[i], d_i, state.device_rng, meter)
        after_update(setup, state, i, lm.name, changed)
    return loss
