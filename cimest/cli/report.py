"""`cimest report` and `cimest compare`: HTML reports of designs side by side (and of sweeps)."""

from __future__ import annotations

from pathlib import Path

from cimest.cli.common import Table, err, say, stop_on_ctrl_c, train_progress
from cimest.errors import CimestError


def _report_designs(files, analytic: bool, run_dir_root):
    """Load every design and estimate it: measured (train or reuse runs/) unless ``analytic`` or
    the workload is inference (nothing to train: analytic counts)."""
    from cimest.api import estimate_design, load_design, measured_estimate
    from cimest.report import design_from

    designs = [load_design(f) for f in files]  # validate all before training any
    out = []
    for d in designs:
        if analytic or d.spec.workload.mode == "inference":
            if not analytic:
                err(f"{d.spec.name}: inference workload, analytic counts")
            n_train = None
            try:
                from cimest.engine.datasets import load_dataset

                wl = d.spec.workload
                n_train = len(load_dataset(wl.dataset).x_train)
                if wl.max_train_samples:
                    n_train = min(n_train, wl.max_train_samples)
            except CimestError:
                pass  # energy per epoch shows n/a
            out.append(design_from(d, estimate_design(d), None, n_train))
            continue
        run_dir = None
        if run_dir_root:
            from cimest.api import default_run_dir

            run_dir = Path(run_dir_root) / default_run_dir(d).name
        err(f"{d.spec.name}: measured counts (training, or reusing a finished run)")
        with stop_on_ctrl_c() as stop, train_progress() as progress:
            est, record = measured_estimate(d, run_dir=run_dir, progress=progress, should_stop=stop)
        out.append(design_from(d, est, record))
    return out


def _print_comparison(designs) -> None:
    """The first design against each other one: every KPI, and which is better by what factor."""
    from cimest.report.model import KPIS, verdict

    a = designs[0]
    for b in designs[1:]:
        if a.inference != b.inference:
            say(
                f"  note: {(a if a.inference else b).name} is an inference workload and "
                f"{(b if a.inference else a).name} a training one; per-sample figures compare "
                "one inference with one training sample"
            )
        table = Table(("", "<"), (a.name, ">"), (b.name, ">"), ("better", "<"))
        for k in KPIS:
            table.row(k.label, k.fmt(k.value(a)), k.fmt(k.value(b)), verdict(k, a, b))
        table.print()


def _report(args, compare: bool) -> int:
    from cimest.report import write_exports, write_report

    files = args.files
    if not compare and len(files) == 1 and Path(files[0]).is_dir():
        from cimest.sweep import write_pareto_report

        write_pareto_report(files[0], args.output)
        say(f"wrote {args.output} (Pareto view of the sweep in {files[0]})")
        return 0
    if compare and len(files) != 2:
        raise CimestError(f"compare takes two architecture files, got {len(files)}")
    if Path(args.output).is_dir():  # before any training, not after
        raise CimestError(f"-o {args.output}: is a directory; give the HTML file to write")
    designs = _report_designs(files, args.analytic, args.run_dir)
    names = [d.name for d in designs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        err(
            f"note: {names.count(name)} designs are named '{name}'; give each its own name: to "
            "tell them apart in the report"
        )
    write_report(args.output, designs)
    write_exports(designs, args.json, args.csv)
    say(f"wrote {args.output}" + "".join(f", {p}" for p in (args.json, args.csv) if p))
    if len(designs) > 1:
        _print_comparison(designs)
    return 0


def report(args) -> int:
    return _report(args, compare=False)


def compare(args) -> int:
    return _report(args, compare=True)
