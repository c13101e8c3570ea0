"""JSON and CSV exports of a report: the same numbers the page shows. Room: report."""

from __future__ import annotations

import csv
import io
import os

from cimest.output import to_json, write_atomic
from cimest.report.model import KPIS, ReportDesign

CSV_HEADER = [
    "design",
    "layer",
    "phase",
    "component",
    "kind",
    "variant",
    "action",
    "count_per_sample",
    "energy_j_per_sample",
    "energy_j_per_mac",
]


def report_records(designs: list[ReportDesign]) -> list[dict]:
    """Per design: ``Estimate.to_dict()`` plus the report's KPIs and the training record."""
    out = []
    for d in designs:
        rec = d.estimate.to_dict()
        rec["path"] = d.path
        rec["description"] = d.description
        rec["n_train_samples"] = d.n_train_samples
        rec["energy_per_epoch_j"] = d.energy_per_epoch_j
        rec["kpis"] = {k.key: k.value(d) for k in KPIS}
        rec["layers"] = d.layers
        rec["training"] = d.training
        out.append(rec)
    return out


def breakdown_csv(designs: list[ReportDesign]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for d in designs:
        macs = d.total_macs or 1
        for r in d.estimate.breakdown:
            w.writerow(
                [
                    d.name,
                    r.layer,
                    r.phase,
                    r.component,
                    r.kind,
                    r.variant,
                    r.action,
                    repr(r.count),
                    repr(r.energy_j),
                    repr(r.energy_j / macs),
                ]
            )
    return buf.getvalue()


def write_exports(
    designs: list[ReportDesign],
    json_path: str | os.PathLike | None = None,
    csv_path: str | os.PathLike | None = None,
) -> None:
    if json_path:
        write_atomic(json_path, to_json(report_records(designs)))
    if csv_path:
        write_atomic(csv_path, breakdown_csv(designs))
