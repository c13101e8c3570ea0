"""Cost-only fast path: re-cost stored counts for many calibrations at once.

Room: sweep. ``estimate()`` takes about 0.6 ms a call (schedule DAG, breakdown records,
provenance), too slow for the 10,000 points/s a cost-only sweep wants. The fast path runs
``estimate()`` once per *pricing base* (a design without calibration) and keeps its dynamic
energy per sample summed by component kind. Calibration multiplies every energy of one kind
(``costs.pricing``: energy = library value x scaling x calibration[kind]) and nothing else, so a
point's energy is a dot product:

    energy_per_sample = sum_k calibration[k] * dynamic_j[k] + static_j

and latency, throughput and area are those of the base. A test holds the KPIs equal to
``estimate()`` on the calibrated design to 1e-12 relative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimest.counts import EventCounts

KPI_FIELDS = (
    "name",
    "energy_per_mac_j",
    "tops_per_w",
    "area_m2",
    "tops_per_mm2",
    "latency_per_sample_s",
    "throughput_samples_per_s",
    "energy_per_sample_j",
    "accuracy",
    "counts_source",
)


@dataclass(frozen=True)
class CostBasis:
    """What a set of counts costs on one uncalibrated design, split by component kind."""

    name: str
    counts_source: str
    kinds: tuple[str, ...]
    dynamic_j: np.ndarray  # energy per sample by kind, calibration 1
    static_j: float  # leakage energy per sample (calibration does not apply)
    total_macs: int
    area_m2: float
    tops_per_mm2: float
    latency_per_sample_s: float
    throughput_samples_per_s: float
    accuracy: float | None

    @classmethod
    def build(cls, design, counts: EventCounts, accuracy: float | None = None) -> CostBasis:
        """Run ``estimate()`` once on ``design`` (which must carry no calibration)."""
        from cimest.api import estimate_design

        if design.spec.calibration:
            raise ValueError("CostBasis.build needs a design without calibration")
        est = estimate_design(design, counts, accuracy=accuracy)
        by_kind: dict[str, float] = {}
        static = 0.0
        for r in est.breakdown:
            if r.phase == "static":
                static += r.energy_j
            else:
                by_kind[r.kind] = by_kind.get(r.kind, 0.0) + r.energy_j
        kinds = tuple(sorted(by_kind))
        return cls(
            est.name,
            est.counts_source,
            kinds,
            np.array([by_kind[k] for k in kinds]),
            static,
            sum(est.macs_per_sample.values()),
            est.area_m2,
            est.tops_per_mm2,
            est.latency_per_sample_s,
            est.throughput_samples_per_s,
            accuracy,
        )

    def calibration_matrix(self, calibrations: list[dict[str, float]]) -> np.ndarray:
        """(points x kinds) factors; kinds a calibration does not name get 1."""
        m = np.ones((len(calibrations), len(self.kinds)))
        index = {k: i for i, k in enumerate(self.kinds)}
        for row, cal in enumerate(calibrations):
            for kind, factor in cal.items():
                i = index.get(kind)
                if i is not None:
                    m[row, i] = factor
        return m

    def energies(self, factors: np.ndarray) -> np.ndarray:
        """Energy per sample for each row of a (points x kinds) calibration matrix."""
        return factors @ self.dynamic_j + self.static_j

    def evaluate(self, factors: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised energy KPIs for each row of a calibration matrix."""
        energy = self.energies(factors)
        with np.errstate(divide="ignore", invalid="ignore"):
            e_mac = energy / self.total_macs if self.total_macs else np.full_like(energy, np.nan)
            tops_w = np.where(energy > 0, 2.0 / e_mac / 1e12, np.inf)
        return {"energy_per_sample_j": energy, "energy_per_mac_j": e_mac, "tops_per_w": tops_w}

    def kpis(self, calibration: dict[str, float] | None = None) -> dict:
        """The JSON contract's KPIs for one calibration (the same arithmetic as ``evaluate``)."""
        factors = self.calibration_matrix([calibration or {}])
        v = self.evaluate(factors)
        return {
            "name": self.name,
            "energy_per_mac_j": float(v["energy_per_mac_j"][0]),
            "tops_per_w": float(v["tops_per_w"][0]),
            "area_m2": self.area_m2,
            "tops_per_mm2": self.tops_per_mm2,
            "latency_per_sample_s": self.latency_per_sample_s,
            "throughput_samples_per_s": self.throughput_samples_per_s,
            "energy_per_sample_j": float(v["energy_per_sample_j"][0]),
            "accuracy": self.accuracy,
            "counts_source": self.counts_source,
        }
