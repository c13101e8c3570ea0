"""The CLI contract later issues and users rely on: commands, JSON keys, exit statuses."""

from __future__ import annotations

import json

import pytest

from cimest.cli import main
from cimest.graph.analytic import count_analytic

CONTRACT = {
    "name",
    "energy_per_mac_j",
    "tops_per_w",
    "area_m2",
    "latency_per_sample_s",
    "throughput_samples_per_s",
    "energy_per_sample_j",
    "accuracy",
    "counts_source",
    "breakdown",
}


def test_validate_prints_ok(bsl_toy, fp_toy, capsys):
    assert main(["validate", str(bsl_toy), str(fp_toy)]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK") == 2


def test_estimate_json_and_csv(bsl_toy, tmp_path, capsys):
    j, c = tmp_path / "e.json", tmp_path / "e.csv"
    assert main(["estimate", str(bsl_toy), "--json", str(j), "--csv", str(c)]) == 0
    data = json.loads(j.read_text())
    assert CONTRACT <= data.keys()
    assert data["accuracy"] is None and data["counts_source"] == "analytic"
    rec = data["breakdown"][0]
    assert {"component", "action", "layer", "phase", "count", "energy_j"} <= rec.keys()
    total = sum(r["energy_j"] for r in data["breakdown"])
    assert abs(total - data["energy_per_sample_j"]) <= 1e-9 * data["energy_per_sample_j"]
    rows = c.read_text().strip().splitlines()
    assert len(rows) == len(data["breakdown"]) + 1
    out = capsys.readouterr().out
    # the summary shows the JSON's figures as the report formats them
    from cimest.report.model import fmt_energy_per_mac

    line = next(line for line in out.splitlines() if line.strip().startswith("Energy per MAC "))
    assert line.split()[-2:] == fmt_energy_per_mac(data["energy_per_mac_j"]).split()
    assert "Top energy consumers" in out


def test_estimate_measured_fills_accuracy(bsl_toy, tmp_path):
    text = bsl_toy.read_text().replace("epochs: 10", "epochs: 1\n  max_train_samples: 256")
    f = tmp_path / "small.yaml"
    f.write_text(text)
    j = tmp_path / "m.json"
    assert (
        main(
            ["estimate", str(f), "--measured", "--run-dir", str(tmp_path / "run"), "--json", str(j)]
        )
        == 0
    )
    data = json.loads(j.read_text())
    assert data["counts_source"] == "measured"
    assert 0 <= data["accuracy"] <= 1


def test_graph_summary_and_graphml(bsl_toy, tmp_path, capsys):
    g = tmp_path / "g.graphml"
    assert main(["graph", str(bsl_toy), "--graphml", str(g)]) == 0
    out = capsys.readouterr().out
    assert "L1: 64 x 128 -> 1 x 2 tiles" in out
    assert "<graphml" in g.read_text()


def test_user_error_is_exit_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main(["estimate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{bad}:1: technology: required field is missing" in err


def test_inference_counts_of_a_training_chip_are_forward_only(bsl_toy):
    from cimest.api import estimate_design, load_design

    d = load_design(bsl_toy)
    c = count_analytic(d.graph, "inference")
    assert {k[1] for k in c.counts} == {"forward"}
    assert not any(k[2].startswith("derivative") for k in c.counts)
    est = estimate_design(d)
    inf = est.extra["inference"]
    assert inf["energy_per_inference_j"] < est.energy_per_sample_j


@pytest.mark.parametrize(
    "argv",
    [
        ["estimate", "FILE", "--json", ""],
        ["estimate", "FILE", "--csv", " "],
        ["graph", "FILE", "--graphml", ""],
        ["report", "FILE", "-o", ""],
        ["train", "FILE", "--run-dir", ""],
        ["sweep", "FILE", "--vary", "crossbar.rows=64,128", "-o", ""],
    ],
)
def test_an_empty_output_path_is_refused_not_ignored(bsl_toy, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([str(bsl_toy) if a == "FILE" else a for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "an empty path" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written, nothing trained


def test_train_prints_activity_that_pastes_into_the_architecture(bsl_toy, tmp_path, capsys):
    """The measured activity lines of `cimest train` are YAML for workload.activity.per_layer, and
    the analytic estimate that uses them is close to the measured one (4 significant digits)."""
    text = bsl_toy.read_text().replace("epochs: 10", "epochs: 2")
    arch = tmp_path / "a.yaml"
    arch.write_text(text)
    assert main(["train", str(arch), "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if "measured activity" in line)
    layers = [line.strip() for line in out[start + 1 :] if line.startswith("    L")]
    assert [line.split(":")[0] for line in layers] == ["L1", "L2"]
    block = "\n".join(f"      {line}" for line in layers)
    pasted = tmp_path / "pasted.yaml"
    pasted.write_text(
        text.replace("workload:\n", f"workload:\n  activity:\n    per_layer:\n{block}\n", 1)
    )
    assert main(["estimate", str(pasted), "--json", str(tmp_path / "a.json")]) == 0
    assert (
        main(
            [
                "estimate",
                str(arch),
                "--measured",
                "--run-dir",
                str(tmp_path / "run"),
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    analytic = json.loads((tmp_path / "a.json").read_text())["energy_per_mac_j"]
    measured = json.loads((tmp_path / "m.json").read_text())["energy_per_mac_j"]
    assert analytic == pytest.approx(measured, rel=0.01)
