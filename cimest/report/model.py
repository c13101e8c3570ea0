"""What a report shows of one design, and how each number is displayed. Room: report.

Imports only costs results and leaf modules (units); never the engine or the graph. A design's
training record is the engine's ``result.json`` dict, read as data.

Why display formatting lives here: DESIGN.md keeps display units (pJ/MAC, mm², µs, TOPS/W) out of
every other room, and the tests format expected numbers with these same functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from cimest.costs.estimate import Estimate
from cimest.units import format_si


@dataclass
class ReportDesign:
    """One design in a report.

    Attributes:
        estimate: the cost model's result (measured or analytic counts).
        path: the architecture file it came from.
        description: the architecture's description line.
        training: the training run's record (``TrainResult.to_dict()``), or None when analytic.
        n_train_samples: training-set size, for energy per epoch (None when unknown).
        layers: per layer ``{"name", "n_in", "n_out", "n_tiles", "n_devices"}``.
        tile: ``(rows, cols)`` of one crossbar tile, when known.
    """

    estimate: Estimate
    path: str = ""
    description: str = ""
    training: dict | None = None
    n_train_samples: int | None = None
    layers: list[dict] = field(default_factory=list)
    tile: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.estimate.name

    @property
    def total_macs(self) -> int:
        return sum(self.estimate.macs_per_sample.values())

    @property
    def inference(self) -> bool:
        return self.estimate.mode == "inference"

    @property
    def energy_per_epoch_j(self) -> float | None:
        if self.inference:
            return None  # an inference chip has no training epoch
        n = self.n_train_samples
        if n is None and self.training:
            n = self.training.get("n_train_samples")
        return self.estimate.energy_per_sample_j * n if n else None

    @property
    def accuracy(self) -> float | None:
        return self.estimate.accuracy

    @property
    def accuracy_float(self) -> float | None:
        return self.estimate.accuracy_float


def design_from(
    design, estimate: Estimate, training: dict | None = None, n_train_samples: int | None = None
) -> ReportDesign:
    """A ReportDesign from a ``cimest.api.Design`` (read by attribute, not imported)."""
    spec = design.spec
    texts = {lm["name"]: lm.get("text", "") for lm in estimate.layers}
    layers = [
        {
            "name": lm.name,
            "n_in": lm.n_in,
            "n_out": lm.n_out,
            "n_tiles": lm.n_tiles,
            "n_devices": lm.n_devices,
            "tile": f"{lm.rows}×{lm.cols}",
            "utilisation": lm.utilisation,
            "kind": lm.kind,
            "text": texts.get(lm.name, ""),
        }
        for lm in design.graph.layers
    ]
    if n_train_samples is None and training:
        n_train_samples = training.get("n_train_samples")
    return ReportDesign(
        estimate=estimate,
        path=str(design.path),
        description=spec.description or "",
        training=training,
        n_train_samples=n_train_samples,
        layers=layers,
        tile=(spec.crossbar.rows, spec.crossbar.cols),
    )


# --- display formats (the only place display units are chosen) ------------------------------------

_COUNT_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def _finite(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def fmt_count(x: float | None, unit: str = "", digits: int = 3) -> str:
    """12 300 -> '12.3 k'; with a unit '12.3 k samples/s'."""
    if not _finite(x):
        return "n/a"
    for scale, p in _COUNT_PREFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g} {p} {unit}".rstrip()
    return f"{x:.{digits}g} {unit}".rstrip()


def fmt_energy(j: float | None) -> str:
    return format_si(j, "J") if _finite(j) else "n/a"


def fmt_energy_per_mac(j: float | None) -> str:
    return f"{format_si(j, 'J')}/MAC" if _finite(j) else "n/a"


def fmt_time(s: float | None) -> str:
    return format_si(s, "s") if _finite(s) else "n/a"


def fmt_area(m2: float | None) -> str:
    return f"{m2 * 1e6:.4g} mm²" if _finite(m2) else "n/a"


def fmt_area_um2(m2: float | None) -> str:
    return f"{m2 * 1e12:.4g} µm²" if _finite(m2) else "n/a"


def fmt_power(w: float | None) -> str:
    return format_si(w, "W") if _finite(w) else "n/a"


def fmt_plain(x: float | None, unit: str = "") -> str:
    return f"{x:.4g} {unit}".rstrip() if _finite(x) else "n/a"


def fmt_accuracy(a: float | None) -> str:
    return f"{a * 100:.2f} %" if _finite(a) else "n/a"


def fmt_ratio(r: float | None) -> str:
    return f"{r:.3g}×" if _finite(r) else "n/a"


def fmt_quantity(value: float, unit: str, scaled: bool = False) -> str:
    """A provenance value: SI ('J', 's', 'm2', 'W', ...), or feature sizes squared ('F^2').

    Why ``scaled``: an area given in F² is priced to m² at the chip's node, so the scaled value of
    an 'F^2' record is in m².
    """
    if unit in ("F^2", "F2", "F²"):
        return fmt_area_um2(value) if scaled else f"{value:.4g} F²"
    if unit == "m2":
        return fmt_area_um2(value)
    return format_si(value, unit) if _finite(value) else "n/a"


def alternatives(d: ReportDesign) -> list:
    """Provenance records of the models a used library entry says differ by more than 3x."""
    return [p for p in d.estimate.provenance if p.quantity.startswith("alternative:")]


# --- KPIs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: Callable[[ReportDesign], float | None]
    fmt: Callable[[float | None], str]
    better: str  # "lower" | "higher"
    note: str = ""
    inference_note: str | None = None
    """The note on an inference design's card; None: the same as ``note``; "": no card."""
    points: bool = False
    """Compared as a difference in percentage points (accuracies), not as a ratio."""

    def note_for(self, d: ReportDesign) -> str:
        return self.note if not d.inference or self.inference_note is None else self.inference_note

    def shown_for(self, d: ReportDesign) -> bool:
        return not d.inference or self.inference_note != ""


KPIS: list[Kpi] = [
    Kpi(
        "energy_per_mac_j",
        "Energy per MAC",
        lambda d: d.estimate.energy_per_mac_j,
        fmt_energy_per_mac,
        "lower",
        "training: forward + backward + update MACs",
        "inference: forward MACs",
    ),
    Kpi(
        "tops_per_w",
        "TOPS/W",
        lambda d: d.estimate.tops_per_w,
        lambda x: fmt_plain(x, "TOPS/W"),
        "higher",
        "2 ops per MAC",
    ),
    Kpi(
        "area_m2",
        "Area",
        lambda d: d.estimate.area_m2,
        fmt_area,
        "lower",
        "all tiles and peripherals",
    ),
    Kpi(
        "tops_per_mm2",
        "TOPS/mm²",
        lambda d: d.estimate.tops_per_mm2,
        lambda x: fmt_plain(x, "TOPS/mm²"),
        "higher",
        "at the bottleneck-stage throughput",
    ),
    Kpi(
        "latency_per_sample_s",
        "Latency per sample",
        lambda d: d.estimate.latency_per_sample_s,
        fmt_time,
        "lower",
        "critical path of the schedule",
    ),
    Kpi(
        "throughput_samples_per_s",
        "Throughput",
        lambda d: d.estimate.throughput_samples_per_s,
        lambda x: fmt_count(x, "samples/s"),
        "higher",
        "pipelined, bottleneck stage",
    ),
    Kpi(
        "energy_per_sample_j",
        "Energy per sample",
        lambda d: d.estimate.energy_per_sample_j,
        fmt_energy,
        "lower",
        "one training sample, incl. leakage",
        "one inference, incl. leakage",
    ),
    Kpi(
        "leakage_w",
        "Leakage power",
        lambda d: d.estimate.leakage_w,
        fmt_power,
        "lower",
        "static power of every instance; × latency in energy per sample",
    ),
    Kpi(
        "energy_per_epoch_j",
        "Energy per training epoch",
        lambda d: d.energy_per_epoch_j,
        fmt_energy,
        "lower",
        "energy per sample × training samples",
        "",
    ),
    Kpi(
        "accuracy",
        "Accuracy",
        lambda d: d.accuracy,
        fmt_accuracy,
        "higher",
        "test accuracy through the modelled chip (its converters or comparators, samples per inference)",
        points=True,
    ),
    Kpi(
        "accuracy_float",
        "Accuracy (float weights)",
        lambda d: d.accuracy_float,
        fmt_accuracy,
        "higher",
        "the same weights evaluated in float",
        points=True,
    ),
]


def ratio(a: float | None, b: float | None) -> float | None:
    """b / a, or None when either is missing or a is zero."""
    if not (_finite(a) and _finite(b)) or a == 0:
        return None
    return b / a


def verdict(kpi: Kpi, a: ReportDesign, b: ReportDesign) -> str:
    """Which design is better on ``kpi``, and by what factor: 'bsl-rram-32nm, 3.2× lower'."""
    va, vb = kpi.value(a), kpi.value(b)
    if kpi.points:
        if not (_finite(va) and _finite(vb)):
            return "n/a"
        diff = 100 * (vb - va)
        if abs(diff) < 1e-9:
            return "equal"
        winner = b.name if (diff > 0) == (kpi.better == "higher") else a.name
        return f"{winner}, {abs(diff):.3g} points {kpi.better}"
    r = ratio(va, vb)
    if r is None or r <= 0:
        return "n/a"
    if math.isclose(r, 1.0, rel_tol=1e-9):  # 3.65e-7 vs 3.650000000000001e-7 is a tie
        return "equal"
    a_wins = (r > 1) == (kpi.better == "lower")
    winner = a.name if a_wins else b.name
    factor = r if r > 1 else 1 / r
    return f"{winner}, {factor:.3g}× {kpi.better}"
