"""Behaviour of digital and mixed-signal peripherals: quantizers, comparators, accumulators, RNGs.

Room "engine". This module imports only numpy, cimest.errors and its compiled loops
(cimest.engine.kernels; no spec, graph or devices), so it stays a leaf the learning rules build on.

Conventions, each pinned by tests/engine/test_peripherals.py:

- Quantizers (:func:`adc_quantize`, :func:`dac_levels`; :func:`adc_values` and
  :func:`dac_values` give the levels alone): 2**bits levels spaced
  lsb = (v_max - v_min) / (2**bits - 1), so code 0 is v_min and the top code is v_max.
  code = clip(ceil((x - v_min)/lsb - 0.5), 0, 2**bits - 1): nearest level, **ties go to the
  lower code**, out-of-range inputs (and ±inf) clip, NaN raises TrainingError.
  Why ties down: the converter then behaves as a bank of the strict comparators below — code k
  means x exceeded k thresholds v_min + (j - 1/2)·lsb — so a 1-bit ADC equals :func:`compare`
  against mid-range.
- Comparator: 1 if x > reference else 0 (strict; a tie gives 0).
- Ternary sign: -1, 0, +1 with sign(0) = 0.
- Accumulators: signed two's complement range [-2**(bits-1), 2**(bits-1) - 1], saturating.
- Threshold steps: dw = -fix(acc / theta) with fix truncating toward zero; acc <- acc + dw·theta.
- Random sources: ``uniform(shape)`` returns float64 in [0, 1) with ``bits_per_draw`` bits of
  resolution; ``state()`` returns a JSON-serialisable dict, and ``from_state`` or
  :func:`rng_from_state` restores it bit-exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from cimest.engine import kernels
from cimest.errors import TrainingError

# ----------------------------------------------------------------------------------------------
# Quantizers, comparators


def _check_range(bits: int, v_min: float, v_max: float) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 52:
        raise ValueError(f"bits must be an integer in 1..52, got {bits!r}")
    if not (math.isfinite(v_min) and math.isfinite(v_max) and v_min < v_max):
        raise ValueError(f"need finite v_min < v_max, got {v_min!r}, {v_max!r}")


def _reject_nan(x: np.ndarray, what: str) -> None:
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise TrainingError(f"{what}: input contains NaN (training diverged?)")


def _quantize(
    x: np.ndarray, bits: int, v_min: float, v_max: float, what: str
) -> tuple[np.ndarray, np.ndarray]:
    _check_range(bits, v_min, v_max)
    x = np.ascontiguousarray(x, dtype=np.float64)
    top = (1 << int(bits)) - 1
    lsb = (v_max - v_min) / top
    codes, values, nan = kernels.quantize(x, float(v_min), lsb, top)
    if nan:
        raise TrainingError(f"{what}: input contains NaN (training diverged?)")
    return codes, values


def _quantize_levels(x: np.ndarray, bits: int, v_min: float, v_max: float, what: str) -> np.ndarray:
    """``_quantize(...)[1]``: the levels alone, from one compiled pass that forms no codes."""
    _check_range(bits, v_min, v_max)
    x = np.ascontiguousarray(x, dtype=np.float64)
    top = (1 << int(bits)) - 1
    values, nan = kernels.quantize_levels(x, float(v_min), (v_max - v_min) / top, top)
    if nan:
        raise TrainingError(f"{what}: input contains NaN (training diverged?)")
    return values


def _quantize_reference(
    x: np.ndarray, bits: int, v_min: float, v_max: float, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """_quantize in numpy: the reference its compiled kernel is tested against."""
    _check_range(bits, v_min, v_max)
    x = np.asarray(x, dtype=np.float64)
    _reject_nan(x, what)
    top = (1 << int(bits)) - 1
    lsb = (v_max - v_min) / top
    scaled = np.ceil((x - v_min) / lsb - 0.5)
    codes = np.clip(scaled, 0, top).astype(np.int64)
    return codes, v_min + codes * lsb


def adc_quantize(
    x: np.ndarray, bits: int, v_min: float, v_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """N-bit uniform ADC over [v_min, v_max] (convention in the module docstring).

    Returns:
        (codes, values): int64 codes in [0, 2**bits - 1] and the float64 level of each code.

    Raises:
        TrainingError: ``x`` contains NaN.
        ValueError: bits not in 1..52, or not v_min < v_max.
    """
    return _quantize(x, bits, v_min, v_max, "adc_quantize")


def dac_levels(
    x: np.ndarray, bits: int, v_min: float, v_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """N-bit DAC input levels: the nearest of 2**bits levels, same convention as the ADC.

    Returns:
        (codes, values): int64 codes the DAC receives and the float64 level it drives.
    """
    return _quantize(x, bits, v_min, v_max, "dac_levels")


def adc_values(x: np.ndarray, bits: int, v_min: float, v_max: float) -> np.ndarray:
    """``adc_quantize(...)[1]``, the float64 level of each code, without forming the codes (for
    the engine's signal path, which only passes the levels on). Raises as adc_quantize."""
    return _quantize_levels(x, bits, v_min, v_max, "adc_quantize")


def dac_values(x: np.ndarray, bits: int, v_min: float, v_max: float) -> np.ndarray:
    """``dac_levels(...)[1]`` without the codes, as :func:`adc_values`."""
    return _quantize_levels(x, bits, v_min, v_max, "dac_levels")


def compare(x: np.ndarray, reference: np.ndarray | float) -> np.ndarray:
    """1-bit comparator: int8 1 where x > reference, else 0 (ties give 0). NaN raises."""
    x = np.asarray(x)
    reference = np.asarray(reference)
    _reject_nan(x, "compare")
    _reject_nan(reference, "compare (reference)")
    return (x > reference).astype(np.int8)


def ternary_sign(x: np.ndarray) -> np.ndarray:
    """int8 sign in {-1, 0, +1}, sign(0) = sign(-0.0) = 0. NaN raises."""
    x = np.asarray(x)
    _reject_nan(x, "ternary_sign")
    return np.sign(x).astype(np.int8)


# ----------------------------------------------------------------------------------------------
# Accumulators


def _require_int(a: np.ndarray, name: str) -> None:
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")


def accumulate(acc: np.ndarray, delta: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Saturating signed accumulator: acc + delta clipped to [-2**(bits-1), 2**(bits-1) - 1].

    Args:
        acc: integer array, each value already within the range; its dtype must hold the range.
        delta: integer array broadcastable to ``acc``'s shape.
        bits: accumulator width, 1..62.

    Returns:
        (new_acc, n_saturated): the new accumulator (``acc``'s dtype and shape) and how many
        elements were clipped.
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 62:
        raise ValueError(f"bits must be an integer in 1..62, got {bits!r}")
    acc = np.asarray(acc)
    delta = np.asarray(delta)
    _require_int(acc, "acc")
    _require_int(delta, "delta")
    lo, hi = -(1 << (int(bits) - 1)), (1 << (int(bits) - 1)) - 1
    info = np.iinfo(acc.dtype)
    if info.min > lo or info.max < hi:
        raise ValueError(f"acc dtype {acc.dtype} cannot hold a {bits}-bit signed accumulator")
    if np.broadcast_shapes(acc.shape, delta.shape) != acc.shape:
        raise ValueError(f"delta shape {delta.shape} does not broadcast to acc shape {acc.shape}")
    if acc.size and (int(acc.min()) < lo or int(acc.max()) > hi):
        raise ValueError(f"acc holds values outside the {bits}-bit range [{lo}, {hi}]")
    total = acc.astype(np.int64) + delta.astype(np.int64)
    new = np.clip(total, lo, hi)
    n_saturated = int(np.count_nonzero(new != total))
    return new.astype(acc.dtype), n_saturated


def threshold_steps(acc: np.ndarray, theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer weight steps from an accumulator (algorithms.md §1, memristor variant).

    dw = -fix(acc / theta), fix truncating toward zero; acc <- acc + dw·theta, so the remainder
    keeps the sign of acc and |remainder| < theta.

    Returns:
        (dw, new_acc): dw as int64, new_acc in ``acc``'s dtype.
    """
    if isinstance(theta, bool) or not isinstance(theta, int | np.integer) or theta < 1:
        raise ValueError(f"theta must be an integer >= 1, got {theta!r}")
    acc = np.asarray(acc)
    _require_int(acc, "acc")
    a = acc.astype(np.int64)
    fix = np.sign(a) * (np.abs(a) // int(theta))
    dw = -fix
    new_acc = a + dw * int(theta)
    return dw, new_acc.astype(acc.dtype)


def accumulate_steps(
    acc: np.ndarray, delta: np.ndarray, bits: int, theta: int, delta_bound: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``accumulate`` then ``threshold_steps``, fused for the engine's per-batch update: ``acc`` is
    updated in place and only the elements that cross +-theta are returned, as (flat indices in
    ascending order, their dw). Equal to the two functions (a test holds them equal).

    Why: the two functions make about twenty full passes over every weight in int64 per batch,
    while a step is due for a few per cent of the weights; this makes four passes in acc's dtype
    and saturates only the elements at or beyond theta.
    Falls back to the two functions where acc's dtype could overflow. ``delta_bound``, when the
    caller knows one (|delta| <= batch size for a binary gradient), spares the scan for it.
    """
    acc_arr = np.asarray(acc)
    delta = np.asarray(delta)
    fast = (
        acc_arr.dtype == np.int32
        and delta.dtype == np.int32
        and delta.shape == acc_arr.shape
        and acc_arr.flags.c_contiguous
        and isinstance(bits, int | np.integer)
        and 1 <= bits <= 30
        and (
            delta_bound < (1 << 30)
            if delta_bound is not None
            else int(delta.max(initial=0)) < (1 << 30) and int(delta.min(initial=0)) > -(1 << 30)
        )
    )
    if not fast:
        new, _ = accumulate(acc_arr, delta, bits)
        dw, new = threshold_steps(new, theta)
        acc_arr[...] = new
        idx = np.flatnonzero(dw)
        return idx, dw.reshape(-1)[idx]
    if isinstance(theta, bool) or not isinstance(theta, int | np.integer) or theta < 1:
        raise ValueError(f"theta must be an integer >= 1, got {theta!r}")
    lo, hi = -(1 << (int(bits) - 1)), (1 << (int(bits) - 1)) - 1
    # one compiled pass (accumulate_steps_reference is the same in numpy)
    return kernels.accumulate_threshold(acc_arr.reshape(-1), delta.reshape(-1), lo, hi, int(theta))


def accumulate_steps_reference(
    acc: np.ndarray, delta: np.ndarray, bits: int, theta: int
) -> tuple[np.ndarray, np.ndarray]:
    """accumulate_steps' fast path in numpy (int32 acc and delta of one shape, C-contiguous acc,
    bits <= 30): the reference its compiled kernel is tested against."""
    acc_arr = np.asarray(acc)
    lo, hi = -(1 << (int(bits) - 1)), (1 << (int(bits) - 1)) - 1
    np.add(acc_arr, delta, out=acc_arr)  # |acc| < 2^29 and |delta| < 2^30: no int32 overflow
    if theta > hi:  # a step is due only after saturation: clip everything first
        np.clip(acc_arr, lo, hi, out=acc_arr)
    flat = acc_arr.reshape(-1)
    idx = np.flatnonzero(np.abs(flat) >= theta)
    # theta <= hi: whatever lies outside [lo, hi] has |v| > hi >= theta, so is among idx
    v = np.clip(flat[idx], lo, hi).astype(np.int64)
    fix = np.sign(v) * (np.abs(v) // int(theta))
    flat[idx] = (v - fix * int(theta)).astype(acc_arr.dtype)
    return idx, -fix


# ----------------------------------------------------------------------------------------------
# Random sources


class RandomSource(Protocol):
    """What the engine needs from a random source."""

    bits_per_draw: int

    def uniform(self, shape: int | tuple[int, ...]) -> np.ndarray:
        """float64 array of ``shape`` in [0, 1), each value a multiple of 2**-bits_per_draw."""
        ...

    def exceeds(self, x: np.ndarray, dtype: type) -> np.ndarray:
        """Comparators against fresh references: ``(x > self.uniform(x.shape)).astype(dtype)``."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state; ``from_state(state())`` resumes bit-exactly."""
        ...


def _shape_tuple(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)


class IdealRng:
    """Uniforms from numpy's PCG64, quantized to ``bits_per_draw`` bits.

    A draw is k / 2**bits with k = ``Generator.integers(0, 2**bits)`` using dtype uint16 for
    bits <= 16, uint32 for <= 32, else uint64 (the stream depends on that choice).
    """

    def __init__(self, seed: int, bits_per_draw: int = 16):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if (
            isinstance(bits_per_draw, bool)
            or not isinstance(bits_per_draw, int | np.integer)
            or not 1 <= bits_per_draw <= 53
        ):
            raise ValueError(f"bits_per_draw must be an integer in 1..53, got {bits_per_draw!r}")
        self.bits_per_draw = int(bits_per_draw)
        self._gen = np.random.Generator(np.random.PCG64(int(seed)))

    def _dtype(self) -> type[np.unsignedinteger]:
        if self.bits_per_draw <= 16:
            return np.uint16
        if self.bits_per_draw <= 32:
            return np.uint32
        return np.uint64

    def uniform(self, shape: int | tuple[int, ...]) -> np.ndarray:
        k = self._gen.integers(
            0, 1 << self.bits_per_draw, size=_shape_tuple(shape), dtype=self._dtype()
        )
        return k.astype(np.float64) * (2.0**-self.bits_per_draw)

    def exceeds(self, x: np.ndarray, dtype: type) -> np.ndarray:
        return (x > self.uniform(x.shape)).astype(dtype)

    def state(self) -> dict[str, Any]:
        return {
            "kind": "ideal",
            "bits_per_draw": self.bits_per_draw,
            "bit_generator": self._gen.bit_generator.state,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IdealRng:
        if state.get("kind") != "ideal":
            raise ValueError(f"not an IdealRng state: kind {state.get('kind')!r}")
        rng = cls(0, state["bits_per_draw"])
        rng._gen.bit_generator.state = state["bit_generator"]
        return rng


#: Maximal-length Fibonacci taps per width (Xilinx XAPP052), each checked primitive.
DEFAULT_TAPS: dict[int, tuple[int, ...]] = {
    2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1), 27: (27, 5, 2, 1), 28: (28, 25),
    29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1),
}  # fmt: skip

# A GF(2) linear map on width-bit states, stored as the images of the unit vectors (columns).
_Cols = list[int]


def _apply(cols: _Cols, s: int) -> int:
    out, j = 0, 0
    while s:
        if s & 1:
            out ^= cols[j]
        s >>= 1
        j += 1
    return out


def _compose(a: _Cols, b: _Cols) -> _Cols:
    """Columns of a∘b (apply b, then a)."""
    return [_apply(a, c) for c in b]


def _power(cols: _Cols, e: int) -> _Cols:
    return list(_power_cached(tuple(cols), e))


@functools.lru_cache(maxsize=512)
def _power_cached(cols: tuple[int, ...], e: int) -> tuple[int, ...]:
    """cols**e; cached because every sampler of a run checks and seeds the same register (why:
    the pure-Python GF(2) powers were most of a short run's set-up)."""
    result = [1 << j for j in range(len(cols))]
    base = list(cols)
    while e:
        if e & 1:
            result = _compose(base, result)
        base = _compose(base, base)
        e >>= 1
    return tuple(result)


def _prime_factors(n: int) -> list[int]:
    out, d = [], 2
    while d * d <= n:
        if n % d == 0:
            out.append(d)
            while n % d == 0:
                n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def _apply_np(cols: _Cols, s: np.ndarray) -> np.ndarray:
    out = np.zeros_like(s)
    for j, c in enumerate(cols):
        out ^= ((s >> np.uint32(j)) & np.uint32(1)) * np.uint32(c)
    return out


class LfsrRng:
    """``n_lanes`` Fibonacci LFSRs in lockstep, one per comparator lane.

    One LFSR step: feedback = XOR of state bits (t - 1) for t in ``taps``; state <- ((state << 1)
    | feedback) mod 2**width. A draw advances every lane by ``width`` steps (a fresh word) and
    returns state / 2**width, so values lie in [2**-width, 1 - 2**-width] and bits_per_draw =
    width. The draws repeat after (2**width - 1) / gcd(width, 2**width - 1) draws: 2**width - 1
    for widths 8 and 16, fewer for widths sharing a factor with 2**width - 1 (a third for 6, 12,
    24 and 30).

    ``uniform(shape)`` needs a size that is a multiple of ``n_lanes``: in row-major order, each
    consecutive chunk of ``n_lanes`` values is one lockstep draw of lanes 0 … n_lanes-1.

    Seeding: ``seed`` is either the state of lane 0 (an int in 1 … 2**width - 1; lane i starts
    i·max(1, (2**width - 1) // n_lanes) steps further along the same maximal sequence, i.e. evenly
    spaced phases; with more lanes than states, phases repeat) or a sequence of ``n_lanes`` such
    states. Zero is rejected (it locks the register). Taps must give a maximal-length sequence;
    they are checked.

    Speed, measured on the 2-core development machine (width 16, 1e7 draws, best of 3):
    about 250 million draws/s with 128 lanes, 140 million with 10 lanes, 30 million with one
    lane. How: the width-step advance is a GF(2) matrix A; A**k (k = 1 … 256) applied to each
    byte of a state is tabulated (0.5 MB for width 16, built on the first draw, shared per taps),
    so a block of up to 256 draws for all lanes is one table gather per state byte, XORed.
    ``exceeds`` draws one step at a time from the one-draw tables alone, eight lanes at once (their
    chains overlap): about 1 ns a draw with its comparison, 128 lanes (kernels.lfsr_states).
    """

    _BLOCK = 256

    def __init__(
        self,
        seed: int | Sequence[int],
        n_lanes: int = 1,
        width: int = 16,
        taps: Sequence[int] | None = None,
    ):
        if (
            isinstance(width, bool)
            or not isinstance(width, int | np.integer)
            or width not in DEFAULT_TAPS
        ):
            raise ValueError(f"width must be an integer in 2..32, got {width!r}")
        if isinstance(n_lanes, bool) or not isinstance(n_lanes, int | np.integer) or n_lanes < 1:
            raise ValueError(f"n_lanes must be an integer >= 1, got {n_lanes!r}")
        self.width = int(width)
        self.n_lanes = int(n_lanes)
        self.bits_per_draw = self.width
        self.taps = tuple(int(t) for t in (DEFAULT_TAPS[self.width] if taps is None else taps))
        period = (1 << self.width) - 1
        if (
            not self.taps
            or self.width not in self.taps
            or any(not 1 <= t <= self.width for t in self.taps)
            or len(set(self.taps)) != len(self.taps)
        ):
            raise ValueError(
                f"taps must be distinct positions in 1..{self.width} including {self.width}, "
                f"got {self.taps}"
            )
        tap_mask = 0
        for t in self.taps:
            tap_mask |= 1 << (t - 1)
        full = period

        def step(s: int) -> int:
            return ((s << 1) | (bin(s & tap_mask).count("1") & 1)) & full

        self._step_cols: _Cols = [step(1 << j) for j in range(self.width)]
        identity = [1 << j for j in range(self.width)]
        if _power(self._step_cols, period) != identity or any(
            _power(self._step_cols, period // p) == identity for p in _prime_factors(period)
        ):
            raise ValueError(f"taps {self.taps} do not give a maximal-length {self.width}-bit LFSR")
        self._draw_cols: _Cols = _power(self._step_cols, self.width)
        self._lanes = self._seed_lanes(seed)
        self._tables: np.ndarray | None = None  # built on first draw

    def _seed_lanes(self, seed: int | Sequence[int]) -> np.ndarray:
        period = (1 << self.width) - 1
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            if not 1 <= seed <= period:
                raise ValueError(
                    f"LFSR seed must be in 1..{period} (0 locks the register), got {seed!r}"
                )
            lanes = np.array([int(seed)], dtype=np.uint32)
            jump = _power(self._step_cols, max(1, period // self.n_lanes))
            while lanes.size < self.n_lanes:  # doubling: lanes[m:2m] = jump**m (lanes[:m])
                lanes = np.concatenate([lanes, _apply_np(jump, lanes)])
                jump = _compose(jump, jump)
            return lanes[: self.n_lanes].copy()
        seeds = [int(s) for s in seed]
        if len(seeds) != self.n_lanes:
            raise ValueError(f"got {len(seeds)} lane seeds for {self.n_lanes} lanes")
        bad = [s for s in seeds if not 1 <= s <= period]
        if bad:
            raise ValueError(
                f"LFSR lane seeds must be in 1..{period} (0 locks the register): {bad}"
            )
        return np.array(seeds, dtype=np.uint32)

    _TABLES: dict[tuple, np.ndarray] = {}  # (width, taps) -> tables, shared read-only

    def _build_tables(self) -> np.ndarray:
        """tables[b, k, v] = A**(k+1) applied to (v << 8b), A the one-draw advance; built once per
        (width, taps) in a process and shared, read-only, by every register with them."""
        key = (self.width, self.taps)
        if key not in LfsrRng._TABLES:
            tables = self._compute_tables()
            tables.flags.writeable = False
            LfsrRng._TABLES[key] = tables
        return LfsrRng._TABLES[key]

    def _compute_tables(self) -> np.ndarray:
        n_bytes = (self.width + 7) // 8
        values = np.arange(256, dtype=np.uint32)
        first = np.stack(
            [_apply_np(self._draw_cols, values << np.uint32(8 * b)) for b in range(n_bytes)]
        )
        first &= np.uint32((1 << self.width) - 1)
        tables = np.empty((n_bytes, self._BLOCK, 256), dtype=np.uint32)
        tables[:, 0] = first
        for k in range(1, self._BLOCK):
            prev = tables[:, k - 1]
            nxt = first[0][prev & np.uint32(0xFF)]
            for b in range(1, n_bytes):
                nxt ^= first[b][(prev >> np.uint32(8 * b)) & np.uint32(0xFF)]
            tables[:, k] = nxt
        return tables

    def _advance(self, n_draws: int) -> np.ndarray:
        """States after each of the next ``n_draws`` draws, shape (n_draws, n_lanes); compiled
        (_advance_reference is the same in numpy)."""
        if self._tables is None:
            self._tables = self._build_tables()
        out = np.empty((n_draws, self.n_lanes), dtype=np.uint32)
        kernels.lfsr_advance(self._tables, self._lanes, n_draws, out)
        return out

    def _advance_reference(self, n_draws: int) -> np.ndarray:
        """_advance in numpy: the reference its compiled kernel is tested against."""
        if self._tables is None:
            self._tables = self._build_tables()
        tables = self._tables
        out = np.empty((n_draws, self.n_lanes), dtype=np.uint32)
        s = self._lanes
        pos = 0
        while pos < n_draws:
            k = min(self._BLOCK, n_draws - pos)
            block = np.take(tables[0, :k], s & np.uint32(0xFF), axis=1)
            for b in range(1, tables.shape[0]):
                block ^= np.take(tables[b, :k], (s >> np.uint32(8 * b)) & np.uint32(0xFF), axis=1)
            out[pos : pos + k] = block
            s = block[-1]
            pos += k
        self._lanes[:] = s  # in place: kernel_state's lanes stay this register's
        return out

    def uniform(self, shape: int | tuple[int, ...]) -> np.ndarray:
        shape = _shape_tuple(shape)
        size = math.prod(shape)
        if size % self.n_lanes:
            raise ValueError(
                f"size {size} of shape {shape} is not a multiple of {self.n_lanes} lanes"
            )
        states = self._advance(size // self.n_lanes)
        # Why float32 up to 24 bits: k / 2^width is exact there, so every comparison gives what
        # float64 would, at half the memory traffic
        dtype = np.float32 if self.width <= 24 else np.float64
        return (states.astype(dtype) * dtype(2.0**-self.width)).reshape(shape)

    def exceeds(self, x: np.ndarray, dtype: type) -> np.ndarray:
        """``(x > self.uniform(x.shape)).astype(dtype)`` in one compiled pass, no uniforms formed
        (the same draws and comparisons)."""
        if x.size % self.n_lanes:
            raise ValueError(
                f"size {x.size} of shape {x.shape} is not a multiple of {self.n_lanes} lanes"
            )
        if self._tables is None:
            self._tables = self._build_tables()
        out = np.empty(x.shape, dtype=dtype)
        kernels.lfsr_exceeds(
            self._tables,
            self._lanes,
            np.ascontiguousarray(x),
            2.0**-self.width,
            self.width > 24,
            out,
        )
        return out

    def kernel_state(self) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """(tables, lanes, scale, wide) for a compiled caller of kernels.lfsr_states and
        kernels.lfsr_compare, as :meth:`exceeds` passes them: ``lanes`` is this register's own
        array for its whole life (the caller advances it in place, as this register's own draws
        do), so a caller may keep the tuple."""
        if self._tables is None:
            self._tables = self._build_tables()
        return self._tables, self._lanes, 2.0**-self.width, self.width > 24

    def lane_states(self) -> np.ndarray:
        """Current register state of every lane (uint32 copy)."""
        return self._lanes.copy()

    def state(self) -> dict[str, Any]:
        return {
            "kind": "lfsr",
            "width": self.width,
            "taps": list(self.taps),
            "lanes": [int(s) for s in self._lanes],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LfsrRng:
        if state.get("kind") != "lfsr":
            raise ValueError(f"not an LfsrRng state: kind {state.get('kind')!r}")
        lanes = state["lanes"]
        return cls(lanes, len(lanes), state["width"], state["taps"])


def rng_from_state(state: dict[str, Any]) -> IdealRng | LfsrRng:
    """Restore whichever random source ``state`` came from."""
    kinds = {"ideal": IdealRng, "lfsr": LfsrRng}
    kind = state.get("kind")
    if kind not in kinds:
        raise ValueError(f"unknown random source kind {kind!r}; known: {sorted(kinds)}")
    return kinds[kind].from_state(state)
