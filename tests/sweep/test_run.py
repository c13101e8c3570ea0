"""Running, resuming and sharing counts: the store after an interruption equals an uninterrupted
run, finished points are never redone, cost-only points never retrain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cimest.cli import main
from cimest.errors import CheckpointError
from cimest.sweep import ResultStore, build_grid, run_sweep
from cimest.sweep import run as run_mod

KPIS = (
    "name",
    "energy_per_mac_j",
    "tops_per_w",
    "area_m2",
    "latency_per_sample_s",
    "throughput_samples_per_s",
    "energy_per_sample_j",
    "accuracy",
    "counts_source",
)


@pytest.fixture
def counted(monkeypatch):
    """Record the training key of every group counted in this process."""
    calls: list[str] = []
    real = run_mod.count_group

    def spy(task):
        calls.append(task["training_key"])
        return real(task)

    monkeypatch.setattr(run_mod, "count_group", spy)
    return calls


def test_small_sweep_runs_and_records_the_contract(bsl, tmp_path, capsys, sorted_records):
    out = tmp_path / "out"
    assert main(["sweep", str(bsl), "--vary", "crossbar.rows=32,64", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "2 points (0 done before, 2 costed now)" in printed.out
    assert "sweep: 2/2 points" in printed.err
    recs = sorted_records(out)
    assert len(recs) == 2
    for r in recs:
        for k in KPIS:
            assert k in r
        assert r["counts_source"] == "measured"
        assert 0 <= r["accuracy"] <= 1 and r["energy_per_mac_j"] > 0
        counts = json.loads((out / r["counts_path"]).read_text())
        assert counts["counts"]["source"] == "measured"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["vary"] == [{"key": "crossbar.rows", "values": [32, 64]}]


def test_points_equal_plain_estimate(bsl, tmp_path, sorted_records):
    """A sweep point's KPIs are what `cimest estimate --measured` gives for that architecture,
    trained on its own: the points share one training run in the sweep (their counts do not
    depend on node or calibration), each trains in a run folder of its own here."""
    from cimest.api import load_design, measured_estimate

    out = tmp_path / "out"
    grid = build_grid(str(bsl), ["technology.node_nm=22,32", "calibration.adc=1,1.5"])
    run_sweep(grid, out)
    recs = {r["point_id"]: r for r in sorted_records(out)}
    for p in grid.points:
        f = tmp_path / f"{p.id}.yaml"
        import yaml

        f.write_text(yaml.safe_dump(p.data))
        est, _ = measured_estimate(load_design(f), run_dir=tmp_path / "runs" / p.id)
        want = est.to_dict()
        for k in KPIS:
            if isinstance(want[k], float):
                assert recs[p.id][k] == pytest.approx(want[k], rel=1e-12), k
            else:
                assert recs[p.id][k] == want[k], k


def test_cost_only_points_reuse_their_twins_counts(bsl, tmp_path, counted, sorted_records):
    out = tmp_path / "out"
    grid = build_grid(
        str(bsl),
        [
            "crossbar.rows=32,64",
            "technology.node_nm=22,32,45",
            "technology.vdd_v=0.8,0.9",
            "calibration.comparator=1,2",
            "peripherals.readout.rng_variant=lfsr,trng",
        ],
    )
    s = run_sweep(grid, out)
    assert s.n_points == 48 and s.n_groups == 2
    assert sorted(counted) == sorted(set(counted)) and len(counted) == 2  # one training per rows
    assert len(list((out / "runs").iterdir())) == 2
    recs = sorted_records(out)
    assert len({r["counts_path"] for r in recs}) == 2
    # same counts, different costs
    by_rows: dict[int, set] = {}
    for r in recs:
        by_rows.setdefault(r["params"]["crossbar.rows"], set()).add(r["energy_per_mac_j"])
        assert r["accuracy"] == next(
            x["accuracy"] for x in recs if x["counts_path"] == r["counts_path"]
        )
    assert all(len(v) > 1 for v in by_rows.values())


def test_rerun_skips_finished_points(bsl, tmp_path, counted):
    out = tmp_path / "out"
    args = [
        "sweep",
        str(bsl),
        "--vary",
        "crossbar.rows=32,64",
        "--vary",
        "technology.node_nm=22,32",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    first = (out / "points.jsonl").read_bytes()
    assert len(counted) == 2
    assert main(args) == 0
    assert len(counted) == 2  # nothing retrained
    assert (out / "points.jsonl").read_bytes() == first  # nothing re-appended


def test_interrupted_sweep_resumes_to_the_same_store(bsl, tmp_path, counted, sorted_records):
    args = ["crossbar.rows=16,32,64", "technology.node_nm=22,32"]
    full = tmp_path / "full"
    run_sweep(build_grid(str(bsl), args), full)
    n_full = len(counted)
    counted.clear()

    class Stop(Exception):
        pass

    def stop_after(k):
        def progress(done, total, note):
            if done >= k:
                raise Stop

        return progress

    part = tmp_path / "part"
    with pytest.raises(Stop):
        run_sweep(build_grid(str(bsl), args), part, progress=stop_after(3))
    assert len(ResultStore(part).records()) == 3
    counted.clear()
    s = run_sweep(build_grid(str(bsl), args), part)
    assert s.n_skipped == 3 and s.n_costed == 3
    # the group of points 3 and 4 (rows=32) had stored its counts before the stop: not retrained
    assert len(counted) == n_full - 2
    assert sorted_records(part) == sorted_records(full)


def test_sigkill_part_way_then_rerun(bsl, tmp_path, counted, sorted_records):
    # ten training groups of about 0.1 s each: the kill lands while most are still to do
    args = ["--vary", "workload.seed=0,1,2,3,4,5,6,7,8,9", "--vary", "technology.node_nm=22,32"]
    full = tmp_path / "full"
    assert main(["sweep", str(bsl), *args, "-o", str(full)]) == 0
    counted.clear()
    part = tmp_path / "part"
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cimest.cli", "sweep", str(bsl), *args, "-o", str(part)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    points = part / "points.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if points.exists() and points.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    n_before = len(ResultStore(part).records())
    assert 1 <= n_before < 20, "the kill came too late to test a resume"
    assert main(["sweep", str(bsl), *args, "-o", str(part)]) == 0
    assert len(counted) < 10  # groups finished before the kill were not retrained
    assert sorted_records(part) == sorted_records(full)


def test_torn_last_line_is_redone_and_corrupt_line_is_an_error(bsl, tmp_path, sorted_records):
    out = tmp_path / "out"
    args = ["technology.node_nm=22,32,45"]
    run_sweep(build_grid(str(bsl), args), out)
    path = out / "points.jsonl"
    good = path.read_bytes()
    want = sorted_records(out)
    lines = good.split(b"\n")
    # a kill during the last append leaves half a line without its newline
    path.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][:40])
    s = run_sweep(build_grid(str(bsl), args), out)
    assert s.n_costed == 1
    assert sorted_records(out) == want
    # damage in the middle of the file is never skipped silently
    path.write_bytes(lines[0] + b"\n" + b'{"point_id": "x"\n' + lines[2] + b"\n")
    with pytest.raises(CheckpointError, match=rf"{path}:2: corrupt record"):
        run_sweep(build_grid(str(bsl), args), out)


def test_another_sweep_in_the_same_folder_is_refused(bsl, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            ["sweep", str(bsl), "--vary", "technology.node_nm=22,32", "--analytic", "-o", str(out)]
        )
        == 0
    )
    assert (
        main(
            ["sweep", str(bsl), "--vary", "technology.node_nm=22,45", "--analytic", "-o", str(out)]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{out}: holds another sweep (differs in the --vary arguments" in err
    assert "--vary=technology.node_nm=22,32" in err
    bsl.write_text(bsl.read_text().replace("seed: 0", "seed: 1"))
    assert (
        main(
            ["sweep", str(bsl), "--vary", "technology.node_nm=22,32", "--analytic", "-o", str(out)]
        )
        == 2
    )
    assert "the base file's contents" in capsys.readouterr().err


def test_analytic_sweep_has_no_accuracy(fp, tmp_path, sorted_records):
    out = tmp_path / "out"
    s = run_sweep(build_grid(str(fp), ["peripherals.readout.bits=4,6,8"]), out, analytic=True)
    assert s.n_groups == 3
    recs = sorted_records(out)
    assert {r["counts_source"] for r in recs} == {"analytic"}
    assert all(r["accuracy"] is None for r in recs)
    assert len({r["energy_per_mac_j"] for r in recs}) == 3


def test_two_local_workers_give_the_same_store(bsl, tmp_path, sorted_records):
    args = ["crossbar.rows=16,32,64", "technology.node_nm=22,32"]
    one, two = tmp_path / "one", tmp_path / "two"
    run_sweep(build_grid(str(bsl), args), one)
    run_sweep(build_grid(str(bsl), args), two, workers=2)
    assert sorted_records(one) == sorted_records(two)


def test_pareto_report_is_written(bsl, tmp_path):
    from cimest.sweep import write_pareto_report

    out = tmp_path / "out"
    run_sweep(build_grid(str(bsl), ["technology.node_nm=22,32"]), out)
    page = write_pareto_report(out, tmp_path / "p.html").read_text()
    assert "Plotly.newPlot" in page and "<script src" not in page
    assert "technology.node_nm" in page


def test_changed_library_is_refused(bsl, tmp_path, monkeypatch, capsys):
    import shutil

    libs = tmp_path / "libs"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "libraries", libs)
    monkeypatch.setenv("CIMEST_LIBRARY_PATH", str(libs))
    out = tmp_path / "out"
    args = ["sweep", str(bsl), "--vary", "technology.node_nm=22,32", "--analytic", "-o", str(out)]
    assert main(args) == 0
    cmos = libs / "toy_cmos.yaml"
    cmos.write_text(cmos.read_text().replace("energy_pj: 1.0,", "energy_pj: 2.0,"))
    assert main(args) == 2
    assert "differs in the device libraries' contents" in capsys.readouterr().err


def test_a_dataset_edit_is_not_resumed_into_the_old_store(bsl, tmp_path, idx_folder, counted):
    base = tmp_path / "idx.yaml"
    base.write_text(bsl.read_text().replace("dataset: digits", f"dataset: mnist-idx:{idx_folder}"))
    args = ["technology.node_nm=22,32"]
    out = tmp_path / "out"
    first = build_grid(str(base), args)
    run_sweep(first, out)
    assert len(counted) == 1  # one training serves both nodes
    images = idx_folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-64] + bytes(64))
    again = build_grid(str(base), args)
    assert {p.training_key for p in again.points}.isdisjoint(p.training_key for p in first.points)
    with pytest.raises(CheckpointError, match="differs in the dataset files' contents"):
        run_sweep(again, out)
