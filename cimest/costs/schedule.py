"""Latency: a schedule DAG over (layer, phase) steps; its longest path is the latency per sample.

Room: costs. Step durations come from component latencies and the serial steps of each phase:
- forward: input drive (x bit-serial cycles) + cell read + read-out (comparator, or ADC
  conversions serial over the columns sharing one ADC) + partial-sum adds + activation;
  an integrating read-out adds its integration steps and one sample step per phase (the
  per-bit samples overlap the integration), and converts once per phase, each phase taking
  the share of a conversion it resolves;
  the output layer's softmax unit evaluates its n_out outputs one after another.
- backward: the same for the error MVM (through W transposed, or the DFA feedback array).
- update: accumulator read-modify-write, row by row (rows of a tile in series, columns in
  parallel; one weight row per input), plus programming once per batch: physical row by row, a SET phase and a RESET phase, each as
  long as the pulses a device gets; divided by the batch size to give a per-sample share.
Backprop orders F1 -> ... -> FN -> BN -> ... -> B1 and each U_l after B_l; DFA's B_l depend on FN
only, so they run in parallel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from cimest.graph.analytic import activity_of
from cimest.graph.compile import ComponentGraph


@dataclass(frozen=True)
class Step:
    layer: str
    phase: str
    duration_s: float
    start_s: float
    critical: bool


def _lat(priced, key, action) -> float:
    p = priced.get(key)
    return p.latency_s.get(action, 0.0) if p is not None else 0.0


def step_durations(graph: ComponentGraph, priced: dict) -> dict[tuple[str, str], float]:
    spec = graph.spec
    train = spec.workload.mode == "train"
    out: dict[tuple[str, str], float] = {}
    for lm in graph.layers:
        L = lm.name
        c = graph.components
        inp = c[(L, "input_driver")]
        cycles = inp.cycles
        t = cycles * (_lat(priced, (L, "input_driver"), "drive" if inp.kind == "row_driver" else "convert")
                      + _lat(priced, (L, "cell"), "read"))
        ro = c[(L, "readout")]
        if ro.kind == "adc":
            ro_spec = spec.peripherals.output_readout if lm.is_output else spec.peripherals.readout
            conversions = 1.0
            integration = graph.integration(L)
            if integration is not None:
                phases, resolved = integration
                conversions = resolved / (ro.bits or 1)
                t += c[(L, "integrator")].cycles * _lat(priced, (L, "integrator"), "step")
                t += len(phases) * _lat(priced, (L, "sample_hold"), "sample")
            t += min(ro_spec.columns_per_adc, lm.cols) * conversions * _lat(priced, (L, "readout"), "convert")  # type: ignore[union-attr]
            if lm.row_tiles > 1:
                t += math.ceil(math.log2(lm.row_tiles)) * _lat(priced, (L, "partial_sum_adder"), "op")
            n_act = lm.n_out if lm.is_output else 1
            t += n_act * _lat(priced, (L, "activation"), "evaluate")
        else:
            t += _lat(priced, (L, "readout"), "compare")
        out[(L, "forward")] = t
        if not train:
            continue
        out[(L, "backward")] = _backward_duration(graph, priced, lm)
        out[(L, "update")] = _update_duration(graph, priced, lm)
    return out


def _backward_duration(graph, priced, lm) -> float:
    L = lm.name
    prefix = "feedback_" if graph.spec.algorithm.rule == "dfa" else "error_"
    if (L, f"{prefix}readout") not in graph.components:
        return 0.0
    drv = graph.components[(L, f"{prefix}input")]
    t = _lat(priced, (L, f"{prefix}input"), "convert" if drv.kind == "dac" else "drive")
    t += _lat(priced, (L, "feedback_cell" if prefix == "feedback_" else "cell"), "read")
    ro = graph.components[(L, f"{prefix}readout")]
    if ro.kind == "adc":
        cpa = graph.spec.peripherals.error_readout.columns_per_adc
        t += min(cpa, lm.rows) * _lat(priced, (L, f"{prefix}readout"), "convert")
        t += _lat(priced, (L, f"{prefix}partial_sum_adder"), "op")
        t += _lat(priced, (L, f"{prefix}scale"), "op")
    else:
        t += _lat(priced, (L, f"{prefix}readout"), "compare")
    return t


def _update_duration(graph, priced, lm) -> float:
    L = lm.name
    spec = graph.spec
    a = activity_of(graph, L)
    # accumulators are read-modify-written per input row of weights; programming goes over the
    # physical rows (two per input for differential_rows)
    weight_rows = min(lm.rows // lm.rows_per_input, lm.n_in)
    rows = min(lm.rows, lm.n_in * lm.rows_per_input)
    acc = weight_rows * (_lat(priced, (L, "gradient_adder"), "op")
                         + _lat(priced, (L, "gradient_multiplier"), "op"))
    pulses = a.pulses_per_update or 0.0
    if spec.peripherals.update.kind == "single_pulse":
        pulses = 1.0 if pulses > 0 else 0.0
    program = rows * pulses * (_lat(priced, (L, "cell"), "set_pulse") + _lat(priced, (L, "cell"), "reset_pulse"))
    return acc + program / spec.workload.batch_size


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
    if graph.spec.algorithm.rule == "dfa":
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
            preds = [p for p in g.predecessors(node) if math.isclose(end[p], start[node], rel_tol=1e-12, abs_tol=1e-18)]
            if not preds:
                break
            node = max(preds, key=lambda p: g.nodes[p]["duration"])
            critical.add(node)
    steps = [Step(n[0], n[1], g.nodes[n]["duration"], start[n], n in critical) for n in g]
    steps.sort(key=lambda s: (s.start_s, s.layer, s.phase))
    return total, steps
