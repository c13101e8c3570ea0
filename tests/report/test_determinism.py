"""Identical inputs give byte-identical reports: HTML, JSON and CSV do not depend on
PYTHONHASHSEED, on timing, or on the order in which sweep points finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _env(seed: int) -> dict:
    return {
        **os.environ,
        "PYTHONHASHSEED": str(seed),
        "CIMEST_LIBRARY_PATH": str(FIXTURES / "libraries"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def _tiny(src: Path, folder: Path) -> Path:
    """The toy design trained for one epoch on 200 samples (a few seconds)."""
    text = src.read_text().replace("epochs: 10", "epochs: 1")
    f = folder / src.name
    f.write_text(text.replace("  seed: 0\n", "  seed: 0\n  max_train_samples: 200\n"))
    return f


def test_a_measured_comparison_is_byte_identical_across_hash_seeds(tmp_path):
    archs = [_tiny(FIXTURES / "bsl_toy.yaml", tmp_path), _tiny(FIXTURES / "fp_toy.yaml", tmp_path)]
    outputs = []
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}"
        out.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "cimest.cli",
            "compare",
            *map(str, archs),
            "-o",
            str(out / "c.html"),
            "--json",
            str(out / "c.json"),
            "--csv",
            str(out / "c.csv"),
            "--run-dir",
            str(out / "runs"),
        ]
        p = subprocess.run(
            cmd, cwd=ROOT, env=_env(seed), capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr
        outputs.append({name: (out / name).read_bytes() for name in ("c.html", "c.json", "c.csv")})
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], f"{name} differs between two identical runs"
    record = json.loads(outputs[0]["c.json"])[0]["training"]
    assert record["epochs"] == 1 and "wall_time_s" not in record


_TIES = """
import json
from types import SimpleNamespace as NS
from cimest.report import figures
from cimest.report.model import ReportDesign

kinds = ["adc", "cell", "comparator", "dac", "mux", "rng", "adder", "multiplier"]
def design(name):
    breakdown = [NS(kind=k, phase="forward", energy_j=1e-12) for k in kinds]
    area = [NS(kind=k, area_m2=1e-9) for k in kinds]
    est = NS(name=name, breakdown=breakdown, area=area, macs_per_sample={"forward": 10})
    return ReportDesign(estimate=est)
fig = figures.compare_bars([design("a"), design("b")], "kind")
print(json.dumps(list(fig.data[0].x)))
"""


def test_tied_categories_of_a_comparison_do_not_follow_the_hash_seed():
    orders = set()
    for seed in range(6):
        p = subprocess.run(
            [sys.executable, "-c", _TIES],
            cwd=ROOT,
            env=_env(seed),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        orders.add(p.stdout)
    assert len(orders) == 1, orders
    assert json.loads(orders.pop()) == sorted(
        ["adc", "cell", "comparator", "dac", "mux", "rng", "adder", "multiplier"]
    )


def test_the_pareto_page_does_not_follow_the_order_points_finished(tmp_path, toy_libs):
    from cimest.sweep import build_grid, run_sweep, write_pareto_report

    grid = build_grid(
        str(FIXTURES / "bsl_toy.yaml"), ["crossbar.rows=64,128", "calibration.adc=1,2"]
    )
    run_sweep(grid, tmp_path / "sweep", analytic=True)
    first = write_pareto_report(tmp_path / "sweep", tmp_path / "a.html").read_bytes()
    points = tmp_path / "sweep" / "points.jsonl"
    lines = points.read_bytes().splitlines(keepends=True)
    assert len(lines) == 4
    # as if the points had finished the other way round
    points.write_bytes(b"".join(reversed(lines)))
    assert write_pareto_report(tmp_path / "sweep", tmp_path / "b.html").read_bytes() == first
