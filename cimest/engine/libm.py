"""numpy's float64 exp and log inside compiled kernels, where they are the same function.

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
