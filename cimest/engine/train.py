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
from cimest.devices.pulse import PulseModel, d2d_multipliers, initial_conductance
from cimest.engine.datasets import Dataset, load_dataset
from cimest.engine.peripherals import IdealRng, LfsrRng
from cimest.engine.rules import Setup, Tally, predict, train_batch
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
    loss_history: list[float]
    counts: EventCounts
    counts_per_epoch: list[EventCounts]
    activity: dict[str, dict[str, float]]
    wear: dict
    conductances: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def accuracy(self) -> float | None:
        return self.accuracy_history[-1] if self.accuracy_history else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rule": self.rule,
            "seed": self.seed,
            "epochs": self.epochs,
            "n_train_samples": self.n_train_samples,
            "accuracy": self.accuracy,
            "accuracy_history": self.accuracy_history,
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
        gp = gd = xb.c2c_sigma
    return PulseModel(
        g_min_s=d.g_min_s, g_max_s=d.g_max_s, n_p=d.n_p, n_d=d.n_d, alpha_p=d.alpha_p,
        alpha_d=d.alpha_d, gamma_p=gp, gamma_d=gd, v_read_v=d.v_read_v,
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
    model = pulse_model(graph, libraries) if variant == "memristor" else None
    if model is not None and model.kind != "pot_dep" and spec.crossbar.weight_encoding == "reference_column":
        raise CimestError(
            f"crossbar.cell: {spec.crossbar.cell} is {model.kind} (programmable in one direction "
            "only); use crossbar.weight_encoding: differential_pair or differential_rows"
        )
    return Setup(graph, model, alg.rule, variant, alg.activation_gain, alg.learning_rate,
                  alg.update_threshold, spec.peripherals.gradient_accumulator.bits,
                  spec.workload.batch_size)


def _samplers(setup: Setup, seed: int) -> dict:
    """Random sources per sampling site. Ideal: one PCG64 stream shared in the reference order
    (input, z1, d1, ..., out); LFSR: one lane per comparator, each site its own bank."""
    if not setup.binary:
        return {}
    ro = setup.spec.peripherals.readout
    layers = setup.graph.layers
    sites = ["input"] + [f"{k}{i + 1}" for i in range(len(layers) - 1) for k in ("z", "d")] + ["out"]
    if not isinstance(ro, ComparatorSpec) or ro.rng != "lfsr":
        bits = ro.rng_bits if isinstance(ro, ComparatorSpec) else 16
        shared = IdealRng(seed, bits_per_draw=min(bits, 53))
        return {s: shared for s in sites}
    width = ro.rng_bits if ro.rng_bits in (8, 16, 24, 32) else 16
    lanes = {"input": layers[0].n_in, "out": layers[-1].n_out}
    for i, lm in enumerate(layers[:-1]):
        lanes[f"z{i + 1}"] = lanes[f"d{i + 1}"] = lm.n_out
    period = (1 << width) - 1
    return {s: LfsrRng(1 + (seed * 7919 + 104729 * (k + 1)) % period, n_lanes=lanes[s], width=width)
            for k, s in enumerate(sites)}


def init_state(setup: Setup, seed: int) -> EngineState:
    graph = setup.graph
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    layers: list[LayerState] = []
    for lm in graph.layers:
        shape = (lm.n_in, lm.n_out)
        ls = LayerState()
        if setup.variant == "memristor":
            m = setup.model
            ls.g = initial_conductance(m, shape, rng)
            ls.d2d = d2d_multipliers(m, shape, rng)
            if setup.differential:
                ls.g_minus = initial_conductance(m, shape, rng)
                ls.d2d_minus = d2d_multipliers(m, shape, rng)
                ls.pulses = np.zeros((2, *shape), dtype=np.int32)
            else:
                ls.pulses = np.zeros(shape, dtype=np.int32)
        elif setup.variant == "integer":
            top = 1 << (setup.spec.algorithm.integer_bits - 1)
            w = rng.normal(0.0, math.sqrt(2.0 / lm.n_in), shape)
            ls.w_int = np.clip(np.rint(w / (0.5 / top)), -top, top - 1).astype(np.int32)
        else:
            ls.w = rng.normal(0.0, math.sqrt(2.0 / lm.n_in), shape)
            ls.b = np.zeros(lm.n_out)
        if setup.binary and setup.variant != "float":
            ls.acc = np.zeros(shape, dtype=np.int32)
        if not setup.binary and setup.variant == "memristor":
            ls.residual = np.zeros(shape)
        layers.append(ls)
    feedback = [rng.normal(0.0, 1.0 / math.sqrt(f.n_in), (f.n_in, f.n_out)) for f in graph.feedback]
    return EngineState(epoch=0, batch=0, layers=layers, feedback=feedback,
                       samplers=_samplers(setup, seed),
                       device_rng=np.random.Generator(np.random.PCG64([seed, 2])))


def check_resources(graph: ComponentGraph, n_train: int, n_features: int) -> None:
    """Refuse runs whose arrays would not fit in memory, before allocating them."""
    n_w = sum(lm.n_weights for lm in graph.layers) + sum(f.n_weights for f in graph.feedback)
    b = min(graph.spec.workload.batch_size, max(n_train, 1))  # a batch never exceeds the data
    widest = max(graph.spec.workload.network)
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


def measured_activity(graph: ComponentGraph, counts: EventCounts,
                      programmed: dict[str, int] | None = None) -> dict[str, dict[str, float]]:
    """Activity factors that make the analytic counter reproduce ``counts`` exactly.

    ``programmed`` (devices that got a pulse train, per layer) splits the pulses into
    update_fraction x pulses_per_update, the mean train length the schedule's programming time
    uses; without it every pulse counts as its own one-pulse update.

    error_density of a layer is measured where the analytic counter uses it: on the backward MVM
    through the layer (layers after the first); under DFA the output layer's value is the density
    of the output error driving the feedback arrays. Elsewhere it is unused and set to 0.
    """
    n = max(counts.n_samples, 1)
    dfa = graph.spec.algorithm.rule == "dfa"
    out: dict[str, dict[str, float]] = {}
    for lm in graph.layers:
        L = lm.name
        cycles = graph.component(L, "input_driver").cycles
        f = {"input_density": counts.get(L, "forward", "cell", "read")
             / (n * lm.n_in * lm.cols_read_per_row * cycles)}
        if graph.spec.workload.mode == "train":
            f["error_density"] = 0.0
            if not dfa and lm.index > 0:
                f["error_density"] = counts.get(L, "backward", "cell", "read") / (
                    n * lm.n_out * lm.cells_read_per_col)
            f["gradient_density"] = counts.get(L, "update", "gradient_adder", "op") / (n * lm.n_weights)
            pulses = counts.get(L, "update", "write_driver", "pulse")
            trains = (programmed or {}).get(L, 0) or pulses
            f["update_fraction"] = trains / (n * lm.n_devices)
            f["pulses_per_update"] = pulses / trains if trains else 1.0
            f["set_fraction"] = counts.get(L, "update", "cell", "set_pulse") / pulses if pulses else 0.5
        out[L] = f
    if dfa and graph.feedback and graph.spec.workload.mode == "train":
        fb = graph.feedback[0]
        reads = counts.get(graph.layers[0].name, "backward", "feedback_cell", "read")
        out[graph.layers[-1].name]["error_density"] = reads / (n * fb.n_in * fb.cols_read_per_row)
    return out


def wear_summary(state: EngineState, graph: ComponentGraph, cell_endurance: float | None,
                 epochs: int) -> dict:
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
                most = {"layer": lm.name, "device": "G+" if idx[0] == 0 else "G-", "row": int(idx[1]),
                        "col": int(idx[2]), "pulses": int(p[idx])}
            else:
                most = {"layer": lm.name, "device": "G", "row": int(idx[0]), "col": int(idx[1]),
                        "pulses": int(p[idx])}
    if not all_counts:
        return {"histogram": {"edges": [], "counts": []}, "most_written": None,
                "mean_pulses": 0.0, "lifetime_epochs": None}
    flat = np.concatenate(all_counts)
    top = int(flat.max())
    edges = np.unique(np.linspace(0, max(top, 1) + 1, num=min(top + 2, 41)).astype(np.int64))
    # np.histogram(flat, bins=edges) for non-negative integers, by bincount (10x faster)
    per_value = np.bincount(flat.astype(np.int64), minlength=int(edges[-1]))
    hist = np.add.reduceat(per_value, edges[:-1])
    per_epoch = most["pulses"] / max(epochs, 1)
    lifetime = cell_endurance / per_epoch if cell_endurance and per_epoch > 0 else None
    return {"histogram": {"edges": edges.tolist(), "counts": hist.tolist()}, "most_written": most,
            "mean_pulses": float(flat.mean()), "lifetime_epochs": lifetime,
            "endurance_cycles": cell_endurance}


# --- the loop ---------------------------------------------------------------------------------


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """Shuffle of the training set for one epoch: a function of (seed, epoch) only."""
    return np.random.Generator(np.random.PCG64([seed, 3, epoch])).permutation(n)


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
    if x_train.shape[1] != wl.network[0]:
        raise CimestError(
            f"workload.network: the first width is {wl.network[0]} but dataset {data.name} has "
            f"{x_train.shape[1]} features"
        )
    if data.n_classes > wl.network[-1]:
        raise CimestError(
            f"workload.network: the last width is {wl.network[-1]} but dataset {data.name} has "
            f"{data.n_classes} classes"
        )
    check_resources(graph, len(x_train), x_train.shape[1])
    setup = make_setup(graph, libraries)
    state = None
    if resume and run_dir is not None:
        state = checkpoint.load(run_dir, setup, seed)
        if state is not None:
            checkpoint.check_like(state, init_state(setup, seed), run_dir, setup.acc_bits)
    if state is None:
        state = init_state(setup, seed)
    n = len(x_train)
    bs = wl.batch_size
    n_batches = math.ceil(n / bs)
    mode = "train"
    started = time.perf_counter()
    events_done = 0
    samples_done = 0
    software = setup.rule == "software"
    while state.epoch < epochs:
        if state.epoch_counts is None:
            state.epoch_counts = EventCounts(n_samples=0, mode=mode, source="measured")
        order = _epoch_order(seed, state.epoch, n)
        while state.batch < n_batches:
            if should_stop is not None and should_stop():
                if run_dir is not None:
                    checkpoint.save(run_dir, state, setup, seed)
                raise Interrupted(
                    f"interrupted in epoch {state.epoch + 1}, batch {state.batch}; "
                    + (f"checkpoint in {run_dir}; continue with --resume" if run_dir else "nothing saved")
                )
            sel = order[state.batch * bs : (state.batch + 1) * bs]
            scratch = EventCounts(n_samples=0, mode=mode, source="measured")
            tally = Tally(scratch, graph)
            # Why errstate: non-finite values are reported as a TrainingError with the epoch and
            # layer (rules.check_finite and below); numpy's own warnings would only add noise.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss = train_batch(setup, state, x_train[sel], y_train[sel], tally)
            if not math.isfinite(loss):
                raise TrainingError(f"epoch {state.epoch + 1}: the loss became NaN or infinite; "
                                    "lower algorithm.learning_rate")
            if not software:
                for layer_name, v in tally.programmed.items():
                    state.programmed[layer_name] = state.programmed.get(layer_name, 0) + v
                for key, v in scratch.counts.items():
                    state.epoch_counts.counts[key] = state.epoch_counts.counts.get(key, 0) + v
                events_done += sum(scratch.counts.values())
            state.epoch_counts.n_samples += len(sel)
            state.epoch_loss_sum += loss
            state.epoch_samples += len(sel)
            state.batch += 1
            samples_done += len(sel)
            if progress is not None:
                dt = max(time.perf_counter() - started, 1e-9)
                progress(Progress(state.epoch + 1, epochs, state.batch, n_batches,
                                  state.accuracy_history[-1] if state.accuracy_history else None,
                                  state.epoch_loss_sum / max(state.epoch_samples, 1),
                                  events_done / dt, samples_done / dt))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            acc = float(np.mean(predict(setup, state, data.x_test) == data.y_test))
        state.accuracy_history.append(acc)
        state.loss_history.append(state.epoch_loss_sum / max(state.epoch_samples, 1))
        state.counts_per_epoch.append(state.epoch_counts)
        state.epoch_counts = None
        state.epoch_loss_sum = 0.0
        state.epoch_samples = 0
        state.epoch += 1
        state.batch = 0
        if run_dir is not None:
            checkpoint.save(run_dir, state, setup, seed)
        if progress is not None:
            dt = max(time.perf_counter() - started, 1e-9)
            progress(Progress(state.epoch, epochs, n_batches, n_batches, acc,
                              state.loss_history[-1], events_done / dt, samples_done / dt,
                              epoch_done=True))
    total = sum_counts(state.counts_per_epoch)
    total.source = "measured"
    endurance = libraries.cell(spec.crossbar.cell).entry.device.endurance_cycles
    conductances: dict[str, np.ndarray] = {}
    for lm, ls in zip(graph.layers, state.layers, strict=True):
        if ls.g is not None:
            conductances[lm.name] = ls.g
            if ls.g_minus is not None:
                conductances[f"{lm.name}.minus"] = ls.g_minus
    return TrainResult(
        name=spec.name, rule=spec.algorithm.rule, seed=seed, epochs=state.epoch,
        n_train_samples=n, accuracy_history=list(state.accuracy_history),
        loss_history=list(state.loss_history), counts=total,
        counts_per_epoch=list(state.counts_per_epoch),
        activity=(measured_activity(graph, total, state.programmed)
                  if total.n_samples and not software else {}),
        wear=wear_summary(state, graph, endurance, state.epoch), conductances=conductances,
        wall_time_s=time.perf_counter() - started,
    )


def activity_spec(activity: dict[str, dict[str, float]]) -> dict[str, ActivityFactors]:
    """Measured factors as the architecture's ``workload.activity.per_layer``."""
    return {L: ActivityFactors(**f) for L, f in activity.items()}
