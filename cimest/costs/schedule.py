"""Latency: a schedule DAG over (layer, phase) steps; its longest path is the latency per sample.

Room: costs. A step's duration is the sum of the contributions its components' roles declare
(cimest/graph/roles.py: input drive x bit cycles, cell read, ADC conversions serial over the
columns sharing one ADC, partial-sum adds, activation, integration steps, accumulator
read-modify-writes row by row, programming once per batch row by row with a SET and a RESET
phase as long as the measured pulse trains, ...), given for one output position: a convolution's
forward and backward steps repeat ceil(positions / duplicate) times (weights mapped as NeuroSim
and ISAAC do, the array reused at every position; duplicated copies share the positions), given the latency of one action of one
instance and the activity: a measured estimate's own (pulse-train lengths, updates per sample),
else the architecture's activity factors. A component whose role the registry does not know is
an error, never 0 s.
Backprop orders F1 -> ... -> FN -> BN -> ... -> B1 and each U_l after B_l; DFA's B_l depend on FN
only, so they run in parallel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from cimest.graph.activity import Activity
from cimest.graph.compile import ComponentGraph
from cimest.graph.roles import role


@dataclass(frozen=True)
class Step:
    layer: str
    phase: str
    duration_s: float
    start_s: float
    critical: bool


def step_durations(
    graph: ComponentGraph, priced: dict, activity: dict[str, Activity]
) -> dict[tuple[str, str], float]:
    """Duration of every (layer, phase) step of one sample.

    Raises:
        KeyError: a component's role is not declared in the registry.
    """
    phases = (
        ("forward", "backward", "update") if graph.spec.workload.mode == "train" else ("forward",)
    )
    out: dict[tuple[str, str], float] = {(lm.name, ph): 0.0 for lm in graph.layers for ph in phases}
    for (layer, name), comp in graph.components.items():
        r = role(name)
        p = priced[(layer, name)]
        act = activity[layer]

        def lat(action: str, p=p) -> float:
            return p.latency_s[action]

        # a convolution's forward and backward steps repeat at every output position its copy
        # of the array computes; the roles give one position (the update's are whole)
        repeat = graph.plan(layer).lm.positions_per_copy
        for phase, seconds in r.latency(comp, graph.plan(layer), lat, act):
            if (layer, phase) in out:
                out[(layer, phase)] += seconds * (repeat if phase != "update" else 1)
    return out


def schedule_dag(graph: ComponentGraph, durations: dict[tuple[str, str], float]) -> nx.DiGraph:
    """Dependencies of the (layer, phase) steps of one sample."""
    g = nx.DiGraph()
    names = [lm.name for lm in graph.layers]
    for key, d in durations.items():
        g.add_node(key, duration=d)
    for a, b in zip(names, names[1:], strict=False):
        g.add_edge((a, "forward"), (b, "forward"))
    if graph.spec.workload.mode != "train":
        return g
    last = names[-1]
    g.add_edge((last, "forward"), (last, "backward"))
    if graph.traits.backward == "feedback":
        for n in names[:-1]:
            g.add_edge((last, "forward"), (n, "backward"))
            g.add_edge((n, "backward"), (n, "update"))
        g.add_edge((last, "backward"), (last, "update"))
    else:
        for hi, lo in zip(reversed(names), list(reversed(names))[1:], strict=False):
            g.add_edge((hi, "backward"), (lo, "backward"))
        for n in names:
            g.add_edge((n, "backward"), (n, "update"))
    return g


def critical_path(g: nx.DiGraph) -> tuple[float, list[Step]]:
    """Longest path by node durations; every step with its earliest start."""
    start: dict = {}
    for node in nx.topological_sort(g):
        preds = list(g.predecessors(node))
        start[node] = max((start[p] + g.nodes[p]["duration"] for p in preds), default=0.0)
    end = {n: start[n] + g.nodes[n]["duration"] for n in g}
    total = max(end.values(), default=0.0)
    # walk back along the steps that determine the finish time
    critical: set = set()
    if g.number_of_nodes():
        node = max(end, key=lambda n: end[n])
        critical.add(node)
        while True:
            preds = [
                p
                for p in g.predecessors(node)
                if math.isclose(end[p], start[node], rel_tol=1e-12, abs_tol=1e-18)
            ]
            if not preds:
                break
            node = max(preds, key=lambda p: g.nodes[p]["duration"])
            critical.add(node)
    steps = [Step(n[0], n[1], g.nodes[n]["duration"], start[n], n in critical) for n in g]
    steps.sort(key=lambda s: (s.start_s, s.layer, s.phase))
    return total, steps
