"""Analytic event counter: EventCounts of one sample from layer shapes and activity factors.

Room: graph. The training engine counts the same events exactly, following the same rules; a test
holds the two equal on the activity factors a run measured. The rules, per sample and layer
(n_in inputs, n_out outputs, R row tiles, C column tiles; d_in = input_density,
d_err = error_density of the layer's own error delta, u = update_fraction, k = pulses_per_update):

forward
  row_driver.drive      d_in * n_in * C          (only driven rows; x input_bits if bit-serial;
                                                  x 2 rows per input for differential_rows)
  dac.convert           n_in * C                 (every row converts, whatever its value; x 2 as above)
  cell.read             d_in * n_in * cells read per driven row (weights + 1 reference per C)
  comparator.compare    n_out; rng.bit n_out * rng_bits   (and again for the sampled derivative)
  adc.convert           n_out * R; mux.switch = conversions; adder.op n_out * (R - 1)
  integrating read-out  per lane (n_out * R): integrator.step sum(2^p - 1) over the phases,
                        sample_hold.sample one per input bit, adc.convert sum(resolved bits) / bits
                        (a phase resolving fewer bits is that fraction of a conversion), mux one
                        switch per phase, shift_add.op one per resolved bit, neuron_wordline
                        row_driver.drive one per input bit
  activation.evaluate   n_out;  multiplier.op n_out (digital derivative)
backward (layers after the first; DFA: every hidden layer through its feedback array, driven
          by the output error, so with the output layer's d_err)
  ternary_driver.drive  d_err * n_out * R;  dac.convert n_out * R
  cell.read             d_err * n_out * cells read per driven column (+1 reference per R)
  comparator.compare    n_in;  adc.convert n_in * C, mux, adder n_in * (C - 1), multiplier n_in
  rng.bit (output layer, binary rules)  n_out * rng_bits to sample the softmax
update
  input_rng.bit (first layer, binary rules)  n_in * rng_bits (stochastic input sampling)
  binary rules: accumulator.op = g * n_in * n_out, g = gradient_density (non-zero gradient
                entries; d_in * d_err when not given);
                sram read_bit = write_bit = that * bits, plus a scan of all accumulators per batch
                (n_weights * bits / batch_size read bits per sample)
  full precision: multiplier.op = accumulator.op = n_in * n_out; sram read/write n_in*n_out*bits
  write_driver.pulse = cell pulses = u * devices * k; set_pulse share = set_fraction
"""

from __future__ import annotations

from cimest.counts import EventCounts
from cimest.graph.compile import ComponentGraph, LayerMap
from cimest.spec.architecture import DEFAULT_ACTIVITY, ActivityFactors


def activity_of(graph: ComponentGraph, layer: str) -> ActivityFactors:
    """The layer's activity factors: per-layer values, then global ones, then family defaults."""
    act = graph.spec.workload.activity
    family = DEFAULT_ACTIVITY["binary" if graph.binary else "full_precision"]
    own = act.per_layer.get(layer)
    values = {}
    for name in ActivityFactors.model_fields:
        v = getattr(own, name) if own is not None else None
        if v is None:
            v = getattr(act, name)
        values[name] = family.get(name) if v is None else v
    return ActivityFactors(**values)


def count_analytic(graph: ComponentGraph, mode: str | None = None) -> EventCounts:
    """Events of one sample: a training sample, or one inference (``mode="inference"``, also on a
    training chip: the forward pass without the derivative sampling). Default: the workload's."""
    mode = mode or graph.spec.workload.mode
    counts = EventCounts(n_samples=1, mode=mode, source="analytic")
    train = mode == "train"
    if train and graph.spec.workload.mode != "train":
        raise ValueError("an inference chip has no training events to count")
    for lm in graph.layers:
        a = activity_of(graph, lm.name)
        _forward(graph, lm, a, counts, train)
        if train:
            _backward(graph, lm, a, counts)
            _update(graph, lm, a, counts)
    return counts


def _has(graph: ComponentGraph, layer: str, role: str) -> bool:
    return (layer, role) in graph.components


def _forward(graph: ComponentGraph, lm: LayerMap, a: ActivityFactors, c: EventCounts,
             train: bool) -> None:
    L, ph = lm.name, "forward"
    spec = graph.spec
    inp = graph.component(L, "input_driver")
    driven_rows = a.input_density * lm.n_in
    if inp.kind == "dac":
        c.add(L, ph, "input_driver", "convert", lm.n_in * lm.col_tiles * lm.rows_per_input)
    else:
        cycles = _input_cycles(graph, lm)
        c.add(L, ph, "input_driver", "drive", driven_rows * lm.col_tiles * cycles * lm.rows_per_input)
    c.add(L, ph, "cell", "read", driven_rows * lm.cols_read_per_row * _input_cycles(graph, lm))
    ro = graph.component(L, "readout")
    if ro.kind == "comparator":
        c.add(L, ph, "readout", "compare", lm.n_out)
        c.add(L, ph, "readout_rng", "bit", lm.n_out * graph.component(L, "readout_rng").bits)
        if train and _has(graph, L, "derivative_comparator"):
            c.add(L, ph, "derivative_comparator", "compare", lm.n_out)
            c.add(L, ph, "derivative_rng", "bit", lm.n_out * graph.component(L, "derivative_rng").bits)
    elif _has(graph, L, "integrator"):
        _integrating_readout(graph, lm, c)
        c.add(L, ph, "activation", "evaluate", lm.n_out)
    else:
        _adc_readout(graph, L, ph, "", lm.n_out, lm.row_tiles, c)
        c.add(L, ph, "activation", "evaluate", lm.n_out)
        if train and _has(graph, L, "derivative_unit"):
            c.add(L, ph, "derivative_unit", "op", lm.n_out)
    if _has(graph, L, "input_rng"):
        c.add(L, ph, "input_rng", "bit", lm.n_in * graph.component(L, "input_rng").bits)
    if _has(graph, L, "shift_add") and not _has(graph, L, "integrator"):
        c.add(L, ph, "shift_add", "op", lm.n_out * lm.row_tiles * _input_cycles(graph, lm))
    del spec


def _integrating_readout(graph: ComponentGraph, lm: LayerMap, c: EventCounts) -> None:
    """Integrator steps, charge samples, phase conversions and per-bit shift-adds of every lane."""
    L, ph = lm.name, "forward"
    lanes = lm.n_out * lm.row_tiles
    ro = graph.component(L, "readout")
    cycles = _input_cycles(graph, lm)
    phases, resolved = graph.integration(L)  # type: ignore[misc]
    c.add(L, ph, "integrator", "step", lanes * graph.component(L, "integrator").cycles)
    c.add(L, ph, "sample_hold", "sample", lanes * cycles)
    if _has(graph, L, "neuron_wordline"):
        c.add(L, ph, "neuron_wordline", "drive", lanes * cycles)
    c.add(L, ph, "readout", "convert", lanes * resolved / (ro.bits or 1))
    if _has(graph, L, "readout_mux"):
        c.add(L, ph, "readout_mux", "switch", lanes * len(phases))
    if _has(graph, L, "partial_sum_adder"):
        c.add(L, ph, "partial_sum_adder", "op", lm.n_out * (lm.row_tiles - 1))
    if _has(graph, L, "shift_add"):
        c.add(L, ph, "shift_add", "op", lanes * resolved)


def _input_cycles(graph: ComponentGraph, lm: LayerMap) -> int:
    return graph.component(lm.name, "input_driver").cycles


def _adc_readout(graph, L, ph, prefix, n_lines, tiles_summed, c) -> None:
    role = f"{prefix}readout" if prefix else "readout"
    conversions = n_lines * tiles_summed
    c.add(L, ph, role, "convert", conversions)
    mux = f"{prefix}mux" if prefix else "readout_mux"
    if _has(graph, L, mux):
        c.add(L, ph, mux, "switch", conversions)
    adder = f"{prefix}partial_sum_adder"
    if _has(graph, L, adder):
        c.add(L, ph, adder, "op", n_lines * (tiles_summed - 1))


def _error_mvm(graph, L, c, prefix, driven, drive_repeat, cells_per_line, n_read, tiles_summed) -> None:
    ph = "backward"
    drv = graph.component(L, f"{prefix}input")
    if drv.kind == "dac":
        c.add(L, ph, f"{prefix}input", "convert", driven[1] * drive_repeat)
    else:
        c.add(L, ph, f"{prefix}input", "drive", driven[0] * drive_repeat)
    cell_role = "feedback_cell" if prefix == "feedback_" else "cell"
    c.add(L, ph, cell_role, "read", driven[0] * cells_per_line)
    ro = graph.component(L, f"{prefix}readout")
    if ro.kind == "comparator":
        c.add(L, ph, f"{prefix}readout", "compare", n_read)
    else:
        _adc_readout(graph, L, ph, prefix, n_read, tiles_summed, c)
        if _has(graph, L, f"{prefix}scale"):
            c.add(L, ph, f"{prefix}scale", "op", n_read)


def _backward(graph: ComponentGraph, lm: LayerMap, a: ActivityFactors, c: EventCounts) -> None:
    L = lm.name
    if _has(graph, L, "error_rng"):
        c.add(L, "backward", "error_rng", "bit", lm.n_out * graph.component(L, "error_rng").bits)
    if graph.spec.algorithm.rule == "dfa":
        fb = next((f for f in graph.feedback if f.name == f"{L}.B"), None)
        if fb is None:
            return
        n_drive = fb.n_in  # the output error delta_N drives the feedback array's rows
        d_out = activity_of(graph, graph.layers[-1].name).error_density
        _error_mvm(graph, L, c, "feedback_", (d_out * n_drive, n_drive), fb.col_tiles,
                   fb.cols_read_per_row, fb.n_out, fb.row_tiles)
        return
    if lm.index == 0:
        return
    _error_mvm(graph, L, c, "error_", (a.error_density * lm.n_out, lm.n_out), lm.row_tiles,
               lm.cells_read_per_col, lm.n_in, lm.col_tiles)


def _update(graph: ComponentGraph, lm: LayerMap, a: ActivityFactors, c: EventCounts) -> None:
    L, ph = lm.name, "update"
    bits = graph.spec.peripherals.gradient_accumulator.bits
    batch = graph.spec.workload.batch_size
    if _has(graph, L, "gradient_multiplier"):
        ops = lm.n_weights
        c.add(L, ph, "gradient_multiplier", "op", ops)
        c.add(L, ph, "gradient_adder", "op", ops)
        c.add(L, ph, "gradient_accumulator", "read_bit", ops * bits)
        c.add(L, ph, "gradient_accumulator", "write_bit", ops * bits)
    else:
        density = a.gradient_density
        if density is None:
            density = a.input_density * a.error_density
        ops = density * lm.n_in * lm.n_out
        c.add(L, ph, "gradient_adder", "op", ops)
        c.add(L, ph, "gradient_accumulator", "read_bit", ops * bits + lm.n_weights * bits / batch)
        c.add(L, ph, "gradient_accumulator", "write_bit", ops * bits)
    pulses = a.update_fraction * lm.n_devices * a.pulses_per_update
    c.add(L, ph, "write_driver", "pulse", pulses)
    c.add(L, ph, "cell", "set_pulse", pulses * a.set_fraction)
    c.add(L, ph, "cell", "reset_pulse", pulses * (1 - a.set_fraction))


__all__ = ["activity_of", "count_analytic"]
