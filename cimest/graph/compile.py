"""compile_graph(spec) -> ComponentGraph. Room: graph (imports spec, networkx).

Mapping conventions (documented in the README):
- A dense layer of n_in inputs and n_out outputs is a weight matrix on the rows (inputs) and
  columns (outputs) of crossbar tiles of ``rows x cols`` cells.
- reference_column: one device per weight; each tile gives one column to the reference devices,
  so a tile holds ``cols - 1`` weight columns. differential_pair: two devices (G+, G-) per weight,
  ``cols // 2`` weights per tile row.
  differential_rows: the pair sits on neighbouring rows driven +V and -V, so a tile holds
  ``rows // 2`` inputs and ``cols`` weight columns, and every driven input drives two rows.
- Row tiles ``R = ceil(n_in / inputs_per_tile)``, column tiles ``C = ceil(n_out / weight_cols_per_tile)``.
- ADC read-out: every tile digitises its own column partial sums; partial sums of the R row tiles
  are added digitally (R - 1 adds per output). Comparator read-out: the column currents of the R
  row tiles are summed on a shared bit line before the one comparator per column (Why: a 1-bit
  decision cannot be split into partial sums; current summation is what comparator designs use).
- Integrating read-out (readout.integrator, NeuRRAM's voltage-mode neuron): the bit-serial input
  is integrated in every column; bit k of a phase of p bits is weighted by 2^k integration steps
  (2^p - 1 per phase), the column charge is sampled once per input bit, and each phase is
  converted once: the first phase resolves all output bits, a second phase only the output bits
  below the first phase's input bits. The shift-add takes one op per resolved bit; an optional
  neuron wordline per column is toggled once per input bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from cimest.spec.architecture import AdcSpec, ArchitectureSpec, ComparatorSpec, DacSpec


@dataclass(frozen=True)
class LayerMap:
    """How one dense layer sits on the tiles."""

    name: str
    index: int
    n_in: int
    n_out: int
    is_output: bool
    row_tiles: int
    col_tiles: int
    devices_per_weight: int
    weight_cols_per_tile: int
    rows: int
    cols: int
    rows_per_input: int = 1
    """Rows one input drives: 2 for differential_rows (+V and -V), else 1."""

    @property
    def n_tiles(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def n_weights(self) -> int:
        return self.n_in * self.n_out

    @property
    def n_devices(self) -> int:
        """Devices holding weights (reference devices excluded)."""
        return self.n_weights * self.devices_per_weight

    @property
    def cols_read_per_row(self) -> int:
        """Cells read per driven input: weight devices plus one reference per column tile."""
        if self.devices_per_weight == 2:
            return 2 * self.n_out
        return self.n_out + self.col_tiles

    @property
    def cells_read_per_col(self) -> int:
        """Cells read on one driven column in the backward pass (plus one reference per row tile)."""
        if self.devices_per_weight == 2:
            return 2 * self.n_in
        return self.n_in + self.row_tiles


@dataclass(frozen=True)
class Component:
    """A group of identical component instances serving one role of one layer."""

    layer: str
    role: str
    kind: str
    variant: str | None
    count: int
    bits: int | None = None
    phase: str = "forward"
    note: str = ""
    cycles: int = 1
    """Serial cycles per use (bit-serial input drivers: one per input bit)."""

    @property
    def id(self) -> str:
        return f"{self.layer}.{self.role}"


@dataclass
class ComponentGraph:
    """Components per (layer, role), the tile mapping, and the data-path graph."""

    spec: ArchitectureSpec
    layers: list[LayerMap]
    components: dict[tuple[str, str], Component]
    graph: nx.DiGraph = field(repr=False)
    feedback: list[LayerMap] = field(default_factory=list)

    @property
    def binary(self) -> bool:
        a = self.spec.algorithm
        return a.rule == "binary_stochastic" or (a.rule == "dfa" and a.binary_feedback)

    @property
    def n_tiles(self) -> int:
        return sum(lm.n_tiles for lm in self.layers) + sum(f.n_tiles for f in self.feedback)

    def component(self, layer: str, role: str) -> Component:
        return self.components[(layer, role)]

    def integration(self, layer: str) -> tuple[tuple[int, ...], int] | None:
        """(input bits per phase, output bits resolved) of the layer's integrating read-out."""
        lm = self.layer(layer)
        return readout_integration(self.spec, lm, self.component(layer, "input_driver").cycles,
                                   self.component(layer, "readout").bits or 1)

    def layer(self, name: str) -> LayerMap:
        for lm in self.layers:
            if lm.name == name:
                return lm
        raise KeyError(name)

    def macs_per_sample(self, mode: str | None = None) -> dict[str, int]:
        """Logical multiply-accumulates of the algorithm per sample, by phase (``mode``:
        "train" or "inference"; default the workload's)."""
        fwd = sum(lm.n_weights for lm in self.layers)
        if (mode or self.spec.workload.mode) == "inference":
            return {"forward": fwd, "backward": 0, "update": 0}
        if self.spec.algorithm.rule == "dfa":
            bwd = sum(f.n_weights for f in self.feedback)
        else:
            bwd = sum(lm.n_weights for lm in self.layers[1:])
        return {"forward": fwd, "backward": bwd, "update": fwd}


def map_layer(name: str, index: int, n_in: int, n_out: int, is_output: bool, rows: int, cols: int,
              encoding: str) -> LayerMap:
    inputs_per_tile, rows_per_input = rows, 1
    if encoding == "differential_pair":
        per_weight, weight_cols = 2, cols // 2
    elif encoding == "differential_rows":
        per_weight, weight_cols = 2, cols
        inputs_per_tile, rows_per_input = rows // 2, 2
    else:
        per_weight, weight_cols = 1, cols - 1
    return LayerMap(
        name=name,
        index=index,
        n_in=n_in,
        n_out=n_out,
        is_output=is_output,
        row_tiles=math.ceil(n_in / inputs_per_tile),
        col_tiles=math.ceil(n_out / weight_cols),
        devices_per_weight=per_weight,
        weight_cols_per_tile=weight_cols,
        rows=rows,
        cols=cols,
        rows_per_input=rows_per_input,
    )


def integration_phases(input_bits: int, two_phase_above_bits: int | None) -> tuple[int, ...]:
    """Input bits per integration phase: one phase, or the upper ceil(n/2) then lower floor(n/2)
    bits when there are more than ``two_phase_above_bits``."""
    if two_phase_above_bits is None or input_bits <= two_phase_above_bits:
        return (input_bits,)
    return (math.ceil(input_bits / 2), input_bits // 2)


def readout_integration(spec: ArchitectureSpec, lm: LayerMap, input_cycles: int,
                        readout_bits: int) -> tuple[tuple[int, ...], int] | None:
    """(input bits per phase, output bits resolved over all phases) of the layer's integrating
    read-out, or None when its read-out does not integrate."""
    ro = spec.peripherals.output_readout if lm.is_output else spec.peripherals.readout
    integrator = getattr(ro, "integrator", None)
    if integrator is None:
        return None
    phases = integration_phases(input_cycles, integrator.two_phase_above_bits)
    return phases, sum(conversion_steps(readout_bits, phases))


def conversion_steps(output_bits: int, phases: tuple[int, ...]) -> tuple[int, ...]:
    """Output bits each phase's conversion resolves: all of them in the first phase, then only
    those below the input bits already integrated (NeuRRAM's two-phase read-out)."""
    return tuple(max(output_bits - sum(phases[:i]), 0) for i in range(len(phases)))


def compile_graph(spec: ArchitectureSpec) -> ComponentGraph:
    """Map every layer onto tiles and list its components with instance counts."""
    xb = spec.crossbar
    widths = spec.workload.network
    n_layers = len(widths) - 1
    layers = [
        map_layer(f"L{i + 1}", i, widths[i], widths[i + 1], i == n_layers - 1, xb.rows, xb.cols,
                  xb.weight_encoding)
        for i in range(n_layers)
    ]
    comps: dict[tuple[str, str], Component] = {}
    train = spec.workload.mode == "train"
    rule = spec.algorithm.rule
    binary = rule == "binary_stochastic" or (rule == "dfa" and spec.algorithm.binary_feedback)

    def add(c: Component) -> None:
        comps[(c.layer, c.role)] = c

    feedback: list[LayerMap] = []
    for lm in layers:
        _forward_components(lm, spec, add)
        if train:
            _backward_components(lm, spec, layers, add, feedback, binary)
            _update_components(lm, spec, add, binary)
    graph = _data_path(layers, comps, spec)
    return ComponentGraph(spec, layers, comps, graph, feedback)


def _readout_units(lm: LayerMap, ro: AdcSpec) -> int:
    """ADCs of a layer: every tile has ceil(cols / columns_per_adc)."""
    return lm.n_tiles * math.ceil(lm.cols / ro.columns_per_adc)


def _adc_chain(lm: LayerMap, ro, digital_variant, add, input_cycles: int) -> int:
    """ADCs of every tile, their column multiplexers, the integrators of an integrating read-out,
    and the adders of the row-tile partial sums; returns the number of ADCs."""
    L = lm.name
    units = _readout_units(lm, ro)
    phases = (1,)
    if ro.integrator is not None:
        phases = integration_phases(input_cycles, ro.integrator.two_phase_above_bits)
        lanes = lm.n_tiles * lm.cols
        steps = sum(2**p - 1 for p in phases)
        add(Component(L, "integrator", "integrator", ro.integrator.variant, lanes, None,
                      note=f"{steps} integration steps over phases of {phases} input bits", cycles=steps))
        add(Component(L, "sample_hold", "sample_hold", ro.integrator.sample_variant, lanes, None,
                      note="one charge sample per input bit", cycles=input_cycles))
        if ro.integrator.wordline_variant is not None:
            add(Component(L, "neuron_wordline", "row_driver", ro.integrator.wordline_variant, lanes, 1,
                          note="toggled once per input bit", cycles=input_cycles))
    add(Component(L, "readout", "adc", ro.variant, units, ro.bits, cycles=len(phases),
                  note=f"{len(phases)} conversion phases" if len(phases) > 1 else ""))
    if ro.columns_per_adc > 1:
        add(Component(L, "readout_mux", "mux", None, units, ro.bits))
    if lm.row_tiles > 1:
        add(Component(L, "partial_sum_adder", "adder", digital_variant, lm.n_out, ro.bits))
    return units


def _forward_components(lm: LayerMap, spec: ArchitectureSpec, add) -> None:
    p = spec.peripherals
    L = lm.name
    cells = lm.n_tiles * lm.rows * lm.cols
    add(Component(L, "cell", "cell", spec.crossbar.cell, cells, note=f"{lm.n_tiles} tiles of {lm.rows}x{lm.cols}"))
    drivers = lm.n_tiles * lm.rows
    first = lm.index == 0
    inp = p.input_driver
    cycles = 1
    if isinstance(inp, DacSpec):
        bits = spec.workload.input_bits if first else inp.bits
        cycles = bits if inp.bit_serial else 1
        if inp.bit_serial:
            add(Component(L, "input_driver", "row_driver", inp.variant, drivers, 1,
                          note=f"bit-serial, {bits} cycles", cycles=bits))
        else:
            add(Component(L, "input_driver", "dac", inp.variant, drivers, bits))
    else:
        add(Component(L, "input_driver", "row_driver", inp.variant, drivers, 1))
    if lm.is_output:
        _adc_chain(lm, p.output_readout, p.digital_variant, add, cycles)
        add(Component(L, "activation", "activation", p.activation_variant, 1, note="softmax"))
    else:
        ro = p.readout
        if isinstance(ro, ComparatorSpec):
            n = lm.col_tiles * lm.weight_cols_per_tile
            add(Component(L, "readout", "comparator", ro.variant, n, 1))
            add(Component(L, "readout_rng", "rng", ro.rng_variant or _rng_variant(ro), n, ro.rng_bits))
            if spec.workload.mode == "train":
                add(Component(L, "derivative_comparator", "comparator", ro.variant, n, 1))
                add(Component(L, "derivative_rng", "rng", ro.rng_variant or _rng_variant(ro), n, ro.rng_bits))
        else:
            units = _adc_chain(lm, ro, p.digital_variant, add, cycles)
            add(Component(L, "activation", "activation", p.activation_variant, math.ceil(units / lm.row_tiles), note="sigmoid"))
            if spec.workload.mode == "train":
                add(Component(L, "derivative_unit", "multiplier", p.digital_variant, math.ceil(units / lm.row_tiles), ro.bits))
    binary = spec.algorithm.rule == "binary_stochastic" or (
        spec.algorithm.rule == "dfa" and spec.algorithm.binary_feedback)
    if first and binary:
        rng_bits = p.readout.rng_bits if isinstance(p.readout, ComparatorSpec) else 16
        add(Component(L, "input_rng", "rng", p.rng_variant, lm.n_in, rng_bits,
                      note="samples the network input to {0, 1}"))
    if isinstance(inp, DacSpec) and inp.bit_serial:
        add(Component(L, "shift_add", "shift_add", p.digital_variant, lm.n_tiles * lm.cols, None))


def _rng_variant(ro: ComparatorSpec) -> str | None:
    return {"lfsr": "lfsr", "trng": "trng", "ideal": "lfsr"}[ro.rng]


def _backward_components(lm, spec, layers, add, feedback, binary) -> None:
    p = spec.peripherals
    L = lm.name
    rule = spec.algorithm.rule
    if lm.is_output and binary:
        ro = p.readout
        rng_bits = ro.rng_bits if isinstance(ro, ComparatorSpec) else 16
        add(Component(L, "error_rng", "rng", p.rng_variant, lm.n_out, rng_bits, phase="backward",
                      note="samples the softmax for the output error"))
    if rule == "dfa":
        if lm.is_output:
            return
        out = layers[-1]
        fb = map_layer(f"{L}.B", lm.index, out.n_out, lm.n_out, False, spec.crossbar.rows,
                       spec.crossbar.cols, spec.crossbar.weight_encoding)
        feedback.append(fb)
        _mvm_components(fb, spec, add, prefix="feedback_", layer=L, readout=p.error_readout,
                        driver=p.error_input, binary=binary, backward=False)
        return
    if lm.index == 0:
        return  # no error is propagated below the first layer
    _mvm_components(lm, spec, add, prefix="error_", layer=L, readout=p.error_readout,
                    driver=p.error_input, binary=binary, backward=True)


def _mvm_components(lm, spec, add, *, prefix, layer, readout, driver, binary, backward) -> None:
    """Drivers and read-out of an error MVM: through W transposed (backward) or a feedback array."""
    # backward: drive columns (n_out side), read rows (n_in side); feedback: drive rows, read cols
    drive_lines = lm.n_tiles * (lm.cols if backward else lm.rows)
    read_lines = lm.n_in if backward else lm.n_out
    tiles_summed = lm.col_tiles if backward else lm.row_tiles
    ph = "backward"
    if prefix == "feedback_":
        add(Component(layer, "feedback_cell", "cell", spec.crossbar.cell, lm.n_tiles * lm.rows * lm.cols,
                      phase=ph, note="fixed random feedback matrix B (never updated)"))
    if isinstance(driver, DacSpec):
        add(Component(layer, f"{prefix}input", "dac", driver.variant, drive_lines, driver.bits, phase=ph))
    else:
        add(Component(layer, f"{prefix}input", "ternary_driver", driver.variant, drive_lines, 2, phase=ph))
    if isinstance(readout, ComparatorSpec):
        add(Component(layer, f"{prefix}readout", "comparator", readout.variant, read_lines, 1, phase=ph))
    else:
        side = lm.rows if backward else lm.cols
        units = lm.n_tiles * math.ceil(side / readout.columns_per_adc)
        add(Component(layer, f"{prefix}readout", "adc", readout.variant, units, readout.bits, phase=ph))
        if readout.columns_per_adc > 1:
            add(Component(layer, f"{prefix}mux", "mux", None, units, readout.bits, phase=ph))
        if tiles_summed > 1:
            add(Component(layer, f"{prefix}partial_sum_adder", "adder", spec.peripherals.digital_variant,
                          read_lines, readout.bits, phase=ph))
        if not binary:
            add(Component(layer, f"{prefix}scale", "multiplier", spec.peripherals.digital_variant,
                          math.ceil(units / tiles_summed), readout.bits, phase=ph,
                          note="multiplies the error by the activation derivative"))


def _update_components(lm, spec, add, binary) -> None:
    p = spec.peripherals
    L = lm.name
    acc = p.gradient_accumulator
    add(Component(L, "gradient_accumulator", "sram_buffer", acc.variant, lm.n_weights * acc.bits, acc.bits,
                  phase="update", note=f"{acc.bits}-bit accumulator per weight"))
    lanes = lm.n_tiles * lm.cols
    add(Component(L, "gradient_adder", "accumulator", p.digital_variant, lanes, acc.bits, phase="update"))
    if not binary:
        add(Component(L, "gradient_multiplier", "multiplier", p.digital_variant, lanes, acc.bits, phase="update",
                      note="digital outer product x * delta"))
    add(Component(L, "write_driver", "write_driver", p.update.variant, lanes, None, phase="update"))


def _data_path(layers: list[LayerMap], comps: dict, spec: ArchitectureSpec) -> nx.DiGraph:
    g = nx.DiGraph(name=spec.name)
    g.add_node("chip", kind="chip", label=spec.name)
    for (layer, role), c in comps.items():
        g.add_node(c.id, kind=c.kind, role=role, layer=layer, variant=c.variant or "",
                   count=c.count, bits=c.bits or 0, phase=c.phase)
    for lm in layers:
        g.add_node(lm.name, kind="layer", n_in=lm.n_in, n_out=lm.n_out, row_tiles=lm.row_tiles,
                   col_tiles=lm.col_tiles, tiles=lm.n_tiles)
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
        bits_in = in_bits if prev_out is None else comps[(layers[lm.index - 1].name, "readout")].bits or 1
        if prev_out is not None:
            g.add_edge(prev_out, chain[0], relation="data", bits=bits_in, width=lm.n_in)
        for a, b in zip(chain, chain[1:], strict=False):
            g.add_edge(a, b, relation="data", bits=readout_bits if "readout" in a else bits_in,
                       width=lm.n_out if "readout" in a else lm.n_in)
        prev_out = chain[-1]
    return g
