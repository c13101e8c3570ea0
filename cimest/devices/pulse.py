"""Memristor pulse-response model (Li et al., arXiv:2304.12866; the project notes' algorithms.md §2)
and weight read-out.

Room "devices": imports only numpy, cimest.errors and the compiled loops of
cimest.devices.kernels (the per-device arithmetic of :func:`pulse_at` and :func:`apply_pulses`;
``*_reference`` keep it in numpy, and tests hold the two equal).

Conventions (each pinned by tests/devices/test_pulse.py):

- Conductances are float64 arrays in siemens. Every function returns a new array and leaves its
  inputs alone, except :func:`pulse_at` and :func:`apply_pulses_at`, the engine's in-place
  pulses.
- One pulse per masked device. Potentiation and depression follow §2 exactly::

      dG_pot = +[R / (1 - exp(-a_p)) - (G - Gmin)] * (1 - exp(-a_p / N_p)) * (1 + gamma_p * xi)
      dG_dep = -[R / (1 - exp(-a_d)) - (Gmax - G)] * (1 - exp(-a_d / N_d)) * (1 + gamma_d * xi)

  with R = Gmax - Gmin, xi ~ N(0, 1), then G is clipped to [Gmin, Gmax]. For |alpha| < 1e-12 the
  linear limit dG = ±R / N is used (no division by zero). Negative alpha is allowed (convex
  curves). The noise factor ``1 + gamma * xi`` is not clipped, as in the reference code, so a
  large gamma can give a step of the wrong sign.
- Random draws: one standard normal per masked device per pulse, drawn with
  ``rng.standard_normal(n_masked)`` and assigned to the masked devices in row-major (C) order of
  ``np.flatnonzero(mask)``. They are drawn even when gamma is 0, so the random stream depends only
  on the masks, never on parameter values. :func:`apply_pulses` draws, for pulse index
  k = 1, 2, …, first the potentiating devices (n >= k) then the depressing ones (n <= -k).
- Device-to-device variation: an optional per-device multiplier of the step
  (:func:`d2d_multipliers`), applied to the whole step including the noise factor.
- Weights: G0 = (Gmax - Gmin) / (w_max - w_min) with weights in [-0.5, 0.5], so G0 = R.
  Potentiation pulses are SET pulses, depression pulses are RESET pulses.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from cimest.devices import kernels
from cimest.errors import LibraryError

#: Below this |alpha| the pulse response is taken as linear.
ALPHA_LINEAR_LIMIT = 1e-12

#: Weight range represented by the conductance range (w_max - w_min).
WEIGHT_SPAN = 1.0

Direction = Literal["pot", "dep"]

_REAL_FIELDS = ("g_min_s", "g_max_s", "alpha_p", "alpha_d", "gamma_p", "gamma_d", "v_read_v",
                "d2d_sigma")  # fmt: skip


@dataclass(frozen=True)
class PulseModel:
    """Parameters of the §2 pulse-response model of one device type.

    Attributes:
        g_min_s: lowest conductance, S.
        g_max_s: highest conductance, S.
        n_p: potentiation pulses spanning the range; 0 means potentiation is not programmable
            (a dep_only device, used in differential pairs).
        n_d: depression pulses spanning the range; 0 means depression is not programmable.
        alpha_p: potentiation nonlinearity (0 = linear).
        alpha_d: depression nonlinearity (0 = linear).
        gamma_p: cycle-to-cycle relative sigma of a potentiation step.
        gamma_d: cycle-to-cycle relative sigma of a depression step.
        v_read_v: read voltage, V.
        d2d_sigma: device-to-device relative sigma of the step size.

    Raises:
        LibraryError: a parameter is not a finite number, out of range, or both directions
            are unprogrammable (the values come from a device library).
    """

    g_min_s: float
    g_max_s: float
    n_p: int
    n_d: int
    alpha_p: float
    alpha_d: float
    gamma_p: float
    gamma_d: float
    v_read_v: float
    d2d_sigma: float = 0.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in _REAL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating
            ):
                problems.append(f"{name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                problems.append(f"{name} must be finite, got {value!r}")
        for name in ("n_p", "n_d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                problems.append(f"{name} must be an integer >= 0, got {value!r}")
        if problems:
            raise LibraryError("pulse model: " + "; ".join(problems))
        if not 0 <= self.g_min_s < self.g_max_s:
            problems.append(f"need 0 <= g_min_s < g_max_s, got {self.g_min_s!r}, {self.g_max_s!r}")
        if self.n_p == 0 and self.n_d == 0:
            problems.append("n_p and n_d are both 0: the device is not programmable")
        for name in ("gamma_p", "gamma_d", "d2d_sigma"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.v_read_v <= 0:
            problems.append(f"v_read_v must be > 0, got {self.v_read_v!r}")
        if problems:
            raise LibraryError("pulse model: " + "; ".join(problems))

    @property
    def g_range_s(self) -> float:
        """Gmax - Gmin, S."""
        return self.g_max_s - self.g_min_s

    @property
    def g0_s(self) -> float:
        """Conductance per unit weight, G0 = (Gmax - Gmin) / (w_max - w_min), S."""
        return self.g_range_s / WEIGHT_SPAN

    @property
    def i0_a(self) -> float:
        """Current per unit weight at the read voltage, I0 = V_read * G0, A."""
        return self.v_read_v * self.g0_s

    @property
    def kind(self) -> Literal["pot_dep", "pot_only", "dep_only"]:
        """Which directions are programmable pulse by pulse."""
        if self.n_p == 0:
            return "dep_only"
        if self.n_d == 0:
            return "pot_only"
        return "pot_dep"


def _coefficients(alpha: float, n: int) -> tuple[float, float]:
    """(ratio, c) with c = 1 - exp(-alpha/N) and ratio = c / (1 - exp(-alpha)).

    A step is then ``R * ratio - distance_from_start * c``. Linear limit: (1/N, 0).
    """
    if abs(alpha) < ALPHA_LINEAR_LIMIT:
        return 1.0 / n, 0.0
    c = -math.expm1(-alpha / n)
    return c / -math.expm1(-alpha), c


def nominal_step(model: PulseModel, g: np.ndarray, direction: Direction) -> np.ndarray:
    """Noiseless conductance change of one pulse from ``g`` (signed, before clipping), S."""
    g = np.asarray(g, dtype=np.float64)
    if direction == "pot":
        _require_programmable(model, "pot")
        ratio, c = _coefficients(model.alpha_p, model.n_p)
        return model.g_range_s * ratio - (g - model.g_min_s) * c
    if direction == "dep":
        _require_programmable(model, "dep")
        ratio, c = _coefficients(model.alpha_d, model.n_d)
        return -(model.g_range_s * ratio - (model.g_max_s - g) * c)
    raise ValueError(f"direction must be 'pot' or 'dep', got {direction!r}")


def _require_programmable(model: PulseModel, direction: Direction) -> None:
    if direction == "pot" and model.n_p == 0:
        raise ValueError("this device cannot be potentiated pulse by pulse (n_p = 0)")
    if direction == "dep" and model.n_d == 0:
        raise ValueError("this device cannot be depressed pulse by pulse (n_d = 0)")


def _pulse(
    model: PulseModel,
    g: np.ndarray,
    mask: np.ndarray | None,
    rng: np.random.Generator,
    d2d: np.ndarray | None,
    direction: Direction,
) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    out = np.array(g, dtype=np.float64, order="C", copy=True)
    if mask is None:
        idx = np.arange(out.size)
    else:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
        if mask.shape != g.shape:
            raise ValueError(f"mask shape {mask.shape} differs from conductance shape {g.shape}")
        idx = np.flatnonzero(mask)
    pulse_at(model, out, idx, rng, d2d, direction)
    return out


def pulse_at(
    model: PulseModel,
    g: np.ndarray,
    idx: np.ndarray,
    rng: np.random.Generator,
    d2d: np.ndarray | None,
    direction: Direction,
) -> None:
    """One pulse on the devices at flat indices ``idx`` (ascending) of the C-contiguous float64
    array ``g``, in place; the cycle-to-cycle normals are drawn as potentiate/depress draw them
    (one per pulsed device, in index order), so both give the same conductances. Compiled
    (cimest.devices.kernels); :func:`pulse_at_reference` is the same in numpy."""
    _require_programmable(model, direction)
    if g.dtype != np.float64 or not g.flags.c_contiguous:
        raise ValueError("pulse_at needs a C-contiguous float64 conductance array")
    xi = rng.standard_normal(idx.size)
    if idx.size == 0:
        return
    pot = direction == "pot"
    ratio, c = _coefficients(*((model.alpha_p, model.n_p) if pot else (model.alpha_d, model.n_d)))
    kernels.pulse_at(
        g.reshape(-1),
        np.asarray(idx, dtype=np.int64),
        xi,
        _flat_d2d(d2d, g.shape),
        pot,
        model.g_range_s * ratio,
        c,
        model.gamma_p if pot else model.gamma_d,
        model.g_min_s,
        model.g_max_s,
    )


def _flat_d2d(d2d: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if d2d is None:
        return kernels.NO_D2D
    if d2d.shape == shape and d2d.dtype == np.float64 and d2d.flags.c_contiguous:
        return d2d.reshape(-1)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(d2d, dtype=np.float64), shape)).reshape(
        -1
    )


def pulse_at_reference(
    model: PulseModel,
    g: np.ndarray,
    idx: np.ndarray,
    rng: np.random.Generator,
    d2d: np.ndarray | None,
    direction: Direction,
) -> None:
    """:func:`pulse_at` in numpy: the reference its compiled kernel is tested against."""
    _require_programmable(model, direction)
    if g.dtype != np.float64 or not g.flags.c_contiguous:
        raise ValueError("pulse_at needs a C-contiguous float64 conductance array")
    flat = g.reshape(-1)
    xi = rng.standard_normal(idx.size)
    if idx.size == 0:
        return
    g_sel = flat[idx]
    gamma = model.gamma_p if direction == "pot" else model.gamma_d
    step = nominal_step(model, g_sel, direction) * (1.0 + gamma * xi)
    if d2d is not None:
        step = step * np.broadcast_to(np.asarray(d2d, dtype=np.float64), g.shape).reshape(-1)[idx]
    flat[idx] = np.clip(g_sel + step, model.g_min_s, model.g_max_s)


def potentiate(
    model: PulseModel,
    g: np.ndarray,
    mask: np.ndarray | None,
    rng: np.random.Generator,
    d2d: np.ndarray | None = None,
) -> np.ndarray:
    """One potentiation (SET) pulse on every device where ``mask`` is True.

    Args:
        model: device parameters.
        g: conductances, S (any shape).
        mask: boolean array of ``g``'s shape, or None for every device.
        rng: source of the cycle-to-cycle normals (drawn as described in the module docstring).
        d2d: optional per-device step multipliers, broadcastable to ``g``'s shape.

    Returns:
        New conductances, clipped to [Gmin, Gmax].

    Raises:
        ValueError: the model cannot be potentiated (n_p = 0) or shapes disagree.
    """
    return _pulse(model, g, mask, rng, d2d, "pot")


def depress(
    model: PulseModel,
    g: np.ndarray,
    mask: np.ndarray | None,
    rng: np.random.Generator,
    d2d: np.ndarray | None = None,
) -> np.ndarray:
    """One depression (RESET) pulse on each device where ``mask`` is True (see potentiate)."""
    return _pulse(model, g, mask, rng, d2d, "dep")


def apply_pulses(
    model: PulseModel,
    g: np.ndarray,
    n_pulses: np.ndarray,
    rng: np.random.Generator,
    d2d: np.ndarray | None = None,
) -> np.ndarray:
    """Pulse trains: ``n_pulses`` > 0 potentiation pulses, < 0 depression pulses per device.

    Pulse k (k = 1 … max |n|) goes, in this order, to the devices with n >= k (potentiation) and
    then to those with n <= -k (depression), each as one call of :func:`potentiate` /
    :func:`depress`. A direction with no device at a given k draws nothing. Compiled: the normals
    of every pulse are drawn in one call (the same stream) and one loop applies them;
    :func:`apply_pulses_reference` is the same in numpy.

    Raises:
        ValueError: a count asks for a direction the model cannot program, or shapes disagree.
        TypeError: ``n_pulses`` is not an integer array.
    """
    g = np.asarray(g, dtype=np.float64)
    n = np.asarray(n_pulses)
    if not np.issubdtype(n.dtype, np.integer):
        raise TypeError(f"n_pulses must be an integer array, got dtype {n.dtype}")
    if n.shape != g.shape:
        raise ValueError(f"n_pulses shape {n.shape} differs from conductance shape {g.shape}")
    n_max_pot = int(n.max(initial=0))
    n_max_dep = int(-n.min(initial=0))
    if n_max_pot > 0:
        _require_programmable(model, "pot")
    if n_max_dep > 0:
        _require_programmable(model, "dep")
    out = np.array(g, dtype=np.float64, order="C", copy=True)
    flat_n = np.ascontiguousarray(n).reshape(-1)
    idx = np.flatnonzero(flat_n)
    return apply_pulses_at(model, out, idx, flat_n[idx].astype(np.int64), rng, d2d)


def apply_pulses_at(
    model: PulseModel,
    g: np.ndarray,
    idx: np.ndarray,
    n: np.ndarray,
    rng: np.random.Generator,
    d2d: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`apply_pulses` with the non-zero counts given as ``n`` (int64) at the ascending flat
    indices ``idx``, every other count 0: the same pulses and draws, applied in place to ``g``
    when it is C-contiguous float64 (else to such a copy), which is returned."""
    out = np.ascontiguousarray(g, dtype=np.float64)
    if idx.size == 0:
        return out
    pot, dep = _range_coefficients(model, "pot"), _range_coefficients(model, "dep")
    xi = rng.standard_normal(int(np.abs(n).sum()))  # one normal per pulse, in pulse order
    missing = kernels.pulse_trains(
        out.reshape(-1),
        np.asarray(idx, dtype=np.int64),
        np.asarray(n, dtype=np.int64),
        xi,
        _flat_d2d(d2d, out.shape),
        pot,
        dep,
        model.gamma_p,
        model.gamma_d,
        model.g_min_s,
        model.g_max_s,
        model.n_p > 0,
        model.n_d > 0,
    )
    if missing:
        _require_programmable(model, "pot" if missing > 0 else "dep")
    return out


@functools.lru_cache(maxsize=64)
def _range_coefficients(model: PulseModel, direction: Direction) -> tuple[float, float]:
    """(R x ratio, c) of a direction's step (zeros for a direction the device cannot program)."""
    alpha, n = (model.alpha_p, model.n_p) if direction == "pot" else (model.alpha_d, model.n_d)
    if n == 0:
        return 0.0, 0.0
    ratio, c = _coefficients(alpha, n)
    return model.g_range_s * ratio, c


def apply_pulses_reference(
    model: PulseModel,
    g: np.ndarray,
    n_pulses: np.ndarray,
    rng: np.random.Generator,
    d2d: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`apply_pulses` in numpy, one :func:`pulse_at_reference` per pulse index and
    direction: the reference its compiled kernel is tested against."""
    n = np.asarray(n_pulses)
    out = np.array(g, dtype=np.float64, order="C", copy=True)
    n_max_pot, n_max_dep = int(n.max(initial=0)), int(-n.min(initial=0))
    for k in range(1, max(n_max_pot, n_max_dep) + 1):
        if k <= n_max_pot:
            pulse_at_reference(model, out, np.flatnonzero(n >= k), rng, d2d, "pot")
        if k <= n_max_dep:
            pulse_at_reference(model, out, np.flatnonzero(n <= -k), rng, d2d, "dep")
    return out


def initial_conductance(
    model: PulseModel, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """G = (Gmin + Gmax)/2 * (1 + 0.1 * xi), clipped to [Gmin, Gmax]; xi drawn in C order."""
    xi = rng.standard_normal(shape)
    mid = 0.5 * (model.g_min_s + model.g_max_s)
    return np.clip(mid * (1.0 + 0.1 * xi), model.g_min_s, model.g_max_s)


def d2d_multipliers(
    model: PulseModel, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Per-device step multipliers max(0, 1 + d2d_sigma * xi); xi drawn in C order, even if sigma=0.

    Why max(0, …): a device whose every step goes the wrong way is not a variation of this device
    type; a dead device (multiplier 0) is.
    """
    xi = rng.standard_normal(shape)
    return np.maximum(0.0, 1.0 + model.d2d_sigma * xi)


def weights_reference(g: np.ndarray, g_ref: np.ndarray | float, model: PulseModel) -> np.ndarray:
    """Weights of single devices read against a reference device: (G - G_ref) / G0."""
    return (np.asarray(g, dtype=np.float64) - np.asarray(g_ref, dtype=np.float64)) / model.g0_s


def weights_differential(g_plus: np.ndarray, g_minus: np.ndarray, model: PulseModel) -> np.ndarray:
    """Weights of differential pairs: (G+ - G-) / G0."""
    return (
        np.asarray(g_plus, dtype=np.float64) - np.asarray(g_minus, dtype=np.float64)
    ) / model.g0_s


def conductance_for_weights(
    w: np.ndarray, model: PulseModel, g_ref_s: float | np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`weights_reference`: G = G_ref + w * G0, clipped to [Gmin, Gmax].

    ``g_ref_s`` defaults to the mid-range conductance, so w in [-0.5, 0.5] spans the full range.
    """
    g_ref = 0.5 * (model.g_min_s + model.g_max_s) if g_ref_s is None else g_ref_s
    g = np.asarray(g_ref, dtype=np.float64) + np.asarray(w, dtype=np.float64) * model.g0_s
    return np.clip(g, model.g_min_s, model.g_max_s)


def pair_for_weights(
    w: np.ndarray, model: PulseModel, base: Literal["low", "high", "mid"] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`weights_differential`: a (G+, G-) pair holding each weight.

    Args:
        w: weights (clipped to [-0.5, 0.5]).
        model: device parameters.
        base: ``"low"``: the smaller device sits at Gmin and the other at Gmin + |w|·G0 (room to
            potentiate); ``"high"``: the larger sits at Gmax (room to depress); ``"mid"``:
            G± = mid ± w·G0/2. Default: ``"high"`` for dep_only devices, else ``"low"``.
    """
    w = np.clip(np.asarray(w, dtype=np.float64), -0.5 * WEIGHT_SPAN, 0.5 * WEIGHT_SPAN)
    if base is None:
        base = "high" if model.kind == "dep_only" else "low"
    g0 = model.g0_s
    if base == "low":
        g_plus = model.g_min_s + np.maximum(w, 0.0) * g0
        g_minus = model.g_min_s + np.maximum(-w, 0.0) * g0
    elif base == "high":
        g_plus = model.g_max_s - np.maximum(-w, 0.0) * g0
        g_minus = model.g_max_s - np.maximum(w, 0.0) * g0
    elif base == "mid":
        mid = 0.5 * (model.g_min_s + model.g_max_s)
        g_plus = mid + 0.5 * w * g0
        g_minus = mid - 0.5 * w * g0
    else:
        raise ValueError(f"base must be 'low', 'high' or 'mid', got {base!r}")
    return g_plus, g_minus


def pulses_from_bound(model: PulseModel, g_target: np.ndarray, direction: Direction) -> np.ndarray:
    """Whole pulses that move a device from its start bound closest to ``g_target``, noiselessly.

    ``"pot"`` starts at Gmin, ``"dep"`` at Gmax. Inverts G(n) = Gmin + B·(1 - exp(-alpha·n/N)),
    B = R / (1 - exp(-alpha)) (the closed form of the §2 recurrence), rounds half up, and caps the
    result at N. Returns int64.
    """
    g_target = np.clip(np.asarray(g_target, dtype=np.float64), model.g_min_s, model.g_max_s)
    if direction == "pot":
        _require_programmable(model, "pot")
        alpha, n_full = model.alpha_p, model.n_p
        frac = (g_target - model.g_min_s) / model.g_range_s
    elif direction == "dep":
        _require_programmable(model, "dep")
        alpha, n_full = model.alpha_d, model.n_d
        frac = (model.g_max_s - g_target) / model.g_range_s
    else:
        raise ValueError(f"direction must be 'pot' or 'dep', got {direction!r}")
    if abs(alpha) < ALPHA_LINEAR_LIMIT:
        n_real = n_full * frac
    else:
        # frac = (1 - exp(-alpha n / N)) / (1 - exp(-alpha))  =>  n = -N/alpha * ln(1 - frac*d)
        d = -math.expm1(-alpha)
        n_real = -(n_full / alpha) * np.log1p(-frac * d)
    return np.minimum(np.floor(n_real + 0.5), n_full).astype(np.int64)


class PairRefresh(NamedTuple):
    """Result of :func:`refresh_pairs`."""

    g_plus: np.ndarray
    """New G+ conductances, S."""
    g_minus: np.ndarray
    """New G- conductances, S."""
    n_set: int
    """SET (potentiation) pulses applied, summed over all pairs."""
    n_reset: int
    """RESET (depression) pulses applied, summed over all pairs."""
    refreshed: np.ndarray
    """Boolean mask of the pairs that were reset and reprogrammed."""


def refresh_pairs(
    model: PulseModel,
    g_plus: np.ndarray,
    g_minus: np.ndarray,
    rng: np.random.Generator,
    d2d_plus: np.ndarray | None = None,
    d2d_minus: np.ndarray | None = None,
) -> PairRefresh:
    """Reset-and-reprogram the differential pairs of a one-direction device that ran out of room.

    Policy, for a pot_only device (only SET is gradual; one RESET pulse returns a device to Gmin):

    - A pair is refreshed when its higher device is within one nominal SET step of Gmax (the next
      SET would clip, or it is at Gmax) **and** its lower device is at least one nominal SET step
      (the step at Gmin) above Gmin. Why the second condition: otherwise the reset frees no room,
      and a weight near ±0.5 would be refreshed at every call.
    - Both devices get one RESET pulse and land exactly on Gmin (2 RESET pulses per pair). The
      device that must hold the difference D = G+ - G- (G+ if D > 0, else G-) then gets
      :func:`pulses_from_bound` SET pulses towards Gmin + |D|, open loop (no verify reads), with
      cycle-to-cycle noise and the device's d2d multiplier.

    dep_only devices mirror this (gradual RESET, one SET pulse to Gmax): trigger when the lower
    device is within one nominal RESET step of Gmin and the higher is at least one step (the step at
    Gmax) below Gmax; 2 SET pulses per pair, then RESET pulses towards Gmax - |D| on the device
    that must be lower.

    Random draws: all pulses on G+ (one :func:`apply_pulses` call) then all on G-.

    Raises:
        ValueError: the model is pot_dep (both directions gradual: depress instead) or shapes
            disagree.
    """
    g_plus = np.asarray(g_plus, dtype=np.float64)
    g_minus = np.asarray(g_minus, dtype=np.float64)
    if g_plus.shape != g_minus.shape:
        raise ValueError(f"g_plus shape {g_plus.shape} differs from g_minus shape {g_minus.shape}")
    kind = model.kind
    if kind == "pot_dep":
        raise ValueError("refresh_pairs is for pot_only / dep_only devices; this one is pot_dep")
    hi = np.maximum(g_plus, g_minus)
    lo = np.minimum(g_plus, g_minus)
    diff = g_plus - g_minus
    if kind == "pot_only":
        near_bound = hi + nominal_step(model, hi, "pot") >= model.g_max_s
        room = lo - model.g_min_s >= nominal_step(model, np.float64(model.g_min_s), "pot")
        refreshed = near_bound & room
        base, direction, sign = model.g_min_s, "pot", 1
        target_abs = model.g_min_s + np.abs(diff)
    else:
        near_bound = lo + nominal_step(model, lo, "dep") <= model.g_min_s
        room = model.g_max_s - hi >= -nominal_step(model, np.float64(model.g_max_s), "dep")
        refreshed = near_bound & room
        base, direction, sign = model.g_max_s, "dep", -1
        target_abs = model.g_max_s - np.abs(diff)
    n_refreshed = int(np.count_nonzero(refreshed))
    if n_refreshed == 0:
        return PairRefresh(g_plus.copy(), g_minus.copy(), 0, 0, refreshed)
    n_needed = pulses_from_bound(model, target_abs, direction)
    # The device holding the difference: G+ if it must be the larger one (pot_only) / must stay
    # larger (dep_only: the smaller one is depressed).
    plus_programmed = (diff > 0) if kind == "pot_only" else (diff < 0)
    minus_programmed = (diff < 0) if kind == "pot_only" else (diff > 0)
    n_plus = np.where(refreshed & plus_programmed, sign * n_needed, 0).astype(np.int64)
    n_minus = np.where(refreshed & minus_programmed, sign * n_needed, 0).astype(np.int64)
    new_plus = np.where(refreshed, base, g_plus)
    new_minus = np.where(refreshed, base, g_minus)
    new_plus = apply_pulses(model, new_plus, n_plus, rng, d2d_plus)
    new_minus = apply_pulses(model, new_minus, n_minus, rng, d2d_minus)
    n_gradual = int(np.abs(n_plus).sum() + np.abs(n_minus).sum())
    n_abrupt = 2 * n_refreshed
    if kind == "pot_only":
        return PairRefresh(new_plus, new_minus, n_gradual, n_abrupt, refreshed)
    return PairRefresh(new_plus, new_minus, n_abrupt, n_gradual, refreshed)
