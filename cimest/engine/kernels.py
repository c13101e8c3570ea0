"""Compiled loops of the engine's peripherals and update arithmetic, for the small batches of online
learning, where numpy's per-call overhead (not arithmetic) was most of the training time.

Room: engine (numpy, numba, llvmlite for one intrinsic: popcount; imports nothing from cimest).
Each kernel performs the integer or float64 operations of the numpy expression it replaces,
element by element and in the same order (no fast-math), so results are bit-identical; the numpy
versions stay in the code as references (peripherals.py, rules/common.py) and
tests/engine/test_kernels.py holds each pair equal. BLAS products and transcendental functions
(exp, tanh, log) stay in numpy: their rounding depends on the library's kernels, which a loop
here would not reproduce.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def popcount(typingctx, v):
    """The set bits of a uint64 (LLVM's ctpop: the processor's popcnt where it has one)."""
    if v != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = builder.module.globals.get("llvm.ctpop.i64")
        if fn is None:
            fn = ir.Function(builder.module, ir.FunctionType(i64, [i64]), name="llvm.ctpop.i64")
        return builder.call(fn, args)

    return types.uint64(types.uint64), codegen


@njit(cache=True)
def all_finite(x):
    """np.all(np.isfinite(x)) of a flat array, in one pass."""
    finite = True
    for i in range(x.size):
        finite &= np.isfinite(x[i])
    return finite


@njit(cache=True, inline="always")  # Why: a call per element otherwise
def level(v, v_min, lsb, ftop):
    """One quantizer level: v_min + clip(ceil((v - v_min)/lsb - 0.5), 0, top) x lsb (branch-free);
    the level of NaN is undefined (callers check)."""
    s = min(max(np.ceil((v - v_min) / lsb - 0.5), 0.0), ftop)
    return v_min + np.int64(s) * lsb


@njit(cache=True)
def quantize(x, v_min, lsb, top):
    """peripherals._quantize's codes and levels: code = clip(ceil((x - v_min)/lsb - 0.5), 0, top),
    level = v_min + code x lsb. Returns (codes int64, levels float64, any NaN); the codes of NaN
    inputs are undefined (the caller raises)."""
    flat = x.reshape(-1)
    codes = np.empty(flat.size, dtype=np.int64)
    levels = np.empty(flat.size, dtype=np.float64)
    nan = False
    ftop = np.float64(top)
    for i in range(flat.size):  # branch-free, so it vectorizes
        v = np.float64(flat[i])
        nan |= v != v
        s = min(max(np.ceil((v - v_min) / lsb - 0.5), 0.0), ftop)
        c = np.int64(s)
        codes[i] = c
        levels[i] = v_min + c * lsb
    return codes.reshape(x.shape), levels.reshape(x.shape), nan


@njit(cache=True)
def quantize_levels(x, v_min, lsb, top):
    """:func:`quantize`'s levels without its codes: (levels float64, any NaN). The level is
    v_min + s x lsb with s the clipped float code itself (an integer below 2^53: its int64 round
    trip is exact, and -0.0 is made +0.0 first), so it equals quantize's level bit for bit, while
    the loop skips the float-int conversions and the codes' array (half the time at batch 64)."""
    flat = x.reshape(-1)
    levels = np.empty(flat.size, dtype=np.float64)
    nan = False
    ftop = np.float64(top)
    for i in range(flat.size):  # branch-free, so it vectorizes
        v = np.float64(flat[i])
        nan |= v != v
        s = min(max(np.ceil((v - v_min) / lsb - 0.5), 0.0), ftop) + 0.0
        levels[i] = v_min + s * lsb
    return levels.reshape(x.shape), nan


@njit(cache=True)
def _steps(acc, start, stop, theta, idx, dw, n):
    """Take the threshold steps of acc[start:stop] (already added and saturated): dw = -fix(acc /
    theta) where |acc| >= theta, acc keeps the remainder; appended to (idx, dw) from n on."""
    for k in range(start, stop):
        v = np.int64(acc[k])
        if v >= theta or v <= -theta:
            a = v if v >= 0 else -v
            fix = a // theta
            if v < 0:
                fix = -fix
            acc[k] = v - fix * theta
            if n == idx.size:
                idx = np.concatenate((idx, np.empty(n, dtype=np.int64)))
                dw = np.concatenate((dw, np.empty(n, dtype=np.int64)))
            idx[n] = k
            dw[n] = -fix
            n += 1
    return idx, dw, n


@njit(cache=True, inline="always")  # Why: a call per element otherwise
def _add_saturate(acc, start, grad, lo, hi, theta):
    """acc[start:start + grad.size] += grad, saturated to [lo, hi]; True if any |acc| >= theta
    (branch-free, so the loop vectorizes)."""
    crossed = False
    for j in range(grad.size):
        v = np.int64(acc[start + j]) + np.int64(grad[j])
        v = min(max(v, lo), hi)
        acc[start + j] = v
        crossed |= (v >= theta) | (v <= -theta)
    return crossed


@njit(cache=True)
def accumulate_threshold(acc, grad, lo, hi, theta):
    """peripherals.accumulate_steps' fast path on flat int32 arrays: acc += grad, saturated to
    [lo, hi], and a step dw = -fix(acc / theta) taken where |acc| >= theta (acc keeps the
    remainder). Returns (ascending flat indices of the steps, their dw as int64).

    Why one pass into buffers as long as acc: the pass over the crossings by :func:`_steps`, whose
    buffers grow, took about 1.4 us per crossing (reference counting in the loop), 150 us per
    call on a 64 x 128 layer at batch 64."""
    idx = np.empty(acc.size, dtype=np.int64)
    dw = np.empty(acc.size, dtype=np.int64)
    n = 0
    for k in range(acc.size):
        v = min(max(np.int64(acc[k]) + np.int64(grad[k]), lo), hi)
        if v >= theta or v <= -theta:
            fix = (v if v >= 0 else -v) // theta
            if v < 0:
                fix = -fix
            v = v - fix * theta
            idx[n] = k
            dw[n] = -fix
            n += 1
        acc[k] = v
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
def residual_pulses_outer(residual, x, delta, neg_eta, n_steps, cap):
    """:func:`residual_pulses` of one sample, G = outer(x, delta) formed element by element (one
    product each: what BLAS gives for a batch of one). Written out, not sharing a helper with
    residual_pulses: a call per element was three times slower."""
    n = 0
    idx = np.empty(residual.size, dtype=np.int64)
    out = np.empty(residual.size, dtype=np.int64)
    fs = np.float64(n_steps)
    n_out = delta.size
    for i in range(x.size):
        xi = x[i]
        base = i * n_out
        for j in range(n_out):
            r = residual[base + j] + (neg_eta * (xi * delta[j])) * fs
            if r >= cap:
                k = np.int64(cap)
            elif r <= -cap:
                k = -np.int64(cap)
            else:
                k = np.int64(r)
            residual[base + j] = r - k
            if k != 0:
                idx[n] = base + j
                out[n] = k
                n += 1
    return idx[:n], out[:n]


@njit(cache=True)
def residual_pulses_rows(residual, x, delta, neg_eta, n_steps, cap, idx, out):
    """:func:`residual_pulses_outer` writing the pulsed devices into the buffers ``idx`` and
    ``out`` (each at least residual.size long), and passing over the rows whose input is zero
    where that changes nothing. Returns (devices pulsed, pulses).

    Why the rows can be passed over: with x = 0 and every error finite, the update adds
    (neg_eta x (0 x delta)) x n_steps, a signed zero, and r + (+-0) is r except -0 + +0 = +0;
    a row whose every r is finite, |r| < 1 and not -0 therefore keeps r, gives no pulse (trunc
    is 0) and r - 0 is r. Such a row is checked in one branch-free pass instead of updated
    (digits leaves about half the inputs at zero).
    Why the counts as floats first: trunc(r) + 0.0 clipped to +-cap is the float of
    clip(trunc(r)) (+0.0 where that is 0, so r - k keeps a -0.0), so the row's update is
    branch-free and vectorizes (twice as fast on a 128-wide row); the few non-zero counts are
    then collected in a second pass. A NaN r gives NaN, then the integer of NaN, as before."""
    n = 0
    total = 0
    fs = np.float64(n_steps)
    fcap = np.float64(cap)
    n_out = delta.size
    counts = np.empty(n_out, dtype=np.float64)
    finite = True
    for j in range(n_out):
        finite &= np.isfinite(delta[j])
    for i in range(x.size):
        xi = x[i]
        base = i * n_out
        if xi == 0.0 and finite:
            same = True
            for j in range(n_out):  # NaN fails |r| < 1
                r = residual[base + j]
                same &= (abs(r) < 1.0) & ((r != 0.0) | (math.copysign(1.0, r) > 0.0))
            if same:
                continue
        pulsed = False
        for j in range(n_out):
            r = residual[base + j] + (neg_eta * (xi * delta[j])) * fs
            kf = np.trunc(r) + 0.0
            kf = fcap if r >= fcap else kf
            kf = -fcap if r <= -fcap else kf
            residual[base + j] = r - kf
            counts[j] = kf
            pulsed |= kf != 0.0
        if pulsed:
            for j in range(n_out):
                if counts[j] != 0.0:
                    k = np.int64(counts[j])
                    idx[n] = base + j
                    out[n] = k
                    n += 1
                    total += abs(k)
    return n, total


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
    return _slowest_tile(longest, per_tile_rows, row_tiles)


@njit(cache=True)
def _slowest_tile(longest, per_tile_rows, row_tiles):
    """The write steps of the slowest tile from each (row, column tile, group)'s longest train."""
    worst = 0
    for rt in range(row_tiles):
        for t in range(longest.shape[1]):
            s = 0
            for i in range(rt * per_tile_rows, (rt + 1) * per_tile_rows):
                for gr in range(longest.shape[2]):
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


@njit(cache=True)
def program_meter(idx, n, pulses, n_out, wc, group, per_tile_rows, row_tiles, col_tiles):
    """What programming counts n (int64) at flat indices ``idx`` leave besides conductances: the
    wear ``pulses`` (flat) += |n| in place; returns (SET pulses, RESET pulses, SET write steps,
    RESET write steps), each polarity's steps as :func:`write_steps` of its trains alone (a write
    group applies its SET trains, then its RESET trains: rules.common.polarity_steps).
    Why one pass for both polarities, and divisions only where a device starts another row (or
    comes out of order): a device's row, tile and group cost integer divisions (tens of ns each
    here), once most of this kernel's time; along a row the ascending indices walk on."""
    n_groups = -(-wc // group)
    n_in = row_tiles * per_tile_rows
    longest = np.zeros((2, n_in, col_tiles, n_groups), dtype=np.int64)  # SET, RESET
    n_set = 0
    n_reset = 0
    i = 0  # the place of the last device: row i (from row_start), tile t, group gr
    row_start = 0
    t = 0
    t_start = 0
    gr = 0
    g_start = 0
    last = -1
    for j in range(idx.size):
        k = idx[j]
        if k <= last or k >= row_start + n_out:
            i = k // n_out
            row_start = i * n_out
            c = k - row_start
            t = c // wc
            t_start = t * wc
            gr = (c - t_start) // group
            g_start = t_start + gr * group
        else:
            c = k - row_start
            while c >= t_start + wc:
                t += 1
                t_start += wc
                gr = 0
                g_start = t_start
            while c >= g_start + group:
                gr += 1
                g_start += group
        last = k
        v = n[j]
        if v > 0:
            n_set += v
            pulses[k] += v
            p = 0
        else:
            n_reset -= v
            pulses[k] -= v
            p = 1
            v = -v
        if v > longest[p, i, t, gr]:
            longest[p, i, t, gr] = v
    set_steps = _slowest_tile(longest[0], per_tile_rows, row_tiles)
    reset_steps = _slowest_tile(longest[1], per_tile_rows, row_tiles)
    return n_set, n_reset, set_steps, reset_steps


@njit(cache=True, inline="always")  # Why: the callers' compare loops follow it
def lfsr_states(tables, lanes, n_draws, states):
    """:func:`lfsr_advance` by one draw at a time: ``states[d * n_lanes + lane]`` (a flat uint32
    buffer at least n_draws x n_lanes long) = the lane's state after its (d + 1)-th draw, from
    the one-draw tables ``tables[:, 0]`` (2 KB for width 16: they stay in L1, where the
    many-draw tables are 0.5 MB); ``lanes`` is updated in place.

    Why eight lanes at a time, each in a register through all its draws: a lane is a serial
    chain of table look-ups and the lanes are independent, so the processor overlaps eight
    chains (0.66 ns a draw here for 128 lanes; 1.3 ns with the lanes inner and their states
    passed through memory, 3.5 ns by the many-draw tables)."""
    n_lanes = lanes.size
    if tables.shape[0] == 2:  # widths 9 to 16
        t0 = tables[0, 0]
        t1 = tables[1, 0]
        g = 0
        while g + 8 <= n_lanes:
            s0, s1, s2, s3 = lanes[g], lanes[g + 1], lanes[g + 2], lanes[g + 3]
            s4, s5, s6, s7 = lanes[g + 4], lanes[g + 5], lanes[g + 6], lanes[g + 7]
            for d in range(n_draws):
                s0 = t0[s0 & 0xFF] ^ t1[(s0 >> 8) & 0xFF]
                s1 = t0[s1 & 0xFF] ^ t1[(s1 >> 8) & 0xFF]
                s2 = t0[s2 & 0xFF] ^ t1[(s2 >> 8) & 0xFF]
                s3 = t0[s3 & 0xFF] ^ t1[(s3 >> 8) & 0xFF]
                s4 = t0[s4 & 0xFF] ^ t1[(s4 >> 8) & 0xFF]
                s5 = t0[s5 & 0xFF] ^ t1[(s5 >> 8) & 0xFF]
                s6 = t0[s6 & 0xFF] ^ t1[(s6 >> 8) & 0xFF]
                s7 = t0[s7 & 0xFF] ^ t1[(s7 >> 8) & 0xFF]
                b = d * n_lanes + g
                states[b], states[b + 1], states[b + 2], states[b + 3] = s0, s1, s2, s3
                states[b + 4], states[b + 5], states[b + 6], states[b + 7] = s4, s5, s6, s7
            lanes[g], lanes[g + 1], lanes[g + 2], lanes[g + 3] = s0, s1, s2, s3
            lanes[g + 4], lanes[g + 5], lanes[g + 6], lanes[g + 7] = s4, s5, s6, s7
            g += 8
        for lane in range(g, n_lanes):  # the lanes left over, one at a time
            s = lanes[lane]
            for d in range(n_draws):
                s = t0[s & 0xFF] ^ t1[(s >> 8) & 0xFF]
                states[d * n_lanes + lane] = s
            lanes[lane] = s
        return
    n_bytes = tables.shape[0]
    for d in range(n_draws):
        base = d * n_lanes
        for lane in range(n_lanes):
            s = lanes[lane] if d == 0 else states[base - n_lanes + lane]
            v = tables[0, 0, s & 0xFF]
            for b in range(1, n_bytes):
                v ^= tables[b, 0, (s >> (8 * b)) & 0xFF]
            states[base + lane] = v
    if n_draws > 0:
        last = (n_draws - 1) * n_lanes
        for lane in range(n_lanes):
            lanes[lane] = states[last + lane]


@njit(cache=True, inline="always")  # Why: the callers' compare loops follow it
def lfsr_compare(x, states, scale, wide, out):
    """out = 1 where x > u, else 0, u = states x scale (LfsrRng.uniform: in float32 unless
    ``wide``); flat arrays, ``out`` at least x.size long. Returns the ones.

    Why branch-free: a comparison of a uniform is taken half the time at random, so a branch
    mispredicts about every other element (about 10 ns a draw, more than the draw)."""
    n = 0
    if wide:
        for i in range(x.size):
            o = x[i] > np.float64(states[i]) * scale
            out[i] = o
            n += o
    else:
        s32 = np.float32(scale)
        for i in range(x.size):
            # a state below 2^24 converts exactly through int32 (which vectorizes; uint32 not)
            o = x[i] > np.float32(np.int32(states[i])) * s32
            out[i] = o
            n += o
    return n


@njit(cache=True)
def lfsr_exceeds(tables, lanes, x, scale, wide, out):
    """out = 1 where x > u, else 0, for u the next draws of the LFSR lanes (LfsrRng.uniform:
    state x 2^-width, in float32 unless ``wide``), x's flat order being draw-major, lane-minor;
    ``lanes`` advanced in place. Returns the ones in ``out`` (the rows the draws drive)."""
    n_draws = x.size // lanes.size
    states = np.empty(x.size, dtype=np.uint32)
    lfsr_states(tables, lanes, n_draws, states)
    return lfsr_compare(x.reshape(-1), states, scale, wide, out.reshape(-1))


@njit(cache=True)
def binary_accumulate(x, delta, acc, lo, hi, theta):
    """binary_stochastic.update's integer gradient G = x^T delta (x in {0, 1}, delta in {-1, 0,
    1}; integer sums, so exact in any order) added to the flat int32 accumulator as
    :func:`accumulate_threshold` does, without forming G. Returns (flat indices of the steps,
    their dw, gradient terms: the sum over samples of non-zero inputs x non-zero errors)."""
    B = x.shape[0]
    n_in = x.shape[1]
    n_out = delta.shape[1]
    terms = 0
    for b in range(B):
        nx = 0
        nd = 0
        for i in range(n_in):
            nx += x[b, i] != 0
        for j in range(n_out):
            nd += delta[b, j] != 0
        terms += nx * nd
    grad = np.zeros(n_out, dtype=np.int64)
    idx = np.empty(16, dtype=np.int64)
    dw = np.empty(16, dtype=np.int64)
    n = 0
    for i in range(n_in):
        start = i * n_out
        active = False
        for b in range(B):
            active |= x[b, i] != 0
        if active:
            grad[:] = 0
            for b in range(B):
                if x[b, i] != 0:
                    xv = np.int64(x[b, i])
                    for j in range(n_out):
                        grad[j] += xv * delta[b, j]
        else:
            # a zero gradient row changes only accumulators out of range or at a step (none
            # after any update; a restored checkpoint could hold some)
            mn = np.int64(acc[start])
            mx = mn
            for j in range(n_out):
                v = np.int64(acc[start + j])
                mn = min(mn, v)
                mx = max(mx, v)
            if mn >= lo and mx <= hi and mx < theta and mn > -theta:
                continue
            grad[:] = 0
        if _add_saturate(acc, start, grad, lo, hi, theta):
            idx, dw, n = _steps(acc, start, start + n_out, theta, idx, dw, n)
    return idx[:n], dw[:n], terms


@njit(cache=True, inline="always")  # Why: numba's cache of a recursive kernel crashed its callers
def _pairwise_block(a, lo, n):
    """numpy's pairwise sum of a[lo:lo + n] for n <= 128: one running sum below 8, else eight
    over the blocks of 8, combined as a tree, then the rest one by one."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        k = lo + i
        r0 += a[k]
        r1 += a[k + 1]
        r2 += a[k + 2]
        r3 += a[k + 3]
        r4 += a[k + 4]
        r5 += a[k + 5]
        r6 += a[k + 6]
        r7 += a[k + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def pairwise_sum(a, lo, n):
    """a[lo:lo + n].sum() of a flat float64 array in numpy's order (its pairwise summation:
    blocks of at most 128 by :func:`_pairwise_block`, longer runs split in halves rounded down to
    a multiple of 8, the halves' sums added), before the reduction's initial 0.0 is added
    (``0.0 + pairwise_sum(a, 0, a.size)`` is numpy's sum, -0.0 included). The halving is walked
    with explicit stacks (children left then right, a node's two sums added when both are done):
    the same additions as numpy's recursion."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    nodes = np.empty((256, 3), dtype=np.int64)  # lo, n, children done; depth <= 64
    sums = np.empty(256, dtype=np.float64)
    top = 0
    n_sums = 0
    nodes[0, 0], nodes[0, 1], nodes[0, 2] = lo, n, 0
    while top >= 0:
        s_lo, s_n, done = nodes[top, 0], nodes[top, 1], nodes[top, 2]
        if s_n <= 128:
            sums[n_sums] = _pairwise_block(a, s_lo, s_n)
            n_sums += 1
            top -= 1
        elif done:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
            top -= 1
        else:
            nodes[top, 2] = 1
            n2 = s_n // 2
            n2 -= n2 % 8
            nodes[top + 1, 0], nodes[top + 1, 1], nodes[top + 1, 2] = s_lo + n2, s_n - n2, 0
            nodes[top + 2, 0], nodes[top + 2, 1], nodes[top + 2, 2] = s_lo, n2, 0
            top += 2
    return sums[0]
