"""compile_graph(spec) -> ComponentGraph. Room: graph (imports spec, networkx).

Every layer is mapped onto its tiles (cimest/graph/shapes.py) and gets the components of every
role the registry declares for it (cimest/graph/roles.py), with instance counts. ADC read-outs
digitise each tile's column partial sums and add them digitally; comparator read-outs sum the
column currents of a column of tiles on a shared bit line before the one comparator (Why: a 1-bit
decision cannot be split into partial sums; current summation is what comparator designs use).
Integrating read-outs (NeuRRAM's voltage-mode neuron) are described in roles.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import networkx as nx

from cimest.counts import EventCounts
from cimest.graph.activity import Activity
from cimest.graph.roles import (
    ROLES,
    Component,
    LayerPlan,
    conversion_steps,
    integration_phases,
    role,
)
from cimest.graph.shapes import LayerMap, map_layer
from cimest.spec.architecture import ArchitectureSpec, DacSpec
from cimest.spec.rules import RULES, RuleTraits, is_binary

__all__ = [
    "Component",
    "ComponentGraph",
    "LayerMap",
    "compile_graph",
    "conversion_steps",
    "integration_phases",
    "map_layer",
]


@dataclass
class ComponentGraph:
    """Components per (layer, role), the tile mapping, and the data-path graph."""

    spec: ArchitectureSpec
    layers: list[LayerMap]
    components: dict[tuple[str, str], Component]
    graph: nx.DiGraph = field(repr=False)
    feedback: list[LayerMap] = field(default_factory=list)
    plans: dict[str, LayerPlan] = field(default_factory=dict, repr=False)

    @property
    def traits(self) -> RuleTraits:
        return RULES[self.spec.algorithm.rule]

    @property
    def binary(self) -> bool:
        a = self.spec.algorithm
        return is_binary(a.rule, a.binary_feedback)

    @property
    def n_tiles(self) -> int:
        return sum(lm.n_tiles for lm in self.layers) + sum(f.n_tiles for f in self.feedback)

    def component(self, layer: str, role_name: str) -> Component:
        return self.components[(layer, role_name)]

    def plan(self, layer: str) -> LayerPlan:
        return self.plans[layer]

    def integration(self, layer: str) -> tuple[tuple[int, ...], int] | None:
        """(input bits per phase, output bits resolved) of the layer's integrating read-out."""
        return self.plans[layer].integration()

    def layer(self, name: str) -> LayerMap:
        for lm in self.layers:
            if lm.name == name:
                return lm
        raise KeyError(name)

    def macs_per_sample(self, mode: str | None = None) -> dict[str, int]:
        """Logical multiply-accumulates of the algorithm per sample, by phase (``mode``:
        "train" or "inference"; default the workload's)."""
        fwd = sum(lm.macs_per_sample for lm in self.layers)
        if (mode or self.spec.workload.mode) == "inference":
            return {"forward": fwd, "backward": 0, "update": 0}
        if self.traits.backward == "feedback":
            bwd = sum(f.macs_per_sample for f in self.feedback)
        else:
            bwd = sum(lm.macs_per_sample for lm in self.layers[1:])
        return {"forward": fwd, "backward": bwd, "update": fwd}

    def events_per_unit(self) -> dict[str, dict[str, float]]:
        """Per layer, the training events one unit of each activity quantity causes (every rule
        is linear in the activity): a running total of events without counting per batch."""
        out: dict[str, dict[str, float]] = {}
        for lm in self.layers:
            weights = {}
            for f in fields(Activity):
                unit = Activity(**{f.name: 1.0})
                weights[f.name] = sum(
                    self.count({lm.name: unit}, "train", "analytic").counts.values()
                )
            out[lm.name] = weights
        return out

    def count(self, activity: dict[str, Activity], mode: str, source: str) -> EventCounts:
        """Events of every component for the given activity of each layer: the one counting
        path of the analytic counter and the engine (roles.py holds the rules).

        ``mode`` "inference" counts the forward pass only (also on a training chip: one inference
        without the derivative sampling), ``workload.inference_samples`` times on a chip whose
        read-outs sample (comparators). Measured counts (``source`` "measured") are integers.
        """
        training = mode == "train"
        passes = 1 if training or not self.binary else self.spec.workload.inference_samples
        if training and self.spec.workload.mode != "train":
            raise ValueError("an inference chip has no training events to count")
        first = next(iter(activity.values()), None)
        counts = EventCounts(
            n_samples=int(round(first.samples)) if first else 0, mode=mode, source=source
        )
        exact = source == "measured"
        for lm in self.layers:
            act = activity.get(lm.name)
            if act is None:
                continue
            plan = self.plans[lm.name]
            for (layer, name), comp in self.components.items():
                if layer != lm.name:
                    continue
                for phase, action, n in role(name).events(comp, plan, act, training):
                    if not training and phase != "forward":
                        continue
                    n *= passes
                    counts.add(layer, phase, name, action, int(round(n)) if exact else n)
            counts.activity[lm.name] = act.to_dict()
        return counts


def _array(spec: ArchitectureSpec, layer: str) -> tuple[int, int, bool]:
    """(rows, cols, fit) of a layer's tiles: the crossbar's, with the layer's overrides."""
    xb = spec.crossbar
    own = xb.per_layer.get(layer)
    rows = own.rows if own is not None and own.rows is not None else xb.rows
    cols = own.cols if own is not None and own.cols is not None else xb.cols
    size = own.size if own is not None and own.size is not None else xb.size
    return rows, cols, size == "fit"


def _duplicate(spec: ArchitectureSpec, layer: str) -> int:
    own = spec.crossbar.per_layer.get(layer)
    return own.duplicate if own is not None else 1


def compile_graph(spec: ArchitectureSpec) -> ComponentGraph:
    """Map every layer onto tiles and list the components of every role with instance counts."""
    xb = spec.crossbar
    shapes = spec.workload.layers()
    n_layers = len(shapes)
    layers = []
    for i, shape in enumerate(shapes):
        name = f"L{i + 1}"
        rows, cols, fit = _array(spec, name)
        layers.append(
            map_layer(
                name,
                i,
                shape.n_in,
                shape.n_out,
                i == n_layers - 1,
                rows,
                cols,
                xb.weight_encoding,
                fit,
                shape,
                slices=xb.slices,
                duplicate=_duplicate(spec, name),
            )
        )
    traits = RULES[spec.algorithm.rule]
    train = spec.workload.mode == "train"
    binary = is_binary(spec.algorithm.rule, spec.algorithm.binary_feedback)
    feedback: list[LayerMap] = []
    plans: dict[str, LayerPlan] = {}
    comps: dict[tuple[str, str], Component] = {}
    for lm in layers:
        fb = None
        if train and traits.backward == "feedback" and not lm.is_output:
            rows, cols, fit = _array(spec, lm.name)
            fb = map_layer(
                f"{lm.name}.B",
                lm.index,
                layers[-1].n_out,
                math.prod(lm.next_shape),  # a convolution's error arrives at its pooled output
                False,
                rows,
                cols,
                xb.weight_encoding,
                fit,
            )
            feedback.append(fb)
        per = spec.layer_peripherals(lm.name)
        inp = per.input_driver
        input_bits = (
            (spec.workload.input_bits if lm.index == 0 else inp.bits)
            if isinstance(inp, DacSpec)
            else 1
        )
        plan = LayerPlan(spec, lm, per, traits, binary, train, fb, input_bits)
        plans[lm.name] = plan
        for r in ROLES.values():
            c = r.build(plan)
            if c is not None:
                comps[(c.layer, c.role)] = c
    graph = _data_path(layers, comps, spec)
    return ComponentGraph(spec, layers, comps, graph, feedback, plans)


def _data_path(layers: list[LayerMap], comps: dict, spec: ArchitectureSpec) -> nx.DiGraph:
    g = nx.DiGraph(name=spec.name)
    g.add_node("chip", kind="chip", label=spec.name)
    for (layer, name), c in comps.items():
        g.add_node(
            c.id,
            kind=c.kind,
            role=name,
            layer=layer,
            variant=c.variant or "",
            count=c.count,
            bits=c.bits or 0,
            phase=c.phase,
        )
    for lm in layers:
        g.add_node(
            lm.name,
            kind="layer",
            n_in=lm.n_in,
            n_out=lm.n_out,
            row_tiles=lm.row_tiles,
            col_tiles=lm.col_tiles,
            tiles=lm.n_tiles,
            rows=lm.rows,
            cols=lm.cols,
            uses_per_sample=lm.uses_per_sample,
            utilisation=lm.utilisation,
        )
        g.add_edge("chip", lm.name, relation="contains")
        for (layer, _), c in comps.items():
            if layer == lm.name:
                g.add_edge(lm.name, c.id, relation="contains")
    in_bits = spec.workload.input_bits
    prev_out = None
    for lm in layers:
        L = lm.name
        chain = [f"{L}.input_driver", f"{L}.cell", f"{L}.readout"]
        for opt in ("partial_sum_adder", "activation"):
            if (L, opt) in comps:
                chain.append(f"{L}.{opt}")
        readout_bits = comps[(L, "readout")].bits or 1
        bits_in = (
            in_bits if prev_out is None else comps[(layers[lm.index - 1].name, "readout")].bits or 1
        )
        if prev_out is not None:
            g.add_edge(prev_out, chain[0], relation="data", bits=bits_in, width=lm.n_in)
        for a, b in zip(chain, chain[1:], strict=False):
            g.add_edge(
                a,
                b,
                relation="data",
                bits=readout_bits if "readout" in a else bits_in,
                width=lm.n_out if "readout" in a else lm.n_in,
            )
        prev_out = chain[-1]
    return g
