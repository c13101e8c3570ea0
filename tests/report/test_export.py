"""JSON and CSV exports carry the page's numbers; the CLI commands write all three."""

from __future__ import annotations

import csv
import io
import json

from cimest.cli import main
from cimest.report import render_report, write_exports
from cimest.report.model import KPIS


def test_json_and_csv_match_the_estimates(measured_pair, tmp_path):
    write_exports(measured_pair, tmp_path / "r.json", tmp_path / "r.csv")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in data] == [d.name for d in measured_pair]
    html = render_report(measured_pair)
    for rec, d in zip(data, measured_pair, strict=True):
        assert rec["energy_per_mac_j"] == d.estimate.energy_per_mac_j
        assert rec["training"]["accuracy_history"] == d.training["accuracy_history"]
        for k in KPIS:
            assert rec["kpis"][k.key] == k.value(d)
            assert k.fmt(rec["kpis"][k.key]) in html  # the page shows the exported number
        assert len(rec["breakdown"]) == len(d.estimate.breakdown)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    want = [(d.name, r) for d in measured_pair for r in d.estimate.breakdown]
    assert len(rows) == len(want)
    for row, (name, r) in zip(rows, want, strict=True):
        assert (row["design"], row["layer"], row["phase"], row["component"], row["action"]) == (
            name,
            r.layer,
            r.phase,
            r.component,
            r.action,
        )
        assert float(row["energy_j_per_sample"]) == r.energy_j
        assert float(row["count_per_sample"]) == r.count


def test_cli_compare_analytic(arch_pair, tmp_path, capsys):
    out = tmp_path / "cmp.html"
    rc = main(
        [
            "compare",
            *map(str, arch_pair),
            "-o",
            str(out),
            "--analytic",
            "--json",
            str(tmp_path / "c.json"),
            "--csv",
            str(tmp_path / "c.csv"),
        ]
    )
    assert rc == 0
    html = out.read_text(encoding="utf-8")
    assert "id='comparison'" in html and "analytic counts: not trained" in html
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert [r["counts_source"] for r in data] == ["analytic", "analytic"]
    assert all(r["accuracy"] is None and r["energy_per_epoch_j"] > 0 for r in data)
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[-1] == "better"  # the comparison table's header
    for k in KPIS:  # a row per KPI, with the verdict
        row = next(line for line in out if line.strip().startswith(k.label + " "))
        assert row.endswith(("lower", "higher", "equal", "n/a")), row


def test_cli_report_measured_reuses_runs(arch_pair, run_root, measured_pair, tmp_path):
    out = tmp_path / "one.html"
    rc = main(["report", str(arch_pair[0]), "-o", str(out), "--run-dir", str(run_root)])
    assert rc == 0
    assert KPIS[-1].fmt(measured_pair[0].accuracy) in out.read_text(encoding="utf-8")


def test_cli_user_errors_exit_2(arch_pair, tmp_path, capsys):
    assert (
        main(
            ["report", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "x.html"), "--analytic"]
        )
        == 2
    )
    assert main(["report", str(arch_pair[0]), "-o", str(tmp_path), "--analytic"]) == 2  # a folder
    capsys.readouterr()


def test_cli_compare_says_which_column_is_which_and_calls_a_tie_equal(arch_pair, tmp_path, capsys):
    twin = tmp_path / "twin.yaml"
    twin.write_text(arch_pair[0].read_text())  # same design, same name
    assert (
        main(
            ["compare", str(arch_pair[0]), str(twin), "-o", str(tmp_path / "c.html"), "--analytic"]
        )
        == 0
    )
    captured = capsys.readouterr()
    name = next(
        line.split(":", 1)[1].strip()
        for line in arch_pair[0].read_text().splitlines()
        if line.startswith("name:")
    )
    assert f"note: 2 designs are named '{name}'" in captured.err
    lines = captured.out.splitlines()
    rows = [
        next(line for line in lines if line.strip().startswith(k.label + " "))
        for k in KPIS
        if k.key not in ("accuracy", "accuracy_float")
    ]
    assert all(line.endswith("  equal") for line in rows), rows  # accuracy: n/a, untrained
    header = lines[1]
    assert header.split() == [name, name, "better"]


def test_cli_compare_of_training_and_inference_designs_says_so(arch_pair, tmp_path, capsys):
    inference = tmp_path / "inf.yaml"
    inference.write_text(
        arch_pair[1]
        .read_text()
        .replace("workload:", "workload:\n  mode: inference", 1)
        .replace("name: ", "name: inf-", 1)
    )
    assert (
        main(
            [
                "compare",
                str(arch_pair[0]),
                str(inference),
                "-o",
                str(tmp_path / "c.html"),
                "--analytic",
            ]
        )
        == 0
    )
    assert "is an inference workload and" in capsys.readouterr().out


def test_report_to_a_folder_is_refused_before_any_training(arch_pair, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["report", str(arch_pair[0]), "-o", str(tmp_path), "--run-dir", str(runs)]) == 2
    assert "is a directory" in capsys.readouterr().err and not runs.exists()
