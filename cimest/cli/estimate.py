"""`cimest estimate` and `cimest train`: one design's costs, and its training on the modelled chip."""

from __future__ import annotations

from cimest.cli.common import Table, err, say, stop_on_ctrl_c, train_progress


def print_summary(est, training: dict | None = None) -> None:
    """An estimate's KPIs (formatted as the report formats them), its per-phase energy and its
    largest energy consumers."""
    from cimest.report.model import KPIS, ReportDesign, fmt_energy, fmt_energy_per_mac, fmt_plain

    d = ReportDesign(estimate=est, training=training)
    say(f"{est.name}  ({est.mode}, {est.counts_source} counts)")
    for note in est.warnings:
        err(f"note: {note}")
    if not est.priced_hardware:
        acc = f"{est.accuracy * 100:.2f} %" if est.accuracy is not None else "not trained"
        say(f"  no hardware priced (the float reference); accuracy {acc}")
        return
    kpis = Table(("", "<"), ("", "<"), header=False)
    for k in KPIS:
        value = k.value(d)
        if k.key == "accuracy" and value is None:
            kpis.row(k.label, "not trained")
        elif k.shown_for(d) and value is not None:
            kpis.row(k.label, k.fmt(value))
    inf = est.extra.get("inference")
    if inf:
        kpis.row(
            "One inference",
            f"{fmt_energy(inf['energy_per_inference_j'])}, "
            f"{fmt_energy_per_mac(inf['energy_per_mac_j'])}, "
            f"{fmt_plain(inf['tops_per_w'], 'TOPS/W')} ({inf['counts_source']}"
            + (
                f", {inf['samples_per_inference']} samples"
                if inf.get("samples_per_inference", 1) > 1
                else ""
            )
            + ")",
        )
    kpis.row(
        "Energy per MAC by phase",
        ", ".join(
            f"{phase} {fmt_energy_per_mac(v)}" for phase, v in est.energy_per_mac_by_phase_j.items()
        ),
    )
    kpis.print()
    say("Top energy consumers (per sample):")
    top = Table(("component.action", "<"), ("energy", ">"), ("share", ">"))
    total = est.energy_per_sample_j or 1.0
    for name, e in est.top_consumers(8):
        top.row(name, fmt_energy(e), f"{100 * e / total:.1f} %")
    top.print()


def write_outputs(est_list, json_path, csv_path) -> None:
    from cimest.output import write_atomic, write_json

    if json_path:
        data = est_list[0].to_dict() if len(est_list) == 1 else [e.to_dict() for e in est_list]
        write_json(json_path, data)
    if csv_path:
        from cimest.report.export import breakdown_csv
        from cimest.report.model import ReportDesign

        # the report's own breakdown CSV: one format for estimate --csv and report --csv
        write_atomic(csv_path, breakdown_csv([ReportDesign(estimate=est) for est in est_list]))


def estimate(args) -> int:
    from cimest.api import estimate_design, load_design

    d = load_design(args.file)
    record = None
    if args.measured:
        from cimest.api import measured_estimate

        with stop_on_ctrl_c() as stop, train_progress() as progress:
            est, record = measured_estimate(
                d, progress=progress, run_dir=args.run_dir, should_stop=stop
            )
    else:
        est = estimate_design(d)
    print_summary(est, record)
    write_outputs([est], args.json, args.csv)
    return 0


def train(args) -> int:
    from cimest.api import default_run_dir, load_design, train_design
    from cimest.output import write_json
    from cimest.report.model import fmt_accuracy

    d = load_design(args.file)
    run_dir = args.run_dir or default_run_dir(d, args.seed)
    with stop_on_ctrl_c() as stop, train_progress() as progress:
        r = train_design(
            d,
            epochs=args.epochs,
            seed=args.seed,
            run_dir=run_dir,
            resume=args.resume,
            progress=progress,
            should_stop=stop,
        )
    say(
        f"{r.name}: {r.rule}, {r.epochs} epochs, seed {r.seed}: accuracy {fmt_accuracy(r.accuracy)} "
        f"through the modelled chip, {fmt_accuracy(r.accuracy_float)} with float weights"
    )
    say("  accuracy per epoch: " + " ".join(f"{a * 100:.1f}" for a in r.accuracy_history))
    say(
        f"  events counted: {sum(r.counts.counts.values()):,.0f} over {r.counts.n_samples:,} samples"
    )
    w = r.wear.get("most_written")
    if w and w.get("pulses"):
        life = r.wear.get("lifetime_epochs")
        life_s = f", lifetime {life:,.0f} epochs at this rate" if life else ""
        say(
            f"  most-written device: {w['layer']} row {w['row']} col {w['col']} ({w['device']}): "
            f"{w['pulses']} pulses{life_s}"
        )
    elif w is not None:
        say("  no device was programmed (no accumulator reached the update threshold)")
    if r.activity:
        # YAML, not a table: these lines paste into workload: activity: per_layer:
        say("  measured activity (for analytic estimates: workload: activity: per_layer:)")
        for layer, f in r.activity.items():
            say(f"    {layer}: {{" + ", ".join(f"{k}: {v:.4g}" for k, v in f.items()) + "}")
    say(f"  run folder: {run_dir} (result.json, checkpoint.npz)")
    if args.json:
        write_json(args.json, r.to_dict())
    return 0
