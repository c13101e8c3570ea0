"""train(): run the architecture's learning rule on its dataset, counting every event.

Room: engine. Nothing here prints: progress goes to an optional callback, interruption is asked
for through ``should_stop`` (the CLI wires it to Ctrl-C), and the run's state is checkpointed to
``run_dir`` after every epoch and when stopped, so ``resume=True`` continues bit for bit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cimest.counts import EventCounts, sum_counts
from cimest.devices.model import DEVICE_MODELS
from cimest.devices.pulse import PulseModel
from cimest.engine.datasets import Dataset, load_dataset
from cimest.engine.fast import batch1_step
from cimest.engine.fast_batch import batch_step
from cimest.engine.peripherals import IdealRng, LfsrRng
from cimest.engine.rules import Meter, Setup, predict, predict_float, train_batch
from cimest.engine.state import EngineState, LayerState
from cimest.errors import CimestError, ResourceError, TrainingError
from cimest.graph.compile import ComponentGraph
from cimest.spec.architecture import ActivityFactors, ComparatorSpec
from cimest.spec.libraries import LibrarySet


class Interrupted(CimestError):
    """Training was stopped on request; a checkpoint was written (exit status 130)."""


@dataclass
class Progress:
    epoch: int
    epochs: int
    batch: int
    batches: int
    accuracy: float | None
    loss: float | None
    events_per_s: float
    samples_per_s: float
    epoch_done: bool = False
    """True for the one call made after an epoch's test accuracy is known."""


@dataclass
class TrainResult:
    """What a run produced. ``counts`` covers every training sample of every epoch."""

    name: str
    rule: str
    seed: int
    epochs: int
    n_train_samples: int
    accuracy_history: list[float]
    """Accuracy of the modelled inference path after every epoch."""
    loss_history: list[float]
    counts: EventCounts
    counts_per_epoch: list[EventCounts]
    activity: dict[str, dict[str, float]]
    wear: dict
    conductances: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    wall_time_s: float = 0.0
    accuracy_float_history: list[float] = field(default_factory=list)
    """Accuracy of the same weights evaluated in float after every epoch."""

    @property
    def accuracy(self) -> float | None:
        """The modelled chip's accuracy: its drivers, read-out and samples per inference."""
        return self.accuracy_history[-1] if self.accuracy_history else None

    @property
    def accuracy_float(self) -> float | None:
        return self.accuracy_float_history[-1] if self.accuracy_float_history else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rule": self.rule,
            "seed": self.seed,
            "epochs": self.epochs,
            "n_train_samples": self.n_train_samples,
            "accuracy": self.accuracy,
            "accuracy_float": self.accuracy_float,
            "accuracy_history": self.accuracy_history,
            "accuracy_float_history": self.accuracy_float_history,
            "loss_history": self.loss_history,
            "activity": self.activity,
            "wear": self.wear,
            "counts": self.counts.to_dict(),
            "counts_per_epoch": [c.to_dict() for c in self.counts_per_epoch],
        }  # no wall_time_s: the record depends only on the inputs (byte-identical JSON)


# --- set-up -----------------------------------------------------------------------------------


def pulse_model(graph: ComponentGraph, libraries: LibrarySet) -> PulseModel:
    """The cell's pulse-response model, with the architecture's variation overrides."""
    xb = graph.spec.crossbar
    d = libraries.cell(xb.cell).entry.device
    gp, gd = d.gamma_p, d.gamma_d
    if xb.c2c_sigma is not None:
        # a fraction of the range per pulse, as datasheets give it: gamma = sigma x pulses across it
        gp, gd = xb.c2c_sigma * d.n_p, xb.c2c_sigma * d.n_d
    return PulseModel(
        g_min_s=d.g_min_s,
        g_max_s=d.g_max_s,
        n_p=d.n_p,
        n_d=d.n_d,
        alpha_p=d.alpha_p,
        alpha_d=d.alpha_d,
        gamma_p=gp,
        gamma_d=gd,
        v_read_v=d.v_read_v,
        d2d_sigma=xb.d2d_sigma if xb.d2d_sigma is not None else d.d2d_sigma,
    )


def make_setup(graph: ComponentGraph, libraries: LibrarySet) -> Setup:
    spec = graph.spec
    alg = spec.algorithm
    if alg.rule == "software":
        variant = "float"
    elif graph.binary:
        variant = alg.weight_update
    else:
        variant = "memristor" if alg.weight_update == "memristor" else "float"
    device = None
    if variant == "memristor":
        cell = libraries.cell(spec.crossbar.cell).entry.device
        xb = spec.crossbar
        start = xb.initial_conductance
        device = DEVICE_MODELS[cell.model](
            pulse_model(graph, libraries),
            cell.endurance_cycles,
            start=start.at,
            start_scale=start.scale,
            start_sigma=start.sigma,
            reference_sigma=xb.reference_cells.sigma if xb.reference_cells is not None else 0.0,
            start_levels=start.levels,
        )
    if (
        device is not None
        and device.kind != "pot_dep"
        and spec.crossbar.weight_encoding == "reference_column"
    ):
        raise CimestError(
            f"crossbar.cell: {spec.crossbar.cell} is {device.kind} (programmable in one direction "
            "only); use crossbar.weight_encoding: differential_pair or differential_rows"
        )
    acc = spec.peripherals.gradient_accumulator
    return Setup(
        graph,
        device,
        alg.rule,
        variant,
        alg.activation_gain,
        alg.learning_rate,
        alg.update_threshold,
        acc.bits if acc is not None else 0,
        spec.workload.batch_size,
    )


def _samplers(setup: Setup, seed: int) -> dict:
    """Random sources per sampling site. Ideal: one PCG64 stream shared in the reference order
    (input, z1, d1, ..., out); LFSR: one lane per comparator, each site its own bank."""
    if setup.graph.traits.update == "coincidence":
        bits = setup.spec.peripherals.update.rng_bits
        return {"update": IdealRng((seed * 1_000_003 + 4) % 2**63, bits_per_draw=bits)}
    if not setup.binary:
        return {}
    ro = setup.spec.peripherals.readout
    layers = setup.graph.layers
    sites = (
        ["input"] + [f"{k}{i + 1}" for i in range(len(layers) - 1) for k in ("z", "d")] + ["out"]
    )
    if not isinstance(ro, ComparatorSpec) or ro.rng != "lfsr":
        bits = ro.rng_bits if isinstance(ro, ComparatorSpec) else 16
        shared = IdealRng(seed, bits_per_draw=min(bits, 53))
        return {s: shared for s in sites}
    width = ro.rng_bits  # the spec allows an LFSR 2 to 32 bits wide
    # one lane per input value and per comparator (a convolution's K comparators read out one
    # position after another, so its maps are drawn position by position, K lanes at a time)
    lanes = {"input": math.prod(layers[0].in_shape), "out": layers[-1].n_out}
    for i, lm in enumerate(layers[:-1]):
        lanes[f"z{i + 1}"] = lanes[f"d{i + 1}"] = lm.n_out
    period = (1 << width) - 1
    return {
        s: LfsrRng(1 + (seed * 7919 + 104729 * (k + 1)) % period, n_lanes=lanes[s], width=width)
        for k, s in enumerate(sites)
    }


def init_state(setup: Setup, seed: int) -> EngineState:
    graph = setup.graph
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    layers: list[LayerState] = []
    for lm in graph.layers:
        shape = (lm.n_in, lm.n_out)
        ls = LayerState()
        if setup.variant == "memristor":
            dev = setup.device
            ls.g = dev.initial(shape, rng)
            ls.d2d = dev.variation(shape, rng)
            if setup.differential:
                ls.g_minus = dev.initial(shape, rng)
                ls.d2d_minus = dev.variation(shape, rng)
                ls.pulses = np.zeros((2, *shape), dtype=np.int32)
            else:
                ls.pulses = np.zeros(shape, dtype=np.int32)
        elif setup.variant == "integer":
            top = 1 << (setup.spec.algorithm.integer_bits - 1)
            w = rng.normal(0.0, math.sqrt(2.0 / lm.n_in), shape)
            ls.w_int = np.clip(np.rint(w / (0.5 / top)), -top, top - 1).astype(np.int32)
        else:
            ls.w = rng.normal(0.0, math.sqrt(2.0 / lm.n_in), shape)
            # a convolution's bias is untied: one per output position and map (algorithms.md 1b)
            ls.b = np.zeros((lm.uses_per_sample, lm.n_out) if lm.kind == "conv" else lm.n_out)
        if setup.variant == "memristor" and setup.spec.crossbar.reference_cells is not None:
            # real reference devices: one per row (forward), one per column (backward), from their
            # own stream so that designs without them draw exactly as before
            ref_rng = np.random.Generator(np.random.PCG64([seed, 5, lm.index]))
            ls.ref_row = setup.device.references((lm.n_in,), ref_rng)
            ls.ref_col = setup.device.references((lm.n_out,), ref_rng)
        if setup.binary and setup.variant != "float":
            ls.acc = np.zeros(shape, dtype=np.int32)
        if not setup.binary and setup.variant == "memristor" and graph.traits.gradient_memory:
            ls.residual = np.zeros(shape)
        layers.append(ls)
    feedback = [rng.normal(0.0, 1.0 / math.sqrt(f.n_in), (f.n_in, f.n_out)) for f in graph.feedback]
    return EngineState(
        epoch=0,
        batch=0,
        layers=layers,
        feedback=feedback,
        samplers=_samplers(setup, seed),
        device_rng=np.random.Generator(np.random.PCG64([seed, 2])),
    )


def check_resources(graph: ComponentGraph, n_train: int, n_features: int) -> None:
    """Refuse runs whose arrays would not fit in memory, before allocating them."""
    n_w = sum(lm.n_weights for lm in graph.layers) + sum(f.n_weights for f in graph.feedback)
    b = min(graph.spec.workload.batch_size, max(n_train, 1))  # a batch never exceeds the data
    # the widest activation a batch holds: a convolution's unrolled patches or its output maps
    widest = max(max(lm.n_in, lm.n_out) * lm.uses_per_sample for lm in graph.layers)
    need = n_w * 8 * 10 + b * widest * 8 * 20 + n_train * n_features * 8
    try:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        avail = 8 << 30
    # Why: a process limit (ulimit -v, a batch scheduler) binds before physical memory does.
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            avail = min(avail, soft)
    except (ImportError, ValueError, OSError):
        pass
    if need > 0.5 * avail:
        raise ResourceError(
            f"workload.network: training this network needs about {need / 2**30:.1f} GiB, more "
            f"than half of the {avail / 2**30:.1f} GiB this process may use; use smaller layers or "
            "`cimest estimate` (analytic counts) instead"
        )


# --- measured activity and wear ------------------------------------------------------------------


def measured_activity(graph: ComponentGraph, counts: EventCounts) -> dict[str, dict[str, float]]:
    """The run's activity as factors (densities of what the engine measured: non-zero inputs and
    errors, gradient terms, pulses and the devices they went to), in the form
    ``workload.activity.per_layer`` takes: pasted there, the analytic counter gives these counts."""
    from cimest.graph.activity import Activity

    out = {}
    for lm in graph.layers:
        if lm.name in counts.activity:
            act = Activity.from_dict(counts.activity[lm.name])
            f = act.factors(lm, graph.plan(lm.name).feedback, graph.spec.algorithm.pulse_length)
            if graph.spec.workload.mode != "train":
                f = {"input_density": f["input_density"]}
            out[lm.name] = f
    return out


def wear_summary(
    state: EngineState, graph: ComponentGraph, cell_endurance: float | None, epochs: int
) -> dict:
    """Pulses per device: histogram, the most-written device, and lifetime in epochs."""
    all_counts = []
    most = {"layer": None, "row": None, "col": None, "device": None, "pulses": 0}
    for lm, ls in zip(graph.layers, state.layers, strict=True):
        if ls.pulses is None:
            continue
        p = ls.pulses
        all_counts.append(p.reshape(-1))
        idx = np.unravel_index(int(np.argmax(p)), p.shape)
        if int(p[idx]) > most["pulses"]:
            if p.ndim == 3:
                most = {
                    "layer": lm.name,
                    "device": "G+" if idx[0] == 0 else "G-",
                    "row": int(idx[1]),
                    "col": int(idx[2]),
                    "pulses": int(p[idx]),
                }
            else:
                most = {
                    "layer": lm.name,
                    "device": "G",
                    "row": int(idx[0]),
                    "col": int(idx[1]),
                    "pulses": int(p[idx]),
                }
    if not all_counts:
        return {
            "histogram": {"edges": [], "counts": []},
            "most_written": None,
            "mean_pulses": 0.0,
            "lifetime_epochs": None,
        }
    flat = np.concatenate(all_counts)
    top = int(flat.max())
    edges = np.unique(np.linspace(0, max(top, 1) + 1, num=min(top + 2, 41)).astype(np.int64))
    # np.histogram(flat, bins=edges) for non-negative integers, by bincount (10x faster)
    per_value = np.bincount(flat.astype(np.int64), minlength=int(edges[-1]))
    hist = np.add.reduceat(per_value, edges[:-1])
    per_epoch = most["pulses"] / max(epochs, 1)
    lifetime = cell_endurance / per_epoch if cell_endurance and per_epoch > 0 else None
    return {
        "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
        "most_written": most,
        "mean_pulses": float(flat.mean()),
        "lifetime_epochs": lifetime,
        "endurance_cycles": cell_endurance,
    }


# --- the loop ---------------------------------------------------------------------------------


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Shuffle of the training set for one epoch: a function of (seed, epoch) only.

    Why a uint32 array where the numbers fit one: numpy's SeedSequence turns a list of ints into
    those words one int at a time in Python (each below 2^32 is one word), and takes the array
    as is, so the generator is the same and its seeding 30-40 us shorter an epoch (about 120 us
    in all, cold, at each epoch's start)."""
    key = [seed, 3, epoch]
    entropy = np.array(key, dtype=np.uint32) if all(0 <= k < 1 << 32 for k in key) else key
    return np.random.Generator(np.random.PCG64(entropy)).permutation(n)


def train(
    graph: ComponentGraph,
    libraries: LibrarySet,
    *,
    dataset: Dataset | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    identity: str | None = None,
) -> TrainResult:
    """Train ``graph``'s network with its rule and count every event.

    Args:
        graph: the compiled architecture (workload, algorithm, peripherals).
        libraries: where the cell's device parameters come from (never energies).
        dataset: overrides ``workload.dataset`` (tests pass small data here).
        epochs, seed: override the workload's.
        run_dir: checkpoint folder; with ``resume`` the run continues from its checkpoint.
        progress: called after every batch with a Progress.
        should_stop: polled between batches; when it returns True a checkpoint is written and
            Interrupted is raised.
        identity: the run identity digest checkpoints carry (default: computed from the graph,
            libraries, dataset and seed by cimest.engine.identity).

    Raises:
        DatasetError, ResourceError, TrainingError, CheckpointError, Interrupted.
    """
    from cimest.engine import checkpoint

    spec = graph.spec
    wl = spec.workload
    epochs = wl.epochs if epochs is None else epochs
    seed = wl.seed if seed is None else seed
    data = dataset if dataset is not None else load_dataset(wl.dataset)
    x_train, y_train = data.x_train, data.y_train
    if wl.max_train_samples is not None:
        x_train, y_train = x_train[: wl.max_train_samples], y_train[: wl.max_train_samples]
    if x_train.shape[1] != wl.input_features:
        raise CimestError(
            f"workload.network: the input is {wl.input_features} values but dataset {data.name} "
            f"has {x_train.shape[1]} features"
        )
    if data.n_classes > wl.classes:
        raise CimestError(
            f"workload.network: the last width is {wl.classes} but dataset {data.name} has "
            f"{data.n_classes} classes"
        )
    check_resources(graph, len(x_train), x_train.shape[1])
    setup = make_setup(graph, libraries)
    # the fused one-sample and many-sample steps where they apply (bit-identical to the rule's;
    # engine/fast.py, engine/fast_batch.py)
    step = batch_step(setup, batch1_step(setup) or train_batch)
    state = None
    if run_dir is not None and identity is None:
        from cimest.engine.identity import run_identity

        identity = run_identity(graph, libraries, seed, dataset=dataset).digest
    if resume and run_dir is not None:
        state = checkpoint.load(run_dir, identity)
        if state is not None:
            checkpoint.check_like(state, init_state(setup, seed), run_dir, setup.acc_bits)
    if state is None:
        state = init_state(setup, seed)
    n = len(x_train)
    bs = wl.batch_size
    n_batches = math.ceil(n / bs)
    # the batches' samples gathered a block of batches at a time, about 256 KB (one take a
    # block: a batch's own indexing took 3.9 us, a third of the loop's time around a digits
    # batch-64 step), each batch a view of its rows. Why take, not x[rows]: the same rows in
    # half the time, cold (a block's rows come from memory the epoch's steps have evicted:
    # 184 -> 92 us for 1,024 digits rows)
    per_block = max(1, (256 << 10) // max(1, bs * x_train[:1].nbytes))
    mode = "train"
    started = time.perf_counter()
    events_done = 0
    events_at = -math.inf
    samples_done = 0
    software = setup.rule == "software"
    per_unit = graph.events_per_unit()

    def fold(meter: Meter, samples: int) -> EventCounts:
        """The epoch's counts so far, from its measured activity."""
        meter.settle()
        if software:  # the float reference prices no hardware: nothing to count
            return EventCounts(n_samples=samples, mode=mode, source="measured")
        return graph.count(meter.activity, mode, "measured")

    while state.epoch < epochs:
        if state.epoch_counts is None:
            state.epoch_counts = EventCounts(n_samples=0, mode=mode, source="measured")
        meter = Meter(graph, activity=state.epoch_counts.activity)
        epoch_samples = state.epoch_counts.n_samples
        events_before = events_done
        order = _epoch_order(seed, state.epoch, n)
        block = range(0)  # the batches gathered in xs, ys
        # Why errstate: non-finite values are reported as a TrainingError with the epoch and
        # layer (rules.check_finite and below); numpy's own warnings would only add noise. Around
        # the epoch's batches, not each step: entering it cost more than some one-sample kernels.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while state.batch < n_batches:
                if should_stop is not None and should_stop():
                    if run_dir is not None:
                        state.epoch_counts = fold(meter, epoch_samples)
                        checkpoint.save(run_dir, state, identity)
                    raise Interrupted(
                        f"interrupted in epoch {state.epoch + 1}, batch {state.batch}; "
                        + (
                            f"checkpoint in {run_dir}; continue with --resume"
                            if run_dir
                            else "nothing saved"
                        )
                    )
                if state.batch not in block:
                    block = range(state.batch, min(n_batches, state.batch + per_block))
                    rows = order[block.start * bs : block.stop * bs]
                    xs, ys = x_train.take(rows, axis=0), y_train.take(rows)
                at = (state.batch - block.start) * bs
                xb, yb = xs[at : at + bs], ys[at : at + bs]
                meter.begin(len(yb))
                loss = step(setup, state, xb, yb, meter)
                if not math.isfinite(loss):
                    raise TrainingError(
                        f"epoch {state.epoch + 1}: the loss became NaN or infinite; "
                        "lower algorithm.learning_rate"
                    )
                epoch_samples += len(yb)
                if not software and progress is not None:
                    # Why at most every 0.1 s: a display rate; summing it costs more than a
                    # one-sample step. Not forced at the epoch's last batch: the epoch's folded
                    # counts give the figure after it (forcing it cost 43 us an epoch, 2 us a
                    # batch of a digits batch-64 epoch)
                    now = time.perf_counter()
                    if now - events_at >= 0.1:
                        events_at = now
                        meter.settle()
                        events_done = events_before + sum(
                            w * getattr(meter.activity[layer], field)
                            for layer, weights in per_unit.items()
                            for field, w in weights.items()
                        )
                state.epoch_loss_sum += loss
                state.epoch_samples += len(yb)
                state.batch += 1
                samples_done += len(yb)
                if progress is not None:
                    dt = max(time.perf_counter() - started, 1e-9)
                    progress(
                        Progress(
                            state.epoch + 1,
                            epochs,
                            state.batch,
                            n_batches,
                            state.accuracy_history[-1] if state.accuracy_history else None,
                            state.epoch_loss_sum / max(state.epoch_samples, 1),
                            events_done / dt,
                            samples_done / dt,
                        )
                    )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            acc = float(
                np.mean(predict(setup, state, data.x_test, seed, state.epoch) == data.y_test)
            )
            acc_float = float(np.mean(predict_float(setup, state, data.x_test) == data.y_test))
        state.accuracy_history.append(acc)
        state.accuracy_float_history.append(acc_float)
        state.loss_history.append(state.epoch_loss_sum / max(state.epoch_samples, 1))
        state.counts_per_epoch.append(fold(meter, epoch_samples))
        if not software:
            events_done = events_before + state.counts_per_epoch[-1].total()
        state.epoch_counts = None
        state.epoch_loss_sum = 0.0
        state.epoch_samples = 0
        state.epoch += 1
        state.batch = 0
        if run_dir is not None:
            checkpoint.save(run_dir, state, identity)
        if progress is not None:
            dt = max(time.perf_counter() - started, 1e-9)
            progress(
                Progress(
                    state.epoch,
                    epochs,
                    n_batches,
                    n_batches,
                    acc,
                    state.loss_history[-1],
                    events_done / dt,
                    samples_done / dt,
                    epoch_done=True,
                )
            )
    total = sum_counts(state.counts_per_epoch)
    total.source = "measured"
    endurance = (
        setup.device.endurance_cycles
        if setup.device is not None
        else (libraries.cell(spec.crossbar.cell).entry.device.endurance_cycles)
    )
    conductances: dict[str, np.ndarray] = {}
    for lm, ls in zip(graph.layers, state.layers, strict=True):
        if ls.g is not None:
            conductances[lm.name] = ls.g
            if ls.g_minus is not None:
                conductances[f"{lm.name}.minus"] = ls.g_minus
    return TrainResult(
        name=spec.name,
        rule=spec.algorithm.rule,
        seed=seed,
        epochs=state.epoch,
        n_train_samples=n,
        accuracy_history=list(state.accuracy_history),
        loss_history=list(state.loss_history),
        counts=total,
        counts_per_epoch=list(state.counts_per_epoch),
        activity=measured_activity(graph, total) if total.n_samples and not software else {},
        wear=wear_summary(state, graph, endurance, state.epoch),
        conductances=conductances,
        wall_time_s=time.perf_counter() - started,
        accuracy_float_history=list(state.accuracy_float_history),
    )


def activity_spec(activity: dict[str, dict[str, float]]) -> dict[str, ActivityFactors]:
    """Measured factors as the architecture's ``workload.activity.per_layer``."""
    return {L: ActivityFactors(**f) for L, f in activity.items()}
