"""DFA vs backprop on a CNN: the schedule's backward latency and accuracy under device noise.

Wolters et al. (arXiv:2212.14337, MWSCAS 2023) compare BP and direct feedback alignment on CIM:
DFA's backward steps all depend only on the output error, so they run in parallel (backward
latency falls by up to N x for N layers), while its accuracy suffers more from cycle-to-cycle
variation (BP still converges at 5 % where DFA needs <= 1 %). This script measures both on the
design pair architectures/cnn_backprop_rram.yaml and cnn_dfa_rram.yaml (the same CNN, chip and
peripherals; only algorithm.rule differs):

1. backward latency per sample of each design's schedule (analytic estimate) and their ratio;
2. final accuracy (the modelled chip's read-out path) after short runs on mnist5k for a sweep of
   c2c sigma (a fraction of the conductance range per pulse, as crossbar.c2c_sigma takes it).

It is a measurement, not a test: short runs (default 2 epochs on mnist5k's 4,000 training digits)
show the trend, not converged accuracies. (``--samples N`` keeps the first N training digits;
mnist5k's training split is sorted by class, so fewer than 4,000 leave classes out.)

    python benchmarks/dfa_vs_bp_cnn.py [--epochs 2] [--samples 0] [--sigmas 0,0.01,0.05]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cimest.api import bind_design, estimate_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

ROOT = Path(__file__).parents[1]
PAIR = {
    "backprop": ROOT / "architectures" / "cnn_backprop_rram.yaml",
    "dfa": ROOT / "architectures" / "cnn_dfa_rram.yaml",
}


def design(path: Path, c2c: float | None = None, epochs: int | None = None, samples: int = 0):
    text = path.read_text()
    if c2c is not None:
        text = text.replace(
            "weight_encoding: reference_column",
            f"weight_encoding: reference_column\n  c2c_sigma: {c2c}",
        )
    if epochs is not None:
        extra = f"\n  max_train_samples: {samples}" if samples else ""
        text = text.replace("epochs: 5", f"epochs: {epochs}{extra}")
    return bind_design(parse_architecture(text, str(path)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=0, help="first N training digits (0: all)")
    ap.add_argument("--sigmas", default="0,0.01,0.05", help="c2c sigmas, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    print("Backward latency per sample (schedule, analytic counts)")
    lat = {}
    for rule, path in PAIR.items():
        est = estimate_design(design(path))
        lat[rule] = est.latency_by_phase_s["backward"]
        layers = len(design(path).graph.layers)
        print(f"  {rule:9s} {lat[rule] * 1e9:9.1f} ns   ({layers} layers)")
    print(f"  dfa / backprop = {lat['dfa'] / lat['backprop']:.3f}")

    sigmas = [float(s) for s in args.sigmas.split(",")]
    print(
        f"\nAccuracy after {args.epochs} epochs on {args.samples or 'all'} mnist5k training digits "
        f"(seed {args.seed}; chip read-out path / float evaluation)"
    )
    print(f"{'c2c sigma':>10} {'backprop':>15} {'dfa':>15} {'dfa - bp':>9} {'time':>7}")
    for sigma in sigmas:
        started = time.perf_counter()
        acc = {}
        for rule, path in PAIR.items():
            d = design(path, sigma, args.epochs, args.samples)
            r = train(d.graph, d.libraries, seed=args.seed)
            acc[rule] = (r.accuracy, r.accuracy_float)
        dt = time.perf_counter() - started
        bp, dfa = acc["backprop"], acc["dfa"]
        print(
            f"{sigma:>10.3f} {bp[0]:>7.3f} / {bp[1]:.3f} {dfa[0]:>7.3f} / {dfa[1]:.3f} "
            f"{dfa[0] - bp[0]:>+9.3f} {dt:>6.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
