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
from cimest.errors import LibraryError, Problem, SpecError
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
    for role in ("input_driver", "readout", "error_input", "error_readout", "gradient_accumulator",
                 "output_readout"):
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
            problems.append(loaded.problem(path, str(err).replace(f"no {kind} variant", f"no {kind}")))
    if problems:
        raise SpecError(problems)


def bind_design(loaded: Loaded, search_path: list[Path] | None = None,
                libraries: LibrarySet | None = None) -> Design:
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
        libraries = load_library_set(spec.libraries, search_path, arch_file=loaded.path,
                                     line=loaded.line("libraries"))
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


def estimate_design(design: Design, counts: EventCounts | None = None,
                    accuracy: float | None = None, accuracy_float: float | None = None) -> Estimate:
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

            inf_counts = g.count({lm.name: Activity.from_dict(counts.activity[lm.name]) for lm in g.layers},
                                 "inference", counts.source)
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


def default_run_dir(design: Design, seed: int | None = None) -> Path:
    """``runs/<name>-<hash>``: one folder per (architecture, seed), so reruns reuse it."""
    from cimest.engine.checkpoint import fingerprint
    from cimest.engine.train import make_setup

    s = seed if seed is not None else design.spec.workload.seed
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in design.spec.name)[:60]
    return Path("runs") / f"{safe}-{fingerprint(make_setup(design.graph, design.libraries), s)}"


def train_design(design: Design, *, epochs: int | None = None, seed: int | None = None,
                 run_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress=None, should_stop=None, dataset=None):
    """Train the design's workload; keep result.json and conductances.npz in the run folder.

    Returns:
        cimest.engine.train.TrainResult
    """
    import io

    import numpy as np

    from cimest.engine.train import train
    from cimest.output import write_atomic, write_json

    require_training_workload(design)
    if run_dir is None:
        run_dir = default_run_dir(design, seed)
    result = train(design.graph, design.libraries, dataset=dataset, epochs=epochs, seed=seed,
                   run_dir=run_dir, resume=resume, progress=progress, should_stop=should_stop)
    write_json(Path(run_dir) / "result.json", result.to_dict())
    if result.conductances:
        buf = io.BytesIO()
        np.savez_compressed(buf, **result.conductances)
        write_atomic(Path(run_dir) / "conductances.npz", buf.getvalue())
    return result


def require_training_workload(design: Design) -> None:
    """The engine only trains: refuse an inference workload with its file and line.

    Raises:
        SpecError: ``workload.mode`` is ``inference``, or the network does not fit the dataset.
    """
    if design.spec.workload.mode != "train":
        raise SpecError([design.loaded.problem(
            ("workload", "mode"),
            "training (cimest train, estimate --measured) needs a training workload "
            "(mode: train); an inference workload is estimated from analytic counts: "
            "cimest estimate FILE (without --measured), report or sweep")])
    problem = design.spec.workload.dataset_mismatch()
    if problem:
        raise SpecError([design.loaded.problem(("workload", "network"), problem)])


def cached_result(design: Design, run_dir: str | os.PathLike | None = None) -> dict | None:
    """The stored result of a finished run of this design (same epochs), or None."""
    import json

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(design)
    path = run_dir / "result.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("epochs") != design.spec.workload.epochs:
        return None
    # Why: a hand-edited or foreign result.json is treated like a missing one (retrained and
    # rewritten), never allowed to crash the cost model later.
    try:
        counts = EventCounts.from_dict(data["counts"])
        numbers = [*counts.counts.values(), counts.n_samples]
        acc = data["accuracy"]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return None
    if acc is not None and not isinstance(acc, int | float):
        return None
    return data


def measured_estimate(design: Design, *, run_dir=None, progress=None, should_stop=None,
                      retrain: bool = False) -> tuple[Estimate, dict]:
    """Estimate from a training run's exact counts (reusing a finished run when there is one).

    Returns:
        (estimate, the run's result record as in result.json)
    """
    require_training_workload(design)
    record = None if retrain else cached_result(design, run_dir)
    if record is None:
        result = train_design(design, run_dir=run_dir, resume=True, progress=progress,
                              should_stop=should_stop)
        record = result.to_dict()
    counts = EventCounts.from_dict(record["counts"])
    est = estimate_design(design, counts, accuracy=record["accuracy"],
                          accuracy_float=record.get("accuracy_float"))
    return est, record
