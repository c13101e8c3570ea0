"""What every learning rule shares: the run's set-up, weight read-out, the output layer, device
programming, and the Meter that measures a batch's activity.

Room: engine. Arithmetic: the project's reference/algorithms.md. A rule never counts events
itself: it tells the Meter what the hardware saw (non-zero inputs and errors, gradient terms,
pulses), and the graph's counting rules (cimest/graph/roles.py) turn that activity into events,
the same rules the analytic counter uses.

Conventions the engine adds (documented in the README):
- Hidden pre-activations of full-precision designs are digitised by the read-out ADC over
  +-FORWARD_RANGE / activation_gain, errors by the error ADC over +-BACKWARD_RANGE, the output layer
  by the output ADC over +-OUTPUT_RANGE; DAC inputs over [0, 1] (activations) and [-1, 1] (errors).
- Errors are normalised before the error DAC by a power-of-two scale (the smallest 2^k >= the
  batch's largest |delta|, a digital shift) and the read-out is multiplied back by it, so small
  errors deep in the network are not all quantized to zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cimest.devices.model import DeviceModel
from cimest.engine import conv, kernels
from cimest.engine.peripherals import adc_values, dac_values
from cimest.engine.state import EngineState, LayerState
from cimest.errors import TrainingError
from cimest.graph.activity import Activity
from cimest.graph.compile import ComponentGraph
from cimest.graph.shapes import LayerMap

FORWARD_RANGE = 8.0
BACKWARD_RANGE = 2.0
OUTPUT_RANGE = 8.0


@dataclass(frozen=True)
class Setup:
    """What a step needs besides the state: fixed for the whole run."""

    graph: ComponentGraph
    device: DeviceModel | None
    rule: str
    variant: str  # memristor | float | integer (binary rules); memristor | float (others)
    gain: float
    eta: float
    theta: int
    acc_bits: int
    batch_size: int

    @property
    def spec(self):
        return self.graph.spec

    @property
    def binary(self) -> bool:
        return self.graph.binary

    @property
    def ideal(self) -> bool:
        """The float reference: no converters, no devices."""
        return not self.graph.traits.prices_hardware

    @property
    def differential(self) -> bool:
        return self.spec.crossbar.weight_encoding != "reference_column"

    def eta_of(self, layer: str) -> float:
        """The learning rate of ``layer``: its algorithm.per_layer entry's, else the run's."""
        own = self.spec.algorithm.per_layer.get(layer)
        return self.eta if own is None or own.learning_rate is None else own.learning_rate


class Meter:
    """The activity so far, per layer: what the hardware saw, for the counting rules. A run keeps
    one Meter per epoch and turns it into counts when it needs them (epoch end, checkpoint): the
    counting rules are linear in the activity, so per-batch work is a few integer additions."""

    def __init__(
        self, graph: ComponentGraph, batch: int = 0, activity: dict[str, dict] | None = None
    ):
        self.activity = {lm.name: Activity(samples=batch) for lm in graph.layers}
        for layer, quantities in (activity or {}).items():
            if layer in self.activity:
                self.activity[layer] = Activity.from_dict(quantities)
        self._held: list[Callable[[], None]] = []
        self._begun = 0  # samples of batches begun since the last settle

    def hold(self, flush: Callable[[], None]) -> None:
        """A fused step (engine/fast.py) keeps some of its counts in arrays of its own between
        batches; ``flush`` adds them to ``activity``, and :meth:`settle` calls it. Why: at one
        sample per batch, a dozen attribute additions per step cost more than some kernels."""
        self._held.append(flush)

    def settle(self) -> None:
        """Add the counts held back (the samples begun, fused steps' counts) to ``activity``:
        call before reading it."""
        if self._begun:
            for a in self.activity.values():
                a.samples += self._begun
            self._begun = 0
        for flush in self._held:
            flush()

    def begin(self, batch: int) -> None:
        """A batch of ``batch`` samples starts (held until :meth:`settle`: one addition per batch
        instead of one per layer)."""
        self._begun += batch

    def inputs(self, layer: str, x: np.ndarray) -> None:
        """The forward input ``x`` applied to the layer's rows: one row per use (batch x n_in;
        a convolution's unrolled patches, batch x positions rows)."""
        self.activity[layer].inputs_driven += int(np.count_nonzero(x))

    def errors(self, layer: str, delta: np.ndarray) -> None:
        """The layer's error as its drivers apply it (batch x n_out; a convolution's at every
        output position)."""
        self.activity[layer].errors_driven += int(np.count_nonzero(delta))

    def feedback(self, layer: str, delta: np.ndarray) -> None:
        """DFA: the output error driving the layer's feedback array."""
        self.activity[layer].feedback_driven += int(np.count_nonzero(delta))

    def gradient(self, layer: str, terms: int) -> None:
        self.activity[layer].gradient_terms += int(terms)

    def update(self, layer: str) -> None:
        self.activity[layer].updates += 1

    def pulses(self, layer: str, n_set: int, n_reset: int, programmed: int) -> None:
        a = self.activity[layer]
        a.set_pulses += int(n_set)
        a.reset_pulses += int(n_reset)
        a.devices_programmed += int(programmed)

    def write_steps(self, layer: str, set_steps: int, reset_steps: int) -> None:
        a = self.activity[layer]
        a.program_steps += int(set_steps) + int(reset_steps)
        a.program_set_steps += int(set_steps)

    def coincidence(self, layer: str, row_pulses: int, col_pulses: int) -> None:
        a = self.activity[layer]
        a.row_pulses += int(row_pulses)
        a.col_pulses += int(col_pulses)


# --- weights -----------------------------------------------------------------------------------


def effective_weights(setup: Setup, layer: LayerState) -> np.ndarray:
    """The weights the crossbar presents: from conductances, or the stored floats/integers.

    Conductance and integer weights are read as float32 (why: the MVM of a crossbar is analog;
    float32's 1e-7 relative error is far below any device's read noise, and it halves the time of
    the engine's largest cost, the MVMs). Float variants keep their float64 weights.
    """
    if layer.g is not None:
        dev = setup.device
        if layer.g_minus is not None:
            return dev.weights_pair(layer.g, layer.g_minus).astype(np.float32)
        ref = None if layer.ref_row is None else layer.ref_row[:, None]
        return dev.weights(layer.g, ref).astype(np.float32)
    if layer.w_int is not None:
        scale = 0.5 / (1 << (setup.spec.algorithm.integer_bits - 1))
        return (layer.w_int.astype(np.float64) * scale).astype(np.float32)
    return layer.w


def backward_weights(setup: Setup, layer: LayerState, forward: np.ndarray) -> np.ndarray:
    """The weights the backward pass reads through W^T: against each column's reference device
    where the chip has real ones, else the forward weights."""
    if layer.ref_col is None:
        return forward
    return setup.device.weights(layer.g, layer.ref_col[None, :]).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """0.5 (1 + tanh(x / 2)): the same operations in the same order, in place in one array.
    Why: at batch 64 each temporary of the plain expression cost a pass over memory and an
    allocation, about a fifth of the time of the float64 tanh itself."""
    t = np.multiply(x, 0.5)
    if not isinstance(t, np.ndarray):  # a scalar
        return 0.5 * (1.0 + np.tanh(t))
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    return t


def mvm(state: EngineState, i: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pre-activation of layer ``i``: the crossbar's x @ W (in W's precision), plus the bias of
    float variants (a convolution's untied bias: one per output position and map)."""
    y = x.astype(w.dtype, copy=False) @ w
    b = state.layers[i].b
    if b is None:
        return y
    if b.ndim == 2:  # (P*Q, K): rows of y are (sample, position)
        return (y.reshape(-1, *b.shape) + b).reshape(y.shape)
    return y + b


# --- layer signals: what a convolution changes (cimest/engine/conv.py) --------------------------


def layer_rows(lm: LayerMap, h: np.ndarray) -> np.ndarray:
    """The crossbar input rows of layer ``lm`` for its input ``h``: a dense layer's input itself
    (flattened if it is an image), a convolution's patches (batch*P*Q rows)."""
    if lm.kind == "conv":
        return conv.patches(lm, h)
    return conv.flat(h)


def layer_output(lm: LayerMap, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A hidden layer's activations as the next layer receives them, and the max-pool routing:
    dense ``z`` itself; a convolution's maps (batch, P', Q', K) after its pooling."""
    if lm.kind == "conv":
        return conv.pool_forward(lm, z)
    return z, None


def error_at_input(lm: LayerMap, rows: np.ndarray) -> np.ndarray:
    """The error read out through W^T (one row per use) at the layer's input: dense as it is, a
    convolution's per-position results summed back onto its input image (col2im)."""
    if lm.kind == "conv":
        return conv.col2im(lm, rows)
    return rows


def error_at_output(
    lm: LayerMap, e: np.ndarray, route: np.ndarray | None, binary: bool = False
) -> np.ndarray:
    """An error arriving at a hidden layer's output (what the next layer received) taken back to
    the layer's own output rows: dense as it is; a convolution's routed through its pooling to
    every output position (batch*P*Q rows of K)."""
    if lm.kind == "conv":
        return conv.pool_backward(lm, conv.pooled(lm, e), route, binary)
    return e


def bias_step(layer: LayerState, delta: np.ndarray, eta: float, batch: int) -> None:
    """SGD on a float variant's bias: the error summed over the batch (and a convolution's
    untied bias per position), over the batch size."""
    if layer.b.ndim == 2:
        layer.b -= eta * delta.reshape(-1, *layer.b.shape).sum(axis=0) / batch
    else:
        layer.b -= eta * delta.sum(axis=0) / batch


def softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_finite(arr: np.ndarray, what: str, epoch: int, layer: str) -> None:
    if not kernels.all_finite(np.ascontiguousarray(arr).reshape(-1)):
        raise TrainingError(
            f"epoch {epoch + 1}, layer {layer}: {what} became NaN or infinite; "
            "lower the learning rate or check the cell parameters"
        )


def read_weights(setup: Setup, state: EngineState) -> list[np.ndarray]:
    """Every layer's effective weights, from the state's cache; stale layers are recomputed and
    checked (a NaN or infinity from a checkpoint or an update is reported here)."""
    cache = state.read_weights
    if len(cache) != len(state.layers):
        cache[:] = [None] * len(state.layers)
    for i, ls in enumerate(state.layers):
        if cache[i] is None:
            cache[i] = np.ascontiguousarray(effective_weights(setup, ls))
            check_finite(cache[i], "weights", state.epoch, setup.graph.layers[i].name)
    return list(cache)


def after_update(
    setup: Setup, state: EngineState, i: int, name: str, changed: np.ndarray | None
) -> None:
    """Check layer ``i``'s updated weights and refresh its cached read weights: only at the flat
    indices ``changed`` when the update says which devices it touched, else in full (None)."""
    ls = state.layers[i]
    if changed is None or not state.read_weights:
        if state.read_weights:
            state.read_weights[i] = None
        check_finite(
            ls.g if ls.g is not None else effective_weights(setup, ls), "weights", state.epoch, name
        )
        if ls.g_minus is not None:
            check_finite(ls.g_minus, "weights", state.epoch, name)
        return
    if changed.size == 0:
        return
    g_new = ls.g.reshape(-1)[changed]
    check_finite(g_new, "weights", state.epoch, name)
    # elementwise the same expression as effective_weights, so the cache equals a recomputation;
    # np.put writes into the cache whatever its memory order (a reshape could be a copy)
    ref = None if ls.ref_row is None else ls.ref_row[changed // ls.g.shape[1]]
    np.put(state.read_weights[i], changed, setup.device.weights(g_new, ref).astype(np.float32))


# --- the output layer ----------------------------------------------------------------------------


def output_probabilities(
    setup: Setup, state: EngineState, x: np.ndarray, w: np.ndarray, yb: np.ndarray, meter: Meter
) -> tuple[np.ndarray, float]:
    """The output layer's MVM, its ADC, its softmax, and the batch's summed cross-entropy (of the
    unsampled softmax, as the reference reports it)."""
    p = softmax(output_levels(setup, state, x, w, meter))
    loss = float(-np.log(np.maximum(p[np.arange(x.shape[0]), yb], 1e-300)).sum())
    return p, loss


def output_levels(
    setup: Setup, state: EngineState, x: np.ndarray, w: np.ndarray, meter: Meter
) -> np.ndarray:
    """The output layer's MVM and its ADC's levels (the float reference: the MVM itself)."""
    out = setup.graph.layers[-1]
    meter.inputs(out.name, x)
    y = mvm(state, -1, x, w)
    if not setup.ideal:
        bits = setup.graph.plan(out.name).per.output_readout.bits
        check_finite(y, "output", state.epoch, out.name)
        y = adc_values(y, bits, -OUTPUT_RANGE, OUTPUT_RANGE)
    return y


def output_sigmoid(
    setup: Setup, state: EngineState, x: np.ndarray, w: np.ndarray, yb: np.ndarray, meter: Meter
) -> tuple[np.ndarray, np.ndarray, float]:
    """The output layer read out through a sigmoid per output with a squared-error loss
    (``algorithm.output: sigmoid``): (a, the output error, the batch's summed loss). With
    t = onehot(y), L = sum_j (t_j - a_j)^2 and a = sigma(v): dL/dv = -2 a (1 - a) (t - a), the
    delta MLP+NeuroSim V3.0 forms (Train.cpp: s2 = -2 a2 (1 - a2) (Output - a2))."""
    a = sigmoid(output_levels(setup, state, x, w, meter))
    t = onehot(yb, a.shape[1], a.dtype)
    r = t - a
    return a, -2.0 * a * (1.0 - a) * r, float((r * r).sum())


def onehot(yb: np.ndarray, n: int, dtype) -> np.ndarray:
    out = np.zeros((yb.shape[0], n), dtype=dtype)
    out[np.arange(yb.shape[0]), yb] = 1
    return out


# --- programming ---------------------------------------------------------------------------------


def write_steps(setup: Setup, L: str, trains: np.ndarray) -> int:
    """Write steps of programming pulse trains of lengths ``trains`` (n_in x n_out, >= 0): the tiles
    in parallel; in a tile, its rows one after another; in a row, groups of parallel_columns
    cells one after another, each as long as its longest train; groups and rows without a pulse
    skipped. The slowest tile sets the layer's steps. (Pairs: G+ and G- count as two passes.)"""
    flat = np.ascontiguousarray(trains).reshape(-1)
    idx = np.flatnonzero(flat)
    return write_steps_at(setup, L, idx, flat[idx])


def write_steps_at(setup: Setup, L: str, idx: np.ndarray, trains: np.ndarray) -> int:
    """:func:`write_steps` of the trains ``trains`` (> 0) at flat indices ``idx``, every other
    train empty: one compiled pass over the pulsed devices (write_steps_reference is the same in
    numpy over the whole layer)."""
    if idx.size == 0:
        return 0
    return int(
        kernels.write_steps(
            np.asarray(idx, dtype=np.int64),
            np.asarray(trains, dtype=np.int64),
            *_geometry(setup, L),
        )
    )


def _geometry(setup: Setup, L: str) -> tuple[int, ...]:
    """The write schedule's shape of layer ``L``: (n_out, weight columns per tile, columns
    written in parallel, rows per row tile, row tiles, column tiles)."""
    update = setup.spec.peripherals.update
    return _layer_geometry(setup.graph.layer(L), getattr(update, "parallel_columns", None))


@functools.lru_cache(maxsize=256)
def _layer_geometry(lm: LayerMap, parallel: int | None) -> tuple[int, ...]:
    # Why cached: asked for at every update of every layer; a function of its arguments only
    wc = lm.weight_cols_per_tile
    group = min(parallel or wc, wc)
    return (lm.n_out, wc, group, lm.rows // lm.rows_per_input, lm.row_tiles, lm.col_tiles)


def write_steps_reference(setup: Setup, L: str, trains: np.ndarray) -> int:
    """:func:`write_steps` in numpy: the reference its compiled kernel is tested against."""
    lm = setup.graph.layer(L)
    if not trains.any():
        return 0
    wc = lm.weight_cols_per_tile
    group = min(getattr(setup.spec.peripherals.update, "parallel_columns", None) or wc, wc)
    per_tile_rows = lm.rows // lm.rows_per_input
    n_groups = -(-wc // group)
    a = np.zeros((lm.row_tiles * per_tile_rows, lm.col_tiles, n_groups * group), dtype=np.int64)
    cols = np.zeros((lm.n_in, lm.col_tiles * wc), dtype=np.int64)
    cols[:, : lm.n_out] = trains
    a[: lm.n_in, :, :wc] = cols.reshape(lm.n_in, lm.col_tiles, wc)
    longest = a.reshape(a.shape[0], lm.col_tiles, n_groups, group).max(axis=3)  # per group
    per_row = longest.sum(axis=2)  # a row's groups one after another
    per_tile = per_row.reshape(lm.row_tiles, per_tile_rows, lm.col_tiles).sum(axis=1)
    return int(per_tile.max())


def polarity_steps(setup: Setup, L: str, n: np.ndarray) -> tuple[int, int]:
    """(SET, RESET) write steps of signed pulse counts ``n``: a write group first applies its
    SET trains, as long as the longest, then its RESET trains, as long as the longest (MLP+NeuroSim
    V3.0 Train.cpp: each batch write takes maxLatencyLTP + maxLatencyLTD)."""
    return (
        write_steps(setup, L, np.maximum(n, 0)),
        write_steps(setup, L, np.maximum(-n, 0)),
    )


def program(
    setup: Setup, layer: LayerState, n: np.ndarray, rng: np.random.Generator, meter: Meter, L: str
) -> None:
    """Apply signed pulse counts ``n`` (per weight) to the layer's devices and meter them.

    reference_column: n > 0 potentiates (SET) the weight's device, n < 0 depresses (RESET) it.
    differential_pair: pot_dep devices: n > 0 SETs G+ and RESETs G-, n < 0 the reverse (one pulse
    on each device per step); pot_only: n > 0 SETs G+, n < 0 SETs G-; dep_only: n > 0 RESETs G-,
    n < 0 RESETs G+; one-direction pairs are reset and reprogrammed when they run out of room
    (DeviceModel.refresh), and those pulses are counted too.
    """
    dev = setup.device
    n = n.astype(np.int64)
    n_set = n_reset = 0
    if layer.g_minus is None:
        flat = n.reshape(-1)
        idx = np.flatnonzero(flat)
        program_at(setup, layer, idx, flat[idx], rng, meter, L)
        return
    kind = dev.kind
    if kind == "pot_dep":
        plus, minus = n, -n
    elif kind == "pot_only":
        plus, minus = np.maximum(n, 0), np.maximum(-n, 0)
    else:
        plus, minus = np.minimum(n, 0), np.minimum(-n, 0)
    layer.g = dev.apply(layer.g, plus, rng, layer.d2d)
    layer.g_minus = dev.apply(layer.g_minus, minus, rng, layer.d2d_minus)
    for arr in (plus, minus):
        n_set += int(arr[arr > 0].sum())
        n_reset += int(-arr[arr < 0].sum())
    layer.pulses[0] += np.abs(plus).astype(layer.pulses.dtype)
    layer.pulses[1] += np.abs(minus).astype(layer.pulses.dtype)
    programmed = np.count_nonzero(plus) + np.count_nonzero(minus)
    # G+ and G- count as two passes
    plus_steps, minus_steps = polarity_steps(setup, L, plus), polarity_steps(setup, L, minus)
    steps = (plus_steps[0] + minus_steps[0], plus_steps[1] + minus_steps[1])
    if kind != "pot_dep":
        r = dev.refresh(layer.g, layer.g_minus, rng, layer.d2d, layer.d2d_minus)
        layer.g, layer.g_minus = r.g_plus, r.g_minus
        n_set += r.n_set
        n_reset += r.n_reset
        if r.n_set or r.n_reset:
            # a refreshed pair: one pulse to the bound on each device, then reprogramming
            per = np.where(r.refreshed, 1, 0).astype(layer.pulses.dtype)
            layer.pulses[0] += per
            layer.pulses[1] += per
    meter.pulses(L, n_set, n_reset, programmed)
    meter.write_steps(L, *steps)


def program_at(
    setup: Setup,
    layer: LayerState,
    idx: np.ndarray,
    n: np.ndarray,
    rng: np.random.Generator,
    meter: Meter,
    L: str,
) -> None:
    """:func:`program` of a reference_column layer whose only non-zero counts are ``n`` at the
    ascending flat indices ``idx``: the same pulses and draws (pulse k to every device with n >= k,
    then to every one with n <= -k), meters and wear, touching only those devices."""
    if idx.size == 0:
        meter.pulses(L, 0, 0, 0)
        meter.write_steps(L, 0, 0)
        return
    n = np.asarray(n, dtype=np.int64)
    layer.g = setup.device.apply_at(layer.g, idx, n, rng, layer.d2d)
    layer.pulses = np.ascontiguousarray(layer.pulses)
    # a write group's longest SET train, then its longest RESET train (see polarity_steps)
    n_set, n_reset, set_steps, reset_steps = kernels.program_meter(
        idx, n, layer.pulses.reshape(-1), *_geometry(setup, L)
    )
    meter.pulses(L, n_set, n_reset, idx.size)
    meter.write_steps(L, set_steps, reset_steps)


def single_pulses(
    setup: Setup,
    layer: LayerState,
    idx: np.ndarray,
    sign: np.ndarray,
    rng: np.random.Generator,
    meter: Meter,
    L: str,
) -> None:
    """One SET (sign > 0) or RESET (sign < 0) pulse on the single devices at flat indices ``idx``:
    program()'s single-pulse branch for reference_column layers, touching only those devices (the
    same draws in the same order, so the same conductances)."""
    program_at(setup, layer, idx, np.sign(sign).astype(np.int64), rng, meter, L)


ON_OFF_THRESHOLD = 0.5
"""An on/off row driver of a full-precision rule drives a row when its value is >= 0.5 (ties
on), as MLP+NeuroSim V3.0 binarises its 1-bit inputs and hidden activations (formula.cpp
truncate and round_th with BWthreshold = Hthreshold = 0.5)."""


def drive_levels(driver, x: np.ndarray, input_bits: int) -> np.ndarray:
    """What a layer's input driver applies to its rows: DAC levels of ``input_bits`` for a
    ``dac`` (``bits`` of its own for a hidden layer's), 0/1 for an on/off ``row_driver``."""
    if driver.kind == "dac":
        return dac_values(x, input_bits, 0.0, 1.0)
    if driver.kind == "row_driver":
        return (x >= ON_OFF_THRESHOLD).astype(np.float64)
    return x


def _in_chunks(setup: Setup, x: np.ndarray, classify) -> np.ndarray:
    """``classify(x)`` on the whole set for dense networks; on slices of about 16 M unrolled
    inputs for convolutional ones (their patches would not fit in memory at once)."""
    layers = setup.graph.layers
    if all(lm.kind == "dense" for lm in layers):
        return classify(x)
    per_sample = max(lm.n_in * lm.uses_per_sample for lm in layers)
    step = max(1, (1 << 24) // per_sample)
    return np.concatenate([classify(x[k : k + step]) for k in range(0, x.shape[0], step)])


def predict_float(setup: Setup, state: EngineState, x: np.ndarray) -> np.ndarray:
    """Class predictions of the weights evaluated in float: no converters, no sampling."""
    a = setup.gain
    layers = setup.graph.layers
    W = [effective_weights(setup, ls) for ls in state.layers]

    def classify(x: np.ndarray) -> np.ndarray:
        h = x.astype(np.float64)
        for i, lm in enumerate(layers[:-1]):
            h = layer_output(lm, sigmoid(a * mvm(state, i, layer_rows(lm, h), W[i])))[0]
        return np.argmax(mvm(state, -1, layer_rows(layers[-1], h), W[-1]), axis=1)

    return _in_chunks(setup, x, classify)


def predict(
    setup: Setup, state: EngineState, x: np.ndarray, seed: int = 0, epoch: int = 0
) -> np.ndarray:
    """Class predictions through the modelled inference path: the chip's input drivers (DAC codes
    or sampled on/off rows), its read-out (ADC codes, or comparators against random references),
    its output ADC; comparator chips run ``workload.inference_samples`` stochastic passes and sum
    their output codes. The references come from a stream of (seed, epoch) only, so evaluating
    never disturbs training and a resumed run evaluates alike. The float reference is evaluated
    in float. A convolution's read-out samples its pooled maps (sample-of-max)."""
    if setup.ideal:
        return predict_float(setup, state, x)
    g = setup.graph
    a = setup.gain
    layers = g.layers
    W = [effective_weights(setup, ls) for ls in state.layers]
    out_bits = g.plan(layers[-1].name).per.output_readout.bits

    def output(h: np.ndarray) -> np.ndarray:
        rows = layer_rows(layers[-1], h)
        return adc_values(mvm(state, -1, rows, W[-1]), out_bits, -OUTPUT_RANGE, OUTPUT_RANGE)

    if setup.binary:
        ro = setup.spec.peripherals.readout
        bits = min(getattr(ro, "rng_bits", 16), 53)
        rng = np.random.Generator(np.random.PCG64([seed, 6, epoch]))

        def uniform(shape) -> np.ndarray:  # a reference of the RNG's resolution
            return (
                rng.integers(0, 1 << bits, size=shape, dtype=np.uint64).astype(np.float64)
                * 2.0**-bits
            )

        def classify_binary(x: np.ndarray) -> np.ndarray:
            total = np.zeros((x.shape[0], layers[-1].n_out))
            for _ in range(setup.spec.workload.inference_samples):
                h = (x > uniform(x.shape)).astype(np.float32)
                for i, lm in enumerate(layers[:-1]):
                    z = sigmoid(a * mvm(state, i, layer_rows(lm, h), W[i]))
                    z = layer_output(lm, z)[0]
                    h = (z > uniform(z.shape)).astype(np.float32)
                total += output(h)
            return np.argmax(total, axis=1)

        return _in_chunks(setup, x, classify_binary)

    def classify(x: np.ndarray) -> np.ndarray:
        h = drive_levels(
            g.plan(layers[0].name).per.input_driver,
            x.astype(np.float64),
            setup.spec.workload.input_bits,
        )
        for i, lm in enumerate(layers[:-1]):
            r = FORWARD_RANGE / a
            rows = layer_rows(lm, h)
            y = adc_values(mvm(state, i, rows, W[i]), g.plan(lm.name).readout_spec.bits, -r, r)
            h = layer_output(lm, sigmoid(a * y))[0]
            nxt = g.plan(layers[i + 1].name).per.input_driver
            h = drive_levels(nxt, h, getattr(nxt, "bits", 1))
        return np.argmax(output(h), axis=1)

    return _in_chunks(setup, x, classify)
