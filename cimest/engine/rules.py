"""The learning rules, one training step on one batch, with exact event counting.

Room: engine (imports spec, graph, devices, numpy). Arithmetic: reference/algorithms.md.
Counting follows the rules in cimest/graph/analytic.py, with measured numbers in place of the
activity factors; the per-batch functions below say which event comes from which array.

Conventions the engine adds (documented in the README):
- Hidden pre-activations of full-precision designs are digitised by the read-out ADC over
  +-FORWARD_RANGE / activation_gain, errors by the error ADC over +-BACKWARD_RANGE, the output layer
  by the output ADC over +-OUTPUT_RANGE; DAC inputs over [0, 1] (activations) and [-1, 1] (errors).
- Errors are normalised before the error DAC by a power-of-two scale (the smallest 2^k >= the
  batch's largest |delta|, a digital shift) and the read-out is multiplied back by it, so small
  errors deep in the network are not all quantized to zero.
- Pulse trains: r += -eta * G / B * n_steps (n_steps = max(N_p, N_d) of the cell, so one pulse is
  one nominal step of 1/N in weight units); n = fix(r) pulses capped at max_pulses, r -= n: the
  gradient accumulator carries the remainder to the next batch, as in the binary rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimest.counts import EventCounts
from cimest.devices.pulse import (
    PulseModel,
    apply_pulses,
    depress,
    potentiate,
    pulse_at,
    refresh_pairs,
    weights_differential,
    weights_reference,
)
from cimest.engine.peripherals import accumulate_steps, adc_quantize, dac_levels
from cimest.engine.state import EngineState, LayerState
from cimest.errors import TrainingError
from cimest.graph.compile import ComponentGraph, LayerMap

FORWARD_RANGE = 8.0
BACKWARD_RANGE = 2.0
OUTPUT_RANGE = 8.0


@dataclass(frozen=True)
class Setup:
    """What a step needs besides the state: fixed for the whole run."""

    graph: ComponentGraph
    model: PulseModel | None
    rule: str
    variant: str  # memristor | float | integer (binary rules); memristor | float (others)
    gain: float
    eta: float
    theta: int
    acc_bits: int
    batch_size: int

    @property
    def spec(self):
        return self.graph.spec

    @property
    def binary(self) -> bool:
        return self.graph.binary

    @property
    def differential(self) -> bool:
        return self.spec.crossbar.weight_encoding != "reference_column"


# --- weights -----------------------------------------------------------------------------------


def effective_weights(setup: Setup, layer: LayerState) -> np.ndarray:
    """The weights the crossbar presents: from conductances, or the stored floats/integers.

    Conductance and integer weights are read as float32 (why: the MVM of a crossbar is analog;
    float32's 1e-7 relative error is far below any device's read noise, and it halves the time of
    the engine's largest cost, the MVMs). Float variants keep their float64 weights.
    """
    if layer.g is not None:
        m = setup.model
        if layer.g_minus is not None:
            return weights_differential(layer.g, layer.g_minus, m).astype(np.float32)
        return weights_reference(layer.g, 0.5 * (m.g_min_s + m.g_max_s), m).astype(np.float32)
    if layer.w_int is not None:
        scale = 0.5 / (1 << (setup.spec.algorithm.integer_bits - 1))
        return (layer.w_int.astype(np.float64) * scale).astype(np.float32)
    return layer.w


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _mvm(state: EngineState, i: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pre-activation of layer ``i``: the crossbar's x @ W (in W's precision), plus the bias of
    float variants."""
    y = x.astype(w.dtype, copy=False) @ w
    b = state.layers[i].b
    return y if b is None else y + b


def softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _check_finite(arr: np.ndarray, what: str, epoch: int, layer: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise TrainingError(f"epoch {epoch + 1}, layer {layer}: {what} became NaN or infinite; "
                            "lower the learning rate or check the cell parameters")


# --- counting helpers ---------------------------------------------------------------------------


class Tally:
    """Adds events of one batch to an EventCounts with the graph's (layer, role) names."""

    def __init__(self, counts: EventCounts, graph: ComponentGraph):
        self.c = counts
        self.g = graph
        self.programmed: dict[str, int] = {}
        """Devices that received at least one programming pulse, per layer (for the mean train
        length, pulses_per_update, of the measured activity)."""

    def program(self, layer: str, devices: int) -> None:
        self.programmed[layer] = self.programmed.get(layer, 0) + int(devices)

    def add(self, layer: str, phase: str, role: str, action: str, n) -> None:
        self.c.add(layer, phase, role, action, int(n))

    def has(self, layer: str, role: str) -> bool:
        return (layer, role) in self.g.components

    def bits(self, layer: str, role: str) -> int:
        return self.g.components[(layer, role)].bits or 1

    def adc(self, L: str, phase: str, prefix: str, lines: int, tiles_summed: int) -> None:
        role = f"{prefix}readout" if prefix else "readout"
        self.add(L, phase, role, "convert", lines * tiles_summed)
        mux = f"{prefix}mux" if prefix else "readout_mux"
        if self.has(L, mux):
            self.add(L, phase, mux, "switch", lines * tiles_summed)
        adder = f"{prefix}partial_sum_adder"
        if self.has(L, adder):
            self.add(L, phase, adder, "op", lines * (tiles_summed - 1))


def _forward_counts(t: Tally, lm: LayerMap, x: np.ndarray) -> None:
    """Input drive (DAC conversions of every row, or row drives of the driven rows, per bit cycle)
    and cell reads of a forward MVM on input batch ``x``."""
    L = lm.name
    driven = int(np.count_nonzero(x))
    drv = t.g.components[(L, "input_driver")]
    if drv.kind == "dac":
        t.add(L, "forward", "input_driver", "convert", x.shape[0] * lm.n_in * lm.col_tiles * lm.rows_per_input)
    else:
        t.add(L, "forward", "input_driver", "drive", driven * lm.col_tiles * drv.cycles * lm.rows_per_input)
    t.add(L, "forward", "cell", "read", driven * lm.cols_read_per_row * drv.cycles)
    if t.has(L, "shift_add"):
        t.add(L, "forward", "shift_add", "op", x.shape[0] * lm.n_out * lm.row_tiles * drv.cycles)


def _error_counts(t: Tally, L: str, prefix: str, drive: np.ndarray, drive_repeat: int,
                  cells_per_line: int, n_read: int, tiles_summed: int, dac: bool) -> None:
    """Drive, cell reads and read-out of an error MVM (backward through W, or DFA feedback)."""
    batch = drive.shape[0]
    nz = int(np.count_nonzero(drive))
    if dac:
        t.add(L, "backward", f"{prefix}input", "convert", drive.size * drive_repeat)
    else:
        t.add(L, "backward", f"{prefix}input", "drive", nz * drive_repeat)
    t.add(L, "backward", "feedback_cell" if prefix == "feedback_" else "cell", "read", nz * cells_per_line)
    ro = t.g.components[(L, f"{prefix}readout")]
    if ro.kind == "comparator":
        t.add(L, "backward", f"{prefix}readout", "compare", batch * n_read)
    else:
        t.adc(L, "backward", prefix, batch * n_read, tiles_summed)
        if t.has(L, f"{prefix}scale"):
            t.add(L, "backward", f"{prefix}scale", "op", batch * n_read)


# --- updates --------------------------------------------------------------------------------------


def _program(setup: Setup, layer: LayerState, n: np.ndarray, rng: np.random.Generator,
             t: Tally, L: str) -> None:
    """Apply signed pulse counts ``n`` (per weight) to the layer's devices and count them.

    reference_column: n > 0 potentiates (SET) the weight's device, n < 0 depresses (RESET) it.
    differential_pair: pot_dep devices: n > 0 SETs G+ and RESETs G-, n < 0 the reverse (one pulse
    on each device per step); pot_only: n > 0 SETs G+, n < 0 SETs G-; dep_only: n > 0 RESETs G-,
    n < 0 RESETs G+; one-direction pairs are reset and reprogrammed when they run out of room
    (cimest.devices.pulse.refresh_pairs), and those pulses are counted too.
    """
    m = setup.model
    n = n.astype(np.int64)
    n_set = n_reset = 0
    single = int(np.abs(n).max(initial=0)) <= 1
    if layer.g_minus is None:
        if single:
            layer.g = potentiate(m, layer.g, n > 0, rng, layer.d2d)
            layer.g = depress(m, layer.g, n < 0, rng, layer.d2d)
        else:
            layer.g = apply_pulses(m, layer.g, n, rng, layer.d2d)
        n_set, n_reset = int(n[n > 0].sum()), int(-n[n < 0].sum())
        layer.pulses += np.abs(n).astype(layer.pulses.dtype)
        programmed = np.count_nonzero(n)
    else:
        kind = m.kind
        if kind == "pot_dep":
            plus, minus = n, -n
        elif kind == "pot_only":
            plus, minus = np.maximum(n, 0), np.maximum(-n, 0)
        else:
            plus, minus = np.minimum(n, 0), np.minimum(-n, 0)
        layer.g = apply_pulses(m, layer.g, plus, rng, layer.d2d)
        layer.g_minus = apply_pulses(m, layer.g_minus, minus, rng, layer.d2d_minus)
        for arr in (plus, minus):
            n_set += int(arr[arr > 0].sum())
            n_reset += int(-arr[arr < 0].sum())
        layer.pulses[0] += np.abs(plus).astype(layer.pulses.dtype)
        layer.pulses[1] += np.abs(minus).astype(layer.pulses.dtype)
        programmed = np.count_nonzero(plus) + np.count_nonzero(minus)
        if kind != "pot_dep":
            r = refresh_pairs(m, layer.g, layer.g_minus, rng, layer.d2d, layer.d2d_minus)
            layer.g, layer.g_minus = r.g_plus, r.g_minus
            n_set += r.n_set
            n_reset += r.n_reset
            if r.n_set or r.n_reset:
                # a refreshed pair: one pulse to the bound on each device, then reprogramming
                per = np.where(r.refreshed, 1, 0).astype(layer.pulses.dtype)
                layer.pulses[0] += per
                layer.pulses[1] += per
    t.add(L, "update", "write_driver", "pulse", n_set + n_reset)
    t.add(L, "update", "cell", "set_pulse", n_set)
    t.add(L, "update", "cell", "reset_pulse", n_reset)
    t.program(L, programmed)


def _update_binary(setup: Setup, layer: LayerState, lm: LayerMap, x: np.ndarray, delta: np.ndarray,
                   rng: np.random.Generator, t: Tally) -> np.ndarray | None:
    """Integer gradient G = x^T delta, then the float, integer or memristor update (section 1).

    Returns the flat indices of the only devices changed (single pulses on reference-column
    layers), or None when the update may have changed any weight."""
    L = lm.name
    # Why float32: numpy's integer matmul bypasses BLAS and is ~50x slower; sums of B terms in
    # {-1, 0, 1} are exact in float32 up to 2^24, above any batch size cimest allows (10^6), so
    # every partial sum is an exact integer and the cast to int32 exact too.
    grad = (x.T.astype(np.float32, copy=False) @ delta.astype(np.float32)).astype(np.int32)
    nz_x = np.count_nonzero(x, axis=1).astype(np.int64)
    nz_d = np.count_nonzero(delta, axis=1).astype(np.int64)
    ops = int(nz_x @ nz_d)
    bits = setup.acc_bits
    t.add(L, "update", "gradient_adder", "op", ops)
    t.add(L, "update", "gradient_accumulator", "read_bit", ops * bits + lm.n_weights * bits)
    t.add(L, "update", "gradient_accumulator", "write_bit", ops * bits)
    B = x.shape[0]
    if setup.variant == "float":
        layer.w -= setup.eta * grad / B
        layer.b -= setup.eta * delta.sum(axis=0) / B
        _zero_pulses(t, L)
        return None
    # acc changes in place; only the weights whose accumulator crossed +-theta come back
    idx, dw = accumulate_steps(layer.acc, grad, bits, setup.theta, delta_bound=B)  # |x^T delta| <= B
    if setup.variant == "integer":
        top = (1 << (setup.spec.algorithm.integer_bits - 1)) - 1
        w = np.ascontiguousarray(layer.w_int)
        flat = w.reshape(-1)
        flat[idx] = np.clip(flat[idx] + dw, -top - 1, top)
        layer.w_int = w
        _zero_pulses(t, L)
        return None
    if layer.g_minus is None:
        _single_pulses(setup, layer, idx, np.sign(dw), rng, t, L)
        return idx
    n = np.zeros(layer.acc.shape, dtype=np.int64)
    n.reshape(-1)[idx] = np.sign(dw)
    _program(setup, layer, n, rng, t, L)
    return None


def _single_pulses(setup: Setup, layer: LayerState, idx: np.ndarray, sign: np.ndarray,
                   rng: np.random.Generator, t: Tally, L: str) -> None:
    """One SET (sign > 0) or RESET (sign < 0) pulse on the single devices at flat indices ``idx``:
    _program's single-pulse branch for reference_column layers, touching only those devices (the
    same draws in the same order, so the same conductances)."""
    m = setup.model
    layer.g = np.ascontiguousarray(layer.g, dtype=np.float64)
    pot, dep = idx[sign > 0], idx[sign < 0]
    pulse_at(m, layer.g, pot, rng, layer.d2d, "pot")
    pulse_at(m, layer.g, dep, rng, layer.d2d, "dep")
    layer.pulses = np.ascontiguousarray(layer.pulses)
    layer.pulses.reshape(-1)[idx] += 1
    t.add(L, "update", "write_driver", "pulse", idx.size)
    t.add(L, "update", "cell", "set_pulse", pot.size)
    t.add(L, "update", "cell", "reset_pulse", dep.size)
    t.program(L, idx.size)


def _zero_pulses(t: Tally, L: str) -> None:
    for role, action in (("write_driver", "pulse"), ("cell", "set_pulse"), ("cell", "reset_pulse")):
        t.add(L, "update", role, action, 0)


def _update_full(setup: Setup, layer: LayerState, lm: LayerMap, x: np.ndarray, delta: np.ndarray,
                 rng: np.random.Generator, t: Tally) -> None:
    """Digital outer-product gradient, then float SGD or pulse trains of quantized length."""
    L = lm.name
    B = x.shape[0]
    bits = setup.acc_bits
    n_ops = B * lm.n_weights
    t.add(L, "update", "gradient_multiplier", "op", n_ops)
    t.add(L, "update", "gradient_adder", "op", n_ops)
    t.add(L, "update", "gradient_accumulator", "read_bit", n_ops * bits)
    t.add(L, "update", "gradient_accumulator", "write_bit", n_ops * bits)
    grad = x.T @ delta / B
    dw = -setup.eta * grad
    if setup.variant == "float":
        layer.w += dw
        layer.b -= setup.eta * delta.sum(axis=0) / B
        _zero_pulses(t, L)
        return
    m = setup.model
    n_steps = max(m.n_p, m.n_d)
    upd = setup.spec.peripherals.update
    cap = upd.max_pulses if upd.kind == "pulse_train" else 1
    # The accumulator keeps what a whole pulse cannot express yet (remainder carried, as in BSL).
    layer.residual = layer.residual + dw * n_steps
    n = np.clip(np.trunc(layer.residual), -cap, cap).astype(np.int64)
    layer.residual -= n
    _program(setup, layer, n, rng, t, L)


# --- one batch ----------------------------------------------------------------------------------


def train_batch(setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, t: Tally) -> float:
    """One training step on a batch; mutates ``state``; returns the batch's summed loss."""
    if setup.binary:
        return _batch_binary(setup, state, xb, yb, t)
    return _batch_full(setup, state, xb, yb, t)


def _batch_binary(setup: Setup, state: EngineState, xb, yb, t: Tally) -> float:
    g = setup.graph
    layers = g.layers
    a = setup.gain
    B = xb.shape[0]
    s = state.samplers
    W = _read_weights(setup, state)
    x = (xb > s["input"].uniform(xb.shape)).astype(np.float32)
    t.add("L1", "forward", "input_rng", "bit", xb.size * t.bits("L1", "input_rng"))
    xs, ds = [x], []
    for i, lm in enumerate(layers[:-1]):
        L = lm.name
        _forward_counts(t, lm, x)
        y = _mvm(state, i, x, W[i])
        z = _sigmoid(a * y)
        x = (z > s[f"z{i + 1}"].uniform(z.shape)).astype(np.float32)
        d = a * z * (1.0 - z)
        ds.append((d > s[f"d{i + 1}"].uniform(d.shape)).astype(np.int8))
        n = B * lm.n_out
        t.add(L, "forward", "readout", "compare", n)
        t.add(L, "forward", "readout_rng", "bit", n * t.bits(L, "readout_rng"))
        t.add(L, "forward", "derivative_comparator", "compare", n)
        t.add(L, "forward", "derivative_rng", "bit", n * t.bits(L, "derivative_rng"))
        xs.append(x)
    out = layers[-1]
    p, loss = _output_probabilities(setup, state, x, W[-1], yb, t)
    zs = (p > s["out"].uniform(p.shape)).astype(np.int8)
    t.add(out.name, "backward", "error_rng", "bit", p.size * t.bits(out.name, "error_rng"))
    onehot = np.zeros_like(zs)
    onehot[np.arange(B), yb] = 1
    delta = (zs - onehot).astype(np.int8)
    dfa = setup.rule == "dfa"
    deltas: list[np.ndarray] = [None] * len(layers)  # type: ignore[list-item]
    deltas[-1] = delta
    if dfa:
        for i, lm in enumerate(layers[:-1]):
            fb = state.feedback[i]
            fmap = g.feedback[i]
            _error_counts(t, lm.name, "feedback_", delta, fmap.col_tiles, fmap.cols_read_per_row,
                          fmap.n_out, fmap.row_tiles, dac=False)
            e = np.sign(delta @ fb).astype(np.int8)
            deltas[i] = (e * ds[i]).astype(np.int8)
    for i in range(len(layers) - 1, -1, -1):
        lm = layers[i]
        d_i = deltas[i]
        if not dfa and i > 0:
            _error_counts(t, lm.name, "error_", d_i, lm.row_tiles, lm.cells_read_per_col, lm.n_in,
                          lm.col_tiles, dac=False)
            e = np.sign(d_i.astype(W[i].dtype) @ W[i].T).astype(np.int8)  # sign(0) = 0
            deltas[i - 1] = (e * ds[i - 1]).astype(np.int8)
        changed = _update_binary(setup, state.layers[i], lm, xs[i], d_i, state.device_rng, t)
        _after_update(setup, state, i, lm.name, changed)
    return loss


def _read_weights(setup: Setup, state: EngineState) -> list[np.ndarray]:
    """Every layer's effective weights, from the state's cache; stale layers are recomputed and
    checked (a NaN or infinity from a checkpoint or an update is reported here)."""
    cache = state.read_weights
    if len(cache) != len(state.layers):
        cache[:] = [None] * len(state.layers)
    for i, ls in enumerate(state.layers):
        if cache[i] is None:
            cache[i] = np.ascontiguousarray(effective_weights(setup, ls))
            _check_finite(cache[i], "weights", state.epoch, setup.graph.layers[i].name)
    return list(cache)


def _after_update(setup: Setup, state: EngineState, i: int, name: str, changed: np.ndarray | None) -> None:
    """Check layer ``i``'s updated weights and refresh its cached read weights: only at the flat
    indices ``changed`` when the update says which devices it touched, else in full (None)."""
    ls = state.layers[i]
    if changed is None or not state.read_weights:
        if state.read_weights:
            state.read_weights[i] = None
        _check_finite(ls.g if ls.g is not None else effective_weights(setup, ls), "weights",
                      state.epoch, name)
        if ls.g_minus is not None:
            _check_finite(ls.g_minus, "weights", state.epoch, name)
        return
    m = setup.model
    g_new = ls.g.reshape(-1)[changed]
    _check_finite(g_new, "weights", state.epoch, name)
    # elementwise the same expression as effective_weights, so the cache equals a recomputation;
    # np.put writes into the cache whatever its memory order (a reshape could be a copy)
    np.put(state.read_weights[i], changed, weights_reference(
        g_new, 0.5 * (m.g_min_s + m.g_max_s), m).astype(np.float32))


def _output_probabilities(setup: Setup, state: EngineState, x: np.ndarray, w: np.ndarray,
                          yb: np.ndarray, t: Tally) -> tuple[np.ndarray, float]:
    """The output layer's MVM with its events, its softmax, and the batch's summed cross-entropy
    (of the unsampled softmax, as the reference reports it)."""
    _forward_counts(t, setup.graph.layers[-1], x)
    p = softmax(_output(setup, state, x, w, t))
    loss = float(-np.log(np.maximum(p[np.arange(x.shape[0]), yb], 1e-300)).sum())
    return p, loss


def _output(setup: Setup, state: EngineState, x: np.ndarray, w: np.ndarray, t: Tally) -> np.ndarray:
    """Output layer MVM, ADC and softmax unit events; returns the digitised pre-activation."""
    out = setup.graph.layers[-1]
    y = _mvm(state, -1, x, w)
    B = x.shape[0]
    t.adc(out.name, "forward", "", B * out.n_out, out.row_tiles)
    t.add(out.name, "forward", "activation", "evaluate", B * out.n_out)
    if setup.rule == "software":
        return y
    bits = setup.spec.peripherals.output_readout.bits
    _check_finite(y, "output", state.epoch, out.name)
    return adc_quantize(y, bits, -OUTPUT_RANGE, OUTPUT_RANGE)[1]


def _batch_full(setup: Setup, state: EngineState, xb, yb, t: Tally) -> float:
    g = setup.graph
    layers = g.layers
    spec = setup.spec
    a = setup.gain
    B = xb.shape[0]
    ideal = setup.rule == "software"
    per = spec.peripherals
    W = [effective_weights(setup, ls) for ls in state.layers]
    in_dac = per.input_driver.kind == "dac"
    x = xb.astype(np.float64)
    if not ideal and in_dac:
        x = dac_levels(x, spec.workload.input_bits, 0.0, 1.0)[1]
    xs, dz = [x], []
    for i, lm in enumerate(layers[:-1]):
        L = lm.name
        _forward_counts(t, lm, x)
        y = _mvm(state, i, x, W[i])
        _check_finite(y, "pre-activation", state.epoch, L)
        if not ideal:
            r = FORWARD_RANGE / a
            y = adc_quantize(y, per.readout.bits, -r, r)[1]
        t.adc(L, "forward", "", B * lm.n_out, lm.row_tiles)
        t.add(L, "forward", "activation", "evaluate", B * lm.n_out)
        t.add(L, "forward", "derivative_unit", "op", B * lm.n_out)
        z = _sigmoid(a * y)
        dz.append(a * z * (1.0 - z))
        x = z
        if not ideal and in_dac:
            x = dac_levels(z, per.input_driver.bits, 0.0, 1.0)[1]
        xs.append(x)
    p, loss = _output_probabilities(setup, state, x, W[-1], yb, t)
    onehot = np.zeros_like(p)
    onehot[np.arange(B), yb] = 1.0
    delta = p - onehot
    deltas: list[np.ndarray] = [None] * len(layers)  # type: ignore[list-item]
    deltas[-1] = delta
    err_dac = per.error_input.kind == "dac"
    eb = per.error_input.bits if err_dac else 2

    def drive(d: np.ndarray) -> tuple[np.ndarray, float]:
        """Errors as the column drivers apply them, and the power-of-two scale taken out first."""
        if ideal:
            return d, 1.0
        if not err_dac:
            return np.sign(d), 1.0
        peak = float(np.max(np.abs(d), initial=0.0))
        scale = 2.0 ** np.ceil(np.log2(peak)) if peak > 0 else 1.0
        return dac_levels(d / scale, eb, -1.0, 1.0)[1], scale

    def read(v: np.ndarray, scale: float) -> np.ndarray:
        if ideal or per.error_readout.kind != "adc":
            return v * scale
        return adc_quantize(v, per.error_readout.bits, -BACKWARD_RANGE, BACKWARD_RANGE)[1] * scale

    if setup.rule == "dfa":
        dq, scale = drive(delta)
        for i, lm in enumerate(layers[:-1]):
            fmap = g.feedback[i]
            _error_counts(t, lm.name, "feedback_", dq, fmap.col_tiles, fmap.cols_read_per_row,
                          fmap.n_out, fmap.row_tiles, dac=err_dac)
            deltas[i] = read(dq @ state.feedback[i], scale) * dz[i]
    for i in range(len(layers) - 1, -1, -1):
        lm = layers[i]
        if setup.rule != "dfa" and i > 0:
            dq, scale = drive(deltas[i])
            _error_counts(t, lm.name, "error_", dq, lm.row_tiles, lm.cells_read_per_col, lm.n_in,
                          lm.col_tiles, dac=err_dac)
            deltas[i - 1] = read(dq @ W[i].T, scale) * dz[i - 1]
        _update_full(setup, state.layers[i], lm, xs[i], deltas[i], state.device_rng, t)
        ls = state.layers[i]
        _check_finite(ls.g if ls.g is not None else ls.w, "weights", state.epoch, lm.name)
    return loss


def predict(setup: Setup, state: EngineState, x: np.ndarray) -> np.ndarray:
    """Class predictions in analog inference mode (hidden outputs not sampled; no counting)."""
    a = setup.gain
    W = [effective_weights(setup, ls) for ls in state.layers]
    spec = setup.spec
    ideal = setup.rule == "software"
    h = x.astype(np.float64)
    for i in range(len(W) - 1):
        y = _mvm(state, i, h, W[i])
        if not ideal and not setup.binary:
            r = FORWARD_RANGE / a
            y = adc_quantize(y, spec.peripherals.readout.bits, -r, r)[1]
        h = _sigmoid(a * y)
    y = _mvm(state, -1, h, W[-1])
    return np.argmax(y, axis=1)
