"""A fused many-sample step for all-dense networks: backprop with pulse trains and binary
stochastic learning on reference-column memristor arrays at batch sizes above one (the batch-1
step is cimest/engine/fast.py's).

Room: engine (numpy, numba; cimest.engine and cimest.devices below it). At batch 64 the general
rules (cimest/engine/rules/) spend their time in ~150 numpy calls per batch and, for backprop, in
the float64 tanh of every hidden pre-activation (numpy's scalar libm loop on a machine without
AVX-512: about as long as a whole float32 numpy SGD step). Here:

- each stage between the calls that must stay numpy (float32 tanh, the PCG64 random source;
  exp and log too where libm.matches says numpy's are not libm's) is one compiled kernel that
  also counts what the Meter needs. The BLAS products run inside the kernels, through numpy's
  own OpenBLAS (cimest/engine/blas.py), where blas.matches says they give np.matmul's bits at
  this batch size (else the step is staged around np.matmul): a backprop step is two kernels
  (bp_train: the forward pass, softmax, loss, backward pass and gradient memory; then
  program_layers) around the normals' draw, a BSL step one kernel per stage of the forward
  pass between numpy's tanh calls, the last one with the output and backward pass
  (bsl_tail), then the normals and program_layers. Under binary stochastic learning an LFSR
  bank is drawn inside the kernel that reads it, and the integer gradient x^T delta is summed
  in integers, not by BLAS (exact in any order);
- binary stochastic learning only compares its sigmoid and derivative with random references,
  so the kernels decide those comparators from a candidate tanh (libm.tanh_candidate, 0.5 ns a
  value where numpy's float32 tanh takes 2.6) wherever a tanh libm.tanh_margin off could not
  change them, and numpy's tanh is taken of the values left open (about one in 80,000: a
  batch-64 step of 64-128-10 leaves one open about one batch in ten);
- the kernels' argument tuples and the checks behind them are made once per batch size and
  kept while the ids of the state's arrays (weights, conductances, wear, gradient memories or
  accumulators, LFSR banks) stay the same, and the kernels are called on them through their
  compiled functions for those types (_Bound), not through numba's dispatcher, which types every
  argument at every call;
- backprop's hidden activation is looked up, not computed: the read-out ADC gives one of
  2^bits levels, so the sigmoid, its derivative and the next layer's DAC level are functions of
  the ADC code alone. :func:`hidden_tables` evaluates them once per run with the general rule's
  numpy operations on the 2^bits levels (the same float64 operations on the same values, so the
  same bits), and the kernel indexes them by code.

Every kernel performs the float operations of the general path element by element in the same
order (no fast-math), so a run is bit-identical with and without this module; the general rules
stay the reference, each kernel has a numpy ``*_reference`` here, tests/engine/test_fast_batch.py
holds kernel and reference equal and the fused step equal to the general rule, and the recorded
fingerprints of tests/engine/test_bit_identity.py (batch 16) run through here.

:func:`batch_step` wraps a step for single samples (fast.py's or the general rule) with the fused
step for batches of two or more, where it applies. Nothing here is imported from fast.py, whose
batch-1 kernels change on their own; both build on cimest/engine/kernels.py and
cimest/devices/kernels.py (after editing a kernel there, clear numba's *.nbi/*.nbc caches: a
cached kernel here keeps the callee it was compiled with).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from itertools import chain
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher

from cimest.devices import kernels as device_kernels
from cimest.devices import pulse
from cimest.devices.model import LiPulseDevice
from cimest.engine import blas, kernels, libm
from cimest.engine.peripherals import LfsrRng, dac_values
from cimest.engine.rules import train_batch
from cimest.engine.rules.backprop import BACKWARD_RANGE, FORWARD_RANGE
from cimest.engine.rules.common import (
    OUTPUT_RANGE,
    Meter,
    Setup,
    _geometry,
    backward_weights,
    read_weights,
)
from cimest.engine.state import EngineState
from cimest.errors import TrainingError

Step = Callable[[Setup, EngineState, np.ndarray, np.ndarray, Meter], float]

# --- kernels and their numpy references ------------------------------------------------------------


def hidden_tables(
    gain: float, adc: tuple[float, float, int], dac_bits: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per read-out code s (0 .. top of ``adc`` = (v_min, lsb, top)): the next layer's input (its
    DAC's level of the sigmoid, or the sigmoid itself when ``dac_bits`` is None) and the
    derivative gain x z x (1 - z), by the general rule's own numpy operations
    (rules.backprop.forward: the ADC level, sigmoid(gain x level), drive_levels) applied to the
    2^bits levels (at most 65,536: the spec's ADCs have up to 16 bits)."""
    v_min, lsb, top = adc
    s = np.arange(top + 1, dtype=np.float64)
    level = v_min + s * lsb  # peripherals._quantize_levels' level of code s
    t = np.multiply(gain * level, 0.5)  # rules.common.sigmoid, step by step
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    deriv = gain * t * (1.0 - t)
    if dac_bits is None:
        return t, deriv
    return dac_values(t, dac_bits, 0.0, 1.0), deriv


@njit(cache=True, inline="always")  # Why: one copy per code type (uint8, int32)
def _hidden_codes_lookup(flat, v_min, lsb, ftop, code, tab_x, tab_d, x, x32, d):
    """:func:`bp_hidden_lookup`'s three loops, the codes held in ``code`` (its type holds top).
    Returns the non-zero inputs."""
    for j in range(flat.size):
        s = np.int32(min(max(np.ceil((np.float64(flat[j]) - v_min) / lsb - 0.5), 0.0), ftop))
        code[j] = s
    for j in range(flat.size):
        s = code[j]
        x[j] = tab_x[s]
        d[j] = tab_d[s]
    nnz = 0
    for j in range(flat.size):  # a third loop: the conversions and the count vectorize
        x32[j] = np.float32(x[j])
        nnz += x[j] != 0.0
    return nnz


@njit(cache=True)
def bp_hidden_lookup(y, v_min, lsb, top, tab_x, tab_d, out_x, out_x32, out_d):
    """A hidden layer's read-out ADC code of each pre-activation (float32 y, taken to float64),
    then the next input into ``out_x`` (and as float32, the next crossbar's operand, into
    ``out_x32``) and the derivative into ``out_d``, from :func:`hidden_tables`. Returns (non-zero
    inputs, y all finite; the outputs are left unwritten where not). Why three loops: the codes'
    loop (int32 codes, exact below 2^31) vectorizes, the table look-ups do not, so they do only
    the look-ups (2.4 us less at 8,192 values than with the conversion and count among them).
    Why uint8 codes up to 8 bits: a quarter of the memory, and an unsigned index needs no check
    for a negative one (18.4 -> 15.6 us at 8,192 values)."""
    flat = y.reshape(-1)
    x = out_x.reshape(-1)
    x32 = out_x32.reshape(-1)
    d = out_d.reshape(-1)
    if not kernels.all_finite(flat):
        return 0, False
    ftop = np.float64(top)
    if top <= 255:
        code8 = np.empty(flat.size, dtype=np.uint8)
        nnz = _hidden_codes_lookup(flat, v_min, lsb, ftop, code8, tab_x, tab_d, x, x32, d)
    else:
        code = np.empty(flat.size, dtype=np.int32)
        nnz = _hidden_codes_lookup(flat, v_min, lsb, ftop, code, tab_x, tab_d, x, x32, d)
    return nnz, True


def bp_hidden_lookup_reference(y, v_min, lsb, top, gain, dac_bits):
    """The general rule's numpy of :func:`bp_hidden_lookup`: ADC levels, the sigmoid, its
    derivative, the next DAC's levels (none if ``dac_bits`` is None)."""
    from cimest.engine.rules.common import sigmoid

    level = v_min + np.clip(np.ceil((y.astype(np.float64) - v_min) / lsb - 0.5), 0, top) * lsb
    z = sigmoid(gain * level)
    deriv = gain * z * (1.0 - z)
    if dac_bits is not None:
        z = dac_values(z, dac_bits, 0.0, 1.0)
    return z, deriv, int(np.count_nonzero(z))


@njit(cache=True)
def output_shifted_rows(y, v_min, lsb, top, out):
    """The output ADC's levels of each row minus the row's largest (softmax's shift) into ``out``
    (float64, shaped as y). Returns y all finite (``out`` is left unwritten where not)."""
    B, n = y.shape
    if not kernels.all_finite(y.reshape(-1)):
        return False
    ftop = np.float64(top)
    for b in range(B):
        m = -np.inf
        for j in range(n):
            v = kernels.level(np.float64(y[b, j]), v_min, lsb, ftop)
            out[b, j] = v
            m = max(m, v)
        for j in range(n):
            out[b, j] = out[b, j] - m
    return True


def output_shifted_rows_reference(y, v_min, lsb, top):
    level = v_min + np.clip(np.ceil((y.astype(np.float64) - v_min) / lsb - 0.5), 0, top) * lsb
    return level - level.max(axis=1, keepdims=True)


@njit(cache=True)
def softmax_rows(e, labels, error, at):
    """p = e / e.sum(axis=1, keepdims=True) row by row, in place of e (C-contiguous), the sums in
    numpy's order (kernels.pairwise_sum); then, if ``error``, backprop's output error p -
    onehot(labels) in place of p; into ``at``, p at each row's label raised to 1e-300 as
    np.maximum does (NaN stays: the loss's log argument). Returns (the error's largest magnitude
    (NaN if any is) and its non-zeros; 0 and 0 without ``error``). Why the sums and
    the error here: numpy's reduction and the error's own kernel each cost as much as this
    whole kernel."""
    B, n = e.shape
    flat = e.reshape(-1)
    peak = 0.0
    nnz = 0
    for b in range(B):
        s = 0.0 + kernels.pairwise_sum(flat, b * n, n)
        for j in range(n):
            e[b, j] = e[b, j] / s
        v = e[b, labels[b]]
        at[b] = v if v != v or v > 1e-300 else 1e-300
        if error:
            for j in range(n):
                v = e[b, j] - 1.0 if j == labels[b] else e[b, j]  # p - 0.0 is p (p >= +0)
                e[b, j] = v
                mag = abs(v)
                if mag > peak or mag != mag:  # np.max propagates NaN
                    peak = mag
                nnz += v != 0.0
    return peak, nnz


def softmax_rows_reference(e, labels, error):
    p = e / e.sum(axis=1, keepdims=True)
    at = np.maximum(p[np.arange(e.shape[0]), labels], 1e-300)
    if not error:
        return p, at, 0.0, 0
    onehot = np.zeros(p.shape, dtype=p.dtype)
    onehot[np.arange(p.shape[0]), labels] = 1
    d = p - onehot
    return d, at, float(np.max(np.abs(d), initial=0.0)), int(np.count_nonzero(d))


@njit(cache=True)
def pow2_scale(peak, mode):
    """The error DAC's power-of-two scale, 2 ** ceil(log2(peak)) if mode == 2 and peak > 0 else
    1.0, where it needs no log2: 0.0 where numpy's log2 must decide (an infinite peak, or a
    mantissa m = frexp(peak)[0] within 1e-9 above 0.5, a power of two included).
    Why exact elsewhere: with m in (0.5 + 1e-9, 1), log2(peak) = e + log2(m) lies in
    (e - 1 + 2.8e-9, e), so its ceiling is e for any log2 within a few ulp (the ulp of |log2|
    <= 1075 is below 3e-13), and 2.0 ** e is exact."""
    if mode != 2 or not peak > 0.0:  # NaN included
        return 1.0
    if peak == np.inf:
        return 0.0
    m, e = math.frexp(peak)
    if m <= 0.5 + 1e-9:
        return 0.0
    return math.ldexp(1.0, e)


@njit(cache=True)
def levels_nnz(x, v_min, lsb, top, levels, levels32):
    """peripherals.dac_values of a float64 (or float32, taken to float64) array
    (kernels.quantize_levels' arithmetic) into
    ``levels`` and the same as float32 (the crossbar's operand) into ``levels32`` (each shaped as
    x). Returns (their non-zeros, x had a NaN). Branch-free loops, so they vectorize. Why the
    outputs passed in, here and in the kernels below: an array a kernel returns costs an
    allocation and numba's boxing (about a microsecond), a dozen of them per step."""
    flat = x.reshape(-1)
    out = levels.reshape(-1)
    out32 = levels32.reshape(-1)
    ftop = np.float64(top)
    nan = False
    for j in range(flat.size):
        v = np.float64(flat[j])
        nan |= v != v
        out[j] = v_min + (min(max(np.ceil((v - v_min) / lsb - 0.5), 0.0), ftop) + 0.0) * lsb
        out32[j] = np.float32(out[j])
    nnz = 0
    for j in range(flat.size):
        nnz += out[j] != 0.0
    return nnz, nan


def levels_nnz_reference(x, v_min, lsb, top):
    from cimest.engine.peripherals import _quantize_reference

    bits = int(top).bit_length()
    levels = _quantize_reference(x, bits, v_min, v_min + top * lsb, "dac_levels")[1]
    return levels, int(np.count_nonzero(levels))


@njit(cache=True)
def magnitude_peak(x):
    """(np.max(np.abs(x), initial=0.0), np.count_nonzero(x)) of a contiguous float64 array, NaN
    if x has one (np.max propagates it). Why on the bit patterns: a non-negative double's bits
    as int64 order as its value (NaN's above infinity's), and an integer maximum vectorizes
    where the float one with NaN's rule does not (three times faster at 8,192 values)."""
    bits = x.reshape(-1).view(np.int64)
    magnitude = np.int64(0x7FFFFFFFFFFFFFFF)  # the sign bit cleared: |x|
    top = np.int64(0)
    nnz = 0
    for j in range(bits.size):
        b = bits[j] & magnitude
        top = b if b > top else top
        nnz += b != 0
    if top > np.int64(0x7FF0000000000000):  # above infinity's bits: a NaN
        return np.nan, nnz
    return np.array([top]).view(np.float64)[0], nnz


@njit(cache=True)
def bp_error_read_rows(v, adc, v_min, lsb, top, scale, dz, error):
    """rules.backprop's error read-out of a batch (ADC levels if ``adc``, kernels.quantize_levels'
    arithmetic) x scale x the activation derivative: the next layer down's error, into ``error``
    (shaped as v). Returns (its largest magnitude (NaN if any is), its non-zeros, a NaN met by
    the ADC). Why not
    fast.bp_error_read: its one loop with the running maximum does not vectorize (three times
    slower at batch 64)."""
    flat = v.reshape(-1)
    dflat = dz.reshape(-1)
    out = error.reshape(-1)
    ftop = np.float64(top)
    nan = False
    if adc:
        for j in range(flat.size):
            r = flat[j]
            nan |= r != r
            s = min(max(np.ceil((r - v_min) / lsb - 0.5), 0.0), ftop) + 0.0
            out[j] = ((v_min + s * lsb) * scale) * dflat[j]
    else:
        for j in range(flat.size):
            out[j] = (flat[j] * scale) * dflat[j]
    peak, nnz = magnitude_peak(out)
    return peak, nnz, nan


def bp_error_read_rows_reference(v, adc, v_min, lsb, top, scale, dz):
    """rules.backprop.error_path's read, times the derivative, in numpy."""
    from cimest.engine.peripherals import adc_values

    if adc:
        bits = int(top).bit_length()
        v = adc_values(v, bits, v_min, v_min + top * lsb)
    e = v * scale * dz
    return e, float(np.max(np.abs(e), initial=0.0)), int(np.count_nonzero(e))


@njit(cache=True, inline="always")  # Why: shared by two kernels
def _output_error_into(zs, labels, out):
    """:func:`bsl_output_error_rows` into ``out`` (int8, shaped as zs): its non-zeros."""
    B, n = zs.shape
    nnz = 0
    for b in range(B):
        for j in range(n):
            v = np.int8(zs[b, j] - (1 if j == labels[b] else 0))
            out[b, j] = v
            nnz += v != 0
    return nnz


@njit(cache=True)
def bsl_output_error_rows(zs, labels):
    """delta = zs - onehot(labels) as int8, and its non-zeros."""
    out = np.empty(zs.shape, dtype=np.int8)
    return out, _output_error_into(zs, labels, out)


def bsl_output_error_rows_reference(zs, labels):
    onehot = np.zeros(zs.shape, dtype=np.int8)
    onehot[np.arange(zs.shape[0]), labels] = 1
    d = (zs - onehot).astype(np.int8)
    return d, int(np.count_nonzero(d))


@njit(cache=True, inline="always")  # Why: a call per row otherwise
def _accumulate_row(acc, start, g, lo, hi, theta, idx, pulses, n):
    """acc[start:start + g.size] += g (int32) saturated to [lo, hi], branch-free; a row that
    reaches +-theta is walked again for its steps (kernels.accumulate_threshold's arithmetic:
    dw = -fix(acc / theta), acc keeps the remainder), appended to ``idx`` (flat index) and
    ``pulses`` (sign(dw)) from n on. Returns the new n.

    Why the division only from 2 theta on: an int64 division cost about 60 ns here, most of the
    whole pass, and a batch seldom carries an accumulator past 2 theta (fix is 1 below).
    Why a view of the row and an integer flag: indexed as acc[start + j] (an index numba must
    check for a negative wrap) and with a boolean flag, the first loop did not vectorize (20 us
    for 64 rows of 128, 4.5 us so)."""
    row = acc[start : start + g.size]
    crossed = 0
    for j in range(g.size):
        v = min(max(np.int64(row[j]) + np.int64(g[j]), lo), hi)
        row[j] = v
        crossed |= (v >= theta) | (v <= -theta)
    if crossed:  # rare branches: a few per cent of the accumulators step per batch
        for j in range(g.size):
            v = np.int64(row[j])
            if v >= theta or v <= -theta:
                a = v if v >= 0 else -v
                fix = 1 if a < 2 * theta else a // theta
                if v < 0:
                    fix = -fix
                row[j] = v - fix * theta
                idx[n] = start + j
                pulses[n] = 1 if fix < 0 else -1
                n += 1
    return n


@njit(cache=True, inline="always")  # Why: one call per row width (int16, int32)
def _accumulate_by_rows(acc, x, delta, used, row, lo, hi, theta, idx, pulses):
    """:func:`bsl_grad_accumulate` by rows: each input's row of G the sum of the error rows of
    the samples ``used`` that drove it, summed in ``row`` (an integer type that holds
    +-used.size), then :func:`_accumulate_row`. Returns the steps."""
    n_in = x.shape[1]
    n_out = delta.shape[1]
    samples = np.empty(max(used.size, 1), dtype=np.int64)
    n = 0
    for i in range(n_in):
        # the samples that drove input i (branch-free: the slot is written, the count moves if
        # driven)
        count = 0
        for k in range(used.size):
            samples[count] = used[k]
            count += x[used[k], i] != 0
        row[:] = 0
        # Why two error rows at a time: one load and store of the row per two (the first
        # layer's gradient of a digits batch-64 step: 23.4 -> 22.1 us)
        k = 0
        while k + 1 < count:
            e, f = delta[samples[k]], delta[samples[k + 1]]
            for j in range(n_out):
                row[j] += e[j] + f[j]
            k += 2
        if k < count:
            e = delta[samples[k]]
            for j in range(n_out):
                row[j] += e[j]
        n = _accumulate_row(acc, i * n_out, row, lo, hi, theta, idx, pulses, n)
    return n


@njit(cache=True)
def _sample_masks(x, delta, xm, pm, nm):
    """The samples as bits, 64 to a word (sample b: bit b % 64 of word b // 64): per input, those
    that drove it, into xm (words x n_in); per output, those with error +1 and -1 there, into pm
    and nm (words x n_out). Branch-free, along the rows (they vectorize)."""
    B, n_in = x.shape
    n_out = delta.shape[1]
    xm[:] = 0
    pm[:] = 0
    nm[:] = 0
    for b in range(B):
        bit = np.uint64(b & 63)
        xw, pw, nw = xm[b >> 6], pm[b >> 6], nm[b >> 6]
        for i in range(n_in):
            xw[i] |= np.uint64(x[b, i] != 0) << bit
        for j in range(n_out):
            e = delta[b, j]
            pw[j] |= np.uint64(e > 0) << bit
            nw[j] |= np.uint64(e < 0) << bit


@njit(cache=True)
def _accumulate_by_masks(acc, x, delta, lo, hi, theta, idx, pulses):
    """:func:`bsl_grad_accumulate` by bit masks: G[i, j] = popcount(driven_i & plus_j) -
    popcount(driven_i & minus_j) summed over the words of samples (:func:`_sample_masks`), a row
    of G at a time into :func:`_accumulate_row`. Returns the steps."""
    B, n_in = x.shape
    n_out = delta.shape[1]
    words = (B + 63) >> 6
    xm = np.empty((words, n_in), dtype=np.uint64)
    pm = np.empty((words, n_out), dtype=np.uint64)
    nm = np.empty((words, n_out), dtype=np.uint64)
    _sample_masks(x, delta, xm, pm, nm)
    row = np.empty(n_out, dtype=np.int32)
    n = 0
    for i in range(n_in):
        row[:] = 0
        for w in range(words):
            a = xm[w, i]
            if a == 0:  # no sample of these drove input i
                continue
            pw, nw = pm[w], nm[w]
            for j in range(n_out):
                row[j] += np.int32(kernels.popcount(a & pw[j])) - np.int32(
                    kernels.popcount(a & nw[j])
                )
        n = _accumulate_row(acc, i * n_out, row, lo, hi, theta, idx, pulses, n)
    return n


@njit(cache=True)
def bsl_grad_accumulate(acc, x, delta, lo, hi, theta, by):
    """binary_stochastic.update of a batch on the flat int32 accumulator (:func:`grad_steps`).
    Returns (ascending flat indices of the steps, sign(dw) as pulse counts, gradient terms: per
    sample, non-zero inputs x non-zero errors)."""
    idx = np.empty(acc.size, dtype=np.int64)
    pulses = np.empty(acc.size, dtype=np.int64)
    n, terms = grad_steps(acc, x, delta, lo, hi, theta, by, idx, pulses)
    return idx[:n], pulses[:n], terms


@njit(cache=True)
def grad_steps(acc, x, delta, lo, hi, theta, by, idx, pulses):
    """binary_stochastic.update of a batch on the flat int32 accumulator, its gradient G = x^T
    delta formed in integers (x in {0, 1}: the comparators' samples; delta in {-1, 0, 1}): acc
    += G saturated to [lo, hi], a step dw = -fix(acc / theta) where |acc| >= theta (acc keeps
    the remainder). The ascending flat indices of the steps go into ``idx`` and sign(dw) as
    pulse counts into ``pulses`` (each as long as acc). Returns (the steps, gradient terms: per
    sample, non-zero inputs x non-zero errors).

    G is summed the cheapest way (``by`` < 0; 0, 1 or 2 force one, for the tests): by rows, each
    input's row the sum of the error rows of the samples that drove it; by columns, each
    output's column the sum of the input rows of the samples with an error there times that
    error; or by bit masks (:func:`_accumulate_by_masks`), two popcounts per weight and word of
    64 samples. Samples without an error and undriven inputs add nothing and are passed over.
    Why the masks: a dense layer's rows cost an add per driven input, output and sample; the
    masks two popcounts per input, output and 64 samples (the first layer of a digits batch-64
    step: 17 -> 13.5 us, the same accumulators). The weights below (costs in about 80 ps, an
    int16 add in a vectorized row) were measured here.

    Why not BLAS: the sums are exact integers in any order, so the order is free; integer adds
    over the non-zeros only, fused with the accumulator's pass, took 26 us where the float32
    product and the pass took 73 (64 x 64 inputs, 64 x 128 errors, digits at batch 64)."""
    B, n_in = x.shape
    n_out = delta.shape[1]
    terms = 0
    cost_rows = 0
    cost_cols = 0
    used = np.empty(B, dtype=np.int64)  # the samples with an error
    n_used = 0
    for b in range(B):
        nx = 0
        nd = 0
        for i in range(n_in):
            nx += x[b, i] != 0
        for j in range(n_out):
            nd += delta[b, j] != 0
        terms += nx * nd
        cost_rows += nx if nd != 0 else 0
        cost_cols += nd
        used[n_used] = b
        n_used += nd != 0
    if by < 0:
        by = 0 if cost_rows * n_out <= cost_cols * n_in else 1
        cost_masks = 7 * n_in * n_out * ((B + 63) >> 6) + 3 * B * (n_in + n_out)
        if cost_masks < min(cost_rows * n_out, cost_cols * n_in):
            by = 2
    if by == 2:
        return _accumulate_by_masks(acc, x, delta, lo, hi, theta, idx, pulses), terms
    g = np.empty(n_out, dtype=np.int32)  # one row of G
    n = 0
    if by == 0:
        # Why int16 sums where they fit (|G| <= the samples): twice the adds per instruction
        if n_used < 1 << 15:
            row16 = np.empty(n_out, dtype=np.int16)
            n = _accumulate_by_rows(acc, x, delta, used[:n_used], row16, lo, hi, theta, idx, pulses)
        else:
            n = _accumulate_by_rows(acc, x, delta, used[:n_used], g, lo, hi, theta, idx, pulses)
    else:
        gt = np.zeros((n_out, n_in), dtype=np.int32)
        for k in range(n_used):
            b = used[k]
            for j in range(n_out):
                e = np.int32(delta[b, j])
                if e != 0:
                    for i in range(n_in):
                        gt[j, i] += e * np.int32(x[b, i] != 0)
        for i in range(n_in):
            for j in range(n_out):
                g[j] = gt[j, i]
            n = _accumulate_row(acc, i * n_out, g, lo, hi, theta, idx, pulses, n)
    return n, terms


def bsl_grad_accumulate_reference(acc, x, delta, bits, theta):
    """The general rule's numpy of :func:`bsl_grad_accumulate` (acc changed in place): the float32
    BLAS gradient, peripherals.accumulate_steps_reference."""
    from cimest.engine.peripherals import accumulate_steps_reference

    grad = x.T.astype(np.float32) @ delta.astype(np.float32)
    nz_x = np.count_nonzero(x, axis=1).astype(np.int64)
    nz_d = np.count_nonzero(delta, axis=1).astype(np.int64)
    idx, dw = accumulate_steps_reference(acc, grad.astype(np.int32), bits, theta)
    return idx, np.sign(dw), int(nz_x @ nz_d)


@njit(cache=True, inline="always")
def _residual_count(residual, counts, i, g, neg_eta, fs, fcap):
    """bp_residual_batch's update of residual[i] by the gradient g / B: its count into counts[i].
    Returns whether the count is not zero."""
    r = residual[i] + (neg_eta * g) * fs
    k = np.trunc(r)
    k = fcap if k > fcap else k
    k = (-fcap if k < -fcap else k) + 0.0  # +0.0: r - 0 as the integer count subtracts it
    residual[i] = r - k
    counts[i] = k
    return k != 0.0


@njit(cache=True)
def bp_residual_batch(residual, grad, neg_eta, batch, n_steps, cap, counts, idx, n):
    """kernels.residual_pulses (backprop.update's gradient memory: r += (-eta x (G / B)) x
    n_steps; n = clip(trunc(r), -cap, cap); r -= n), and the pulses its counts ask for (the
    normals to draw): the ascending flat indices with n != 0 into ``idx``, their n into ``n``
    (int64, each as long as residual; ``counts``: float64 scratch as long). Returns (how many,
    the pulses).
    Why not kernels.residual_pulses: its one loop stores the pulsed devices as it goes, which
    does not vectorize (twice as long at batch 64); here the counts are whole floats (trunc,
    then clipped: the same integers, NaN kept as the int64 conversion takes it) in a pass that
    does, and a second pass gathers the few that are not zero."""
    size = residual.size
    fb = np.float64(batch)
    fs = np.float64(n_steps)
    fcap = np.float64(cap)
    m = 0
    if batch & (batch - 1) == 0:
        # Why a product: x / 2^k and x x 2^-k round the same real number, so they are the same
        # double (subnormals, zeros, infinities and NaN included), and a division costs about
        # twice the rest of this loop
        inverse = 1.0 / fb
        for i in range(size):
            m += _residual_count(residual, counts, i, grad[i] * inverse, neg_eta, fs, fcap)
    else:
        for i in range(size):
            m += _residual_count(residual, counts, i, grad[i] / fb, neg_eta, fs, fcap)
    # Why in blocks of 16: a step pulses few devices (about 130 of 9,472 in a batch-64 step of
    # the 64-128-10 design); the test of a block vectorizes, and only blocks with a count are
    # looked into. Over 8,192 counts with 100 not zero an element-by-element scan took 7 us,
    # this 4 (even at 300; it loses from about one in ten: 9.5 us against 7.6 at 1,000)
    total = 0
    j = 0
    for start in range(0, size, 16):
        if j == m:
            break
        end = min(start + 16, size)
        pulsed = False
        for i in range(start, end):
            pulsed |= counts[i] != 0.0
        if pulsed:
            for i in range(start, end):
                if counts[i] != 0.0:
                    k = np.int64(counts[i])
                    idx[j] = i
                    n[j] = k
                    total += abs(k)
                    j += 1
    return m, total


@njit(cache=True)
def nonzeros(x):
    """np.count_nonzero of an array."""
    n = 0
    for v in x.reshape(-1):
        n += v != 0
    return n


@njit(cache=True, inline="always")  # Why: shared by two kernels
def _sigmoid_pre_into(y, gain, t):
    """:func:`bsl_sigmoid_pre` into ``t`` (float32, shaped as y)."""
    flat = y.reshape(-1)
    out = t.reshape(-1)
    g = np.float32(gain)
    for j in range(flat.size):
        out[j] = np.float32(0.5) * (g * flat[j])


@njit(cache=True)
def bsl_sigmoid_pre(y, gain):
    """0.5 x (gain x y) in float32: the tanh argument of rules.common.sigmoid(gain x y) as numpy
    forms it from a float32 y (a Python float times a float32 array stays float32)."""
    out = np.empty(y.shape, dtype=np.float32)
    _sigmoid_pre_into(y, gain, out)
    return out


@njit(cache=True, inline="always")  # Why: shared by two kernels, a call per element otherwise
def _sigmoid_post(th, gain):
    """:func:`bsl_sigmoid_post` of a flat th: (z, d), flat."""
    z = np.empty(th.size, dtype=np.float32)
    d = np.empty(th.size, dtype=np.float32)
    g = np.float32(gain)
    one = np.float32(1.0)
    for j in range(th.size):
        zj = (th[j] + one) * np.float32(0.5)
        z[j] = zj
        d[j] = g * zj * (one - zj)
    return z, d


@njit(cache=True)
def bsl_sigmoid_post(th, gain):
    """From th = tanh(argument), float32: z = (th + 1) x 0.5 (the sigmoid) and the derivative
    gain x z x (1 - z)."""
    z, d = _sigmoid_post(th.reshape(-1), gain)
    return z.reshape(th.shape), d.reshape(th.shape)


def bsl_sigmoid_reference(y, gain):
    """rules.binary_stochastic.forward's sigmoid and derivative of a float32 pre-activation."""
    from cimest.engine.rules.common import sigmoid

    z = sigmoid(gain * y)
    return z, gain * z * (1.0 - z)


@njit(cache=True)
def bsl_hidden_draws(th, gain, z_rng, d_rng, x, ds):
    """A hidden layer's read-out from th = tanh(argument) (float32, B x n): the sigmoid z and its
    derivative d (:func:`bsl_sigmoid_post`'s arithmetic), then z's comparators x = z > u (float32
    0/1) and d's ds = d > u' (int8) against the draws of two LFSR banks (``z_rng`` and ``d_rng``:
    LfsrRng.kernel_state, lanes advanced in place), into ``x`` and ``ds``. Returns the ones in x
    (the rows they drive)."""
    z, d = _sigmoid_post(th.reshape(-1), gain)
    states = np.empty(z.size, dtype=np.uint32)
    tables, lanes, scale, wide = z_rng
    kernels.lfsr_states(tables, lanes, z.size // lanes.size, states)
    ones = kernels.lfsr_compare(z, states, scale, wide, x.reshape(-1))
    tables, lanes, scale, wide = d_rng
    kernels.lfsr_states(tables, lanes, d.size // lanes.size, states)
    kernels.lfsr_compare(d, states, scale, wide, ds.reshape(-1))
    return ones


def bsl_hidden_draws_reference(y, gain, z_rng, d_rng):
    """:func:`bsl_hidden_draws` as the general rule forms it from the pre-activation y (z_rng and
    d_rng: LfsrRng)."""
    z, d = bsl_sigmoid_reference(y, gain)
    x = z_rng.exceeds(z, np.float32)
    return x, d_rng.exceeds(d, np.int8), int(np.count_nonzero(x))


@njit(cache=True, error_model="numpy")  # Why: see libm.tanh_candidate (the loop vectorizes)
def bsl_hidden_decide(t, gain, z_rng, d_rng, sz, sd, x, ds, flags, margin):
    """:func:`bsl_hidden_draws` from the tanh argument t (float32, flat) instead of its tanh,
    where numpy's tanh cannot change the comparators: the draws of both LFSR banks (``z_rng``,
    ``d_rng``: LfsrRng.kernel_state, lanes advanced in place) into ``sz`` and ``sd`` (uint32,
    flat), then per value, from c = libm.tanh_candidate(t), x = z > u and ds = d > u' (flat) as
    the sigmoid z = (c + 1) / 2 and derivative d = gain z (1 - z) give them, in float32;
    ``flags`` (uint8) 1 where a tanh ``margin`` off c could give another, and at NaN (every value
    where ``margin`` is inf or a bank is wider than 24 bits). Returns the values flagged:
    :func:`bsl_hidden_settle` gives them numpy's tanh.

    Why the bounds hold, for |c - tanh| <= margin (libm.tanh_margin), g the float32 gain and
    float32's rounding e = 2^-24: here and in the exact read-out, z = fl(fl(. + 1) / 2), so the
    two are within margin / 2 + e; z - u is then within (z - u) e of its value (u, a multiple
    of 2^-width, is exact), so mz = margin / 2 + 2e-7 covers the difference. d = fl(fl(g z)
    fl(1 - z)) is within 3e g / 4 (1 + e) of g z (1 - z) in each, and |d'(z)| <= g (1 + 4e-7),
    so md = g (margin / 2 + 3e-7) + 1e-7 covers it."""
    n_draws = t.size // z_rng[1].size
    kernels.lfsr_states(z_rng[0], z_rng[1], n_draws, sz)
    kernels.lfsr_states(d_rng[0], d_rng[1], n_draws, sd)
    if z_rng[3] or d_rng[3]:  # states of 25 bits or more: not exact through int32 and float32
        margin = np.inf
    g = np.float32(gain)
    mz = np.float32(0.5 * margin + 2e-7)
    md = np.float32(np.float64(g) * (0.5 * margin + 3e-7) + 1e-7)
    one = np.float32(1.0)
    half = np.float32(0.5)
    z_scale, d_scale = np.float32(z_rng[2]), np.float32(d_rng[2])
    for j in range(t.size):
        z = (libm.tanh_candidate(t[j]) + one) * half
        above_z = z - np.float32(np.int32(sz[j])) * z_scale
        above_d = g * z * (one - z) - np.float32(np.int32(sd[j])) * d_scale
        x[j] = np.float32(above_z > 0)
        ds[j] = np.int8(above_d > 0)
        # NaN in t: a number in c, so tested here
        flags[j] = np.uint8((np.abs(above_z) <= mz) | (np.abs(above_d) <= md) | (t[j] != t[j]))
    n_open = 0
    for j in range(t.size):
        n_open += flags[j]
    return n_open


@njit(cache=True)
def bsl_hidden_settle(th, flags, n_open, gain, z_rng, d_rng, sz, sd, x, ds, where):
    """The comparators :func:`bsl_hidden_decide` left open (``flags``, ``n_open`` of them) from
    th, numpy's tanh of their arguments in flat order (float32), as bsl_hidden_draws forms them
    (the sigmoid and derivative of :func:`bsl_sigmoid_post`, each against its draw of ``sz``,
    ``sd``). ``where``: scratch for their flat indices (int64, as long as x). Returns the ones in
    x (the rows they drive)."""
    if n_open:
        k = 0
        for j in range(flags.size):
            if flags[j]:
                where[k] = j
                k += 1
                if k == n_open:
                    break
        g = np.float32(gain)
        one = np.float32(1.0)
        z_scale, d_scale = z_rng[2], d_rng[2]
        for k in range(n_open):
            j = where[k]
            zj = (th[k] + one) * np.float32(0.5)
            dj = g * zj * (one - zj)
            # Why float64: the references are exact there, both for widths up to 24 (lfsr_compare
            # compares in float32) and wider
            x[j] = np.float64(zj) > np.float64(sz[j]) * z_scale
            ds[j] = np.float64(dj) > np.float64(sd[j]) * d_scale
    ones = 0
    for j in range(x.size):
        ones += x[j] != 0
    return ones


def bsl_hidden_open(t: np.ndarray, flags: np.ndarray, n_open: int) -> np.ndarray:
    """numpy's float32 tanh of the arguments :func:`bsl_hidden_decide` left open, in flat order
    (an empty array where none is)."""
    if not n_open:
        return _NO_TANH
    return np.tanh(t.reshape(-1)[flags.view(np.bool_)])


_NO_TANH = np.empty(0, dtype=np.float32)


@njit(cache=True)
def bsl_output_draws(p, labels, rng):
    """The output comparators zs = p > u (the LFSR bank ``rng``, LfsrRng.kernel_state, lanes
    advanced in place), then :func:`bsl_output_error_rows`: (delta as int8, its non-zeros)."""
    zs = np.empty(p.shape, dtype=np.int8)
    delta = np.empty(p.shape, dtype=np.int8)
    return delta, _output_draws_into(p, labels, rng, zs, delta)


@njit(cache=True, inline="always")  # Why: shared by two kernels
def _output_draws_into(p, labels, rng, zs, delta):
    """:func:`bsl_output_draws` into ``zs`` (the comparators) and ``delta`` (int8, shaped as p):
    delta's non-zeros."""
    tables, lanes, scale, wide = rng
    states = np.empty(p.size, dtype=np.uint32)
    kernels.lfsr_states(tables, lanes, p.size // lanes.size, states)
    kernels.lfsr_compare(p.reshape(-1), states, scale, wide, zs.reshape(-1))
    return _output_error_into(zs, labels, delta)


@njit(cache=True, inline="always")  # Why: shared by two kernels
def _error_down_into(v, ds, error):
    """:func:`bsl_error_down_rows` into ``error`` (int8, shaped as v): its non-zeros."""
    flat = v.reshape(-1)
    dflat = ds.reshape(-1)
    out = error.reshape(-1)
    n = 0
    for j in range(flat.size):
        s = 1 if flat[j] > 0 else (-1 if flat[j] < 0 else 0)
        out[j] = np.int8(s * dflat[j])
        n += out[j] != 0
    return n


@njit(cache=True)
def bsl_error_down_rows(v, ds):
    """sign(v) x ds as int8 (sign(0) = 0): the error of the layer below, and its non-zeros."""
    out = np.empty(v.shape, dtype=np.int8)
    return out, _error_down_into(v, ds, out)


def bsl_error_down_rows_reference(v, ds):
    e = (np.sign(v).astype(np.int8) * ds).astype(np.int8)
    return e, int(np.count_nonzero(e))


@njit(cache=True)
def bp_error_drive_rows(d, mode, scale, v_min, lsb, top, driven):
    """The errors as the column drivers apply them (rules.backprop.error_path's drive): ``mode``
    0 as they are (d itself; ``driven`` untouched), 1 their sign, 2 the error DAC's levels of
    d / scale (kernels.quantize_levels' arithmetic), into ``driven`` (shaped as d). Returns
    (non-zeros, a NaN met by the DAC)."""
    if mode == 0:
        return nonzeros(d), False
    out = driven.reshape(-1)
    if mode == 1:  # numpy's sign: sign(-0.0) is +0.0 (numba's np.sign keeps -0.0), NaN stays
        for j, v in enumerate(d.reshape(-1)):
            out[j] = 1.0 if v > 0.0 else (-1.0 if v < 0.0 else (v if v != v else 0.0))
        return nonzeros(out), False
    flat = d.reshape(-1)
    ftop = np.float64(top)
    nan = False
    for j in range(flat.size):
        v = flat[j] / scale
        nan |= v != v
        out[j] = v_min + (min(max(np.ceil((v - v_min) / lsb - 0.5), 0.0), ftop) + 0.0) * lsb
    return nonzeros(out), nan


def bp_error_drive_rows_reference(d, mode, scale, v_min, lsb, top):
    from cimest.engine.peripherals import dac_values

    if mode == 0:
        out = d
    elif mode == 1:
        out = np.sign(d)
    else:
        out = dac_values(d / scale, int(top).bit_length(), v_min, v_min + top * lsb)
    return out, int(np.count_nonzero(out))


@njit(cache=True)
def program_layer(g, idx, n, xi, d2d, coef, can_pot, can_dep, pulses, geometry, cache, ref_row):
    """rules.common.program_at of a reference-column layer, then after_update's refresh of its
    read weights at the devices changed, in one pass: the pulse trains
    (devices.kernels.pulse_trains, one normal of ``xi`` per pulse), wear and write steps
    (kernels.program_meter), weights (g - G_ref) / G0 as float32 into ``cache``. ``coef``: pot
    R x ratio, pot c, dep R x ratio, dep c, gamma_p, gamma_d, Gmin, Gmax, the ideal G_ref, G0;
    ``ref_row``: the rows' reference devices, or empty. Returns (the direction asked of a device
    that cannot program it, as pulse_trains; SET pulses, RESET pulses, SET and RESET write steps,
    the new conductances all finite)."""
    missing = device_kernels.pulse_trains(
        g,
        idx,
        n,
        xi,
        d2d,
        (coef[0], coef[1]),
        (coef[2], coef[3]),
        coef[4],
        coef[5],
        coef[6],
        coef[7],
        can_pot,
        can_dep,
    )
    if missing != 0:
        return missing, 0, 0, 0, 0, True
    n_set, n_reset, set_steps, reset_steps = kernels.program_meter(
        idx,
        n,
        pulses,
        geometry[0],
        geometry[1],
        geometry[2],
        geometry[3],
        geometry[4],
        geometry[5],
    )
    finite = True
    for k in idx:
        finite &= np.isfinite(g[k])
    if not finite:
        return 0, n_set, n_reset, set_steps, reset_steps, False
    n_out = geometry[0]
    for k in idx:
        ref = ref_row[k // n_out] if ref_row.size else coef[8]
        cache[k] = np.float32((g[k] - ref) / coef[9])
    return 0, n_set, n_reset, set_steps, reset_steps, True


@njit(cache=True)
def program_refresh(
    g, idx, n, xi, d2d, coef, can_pot, can_dep, pulses, geometry, cache, ref_row, tally
):
    """fast_batch.program_layer (the pulse trains, wear and write steps, the refreshed read
    weights), its counts added to ``tally`` (the Meter's, held back): devices programmed, SET
    pulses, RESET pulses, write steps and SET write steps. Returns (missing direction as
    pulse_trains, the new conductances all finite)."""
    missing, n_set, n_reset, set_steps, reset_steps, finite = program_layer(
        g, idx, n, xi, d2d, coef, can_pot, can_dep, pulses, geometry, cache, ref_row
    )
    if missing != 0:
        return missing, True
    tally[0] += idx.size
    tally[1] += n_set
    tally[2] += n_reset
    tally[3] += set_steps + reset_steps
    tally[4] += set_steps
    return 0, finite


@njit(cache=True)
def bp_forward(xb, in_q, W, X, X32, Y, D, adc, tab_x, tab_d, out_q, shifted, tally):
    """rules.backprop's forward pass of a batch with its products in the kernel (blas.matmul,
    np.matmul's bits): the input DAC (levels_nnz), each hidden layer's product and look-up
    (bp_hidden_lookup), the output's product and shifted ADC levels (output_shifted_rows) into
    ``shifted``, each layer's driven inputs added to its row of ``tally`` (Programmer.tally).
    Per layer (tuples): W its float32 read weights, X and X32 its input (float64, float32), Y
    its pre-activation (float32); per hidden layer: D its derivative, tab_x and tab_d its
    tables, ``adc`` its row (v_min, lsb, top).
    Returns 0, -1 for a NaN at the input DAC, or k >= 1 where layer k - 1's products were not
    all finite (the output layer's included)."""
    c, nan = levels_nnz(xb, in_q[0], in_q[1], np.int64(in_q[2]), X[0], X32[0])
    if nan:
        return -1
    tally[0, 5] += c
    n_hidden = len(D)
    for i in range(n_hidden):
        blas.matmul(X32[i], False, W[i], False, Y[i])
        c, finite = bp_hidden_lookup(
            Y[i],
            adc[i, 0],
            adc[i, 1],
            np.int64(adc[i, 2]),
            tab_x[i],
            tab_d[i],
            X[i + 1],
            X32[i + 1],
            D[i],
        )
        if not finite:
            return i + 1
        tally[i + 1, 5] += c
    blas.matmul(X32[n_hidden], False, W[n_hidden], False, Y[n_hidden])
    if not output_shifted_rows(Y[n_hidden], out_q[0], out_q[1], np.int64(out_q[2]), shifted):
        return n_hidden + 1
    return 0


@njit(cache=True)
def bp_backward(
    delta,
    below,
    scale,
    mode,
    drive_q,
    driven,
    wb,
    wb64,
    v,
    adc_back,
    read_q,
    dz,
    error,
    x,
    G,
    residual,
    neg_eta,
    n_steps,
    cap,
    counts,
    idx,
    n,
):
    """One layer of rules.backprop's backward pass and update with its products in the kernel
    (blas.matmul): if ``below`` (a layer under this one), the errors ``delta`` driven
    (bp_error_drive_rows into ``driven``) through the backward weights ``wb`` (float32, as
    float64 in ``wb64``: numpy's cast of the float32 operand) into ``v`` and read out times the
    derivative ``dz`` (bp_error_read_rows) into ``error``; then the gradient x^T delta into G and
    the gradient memory (bp_residual_batch). Returns (0, or 1 for a NaN at the error DAC, 2 at the
    error ADC; the driven errors' non-zeros, the read errors' largest magnitude and non-zeros,
    the pulsed devices, the pulses)."""
    driven_nnz, peak, error_nnz = 0, 0.0, 0
    if below:
        driven_nnz, nan = bp_error_drive_rows(
            delta, mode, scale, drive_q[0], drive_q[1], np.int64(drive_q[2]), driven
        )
        if nan:
            return 1, 0, 0.0, 0, 0, 0
        w, w64 = wb.reshape(-1), wb64.reshape(-1)
        for j in range(w.size):
            w64[j] = np.float64(w[j])
        blas.matmul(delta if mode == 0 else driven, False, wb64, True, v)
        peak, error_nnz, nan = bp_error_read_rows(
            v, adc_back, read_q[0], read_q[1], np.int64(read_q[2]), scale, dz, error
        )
        if nan:
            return 2, 0, 0.0, 0, 0, 0
    blas.matmul(x, True, delta, False, G)
    m, pulses = bp_residual_batch(
        residual, G.reshape(-1), neg_eta, delta.shape[0], n_steps, cap, counts, idx, n
    )
    return 0, driven_nnz, peak, error_nnz, m, pulses


@njit(cache=True)
def bp_backward_all(
    p,
    labels,
    at,
    first,
    start,
    scale,
    peak,
    nnz,
    mode,
    drive_q,
    Q,
    WB,
    WB64,
    V,
    adc_back,
    read_q,
    Dz,
    E,
    X,
    G,
    R,
    neg_eta,
    n_steps,
    cap,
    C,
    K,
    N,
    counts,
    tally,
):
    """rules.backprop's output error and its backward pass and updates, every layer in one
    kernel (bp_backward's, from the top down): the softmax error in place of p (softmax_rows,
    its loss argument into ``at``), then per layer i <= ``start`` its error drive, the error read
    down (errors from E[i + 1], the layer above's read-out, or p at the top) and its gradient
    memory. Per layer (tuples): Q its driven errors, WB its float32 backward weights (WB64 as
    float64), V their product, E the errors read down to the layer below, X its input, G its
    gradient, R its flat gradient memory, C, K, N bp_residual_batch's scratch; Dz per hidden
    layer its derivative. Into ``counts`` (layers x 2): the pulsed devices and the pulses; each
    layer's errors driven added to its row of ``tally`` (Programmer.tally).
    The ``first`` call starts at the top with the softmax; a later one resumes at layer
    ``start`` where a scale was asked for, with that ``scale`` (``peak`` and ``nnz`` as the
    layer above left them). Returns (0; 1 a NaN at the error DAC, 2 at the error ADC, 3 a scale
    only numpy's log2 decides; the layer; its errors' peak and non-zeros; the pulses of the
    layers updated)."""
    top = len(X) - 1
    total = 0
    if first:
        peak, nnz = softmax_rows(p, labels, True, at)
        start = top
    for i in range(start, -1, -1):
        delta = p if i == top else E[i + 1]
        s = scale
        if i > 0 and (first or i != start):
            s = pow2_scale(peak, mode)
            if s == 0.0:
                return 3, i, peak, nnz, total
        dz = Dz[i - 1] if i > 0 else E[i]  # the first layer reads no error down
        status, driven, peak_i, nnz_i, m, pulses = bp_backward(
            delta,
            i > 0,
            s,
            mode,
            drive_q,
            Q[i],
            WB[i],
            WB64[i],
            V[i],
            adc_back,
            read_q,
            dz,
            E[i],
            X[i],
            G[i],
            R[i],
            neg_eta,
            n_steps,
            cap,
            C[i],
            K[i],
            N[i],
        )
        if status:
            return status, i, peak, nnz, total
        # the errors its column drivers apply: as driven above the first layer, there as read
        tally[i, 6] += driven if i > 0 else nnz
        peak, nnz = peak_i, nnz_i
        counts[i, 0] = m
        counts[i, 1] = pulses
        total += pulses
    return 0, 0, peak, nnz, total


@njit(cache=True)
def bp_train(xb, labels, p, at, forward, backward):
    """A whole batch of rules.backprop but its programming, in one kernel, where libm.matches:
    bp_forward (``forward``: its arguments after xb), np.exp of the shifted levels ``p`` in
    place, the softmax error (softmax_rows, each sample's probability of its label into ``at``),
    the sum of their np.log (numpy's order: kernels.pairwise_sum; ``at`` keeps the logs), then
    bp_backward_all from the top (``backward``: its arguments after nnz). Returns (bp_forward's
    status; bp_backward_all's status, layer, peak, non-zeros and pulses, status 3 with the top
    layer where numpy's log2 decides its scale; the summed log-likelihoods)."""
    status = bp_forward(xb, *forward)
    if status:
        return status, 0, 0, 0.0, 0, 0, 0.0
    flat = p.reshape(-1)
    for j in range(flat.size):
        flat[j] = np.exp(flat[j])
    peak, nnz = softmax_rows(p, labels, True, at)
    for j in range(at.size):
        at[j] = np.log(at[j])
    log_sum = 0.0 + kernels.pairwise_sum(at, 0, at.size)
    top = len(forward[1]) - 1
    scale = pow2_scale(peak, backward[0])
    if scale == 0.0:
        return 0, 3, top, peak, nnz, 0, log_sum
    b_status, i, peak, nnz, total = bp_backward_all(
        p, labels, at, False, top, scale, peak, nnz, *backward
    )
    return 0, b_status, i, peak, nnz, total, log_sum


@njit(cache=True)
def program_layers(
    G, K, N, counts, xi, D2D, coef, can_pot, can_dep, PULSES, GEOM, CACHE, REF, tally
):
    """program_refresh of every layer from the top down (its devices K[i][:m], pulses N[i][:m],
    with m and the pulses from ``counts`` as bp_backward_all left them), the normals ``xi`` taken
    in that order. Per layer (tuples): its flat conductances G, device-to-device multipliers,
    wear counts, geometry, flat read-weight cache and row references as Programmer.views gives
    them; ``tally`` its rows. Returns (-1, or the layer where programming stopped; the missing
    direction there, 0 for a non-finite conductance)."""
    first = 0
    for i in range(len(G) - 1, -1, -1):
        m, pulses = counts[i, 0], counts[i, 1]
        if m == 0:
            continue
        missing, finite = program_refresh(
            G[i],
            K[i][:m],
            N[i][:m],
            xi[first : first + pulses],
            D2D[i],
            coef,
            can_pot,
            can_dep,
            PULSES[i],
            GEOM[i],
            CACHE[i],
            REF[i],
            tally[i],
        )
        first += pulses
        if missing != 0:
            return i, missing
        if not finite:
            return i, 0
    return -1, 0


@njit(cache=True)
def bsl_forward(stage, xb, rngs, W, X, Y, T, DS, gain, out_q, shifted, tally, lazy, th, n_open):
    """One stage of rules.binary_stochastic.forward of a batch drawn from LFSR banks, between the
    calls of numpy's float32 tanh (whose bits are its SIMD loop's) on the values a candidate
    leaves open, with its product in the kernel (blas.matmul, np.matmul's bits). Stage 0: the
    input comparators xb > u into X[0]; stage k >= 1: hidden layer k - 1's read-out into X[k] and
    DS[k - 1], settled from th, numpy's tanh of the ``n_open`` values the last stage left open
    (:func:`bsl_hidden_settle`). Then the product X[k] @ W[k] into Y[k] and, below the output
    layer, its tanh argument into T[k] (:func:`bsl_sigmoid_pre`) and the read-out's comparators
    decided from it where they can be (:func:`bsl_hidden_decide`), at the output layer its
    shifted ADC levels into ``shifted`` (:func:`output_shifted_rows`); X[k]'s ones (the rows they
    drive) added to tally[k, 5] (Programmer.tally: inputs driven). Per layer (tuples): W its
    float32 read weights, X its input and Y its pre-activation (float32); per hidden layer: T its
    tanh argument, DS its derivative's comparators (int8). ``rngs``: the LFSR banks'
    LfsrRng.kernel_state (lanes advanced in place) in the order the stages draw them (input, then
    z and d of each hidden layer, then the output); ``lazy``: (the draws of z and d (uint32),
    the values left open (uint8 flags) and their indices (int64), each flat per hidden layer,
    and the margin: libm.tanh_margin). Returns (the output all finite, True below the output
    layer; the values of T[k] left open, 0 at the output layer)."""
    SZ, SD, OPEN, WHERE, margin = lazy
    if stage == 0:
        tables, lanes, scale, wide = rngs[0]
        tally[0, 5] += kernels.lfsr_exceeds(tables, lanes, xb, scale, wide, X[0])
    else:
        k = stage - 1
        z_rng, d_rng = rngs[2 * k + 1], rngs[2 * k + 2]
        x, ds = X[stage].reshape(-1), DS[k].reshape(-1)
        tally[stage, 5] += bsl_hidden_settle(
            th, OPEN[k], n_open, gain, z_rng, d_rng, SZ[k], SD[k], x, ds, WHERE[k]
        )
    blas.matmul(X[stage], False, W[stage], False, Y[stage])
    if stage < len(T):
        _sigmoid_pre_into(Y[stage], gain, T[stage])
        z_rng, d_rng = rngs[2 * stage + 1], rngs[2 * stage + 2]
        t, x, ds = T[stage].reshape(-1), X[stage + 1].reshape(-1), DS[stage].reshape(-1)
        n = bsl_hidden_decide(
            t, gain, z_rng, d_rng, SZ[stage], SD[stage], x, ds, OPEN[stage], margin
        )
        return True, n
    return output_shifted_rows(Y[stage], out_q[0], out_q[1], np.int64(out_q[2]), shifted), 0


@njit(cache=True)
def bsl_output(e, labels, at, rng, zs, delta, take_exp):
    """From e = exp(shifted levels) (with ``take_exp``, e the shifted levels, their np.exp taken
    here in place: where libm.matches): softmax_rows' p in place of e (and at each row's label
    into ``at``), then the output comparators and error (:func:`bsl_output_draws`) into ``zs``
    and ``delta``. Returns delta's non-zeros."""
    if take_exp:
        flat = e.reshape(-1)
        for j in range(flat.size):
            flat[j] = np.exp(flat[j])
    softmax_rows(e, labels, False, at)
    return _output_draws_into(e, labels, rng, zs, delta)


@njit(cache=True)
def bsl_backward(
    D, D32, WB, V, DS, X, ACC, lo, hi, theta, IDX, PULSES, nnz, counts, tally, logs, take_log
):
    """rules.binary_stochastic's backward pass and update of every layer, from the top, with its
    products in the kernel (blas.matmul): above the first layer, the errors D[i] (int8) as float32
    (into D32[i]) through the float32 backward weights WB[i]^T into V[i], their sign times the
    derivative's comparators DS[i - 1] into D[i - 1] (:func:`bsl_error_down_rows`); then the
    integer gradient and accumulator (:func:`grad_steps`) on ACC[i] (int32, C-contiguous) with the
    inputs X[i], its steps into IDX[i] and PULSES[i]. Into counts[i]: (the steps, their pulses),
    as program_layers reads them; added to each layer's row of ``tally`` (Programmer.tally): the
    errors driven (``nnz`` at the top: the output error's non-zeros) and the gradient terms.
    Returns (``logs``.sum() (numpy's order: kernels.pairwise_sum; the batch's log-likelihoods,
    summed here to save a numpy call; with ``take_log``, ``logs`` holds the probabilities and
    their np.log is taken here in place first: where libm.matches), the pulses of every
    layer)."""
    if take_log:
        for j in range(logs.size):
            logs[j] = np.log(logs[j])
    total = 0
    for i in range(len(X) - 1, -1, -1):
        d = D[i]
        tally[i, 6] += nnz
        if i > 0:
            f = D32[i].reshape(-1)
            df = d.reshape(-1)
            for j in range(df.size):
                f[j] = np.float32(df[j])
            blas.matmul(D32[i], False, WB[i], True, V[i])
            nnz = _error_down_into(V[i], DS[i - 1], D[i - 1])
        m, terms = grad_steps(ACC[i].reshape(-1), X[i], d, lo, hi, theta, -1, IDX[i], PULSES[i])
        tally[i, 7] += terms
        pulses = 0
        for k in range(m):
            pulses += abs(PULSES[i][k])
        counts[i, 0] = m
        counts[i, 1] = pulses
        total += pulses
    return 0.0 + kernels.pairwise_sum(logs, 0, logs.size), total


@njit(cache=True)
def bsl_tail(forward, output, head, tail):
    """The output stage of bsl_forward (``forward``: its arguments), bsl_output (``output``:
    its arguments, the exp taken inside) and bsl_backward (``head``: its arguments before nnz,
    ``tail`` after, the log taken inside) in one kernel, where libm.matches. Returns (the output
    all finite; the summed log-likelihoods and the pulses, 0.0 and 0 where not)."""
    finite, _ = bsl_forward(*forward)
    if not finite:
        return False, 0.0, 0
    nnz = bsl_output(*output)
    log_sum, total = bsl_backward(*head, nnz, *tail)
    return True, log_sum, total


# --- the steps ---------------------------------------------------------------------------------


def _quantizer(bits: int, v_min: float, v_max: float) -> tuple[float, float, int]:
    """(v_min, lsb, top) of peripherals._quantize."""
    top = (1 << int(bits)) - 1
    return float(v_min), (v_max - v_min) / top, top


def _diverged(state: EngineState, name: str, what: str) -> TrainingError:
    """rules.common.check_finite's error."""
    return TrainingError(
        f"epoch {state.epoch + 1}, layer {name}: {what} became NaN or infinite; "
        "lower the learning rate or check the cell parameters"
    )


def _nan(what: str) -> TrainingError:
    """peripherals._quantize's error."""
    return TrainingError(f"{what}: input contains NaN (training diverged?)")


class _Bound:
    """Kernels bound to the types of their arguments: ``bound(kernel, *args)`` calls the
    kernel's compiled function for the types the arguments had at its first call here (numba's
    typeof, compiled or loaded from numba's cache if need be), not through its dispatcher.

    Why: the dispatcher finds the type of every argument at every call, which took 5.7 us for
    bsl_tail's nested tuples of some 60 arrays, where the call itself takes 2.2. A step's held
    operands keep their types, so they need it once. The compiled function does not check its
    arguments: one _Bound serves only calls whose arguments keep their types (the held
    operands, and batches of one dtype: :func:`_calls_for`)."""

    # per kernel and the properties its arguments' types depend on (_type_key), the compiled
    # function. Why: numba's typeof takes 8 us an array (0.7 ms for bsl_tail's arguments), which
    # a short run of a few hundred steps would feel at each batch size
    _found: dict = {}

    def __init__(self):
        self._compiled: dict = {}

    def __call__(self, kernel, *args):
        run = self._compiled.get(kernel)
        if run is None:
            run = kernel  # a plain function as is (the tests wrap kernels)
            if isinstance(kernel, Dispatcher):
                key = (kernel, _type_key(args))
                run = self._found.get(key)
                if run is None:
                    sig = tuple(map(numba.typeof, args))
                    kernel.compile(sig)
                    run = self._found[key] = kernel.get_overload(sig)
            self._compiled[kernel] = run
        return run(*args)


def _type_key(v):
    """What numba's typeof of a kernel's argument depends on: an array's dtype, dimensions,
    layout and writability, a tuple's elements' (nested), another value's numba type."""
    if type(v) is np.ndarray:
        f = v.flags
        return v.dtype, v.ndim, f.c_contiguous, f.f_contiguous, f.writeable
    if type(v) is tuple:
        return ("tuple", *map(_type_key, v))
    return numba.typeof(v)


def _dispatch(kernel, *args):
    """kernel(*args), through numba's dispatcher: how a step calls its kernels on operands it
    does not hold."""
    return kernel(*args)


def _calls_for(held: SimpleNamespace | None, xb: np.ndarray, labels: np.ndarray) -> Callable:
    """How a step calls its kernels, ``call(kernel, *args)``: through the _Bound of its held
    operands (their ``bound``: per dtype of the batch) for this batch's C-contiguous samples and
    labels, else (operands not held, or the batch's arrays not plain: writable and aligned, as a
    batch's indexing makes them) through numba's dispatcher."""
    if held is None:
        return _dispatch
    for a in (xb, labels):
        flags = a.flags
        if not (flags.writeable and flags.aligned):
            return _dispatch
    bound = held.bound.get(xb.dtype)
    if bound is None:
        bound = held.bound[xb.dtype] = _Bound()
    return bound


def batch_step(setup: Setup, single: Step) -> Step:
    """``single`` (the step for one sample) with batches of two or more samples taken by the fused
    step, where it applies: the designs fast.batch1_step covers (all-dense, reference-column Li
    pulse devices, not the float reference; backprop with DACs, a gradient memory, a softmax
    output, gradients from the driven rows and one learning rate)."""
    g = setup.graph
    if setup.ideal or setup.variant != "memristor" or not isinstance(setup.device, LiPulseDevice):
        return single
    if setup.spec.crossbar.weight_encoding != "reference_column":
        return single
    if any(lm.kind != "dense" or lm.pool is not None for lm in g.layers):
        return single
    if setup.rule == "backprop":
        drivers = [g.plan(lm.name).per.input_driver for lm in g.layers]
        # Why: as fast.batch1_step (on/off drivers binarise at 0.5, no gradient memory rounds)
        if any(d.kind != "dac" for d in drivers):
            return single
        if setup.spec.peripherals.gradient_accumulator is None:
            return single
        # options of the full-precision rules this step does not model (a sigmoid output,
        # gradients from the activation, per-layer learning rates) take the general rule
        alg = setup.spec.algorithm
        if alg.output != "softmax" or alg.gradient_input != "driven" or alg.per_layer:
            return single
        many = _backprop_step(setup)
    elif setup.rule == "binary_stochastic":
        many = _bsl_step(setup)
    else:
        return single

    def step(setup_: Setup, state, xb, yb, meter) -> float:
        if xb.shape[0] < 2:
            return single(setup_, state, xb, yb, meter)
        return many(state, xb, yb, meter)

    return step


class Programmer:
    """Pulse trains on a reference-column layer, its wear and write-step meters and the refresh of
    its read weights (:func:`program_refresh`), with the device's constants gathered once, the
    flat views of each layer's arrays made once (remade when the state holds another array), and
    the counts held back from the Meter until it settles."""

    def __init__(self, setup: Setup):
        dev = setup.device
        m = dev.model
        pot = pulse._range_coefficients(m, "pot")
        dep = pulse._range_coefficients(m, "dep")
        self.model = m
        self.coef = np.array(
            [*pot, *dep, m.gamma_p, m.gamma_d, m.g_min_s, m.g_max_s, dev.reference_s(), m.g0_s],
            dtype=np.float64,
        )
        self.can_pot, self.can_dep = m.n_p > 0, m.n_d > 0
        self.device = (self.coef, self.can_pot, self.can_dep)  # as the kernels take them
        self.geometry = tuple(
            np.array(_geometry(setup, lm.name), dtype=np.int64) for lm in setup.graph.layers
        )
        self._views = [None] * len(setup.graph.layers)
        self._stacked = None  # program_all's tuples of the views, and the views they came from
        # counts held back from the Meter until it settles: per layer, devices programmed, SET
        # pulses, RESET pulses, write steps, SET write steps, inputs and errors driven and
        # gradient terms (where a kernel counts them, else the step adds them to the Meter); and
        # the steps taken, each one
        # update of every layer, and their samples (backprop: each n_in x n_out gradient terms)
        self.names = [lm.name for lm in setup.graph.layers]
        self.tally = np.zeros((len(self.names), 8), dtype=np.int64)
        self.steps = 0
        self.samples = 0
        self.terms_per_step = (
            [lm.n_weights for lm in setup.graph.layers] if setup.rule == "backprop" else None
        )
        self._meter = None

    def attach(self, meter: Meter, batch: int = 1) -> list:
        """A step of ``batch`` samples starts that counts into ``meter``: its updates and
        programming are held here until the meter settles (a step that saw another meter adds its
        counts there first). Returns the meter's activity per layer."""
        if meter is not self._meter:
            self.flush()
            self._meter = meter
            self._acts = [meter.activity[n] for n in self.names]
            meter.hold(self.flush)
        self.steps += 1
        self.samples += batch
        return self._acts

    def flush(self) -> None:
        """Add the held counts to the meter's activity (integers: exact in any grouping)."""
        if self._meter is None or not self.steps:
            return
        for i, name in enumerate(self.names):
            a = self._meter.activity[name]
            n_dev, n_set, n_reset, steps, set_steps, inputs, errors, terms = self.tally[i].tolist()
            a.inputs_driven += inputs
            a.errors_driven += errors
            a.gradient_terms += terms
            a.devices_programmed += n_dev
            a.set_pulses += n_set
            a.reset_pulses += n_reset
            a.program_steps += steps
            a.program_set_steps += set_steps
            a.updates += self.steps
            if self.terms_per_step is not None:
                a.gradient_terms += self.samples * self.terms_per_step[i]
        self.tally[:] = 0
        self.steps = 0
        self.samples = 0

    def views(self, ls, i: int, cache: np.ndarray) -> tuple:
        """Layer ``i``'s flat conductances, device-to-device multipliers, wear counts, read-weight
        cache and row references as program_refresh takes them. Why kept: made once, not at every
        update (each is a numpy call); remade whenever the state holds another array."""
        v = self._views[i]
        if (
            v is not None
            and v[0] is ls.g
            and v[1] is ls.pulses
            and v[2] is ls.d2d
            and v[3] is ls.ref_row
            and v[4] is cache
        ):
            return v[5]
        g = ls.g = np.ascontiguousarray(ls.g, dtype=np.float64)
        ls.pulses = np.ascontiguousarray(ls.pulses)
        flat = (
            g.reshape(-1),
            pulse._flat_d2d(ls.d2d, g.shape),
            ls.pulses.reshape(-1),
            cache.reshape(-1),
            device_kernels.NO_D2D if ls.ref_row is None else ls.ref_row,
        )
        self._views[i] = (ls.g, ls.pulses, ls.d2d, ls.ref_row, cache, flat)
        return flat

    def program(self, state, i, name, idx, n, xi, cache) -> None:
        """Pulse the devices at ``idx`` (counts ``n``, their normals ``xi``), meter and refresh."""
        if idx.size == 0:  # program_at's meter calls, and nothing else
            return
        g, d2d, pulses, flat_cache, ref_row = self.views(state.layers[i], i, cache)
        device, geometry, tally = self.device, self.geometry[i], self.tally[i]
        missing, finite = program_refresh(
            g, idx, n, xi, d2d, *device, pulses, geometry, flat_cache, ref_row, tally
        )
        if missing or not finite:
            self._failed(state, name, missing)

    def _failed(self, state, name: str, missing: int) -> None:
        """Raise what a programming kernel reported: a direction the device cannot program
        (``missing``, as pulse_trains), else non-finite conductances."""
        if missing:
            pulse._require_programmable(self.model, "pot" if missing > 0 else "dep")
        raise _diverged(state, name, "weights")

    def operands(self, state, W) -> tuple:
        """(flat conductances, device-to-device multipliers, wear counts, read-weight caches,
        row references) of every layer, as tuples for program_layers (the views of
        :meth:`views`; kept while they are the same)."""
        flats = [
            self.views(ls, i, w) for i, (ls, w) in enumerate(zip(state.layers, W, strict=True))
        ]
        if self._stacked is None or any(
            a is not b for a, b in zip(flats, self._stacked[0], strict=True)
        ):
            self._stacked = (flats, tuple(zip(*flats, strict=True)))
        return self._stacked[1]

    def program_all(self, state, W, K, N, counts, xi, operands=None, call=_dispatch) -> None:
        """Every layer's pulses at once (program_layers: the devices K[i][:m], pulses N[i][:m],
        m and the pulses from ``counts``, normals ``xi`` from the top layer down), metered and
        refreshed as :meth:`program` does; ``operands`` those :meth:`operands` gave for this
        state and W (else made here); ``call`` how the kernel is called (_calls_for)."""
        if operands is None:
            operands = self.operands(state, W)
        g, d2d, pulses, cache, ref_row = operands
        args = (*(g, K, N, counts, xi, d2d), *self.device, pulses, self.geometry, cache, ref_row)
        args += (self.tally,)
        i, missing = call(program_layers, *args)
        if i >= 0:
            self._failed(state, self.names[i], missing)


# a layer's arrays the fused steps' kernels hold views or tuples of
_layer_arrays_names = ("residual", "g", "pulses", "d2d", "ref_row", "ref_col")
_layer_arrays = operator.attrgetter(*_layer_arrays_names)


def _same(now: tuple, held: tuple) -> bool:
    """Whether a state holds the very objects it held (by identity: an equal copy is another
    array, which the held operands do not view)."""
    return len(now) == len(held) and all(map(operator.is_, now, held))


class _Rows:
    """Arrays for the batches of a run, made once: each the workload's batch size long in its
    first dimension, a batch taking its first B rows (contiguous). Why: the epoch's last, shorter
    batch then works in the memory the full batches keep in cache (in arrays of its own, a
    backprop step of 25 samples took longer than one of 64)."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self._made: dict = {}

    def __call__(self, key: tuple, B: int, *shape: int, dtype=np.float64) -> np.ndarray:
        """The first B rows of the array ``key`` (batch size x shape)."""
        a = self._made.get(key)
        if a is None or a.shape[0] < B:
            a = self._made[key] = np.empty((max(B, self.batch_size), *shape), dtype=dtype)
        return a[:B]

    def once(self, key: tuple, *shape: int, dtype=np.float64) -> np.ndarray:
        """The array ``key`` of a shape no batch size changes."""
        a = self._made.get(key)
        if a is None:
            a = self._made[key] = np.empty(shape, dtype=dtype)
        return a


class _Scratch:
    """Arrays a step writes and reads within itself (never kept past it), made by ``make(B)``
    once per batch size B (a run has two: its batch size and its last, shorter batch)."""

    def __init__(self, make: Callable[[int], object]):
        self.make = make
        self._by_batch: dict[int, object] = {}

    def __call__(self, batch: int):
        got = self._by_batch.get(batch)
        if got is None:
            got = self._by_batch[batch] = self.make(batch)
        return got


def _output(state, x32, w, out_q, labels, name, buf):
    """The staged BSL step's output layer: its MVM (float32 ``x32``), ADC and softmax, in
    ``buf``'s "y" (B x n_out, float32), "p" (B x n_out) and "at" (B). Returns (p, the batch's
    summed loss)."""
    p, at = buf["p"], buf["at"]
    if not output_shifted_rows(np.matmul(x32, w, out=buf["y"]), *out_q, p):
        raise _diverged(state, name, "output")
    np.exp(p, out=p)
    softmax_rows(p, labels, False, at)
    # -sum(log) is sum(-log) bit for bit: rounding to nearest is symmetric in sign
    return p, -float(np.log(at, out=at).sum())


def backprop_periphery(setup: Setup) -> tuple:
    """What the fused backprop steps (this module's and fast.py's) read of the peripherals, fixed
    for the run: per hidden layer (its read-out ADC (v_min, lsb, top), then hidden_tables'
    next-input and derivative tables), the output ADC, the error drive's mode (0 as they are,
    1 their sign, 2 an error DAC) and its quantizer, whether an ADC reads the errors out and its
    quantizer, and the most pulses per update."""
    g = setup.graph
    names = [lm.name for lm in g.layers]
    per = setup.spec.peripherals
    a = float(setup.gain)
    hidden = []
    for i in range(len(names) - 1):
        r = FORWARD_RANGE / a
        adc = _quantizer(g.plan(names[i]).readout_spec.bits, -r, r)
        dac_bits = g.plan(names[i + 1]).per.input_driver.bits
        hidden.append((adc, *hidden_tables(a, adc, dac_bits)))
    out_q = _quantizer(g.plan(names[-1]).per.output_readout.bits, -OUTPUT_RANGE, OUTPUT_RANGE)
    analog = per.backward is None
    err_dac = analog and per.error_input.kind == "dac"
    mode = 2 if err_dac else (1 if analog else 0)
    drive_q = _quantizer(per.error_input.bits, -1.0, 1.0) if err_dac else (0.0, 1.0, 1)
    adc_back = analog and per.error_readout.kind == "adc"
    read_q = (
        _quantizer(per.error_readout.bits, -BACKWARD_RANGE, BACKWARD_RANGE)
        if adc_back
        else (0.0, 1.0, 1)
    )
    upd = per.update
    cap = upd.max_pulses if upd.kind == "pulse_train" else 1
    return hidden, out_q, mode, drive_q, adc_back, read_q, cap


def _backprop_step(setup: Setup):
    """rules.backprop.train_batch of a batch of two or more samples: with its products inside the
    kernels (bp_forward, bp_backward_all; then program_layers) where blas.matches says numpy's
    BLAS gives np.matmul's bits for every product at this batch size, else staged around
    np.matmul."""
    g = setup.graph
    layers = g.layers
    names = [lm.name for lm in layers]
    in_q = _quantizer(setup.spec.workload.input_bits, 0.0, 1.0)
    hidden, out_q, mode, drive_q, adc_back, read_q, cap = backprop_periphery(setup)
    neg_eta = -setup.eta
    n_steps = setup.device.n_steps
    device = Programmer(setup)
    # the kernels' forms of the peripherals (tuples of one type each: a hidden layer at least)
    in_qa, out_qa, drive_qa, read_qa = (
        np.array(q, dtype=np.float64) for q in (in_q, out_q, drive_q, read_q)
    )
    adc = np.array([h[0] for h in hidden], dtype=np.float64).reshape(-1, 3)
    tab_x, tab_d = tuple(h[1] for h in hidden), tuple(h[2] for h in hidden)

    def products_match(B: int) -> bool:
        """Whether blas.matmul gives np.matmul's bits for each of the step's products at batch
        size B (forward float32 x W, backward float64 x float32 W^T, gradient x^T delta)."""
        if not hidden:
            return False
        for i, lm in enumerate(layers):
            a, b = lm.n_in, lm.n_out
            if not blas.matches(np.float32, B, a, b, False, False):
                return False
            if i > 0 and not blas.matches(np.float64, B, b, a, False, True, b_float32=True):
                return False
            if not blas.matches(np.float64, a, B, b, True, False):
                return False
        return True

    rows = _Rows(setup.spec.workload.batch_size)
    once = rows.once

    def make(B: int) -> tuple[dict, list[SimpleNamespace], SimpleNamespace]:
        """The output's shifted levels p and loss arguments at, and per layer: its input x (x32
        as float32), pre-activation y (float32) and derivative d, driven error q, product v of
        the errors through its backward weights (wb64: those as float64), error e read down to
        the layer below, gradient G (flat: Gf), gradient-memory counts c and pulsed devices k
        with their pulses n; and those as tuples across layers for the kernels, with whether
        their products may run inside them (``fused``)."""
        per_layer = []
        for i, lm in enumerate(layers):
            a, b = lm.n_in, lm.n_out
            G = once(("G", i), a, b)
            per_layer.append(
                SimpleNamespace(
                    x=rows(("x", i), B, a),
                    x32=rows(("x32", i), B, a, dtype=np.float32),
                    y=rows(("y", i), B, b, dtype=np.float32),
                    d=rows(("d", i), B, b),
                    q=rows(("q", i), B, b),
                    v=rows(("v", i), B, a),
                    wb64=once(("wb64", i), a, b),
                    e=rows(("e", i), B, a),
                    G=G,
                    Gf=G.reshape(-1),
                    c=once(("c", i), lm.n_weights),
                    k=once(("k", i), lm.n_weights, dtype=np.int64),
                    n=once(("n", i), lm.n_weights, dtype=np.int64),
                )
            )

        def each(key: str, of=per_layer) -> tuple:
            return tuple(getattr(b, key) for b in of)

        f = SimpleNamespace(
            **{k: each(k) for k in ("x", "x32", "y", "q", "wb64", "v", "e", "G", "c", "k", "n")},
            d=each("d", per_layer[:-1]),
            counts=np.zeros((len(layers), 2), dtype=np.int64),
            fused=products_match(B),
        )
        out = {"p": rows(("p",), B, layers[-1].n_out), "at": rows(("at",), B)}
        return out, per_layer, f

    scratch = _Scratch(make)
    top = len(layers) - 1

    def staged_forward(state, xb, W, buf, out_buf, acts) -> None:
        """The forward pass around np.matmul into ``buf`` and out_buf["p"] (the output's shifted
        levels)."""
        b = buf[0]
        nnz, nan = levels_nnz(xb, *in_q, b.x, b.x32)
        if nan:
            raise _nan("dac_levels")
        for i, (adc_i, tx, td) in enumerate(hidden):
            acts[i].inputs_driven += nnz
            b, up = buf[i], buf[i + 1]
            y = np.matmul(b.x32, W[i], out=b.y)
            nnz, finite = bp_hidden_lookup(y, *adc_i, tx, td, up.x, up.x32, b.d)
            if not finite:
                raise _diverged(state, names[i], "pre-activation")
        acts[-1].inputs_driven += nnz
        y = np.matmul(buf[-1].x32, W[-1], out=buf[-1].y)
        if not output_shifted_rows(y, *out_q, out_buf["p"]):
            raise _diverged(state, names[-1], "output")

    def staged_backward(state, W, buf, counts, p, labels, at, acts) -> int:
        """The output error, then per layer from the top its error drive, error read down (above
        the first layer), gradient and gradient memory, around np.matmul; the pulsed devices and
        pulses into ``counts`` as bp_backward_all. Returns the pulses."""
        delta = p
        peak, nnz = softmax_rows(p, labels, True, at)
        total = 0
        for i in range(top, -1, -1):
            b, ls = buf[i], state.layers[i]
            if i > 0:
                dq = delta if mode == 0 else b.q
                scale = error_scale(peak)
                nnz, nan = bp_error_drive_rows(delta, mode, scale, *drive_q, dq)
                if nan:
                    raise _nan("dac_levels")
                acts[i].errors_driven += nnz
                v = np.matmul(dq, backward_weights(setup, ls, W[i]).T, out=b.v)
                peak, nnz, nan = bp_error_read_rows(v, adc_back, *read_q, scale, buf[i - 1].d, b.e)
                if nan:
                    raise _nan("adc_quantize")
            else:
                acts[i].errors_driven += nnz
            np.matmul(b.x.T, delta, out=b.G)
            m, pulses = bp_residual_batch(
                ls.residual.reshape(-1),
                b.Gf,
                neg_eta,
                delta.shape[0],
                n_steps,
                cap,
                b.c,
                b.k,
                b.n,
            )
            counts[i] = m, pulses
            total += pulses
            delta = b.e
        return total

    def error_scale(peak: float) -> float:
        """error_path's drive: the power-of-two scale only in front of an error DAC."""
        scale = pow2_scale(peak, mode)
        if scale == 0.0:  # where only numpy's log2 decides
            scale = float(2.0 ** np.ceil(np.log2(peak)))
        return scale

    inside = libm.matches()  # np.exp and np.log inside bp_train, else numpy's between kernels
    # per batch size, the operands a fused step took last, with the state's arrays they came
    # from: the same arrays need none of the checks and tuples again. Why: those cost about 20 us
    # a batch-64 step, an eighth of it
    known: dict[int, SimpleNamespace] = {}

    def state_objects(state: EngineState) -> tuple:
        return (*state.read_weights, *chain.from_iterable(map(_layer_arrays, state.layers)))

    def contiguous_residuals(state: EngineState) -> None:
        """Each layer's gradient memory as C-contiguous float64 (the kernels update it in place
        through a flat view)."""
        for ls in state.layers:
            if not ls.residual.flags.c_contiguous or ls.residual.dtype != np.float64:
                ls.residual = np.ascontiguousarray(ls.residual, dtype=np.float64)

    def fused_operands(state: EngineState, B: int) -> tuple | None:
        """The fused kernels' operands for this state at batch size B: (scratch, shifted levels
        p, loss arguments at, bp_forward's after xb, bp_backward_all's after nnz, program_layers'
        per-layer arrays); None where a product cannot run inside the kernels (its shapes, or
        weights that are not C-contiguous float32: blas.matmul takes no other). Kept while the
        state holds the same arrays, but for real reference devices (their backward weights
        are made at every step)."""
        out_buf, _, f = scratch(B)
        if not f.fused:
            return None
        W = read_weights(setup, state)
        layers_ = state.layers
        contiguous_residuals(state)
        WB = tuple(backward_weights(setup, ls, w) for ls, w in zip(layers_, W, strict=True))
        if not all(w.dtype == np.float32 and w.flags.c_contiguous for w in (*W, *WB)):
            return None
        p, at, tally = out_buf["p"], out_buf["at"], device.tally
        R = tuple(ls.residual.reshape(-1) for ls in layers_)
        forward = (in_qa, tuple(W), f.x, f.x32, f.y, f.d, adc, tab_x, tab_d, out_qa, p, tally)
        backward = (
            *(mode, drive_qa, f.q, WB, f.wb64, f.v, adc_back, read_qa, f.d, f.e, f.x, f.G, R),
            *(neg_eta, n_steps, cap, f.c, f.k, f.n, f.counts, tally),
        )
        ops = f, p, at, forward, backward, device.operands(state, W)
        if all(ls.ref_col is None for ls in layers_):
            known[B] = SimpleNamespace(
                objects=state_objects(state),
                operands=ops,
                bound={},  # per dtype of the batch
            )
        return ops

    def step(state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter) -> float:
        B = xb.shape[0]
        acts = device.attach(meter, B)  # updates, gradient terms, programming: held
        held = known.get(B)
        if held is not None and _same(state_objects(state), held.objects):
            ops = held.operands
        else:
            held, ops = None, fused_operands(state, B)
        if ops is None:
            return staged_step(state, xb, yb, acts)
        f, p, at, forward, backward, program = ops
        if not xb.flags.c_contiguous or (xb.dtype != np.float32 and xb.dtype != np.float64):
            xb = np.ascontiguousarray(xb, dtype=np.float64)  # the loaders' float32 is taken as is
        labels = yb
        if labels.dtype != np.int64 or not labels.flags.c_contiguous:
            labels = np.ascontiguousarray(yb, dtype=np.int64)
        # every layer's error and gradient memory first (an update touches only its own layer,
        # and a layer's error goes down through its weights before their update), then one
        # draw of every pulse's normal, layer by layer from the top as the general rule draws
        call = _calls_for(held, xb, labels)
        if inside:
            status, b_status, i, peak, nnz, total, log_sum = call(
                bp_train, xb, labels, p, at, forward, backward
            )
        else:
            status = bp_forward(xb, *forward)
            if status == 0:
                np.exp(p, out=p)
                b_status, i, peak, nnz, total = bp_backward_all(
                    p, labels, at, True, top, 0.0, 0.0, 0, *backward
                )
        if status == -1:
            raise _nan("dac_levels")
        if status > 0:
            raise _diverged(
                state, names[status - 1], "output" if status - 1 == top else "pre-activation"
            )
        while b_status == 3:  # a scale only numpy's log2 decides: resume with it
            b_status, i, peak, nnz, more = bp_backward_all(
                p, labels, at, False, i, error_scale(peak), peak, nnz, *backward
            )
            total += more
        if b_status:
            raise _nan("dac_levels" if b_status == 1 else "adc_quantize")
        if not inside:
            log_sum = float(np.log(at, out=at).sum())
        xi = state.device_rng.standard_normal(total)
        device.program_all(state, None, f.k, f.n, f.counts, xi, program, call)
        # -sum(log) is sum(-log) bit for bit: rounding to nearest is symmetric in sign
        return -log_sum

    def staged_step(state: EngineState, xb: np.ndarray, yb: np.ndarray, acts) -> float:
        """The step around np.matmul, where a product cannot run inside the kernels."""
        out_buf, buf, f = scratch(xb.shape[0])
        W = read_weights(setup, state)
        contiguous_residuals(state)
        xb = np.ascontiguousarray(xb, dtype=np.float64)
        labels = np.ascontiguousarray(yb, dtype=np.int64)
        p, at = out_buf["p"], out_buf["at"]
        staged_forward(state, xb, W, buf, out_buf, acts)
        np.exp(p, out=p)
        total = staged_backward(state, W, buf, f.counts, p, labels, at, acts)
        loss = -float(np.log(at, out=at).sum())
        device.program_all(state, W, f.k, f.n, f.counts, state.device_rng.standard_normal(total))
        return loss

    return step


def _bsl_step(setup: Setup):
    """rules.binary_stochastic.train_batch of a batch of two or more samples: where every site
    draws from its own LFSR bank, with its products inside the kernels (bsl_forward, bsl_output,
    bsl_backward) where blas.matches says numpy's BLAS gives np.matmul's bits for every product
    at this batch size; else staged around np.matmul (a shared random source's draws too)."""
    g = setup.graph
    layers = g.layers
    names = [lm.name for lm in layers]
    a = float(setup.gain)
    out_q = _quantizer(g.plan(names[-1]).per.output_readout.bits, -OUTPUT_RANGE, OUTPUT_RANGE)
    out_qa = np.array(out_q, dtype=np.float64)
    n_hidden = len(layers) - 1
    # accumulate_steps' fast path (besides the accumulator's layout, checked at each step)
    fused = 1 <= setup.acc_bits <= 30 and setup.theta >= 1
    lo, hi = -(1 << (setup.acc_bits - 1)), (1 << (setup.acc_bits - 1)) - 1
    device = Programmer(setup)
    # the lanes of each sampling site's LFSR bank (train._samplers): one per value drawn at once
    lanes = {"input": layers[0].n_in, "out": layers[-1].n_out}
    for i, lm in enumerate(layers[:-1]):
        lanes[f"z{i + 1}"] = lanes[f"d{i + 1}"] = lm.n_out
    # the banks in the order bsl_forward and bsl_output read them
    sites = ["input", *(f"{k}{i + 1}" for i in range(n_hidden) for k in "zd"), "out"]

    rows = _Rows(setup.spec.workload.batch_size)

    def products_match(B: int) -> bool:
        """Whether blas.matmul gives np.matmul's bits for each of the step's products at batch
        size B (forward float32 x W, backward float32 errors x W^T)."""
        if not n_hidden:
            return False
        for i, lm in enumerate(layers):
            if not blas.matches(np.float32, B, lm.n_in, lm.n_out, False, False):
                return False
            if i > 0 and not blas.matches(np.float32, B, lm.n_out, lm.n_in, False, True):
                return False
        return True

    def make(B: int) -> tuple[dict, SimpleNamespace | None]:
        """_output's arrays, and with the products in the kernels the tuples of per-layer arrays
        the kernels take (else None): inputs X, pre-activations Y, tanh arguments T, derivative
        comparators DS, errors D (int8, as float32 in D32), errors through W^T V, the steps'
        indices IDX and pulses PULSES, the output's comparators zs, the driven inputs nnz and
        the per-layer counts of bsl_backward."""
        out_buf = {
            "y": rows(("y",), B, layers[-1].n_out, dtype=np.float32),
            "p": rows(("p",), B, layers[-1].n_out),
            "at": rows(("at",), B),
        }
        if not products_match(B):
            return out_buf, None
        f32, i8, u32 = np.float32, np.int8, np.uint32
        hidden = layers[:-1]
        top = len(layers) - 1
        return out_buf, SimpleNamespace(
            X=tuple(rows(("X", i), B, lm.n_in, dtype=f32) for i, lm in enumerate(layers)),
            Y=(
                *(rows(("Y", i), B, lm.n_out, dtype=f32) for i, lm in enumerate(hidden)),
                out_buf["y"],
            ),
            T=tuple(rows(("T", i), B, lm.n_out, dtype=f32) for i, lm in enumerate(hidden)),
            DS=tuple(rows(("DS", i), B, lm.n_out, dtype=i8) for i, lm in enumerate(hidden)),
            D=tuple(rows(("D", i), B, lm.n_out, dtype=i8) for i, lm in enumerate(layers)),
            D32=tuple(
                rows(("D32", i), B if i else 0, lm.n_out if i else 0, dtype=f32)
                for i, lm in enumerate(layers)
            ),
            V=tuple(
                rows(("V", i), B if i else 0, lm.n_in if i else 0, dtype=f32)
                for i, lm in enumerate(layers)
            ),
            IDX=tuple(
                rows.once(("IDX", i), lm.n_weights, dtype=np.int64) for i, lm in enumerate(layers)
            ),
            PULSES=tuple(
                rows.once(("PULSES", i), lm.n_weights, dtype=np.int64)
                for i, lm in enumerate(layers)
            ),
            zs=rows(("zs",), B, layers[top].n_out, dtype=i8),
            counts=np.zeros((len(layers), 2), dtype=np.int64),
            lazy=(  # bsl_forward's: per hidden layer, flat
                *(
                    tuple(
                        rows((k, i), B, lm.n_out, dtype=t).reshape(-1)
                        for i, lm in enumerate(hidden)
                    )
                    for k, t in (("SZ", u32), ("SD", u32), ("OPEN", np.uint8), ("WHERE", np.int64))
                ),
                libm.tanh_margin(),
            ),
        )

    scratch = _Scratch(make)

    def own_lfsr_banks(samplers: dict) -> bool:
        """Whether every site draws from its own LFSR bank of the expected lanes, so that its
        draws can be taken inside the kernels that read them (a shared source, as the ideal
        PCG64 one is, must be drawn in the general rule's order, site after site)."""
        banks = [samplers.get(k) for k in lanes]
        return len({id(r) for r in banks}) == len(banks) and all(
            type(r) is LfsrRng and r.n_lanes == lanes[k] for k, r in zip(lanes, banks, strict=True)
        )

    inside = libm.matches()  # np.exp and np.log inside bsl_output, bsl_backward
    # per batch size, the operands kernel_step took last, with the state's arrays and banks
    # they came from: the same objects need none of the checks (dtypes, flags, the banks' types
    # and lanes) and tuples again. Why: those cost about 15 us a step, as long as a kernel
    known: dict[int, SimpleNamespace] = {}
    held_arrays = operator.attrgetter(*_layer_arrays_names, "acc")

    def state_objects(state: EngineState) -> tuple:
        return (
            *state.read_weights,
            *map(state.samplers.get, sites),
            *chain.from_iterable(map(held_arrays, state.layers)),
        )

    def accumulating(accs) -> bool:
        """Whether grad_steps' fast path takes these accumulators (int32, C-contiguous)."""
        return fused and all(
            acc is not None and acc.dtype == np.int32 and acc.flags.c_contiguous for acc in accs
        )

    def fused_operands(state: EngineState, B: int) -> tuple | None:
        """kernel_step's operands for this state at batch size B: (scratch, the output's levels
        p, loss arguments at, the banks' kernel states, read weights, bsl_backward's arguments
        before and after nnz, program_layers' per-layer arrays); None where the step cannot
        take its draws and products inside the kernels. Kept while the state holds the same
        objects, but for real reference devices (their backward weights are made at every
        step)."""
        layers_ = state.layers
        accs = tuple(ls.acc for ls in layers_)
        if not accumulating(accs) or not own_lfsr_banks(state.samplers):
            return None
        out_buf, f = scratch(B)
        if f is None:
            return None
        W = read_weights(setup, state)
        WB = (W[0], *(backward_weights(setup, layers_[i], W[i]) for i in range(1, len(layers))))
        if not all(w.dtype == np.float32 and w.flags.c_contiguous for w in (*W, *WB)):
            return None
        rngs = tuple(state.samplers[k].kernel_state() for k in sites)
        p, at = out_buf["p"], out_buf["at"]
        # bsl_backward's arguments before and after nnz
        head = (f.D, f.D32, WB, f.V, f.DS, f.X, accs, lo, hi, setup.theta, f.IDX, f.PULSES)
        tail = (f.counts, device.tally, at, inside)
        ops = (f, p, at, rngs, tuple(W), head, tail, device.operands(state, W))
        if all(ls.ref_col is None for ls in layers_):
            known[B] = SimpleNamespace(
                objects=state_objects(state),
                operands=ops,
                bound={},  # per dtype of the batch
            )
        return ops

    def step(state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter) -> float:
        B = xb.shape[0]
        held = known.get(B)
        if held is not None and _same(state_objects(state), held.objects):
            ops = held.operands
        else:
            held, ops = None, fused_operands(state, B)
        if ops is not None:
            device.attach(meter)  # updates and programming: held, added later
            return kernel_step(state, xb, yb, ops, held)
        accs = [ls.acc for ls in state.layers]
        if not accumulating(accs):
            return train_batch(setup, state, xb, yb, meter)
        acts = device.attach(meter)  # updates and programming: held, added later
        s = state.samplers
        lfsr = own_lfsr_banks(s)
        W = read_weights(setup, state)
        out_buf, _ = scratch(xb.shape[0])
        if lfsr:
            tables, lanes_in, scale, wide = s["input"].kernel_state()
            x = np.empty(xb.shape, dtype=np.float32)
            nnz = kernels.lfsr_exceeds(tables, lanes_in, np.ascontiguousarray(xb), scale, wide, x)
        else:
            x = s["input"].exceeds(xb, np.float32)
            nnz = nonzeros(x)
        xs, ds = [x], []
        for i in range(n_hidden):
            acts[i].inputs_driven += int(nnz)
            t = bsl_sigmoid_pre(x @ W[i], a)
            np.tanh(t, out=t)
            z_rng, d_rng = s[f"z{i + 1}"], s[f"d{i + 1}"]
            if lfsr:
                x, d = np.empty(t.shape, dtype=np.float32), np.empty(t.shape, dtype=np.int8)
                nnz = bsl_hidden_draws(t, a, z_rng.kernel_state(), d_rng.kernel_state(), x, d)
            else:
                z, d = bsl_sigmoid_post(t, a)
                x, d = z_rng.exceeds(z, np.float32), d_rng.exceeds(d, np.int8)
                nnz = nonzeros(x)
            ds.append(d)
            xs.append(x)
        acts[-1].inputs_driven += int(nnz)
        labels = np.ascontiguousarray(yb, dtype=np.int64)
        p, loss = _output(state, x, W[-1], out_q, labels, names[-1], out_buf)
        if lfsr:
            delta, nnz = bsl_output_draws(p, labels, s["out"].kernel_state())
        else:
            delta, nnz = bsl_output_error_rows(s["out"].exceeds(p, np.int8), labels)
        owed, total = [], 0
        for i in range(len(layers) - 1, -1, -1):
            act = acts[i]
            act.errors_driven += int(nnz)
            d_i = delta
            if i > 0:
                v = d_i.astype(np.float32) @ backward_weights(setup, state.layers[i], W[i]).T
                delta, nnz = bsl_error_down_rows(v, ds[i - 1])
            # integer sums (rules.binary_stochastic.update's float32 product is exact too)
            idx, n, terms = bsl_grad_accumulate(
                accs[i].reshape(-1), xs[i], d_i, lo, hi, setup.theta, -1
            )
            act.gradient_terms += int(terms)
            owed.append((i, idx, n, total))
            total += idx.size
        # one draw of every pulse's normal, layer by layer from the top as the general rule
        # draws them (an update touches only its own layer)
        xi = state.device_rng.standard_normal(total)
        for i, idx, n, first in owed:
            device.program(state, i, names[i], idx, n, xi[first : first + idx.size], W[i])
        return loss

    def kernel_step(state, xb, yb, ops, held) -> float:
        """The step with every draw and product inside the kernels (``ops``: fused_operands';
        ``held``: their known entry, else None): each stage of the forward pass between numpy's
        tanh calls on the values a stage leaves open (bsl_forward), the last one with the output
        and backward pass (bsl_tail) where libm.matches."""
        f, p, at, rngs, W, head, tail, program = ops
        if not xb.flags.c_contiguous:
            xb = np.ascontiguousarray(xb)
        if yb.dtype != np.int64 or not yb.flags.c_contiguous:
            yb = np.ascontiguousarray(yb, dtype=np.int64)
        call = _calls_for(held, xb, yb)
        th, n_open = _NO_TANH, 0  # numpy's tanh of the values the last stage left open
        for k in range(n_hidden + 1):
            stage = (k, xb, rngs, W, f.X, f.Y, f.T, f.DS, a, out_qa, p, device.tally, f.lazy)
            if k < n_hidden or not inside:
                finite, n_open = call(bsl_forward, *stage, th, n_open)
                if k < n_hidden:
                    th = bsl_hidden_open(f.T[k], f.lazy[2][k], n_open)
            else:
                output = (p, yb, at, rngs[-1], f.zs, f.D[-1], True)
                args = ((*stage, th, n_open), output, head, tail)
                finite, log_sum, total = call(bsl_tail, *args)
        if not finite:
            raise _diverged(state, names[-1], "output")
        if not inside:
            np.exp(p, out=p)
            nnz = bsl_output(p, yb, at, rngs[-1], f.zs, f.D[-1], False)
            np.log(at, out=at)
            log_sum, total = bsl_backward(*head, nnz, *tail)
        # one draw of every pulse's normal, layer by layer from the top as the general rule
        # draws them (an update touches only its own layer)
        xi = state.device_rng.standard_normal(total)
        device.program_all(state, None, f.IDX, f.PULSES, f.counts, xi, program, call)
        # -sum(log) is sum(-log) bit for bit: rounding to nearest is symmetric in sign
        return -log_sum

    return step
