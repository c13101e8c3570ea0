"""Calibration: fit per-kind energy (and area) factors to a measured breakdown.

Room: costs (imports spec, graph, leaf modules). ``calibration:`` in an architecture multiplies the
dynamic energy of every action of a component kind (costs/pricing.py), ``area_calibration:`` its
area, as NeuroSim applies post-layout factors. Given a measured breakdown by kind

    per: sample            # or mac: energies per multiply-accumulate
    energy_pj:             # numbers in pJ, or strings with a unit ("1.2 nJ")
      adc: 5200
      cell: "0.8 nJ"
    area_um2:              # optional; numbers in um^2 or strings ("0.3 mm2")
      adc: 90000

the model's energy of kind k is ``f_k * D_k + S_k`` (D: dynamic energy at factor 1, S: its leakage,
which calibration does not touch), its area ``a_k * A_k``. Each factor is the non-negative least-squares
solution of the relative residuals ``(model - measured) / measured``; each kind has one measured value
here, so the solution is ``(measured - S_k) / D_k``, exact unless clipped at the spec's bounds. Kinds
the measurement does not name keep their factor of 1.

The architecture file is written back with only its ``calibration:`` (and ``area_calibration:``)
section replaced; every other line keeps its text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from cimest.costs.estimate import Estimate, estimate
from cimest.costs.pricing import price_graph
from cimest.counts import EventCounts
from cimest.errors import CimestError
from cimest.graph.analytic import count_analytic
from cimest.graph.compile import compile_graph
from cimest.spec.architecture import ArchitectureSpec
from cimest.spec.base import Quantity, StrictModel
from cimest.spec.kinds import KIND_ACTIONS
from cimest.spec.libraries import LibrarySet

FACTOR_MIN = 1e-6
FACTOR_MAX = 1000.0  # the architecture schema's bound
MEASURED_ENERGY_PJ = (0.0, 1e12)
"""Range of a measured energy, pJ: up to 1 J per sample (a zero is refused with its own message)."""
MEASURED_AREA_UM2 = (0.0, 1e12)
"""Range of a measured area, um2: up to 1 m2."""


class MeasuredBreakdownSpec(StrictModel):
    """A measured energy (and area) breakdown by component kind."""

    per: Literal["sample", "mac"] = "sample"
    """Energies per sample (inference or training step) or per multiply-accumulate."""
    energy_j: dict[str, Quantity("energy_pj", MEASURED_ENERGY_PJ)] = Field(
        alias="energy_pj", default_factory=dict
    )
    """Measured energy by component kind, pJ (or strings with a unit)."""
    area_m2: dict[str, Quantity("area_um2", MEASURED_AREA_UM2)] = Field(
        alias="area_um2", default_factory=dict
    )
    """Measured area by component kind, um^2 (or strings with a unit)."""
    source: str = ""
    """Where the measurement comes from."""


@dataclass
class CalibrationFit:
    """Fitted factors and the residuals before (current factors) and after."""

    calibration: dict[str, float]
    area_calibration: dict[str, float]
    rows: list[dict] = field(default_factory=list)
    """One per measured value: quantity, kind, measured, model before, model after (SI)."""

    @staticmethod
    def _rms(values: list[float]) -> float:
        return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0

    @property
    def rms_before(self) -> float:
        """RMS of the relative residuals with the architecture's current factors."""
        return self._rms([r["model_before"] / r["measured"] - 1 for r in self.rows])

    @property
    def rms_after(self) -> float:
        return self._rms([r["model_after"] / r["measured"] - 1 for r in self.rows])


def uncalibrated(spec: ArchitectureSpec) -> ArchitectureSpec:
    return spec.model_copy(update={"calibration": {}, "area_calibration": {}})


def kind_totals(
    est: Estimate, per_mac: bool
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(dynamic energy, leakage energy, area) by kind; energies per sample or per MAC."""
    macs = sum(est.macs_per_sample.values())
    scale = 1.0 / macs if per_mac and macs else 1.0
    dyn: dict[str, float] = {}
    leak: dict[str, float] = {}
    for r in est.breakdown:
        target = leak if r.action == "leakage" else dyn
        target[r.kind] = target.get(r.kind, 0.0) + r.energy_j * scale
    area: dict[str, float] = {}
    for a in est.area:
        area[a.kind] = area.get(a.kind, 0.0) + a.area_m2
    return dyn, leak, area


def _factor(model: list[float], offset: list[float], measured: list[float]) -> float:
    """argmin_f sum(((f m + c - y) / y)^2) over f >= 0 (closed form, clipped to the bounds).

    Computed on m / y and c / y (the residuals are relative), so no square of a tiny or huge
    energy underflows or overflows.
    """
    rel = [(m / y, c / y) for m, c, y in zip(model, offset, measured, strict=True)]
    num = sum(m * (1.0 - c) for m, c in rel)
    den = sum(m * m for m, _ in rel)
    if den == 0.0:  # the model is vanishingly small next to the measurement
        return FACTOR_MAX
    f = num / den
    if not math.isfinite(f):  # ... or astronomically larger
        return FACTOR_MIN
    return min(max(f, FACTOR_MIN), FACTOR_MAX)


def fit_calibration(
    spec: ArchitectureSpec,
    libraries: LibrarySet,
    measured: MeasuredBreakdownSpec,
    counts: EventCounts | None = None,
) -> CalibrationFit:
    """Fit the factors of the kinds ``measured`` names (analytic counts unless ``counts`` given).

    Raises:
        CimestError: a measured kind is unknown, absent from the design, or measured as 0.
    """
    base_spec = uncalibrated(spec)
    graph = compile_graph(base_spec)
    priced = price_graph(graph, libraries)
    counts = counts if counts is not None else count_analytic(graph)
    per_mac = measured.per == "mac"
    dyn, leak, area = kind_totals(estimate(graph, counts, libraries, priced=priced), per_mac)
    problems = []
    for label, values, have in (
        ("energy_pj", measured.energy_j, dyn),
        ("area_um2", measured.area_m2, area),
    ):
        for kind, y in values.items():
            if kind not in KIND_ACTIONS:
                problems.append(
                    f"{label}.{kind}: unknown component kind. Allowed: {', '.join(KIND_ACTIONS)}"
                )
            elif have.get(kind, 0.0) <= 0.0:
                problems.append(
                    f"{label}.{kind}: the design has no {kind} {'energy' if label == 'energy_pj' else 'area'}"
                    f" to calibrate. Kinds it has: {', '.join(k for k, v in have.items() if v > 0 and k in KIND_ACTIONS)}"
                )
            elif y <= 0.0:
                problems.append(
                    f"{label}.{kind}: a measured value of 0 cannot be matched by a positive factor"
                )
    if problems:
        raise CimestError("\n".join(problems))
    cal = {k: _factor([dyn[k]], [leak.get(k, 0.0)], [y]) for k, y in measured.energy_j.items()}
    area_cal = {k: _factor([area[k]], [0.0], [y]) for k, y in measured.area_m2.items()}
    rows = []
    for k, y in measured.energy_j.items():
        before = spec.calibration.get(k, 1.0) * dyn[k] + leak.get(k, 0.0)
        rows.append(
            {
                "quantity": "energy",
                "kind": k,
                "measured": y,
                "model_before": before,
                "model_after": cal[k] * dyn[k] + leak.get(k, 0.0),
                "factor": cal[k],
            }
        )
    for k, y in measured.area_m2.items():
        rows.append(
            {
                "quantity": "area",
                "kind": k,
                "measured": y,
                "model_before": spec.area_calibration.get(k, 1.0) * area[k],
                "model_after": area_cal[k] * area[k],
                "factor": area_cal[k],
            }
        )
    return CalibrationFit(cal, area_cal, rows)


# --- writing the factors back into the YAML text ------------------------------------------------

_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


def _format_section(key: str, values: dict[str, float]) -> list[str]:
    if not values:
        return [f"{key}: {{}}"]
    return [f"{key}:"] + [f"  {k}: {float(v)!r}" for k, v in sorted(values.items())]


def set_top_level_section(text: str, key: str, values: dict[str, float]) -> str:
    """``text`` with the top-level ``key:`` block replaced by ``values`` (appended if absent).

    The block is the key's line and every following line that is indented, blank or a comment
    until the next top-level key; every other line is kept as it is.
    """
    lines = text.splitlines()
    start = next(
        (i for i, ln in enumerate(lines) if (m := _TOP_KEY.match(ln)) and m.group(1) == key), None
    )
    new = _format_section(key, values)
    if start is None:
        out = lines[:]
        while out and not out[-1].strip():
            out.pop()
        return "\n".join([*out, *new]) + "\n"
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    # keep trailing blank/comment lines that belong to what follows
    while end > start + 1 and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1
    return "\n".join([*lines[:start], *new, *lines[end:]]) + "\n"


def calibrated_text(text: str, fit: CalibrationFit, spec: ArchitectureSpec) -> str:
    """The architecture text with the fitted factors merged into its current ones."""
    cal = {**spec.calibration, **fit.calibration}
    out = set_top_level_section(text, "calibration", cal)
    area_cal = {**spec.area_calibration, **fit.area_calibration}
    if area_cal or "area_calibration" in spec.model_fields_set:
        out = set_top_level_section(out, "area_calibration", area_cal)
    return out


__all__ = [
    "CalibrationFit",
    "MeasuredBreakdownSpec",
    "calibrated_text",
    "fit_calibration",
    "kind_totals",
    "set_top_level_section",
    "uncalibrated",
]
