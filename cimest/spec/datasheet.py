"""A cell entry from datasheet numbers: the ``datasheet:`` block of a library entry.

Room: spec (pydantic and leaf modules only). The conversion to the pulse-response model of
reference/algorithms.md section 2 is the one every shipped cell library uses (device_libraries/
README.md, "Conventions"; rram_taox_hfox.yaml header), written once here:

    g_max_s = 1 / r_on_ohm;  g_min_s = g_max_s / on_off_ratio;  n_p = n_d = levels
    alpha   = alpha_from_nl(|NL|): NeuroSim's curve G(P) = B (1 - exp(-P/A)) + G_min is the section 2
              family with alpha = N / A = 1 / A_norm, and A_norm(NL) is NeuroSim's table
              (MLP_NeuroSim_V3.0 formula.cpp getParamA), equivalently
              NL = 10.1 x the largest gap between the normalised curve and the straight line.
    gamma   = c2c_sigma x levels (NeuroSim's sigma is a fraction of the range per pulse, section 2's
              gamma is relative to one mean step, range / levels).

A negative LTD label is NeuroSim's usual depression (large steps near G_max) and maps to
alpha_d = alpha(|NL|). A positive LTD label (opposite curvature) cannot be expressed with
alpha_d >= 0; its magnitude is used, as the shipped libraries do (pcm_fefet_ecram.yaml header).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from cimest.spec.base import Quantity, StrictModel, quantity

NL_GAP_SCALE = 10.1
"""NeuroSim's nonlinearity label is 10.1 x the largest gap of the normalised curve (see above)."""
NL_MAX = NL_GAP_SCALE
"""The gap is below 1, so a label is below 10.1."""


def largest_gap(alpha: float) -> float:
    """max over t in [0, 1] of S(t) - t, with S(t) = (1 - e^(-alpha t)) / (1 - e^(-alpha))."""
    if alpha < 1e-9:
        return alpha / 8.0  # small-alpha limit: S(t) - t ~ alpha t (1 - t) / 2
    d = -math.expm1(-alpha)
    t = -math.log(d / alpha) / alpha  # where S'(t) = 1
    return -math.expm1(-alpha * t) / d - t


def alpha_from_nl(nl: float) -> float:
    """The section 2 alpha of a NeuroSim nonlinearity label (its magnitude; 0 for a linear device).

    Raises:
        ValueError: |nl| >= 10.1 (no curve of the family has that label).
    """
    target = abs(float(nl)) / NL_GAP_SCALE
    if not math.isfinite(target) or target >= 1.0:
        raise ValueError(f"nonlinearity label {nl} is out of range: |NL| must be below {NL_MAX}")
    if target == 0.0:
        return 0.0
    lo, hi = 0.0, 1.0
    while largest_gap(hi) < target:
        hi *= 2.0
        if hi > 1e6:
            raise ValueError(f"nonlinearity label {nl} is too close to {NL_MAX}")
    for _ in range(200):  # bisection: the gap grows monotonically with alpha
        mid = 0.5 * (lo + hi)
        if largest_gap(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def nl_from_alpha(alpha: float) -> float:
    """The NeuroSim label of a section 2 alpha (inverse of ``alpha_from_nl``)."""
    return NL_GAP_SCALE * largest_gap(float(alpha))


class DatasheetSpec(StrictModel):
    """A cell's datasheet numbers; cimest converts them to the section 2 device model at load."""

    levels: int = Field(ge=2, le=1_000_000)
    """Distinguishable conductance levels (also the pulses spanning the range: n_p = n_d = levels)."""
    r_on_ohm: Quantity("r_on_ohm") = quantity("r_on_ohm", positive=True)
    """ON (lowest) resistance, ohm (or a string: "100 kOhm"); g_max = 1 / R_on."""
    on_off_ratio: float = Field(gt=1, le=1e9)
    """R_off / R_on; g_min = g_max / on_off_ratio."""
    v_set_v: Quantity("v_set_v") = quantity("v_set_v", positive=True)
    """Potentiation (SET) pulse amplitude."""
    v_reset_v: Quantity("v_reset_v") = quantity("v_reset_v", positive=True)
    """Depression (RESET) pulse amplitude, as a magnitude (a datasheet's -2.8 V is 2.8)."""
    t_set_s: Quantity("t_set_ns") = quantity("t_set_ns", positive=True)
    """SET pulse width, ns (or a string: "300 us")."""
    t_reset_s: Quantity("t_reset_ns") = quantity("t_reset_ns", positive=True)
    """RESET pulse width."""
    nonlinearity_p: float | None = Field(None, gt=-NL_MAX, lt=NL_MAX)
    """NeuroSim nonlinearity label of potentiation (LTP), e.g. 2.4; converted to alpha_p."""
    nonlinearity_d: float | None = Field(None, gt=-NL_MAX, lt=NL_MAX)
    """NeuroSim nonlinearity label of depression (LTD), e.g. -4.88; converted to alpha_d = alpha(|NL|)."""
    alpha_p: float | None = Field(None, ge=0, le=1000)
    """Section 2 alpha of potentiation, instead of nonlinearity_p."""
    alpha_d: float | None = Field(None, ge=0, le=1000)
    """Section 2 alpha of depression, instead of nonlinearity_d."""
    c2c_sigma: float = Field(0.0, ge=0, le=1)
    """Cycle-to-cycle sigma of one pulse as a fraction of the conductance range (3.5 % -> 0.035)."""
    d2d_sigma: float = Field(0.0, ge=0, le=10)
    """Device-to-device relative sigma of the step size."""
    endurance_cycles: float | None = Field(None, gt=0)
    """Programming pulses a device survives."""
    v_read_v: Quantity("v_read_v") = quantity("v_read_v", default=0.5, positive=True)
    """Read voltage (MLP+NeuroSim default 0.5 V)."""
    t_read_s: Quantity("t_read_ns") = quantity("t_read_ns", default=5e-9, positive=True)
    """Read pulse width (MLP+NeuroSim default 5 ns)."""
    weight_mode: Literal["pot_dep", "pot_only", "dep_only"] = "pot_dep"
    """Which directions are gradual."""

    @model_validator(mode="after")
    def _one_nonlinearity(self) -> DatasheetSpec:
        for side in ("p", "d"):
            if (
                getattr(self, f"nonlinearity_{side}") is not None
                and getattr(self, f"alpha_{side}") is not None
            ):
                raise ValueError(
                    f"give nonlinearity_{side} (a NeuroSim label) or alpha_{side}, not both"
                )
        return self

    def alpha(self, side: Literal["p", "d"]) -> float:
        """alpha of one direction: given directly, from the label, or 0 (linear)."""
        direct = getattr(self, f"alpha_{side}")
        if direct is not None:
            return float(direct)
        nl = getattr(self, f"nonlinearity_{side}")
        return 0.0 if nl is None else alpha_from_nl(nl)

    def device_fields(self) -> dict:
        """The fields of the equivalent ``device:`` block, in SI units (DeviceSpec field names)."""
        g_max = 1.0 / self.r_on_ohm
        gamma = self.c2c_sigma * self.levels
        return {
            "g_min_s": g_max / self.on_off_ratio,
            "g_max_s": g_max,
            "v_read_v": self.v_read_v,
            "t_read_ns": self.t_read_s * 1e9,
            "v_set_v": self.v_set_v,
            "v_reset_v": self.v_reset_v,
            "t_set_ns": self.t_set_s * 1e9,
            "t_reset_ns": self.t_reset_s * 1e9,
            "levels": self.levels,
            "n_p": self.levels,
            "n_d": self.levels,
            "alpha_p": self.alpha("p"),
            "alpha_d": self.alpha("d"),
            "gamma_p": gamma,
            "gamma_d": gamma,
            "d2d_sigma": self.d2d_sigma,
            "weight_mode": self.weight_mode,
            "endurance_cycles": self.endurance_cycles,
        }
