"""The role registry: every component role of a layer, declared once.

Room: graph. A role (readout, error_readout, gradient_accumulator, ...) says
- when it exists on a layer and with how many instances (``build``: a Component or None),
- its events for an Activity of the layer (``events``): the ONE counting rule, called by the
  analytic counter (activity from factors) and by the engine (activity it measured),
- its contribution to each (layer, phase) step of the schedule (``latency``), given the latency
  of one action of one instance.
``ROLES`` lists them in data-path order; ``role(name)`` raises on an unknown name, so a misspelt
role is an error, never a silent zero.

Counting rules, per layer (n_in inputs, n_out outputs, R row tiles, C column tiles, uses =
samples x uses_per_sample, b = bit cycles of a bit-serial input):

forward   input_driver   DAC: n_in x C x rows-per-input converts per use; row drivers: driven
                         inputs x C x b x rows-per-input drives
          cell.read      driven inputs x cells read per driven row (weights + 1 reference per C) x b
          readout        comparators: n_out compares per use, rng bits x n_out (and the sampled
                         derivative again while training); ADCs: n_out x R x b converts per use
                         (every input bit of a bit-serial input is digitised, as ISAAC does), a
                         mux switch per conversion, n_out x (R - 1) partial-sum adds; integrating
                         neurons (NeuRRAM): see the integrator roles
          activation, derivative_unit   n_out per use
          shift_add      bit-serial input: n_out x R x b per use
          optional parts (ISAAC's Table I; each only with its peripherals section):
          readout_sample_hold  a sample per ADC conversion; input_register n_in x C x
                         rows-per-input x input bits written and as many read per use;
                         output_register n_out x R x output bits written and read per use;
                         tile_bus (conv) the input register's bits per use; chip_io the
                         network's input bits (first layer) and output bits (output layer)
backward  (transpose: layers after the first, driven by the layer's delta; feedback (DFA): every
          hidden layer through its fixed array, driven by the output delta)
          drive (non-zero errors, or DAC converts of all) x the tiles driven; cell reads per
          driven line; read-out as forward over the read lines and the tiles summed
          digital backward: a multiply, an add and a weight-copy read per MAC
update    gradient memory: binary rules read-modify-write the accumulators of non-zero gradient
          terms and scan all of them once per update; full precision every weight per sample;
          write_driver and cell set/reset pulses as programmed
          coincidence: rng bits per line and slot, row/column drives per pulse fired
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cimest.graph.activity import Activity
from cimest.graph.shapes import LayerMap
from cimest.spec.architecture import (
    ArchitectureSpec,
    ComparatorSpec,
    DacSpec,
    PeripheralsSpec,
)
from cimest.spec.rules import RuleTraits


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
    line_cells: int = 0
    """Cells along one line: a wire's length in cell pitches; a cell's bit line (its rows), which
    sets the sensing time."""
    sense_bits: int = 0
    """Cells: bits the read-out resolves from the bit line (1 for a comparator)."""
    edge_row: int = 0
    """Instances per tile pitch-matched along the array's row side (beside it, one per row or
    row group: input drivers, row decoders and level shifters); the floorplan area model stacks
    them across the array's height (technology.area_model)."""
    edge_col: int = 0
    """Instances per tile pitch-matched along the array's column side (below it: ADCs and their
    muxes, shift-adds, column level shifters), stacked across the array's width. Components on
    neither edge (digital units, buffers, read-outs shared by several tiles) are unplaced."""

    @property
    def id(self) -> str:
        return f"{self.layer}.{self.role}"


@dataclass(frozen=True)
class LayerPlan:
    """What the roles need to know about one layer."""

    spec: ArchitectureSpec
    lm: LayerMap
    per: PeripheralsSpec
    """The layer's peripherals (chip-wide sections with its per_layer overrides)."""
    traits: RuleTraits
    binary: bool
    train: bool
    """The chip trains (its workload mode); counting may still ask for one inference."""
    feedback: LayerMap | None
    """DFA: the layer's fixed feedback array."""
    input_bits: int
    """Bits of this layer's input (first layer: workload.input_bits)."""

    @property
    def readout_spec(self):
        return self.per.output_readout if self.lm.is_output else self.per.readout

    @property
    def input_cycles(self) -> int:
        inp = self.per.input_driver
        return self.input_bits if isinstance(inp, DacSpec) and inp.bit_serial else 1

    @property
    def backward(self) -> str | None:
        """Which backward MVM the layer has: transpose, feedback, or None."""
        if not self.train:
            return None
        if self.traits.backward == "feedback":
            return "feedback" if not self.lm.is_output else None
        return "transpose" if self.lm.index > 0 else None

    @property
    def error_mvm(self) -> tuple[LayerMap, int, int, int, int]:
        """(array, lines driven, drive repeat, lines read, tiles summed) of the backward MVM."""
        lm = self.lm
        if self.backward == "feedback":
            fb = self.feedback
            assert fb is not None
            return fb, fb.n_in, fb.col_tiles, fb.n_out, fb.row_tiles
        return lm, lm.n_out, lm.row_tiles, lm.n_in, lm.col_tiles

    def integration(self) -> tuple[tuple[int, ...], int] | None:
        """(input bits per phase, output bits resolved) of an integrating read-out, or None."""
        ro = self.readout_spec
        integrator = getattr(ro, "integrator", None)
        if integrator is None:
            return None
        phases = integration_phases(self.input_cycles, integrator.two_phase_above_bits)
        return phases, sum(conversion_steps(ro.bits, phases))


def integration_phases(input_bits: int, two_phase_above_bits: int | None) -> tuple[int, ...]:
    """Input bits per integration phase: one phase, or the upper ceil(n/2) then lower floor(n/2)
    bits when there are more than ``two_phase_above_bits``."""
    if two_phase_above_bits is None or input_bits <= two_phase_above_bits:
        return (input_bits,)
    return (math.ceil(input_bits / 2), input_bits // 2)


def conversion_steps(output_bits: int, phases: tuple[int, ...]) -> tuple[int, ...]:
    """Output bits each phase's conversion resolves: all of them in the first phase, then only
    those below the input bits already integrated (NeuRRAM's two-phase read-out)."""
    return tuple(max(output_bits - sum(phases[:i]), 0) for i in range(len(phases)))


Events = Iterable[tuple[str, str, float]]  # (phase, action, events)
Latency = Callable[[str], float]  # action -> seconds of one action of one instance


@dataclass(frozen=True)
class Role:
    """One component role: when it exists, what it counts, how long it takes."""

    name: str
    build: Callable[[LayerPlan], Component | None]
    events: Callable[[Component, LayerPlan, Activity, bool], Events]
    """(component, plan, activity, training) -> events; ``training`` False counts an inference."""
    latency: Callable[[Component, LayerPlan, Latency, Activity], Iterable[tuple[str, float]]]
    """(component, plan, latency of one action, activity per sample) -> (phase, seconds)."""
    doc: str = ""


def _none(*_args) -> Iterable:
    return ()


def _uses(p: LayerPlan, a: Activity) -> float:
    return a.samples * p.lm.uses_per_sample


# --- forward ---------------------------------------------------------------------------------


def _sense_bits(p: LayerPlan) -> int:
    """Bits the forward read-out resolves from a bit line (a comparator: 1)."""
    ro = p.readout_spec
    return 1 if isinstance(ro, ComparatorSpec) else ro.bits


def _cell(p: LayerPlan) -> Component:
    lm = p.lm
    return Component(
        lm.name,
        "cell",
        "cell",
        p.spec.crossbar.cell,
        lm.n_tiles * lm.rows * lm.cols,
        note=f"{lm.n_tiles} tiles of {lm.rows}x{lm.cols}",
        line_cells=lm.rows,
        sense_bits=_sense_bits(p),
    )


def _current_mode(p: LayerPlan) -> bool:
    """The forward read-out senses its columns in current mode (readout ``sense``)."""
    return getattr(p.readout_spec, "sense", "voltage") == "current_mode"


def _cell_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    lm = p.lm
    if not _current_mode(p):
        # Why: a current-mode read-out charges the column's current per conversion (column_sense);
        # DNN+NeuroSim V1.4 likewise drops the bit-line term of its array ("already considered
        # in multilevelsenseamp", SubArray.cpp CalculatePower).
        yield "forward", "read", a.inputs_driven * lm.cols_read_per_row * p.input_cycles
    if not training:
        return
    if p.backward == "transpose" and p.per.backward is None:
        yield "backward", "read", a.errors_driven * lm.cells_read_per_col
    # every copy of a duplicated layer is programmed alike
    yield "update", "set_pulse", a.set_pulses * lm.duplicate
    yield "update", "reset_pulse", a.reset_pulses * lm.duplicate


def _cell_latency(c, p: LayerPlan, lat: Latency, a: Activity):
    lm = p.lm
    yield "forward", p.input_cycles * lat("read")
    if p.backward == "transpose" and p.per.backward is None:
        yield "backward", lat("read")
    if not p.train:
        return
    if p.traits.update == "coincidence":
        # every device of the array in parallel: one SET and one RESET slot per pulse slot
        yield "update", p.spec.algorithm.pulse_length * (lat("set_pulse") + lat("reset_pulse"))
        return
    # programming once per batch: the schedule's write steps (measured or given), each one SET or
    # one RESET slot; without them, every physical row of a tile for the mean train length, each
    # pulse a SET and a RESET slot
    updates = a.updates / a.samples if a.samples else 0.0
    slot = lat("set_pulse") + lat("reset_pulse")
    if a.program_steps:
        set_steps = a.program_set_steps
        reset_steps = a.program_steps - set_steps
        yield (
            "update",
            (set_steps * lat("set_pulse") + reset_steps * lat("reset_pulse")) / a.samples,
        )
        return
    rows = min(lm.rows, lm.n_in * lm.rows_per_input)
    pulses = a.pulses / a.devices_programmed if a.devices_programmed else 0.0
    if p.per.update.kind == "single_pulse":
        pulses = 1.0 if pulses > 0 else 0.0
    yield "update", rows * pulses * slot * updates


def _input_driver(p: LayerPlan) -> Component:
    lm, inp = p.lm, p.per.input_driver
    drivers = lm.n_tiles * lm.rows
    if isinstance(inp, DacSpec):
        if inp.bit_serial:
            return Component(
                lm.name,
                "input_driver",
                "row_driver",
                inp.variant,
                drivers,
                1,
                note=f"bit-serial, {p.input_bits} cycles",
                cycles=p.input_bits,
                edge_row=lm.rows,
            )
        return Component(
            lm.name, "input_driver", "dac", inp.variant, drivers, p.input_bits, edge_row=lm.rows
        )
    return Component(
        lm.name, "input_driver", "row_driver", inp.variant, drivers, 1, edge_row=lm.rows
    )


def _input_driver_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    lm = p.lm
    if c.kind == "dac":
        yield "forward", "convert", _uses(p, a) * lm.n_in * lm.col_tiles * lm.rows_per_input
    else:
        yield "forward", "drive", a.inputs_driven * lm.col_tiles * c.cycles * lm.rows_per_input


def _input_driver_latency(c: Component, p, lat: Latency, a):
    yield "forward", c.cycles * lat("convert" if c.kind == "dac" else "drive")


def _readout(p: LayerPlan) -> Component:
    lm, ro = p.lm, p.readout_spec
    if isinstance(ro, ComparatorSpec):
        return Component(lm.name, "readout", "comparator", ro.variant, _comparator_columns(lm), 1)
    per_tile = math.ceil(lm.cols / ro.columns_per_adc)
    integration = p.integration()
    phases = integration[0] if integration else (1,)
    return Component(
        lm.name,
        "readout",
        "adc",
        ro.variant,
        lm.n_tiles * per_tile,
        ro.bits,
        cycles=len(phases),
        note=f"{len(phases)} conversion phases" if len(phases) > 1 else "",
        edge_col=per_tile,
    )


def _comparator_columns(lm: LayerMap) -> int:
    """One comparator per weight column of every tile copy."""
    return lm.col_tiles * lm.weight_cols_per_tile * lm.duplicate


def _parallel_rows(p: LayerPlan) -> int | None:
    return getattr(p.readout_spec, "parallel_rows", None)


def _row_groups(p: LayerPlan) -> int:
    """Row groups converted one after another per output column, over all row tiles."""
    return p.lm.row_groups(_parallel_rows(p))


def _groups_per_tile(p: LayerPlan) -> int:
    """Row groups one tile reads one after another (NeuroSim's parallel read)."""
    pr = _parallel_rows(p)
    if pr is None:
        return 1
    return math.ceil(min(p.lm.rows, p.lm.n_in * p.lm.rows_per_input) / pr)


def _adc_conversions(p: LayerPlan, a: Activity) -> float:
    """Conversions of the forward ADC read-out: every lane (output slice x row group) per use, per
    input bit of a bit-serial input; an integrating read-out converts once per phase, a phase
    resolving fewer bits being that fraction of a conversion."""
    lanes = _lanes(p, a)
    integration = p.integration()
    if integration is not None:
        return lanes * integration[1] / p.readout_spec.bits
    return lanes * p.input_cycles


def _readout_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    if c.kind == "comparator":
        yield "forward", "compare", _uses(p, a) * p.lm.n_out
    else:
        yield "forward", "convert", _adc_conversions(p, a)


def _column_sense(p: LayerPlan) -> Component | None:
    """A current-mode read-out's column power over its conversion, one per ADC (its area is the
    ADC's): the energy the cells' forward reads are not charged on such a layer."""
    if not (_is_adc(p) and _current_mode(p)):
        return None
    readout = _readout(p)
    return Component(
        p.lm.name,
        "column_sense",
        "column_sense",
        None,
        readout.count,
        note="current-mode sensing: column energy per conversion",
    )


def _column_sense_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    yield "forward", "sense", _adc_conversions(p, a)


def _readout_latency(c: Component, p: LayerPlan, lat: Latency, a):
    if c.kind == "comparator":
        yield "forward", lat("compare")
        return
    ro = p.readout_spec
    integration = p.integration()
    conversions = integration[1] / ro.bits if integration else p.input_cycles
    conversions *= _groups_per_tile(p)
    yield "forward", min(ro.columns_per_adc, p.lm.cols) * conversions * lat("convert")


def _readout_mux(p: LayerPlan) -> Component | None:
    ro = p.readout_spec
    if _is_adc(p) and ro.columns_per_adc > 1:
        readout = _readout(p)
        return Component(
            p.lm.name, "readout_mux", "mux", None, readout.count, ro.bits, edge_col=readout.edge_col
        )
    return None


def _readout_mux_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    integration = p.integration()
    if integration is not None:
        yield "forward", "switch", _lanes(p, a) * len(integration[0])
    else:
        yield "forward", "switch", _adc_conversions(p, a)


def _is_adc(p: LayerPlan) -> bool:
    return not isinstance(p.readout_spec, ComparatorSpec)


def _partial_sum_adder(p: LayerPlan) -> Component | None:
    if _is_adc(p) and _row_groups(p) > 1:
        return Component(
            p.lm.name,
            "partial_sum_adder",
            "adder",
            p.per.digital_variant,
            p.lm.n_out * p.lm.duplicate,
            p.readout_spec.bits,
        )
    return None


def _partial_sum_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    # the partial sums of the row groups (row tiles, and groups of parallel_rows within a tile)
    yield "forward", "op", _uses(p, a) * p.lm.n_out * (_row_groups(p) - 1)


def _partial_sum_latency(c, p: LayerPlan, lat: Latency, a):
    yield "forward", math.ceil(math.log2(_row_groups(p))) * lat("op")


def _integrator(p: LayerPlan) -> Component | None:
    integration = p.integration()
    if integration is None:
        return None
    phases = integration[0]
    steps = sum(2**b - 1 for b in phases)
    return Component(
        p.lm.name,
        "integrator",
        "integrator",
        p.readout_spec.integrator.variant,
        p.lm.n_tiles * p.lm.cols,
        None,
        note=f"{steps} integration steps over phases of {phases} input bits",
        cycles=steps,
        edge_col=p.lm.cols,
    )


def _lanes(p: LayerPlan, a: Activity) -> float:
    """Column reads per use: every output's weight slices in every row group."""
    return _uses(p, a) * p.lm.n_out * p.lm.slices * _row_groups(p)


def _sample_hold(p: LayerPlan) -> Component | None:
    if p.integration() is None:
        return None
    return Component(
        p.lm.name,
        "sample_hold",
        "sample_hold",
        p.readout_spec.integrator.sample_variant,
        p.lm.n_tiles * p.lm.cols,
        None,
        note="one charge sample per input bit",
        cycles=p.input_cycles,
        edge_col=p.lm.cols,
    )


def _neuron_wordline(p: LayerPlan) -> Component | None:
    if p.integration() is None or p.readout_spec.integrator.wordline_variant is None:
        return None
    return Component(
        p.lm.name,
        "neuron_wordline",
        "row_driver",
        p.readout_spec.integrator.wordline_variant,
        p.lm.n_tiles * p.lm.cols,
        1,
        note="toggled once per input bit",
        cycles=p.input_cycles,
        edge_col=p.lm.cols,
    )


def _shift_add(p: LayerPlan) -> Component | None:
    bit_serial = isinstance(p.per.input_driver, DacSpec) and p.per.input_driver.bit_serial
    if bit_serial or (p.lm.slices > 1 and _is_adc(p)):
        # one per ADC: it shifts and adds that ADC's conversions in turn (NeuroSim's ShiftAdd has
        # numCol / numColMuxed units); one per column behind comparators
        per_tile = _readout(p).edge_col if _is_adc(p) else p.lm.cols
        return Component(
            p.lm.name,
            "shift_add",
            "shift_add",
            p.per.digital_variant,
            p.lm.n_tiles * per_tile,
            None,
            edge_col=per_tile,
        )
    return None


def _shift_add_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    integration = p.integration()
    if integration is not None:
        yield "forward", "op", _lanes(p, a) * integration[1]
    else:
        yield "forward", "op", _lanes(p, a) * p.input_cycles


def _activation(p: LayerPlan) -> Component | None:
    lm = p.lm
    if lm.is_output:
        return Component(
            lm.name, "activation", "activation", p.per.activation_variant, 1, note="softmax"
        )
    if _is_adc(p):
        units = _readout(p).count
        return Component(
            lm.name,
            "activation",
            "activation",
            p.per.activation_variant,
            math.ceil(units / lm.row_tiles),
            note="sigmoid",
        )
    return None


def _activation_latency(c, p: LayerPlan, lat: Latency, a):
    # the output layer's softmax unit evaluates its outputs one after another
    yield "forward", (p.lm.n_out if p.lm.is_output else 1) * lat("evaluate")


def _per_output(phase: str, action: str, training_only: bool = False):
    def events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
        if training or not training_only:
            yield phase, action, _uses(p, a) * p.lm.n_out

    return events


def _rng_bits_per_output(training_only: bool):
    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if training or not training_only:
            yield "forward", "bit", _uses(p, a) * p.lm.n_out * (c.bits or 1)

    return events


def _comparator_readout(p: LayerPlan) -> ComparatorSpec | None:
    ro = p.readout_spec
    return ro if isinstance(ro, ComparatorSpec) and not p.lm.is_output else None


def _rng_variant(ro: ComparatorSpec) -> str | None:
    return ro.rng_variant or {"lfsr": "lfsr", "trng": "trng", "ideal": "lfsr"}[ro.rng]


def _readout_rng(p: LayerPlan) -> Component | None:
    ro = _comparator_readout(p)
    if ro is None:
        return None
    n = _comparator_columns(p.lm)
    return Component(p.lm.name, "readout_rng", "rng", _rng_variant(ro), n, ro.rng_bits)


def _derivative_comparator(p: LayerPlan) -> Component | None:
    ro = _comparator_readout(p)
    if ro is None or not p.train:
        return None
    n = _comparator_columns(p.lm)
    return Component(p.lm.name, "derivative_comparator", "comparator", ro.variant, n, 1)


def _derivative_rng(p: LayerPlan) -> Component | None:
    ro = _comparator_readout(p)
    if ro is None or not p.train:
        return None
    n = _comparator_columns(p.lm)
    return Component(p.lm.name, "derivative_rng", "rng", _rng_variant(ro), n, ro.rng_bits)


def _derivative_unit(p: LayerPlan) -> Component | None:
    if p.lm.is_output or not _is_adc(p) or not p.train:
        return None
    units = _readout(p).count
    return Component(
        p.lm.name,
        "derivative_unit",
        "multiplier",
        p.per.digital_variant,
        math.ceil(units / p.lm.row_tiles),
        p.readout_spec.bits,
    )


def _sampling_bits(p: LayerPlan) -> int:
    ro = p.spec.peripherals.readout
    return ro.rng_bits if isinstance(ro, ComparatorSpec) else 16


def _input_rng(p: LayerPlan) -> Component | None:
    if p.lm.index != 0 or not p.binary:
        return None
    return Component(
        p.lm.name,
        "input_rng",
        "rng",
        p.per.rng_variant,
        p.lm.n_in,
        _sampling_bits(p),
        note="samples the network input to {0, 1}",
    )


def _input_rng_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    # each input value is sampled once per pass, however many windows of a convolution read it
    yield "forward", "bit", a.samples * math.prod(p.lm.in_shape) * (c.bits or 1)


# --- backward ---------------------------------------------------------------------------------


def _error_rng(p: LayerPlan) -> Component | None:
    if not (p.lm.is_output and p.binary and p.train):
        return None
    return Component(
        p.lm.name,
        "error_rng",
        "rng",
        p.per.rng_variant,
        p.lm.n_out,
        _sampling_bits(p),
        phase="backward",
        note="samples the softmax for the output error",
    )


def _error_rng_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    if training:
        yield "backward", "bit", a.samples * p.lm.n_out * (c.bits or 1)


def _analog_backward(p: LayerPlan, prefix: str) -> bool:
    want = "feedback" if prefix == "feedback_" else "transpose"
    return p.backward == want and p.per.backward is None


def _mvm_input(prefix: str):
    def build(p: LayerPlan) -> Component | None:
        if not _analog_backward(p, prefix):
            return None
        array = p.error_mvm[0]
        per_tile = array.cols if prefix == "error_" else array.rows
        # the transpose drives the layer's own columns, below its array; a feedback array's
        # peripherals are left unplaced (that array is not laid out by the floorplan)
        edge = per_tile if prefix == "error_" else 0
        driver = p.per.error_input
        if isinstance(driver, DacSpec):
            return Component(
                p.lm.name,
                f"{prefix}input",
                "dac",
                driver.variant,
                array.n_tiles * per_tile,
                driver.bits,
                phase="backward",
                edge_col=edge,
            )
        return Component(
            p.lm.name,
            f"{prefix}input",
            "ternary_driver",
            driver.variant,
            array.n_tiles * per_tile,
            2,
            phase="backward",
            edge_col=edge,
        )

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if not training:
            return
        _, n_drive, repeat, _, _ = p.error_mvm
        if c.kind == "dac":
            yield "backward", "convert", _uses(p, a) * n_drive * repeat
        else:
            yield "backward", "drive", _driven(p, a) * repeat

    def latency(c: Component, p, lat: Latency, a):
        yield "backward", lat("convert" if c.kind == "dac" else "drive")

    return Role(f"{prefix}input", build, events, latency)


def _driven(p: LayerPlan, a: Activity) -> float:
    return a.feedback_driven if p.backward == "feedback" else a.errors_driven


def _feedback_cell(p: LayerPlan) -> Component | None:
    if not _analog_backward(p, "feedback_"):
        return None
    fb = p.feedback
    return Component(
        p.lm.name,
        "feedback_cell",
        "cell",
        p.spec.crossbar.cell,
        fb.n_tiles * fb.rows * fb.cols,
        phase="backward",
        note="fixed random feedback matrix B (never updated)",
    )


def _feedback_cell_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    if training:
        yield "backward", "read", a.feedback_driven * p.feedback.cols_read_per_row


def _mvm_readout(prefix: str):
    def build(p: LayerPlan) -> Component | None:
        if not _analog_backward(p, prefix):
            return None
        array, _, _, n_read, _ = p.error_mvm
        ro = p.per.error_readout
        if ro.kind == "comparator":
            return Component(
                p.lm.name,
                f"{prefix}readout",
                "comparator",
                ro.variant,
                n_read * array.duplicate,
                1,
                phase="backward",
            )
        side = array.rows if prefix == "error_" else array.cols
        per_tile = math.ceil(side / ro.columns_per_adc)
        return Component(
            p.lm.name,
            f"{prefix}readout",
            "adc",
            ro.variant,
            array.n_tiles * per_tile,
            ro.bits,
            phase="backward",
            edge_row=per_tile if prefix == "error_" else 0,  # reads the layer's own rows
        )

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if not training:
            return
        _, _, _, n_read, tiles = p.error_mvm
        if c.kind == "comparator":
            yield "backward", "compare", _uses(p, a) * n_read
        else:
            yield "backward", "convert", _uses(p, a) * n_read * tiles

    def latency(c: Component, p: LayerPlan, lat: Latency, a):
        if c.kind == "comparator":
            yield "backward", lat("compare")
            return
        side = p.lm.rows if prefix == "error_" else p.feedback.cols
        yield "backward", min(p.per.error_readout.columns_per_adc, side) * lat("convert")

    return Role(f"{prefix}readout", build, events, latency)


def _mvm_adc_part(prefix: str, name: str):
    """mux, partial_sum_adder and scale of an ADC error read-out."""

    def build(p: LayerPlan) -> Component | None:
        if not _analog_backward(p, prefix) or p.per.error_readout.kind == "comparator":
            return None
        ro = p.per.error_readout
        array, _, _, n_read, tiles = p.error_mvm
        side = array.rows if prefix == "error_" else array.cols
        units = array.n_tiles * math.ceil(side / ro.columns_per_adc)
        dv = p.per.digital_variant
        if name == "mux" and ro.columns_per_adc > 1:
            return Component(
                p.lm.name,
                f"{prefix}mux",
                "mux",
                None,
                units,
                ro.bits,
                phase="backward",
                edge_row=units // array.n_tiles if prefix == "error_" else 0,
            )
        if name == "partial_sum_adder" and tiles > 1:
            return Component(
                p.lm.name,
                f"{prefix}partial_sum_adder",
                "adder",
                dv,
                n_read,
                ro.bits,
                phase="backward",
            )
        if name == "scale" and not p.binary:
            return Component(
                p.lm.name,
                f"{prefix}scale",
                "multiplier",
                dv,
                math.ceil(units / tiles),
                ro.bits,
                phase="backward",
                note="multiplies the error by the activation derivative",
            )
        return None

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if not training:
            return
        _, _, _, n_read, tiles = p.error_mvm
        uses = _uses(p, a)
        if name == "mux":
            yield "backward", "switch", uses * n_read * tiles
        elif name == "partial_sum_adder":
            yield "backward", "op", uses * n_read * (tiles - 1)
        else:
            yield "backward", "op", uses * n_read

    def latency(c, p, lat: Latency, a):
        if name != "mux":
            yield "backward", lat("op")

    return Role(f"{prefix}{name}", build, events, latency)


def _digital_backward(name: str, kind: str, action: str):
    """The error MVM in digital logic: a multiply, an add and a weight-copy read per MAC."""

    def build(p: LayerPlan) -> Component | None:
        d = p.per.backward
        if d is None or p.backward is None:
            return None
        array = p.error_mvm[0]
        if kind == "sram_buffer":
            return Component(
                p.lm.name,
                name,
                kind,
                d.buffer_variant,
                array.n_weights * d.bits,
                d.bits,
                phase="backward",
                note=f"{d.bits}-bit digital copy of the weights",
            )
        return Component(
            p.lm.name,
            name,
            kind,
            d.variant or p.per.digital_variant,
            p.error_mvm[3],
            d.bits,
            phase="backward",
            note="digital error MVM, one unit per error line read",
        )

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if training:
            macs = _uses(p, a) * p.error_mvm[0].n_weights
            yield "backward", action, macs * ((c.bits or 1) if kind == "sram_buffer" else 1)

    def latency(c: Component, p: LayerPlan, lat: Latency, a):
        if kind != "sram_buffer":  # one MAC per line per cycle over the lines driven
            yield "backward", p.error_mvm[1] * lat(action)

    return Role(name, build, events, latency)


# --- update -------------------------------------------------------------------------------------


def _accumulate(p: LayerPlan) -> bool:
    return p.train and p.traits.update == "accumulate"


def _gradient_accumulator(p: LayerPlan) -> Component | None:
    acc = p.per.gradient_accumulator
    if not _accumulate(p) or acc is None:
        return None
    return Component(
        p.lm.name,
        "gradient_accumulator",
        "sram_buffer",
        acc.variant,
        p.lm.n_weights * acc.bits,
        acc.bits,
        phase="update",
        note=f"{acc.bits}-bit accumulator per weight",
    )


def _gradient_accumulator_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    if not training:
        return
    bits = c.bits or 1
    lm = p.lm
    if lm.uses_per_sample > 1:
        # a convolution's terms over its positions are summed in the column's gradient adder;
        # the accumulator is read-modify-written once per weight per sample (per-weight work)
        rmw = a.samples * lm.n_weights
    else:
        rmw = a.gradient_terms if p.binary else a.samples * lm.n_weights
    scan = a.updates * lm.n_weights if p.binary else 0.0
    yield "update", "read_bit", (rmw + scan) * bits
    yield "update", "write_bit", rmw * bits


def _gradient_unit(role: str, kind: str, note: str = ""):
    """The digital units of the update, one per physical column (full precision: multiplier too)."""

    def build(p: LayerPlan) -> Component | None:
        if not _accumulate(p) or (kind == "multiplier" and p.binary):
            return None
        bits = p.per.gradient_accumulator.bits if p.per.gradient_accumulator else None
        return Component(
            p.lm.name,
            role,
            kind,
            p.per.digital_variant,
            p.lm.n_tiles * p.lm.cols,
            bits,
            phase="update",
            note=note,
        )

    return build


def _gradient_ops(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    if training:
        yield "update", "op", a.gradient_terms if p.binary else _uses(p, a) * p.lm.n_weights


def _row_serial_latency(c, p: LayerPlan, lat: Latency, a):
    # accumulators are read-modify-written per input row of weights, columns in parallel; a
    # convolution adds its terms row by row at each position a copy computes
    weight_rows = min(p.lm.rows // p.lm.rows_per_input, p.lm.n_in)
    yield "update", p.lm.positions_per_copy * weight_rows * lat("op")


def _write_driver(p: LayerPlan) -> Component | None:
    if not _accumulate(p):
        return None
    return Component(
        p.lm.name,
        "write_driver",
        "write_driver",
        p.per.update.variant,
        p.lm.n_tiles * p.lm.cols,
        None,
        phase="update",
    )


def _write_driver_events(c, p, a: Activity, training: bool) -> Events:
    if training:
        yield "update", "pulse", a.pulses * p.lm.duplicate


def _coincidence(p: LayerPlan) -> bool:
    return p.train and p.traits.update == "coincidence"


def _update_rng(p: LayerPlan) -> Component | None:
    if not _coincidence(p):
        return None
    u = p.per.update
    return Component(
        p.lm.name,
        "update_rng",
        "rng",
        u.rng_variant or "lfsr",
        p.lm.n_in + p.lm.n_out,
        u.rng_bits,
        phase="update",
        note=f"one draw per line per slot, {p.spec.algorithm.pulse_length} slots",
    )


def _update_rng_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    if training:
        slots = _uses(p, a) * (p.lm.n_in + p.lm.n_out) * p.spec.algorithm.pulse_length
        yield "update", "bit", slots * (c.bits or 1)


def _update_line_driver(side: str):
    def build(p: LayerPlan) -> Component | None:
        if not _coincidence(p):
            return None
        lm = p.lm
        n = lm.n_tiles * (lm.rows if side == "row" else lm.cols)
        return Component(
            lm.name,
            f"update_{side}_driver",
            "row_driver",
            p.per.update.variant,
            n,
            1,
            phase="update",
            note="stochastic update pulses",
        )

    def events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
        if not training:
            return
        lm = p.lm
        if side == "row":
            yield "update", "drive", a.row_pulses * lm.col_tiles * lm.rows_per_input
        else:
            yield "update", "drive", a.col_pulses * lm.row_tiles

    return Role(f"update_{side}_driver", build, events, _none)


# --- array lines and their selection (NeuroSim-grade circuit detail) ---------------------------


def _write_width(p: LayerPlan) -> int:
    """Cells of a row programmed at once (update.parallel_columns, else every column)."""
    width = getattr(p.per.update, "parallel_columns", None) or p.lm.cols
    return min(width, p.lm.cols)


def _write_groups(p: LayerPlan, a: Activity) -> float:
    """(row, column group) write operations, summed over the updates: one per programmed device.

    Why: exact while at most one device of a group is programmed per update (the sparse updates
    of the shipped rules: 0.4 % of the devices per sample in MLP+NeuroSim's chip), an upper bound
    beyond; a count of non-empty groups would have to be measured by the engine, and a nonlinear
    estimate from the mean would break the analytic counter's equality with it.
    """
    return a.devices_programmed


def _line(side: str):
    """Word lines (``row``: one per row of a tile, as long as its columns) or bit lines
    (``col``: one per column, as long as its rows): C V^2 each time a line is driven.

    Reads charge the driven lines to V_read (rows forward, columns backward); the sensed lines
    are held by the read-out, their capacitance sets the sensing time (the cell's read). Writes
    (MLP+NeuroSim V3.0 Train.cpp): each written (row, group) charges its row line to V_write,
    each pulse its column line, and the other columns of the tile sit half-selected at
    V_write / 2 for the group. Coincidence updates charge a line per pulse it fires.
    """
    name = "wordline" if side == "row" else "bitline"

    def build(p: LayerPlan) -> Component | None:
        lm = p.lm
        n, length = (lm.rows, lm.cols) if side == "row" else (lm.cols, lm.rows)
        return Component(
            lm.name,
            name,
            "wire",
            p.spec.crossbar.wire_variant,
            lm.n_tiles * n,
            note=f"{length} cells long",
            line_cells=length,
        )

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        lm = p.lm
        if side == "row":
            yield (
                "forward",
                "read",
                a.inputs_driven * lm.col_tiles * p.input_cycles * lm.rows_per_input,
            )
        elif training and p.backward == "transpose" and p.per.backward is None:
            yield "backward", "read", a.errors_driven * lm.row_tiles
        if not training:
            return
        if p.traits.update == "coincidence":
            if side == "row":
                yield "update", "write", a.row_pulses * lm.col_tiles * lm.rows_per_input
            else:
                yield "update", "write", a.col_pulses * lm.row_tiles
            return
        groups = _write_groups(p, a)
        if side == "row":
            yield "update", "write", groups
        else:
            yield "update", "write", a.pulses
            yield "update", "half_select", groups * (lm.cols - _write_width(p))

    def latency(c: Component, p: LayerPlan, lat: Latency, a):
        if side == "row":  # the driven word line settles before the bit lines are sensed
            yield "forward", p.input_cycles * lat("read")

    return Role(name, build, events, latency, f"the array's {name}s (kind wire)")


def _decoder(side: str):
    """Row decoder (selects the row of each write operation) and column decoder (selects the
    group of update.parallel_columns cells, NeuroSim's numWriteColMuxed), one per tile; reads
    drive every row at once through the input drivers (NeuroSim's switch matrix), so only writes
    decode."""
    name = f"{side}_decoder"

    def build(p: LayerPlan) -> Component | None:
        if not _accumulate(p):
            return None
        lm = p.lm
        lines = lm.rows if side == "row" else math.ceil(lm.cols / _write_width(p))
        if lines < 2:
            return None
        bits = max(math.ceil(math.log2(lines)), 1)
        return Component(
            lm.name,
            name,
            "decoder",
            None,
            lm.n_tiles,
            bits,
            phase="update",
            note=f"{bits}-bit, {lines} outputs",
            edge_row=1 if side == "row" else 0,
            edge_col=1 if side == "column" else 0,
        )

    def events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
        if training:
            yield "update", "decode", _write_groups(p, a)

    return Role(name, build, events, _none)


def _level_shifter(p: LayerPlan) -> Component | None:
    """Level shifters on the array lines that take write pulses (crossbar.level_shifters.per_row
    and per_column, one each by default): programming voltages (1.6-5 V for the shipped cells)
    lie above the logic supply. Training chips with pulse updates have them; an inference chip
    when crossbar.level_shifters.on_inference says so (NeuroSim places them whenever the write
    voltage exceeds 1.5 V, to program the weights once)."""
    shifters = p.spec.crossbar.level_shifters
    writes = p.train and p.traits.update in ("accumulate", "coincidence")
    if not writes and not (not p.train and shifters.on_inference):
        return None
    lm = p.lm
    per_row, per_col = lm.rows * shifters.per_row, lm.cols * shifters.per_column
    return Component(
        lm.name,
        "level_shifter",
        "level_shifter",
        None,
        lm.n_tiles * (per_row + per_col),
        phase="update",
        note=f"logic levels to the write voltage, {shifters.per_row} per row and "
        f"{shifters.per_column} per column line",
        edge_row=per_row,
        edge_col=per_col,
    )


def _level_shifter_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    if not training:
        return
    lm = p.lm
    if p.traits.update == "coincidence":
        yield (
            "update",
            "shift",
            a.row_pulses * lm.col_tiles * lm.rows_per_input + a.col_pulses * lm.row_tiles,
        )
    else:
        yield "update", "shift", _write_groups(p, a) + a.pulses


# --- convolution: pooling and the feature maps between layers ----------------------------------
# Issue 16. A convolution's input map sits in a buffer: each value is written once per sample and
# read once for every window it falls in (n_in values per position); its pooled output crosses the
# bus to the next layer once per value. Pooling compares (max) or adds (average) size^2 - 1 values
# per pooled output, digitally, after the activation. Dense layers read their input vector straight
# from the previous read-out, so they have none of these (dense designs' figures do not move).


def _conv(p: LayerPlan) -> bool:
    return p.lm.kind == "conv"


def _output_bits(p: LayerPlan) -> int:
    """Bits of one value the layer hands on: its ADC's resolution, 1 for comparators."""
    return 1 if not _is_adc(p) else p.readout_spec.bits


def _pool(p: LayerPlan) -> Component | None:
    pool = p.lm.pool
    if not _conv(p) or pool is None:
        return None
    return Component(
        p.lm.name,
        "pool",
        "adder",
        p.per.digital_variant,
        p.lm.n_out * p.lm.duplicate,
        _output_bits(p),
        note=f"{pool.kind} pooling {pool.size}x{pool.size}, one digital unit per map"
        + (" (a compare is a subtraction)" if pool.kind == "max" else ""),
    )


def _pool_ops(p: LayerPlan) -> int:
    """Compares or adds of one sample: size^2 - 1 per pooled output."""
    return p.lm.pooled_outputs * (p.lm.pool.size**2 - 1)


def _pool_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    yield "forward", "op", a.samples * _pool_ops(p)


def _pool_latency(c: Component, p: LayerPlan, lat: Latency, a):
    # one unit per map works through its pooled outputs as the positions come out: its share of
    # the sample's work at each position (the schedule repeats a position's step)
    per_unit = _pool_ops(p) / p.lm.n_out / p.lm.duplicate
    yield "forward", per_unit / p.lm.positions_per_copy * lat("op")


def _feature_buffer(p: LayerPlan) -> Component | None:
    if not _conv(p):
        return None
    fb = p.per.feature_buffer
    if fb.provision is not None:
        # Why: a chip like ISAAC provisions its buffers per group of arrays, whatever the maps
        buffers = math.ceil(p.lm.n_tiles / fb.provision.tiles)
        return Component(
            p.lm.name,
            "feature_buffer",
            "sram_buffer",
            fb.variant,
            buffers * fb.provision.bits,
            p.input_bits,
            note=f"{buffers} buffer{'s' if buffers > 1 else ''} of {fb.provision.bits} bits, "
            f"one per {fb.provision.tiles} tiles",
        )
    values = math.prod(p.lm.in_shape)
    return Component(
        p.lm.name,
        "feature_buffer",
        "sram_buffer",
        fb.variant,
        values * p.input_bits,
        p.input_bits,
        note=f"input maps {'x'.join(map(str, p.lm.in_shape))} of {p.input_bits} bits",
    )


def _feature_buffer_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    bits = c.bits or 1
    yield "forward", "write_bit", a.samples * math.prod(p.lm.in_shape) * bits
    yield "forward", "read_bit", _uses(p, a) * p.lm.n_in * bits


def _feature_bus(p: LayerPlan) -> Component | None:
    if not _conv(p):
        return None
    bus_tiles = p.per.feature_buffer.bus_tiles
    return Component(
        p.lm.name,
        "feature_bus",
        "interconnect",
        p.per.feature_buffer.interconnect_variant,
        1 if bus_tiles is None else math.ceil(p.lm.n_tiles / bus_tiles),
        _output_bits(p),
        note=f"{p.lm.pooled_outputs} values to the next layer",
    )


def _feature_bus_events(c: Component, p: LayerPlan, a: Activity, training: bool) -> Events:
    yield "forward", "transfer_bit", a.samples * p.lm.pooled_outputs * (c.bits or 1)


# --- ISAAC's array, tile and chip parts (each placed only when its peripherals section is given) --


def _readout_sample_hold(p: LayerPlan) -> Component | None:
    if p.per.sample_hold is None or not _is_adc(p) or p.integration() is not None:
        return None
    return Component(
        p.lm.name,
        "readout_sample_hold",
        "sample_hold",
        p.per.sample_hold.variant,
        p.lm.n_tiles * p.lm.cols,
        None,
        note="one per read-out column, a sample per conversion",
        edge_col=p.lm.cols,
    )


def _readout_sample_hold_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    yield "forward", "sample", _adc_conversions(p, a)


def _input_bits_delivered(p: LayerPlan, a: Activity) -> float:
    """Input bits the arrays receive per use: every row's input value in every column tile (as
    the DACs convert them), input_bits each."""
    lm = p.lm
    return _uses(p, a) * lm.n_in * lm.col_tiles * lm.rows_per_input * p.input_bits


def _input_register(p: LayerPlan) -> Component | None:
    regs = p.per.array_registers
    if regs is None:
        return None
    return Component(
        p.lm.name,
        "input_register",
        "register",
        regs.input_variant,
        p.lm.n_tiles * p.lm.rows * p.input_bits,
        p.input_bits,
        note=f"{p.lm.rows} rows x {p.input_bits} bits per tile",
    )


def _input_register_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    bits = _input_bits_delivered(p, a)
    yield "forward", "write_bit", bits
    yield "forward", "read_bit", bits


def _output_register(p: LayerPlan) -> Component | None:
    regs = p.per.array_registers
    if regs is None:
        return None
    return Component(
        p.lm.name,
        "output_register",
        "register",
        regs.output_variant,
        p.lm.n_tiles * p.lm.weight_cols_per_tile * regs.output_bits,
        regs.output_bits,
        note=f"{p.lm.weight_cols_per_tile} outputs x {regs.output_bits} bits per tile",
    )


def _output_register_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    # every tile's outputs (row tiles' partial sums apart) written once per use, read once
    bits = _uses(p, a) * p.lm.n_out * p.lm.row_tiles * (c.bits or 1)
    yield "forward", "write_bit", bits
    yield "forward", "read_bit", bits


def _tile_bus(p: LayerPlan) -> Component | None:
    bus = p.per.tile_bus
    if bus is None or not _conv(p):
        return None
    return Component(
        p.lm.name,
        "tile_bus",
        "interconnect",
        bus.variant,
        math.ceil(p.lm.n_tiles / bus.tiles),
        p.input_bits,
        note=f"one per {bus.tiles} tiles, feature buffer to arrays",
    )


def _tile_bus_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    yield "forward", "transfer_bit", _input_bits_delivered(p, a)


def _chip_io(p: LayerPlan) -> Component | None:
    if p.per.chip_io is None:
        return None
    return Component(
        p.lm.name,
        "chip_io",
        "io_link",
        p.per.chip_io.variant,
        p.lm.n_tiles,
        None,
        note="one tile's share of the chip's links"
        + (", the network's input" if p.lm.index == 0 else "")
        + (", the network's output" if p.lm.is_output else ""),
    )


def _chip_io_events(c, p: LayerPlan, a: Activity, training: bool) -> Events:
    # Why: the links carry what enters and leaves the chip; the layers between talk on chip
    bits = 0.0
    if p.lm.index == 0:
        bits += a.samples * math.prod(p.lm.in_shape) * p.input_bits
    if p.lm.is_output:
        bits += a.samples * p.lm.n_out * _output_bits(p)
    yield "forward", "transfer_bit", bits


CHIP_PARTS_ROLES = (
    # a sample-and-hold holds its column while the ADC converts; registers, bus and links are
    # taken to keep up with the array's steps (no latency of their own), as the buffer and bus
    Role(
        "readout_sample_hold",
        _readout_sample_hold,
        _readout_sample_hold_events,
        _none,
        "a sample-and-hold per ADC read-out column",
    ),
    Role(
        "input_register",
        _input_register,
        _input_register_events,
        _none,
        "an array's input register",
    ),
    Role(
        "output_register",
        _output_register,
        _output_register_events,
        _none,
        "an array's output register",
    ),
    Role("tile_bus", _tile_bus, _tile_bus_events, _none, "feature buffer to arrays"),
    Role("chip_io", _chip_io, _chip_io_events, _none, "the chip's off-chip links"),
)


CONV_ROLES = (
    Role("pool", _pool, _pool_events, _pool_latency, "pooling after a convolution's activation"),
    # buffer and bus bandwidth are taken to keep up with the array's steps (no latency of their own)
    Role(
        "feature_buffer",
        _feature_buffer,
        _feature_buffer_events,
        _none,
        "a convolution's input maps",
    ),
    Role(
        "feature_bus",
        _feature_bus,
        _feature_bus_events,
        _none,
        "a convolution's output to the next layer",
    ),
)


# --- the registry -------------------------------------------------------------------------------

ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role(
            "cell",
            _cell,
            _cell_events,
            _cell_latency,
            "the crossbar cells (weights and references)",
        ),
        Role("input_driver", _input_driver, _input_driver_events, _input_driver_latency),
        Role("readout", _readout, _readout_events, _readout_latency),
        Role(
            "column_sense",
            _column_sense,
            _column_sense_events,
            _none,
            "a current-mode read-out's column energy per conversion",
        ),
        Role(
            "integrator",
            _integrator,
            lambda c, p, a, t: [("forward", "step", _lanes(p, a) * c.cycles)],
            lambda c, p, lat, a: [("forward", c.cycles * lat("step"))],
        ),
        Role(
            "sample_hold",
            _sample_hold,
            lambda c, p, a, t: [("forward", "sample", _lanes(p, a) * p.input_cycles)],
            # the per-bit samples overlap the integration; one sample step per phase
            lambda c, p, lat, a: [("forward", len(p.integration()[0]) * lat("sample"))],
        ),
        Role(
            "neuron_wordline",
            _neuron_wordline,
            lambda c, p, a, t: [("forward", "drive", _lanes(p, a) * p.input_cycles)],
            _none,
        ),
        Role("readout_mux", _readout_mux, _readout_mux_events, _none),
        Role("partial_sum_adder", _partial_sum_adder, _partial_sum_events, _partial_sum_latency),
        Role("activation", _activation, _per_output("forward", "evaluate"), _activation_latency),
        Role(
            "derivative_unit",
            _derivative_unit,
            _per_output("forward", "op", training_only=True),
            _none,
        ),
        Role("readout_rng", _readout_rng, _rng_bits_per_output(training_only=False), _none),
        Role(
            "derivative_comparator",
            _derivative_comparator,
            _per_output("forward", "compare", training_only=True),
            _none,
        ),
        Role("derivative_rng", _derivative_rng, _rng_bits_per_output(training_only=True), _none),
        Role("input_rng", _input_rng, _input_rng_events, _none),
        Role("shift_add", _shift_add, _shift_add_events, _none),
        Role("error_rng", _error_rng, _error_rng_events, _none),
        _mvm_input("error_"),
        _mvm_readout("error_"),
        _mvm_adc_part("error_", "mux"),
        _mvm_adc_part("error_", "partial_sum_adder"),
        _mvm_adc_part("error_", "scale"),
        _mvm_input("feedback_"),
        Role(
            "feedback_cell",
            _feedback_cell,
            _feedback_cell_events,
            lambda c, p, lat, a: [("backward", lat("read"))],
        ),
        _mvm_readout("feedback_"),
        _mvm_adc_part("feedback_", "mux"),
        _mvm_adc_part("feedback_", "partial_sum_adder"),
        _mvm_adc_part("feedback_", "scale"),
        _digital_backward("error_mac", "multiplier", "op"),
        _digital_backward("error_add", "adder", "op"),
        _digital_backward("error_weights", "sram_buffer", "read_bit"),
        Role("gradient_accumulator", _gradient_accumulator, _gradient_accumulator_events, _none),
        Role(
            "gradient_adder",
            _gradient_unit("gradient_adder", "accumulator"),
            _gradient_ops,
            _row_serial_latency,
        ),
        Role(
            "gradient_multiplier",
            _gradient_unit("gradient_multiplier", "multiplier", "digital outer product x * delta"),
            _gradient_ops,
            _row_serial_latency,
        ),
        Role("write_driver", _write_driver, _write_driver_events, _none),
        Role("update_rng", _update_rng, _update_rng_events, _none),
        _update_line_driver("row"),
        _update_line_driver("col"),
        _line("row"),
        _line("col"),
        _decoder("row"),
        _decoder("column"),
        Role("level_shifter", _level_shifter, _level_shifter_events, _none),
        *CONV_ROLES,
        *CHIP_PARTS_ROLES,
    )
}


def role(name: str) -> Role:
    """The declared role ``name``.

    Raises:
        KeyError: no such role (a misspelt role is an error, never a silent zero).
    """
    try:
        return ROLES[name]
    except KeyError:
        raise KeyError(
            f"unknown component role '{name}'; declared roles: {', '.join(ROLES)}"
        ) from None
