"""Time to build a two-design comparison report (HTML + JSON + CSV) from estimates.

Training is excluded: designs are estimated first (measured counts, training or reusing runs in
--run-dir; or --analytic), then only the report is timed. Target (issue 4): under 5 s.

    python benchmarks/report_bench.py                      # the two shipped architectures
    python benchmarks/report_bench.py --toy --analytic     # test fixtures, no training
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toy", action="store_true", help="use tests/fixtures (toy libraries)")
    ap.add_argument("--analytic", action="store_true", help="analytic counts, no training")
    ap.add_argument("--run-dir", default=str(ROOT / "runs"), help="training runs (default: runs/)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    args = ap.parse_args(argv)

    if args.toy:
        os.environ["CIMEST_LIBRARY_PATH"] = str(ROOT / "tests/fixtures/libraries")
        files = [ROOT / "tests/fixtures/bsl_toy.yaml", ROOT / "tests/fixtures/fp_toy.yaml"]
    else:
        files = [
            ROOT / "architectures/binary_stochastic_rram.yaml",
            ROOT / "architectures/full_precision_rram.yaml",
        ]

    from cimest.api import default_run_dir, estimate_design, load_design, measured_estimate
    from cimest.report import design_from, write_exports, write_report

    prepared = []
    for f in files:
        d = load_design(f)
        if args.analytic:
            prepared.append((d, estimate_design(d), None))
        else:
            est, record = measured_estimate(d, run_dir=Path(args.run_dir) / default_run_dir(d).name)
            prepared.append((d, est, record))

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(args.repeat, 1)):
            t0 = time.perf_counter()
            designs = [design_from(d, est, rec) for d, est, rec in prepared]
            write_report(Path(tmp) / "compare.html", designs)
            write_exports(designs, Path(tmp) / "compare.json", Path(tmp) / "compare.csv")
            times.append(time.perf_counter() - t0)
        size = (Path(tmp) / "compare.html").stat().st_size
    best = min(times)
    names = " vs ".join(est.name for _, est, _ in prepared)
    counts = "analytic" if args.analytic else "measured"
    print(
        f"report of {names} ({counts} counts): {best:.3f} s best of {len(times)} "
        f"(all: {', '.join(f'{t:.3f}' for t in times)}), HTML {size / 1e6:.1f} MB"
    )
    print(
        f"target {TARGET_S:g} s: {best / TARGET_S:.2%} of the budget "
        f"({'OK' if best < TARGET_S else 'TOO SLOW'})"
    )
    return 0 if best < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
