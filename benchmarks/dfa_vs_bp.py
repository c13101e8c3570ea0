"""Accuracy of DFA vs backprop on the full-precision design under cycle-to-cycle noise.

Wolters et al. (arXiv:2212.14337, MWSCAS 2023) report that backprop still converges at 5 %
cycle-to-cycle variation where DFA needs <= 1 %. This script measures the same comparison on
cimest's device model (mnist5k, 784-500-200-10, batch 100, 10 epochs) for c2c sigma of 0 and 5 %
of the conductance range (gamma = 0.05 x levels in the pulse model, as the libraries convert
NeuroSim's c2c figures) and prints the final accuracies and their difference. It takes a few
minutes; it is a measurement, not a test.

    python benchmarks/dfa_vs_bp.py
"""

from __future__ import annotations

from pathlib import Path

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

ROOT = Path(__file__).parents[1]
ARCH = ROOT / "architectures" / "full_precision_rram.yaml"


def accuracy(rule: str, c2c: float) -> float:
    text = ARCH.read_text()
    for old, new in {
        "epochs: 20": "epochs: 10",
        "dataset: digits": "dataset: mnist5k",
        "network: [64, 128, 10]": "network: [784, 500, 200, 10]",
        "batch_size: 64": "batch_size: 100",
        "rule: backprop": f"rule: {rule}",
        "weight_encoding: reference_column": f"weight_encoding: reference_column\n  c2c_sigma: {c2c}",
    }.items():
        text = text.replace(old, new)
    d = bind_design(parse_architecture(text, str(ARCH)))
    return train(d.graph, d.libraries).accuracy


def main() -> None:
    d = bind_design(parse_architecture(ARCH.read_text(), str(ARCH)))
    levels = d.libraries.cell(d.spec.crossbar.cell).entry.device.levels
    print(f"{'c2c (of range)':>15} {'gamma':>7} {'backprop':>9} {'dfa':>7} {'dfa - bp':>9}")
    for c2c in (0.0, 0.05):
        gamma = c2c * levels
        bp, dfa = accuracy("backprop", c2c), accuracy("dfa", c2c)
        print(f"{c2c:>15.2f} {gamma:>7.2f} {bp:>9.3f} {dfa:>7.3f} {dfa - bp:>+9.3f}")


if __name__ == "__main__":
    main()
