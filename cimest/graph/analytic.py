"""Analytic event counter: EventCounts of one sample from layer shapes and activity factors.

Room: graph. The activity factors (densities: ``workload.activity``, else the rule family's
defaults) become the expected Activity of one sample per layer (cimest/graph/activity.py), which
goes through the same counting rules the engine uses on the activity it measures
(cimest/graph/roles.py). Engine and analytic counts are therefore equal whenever the activity is.
"""

from __future__ import annotations

from cimest.counts import EventCounts
from cimest.graph.activity import Activity
from cimest.graph.compile import ComponentGraph
from cimest.spec.architecture import ActivityFactors, activity_defaults


def activity_of(graph: ComponentGraph, layer: str) -> ActivityFactors:
    """The layer's activity factors: per-layer values, then global ones, then family defaults."""
    act = graph.spec.workload.activity
    _, defaults = activity_defaults(graph.spec.workload.dataset)
    family = defaults["binary" if graph.binary else "full_precision"]
    own = act.per_layer.get(layer)
    values = {}
    for name in ActivityFactors.model_fields:
        v = getattr(own, name) if own is not None else None
        if v is None:
            v = getattr(act, name)
        values[name] = family.get(name) if v is None else v
    return ActivityFactors(**values)


def defaulted_factors(graph: ComponentGraph) -> list[str]:
    """The activity factors some layer takes from its rule family's defaults (not the YAML)."""
    act = graph.spec.workload.activity
    used = [
        "input_density",
        "error_density",
        "update_fraction",
        "pulses_per_update",
        "set_fraction",
    ]
    if graph.traits.update == "coincidence":
        used += ["update_row_density", "update_col_density"]
    out = []
    for name in used:
        given = getattr(act, name) is not None or all(
            getattr(act.per_layer.get(lm.name), name, None) is not None for lm in graph.layers
        )
        if not given:
            out.append(name)
    return out


def default_activity_warning(graph: ComponentGraph) -> str | None:
    """A note when an analytic estimate of a workload on another dataset leans on defaults
    measured on DEFAULT_ACTIVITY_DATASET (on MNIST such estimates were found 4.7-10x off)."""
    dataset = graph.spec.workload.dataset
    measured_on, _ = activity_defaults(dataset)
    missing = defaulted_factors(graph)
    if dataset == measured_on or not missing or graph.spec.workload.mode != "train":
        return None
    return (
        f"activity factors {', '.join(missing)} are defaults measured on {measured_on}, "
        f"not on {dataset}: train once (cimest train FILE) and paste its measured activity under "
        "workload.activity, or estimate --measured"
    )


def analytic_activity(graph: ComponentGraph) -> dict[str, Activity]:
    """The expected Activity of one sample of every layer, from its activity factors. Under DFA
    the feedback arrays are driven by the output error, with the output layer's error density."""
    out_density = activity_of(graph, graph.layers[-1].name).error_density
    batch = graph.spec.workload.batch_size
    # update pulse slots exist only under a coincidence update
    slots = graph.spec.algorithm.pulse_length if graph.traits.update == "coincidence" else 0
    return {
        lm.name: Activity.from_factors(
            activity_of(graph, lm.name),
            lm,
            batch_size=batch,
            output_error_density=out_density,
            feedback=graph.plan(lm.name).feedback,
            pulse_length=slots,
        )
        for lm in graph.layers
    }


def count_analytic(graph: ComponentGraph, mode: str | None = None) -> EventCounts:
    """Events of one sample: a training sample, or one inference (``mode="inference"``, also on a
    training chip: the forward pass without the derivative sampling). Default: the workload's."""
    return graph.count(analytic_activity(graph), mode or graph.spec.workload.mode, "analytic")


__all__ = [
    "activity_of",
    "analytic_activity",
    "count_analytic",
    "default_activity_warning",
    "defaulted_factors",
]
