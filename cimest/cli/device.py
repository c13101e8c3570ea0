"""`cimest device fit` and `cimest calibrate`: fit the model to measurements of a device or a chip."""

from __future__ import annotations

import re
from pathlib import Path

from cimest.cli.common import Table, say
from cimest.errors import CimestError


def device_fit(args) -> int:
    import yaml

    from cimest.devices.datasheet import fit_csv, fit_error_text, library_from_fits
    from cimest.output import write_atomic
    from cimest.spec import load_library

    csv_path = Path(args.data)
    name = args.name or re.sub(r"[^A-Za-z0-9_]+", "_", csv_path.stem).strip("_") or "fitted_cell"
    out = Path(args.output) if args.output else Path(f"{name}.yaml")
    fits = fit_csv(csv_path)
    doc = library_from_fits(
        fits, library=out.stem, variant=name, source=f"{csv_path}, fitted by cimest device fit"
    )
    header = (
        f"# Cell fitted to {csv_path} by cimest device fit (pulse-response model of Li et al., arXiv:2304.12866).\n"
        "# Read and write voltages/widths are placeholders: replace them with the device's.\n"
    )
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    write_atomic(out, text)
    load_library(out)  # what was written must load (a bug otherwise, not a user error)
    say(f"fit error: {fit_error_text(fits)}")
    say(
        f"wrote {out}: library {out.stem}, cell {name} "
        f"(use it with libraries: [{out.stem}, ...] and crossbar.cell: {name})"
    )
    return 0


def calibrate(args) -> int:
    from cimest.api import load_design
    from cimest.costs.calibrate import MeasuredBreakdownSpec, calibrated_text, fit_calibration
    from cimest.output import write_atomic
    from cimest.report.model import fmt_area_um2, fmt_energy, fmt_plain
    from cimest.spec import parse_architecture
    from cimest.spec.validate import validate_model
    from cimest.spec.yamlio import parse_yaml, read_text

    d = load_design(args.file)
    name, text = read_text(args.measured)
    data, lines = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise CimestError(
            f"{name}:1: expected a mapping with energy_pj (and area_um2) by component kind"
        )
    measured = validate_model(MeasuredBreakdownSpec, data, lines, name)
    if not measured.energy_j and not measured.area_m2:
        raise CimestError(
            f"{name}:1: nothing to fit: give energy_pj (and/or area_um2) by component kind"
        )
    try:
        fit = fit_calibration(d.spec, d.libraries, measured)
    except CimestError as error:  # point at the breakdown's line of each kind it cannot fit
        from cimest.spec.yamlio import line_of

        located = []
        for m in error.messages():
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
    say(
        f"{d.spec.name}: {len(fit.rows)} measured value{'s' if len(fit.rows) != 1 else ''} ({unit})"
    )
    table = Table(
        ("quantity", "<"),
        ("kind", "<"),
        ("measured", ">"),
        ("before", ">"),
        ("after", ">"),
        ("factor", ">"),
    )
    for r in fit.rows:
        fmt = fmt_energy if r["quantity"] == "energy" else fmt_area_um2
        table.row(
            r["quantity"],
            r["kind"],
            fmt(r["measured"]),
            fmt(r["model_before"]),
            fmt(r["model_after"]),
            fmt_plain(r["factor"]),
        )
    table.print()
    say(
        f"  RMS relative error: before {100 * fit.rms_before:.3g} %, after {100 * fit.rms_after:.3g} %"
    )
    far = [f"{r['kind']} x{r['factor']:.3g}" for r in fit.rows if not 0.2 <= r["factor"] <= 5]
    if far:
        say(
            f"  note: {', '.join(far)} is far from 1; check the breakdown's units and per: "
            f"({measured.per}), and that the model counts the same events (analytic counts with the "
            "file's activity factors)"
        )
    say(
        f"wrote {out} (calibration: section{'s' if fit.area_calibration else ''} set; other lines unchanged)"
    )
    return 0
