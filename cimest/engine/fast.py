"""A fused one-sample step for all-dense networks: backprop with pulse trains and binary
stochastic learning on reference-column memristor arrays, the designs online learning runs.

Room: engine (numpy, numba; cimest.engine and cimest.devices below it). The general rules
(cimest/engine/rules/) make ~100 numpy calls per sample, most of a batch-1 step's time; here each
stage between the calls that must stay numpy (BLAS products, tanh, exp, log, the device
generator's normals) is one compiled kernel that also counts what the Meter needs. Every kernel
performs the float operations of the general path element by element in the same order (no
fast-math), so a run is bit-identical with and without this module; the general path stays the
reference and tests/engine/test_fast.py holds the two equal on several designs (the fingerprints
of tests/engine/test_bit_identity.py run through here too).

:func:`batch1_step` gives the step where it applies, else None; the step itself falls back to the
general rule for any batch that is not a single sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from cimest.devices.model import LiPulseDevice
from cimest.engine import kernels
from cimest.engine.fast_batch import (
    Programmer,
    _diverged,
    _nan,
    _quantizer,
    backprop_periphery,
    pow2_scale,
)
from cimest.engine.rules import train_batch
from cimest.engine.rules.common import (
    OUTPUT_RANGE,
    Meter,
    Setup,
    backward_weights,
    read_weights,
)
from cimest.engine.state import EngineState

Step = Callable[[Setup, EngineState, np.ndarray, np.ndarray, Meter], float]


# --- kernels ---------------------------------------------------------------------------------------


@njit(cache=True)
def levels_count(x, v_min, lsb, top, out, out32):
    """dac_levels(x)[1] of x into ``out`` (float64) and ``out32`` (the same as float32, the
    crossbar's operand), each shaped as x. Returns (the levels' non-zeros, x had a NaN).
    Why outputs passed in, here and in the kernels below: each array a kernel returns costs an
    allocation and numba's boxing (about 1.5 us), ten of them per one-sample step."""
    flat = x.reshape(-1)
    o = out.reshape(-1)
    o32 = out32.reshape(-1)
    nnz = 0
    nan = False
    ftop = np.float64(top)
    for j in range(flat.size):
        v = np.float64(flat[j])
        nan |= v != v
        o[j] = kernels.level(v, v_min, lsb, ftop)
        o32[j] = np.float32(o[j])
        nnz += o[j] != 0.0
    return nnz, nan


@njit(cache=True)
def bp_hidden_table(y, v_min, lsb, top, tab_x, tab_d, x, x32, dz):
    """A hidden layer's read-out ADC code of each pre-activation (float32 y, taken to float64),
    then the next layer's input into ``x`` (and as float32 ``x32``) and the derivative into
    ``dz``, looked up by code in fast_batch.hidden_tables (the general rule's sigmoid, derivative
    and DAC levels of every code; its reference: fast_batch.bp_hidden_lookup_reference). Why: a
    tanh call and a second kernel per hidden layer cost more than the look-up. Returns (the
    inputs' non-zeros, y all finite; the outputs are left unwritten where not)."""
    flat = y.reshape(-1)
    if not kernels.all_finite(flat):
        return 0, False
    xo = x.reshape(-1)
    x32o = x32.reshape(-1)
    dzo = dz.reshape(-1)
    ftop = np.float64(top)
    nnz = 0
    for j in range(flat.size):
        s = np.int64(min(max(np.ceil((np.float64(flat[j]) - v_min) / lsb - 0.5), 0.0), ftop))
        xo[j] = tab_x[s]
        x32o[j] = np.float32(tab_x[s])
        dzo[j] = tab_d[s]
        nnz += tab_x[s] != 0.0
    return nnz, True


@njit(cache=True)
def output_shifted(y, v_min, lsb, top, out):
    """The output ADC's levels minus their largest (softmax's shift), into ``out``. Returns y all
    finite (``out`` is left unwritten where not)."""
    flat = y.reshape(-1)
    if not kernels.all_finite(flat):
        return False
    o = out.reshape(-1)
    ftop = np.float64(top)
    for j in range(flat.size):
        o[j] = kernels.level(np.float64(flat[j]), v_min, lsb, ftop)
    m = o[0]
    for j in range(1, flat.size):
        m = max(m, o[j])
    for j in range(flat.size):
        o[j] = o[j] - m
    return True


@njit(cache=True)
def bp_output_error(e, yb, mode, v_min, lsb, top, dq):
    """p = e / sum(e) (the softmax; the sum in numpy's order, kernels.pairwise_sum), then the
    error p - onehot(yb[0]) in place of e, and the error as the column drivers apply it
    (bp_error_drive into ``dq`` at :func:`pow2_scale`; where that is 0.0 the drive is left to
    the caller). Returns (p[label], the error's largest magnitude, its non-zeros, driven
    non-zeros, a NaN met by the DAC, scale)."""
    label = yb[0]
    flat = e.reshape(-1)
    s = 0.0 + kernels.pairwise_sum(flat, 0, flat.size)
    p_label = 0.0
    peak = 0.0
    nnz = 0
    for j in range(flat.size):
        p = flat[j] / s
        if j == label:
            p_label = p
            p = p - 1.0
        flat[j] = p
        mag = abs(p)
        if mag > peak or mag != mag:  # np.max propagates NaN
            peak = mag
        nnz += p != 0.0
    scale = pow2_scale(peak, mode)
    if scale == 0.0:
        return p_label, peak, nnz, 0, False, scale
    d_nnz, nan = bp_error_drive(e, mode, scale, v_min, lsb, top, dq)
    return p_label, peak, nnz, d_nnz, nan, scale


@njit(cache=True)
def bp_error_drive(d, mode, scale, v_min, lsb, top, out):
    """The errors as the column drivers apply them: ``mode`` 0 as they are (d itself, ``out``
    untouched), 1 their sign, 2 the error DAC's levels of d / scale, into ``out``. Returns
    (non-zeros, a NaN met by the DAC)."""
    flat = d.reshape(-1)
    nnz = 0
    if mode == 0:
        for v in flat:
            nnz += v != 0.0
        return nnz, False
    o = out.reshape(-1)
    if mode == 1:
        for j in range(flat.size):
            o[j] = np.sign(flat[j])
            nnz += o[j] != 0.0
        return nnz, False
    ftop = np.float64(top)
    nan = False
    for j in range(flat.size):
        v = flat[j] / scale
        nan |= v != v
        o[j] = kernels.level(v, v_min, lsb, ftop)
        nnz += o[j] != 0.0
    return nnz, nan


@njit(cache=True)
def bp_error_read(v, adc, v_min, lsb, top, scale, dz, out):
    """The error read-out (ADC levels if ``adc``) x scale x the activation derivative: the next
    layer down's error, into ``out``. Returns (its largest magnitude, its non-zeros, a NaN met by
    the ADC)."""
    flat = v.reshape(-1)
    dflat = dz.reshape(-1)
    o = out.reshape(-1)
    ftop = np.float64(top)
    peak = 0.0
    nnz = 0
    nan = False
    for j in range(flat.size):
        r = flat[j]
        if adc:
            nan |= r != r
            r = kernels.level(r, v_min, lsb, ftop)
        r = r * scale * dflat[j]
        o[j] = r
        mag = abs(r)
        if mag > peak or mag != mag:  # np.max propagates NaN
            peak = mag
        nnz += r != 0.0
    return peak, nnz, nan


@njit(cache=True)
def bsl_accumulate(x, delta, acc, lo, hi, theta):
    """kernels.binary_accumulate, its steps as single pulses sign(dw). Returns (flat indices,
    pulses, gradient terms)."""
    idx, dw, terms = kernels.binary_accumulate(x, delta, acc, lo, hi, theta)
    return idx, np.sign(dw), terms


@njit(cache=True)
def bsl_hidden_pre(y, gain):
    """0.5 x (gain x y) in float32 (sigmoid's tanh argument; numpy's float32 arithmetic)."""
    flat = y.reshape(-1)
    out = np.empty(flat.size, dtype=np.float32)
    g = np.float32(gain)
    for j in range(flat.size):
        out[j] = np.float32(0.5) * (g * flat[j])
    return out.reshape(y.shape)


@njit(cache=True)
def bsl_hidden_post(th, gain):
    """z = 0.5 x (1 + th) and the derivative gain x z x (1 - z), float32."""
    flat = th.reshape(-1)
    z = np.empty(flat.size, dtype=np.float32)
    d = np.empty(flat.size, dtype=np.float32)
    g = np.float32(gain)
    one = np.float32(1.0)
    for j in range(flat.size):
        zj = np.float32(0.5) * (one + flat[j])
        z[j] = zj
        d[j] = g * zj * (one - zj)
    return z.reshape(th.shape), d.reshape(th.shape)


@njit(cache=True)
def softmax_one(e, label):
    """p = e / e.sum() in place of e (one sample's exponentials; the sum in numpy's order,
    kernels.pairwise_sum). Returns p[label]. Why: numpy's sum, division and indexing were three
    calls for ten values."""
    flat = e.reshape(-1)
    s = 0.0 + kernels.pairwise_sum(flat, 0, flat.size)
    for j in range(flat.size):
        flat[j] = flat[j] / s
    return flat[label]


@njit(cache=True)
def bsl_output_error(zs, label):
    """delta = zs - onehot(label), int8, and its non-zeros."""
    flat = zs.reshape(-1)
    out = np.empty(flat.size, dtype=np.int8)
    nnz = 0
    for j in range(flat.size):
        v = np.int8(flat[j] - (1 if j == label else 0))
        out[j] = v
        nnz += v != 0
    return out.reshape(zs.shape), nnz


@njit(cache=True)
def bsl_error_down(v, ds):
    """sign(v) x ds as int8 (sign(0) = 0): the error of the layer below, and its non-zeros."""
    flat = v.reshape(-1)
    dflat = ds.reshape(-1)
    out = np.empty(flat.size, dtype=np.int8)
    nnz = 0
    for j in range(flat.size):
        s = 1 if flat[j] > 0 else (-1 if flat[j] < 0 else 0)
        out[j] = np.int8(s * dflat[j])
        nnz += out[j] != 0
    return out.reshape(v.shape), nnz


@njit(cache=True)
def count_nonzero(x):
    n = 0
    for v in x.reshape(-1):
        n += v != 0
    return n


# --- the steps ---------------------------------------------------------------------------------


def batch1_step(setup: Setup) -> Step | None:
    """The fused one-sample step of the setup's rule, or None where it does not apply: another
    rule or variant, a convolutional layer, differential pairs, another device model, a
    float-reference (ideal) design, or backprop with on/off row drivers, without a gradient
    memory, with a sigmoid output or with gradient_input: activation."""
    g = setup.graph
    if setup.ideal or setup.variant != "memristor" or not isinstance(setup.device, LiPulseDevice):
        return None
    if setup.spec.crossbar.weight_encoding != "reference_column":
        return None
    if any(lm.kind != "dense" or lm.pool is not None for lm in g.layers):
        return None
    if setup.rule == "backprop":
        per = setup.spec.peripherals
        drivers = [g.plan(lm.name).per.input_driver for lm in g.layers]
        # Why: an on/off row driver binarises its inputs at 0.5 and a chip without a gradient
        # memory drops the remainder (the general rules do both); this step models neither
        if any(d.kind != "dac" for d in drivers) or per.gradient_accumulator is None:
            return None
        alg = setup.spec.algorithm
        # Why: this step forms the softmax's error from the driven rows (the defaults)
        if alg.output != "softmax" or alg.gradient_input != "driven":
            return None
        one = _backprop_step(setup)
    elif setup.rule == "binary_stochastic":
        one = _bsl_step(setup)
    else:
        return None

    def step(setup_: Setup, state, xb, yb, meter) -> float:
        if xb.shape[0] != 1:
            return train_batch(setup_, state, xb, yb, meter)
        return one(state, xb, yb, meter)

    return step


def _backprop_step(setup: Setup):
    """rules.backprop.train_batch of one sample."""
    g = setup.graph
    layers = g.layers
    names = [lm.name for lm in layers]
    first = g.plan(names[0]).per.input_driver
    in_q = _quantizer(setup.spec.workload.input_bits, 0.0, 1.0) if first.kind == "dac" else None
    # each hidden layer's read-out ADC and, by its code, the next input and the derivative
    # (every input driver is a DAC here: batch1_step), and the error path's periphery
    hidden, out_q, mode, drive_q, adc, read_q, cap = backprop_periphery(setup)
    neg_etas = [-setup.eta_of(n) for n in names]
    n_steps = setup.device.n_steps
    n_weights = [lm.n_weights for lm in layers]
    n_layers = len(layers)
    device = Programmer(setup)
    # each layer's pulsed devices and their counts, written by residual_pulses_rows
    buffers = [(np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64)) for k in n_weights]
    flat_residuals = [None] * n_layers

    def residuals(ls, i: int) -> np.ndarray:
        """Layer ``i``'s gradient memory as a flat float64 view, made again only when the state
        holds another array."""
        v = flat_residuals[i]
        if v is None or v[0] is not ls.residual:
            ls.residual = np.ascontiguousarray(ls.residual, dtype=np.float64)
            v = flat_residuals[i] = (ls.residual, ls.residual.reshape(-1))
        return v[1]

    # every array a step writes, made once (kernels.py: an array a kernel returns costs more
    # than its work at one sample): per layer its input (float64 and float32), the hidden
    # layers' derivatives, the errors and the errors as driven
    widths = [lm.n_in for lm in layers] + [layers[-1].n_out]
    xs = [np.empty((1, w), dtype=np.float64) for w in widths[:-1]]
    x32s = [np.empty((1, w), dtype=np.float32) for w in widths[:-1]]
    dz = [np.empty((1, w), dtype=np.float64) for w in widths[1:-1]]
    deltas = [np.empty((1, w), dtype=np.float64) for w in widths[1:]]
    driven = [np.empty((1, w), dtype=np.float64) for w in widths[1:]]

    def step(state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter) -> float:
        acts = device.attach(meter)  # updates, gradient terms, programming: held, added later
        W = read_weights(setup, state)
        if in_q is not None:
            nnz, nan = levels_count(xb, *in_q, xs[0], x32s[0])
            if nan:
                raise _nan("dac_levels")
        else:
            xs[0][...] = xb
            x32s[0][...] = xs[0]
            nnz = count_nonzero(xs[0])
        for i, (ro, tab_x, tab_d) in enumerate(hidden):
            acts[i].inputs_driven += nnz
            nnz, finite = bp_hidden_table(
                x32s[i] @ W[i], *ro, tab_x, tab_d, xs[i + 1], x32s[i + 1], dz[i]
            )
            if not finite:
                raise _diverged(state, names[i], "pre-activation")
        acts[-1].inputs_driven += nnz
        e = deltas[-1]  # the softmax's exponentials, then in place the output error
        if not output_shifted(x32s[-1] @ W[-1], *out_q, e):
            raise _diverged(state, names[-1], "output")
        np.exp(e, out=e)
        dq = e if mode == 0 else driven[-1]
        p_label, peak, nnz, d_nnz, nan, scale = bp_output_error(e, yb, mode, *drive_q, dq)
        loss = float(-np.log(max(p_label, 1e-300)))  # max: np.maximum's NaN is p_label's
        # every error down first, each through the weights of the layer above as they were
        # before its update (the general rule's order in effect: an update touches only its own
        # layer, and a layer's error goes down before it is updated)
        for i in range(n_layers - 1, 0, -1):
            delta = deltas[i]
            dq = delta if mode == 0 else driven[i]
            # error_path's drive: the power-of-two scale only in front of an error DAC
            if i < n_layers - 1:
                scale = pow2_scale(peak, mode)
                if scale != 0.0:
                    d_nnz, nan = bp_error_drive(delta, mode, scale, *drive_q, dq)
            if scale == 0.0:  # numpy's log2 decides
                scale = float(2.0 ** np.ceil(np.log2(peak)))
                d_nnz, nan = bp_error_drive(delta, mode, scale, *drive_q, dq)
            if nan:
                raise _nan("dac_levels")
            acts[i].errors_driven += d_nnz
            v = dq @ backward_weights(setup, state.layers[i], W[i]).T
            peak, nnz, nan = bp_error_read(v, adc, *read_q, scale, dz[i - 1], deltas[i - 1])
            if nan:
                raise _nan("adc_quantize")
        acts[0].errors_driven += nnz
        # the gradient memories, then one draw of every pulse's normal: layer by layer from the
        # top, as the general rule draws them one update after another (the same stream)
        owed, total = [], 0
        for i in range(n_layers - 1, -1, -1):
            idx, n = buffers[i]
            m, pulses = kernels.residual_pulses_rows(
                residuals(state.layers[i], i),
                xs[i][0],
                deltas[i][0],
                neg_etas[i],
                n_steps,
                cap,
                idx,
                n,
            )
            owed.append((i, m, total, total + pulses))
            total += pulses
        xi = state.device_rng.standard_normal(total)
        for i, m, first, last in owed:
            idx, n = buffers[i]
            device.program(state, i, names[i], idx[:m], n[:m], xi[first:last], W[i])
        return loss

    return step


def _bsl_step(setup: Setup):
    """rules.binary_stochastic.train_batch of one sample."""
    g = setup.graph
    layers = g.layers
    names = [lm.name for lm in layers]
    a = float(setup.gain)
    out_q = _quantizer(g.plan(names[-1]).per.output_readout.bits, -OUTPUT_RANGE, OUTPUT_RANGE)
    n_hidden = len(layers) - 1
    # binary_stochastic.update's conditions for binary_accumulate, besides the accumulator's
    # layout (checked at each step) and the batch (1 <= SMALL_BATCH)
    fused = 1 <= setup.acc_bits <= 30 and setup.theta >= 1
    lo, hi = -(1 << (setup.acc_bits - 1)), (1 << (setup.acc_bits - 1)) - 1
    device = Programmer(setup)
    out_p = np.empty((1, layers[-1].n_out), dtype=np.float64)

    def step(state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter) -> float:
        accs = [ls.acc for ls in state.layers]
        if not fused or any(
            acc is None or acc.dtype != np.int32 or not acc.flags.c_contiguous for acc in accs
        ):
            return train_batch(setup, state, xb, yb, meter)
        acts = device.attach(meter)  # updates and programming: held, added later
        s = state.samplers
        W = read_weights(setup, state)
        x = s["input"].exceeds(xb, np.float32)
        xs, ds = [x], []
        for i in range(n_hidden):
            acts[i].inputs_driven += int(count_nonzero(x))
            t = bsl_hidden_pre(x @ W[i], a)
            np.tanh(t, out=t)
            z, d = bsl_hidden_post(t, a)
            x = s[f"z{i + 1}"].exceeds(z, np.float32)
            ds.append(s[f"d{i + 1}"].exceeds(d, np.int8))
            xs.append(x)
        acts[-1].inputs_driven += int(count_nonzero(x))
        p = out_p  # the softmax's exponentials, then in place its probabilities
        if not output_shifted(x @ W[-1], *out_q, p):
            raise _diverged(state, names[-1], "output")
        np.exp(p, out=p)
        label = int(yb[0])
        loss = float(-np.log(max(softmax_one(p, label), 1e-300)))  # max: as np.maximum's NaN
        delta, nnz = bsl_output_error(s["out"].exceeds(p, np.int8), label)
        # every layer's error and accumulator first (an update touches only its own layer, and
        # a layer's error goes down through its weights before their update), then one draw of
        # every pulse's normal, layer by layer from the top as the general rule draws them
        owed, total = [], 0
        for i in range(len(layers) - 1, -1, -1):
            act = acts[i]
            act.errors_driven += nnz
            d_i = delta
            if i > 0:
                v = d_i.astype(np.float32) @ backward_weights(setup, state.layers[i], W[i]).T
                delta, nnz = bsl_error_down(v, ds[i - 1])
            idx, n, terms = bsl_accumulate(xs[i], d_i, accs[i].reshape(-1), lo, hi, setup.theta)
            act.gradient_terms += terms
            owed.append((i, idx, n, total))
            total += idx.size
        xi = state.device_rng.standard_normal(total)
        for i, idx, n, first in owed:
            device.program(state, i, names[i], idx, n, xi[first : first + idx.size], W[i])
        return loss

    return step
