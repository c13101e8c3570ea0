"""The activity of MLP+NeuroSim V3.0's chip (architectures/neurosim_mlp_taox.yaml) per device, as
tests/validation/test_neurosim_mlp_v3.py records it, and how it falls with the samples seen.

Two windows, both on mnist5k-20x20 (4,000 training images), seed 0:
- ``--samples 2000``: epochs 1 with max_train_samples 2000, the window of MLP+NeuroSim's own
  2,000-image run (tests/validation/data/neurosim_mlp_v3_code_runs.yaml);
- ``--epochs E``: E epochs of the 4,000 images (E x 4,000 samples); Table II averages
  125 x 8,000 = 10^6 samples, i.e. E = 250.

Prints one JSON line per epoch as soon as it is measured (samples seen so far, seconds so far, the
epoch's test accuracy, its activity per layer as workload.activity.per_layer fields and the
totals behind them) and a last line with the activity over the whole run (``"window": "all"``).
It is a measurement, not a test. The chip takes the engine's general path (the fused batch-1 step
refuses on/off row drivers, a chip without gradient memory and the sigmoid output): about 400-900
samples/s per process on this 2-core machine, so 10^6 samples take 20-45 min of a free core per
device.

    python benchmarks/neurosim_activity.py --device taox_hfox_rram --samples 2000
    python benchmarks/neurosim_activity.py --device taox_hfox_rram --epochs 20 > taox.jsonl
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from cimest.api import bind_design
from cimest.counts import sum_counts
from cimest.engine.train import measured_activity, train
from cimest.spec import parse_architecture

ROOT = Path(__file__).resolve().parents[1]
ARCH = ROOT / "architectures" / "neurosim_mlp_taox.yaml"
FIELDS = (
    "input_density",
    "update_fraction",
    "pulses_per_update",
    "set_fraction",
    "write_steps_per_update",
    "write_set_fraction",
)
DEVICES = (
    "ag_asi_rram",
    "taox_hfox_rram",
    "pcmo_rram",
    "alox_hfo2_rram",
    "gst_pcm",
    "epiram",
    "hzo_fefet",
)


def design(device: str, epochs: int, samples: int | None):
    """The shipped chip with ``device`` as its cell, trained ``epochs`` epochs (of ``samples``
    images when given)."""
    text = ARCH.read_text().replace("cell: taox_hfox_rram", f"cell: {device}")
    limit = f"  epochs: {epochs}\n" + (
        f"  max_train_samples: {samples}\n" if samples is not None else ""
    )
    text = text.replace("  epochs: 125\n", limit)
    return bind_design(parse_architecture(text, str(ARCH)))


def _factors(graph, counts) -> dict[str, dict[str, float]]:
    act = measured_activity(graph, counts)
    return {layer: {k: float(f"{v[k]:.6g}") for k in FIELDS if k in v} for layer, v in act.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=DEVICES, default="taox_hfox_rram")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--samples", type=int, default=None, help="max_train_samples per epoch")
    args = ap.parse_args()
    d = design(args.device, args.epochs, args.samples)
    seen, seconds, counts = 0, 0.0, []
    with tempfile.TemporaryDirectory() as run_dir:
        # Why one epoch per call, resumed from the run's checkpoint: each epoch's line is printed
        # as soon as it is measured, so a long run stopped early keeps what it measured (the
        # same run as one call: an epoch's order depends on (seed, epoch) only)
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            run = train(d.graph, d.libraries, epochs=epoch, run_dir=run_dir, resume=epoch > 1)
            seconds += time.perf_counter() - start
            counts.append(run.counts_per_epoch[-1])
            seen += counts[-1].n_samples
            line = {
                "device": args.device,
                "epoch": epoch,
                "samples_seen": seen,
                "seconds": round(seconds, 1),
                "accuracy": run.accuracy_history[-1],
                "activity": _factors(d.graph, counts[-1]),
                "counts": counts[-1].activity,  # the totals, to sum windows exactly
            }
            print(json.dumps(line), flush=True)
    print(
        json.dumps(
            {
                "device": args.device,
                "window": "all",
                "samples_seen": seen,
                "seconds": round(seconds, 1),
                "samples_per_s": round(seen / seconds, 1),
                "accuracy": run.accuracy_history[-1],
                "activity": _factors(d.graph, sum_counts(counts)),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
