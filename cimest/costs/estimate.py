"""estimate(graph, counts, libraries) -> Estimate. Room: costs.

Energy per sample = sum over (layer, phase, component, action) of events per sample x energy per
event, plus leakage power x latency per sample. MACs are the algorithm's logical multiply-
accumulates (DESIGN.md); TOPS/W counts 2 ops per MAC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cimest.costs.floorplan import LAYOUT_ROLE, tile_boxes
from cimest.costs.pricing import Priced, Provenance, price_graph
from cimest.costs.schedule import Step, critical_path, schedule_dag, step_durations
from cimest.counts import EventCounts
from cimest.errors import LibraryError
from cimest.graph.activity import Activity
from cimest.graph.analytic import analytic_activity, default_activity_warning
from cimest.graph.compile import ComponentGraph
from cimest.graph.shapes import layer_summary
from cimest.spec.libraries import LibrarySet


@dataclass(frozen=True)
class EnergyRecord:
    layer: str
    phase: str
    component: str
    kind: str
    variant: str
    action: str
    count: float  # events per sample
    energy_j: float  # per sample


@dataclass(frozen=True)
class AreaRecord:
    layer: str
    component: str
    kind: str
    variant: str
    instances: int
    area_m2: float  # all instances


@dataclass
class Estimate:
    name: str
    counts_source: str
    mode: str
    energy_per_sample_j: float
    energy_per_mac_j: float
    tops_per_w: float
    area_m2: float
    tops_per_mm2: float
    latency_per_sample_s: float
    throughput_samples_per_s: float
    macs_per_sample: dict[str, int]
    energy_by_phase_j: dict[str, float]
    energy_per_mac_by_phase_j: dict[str, float]
    latency_by_phase_s: dict[str, float]
    leakage_w: float
    breakdown: list[EnergyRecord]
    area: list[AreaRecord]
    schedule: list[Step]
    provenance: list[Provenance]
    accuracy: float | None = None
    """Accuracy of the modelled inference path (None: not trained)."""
    extra: dict = field(default_factory=dict)
    activity: dict = field(default_factory=dict)
    """The activity the counts come from, as ``workload.activity`` takes it ({per_layer: ...});
    pasting a measured estimate's activity into the YAML gives the same analytic estimate."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know about this estimate (idle columns, no hardware priced)."""
    priced_hardware: bool = True
    """False for the software rule: the float reference has no chip, its figures are n/a."""
    accuracy_float: float | None = None
    """Accuracy of the same weights evaluated in float."""
    layers: list[dict] = field(default_factory=list)
    """Per layer: kind, shapes (a convolution's kernel, stride, padding, positions, pooling) and
    mapping (tiles, duplicate, slices), as cimest/graph/shapes.py layer_summary gives them."""

    def top_consumers(self, n: int = 8) -> list[tuple[str, float]]:
        """(role.action, energy per sample) summed over layers and phases, largest first; roles
        are the architecture's names (input_driver, readout, gradient_accumulator, ...), so two
        components of one kind in different roles stay apart."""
        totals: dict[str, float] = {}
        for r in self.breakdown:
            key = f"{r.component.split('.', 1)[-1]}.{r.action}"
            totals[key] = totals.get(key, 0.0) + r.energy_j
        return sorted(totals.items(), key=lambda kv: -kv[1])[:n]

    def to_dict(self) -> dict:
        """The JSON contract (README): KPIs, then breakdowns."""
        return {
            "name": self.name,
            "energy_per_mac_j": self.energy_per_mac_j,
            "tops_per_w": self.tops_per_w,
            "area_m2": self.area_m2,
            "tops_per_mm2": self.tops_per_mm2,
            "latency_per_sample_s": self.latency_per_sample_s,
            "throughput_samples_per_s": self.throughput_samples_per_s,
            "energy_per_sample_j": self.energy_per_sample_j,
            "accuracy": self.accuracy,
            "accuracy_float": self.accuracy_float,
            "counts_source": self.counts_source,
            "mode": self.mode,
            "macs_per_sample": self.macs_per_sample,
            "energy_by_phase_j": self.energy_by_phase_j,
            "energy_per_mac_by_phase_j": self.energy_per_mac_by_phase_j,
            "latency_by_phase_s": self.latency_by_phase_s,
            "leakage_w": self.leakage_w,
            "breakdown": [asdict(r) for r in self.breakdown],
            "area": [asdict(r) for r in self.area],
            "schedule": [asdict(s) for s in self.schedule],
            "provenance": [asdict(p) for p in self.provenance],
            "activity": self.activity,
            "warnings": self.warnings,
            "priced_hardware": self.priced_hardware,
            "layers": self.layers,
            **({"extra": self.extra} if self.extra else {}),
        }


def schedule_activity(graph: ComponentGraph, counts: EventCounts) -> dict[str, Activity]:
    """The activity the schedule times: what the counts were made from (a run's measurement),
    else the architecture's activity factors."""
    if all(lm.name in counts.activity for lm in graph.layers):
        return {lm.name: Activity.from_dict(counts.activity[lm.name]) for lm in graph.layers}
    return analytic_activity(graph)


def idle_column_warnings(graph: ComponentGraph, threshold: float = 0.5) -> list[str]:
    """One line per layer whose tiles leave most weight columns unused."""
    out = []
    for lm in graph.layers:
        if lm.column_utilisation < threshold:
            used, total = lm.n_out, lm.col_tiles * lm.weight_cols_per_tile
            out.append(
                f"{lm.name}: {used} of {total} weight columns of its {lm.n_tiles} tile"
                f"{'s' if lm.n_tiles > 1 else ''} hold outputs ({100 * lm.column_utilisation:.0f} %); "
                f"their read-out is priced all the same. Size the tiles to the layer with "
                f"crossbar.size: fit or crossbar.per_layer.{lm.name}: {{cols: N}}"
            )
    return out


def estimate(
    graph: ComponentGraph,
    counts: EventCounts,
    libraries: LibrarySet,
    *,
    accuracy: float | None = None,
    priced: dict[tuple[str, str], Priced] | None = None,
) -> Estimate:
    """Cost ``counts`` on ``graph`` with the ``libraries``' numbers.

    Raises:
        LibraryError: a component or action has no library entry, or counts name a component the
            graph does not have.
    """
    if priced is None:
        priced = price_graph(graph, libraries)
    warnings = idle_column_warnings(graph)
    if counts.source == "analytic":
        note = default_activity_warning(graph)
        if note:
            warnings.append(note)
    activity = schedule_activity(graph, counts)
    if not graph.traits.prices_hardware:
        nan = float("nan")
        return Estimate(
            name=graph.spec.name,
            counts_source=counts.source,
            mode=counts.mode,
            energy_per_sample_j=nan,
            energy_per_mac_j=nan,
            tops_per_w=nan,
            area_m2=nan,
            tops_per_mm2=nan,
            latency_per_sample_s=nan,
            throughput_samples_per_s=nan,
            macs_per_sample=graph.macs_per_sample(counts.mode),
            energy_by_phase_j={},
            energy_per_mac_by_phase_j={},
            latency_by_phase_s={},
            leakage_w=nan,
            breakdown=[],
            area=[],
            schedule=[],
            provenance=[],
            accuracy=accuracy,
            priced_hardware=False,
            layers=[layer_summary(lm) for lm in graph.layers],
            warnings=[
                f"rule {graph.spec.algorithm.rule} is the float reference: no hardware is "
                "priced (energy, area and latency are n/a)"
            ],
        )
    per_sample = 1.0 / max(counts.n_samples, 1)
    records: list[EnergyRecord] = []
    unknown = []
    for (layer, phase, role, action), n in counts:
        p = priced.get((layer, role))
        if p is None or action not in p.energy_j:
            unknown.append(f"{layer}.{role}.{action}")
            continue
        c = n * per_sample
        records.append(
            EnergyRecord(layer, phase, role, p.kind, p.variant, action, c, c * p.energy_j[action])
        )
    if unknown:
        raise LibraryError(f"counts name components the graph lacks: {', '.join(unknown[:10])}")

    durations = step_durations(graph, priced, activity)
    dag = schedule_dag(graph, durations)
    latency, steps = critical_path(dag)
    bottleneck = max(durations.values(), default=0.0)
    throughput = 1.0 / bottleneck if bottleneck > 0 else float("inf")

    area_records = [
        AreaRecord(
            layer,
            role,
            p.kind,
            p.variant,
            graph.components[(layer, role)].count,
            p.area_m2 * graph.components[(layer, role)].count,
        )
        for (layer, role), p in priced.items()
    ]
    if graph.spec.technology.area_model == "floorplan":
        area_records += [
            AreaRecord(
                box.layer,
                LAYOUT_ROLE,
                "layout",
                "floorplan",
                box.n_tiles,
                box.n_tiles * box.empty_m2,
            )
            for box in tile_boxes(graph, priced)
        ]
    leakage_w = sum(p.leakage_w * graph.components[key].count for key, p in priced.items())
    for (layer, role), p in priced.items():
        if p.leakage_w:
            e = p.leakage_w * graph.components[(layer, role)].count * latency
            records.append(
                EnergyRecord(layer, "static", role, p.kind, p.variant, "leakage", latency, e)
            )

    energy = sum(r.energy_j for r in records)
    macs = graph.macs_per_sample(counts.mode)
    total_macs = sum(macs.values())
    by_phase: dict[str, float] = {}
    for r in records:
        by_phase[r.phase] = by_phase.get(r.phase, 0.0) + r.energy_j
    per_mac_phase = {ph: by_phase.get(ph, 0.0) / m for ph, m in macs.items() if m}
    area = sum(r.area_m2 for r in area_records)
    e_mac = energy / total_macs if total_macs else float("nan")
    tops_per_w = 2.0 / e_mac / 1e12 if energy > 0 else float("inf")
    tops = 2.0 * total_macs * throughput / 1e12
    tops_per_mm2 = tops / (area * 1e6) if area > 0 else float("nan")
    last_forward_end = max(
        (s.start_s + s.duration_s for s in steps if s.phase == "forward"), default=0.0
    )
    bwd_end = max(
        (s.start_s + s.duration_s for s in steps if s.phase == "backward"), default=last_forward_end
    )
    latency_by_phase = {
        "forward": last_forward_end,
        "backward": max(bwd_end - last_forward_end, 0.0),
        "update": max(latency - max(bwd_end, last_forward_end), 0.0),
    }
    provenance: list[Provenance] = []
    seen = set()
    for p in priced.values():
        for pr in p.provenance:
            key = (pr.kind, pr.variant, pr.quantity, pr.scaled)
            if key not in seen:
                seen.add(key)
                provenance.append(pr)
    return Estimate(
        name=graph.spec.name,
        counts_source=counts.source,
        mode=counts.mode,
        energy_per_sample_j=energy,
        energy_per_mac_j=e_mac,
        tops_per_w=tops_per_w,
        area_m2=area,
        tops_per_mm2=tops_per_mm2,
        latency_per_sample_s=latency,
        throughput_samples_per_s=throughput,
        macs_per_sample=macs,
        energy_by_phase_j=by_phase,
        energy_per_mac_by_phase_j=per_mac_phase,
        latency_by_phase_s=latency_by_phase,
        leakage_w=leakage_w,
        breakdown=records,
        area=area_records,
        schedule=steps,
        provenance=provenance,
        accuracy=accuracy,
        activity={
            "per_layer": {
                lm.name: activity[lm.name].factors(
                    lm, graph.plan(lm.name).feedback, graph.spec.algorithm.pulse_length
                )
                for lm in graph.layers
            }
        },
        warnings=warnings,
        layers=[layer_summary(lm) for lm in graph.layers],
    )
