"""The unit of work a sweep hands to an executor: count one training group.

Room: sweep. ``count_group`` is a top-level function of plain data in and plain data out, so the
same call runs in this process, in a ``ProcessPoolExecutor`` worker or on a Dask worker. It
trains the group's first point (resuming from its run folder's checkpoint) or, for analytic
sweeps, counts it from layer shapes; it never costs anything.
"""

from __future__ import annotations

from pathlib import Path

from cimest.errors import CimestError


def count_group(task: dict) -> dict:
    """Counts (and accuracy) of one training group.

    Args:
        task: ``data`` (architecture data of the group's first point), ``file`` (its name for
            messages), ``search_path`` (absolute library folders), ``run_dir`` (absolute),
            ``analytic`` (count from shapes instead of training), ``label`` (for messages).

    Returns:
        ``{"counts": EventCounts.to_dict(), "accuracy", "accuracy_history", "epochs", "seed"}``.

    Raises:
        CimestError: the run failed; the message names the point.
    """
    from cimest.api import bind_design, cached_result, train_design
    from cimest.graph.analytic import count_analytic
    from cimest.spec import validate_architecture_data

    try:
        loaded = validate_architecture_data(task["data"], {}, task["file"])
        design = bind_design(loaded, [Path(p) for p in task["search_path"]])
        wl = design.spec.workload
        if task["analytic"]:
            counts = count_analytic(design.graph)
            return {
                "counts": counts.to_dict(),
                "accuracy": None,
                "accuracy_history": [],
                "epochs": None,
                "seed": wl.seed,
            }
        record = cached_result(design, task["run_dir"])
        if record is None:
            record = train_design(design, run_dir=task["run_dir"], resume=True).to_dict()
        return {
            "counts": record["counts"],
            "accuracy": record["accuracy"],
            "accuracy_history": record["accuracy_history"],
            "epochs": record["epochs"],
            "seed": record["seed"],
        }
    except CimestError as err:
        # Why: re-raised as a plain CimestError so it pickles back from any worker (SpecError's
        # constructor takes a problem list, which exception pickling does not restore).
        raise CimestError(
            "\n".join(f"point {task['label']}: {m}" for m in err.messages())
        ) from None
