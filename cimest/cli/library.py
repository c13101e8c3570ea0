"""`cimest library list` and `cimest library show`: device libraries, every number with its source."""

from __future__ import annotations

import difflib

from cimest.cli.common import Table, say
from cimest.errors import CimestError
from cimest.units import format_si


def library_list(args) -> int:
    from cimest.spec import load_library
    from cimest.spec.libraries import available_libraries, default_search_path

    table = Table(("library", "<"), ("node", ">"), ("entries", ">"), ("kinds", "<"), indent=0)
    for name, path in available_libraries(default_search_path()).items():
        lib = load_library(path).spec
        kinds = sorted({e.kind for e in lib.entries})
        table.row(name, f"{lib.node_nm:g} nm", len(lib.entries), ", ".join(kinds))
    table.print()
    return 0


def library_show(args) -> int:
    from cimest.report.model import fmt_area_um2, fmt_energy, fmt_quantity, fmt_time
    from cimest.spec import load_library
    from cimest.spec.libraries import available_libraries, default_search_path

    found = available_libraries(default_search_path())
    if args.name not in found:
        raise CimestError(f"no library '{args.name}'. Available: {', '.join(found)}")
    lib = load_library(found[args.name]).spec
    kinds = sorted({e.kind for e in lib.entries})
    if args.kind and args.kind not in kinds:
        guess = difflib.get_close_matches(args.kind, kinds, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else "."
        raise CimestError(
            f"--kind {args.kind}: library {lib.name} has no such kind{hint} "
            f"It has: {', '.join(kinds)}"
        )
    say(
        f"{lib.name}: {lib.description}  (node {lib.node_nm:g} nm, {lib.vdd_v:g} V; {found[args.name]})"
    )
    entries = [e for e in lib.entries if not args.kind or e.kind == args.kind]
    table = Table(
        ("entry", "<"),
        ("node", ">"),
        ("conf.", "<"),
        ("action", "<"),
        ("energy", ">"),
        ("latency", ">"),
        ("area", ">"),
        ("source", "<"),
    )
    for e in entries:
        name = (
            f"{e.kind}/{e.variant}"
            + (f" {e.bits}b" if e.bits else "")
            + (" (default)" if e.default else "")
        )
        area = (
            fmt_area_um2(e.area_m2)
            if e.area_m2
            else fmt_quantity(e.area_f2, "F^2")
            if e.area_f2
            else ""
        )
        first = (name, f"{e.node_nm or lib.node_nm:g} nm", e.confidence)
        actions = list(e.actions.items()) or [("", None)]
        for i, (action, cost) in enumerate(actions):
            energy = (fmt_energy(cost.energy_j), fmt_time(cost.latency_s)) if cost else ("", "")
            table.row(
                *(first if i == 0 else ("", "", "")),
                action,
                *energy,
                area if i == 0 else "",
                e.source if i == 0 else "",
            )
        if e.leakage_source:
            table.row("", "", "", "leakage", format_si(e.leakage_w, "W"), "", "", e.leakage_source)
        if e.model_spread:
            table.row(
                "",
                "",
                "",
                "differs >3x",
                "",
                "",
                "",
                f"from {', '.join(e.model_spread.variants)}: {e.model_spread.note}",
            )
    table.print()
    for e in entries:
        if not e.device:
            continue
        d = e.device
        if e.datasheet:
            ds = e.datasheet
            say(
                f"  {e.kind}/{e.variant} datasheet: {ds.levels} levels, R_on {ds.r_on_ohm:g} Ohm, "
                f"on/off {ds.on_off_ratio:g}, NL {ds.nonlinearity_p}/{ds.nonlinearity_d}, "
                f"c2c {ds.c2c_sigma:g}"
            )
        derived = " (derived from the datasheet)" if e.datasheet else ""
        say(
            f"  {e.kind}/{e.variant} device{derived}: G {d.g_min_s:.4g}..{d.g_max_s:.4g} S, "
            f"Vread {d.v_read_v:g} V, Np/Nd {d.n_p}/{d.n_d}, alpha {d.alpha_p:.4g}/{d.alpha_d:.4g}, "
            f"gamma {d.gamma_p:.4g}/{d.gamma_d:.4g}, {d.weight_mode}"
            + (f", endurance {d.endurance_cycles:.3g} pulses" if d.endurance_cycles else "")
        )
    return 0
