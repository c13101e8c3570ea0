"""The `cimest` command. Turns user errors into one message per problem and exit status 2.

Internal errors (bugs) exit with status 1 and a short message; ``--debug`` shows the traceback.
Ctrl-C exits with status 130 after the command has saved what it can.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import sys
import traceback
from pathlib import Path

from cimest import __version__
from cimest.errors import CimestError
from cimest.units import format_si


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _progress_printer(stream=None):
    """A progress callback drawing one status line on stderr (only on a terminal, else per line)."""
    import time

    stream = stream or sys.stderr
    tty = stream.isatty()
    last = [0.0]

    def show(text: str, done: bool = False) -> None:
        now = time.monotonic()
        if tty and (done or now - last[0] > 0.1):
            stream.write("\r\033[K" + text + ("\n" if done else ""))
            last[0] = now
        elif not tty and done:
            stream.write(text + "\n")
        stream.flush()

    return show


class _stop_on_ctrl_c:
    """Turn the first Ctrl-C into a polite stop request (the engine checkpoints and raises
    Interrupted); a second Ctrl-C interrupts at once."""

    def __enter__(self):
        import signal

        self.requested = False
        self._old = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            self._old = None
        return lambda: self.requested

    def __exit__(self, *exc):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _train_progress():
    show = _progress_printer()

    def on(p) -> None:
        acc = f"{p.accuracy * 100:5.1f} %" if p.accuracy is not None else "   -   "
        loss = f"{p.loss:.4f}" if p.loss is not None else "-"
        width = 24
        filled = int(width * p.batch / max(p.batches, 1))
        bar = "#" * filled + "." * (width - filled)
        text = (f"epoch {p.epoch}/{p.epochs} [{bar}] acc {acc} loss {loss} "
                f"{p.samples_per_s:,.0f} samples/s {p.events_per_s / 1e6:,.1f} M events/s")
        show(text, done=p.epoch_done)

    return on


# --- commands -------------------------------------------------------------------------------


def _looks_like_library(path: str) -> bool:
    """A top-level ``entries:`` and no ``workload:``: a device library, not an architecture."""
    import re

    try:
        head = Path(path).read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return False
    return bool(re.search(r"^entries\s*:", head, re.M)) and not re.search(r"^workload\s*:", head, re.M)


def cmd_validate(args) -> int:
    from cimest.api import load_design
    from cimest.spec import load_library

    failed = False
    for f in args.files:
        try:
            if _looks_like_library(f):
                lib = load_library(f).spec
                print(f"{f}: OK (device library {lib.name}, {len(lib.entries)} entries)")
                continue
            load_design(f)
            print(f"{f}: OK")
        except CimestError as err:
            failed = True
            for m in err.messages():
                _err(m)
    return 2 if failed else 0


def cmd_graph(args) -> int:
    from cimest.api import load_design

    d = load_design(args.file)
    g = d.graph
    s = d.spec
    print(f"{s.name}: {len(g.layers)} layers, {g.n_tiles} tiles of {s.crossbar.rows}x{s.crossbar.cols} "
          f"({s.crossbar.weight_encoding})")
    for lm in g.layers:
        print(f"  {lm.name}: {lm.n_in} x {lm.n_out} -> {lm.row_tiles} x {lm.col_tiles} tiles "
              f"({lm.n_tiles}), {lm.n_devices:,} weight devices")
        for (layer, role), c in g.components.items():
            if layer == lm.name:
                variant = d.priced[(layer, role)].variant
                bits = f" {c.bits}b" if c.bits and c.kind in ("adc", "dac", "sram_buffer") else ""
                count = f"{c.count:,}"
                if c.kind == "sram_buffer" and c.bits:  # instances are bit cells
                    count = f"{c.count:,} bit cells ({c.count // c.bits:,} x {c.bits}b words)"
                print(f"    {role:<26} {c.kind:<14} {variant:<16}{bits:>5} x {count}")
    for fb in g.feedback:
        print(f"  {fb.name}: feedback {fb.n_in} x {fb.n_out} -> {fb.n_tiles} tiles")
    if args.graphml:
        import networkx as nx

        from cimest.output import write_atomic

        buf = io.BytesIO()
        nx.write_graphml(g.graph, buf)
        write_atomic(args.graphml, buf.getvalue())
        print(f"wrote {args.graphml}")
    return 0


def _summary(est, file=None) -> None:
    p = lambda *a: print(*a, file=file or sys.stdout)  # noqa: E731
    acc = f"{est.accuracy * 100:.2f} %" if est.accuracy is not None else "not trained"
    p(f"{est.name}  ({est.mode}, {est.counts_source} counts)")
    p(f"  energy per MAC        {format_si(est.energy_per_mac_j, 'J')}")
    p(f"  TOPS/W                {est.tops_per_w:.4g}")
    p(f"  area                  {est.area_m2 * 1e6:.4g} mm²")
    p(f"  TOPS/mm²              {est.tops_per_mm2:.4g}")
    p(f"  energy per sample     {format_si(est.energy_per_sample_j, 'J')}")
    static = sum(r.energy_j for r in est.breakdown if r.phase == "static")
    p(f"  leakage power         {format_si(est.leakage_w, 'W')} ({format_si(static, 'J')} per sample)")
    p(f"  latency per sample    {format_si(est.latency_per_sample_s, 's')}")
    p(f"  throughput            {est.throughput_samples_per_s:.4g} samples/s")
    p(f"  accuracy              {acc}")
    inf = est.extra.get("inference")
    if inf:
        p(f"  one inference         {format_si(inf['energy_per_inference_j'], 'J')}, "
          f"{format_si(inf['energy_per_mac_j'], 'J')}/MAC, {inf['tops_per_w']:.4g} TOPS/W (analytic)")
    p("  energy per MAC by phase: " + ", ".join(
        f"{ph} {format_si(v, 'J')}" for ph, v in est.energy_per_mac_by_phase_j.items()))
    p("  top energy consumers (per sample):")
    total = est.energy_per_sample_j or 1.0
    for name, e in est.top_consumers(8):
        p(f"    {name:<32} {format_si(e, 'J'):>10}  {100 * e / total:5.1f} %")


def _write_outputs(est_list, json_path, csv_path) -> None:
    from cimest.output import write_atomic, write_json

    if json_path:
        data = est_list[0].to_dict() if len(est_list) == 1 else [e.to_dict() for e in est_list]
        write_json(json_path, data)
    if csv_path:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["design", "layer", "phase", "component", "kind", "variant", "action",
                    "count_per_sample", "energy_j_per_sample"])
        for est in est_list:
            for r in est.breakdown:
                w.writerow([est.name, r.layer, r.phase, r.component, r.kind, r.variant, r.action,
                            repr(r.count), repr(r.energy_j)])
        write_atomic(csv_path, buf.getvalue())


def cmd_estimate(args) -> int:
    from cimest.api import estimate_design, load_design

    d = load_design(args.file)
    if args.measured:
        from cimest.api import measured_estimate

        with _stop_on_ctrl_c() as stop:
            est, _ = measured_estimate(d, progress=_train_progress(), run_dir=args.run_dir,
                                       should_stop=stop)
    else:
        est = estimate_design(d)
    _summary(est)
    _write_outputs([est], args.json, args.csv)
    return 0


def cmd_train(args) -> int:
    from cimest.api import default_run_dir, load_design, train_design
    from cimest.output import write_json

    d = load_design(args.file)
    run_dir = args.run_dir or default_run_dir(d, args.seed)
    with _stop_on_ctrl_c() as stop:
        from cimest.engine.train import Interrupted

        try:
            r = train_design(d, epochs=args.epochs, seed=args.seed, run_dir=run_dir,
                             resume=args.resume, progress=_train_progress(), should_stop=stop)
        except Interrupted as err:
            _err(str(err))
            return 130
    print(f"{r.name}: {r.rule}, {r.epochs} epochs, seed {r.seed}: accuracy {r.accuracy * 100:.2f} %")
    print("  accuracy per epoch: " + " ".join(f"{a * 100:.1f}" for a in r.accuracy_history))
    print(f"  events counted: {sum(r.counts.counts.values()):,.0f} over {r.counts.n_samples:,} samples")
    w = r.wear.get("most_written")
    if w and w.get("pulses"):
        life = r.wear.get("lifetime_epochs")
        life_s = f", lifetime {life:,.0f} epochs at this rate" if life else ""
        print(f"  most-written device: {w['layer']} row {w['row']} col {w['col']} ({w['device']}): "
              f"{w['pulses']} pulses{life_s}")
    elif w is not None:
        print("  no device was programmed (no accumulator reached the update threshold)")
    if r.activity:
        print("  measured activity (for analytic estimates: workload: activity: per_layer:)")
        for layer, f in r.activity.items():
            print(f"    {layer}: {{" + ", ".join(f"{k}: {v:.4g}" for k, v in f.items()) + "}")
    print(f"  run folder: {run_dir} (result.json, checkpoint.npz)")
    if args.json:
        write_json(args.json, r.to_dict())
    return 0


def cmd_library(args) -> int:
    from cimest.spec import load_library
    from cimest.spec.libraries import available_libraries, default_search_path

    found = available_libraries(default_search_path())
    if args.action == "list":
        for name, path in found.items():
            lib = load_library(path).spec
            kinds = sorted({e.kind for e in lib.entries})
            node = f"{lib.node_nm:g} nm"
            print(f"{name:<24} {node:>7}  {len(lib.entries):3d} entries  {', '.join(kinds)}")
        return 0
    if args.name not in found:
        raise CimestError(f"no library '{args.name}'. Available: {', '.join(found)}")
    lib = load_library(found[args.name]).spec
    kinds = sorted({e.kind for e in lib.entries})
    if args.kind and args.kind not in kinds:
        guess = difflib.get_close_matches(args.kind, kinds, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else "."
        raise CimestError(f"--kind {args.kind}: library {lib.name} has no such kind{hint} "
                          f"It has: {', '.join(kinds)}")
    print(f"{lib.name}: {lib.description}  (node {lib.node_nm:g} nm, {lib.vdd_v:g} V; {found[args.name]})")
    for e in lib.entries:
        if args.kind and e.kind != args.kind:
            continue
        node = e.node_nm or lib.node_nm
        bits = f" {e.bits}b" if e.bits else ""
        default = " (default)" if e.default else ""
        print(f"  {e.kind}/{e.variant}{bits}{default} @ {node:g} nm [{e.confidence}]  {e.source}")
        for action, cost in e.actions.items():
            print(f"      {action:<12} {format_si(cost.energy_j, 'J'):>10}  {format_si(cost.latency_s, 's'):>8}")
        if e.area_m2:
            print(f"      area         {e.area_m2 * 1e12:.4g} µm²")
        if e.area_f2:
            print(f"      area         {e.area_f2:g} F²")
        if e.leakage_source:
            print(f"      leakage      {format_si(e.leakage_w, 'W')}  {e.leakage_source}")
        if e.model_spread:
            print(f"      differs >3x  from {', '.join(e.model_spread.variants)}: {e.model_spread.note}")
        if e.device:
            d = e.device
            if e.datasheet:
                ds = e.datasheet
                print(f"      datasheet    {ds.levels} levels, R_on {ds.r_on_ohm:g} Ohm, on/off "
                      f"{ds.on_off_ratio:g}, NL {ds.nonlinearity_p}/{ds.nonlinearity_d}, c2c {ds.c2c_sigma:g}"
                      " -> derived device:")
            print(f"      device       G {d.g_min_s:.4g}..{d.g_max_s:.4g} S, Vread {d.v_read_v:g} V, "
                  f"Np/Nd {d.n_p}/{d.n_d}, alpha {d.alpha_p:.4g}/{d.alpha_d:.4g}, "
                  f"gamma {d.gamma_p:.4g}/{d.gamma_d:.4g}, {d.weight_mode}"
                  + (f", endurance {d.endurance_cycles:.3g} pulses" if d.endurance_cycles else ""))
    return 0


# --- parser ---------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if not 1 <= v <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < 0 or v > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {v}")
    return v



def _path(text: str) -> str:
    """An output or run path given on the command line: refused when empty, instead of silently
    writing nothing (``--json ''``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return text


def _name(text: str) -> str:
    """A name given on the command line: letters, digits, '_', '-' and '.', not empty."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a name; use letters, digits, _, - or .")
    return text


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="cimest",
        description="Estimate energy, area, latency and accuracy of compute-in-memory chips that train in situ.",
    )
    ap.add_argument("--version", action="version", version=f"cimest {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check architecture files and their libraries")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("graph", help="print the component graph of an architecture")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--graphml", metavar="PATH", type=_path, help="also write the graph as GraphML")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("estimate", help="energy, area, latency of an architecture")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", metavar="PATH", type=_path, help="write the results as JSON")
    p.add_argument("--csv", metavar="PATH", type=_path, help="write the energy breakdown as CSV")
    p.add_argument("--measured", action="store_true",
                   help="train the workload and cost the engine's exact counts")
    p.add_argument("--run-dir", metavar="DIR", type=_path, default=None,
                   help="where training runs are kept (default: runs/<name>-<hash>)")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("train", help="train the workload on the modelled chip, counting every event")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--epochs", type=_positive_int, default=None, help="override workload.epochs")
    p.add_argument("--seed", type=_nonneg_int, default=None, help="override workload.seed")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--run-dir", metavar="DIR", type=_path, default=None,
                   help="checkpoint and result folder (default: runs/<name>-<hash>)")
    p.add_argument("--json", metavar="PATH", type=_path, help="write the training result as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("library", help="browse device libraries")
    lsub = p.add_subparsers(dest="action", metavar="ACTION")
    lsub.required = True
    lsub.add_parser("list", help="list libraries")
    q = lsub.add_parser("show", help="show a library's entries with sources")
    q.add_argument("name")
    q.add_argument("--kind", default=None, help="only entries of this kind")
    p.set_defaults(func=cmd_library)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return ap


# Later commands register here (train, report, compare, sweep, device, calibrate).
_EXTRA_COMMANDS: list = []


# --- report and compare (issue 4) ---------------------------------------------------------------


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
                _err(f"{d.spec.name}: inference workload, analytic counts")
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
        _err(f"{d.spec.name}: measured counts (training, or reusing a finished run)")
        with _stop_on_ctrl_c() as stop:
            from cimest.engine.train import Interrupted

            try:
                est, record = measured_estimate(d, run_dir=run_dir, progress=_train_progress(),
                                                should_stop=stop)
            except Interrupted as err:
                raise KeyboardInterrupt from err
        out.append(design_from(d, est, record))
    return out


def cmd_report(args) -> int:
    from cimest.report import write_exports, write_report

    files = args.files
    if args.command == "report" and len(files) == 1 and Path(files[0]).is_dir():
        from cimest.sweep import write_pareto_report

        write_pareto_report(files[0], args.output)
        print(f"wrote {args.output} (Pareto view of the sweep in {files[0]})")
        return 0
    if args.command == "compare" and len(files) != 2:
        raise CimestError(f"compare takes two architecture files, got {len(files)}")
    if Path(args.output).is_dir():  # before any training, not after
        raise CimestError(f"-o {args.output}: is a directory; give the HTML file to write")
    designs = _report_designs(files, args.analytic, args.run_dir)
    names = [d.name for d in designs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        _err(f"note: {names.count(name)} designs are named '{name}'; give each its own name: to "
             "tell them apart in the report")
    write_report(args.output, designs)
    write_exports(designs, args.json, args.csv)
    print(f"wrote {args.output}" + "".join(f", {p}" for p in (args.json, args.csv) if p))
    if len(designs) > 1:
        from cimest.report.model import KPIS, verdict

        a = designs[0]
        for b in designs[1:]:
            if a.inference != b.inference:
                print(f"  note: {(a if a.inference else b).name} is an inference workload and "
                      f"{(b if a.inference else a).name} a training one; per-sample figures compare "
                      "one inference with one training sample")
            print(f"  {'':<26} {a.name[:18]:>18} {b.name[:18]:>18}")
            for k in KPIS:
                print(f"  {k.label:<26} {k.fmt(k.value(a)):>18} {k.fmt(k.value(b)):>18}   "
                      f"better: {verdict(k, a, b)}")
    return 0


cmd_compare = cmd_report


def _register_report(sub) -> None:
    for name, nargs, help_ in (
        ("report", "+", "HTML report of one design, or several side by side (plus JSON/CSV)"),
        ("compare", 2, "HTML comparison of two designs, with the ratio of every figure"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("files", nargs=nargs, metavar="FILE")
        p.add_argument("-o", "--output", metavar="PATH.html", type=_path, required=True, help="the HTML file to write")
        p.add_argument("--json", metavar="PATH", type=_path, help="also write the numbers as JSON")
        p.add_argument("--csv", metavar="PATH", type=_path, help="also write the energy breakdown as CSV")
        p.add_argument("--analytic", action="store_true",
                       help="analytic counts, no training (accuracy n/a); inference workloads always use them")
        p.add_argument("--run-dir", metavar="DIR", type=_path, default=None,
                       help="folder of training runs (default: runs/); one <name>-<hash> per design")
        p.set_defaults(func=cmd_compare if name == "compare" else cmd_report)


_EXTRA_COMMANDS.append(_register_report)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CimestError as err:
        for m in err.messages():
            _err(m)
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # noqa: BLE001 - the one place that turns bugs into exit status 1
        if args.debug:
            traceback.print_exc()
        _err(f"internal error: {type(err).__name__}: {err}")
        if not args.debug:
            _err("this is a bug in cimest; run again with --debug for the traceback and report it")
        return 1


# --- sweep (issue 6) ----------------------------------------------------------------------------


def cmd_sweep(args) -> int:
    import shlex

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
        _err("inference workload: analytic counts (nothing to train)")
        analytic = True
    show = _progress_printer()

    def progress(done: int, total: int, note: str) -> None:
        show(f"sweep: {done}/{total} points  {note}"[:160], done=done == total)

    s = run_sweep(grid, args.output, analytic=analytic, workers=args.workers,
                  scheduler=args.scheduler, progress=progress, command=command)
    groups = "count groups" if analytic else "training groups"
    print(f"{s.n_points} points ({s.n_skipped} done before, {s.n_costed} costed now); "
          f"{s.n_groups} {groups} ({s.n_counted} {'counted' if analytic else 'trained'} now)")
    records = list(ResultStore(s.store_dir).records().values())
    objectives = default_objectives(records)
    front = pareto_front(records, objectives)
    print(f"Pareto-optimal ({', '.join(f'{k} {d}' for k, d in objectives)}): {len(front)} points")
    for r in sorted(front, key=lambda r: r["energy_per_mac_j"] or 0.0):
        acc = f"{r['accuracy'] * 100:6.2f} %" if r["accuracy"] is not None else "   n/a  "
        e = format_si(r["energy_per_mac_j"], "J/MAC") if r["energy_per_mac_j"] is not None else "n/a"
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        print(f"  {e:>14}  {r['area_m2'] * 1e6:10.4g} mm²  {acc}  {params}")
    print(f"results: {Path(s.store_dir) / 'points.jsonl'}")
    return 0


def _register_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="sweep design parameters; resumable; Pareto front of the results")
    p.add_argument("file", metavar="FILE", help="the base architecture YAML")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a dotted key of the YAML and its values (repeatable), "
                        "e.g. crossbar.rows=64,128 or technology.node_nm=22,32")
    p.add_argument("--sample", metavar="random:N", default=None,
                   help="run N distinct points of the grid chosen at random (default: all)")
    p.add_argument("--seed", type=_nonneg_int, default=None, help="seed of --sample (default 0)")
    p.add_argument("-o", "--output", metavar="DIR", type=_path, required=True,
                   help="result folder; running the same command again resumes it")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="local processes for training (default 1: in this process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="run training on this Dask scheduler (needs pip install cimest[dask])")
    p.add_argument("--analytic", action="store_true",
                   help="analytic counts instead of training (no accuracy)")
    p.set_defaults(func=cmd_sweep)


_EXTRA_COMMANDS.append(_register_sweep)


# --- device fit and calibrate (issue 5) ---------------------------------------------------------


def cmd_device_fit(args) -> int:
    import re

    import yaml

    from cimest.devices.datasheet import fit_csv, fit_error_text, library_from_fits
    from cimest.output import write_atomic
    from cimest.spec import load_library

    csv_path = Path(args.data)
    name = args.name or re.sub(r"[^A-Za-z0-9_]+", "_", csv_path.stem).strip("_") or "fitted_cell"
    out = Path(args.output) if args.output else Path(f"{name}.yaml")
    fits = fit_csv(csv_path)
    doc = library_from_fits(fits, library=out.stem, variant=name,
                            source=f"{csv_path}, fitted by cimest device fit")
    header = (f"# Cell fitted to {csv_path} by cimest device fit (pulse-response model of Li et al., arXiv:2304.12866).\n"
              "# Read and write voltages/widths are placeholders: replace them with the device's.\n")
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    write_atomic(out, text)
    load_library(out)  # what was written must load (a bug otherwise, not a user error)
    print(f"fit error: {fit_error_text(fits)}")
    print(f"wrote {out}: library {out.stem}, cell {name} "
          f"(use it with libraries: [{out.stem}, ...] and crossbar.cell: {name})")
    return 0


def cmd_calibrate(args) -> int:
    from cimest.api import load_design
    from cimest.costs.calibrate import MeasuredBreakdownSpec, calibrated_text, fit_calibration
    from cimest.output import write_atomic
    from cimest.spec import parse_architecture
    from cimest.spec.validate import validate_model
    from cimest.spec.yamlio import parse_yaml, read_text

    d = load_design(args.file)
    name, text = read_text(args.measured)
    data, lines = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise CimestError(f"{name}:1: expected a mapping with energy_pj (and area_um2) by component kind")
    measured = validate_model(MeasuredBreakdownSpec, data, lines, name)
    if not measured.energy_j and not measured.area_m2:
        raise CimestError(f"{name}:1: nothing to fit: give energy_pj (and/or area_um2) by component kind")
    try:
        fit = fit_calibration(d.spec, d.libraries, measured)
    except CimestError as err:  # point at the breakdown's line of each kind it cannot fit
        from cimest.spec.yamlio import line_of

        located = []
        for m in err.messages():
            head, _, rest = m.partition(": ")
            section, _, kind = head.partition(".")
            located.append(f"{name}:{line_of(lines, (section, kind))}: {m}" if kind else m)
        raise CimestError("\n".join(located)) from None
    _, arch_text = read_text(args.file)
    new_text = calibrated_text(arch_text, fit, d.spec)
    out = args.output or args.file
    check = parse_architecture(new_text, str(out)).spec  # the written file must load
    if check.calibration != {**d.spec.calibration, **fit.calibration}:
        raise RuntimeError("calibration section was not written back as fitted")
    write_atomic(out, new_text)
    unit = "per MAC" if measured.per == "mac" else "per sample"
    print(f"{d.spec.name}: {len(fit.rows)} measured value{'s' if len(fit.rows) != 1 else ''} ({unit})")
    print(f"  {'quantity':<8} {'kind':<14} {'measured':>12} {'before':>12} {'after':>12} {'factor':>10}")
    for r in fit.rows:
        energy = r["quantity"] == "energy"

        def fmt(v: float, energy: bool = energy) -> str:
            return format_si(v, "J") if energy else f"{v * 1e12:.4g} µm²"

        print(f"  {r['quantity']:<8} {r['kind']:<14} {fmt(r['measured']):>12} {fmt(r['model_before']):>12} "
              f"{fmt(r['model_after']):>12} {r['factor']:>10.4g}")
    print(f"  RMS relative error: before {100 * fit.rms_before:.3g} %, after {100 * fit.rms_after:.3g} %")
    far = [f"{r['kind']} x{r['factor']:.3g}" for r in fit.rows if not 0.2 <= r["factor"] <= 5]
    if far:
        print(f"  note: {', '.join(far)} is far from 1; check the breakdown's units and per: "
              f"({measured.per}), and that the model counts the same events (analytic counts with the "
              "file's activity factors)")
    print(f"wrote {out} (calibration: section{'s' if fit.area_calibration else ''} set; other lines unchanged)")
    return 0


def _register_devices(sub) -> None:
    p = sub.add_parser("device", help="user-defined devices: fit measured pulse-response data")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    q = dsub.add_parser("fit", help="fit the pulse-response model to a CSV and write a library with one cell")
    q.add_argument("data", metavar="DATA.csv", help="columns pulse,conductance_s,direction (pot/dep)")
    q.add_argument("--name", default=None, type=_name,
                   help="the cell's variant name (default: the CSV's name)")
    q.add_argument("-o", "--output", metavar="OUT.yaml", type=_path, default=None,
                   help="library file to write (default: NAME.yaml); its name is the library name")
    q.set_defaults(func=cmd_device_fit)

    p = sub.add_parser("calibrate", help="fit per-kind energy/area factors to a measured breakdown")
    p.add_argument("file", metavar="FILE", help="the architecture YAML")
    p.add_argument("--measured", metavar="BREAKDOWN.yaml", required=True,
                   help="per: sample|mac, energy_pj: {kind: value}, optional area_um2: {kind: value}")
    p.add_argument("-o", "--output", metavar="OUT.yaml", type=_path, default=None,
                   help="write the calibrated architecture here (default: rewrite FILE)")
    p.set_defaults(func=cmd_calibrate)


_EXTRA_COMMANDS.append(_register_devices)


if __name__ == "__main__":
    sys.exit(main())
