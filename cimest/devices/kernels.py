"""Compiled loops of the pulse model: the per-device work of cimest.devices.pulse, for the engine's
one-sample updates, where numpy's per-call overhead was most of the time.

Room: devices (numpy, numba). Each kernel performs, element by element, exactly the float64
operations of the numpy expression it replaces, in the same order (no fast-math, no fused
multiply-add), so the results are bit-identical; tests/devices/test_kernels.py holds each kernel
equal to its numpy reference. Random numbers are never drawn here: the caller draws the
cycle-to-cycle normals with numpy's Generator (one call, the same stream) and passes them in.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")  # Why: a call per element otherwise
def _step(g, xi, k, d2d, pot, r_ratio, c, gamma, g_bound):
    """One pulse's new conductance: pulse.nominal_step x (1 + gamma xi) x d2d, clipped."""
    if pot:
        step = r_ratio - (g - g_bound) * c
    else:
        step = -(r_ratio - (g_bound - g) * c)
    step = step * (1.0 + gamma * xi)
    if d2d.size:
        step = step * d2d[k]
    return step


@njit(cache=True, inline="always")  # Why: a call per element otherwise
def _clip(v, lo, hi):
    # np.clip's order: max with lo, then min with hi (NaN passes through)
    if v < lo:
        v = lo
    if v > hi:
        v = hi
    return v


@njit(cache=True)
def pulse_at(g, idx, xi, d2d, pot, r_ratio, c, gamma, g_min, g_max):
    """One pulse on the flat float64 conductances ``g`` at ``idx``, in place; ``xi`` one normal
    per index; ``d2d`` the flat step multipliers or an empty array; ``pot`` the direction."""
    bound = g_min if pot else g_max
    for j in range(idx.size):
        k = idx[j]
        gk = g[k]
        g[k] = _clip(gk + _step(gk, xi[j], k, d2d, pot, r_ratio, c, gamma, bound), g_min, g_max)


@njit(cache=True)
def pulse_trains(
    g, idx, n, xi, d2d, pot_coef, dep_coef, gamma_p, gamma_d, g_min, g_max, can_pot, can_dep
):
    """Pulse trains on the flat conductances ``g`` in place, in pulse.apply_pulses' order: for
    pulse k = 1, 2, ..., first every device with n >= k, then every one with n <= -k, each in
    ascending index order, consuming one normal of ``xi`` per pulse. ``idx``: ascending flat
    indices of the devices with n != 0; ``n``: their counts; ``pot_coef``/``dep_coef``:
    (R x ratio, c) of each direction (pulse._coefficients). Returns 0, or, touching nothing,
    1 (-1) when a count asks for potentiation (depression) and ``can_pot`` (``can_dep``) is
    False."""
    n_pot = 0
    n_dep = 0
    for j in range(n.size):
        if n[j] > n_pot:
            n_pot = n[j]
        if -n[j] > n_dep:
            n_dep = -n[j]
    if n_pot > 0 and not can_pot:
        return 1
    if n_dep > 0 and not can_dep:
        return -1
    # Where each pulse's normal sits in the stream: pulse k of a device is the next of round k,
    # whose normals are those of its potentiating devices (n >= k, index order), then those of its
    # depressing ones (n <= -k). Each device's pulses then run one after another, its
    # conductance in a register: the same operations on the same values as round by round (a
    # device's pulses depend only on its own state), with predictable branches (twice as fast).
    k_max = max(n_pot, n_dep)
    next_pot = np.zeros(k_max + 2, dtype=np.int64)
    next_dep = np.zeros(k_max + 2, dtype=np.int64)
    for j in range(n.size):  # devices per count, then per round by suffix sums
        if n[j] > 0:
            next_pot[n[j]] += 1
        elif n[j] < 0:
            next_dep[-n[j]] += 1
    for k in range(k_max - 1, 0, -1):
        next_pot[k] += next_pot[k + 1]
        next_dep[k] += next_dep[k + 1]
    base = 0
    for k in range(1, k_max + 1):
        in_round = next_pot[k] + next_dep[k]
        next_dep[k] = base + next_pot[k]
        next_pot[k] = base
        base += in_round
    # _step and _clip written out, the device's multiplier loaded once: the same operations in
    # the same order, 2.5x faster per pulse than through the inlined helpers
    has_d2d = d2d.size > 0
    for j in range(n.size):
        i = idx[j]
        gi = g[i]
        dd = d2d[i] if has_d2d else 1.0
        if n[j] > 0:
            r_ratio, c = pot_coef[0], pot_coef[1]
            for k in range(1, n[j] + 1):
                step = r_ratio - (gi - g_min) * c
                step = step * (1.0 + gamma_p * xi[next_pot[k]])
                if has_d2d:
                    step = step * dd
                next_pot[k] += 1
                gi = _clip(gi + step, g_min, g_max)
        elif n[j] < 0:
            r_ratio, c = dep_coef[0], dep_coef[1]
            for k in range(1, -n[j] + 1):
                step = -(r_ratio - (g_max - gi) * c)
                step = step * (1.0 + gamma_d * xi[next_dep[k]])
                if has_d2d:
                    step = step * dd
                next_dep[k] += 1
                gi = _clip(gi + step, g_min, g_max)
        g[i] = gi
    return 0


NO_D2D = np.empty(0, dtype=np.float64)
