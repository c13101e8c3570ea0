"""`cimest sweep`: a design-space sweep, resumable, and the Pareto front of its results."""

from __future__ import annotations

import shlex
from pathlib import Path

from cimest.cli.common import Table, err, say, sweep_progress
from cimest.errors import CimestError

# The KPIs (report.model.KPIS keys) shown for each Pareto-optimal point, in this order.
PARETO_COLUMNS = ("energy_per_mac_j", "area_m2", "accuracy")


def sweep(args) -> int:
    from cimest.report.model import KPIS
    from cimest.sweep import ResultStore, build_grid, default_objectives, pareto_front, run_sweep

    if args.workers > 1 and args.scheduler:
        raise CimestError("give --workers or --scheduler, not both")
    if args.seed is not None and args.sample is None:
        raise CimestError("--seed picks the --sample points; give --sample random:N with it")
    grid = build_grid(args.file, args.vary, sample=args.sample, seed=args.seed or 0)
    words = [args.file, *(f"--vary={v}" for v in args.vary), "-o", args.output]
    words += ["--sample", args.sample, "--seed", str(args.seed or 0)] if args.sample else []
    words += ["--analytic"] if args.analytic else []
    command = "cimest sweep " + " ".join(shlex.quote(w) for w in words)  # as typed
    analytic = args.analytic
    if not analytic and all(p.loaded.spec.workload.mode == "inference" for p in grid.points):
        err("inference workload: analytic counts (nothing to train)")
        analytic = True
    with sweep_progress() as progress:
        s = run_sweep(
            grid,
            args.output,
            analytic=analytic,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=progress,
            command=command,
        )
    groups = "count groups" if analytic else "training groups"
    say(
        f"{s.n_points} points ({s.n_skipped} done before, {s.n_costed} costed now); "
        f"{s.n_groups} {groups} ({s.n_counted} {'counted' if analytic else 'trained'} now)"
    )
    records = list(ResultStore(s.store_dir).records().values())
    objectives = default_objectives(records)
    front = pareto_front(records, objectives)
    say(f"Pareto-optimal ({', '.join(f'{k} {d}' for k, d in objectives)}): {len(front)} points")
    kpis = [next(k for k in KPIS if k.key == key) for key in PARETO_COLUMNS]
    table = Table(*((k.label, ">") for k in kpis), ("parameters", "<"))
    for r in sorted(front, key=lambda r: r["energy_per_mac_j"] or 0.0):
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        table.row(*(k.fmt(r.get(k.key)) for k in kpis), params)
    table.print()
    say(f"results: {Path(s.store_dir) / 'points.jsonl'}")
    return 0
