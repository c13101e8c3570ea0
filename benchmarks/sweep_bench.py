"""Sweep benchmark: cost-only evaluations per second on one core, and the speed-up of a training
sweep with 2 local worker processes over 1.

    python benchmarks/sweep_bench.py            # about a minute on the 2-core reference machine
    python benchmarks/sweep_bench.py --quick    # smaller grids

Cost-only part: the shipped full-precision architecture, its counts stored once (analytic counts:
costing time does not depend on where counts came from), re-costed over
node x ADC variant x calibration (ADC, DAC, cell) points. Three ways are timed:
  - ``estimate()`` per point on a bound, calibrated design (the reference arithmetic);
  - the sweep's fast path point by point (``CostBasis.kpis``, what ``cimest sweep`` stores);
  - the fast path vectorised over a whole grid (``CostBasis.evaluate``);
and ``build_grid`` (parse + validate + bind every point) for scale. The target is >= 10,000
points/s for the vectorised fast path. Prints ratios, not only times.
"""

from __future__ import annotations

import os

# One core: keep BLAS from spreading the matrix products over threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cimest.api import estimate_design  # noqa: E402
from cimest.graph.analytic import count_analytic  # noqa: E402
from cimest.sweep import CostBasis, build_grid, run_sweep  # noqa: E402
from cimest.sweep.store import ResultStore  # noqa: E402

FP = ROOT / "architectures" / "full_precision_rram.yaml"
BSL = ROOT / "architectures" / "binary_stochastic_rram.yaml"


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        except OSError:
            pass


def cost_only(quick: bool) -> None:
    cal = "0.5,0.75,1,1.25,1.5,2" if quick else "0.5,0.6,0.7,0.8,0.9,1,1.1,1.25,1.5,2"
    varies = [
        "technology.node_nm=22,32,45,65,130",
        "peripherals.readout.variant=neurosim_sar,isaac,survey",
        f"calibration.adc={cal}",
        f"calibration.dac={cal}",
        f"calibration.cell={cal}",
    ]
    t0 = time.perf_counter()
    grid = build_grid(str(FP), varies)
    t_grid = time.perf_counter() - t0
    n = len(grid.points)
    counts = count_analytic(next(iter(grid.designs.values())).graph)
    print(f"cost-only grid: {n:,} points (5 nodes x 3 ADC variants x calibration of adc, dac, cell), "
          f"{len(grid.designs)} priced bases")

    # reference: estimate() on each calibrated design (designs bound outside the timing)
    sample = grid.points[:: max(1, n // 300)]
    designs = [grid.binder.bind(p.loaded) for p in sample]
    t0 = time.perf_counter()
    for d in designs:
        estimate_design(d, counts)
    t_est = (time.perf_counter() - t0) / len(designs)

    # fast path, point by point (what the sweep stores)
    t0 = time.perf_counter()
    bases: dict[str, CostBasis] = {}
    for p in grid.points:
        basis = bases.get(p.pricing_key)
        if basis is None:
            basis = bases[p.pricing_key] = CostBasis.build(grid.designs[p.pricing_key], counts)
        basis.kpis(p.loaded.spec.calibration)
    t_points = (time.perf_counter() - t0) / n

    # fast path, vectorised per priced base (bases rebuilt inside the timing)
    by_base: dict[str, list[dict]] = {}
    for p in grid.points:
        by_base.setdefault(p.pricing_key, []).append(p.loaded.spec.calibration)
    t0 = time.perf_counter()
    for key, cals in by_base.items():
        basis = CostBasis.build(grid.designs[key], counts)
        basis.evaluate(basis.calibration_matrix(cals))
    t_vec = (time.perf_counter() - t0) / n

    def rate(t):
        return f"{1 / t:>12,.0f} points/s"

    print(f"  estimate() per point          {rate(t_est)}   (1.0x)")
    print(f"  fast path, point by point     {rate(t_points)}   ({t_est / t_points:,.1f}x estimate())")
    print(f"  fast path, vectorised         {rate(t_vec)}   ({t_est / t_vec:,.1f}x estimate())"
          f"   target 10,000: {'met' if 1 / t_vec >= 10_000 else 'NOT met'}")
    print(f"  build_grid (parse, validate, bind every point) {n / t_grid:,.0f} points/s "
          f"({t_grid:.2f} s for the grid)")


def training_speedup(quick: bool) -> None:
    from cimest.engine.datasets import load_dataset

    n_groups = 4
    epochs = 5 if quick else 20
    tmp = Path(tempfile.mkdtemp(prefix="cimest-sweep-bench-"))
    try:
        text, n = re.subn(r"(?m)^  epochs: \d+$", f"  epochs: {epochs}", BSL.read_text(), count=1)
        assert n == 1
        base = tmp / "bsl.yaml"
        base.write_text(text)
        load_dataset("digits")  # warm the file cache outside the timing
        # warm-up: first-use costs (imports, library parsing) are not what is compared
        run_sweep(build_grid(str(base), ["workload.seed=99"]), tmp / "warm")
        varies = [f"workload.seed={','.join(str(s) for s in range(n_groups))}",
                  "technology.node_nm=22,32"]
        times = {1: float("inf"), 2: float("inf")}
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        for rep in range(2):  # best of two, alternating, against noise from other processes
            for workers in (1, 2):
                grid = build_grid(str(base), varies)
                t0 = time.perf_counter()
                run_sweep(grid, tmp / f"w{workers}-{rep}", workers=workers)
                times[workers] = min(times[workers], time.perf_counter() - t0)
        same = (sorted(ResultStore(tmp / "w1-0").records().items())
                == sorted(ResultStore(tmp / "w2-1").records().items()))
        n_train = len(load_dataset("digits").x_train)
        print(f"training sweep: {n_groups} training groups x 2 nodes; each group trains the shipped "
              f"BSL architecture {epochs} epochs x {n_train} digits ({os.cpu_count()} cores, load "
              f"average {load:.1f} before the runs)")
        print(f"  1 worker  {times[1]:6.2f} s   (best of 2)")
        print(f"  2 workers {times[2]:6.2f} s   speed-up {times[1] / times[2]:.2f}x "
              f"(ideal 2.00x); stores identical: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller grids")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    if not args.skip_training:
        training_speedup(args.quick)  # before pinning: it needs both cores
    _pin_one_core()
    cost_only(args.quick)


if __name__ == "__main__":
    main()
