"""numpy's float64 exp and log inside compiled kernels, where they are the same function; a
cheap candidate for numpy's float32 tanh, with the distance it keeps from it.

Room: engine (numpy, numba). Why: a fused step's softmax needs numpy's exp of the output's levels
and its loss numpy's log of the label's probabilities; called from Python, between two kernels,
each is a numpy call (about 6 and 8 us in a batch-64 backprop step, with the sum and the second
kernel call they force). On x86-64 without AVX512F, numpy's float64 exp and log loop over the C
library's (libm's) ``exp`` and ``log``, and so does a numba kernel (LLVM lowers np.exp to a call
of libm's exp): the same function, so the same bits. Where numpy has SIMD versions of its own
(AVX512F; other builds and machines), the two round differently on a share of inputs, and the
fused steps keep numpy's calls.

:func:`matches` tells them apart on this machine: numpy's and the kernel's results, bit for bit,
on 2^16 values in each of four stretches of each function's range and on its special values
(zeros, infinities, NaN, subnormals, the ends of exp's range). Two careful implementations still
round differently on a share of inputs: glibc's exp and log differ from the long-double result
rounded to double on about 0.08% of values (measured here on 2^20 values per range), about 200
of the samples, so a check that passes means the same function.

numpy's float32 tanh is its own SIMD loop, whose bits a kernel cannot reproduce without copying
its algorithm. Binary stochastic learning only compares the sigmoid and its derivative with
random references, so a kernel can decide most comparators from :func:`tanh_candidate` (a
rational function, vectorized) and leave to numpy's tanh only those a candidate TANH_BOUND off
could decide otherwise (fast_batch.bsl_forward). :func:`tanh_margin` says whether that holds on
this machine.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit


@njit(cache=True)
def exp_into(x, out):
    """out = np.exp(x), element by element (flat, float64)."""
    for j in range(x.size):
        out[j] = np.exp(x[j])


@njit(cache=True)
def log_into(x, out):
    """out = np.log(x), element by element (flat, float64)."""
    for j in range(x.size):
        out[j] = np.log(x[j])


def _samples(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return lo + (hi - lo) * rng.random(1 << 16)


@functools.cache
def matches() -> bool:
    """Whether :func:`exp_into` and :func:`log_into` (so np.exp and np.log in any kernel) give
    numpy's bits on this machine."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308]
    xs = np.concatenate(
        [
            _samples(rng, -745.2, 709.8),  # exp's whole range: underflow to overflow
            _samples(rng, -40.0, 0.0),  # softmax's shifted levels
            _samples(rng, -1.0, 1.0),
            rng.standard_normal(1 << 16) * 1e-8,  # near 0, where exp(x) is near 1
            [*special, -745.14, -745.13, -708.4, 709.78, 709.79, 1e300, -1e300],
        ]
    )
    logs = np.concatenate(
        [
            10.0 ** _samples(rng, -323.0, 308.0),  # log's whole range, subnormals included
            _samples(rng, 0.0, 1.0),  # probabilities
            1.0 + rng.standard_normal(1 << 16) * 1e-8,  # near 1, where log(x) is near 0
            _samples(rng, 1.0, 1e6),
            [*special, -1.0, 1.0, 2.0, 1.7976931348623157e308],
        ]
    )
    with np.errstate(all="ignore"):
        theirs = np.exp(xs), np.log(logs)
    ours = np.empty_like(xs), np.empty_like(logs)
    exp_into(xs, ours[0])
    log_into(logs, ours[1])
    return all(a.tobytes() == b.tobytes() for a, b in zip(ours, theirs, strict=True))


# tanh_candidate's x P(x^2) / Q(x^2), P's coefficients then Q's from x^2: fitted here by weighted
# least squares (Sanathanan-Koerner iterations) on 200,001 points of [0, 9.2]
TANH_P = (
    9.9999990526483717e-01,
    1.3371681285762113e-01,
    3.4847582834463373e-03,
    2.0440536412736320e-05,
    1.3137466614576709e-08,
)
TANH_Q = (
    4.6704977756813859e-01,
    2.5835103827995753e-02,
    3.2683531383176606e-04,
    7.6843027674994291e-07,
)
TANH_BOUND = 2e-6
"""The largest |tanh_candidate(t) - np.tanh(t)| a kernel may assume, for every float32 t but NaN:
about five times the largest measured over all 2^32 float32 values on the development machine
(4.2e-7, at t = 8.31; tests/engine/test_libm.py measures it again, in the slow suite)."""

_P = tuple(np.float32(c) for c in TANH_P)
_Q = tuple(np.float32(c) for c in TANH_Q)
_CLAMP = np.float32(9.2)  # tanh is 1 in float32 from 9.01 on


@njit(cache=True, error_model="numpy")
def tanh_candidate(t):
    """A float32 value within TANH_BOUND of numpy's float32 tanh(t), for float32 t but NaN (NaN
    gives a number: callers test for it). Why numpy's error model: without a check for a zero
    divisor (the divisor is at least 1), a caller's loop vectorizes (0.5 ns a value, numpy's
    tanh 2.6)."""
    x = t if t < _CLAMP else _CLAMP
    x = x if x > -_CLAMP else -_CLAMP
    x2 = x * x
    p = _P[0] + x2 * (_P[1] + x2 * (_P[2] + x2 * (_P[3] + x2 * _P[4])))
    q = np.float32(1.0) + x2 * (_Q[0] + x2 * (_Q[1] + x2 * (_Q[2] + x2 * _Q[3])))
    return x * p / q


@njit(cache=True, error_model="numpy")
def tanh_candidate_into(t, out):
    """out = tanh_candidate(t), element by element (flat, float32)."""
    for j in range(t.size):
        out[j] = tanh_candidate(t[j])


@functools.cache
def tanh_margin() -> float:
    """TANH_BOUND where numpy's float32 tanh keeps within half of it from :func:`tanh_candidate`
    on 2^16 values in each of three stretches of its range and on its special values, and gives
    each value of an array the same bits when taken from any part of it (a kernel's candidate
    sends numpy only the values it leaves open); else inf (the kernels then leave every value to
    numpy's tanh)."""
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [
            rng.uniform(-10.0, 10.0, 1 << 16),
            rng.standard_normal(1 << 16) * 0.01,  # near 0, where tanh(t) is near t
            rng.uniform(8.0, 9.5, 1 << 16) * rng.choice([-1.0, 1.0], 1 << 16),  # saturation
            [0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 1.2e-38, 3.4e38, -3.4e38, 9.01, 9.02],
        ]
    ).astype(np.float32)
    ours = np.empty_like(xs)
    tanh_candidate_into(xs, ours)
    with np.errstate(all="ignore"):
        theirs = np.tanh(xs)
    if not np.max(np.abs(ours.astype(np.float64) - theirs)) <= TANH_BOUND / 2:
        return np.inf
    for n in (*range(1, 20), 33, 64, 1000):  # parts of every length a SIMD loop tells apart
        for start in (0, 1, 3, 7):
            idx = np.unique(rng.integers(0, xs.size, n))
            if np.tanh(xs[idx]).tobytes() != theirs[idx].tobytes():
                return np.inf
            if np.tanh(xs[start : start + n]).tobytes() != theirs[start : start + n].tobytes():
                return np.inf
    return TANH_BOUND
