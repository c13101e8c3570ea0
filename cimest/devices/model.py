"""DeviceModel: what the engine asks of a cell, and the implementations cimest has.

Room: devices (numpy and cimest.errors only). The engine never calls a pulse formula directly: it
asks the cell's DeviceModel for initial conductances, device-to-device variation, pulses, the
read-out of weights and the reference conductance, and which directions it can program. The cell
entry of a device library names its model (``device.model``); ``DEVICE_MODELS`` binds the name to
an implementation. Adding a device model (a soft-bounds device, Ambrogio et al.'s two-tier
PCM + capacitor synapse): one class here and one line in ``DEVICE_MODELS``.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

from cimest.devices import pulse
from cimest.devices.pulse import PairRefresh, PulseModel

Direction = Literal["pot", "dep"]


class DeviceModel(Protocol):
    """A programmable conductance, as the training engine uses it. Conductances are float64
    arrays in siemens; every method draws its random numbers from the ``rng`` it is given."""

    g_min_s: float
    g_max_s: float
    endurance_cycles: float | None

    @property
    def kind(self) -> Literal["pot_dep", "pot_only", "dep_only"]:
        """Which directions are programmable pulse by pulse."""

    @property
    def n_steps(self) -> int:
        """Nominal pulses across the range (one pulse is one step of 1/n_steps in weight units)."""

    def initial(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Conductances of fresh devices."""

    def references(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Conductances of real reference devices (with their device-to-device variation)."""

    def variation(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
        """Per-device multipliers of the step (device-to-device variation), or None."""

    def reference_s(self) -> float:
        """Conductance of the reference device a single-device weight is read against."""

    def pulse_at(
        self,
        g: np.ndarray,
        idx: np.ndarray,
        rng: np.random.Generator,
        d2d: np.ndarray | None,
        direction: Direction,
    ) -> None:
        """One pulse on the devices at flat indices ``idx`` of ``g``, in place."""

    def apply(
        self, g: np.ndarray, n: np.ndarray, rng: np.random.Generator, d2d: np.ndarray | None
    ) -> np.ndarray:
        """Pulse trains: n > 0 potentiating, n < 0 depressing pulses per device."""

    def apply_at(
        self,
        g: np.ndarray,
        idx: np.ndarray,
        n: np.ndarray,
        rng: np.random.Generator,
        d2d: np.ndarray | None,
    ) -> np.ndarray:
        """``apply`` with the non-zero counts ``n`` at ascending flat indices ``idx`` only; may
        work in place on ``g`` and returns the conductances."""

    def weights(self, g: np.ndarray, g_ref: np.ndarray | float | None = None) -> np.ndarray:
        """Weights of single devices read against ``g_ref`` (default: the ideal reference)."""

    def weights_pair(self, g_plus: np.ndarray, g_minus: np.ndarray) -> np.ndarray:
        """Weights of differential pairs."""

    def refresh(
        self,
        g_plus: np.ndarray,
        g_minus: np.ndarray,
        rng: np.random.Generator,
        d2d_plus: np.ndarray | None,
        d2d_minus: np.ndarray | None,
    ) -> PairRefresh:
        """Reset and reprogram pairs of a one-direction device that ran out of room."""


class LiPulseDevice:
    """The nonlinear, noisy, bounded pulse response of Li et al. (arXiv:2304.12866), section 2
    of the reference arithmetic (cimest.devices.pulse holds the formulas and their conventions).
    Fresh devices start at G_at x (scale + sigma xi) (default (Gmin + Gmax)/2 x (1 + 0.1 xi));
    weights are read against a mid-range reference, ideal or a real device with variation."""

    def __init__(
        self,
        model: PulseModel,
        endurance_cycles: float | None = None,
        *,
        start: str = "mid",
        start_scale: float = 1.0,
        start_sigma: float = 0.1,
        reference_sigma: float = 0.0,
        start_levels: int = 7,
    ):
        self.model = model
        self.g_min_s = model.g_min_s
        self.g_max_s = model.g_max_s
        self.endurance_cycles = endurance_cycles
        self.start = start
        self.start_scale = start_scale
        self.start_sigma = start_sigma
        self.reference_sigma = reference_sigma
        self.start_levels = start_levels

    @property
    def kind(self):
        return self.model.kind

    @property
    def n_steps(self) -> int:
        return max(self.model.n_p, self.model.n_d)

    def initial(self, shape, rng):
        """G_at x (scale + sigma xi), clipped to [Gmin, Gmax]; xi drawn in C order. ``uniform``:
        Gmin + (Gmax - Gmin) k / (levels - 1), k uniform in 0 ... levels - 1, drawn in C order."""
        m = self.model
        if self.start == "uniform":
            k = rng.integers(0, self.start_levels, size=shape)
            return m.g_min_s + (m.g_max_s - m.g_min_s) * (k / (self.start_levels - 1))
        g_at = {"min": m.g_min_s, "mid": 0.5 * (m.g_min_s + m.g_max_s), "max": m.g_max_s}[
            self.start
        ]
        xi = rng.standard_normal(shape)
        return np.clip(g_at * (self.start_scale + self.start_sigma * xi), m.g_min_s, m.g_max_s)

    def references(self, shape, rng):
        """Mid-range reference devices, G_mid x (1 + reference_sigma xi), clipped to the range."""
        xi = rng.standard_normal(shape)
        return np.clip(
            self.reference_s() * (1.0 + self.reference_sigma * xi), self.g_min_s, self.g_max_s
        )

    def variation(self, shape, rng):
        return pulse.d2d_multipliers(self.model, shape, rng)

    def reference_s(self) -> float:
        return 0.5 * (self.model.g_min_s + self.model.g_max_s)

    def pulse_at(self, g, idx, rng, d2d, direction) -> None:
        pulse.pulse_at(self.model, g, idx, rng, d2d, direction)

    def potentiate(self, g, mask, rng, d2d):
        return pulse.potentiate(self.model, g, mask, rng, d2d)

    def depress(self, g, mask, rng, d2d):
        return pulse.depress(self.model, g, mask, rng, d2d)

    def apply(self, g, n, rng, d2d):
        return pulse.apply_pulses(self.model, g, n, rng, d2d)

    def apply_at(self, g, idx, n, rng, d2d):
        return pulse.apply_pulses_at(self.model, g, idx, n, rng, d2d)

    def weights(self, g, g_ref=None):
        return pulse.weights_reference(
            g, self.reference_s() if g_ref is None else g_ref, self.model
        )

    def weights_pair(self, g_plus, g_minus):
        return pulse.weights_differential(g_plus, g_minus, self.model)

    def refresh(self, g_plus, g_minus, rng, d2d_plus, d2d_minus) -> PairRefresh:
        return pulse.refresh_pairs(self.model, g_plus, g_minus, rng, d2d_plus, d2d_minus)


#: Device model names a cell entry may give (``device.model``), bound to their implementation.
DEVICE_MODELS = {"li2023_pulse": LiPulseDevice}
