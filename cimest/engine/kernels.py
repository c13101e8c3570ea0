"""Compiled loops of the engine's peripherals and update arithmetic, for the small batches of online
learning, where numpy's per-call overhead (not arithmetic) was most of the training time.

Room: engine (numpy, numba; imports nothing from cimest). Each kernel performs the integer or
float64 operations of the numpy expression it replaces, element by element and in the same order
(no fast-math), so results are bit-identical; the numpy versions stay in the code as references
(peripherals.py, rules/common.py) and tests/engine/test_kernels.py holds each pair equal. BLAS
products and transcendental functions (exp, tanh, log) stay in numpy: their rounding depends on
the library's kernels, which a loop here would not reproduce.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def quantize(x, v_min, lsb, top):
    """peripherals._quantize's codes and levels: code = clip(ceil((x - v_min)/lsb - 0.5), 0, top),
    level = v_min + code x lsb. Returns (codes int64, levels float64, any NaN)."""
    flat = x.reshape(-1)
    codes = np.empty(flat.size, dtype=np.int64)
    levels = np.empty(flat.size, dtype=np.float64)
    nan = False
    for i in range(flat.size):
        v = np.float64(flat[i])
        if v != v:
            nan = True
            codes[i] = 0
            levels[i] = v
            continue
        s = np.ceil((v - v_min) / lsb - 0.5)
        if s < 0.0:
            s = 0.0
        if s > top:
            s = np.float64(top)
        c = np.int64(s)
        codes[i] = c
        levels[i] = v_min + c * lsb
    return codes.reshape(x.shape), levels.reshape(x.shape), nan


@njit(cache=True)
def accumulate_threshold(acc, grad, lo, hi, theta):
    """peripherals.accumulate_steps' fast path on flat int32 arrays: acc += grad, saturated to
    [lo, hi], and a step dw = -fix(acc / theta) taken where |acc| >= theta (acc keeps the
    remainder). Returns (ascending flat indices of the steps, their dw as int64)."""
    n = 0
    idx = np.empty(16, dtype=np.int64)
    dw = np.empty(16, dtype=np.int64)
    for i in range(acc.size):
        v = np.int64(acc[i]) + np.int64(grad[i])
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        if v >= theta or v <= -theta:
            a = v if v >= 0 else -v
            fix = a // theta
            if v < 0:
                fix = -fix
            v = v - fix * theta
            if n == idx.size:
                idx = np.concatenate((idx, np.empty(n, dtype=np.int64)))
                dw = np.concatenate((dw, np.empty(n, dtype=np.int64)))
            idx[n] = i
            dw[n] = -fix
            n += 1
        acc[i] = v
    return idx[:n], dw[:n]


@njit(cache=True)
def residual_pulses(residual, grad, neg_eta, batch, n_steps, cap):
    """backprop.update's gradient memory, in place on flat float64 arrays: r += (-eta x (G / B)) x
    n_steps; n = clip(trunc(r), -cap, cap); r -= n. Returns (ascending flat indices with n != 0,
    their n as int64)."""
    n = 0
    idx = np.empty(residual.size, dtype=np.int64)
    out = np.empty(residual.size, dtype=np.int64)
    fb = np.float64(batch)
    fs = np.float64(n_steps)
    for i in range(residual.size):
        g = grad[i] if batch == 1 else grad[i] / fb  # x / 1.0 is x exactly
        r = residual[i] + (neg_eta * g) * fs
        # clip(trunc(r), -cap, cap): r beyond +-cap truncates to at least cap in magnitude
        if r >= cap:
            k = np.int64(cap)
        elif r <= -cap:
            k = -np.int64(cap)
        else:
            k = np.int64(r)  # truncation toward zero
        residual[i] = r - k
        if k != 0:
            idx[n] = i
            out[n] = k
            n += 1
    return idx[:n], out[:n]


@njit(cache=True)
def write_steps(idx, trains, n_out, wc, group, per_tile_rows, row_tiles, col_tiles):
    """rules.common.write_steps from the non-zero trains only: ``idx`` flat indices into the
    (n_in x n_out) layer, ``trains`` their lengths (> 0). A row's groups of ``group`` columns of a
    tile one after another, each as long as its longest train; a tile's rows one after another;
    the slowest tile sets the steps."""
    n_groups = -(-wc // group)
    n_in = row_tiles * per_tile_rows
    longest = np.zeros((n_in, col_tiles, n_groups), dtype=np.int64)
    for j in range(idx.size):
        i = idx[j] // n_out
        c = idx[j] % n_out
        t = c // wc
        gr = (c % wc) // group
        if trains[j] > longest[i, t, gr]:
            longest[i, t, gr] = trains[j]
    worst = 0
    for rt in range(row_tiles):
        for t in range(col_tiles):
            s = 0
            for i in range(rt * per_tile_rows, (rt + 1) * per_tile_rows):
                for gr in range(n_groups):
                    s += longest[i, t, gr]
            if s > worst:
                worst = s
    return worst


@njit(cache=True)
def lfsr_advance(tables, lanes, n_draws, out):
    """LfsrRng._advance: the states after each of the next ``n_draws`` draws of every lane into
    ``out`` (n_draws x n_lanes, uint32), from the per-byte tables of A**(k+1), blocks of
    tables.shape[1] draws; ``lanes`` is updated in place."""
    block = tables.shape[1]
    n_bytes = tables.shape[0]
    pos = 0
    while pos < n_draws:
        k_max = min(block, n_draws - pos)
        for lane in range(lanes.size):
            s = lanes[lane]
            for k in range(k_max):
                v = tables[0, k, s & 0xFF]
                for b in range(1, n_bytes):
                    v ^= tables[b, k, (s >> (8 * b)) & 0xFF]
                out[pos + k, lane] = v
            lanes[lane] = out[pos + k_max - 1, lane]
        pos += k_max
