"""The Python API: one call per CLI command, for scripts and notebooks.

Imports every room (it sits above them, like the CLI). Nothing here prints or exits.

    design = load_design("architectures/binary_stochastic_rram.yaml")
    est = estimate_design(design)            # analytic counts
    print(est.energy_per_mac_j, est.tops_per_w)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cimest.costs.estimate import Estimate, estimate
from cimest.costs.pricing import Priced, price_graph
from cimest.counts import EventCounts
from cimest.errors import CheckpointError, LibraryError, Problem, SpecError
from cimest.graph import ComponentGraph, compile_graph
from cimest.graph.analytic import count_analytic
from cimest.spec import Loaded, load_architecture
from cimest.spec.libraries import LibrarySet, default_search_path, load_library_set


@dataclass
class Design:
    """A validated architecture, its component graph and its priced libraries."""

    loaded: Loaded
    graph: ComponentGraph
    libraries: LibrarySet
    priced: dict[tuple[str, str], Priced]

    @property
    def spec(self):
        return self.loaded.spec

    @property
    def path(self) -> str:
        return self.loaded.path


def _variant_checks(loaded: Loaded) -> list[tuple[tuple, str, str | None]]:
    """(spec path, kind, variant) of every library name the architecture spells out."""
    s = loaded.spec
    p = s.peripherals
    checks: list[tuple[tuple, str, str | None]] = [(("crossbar", "cell"), "cell", s.crossbar.cell)]
    for role in (
        "input_driver",
        "readout",
        "error_input",
        "error_readout",
        "gradient_accumulator",
        "output_readout",
    ):
        comp = getattr(p, role)
        if comp is None:
            continue
        kind = comp.kind
        if kind == "dac" and getattr(comp, "bit_serial", False):
            kind = "row_driver"
        if comp.variant is not None:
            checks.append((("peripherals", role, "variant"), kind, comp.variant))
        if getattr(comp, "rng_variant", None) is not None:
            checks.append((("peripherals", role, "rng_variant"), "rng", comp.rng_variant))
    if p.update.variant is not None:
        kind = "row_driver" if p.update.kind == "coincidence" else "write_driver"
        checks.append((("peripherals", "update", "variant"), kind, p.update.variant))
    for field, kind in (("activation_variant", "activation"), ("rng_variant", "rng")):
        if getattr(p, field) is not None:
            checks.append((("peripherals", field), kind, getattr(p, field)))
    return checks


def check_library_names(loaded: Loaded, libs: LibrarySet) -> None:
    """Every cell and variant the architecture names exists in its libraries.

    Raises:
        SpecError: one problem per unknown name, at the line of the field that names it.
    """
    problems: list[Problem] = []
    for path, kind, variant in _variant_checks(loaded):
        try:
            if kind == "cell":
                libs.cell(variant)  # type: ignore[arg-type]
            else:
                libs.find(kind, variant)
        except LibraryError as err:
            problems.append(
                loaded.problem(path, str(err).replace(f"no {kind} variant", f"no {kind}"))
            )
    if problems:
        raise SpecError(problems)


def bind_design(
    loaded: Loaded, search_path: list[Path] | None = None, libraries: LibrarySet | None = None
) -> Design:
    """Compile a validated architecture and price it against its libraries (loaded from the
    search path, or the already loaded ``libraries`` a sweep shares between points).

    Raises:
        SpecError: unknown libraries, cells or variants, each with the architecture's file and line.
        LibraryError: a library entry lacks an action the design needs.
    """
    spec = loaded.spec
    if libraries is None:
        if search_path is None:
            search_path = default_search_path(loaded.path)
        libraries = load_library_set(
            spec.libraries, search_path, arch_file=loaded.path, line=loaded.line("libraries")
        )
    libs = libraries
    check_library_names(loaded, libs)
    graph = compile_graph(spec)
    try:
        priced = price_graph(graph, libs)
    except LibraryError as err:  # a component the libraries lack: point at `libraries:`
        raise SpecError([loaded.problem(("libraries",), m) for m in err.messages()]) from None
    return Design(loaded, graph, libs, priced)


def load_design(path: str | os.PathLike, search_path: list[Path] | None = None) -> Design:
    """Load, validate, compile and price an architecture file."""
    return bind_design(load_architecture(path), search_path)


def estimate_design(
    design: Design,
    counts: EventCounts | None = None,
    accuracy: float | None = None,
    accuracy_float: float | None = None,
) -> Estimate:
    """Estimate from given counts, or from the analytic counter when none are given. A training
    estimate also prices one inference (``extra["inference"]``): from the run's measured activity
    when the counts carry it, else from the activity factors; with ``inference_samples`` passes."""
    if counts is None:
        counts = count_analytic(design.graph)
    est = estimate(design.graph, counts, design.libraries, accuracy=accuracy, priced=design.priced)
    est.accuracy_float = accuracy_float
    if counts.mode == "train" and est.priced_hardware:
        g = design.graph
        measured = all(lm.name in counts.activity for lm in g.layers)
        if measured:
            from cimest.graph.activity import Activity

            inf_counts = g.count(
                {lm.name: Activity.from_dict(counts.activity[lm.name]) for lm in g.layers},
                "inference",
                counts.source,
            )
        else:
            inf_counts = count_analytic(g, "inference")
        inf = estimate(g, inf_counts, design.libraries, priced=design.priced)
        est.extra["inference"] = {
            "energy_per_inference_j": inf.energy_per_sample_j,
            "energy_per_mac_j": inf.energy_per_mac_j,
            "tops_per_w": inf.tops_per_w,
            "counts_source": inf_counts.source,
            "samples_per_inference": g.spec.workload.inference_samples,
        }
    return est


# --- training -----------------------------------------------------------------------------------


def design_identity(design: Design, seed: int | None = None, dataset=None):
    """The run identity of training ``design`` with ``seed`` (default: the workload's).

    Returns:
        cimest.engine.identity.RunIdentity
    """
    from cimest.engine.identity import run_identity

    return run_identity(design.graph, design.libraries, seed, dataset=dataset)


def default_run_dir(design: Design, seed: int | None = None, identity=None) -> Path:
    """``runs/<name>-<digest>``: one folder per run identity (design, libraries entries used,
    dataset files, seed), so reruns reuse it and any changed input gets a folder of its own."""
    ident = identity if identity is not None else design_identity(design, seed)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in design.spec.name)[:60]
    return Path("runs") / f"{safe}-{ident.digest}"


def train_design(
    design: Design,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress=None,
    should_stop=None,
    dataset=None,
):
    """Train the design's workload in its run folder (locked while it trains, and refused if it
    holds another run); keep run.json, checkpoint.npz, result.json and conductances.npz there.

    Returns:
        cimest.engine.train.TrainResult

    Raises:
        CheckpointError: the folder holds another run, or a corrupt checkpoint.
        FolderBusy: another process is writing the folder.
    """
    from cimest.engine import runs

    require_training_workload(design)
    ident = design_identity(design, seed, dataset)
    if run_dir is None:
        run_dir = default_run_dir(design, identity=ident)
    with runs.writing(run_dir, ident):
        result, _ = _train_in(
            design,
            ident,
            run_dir,
            epochs=epochs,
            resume=resume,
            progress=progress,
            should_stop=should_stop,
            dataset=dataset,
        )
    return result


def _train_in(design: Design, ident, run_dir, **kw):
    """Train in a run folder this process holds; (TrainResult, the result.json record)."""
    from cimest.engine import runs
    from cimest.engine.train import train

    result = train(
        design.graph,
        design.libraries,
        run_dir=run_dir,
        seed=ident.seed,
        identity=ident.digest,
        **kw,
    )
    want = kw.get("epochs") or design.spec.workload.epochs
    if result.epochs > want:
        # Why: a resumed checkpoint past the epochs asked for trains nothing and would return (and
        # store) the longer run as if it were the one asked for.
        raise CheckpointError(
            f"{run_dir}: this run has already trained {result.epochs} epochs, more than the "
            f"{want} asked for, and a run cannot be shortened; ask for {result.epochs} or more, "
            "or give another --run-dir"
        )
    return result, runs.write_result(run_dir, ident, result)


def require_training_workload(design: Design) -> None:
    """The engine only trains: refuse an inference workload with its file and line.

    Raises:
        SpecError: ``workload.mode`` is ``inference``, or the network does not fit the dataset.
    """
    if design.spec.workload.mode != "train":
        raise SpecError(
            [
                design.loaded.problem(
                    ("workload", "mode"),
                    "training (cimest train, estimate --measured) needs a training workload "
                    "(mode: train); an inference workload is estimated from analytic counts: "
                    "cimest estimate FILE (without --measured), report or sweep",
                )
            ]
        )
    problem = design.spec.workload.dataset_mismatch()
    if problem:
        raise SpecError([design.loaded.problem(("workload", "network"), problem)])


def cached_result(
    design: Design, run_dir: str | os.PathLike | None = None, identity=None
) -> dict | None:
    """The result record of this design's finished run (same identity, same epochs), or None.

    Raises:
        CheckpointError: ``run_dir`` holds another run, or a corrupt run.json.
    """
    from cimest.engine import runs

    ident = identity if identity is not None else design_identity(design)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(design, identity=ident)
    if not runs.check(run_dir, ident):
        return None
    return runs.finished(run_dir, ident, design.spec.workload.epochs)


def measured_estimate(
    design: Design, *, run_dir=None, progress=None, should_stop=None, retrain: bool = False
) -> tuple[Estimate, dict]:
    """Estimate from a training run's exact counts (reusing this run's finished result when its
    folder has one; a folder of another run is refused).

    Returns:
        (estimate, the run's result record as in result.json)
    """
    from cimest.engine import runs

    require_training_workload(design)
    ident = design_identity(design)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(design, identity=ident)
    epochs = design.spec.workload.epochs
    record = None if retrain else cached_result(design, run_dir, identity=ident)
    if record is None:
        with runs.writing(run_dir, ident):
            # Why look again: another process may have finished the run before we took the lock.
            record = None if retrain else runs.finished(run_dir, ident, epochs)
            if record is None:
                _, record = _train_in(
                    design, ident, run_dir, resume=True, progress=progress, should_stop=should_stop
                )
    counts = EventCounts.from_dict(record["counts"])
    est = estimate_design(
        design, counts, accuracy=record["accuracy"], accuracy_float=record.get("accuracy_float")
    )
    return est, record
