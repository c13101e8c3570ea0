"""Training speed and memory of binary stochastic learning with full event counting, against a plain
numpy float32 SGD MLP of the same network timed in the same run on the same real data.

    python benchmarks/train_bench.py            # a few minutes
    python benchmarks/train_bench.py --quick    # fewer rounds

Two workloads, real data: `digits` on the shipped BSL architecture's 64-128-10 (batch 64) and
`mnist5k` on Li et al.'s 784-500-200-10 (batch 100). For each, the baseline (sigmoid hidden layers,
softmax, backprop, float32) and cimest's BSL training are first warmed up once each, then run
alternately for several rounds (the order flips every round, so load from other processes hits
both alike). Printed: samples/s of the baseline, of BSL's training steps (the work the baseline's
timer covers: the time between the engine's per-batch progress calls, batch selection and counting
included) and of BSL's whole run as `cimest train` does it (set-up, a test evaluation per epoch),
with the best and median ratio to the baseline over the rounds (target for the steps: >= 0.5x), and
both test accuracies (the baseline learns the same data; random labels would time a model that
learns nothing).

Peak memory, in a child process per measurement: the training's own allocations (tracemalloc,
started after the data is loaded) and the process's resident set (getrusage, imports and data
included), for one mnist5k epoch of BSL vs one of the baseline, and one BSL epoch of 60,000 samples
of MNIST shape (mnist5k's 4,000 training images repeated 15 times; target < 2 GB).

BLAS is held to one thread on both sides.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# dataset -> (network, batch size)
WORKLOADS = {"digits": ([64, 128, 10], 64), "mnist5k": ([784, 500, 200, 10], 100)}


def dataset(name: str, repeat: int = 1):
    from cimest.engine.datasets import Dataset, load_dataset

    d = load_dataset(name)
    if repeat == 1:
        return d
    return Dataset(
        f"{name}x{repeat}",
        np.tile(d.x_train, (repeat, 1)),
        np.tile(d.y_train, repeat),
        d.x_test,
        d.y_test,
        d.n_classes,
    )


def numpy_sgd(shape: list[int], data, epochs: int, batch: int) -> tuple[float, float]:
    """Plain float32 sigmoid MLP, softmax output, backprop, SGD (eta 0.1): the baseline.

    Returns (training samples/s, test accuracy)."""
    rng = np.random.default_rng(0)
    ws = [
        rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32)
        for a, b in itertools.pairwise(shape)
    ]
    # float32 data too (the loaders give float64): else every product and activation here would
    # be float64, and the baseline slower than the float32 loop it stands for
    x, y = data.x_train.astype(np.float32), data.y_train

    def forward(xb):
        hs = [xb]
        for w in ws[:-1]:
            hs.append(1 / (1 + np.exp(-hs[-1] @ w)))
        return hs, hs[-1] @ ws[-1]

    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(x))
        for i in range(0, len(x), batch):
            sel = order[i : i + batch]
            xb, yb = x[sel], y[sel]
            hs, z = forward(xb)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            d = p
            for k in range(len(ws) - 1, -1, -1):
                g = hs[k].T @ d
                if k:
                    d = (d @ ws[k].T) * hs[k] * (1 - hs[k])
                ws[k] -= 0.1 * g / len(yb)
    rate = len(x) * epochs / (time.perf_counter() - t0)
    accuracy = float(np.mean(forward(data.x_test.astype(np.float32))[1].argmax(1) == data.y_test))
    return rate, accuracy


def bsl_design(name: str, shape: list[int], batch: int, epochs: int):
    from cimest.api import bind_design
    from cimest.spec import parse_architecture

    arch = ROOT / "architectures" / "binary_stochastic_rram.yaml"
    text = arch.read_text()
    for old, new in {
        "dataset: digits": f"dataset: {name}",
        "network: [64, 128, 10]": f"network: {shape}",
        "batch_size: 64": f"batch_size: {batch}",
        "epochs: 20": f"epochs: {epochs}",
    }.items():
        assert text.count(old) == 1, old  # the shipped file changed: update this benchmark
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(arch)))


def bsl(design, data) -> tuple[float, float, float]:
    """(samples/s of the training steps, samples/s of the whole run, test accuracy).

    The steps are timed between the engine's per-batch progress calls; the first batch of the
    run (which follows the set-up) is left out of that figure."""
    from cimest.engine.train import train

    step_time, step_samples, last = 0.0, 0, [None]
    bs = design.spec.workload.batch_size

    def on_progress(p) -> None:
        nonlocal step_time, step_samples
        now = time.perf_counter()
        if not p.epoch_done and last[0] is not None:
            step_time += now - last[0]
            step_samples += min(bs, len(data.x_train) - (p.batch - 1) * bs)
        last[0] = now

    t0 = time.perf_counter()
    r = train(design.graph, design.libraries, dataset=data, progress=on_progress)
    whole = time.perf_counter() - t0
    assert r.counts.total() > 0
    return step_samples / step_time, r.counts.n_samples / whole, r.accuracy


def speed(name: str, rounds: int, epochs: int) -> None:
    shape, batch = WORKLOADS[name]
    data = dataset(name)
    design = bsl_design(name, shape, batch, epochs)
    numpy_sgd(shape, data, 1, batch), bsl(bsl_design(name, shape, batch, 1), data)  # warm-up
    rows = []
    for r in range(rounds):
        if r % 2 == 0:
            base = numpy_sgd(shape, data, epochs, batch)
            steps, whole, acc = bsl(design, data)
        else:
            steps, whole, acc = bsl(design, data)
            base = numpy_sgd(shape, data, epochs, batch)
        rows.append((base[0], steps, whole, base[1], acc))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{name}: {shape}, batch {batch}, {len(data.x_train):,} training samples, {epochs} epoch(s) "
        f"per run, {rounds} alternating rounds after a warm-up (load average {load:.1f})"
    )
    print(
        f"  numpy float32 SGD MLP     median {statistics.median(r[0] for r in rows):>8,.0f} samples/s"
        f"   test accuracy {rows[-1][3]:.3f} after {epochs} epoch(s)"
    )
    for label, k, target in (
        ("BSL, training steps", 1, " (target >= 0.5x)"),
        ("BSL, whole run", 2, ""),
    ):
        ratios = [r[k] / r[0] for r in rows]
        print(
            f"  {label:<24}median {statistics.median(r[k] for r in rows):>8,.0f} samples/s"
            f"   best {max(ratios):.2f}x, median {statistics.median(ratios):.2f}x the baseline{target}"
        )
    print(
        f"  BSL test accuracy {rows[-1][4]:.3f} after {epochs} epoch(s) (cimest's engine, every event "
        "counted)"
    )


def child(what: str) -> None:
    """Run one measurement; print the peak of the training's own allocations (tracemalloc, data
    loaded before it starts) and this process's peak resident set, in bytes."""
    shape, batch = WORKLOADS["mnist5k"]
    data = dataset("mnist5k", 15 if what == "bsl60k" else 1)
    design = bsl_design("mnist5k", shape, batch, 1) if what != "numpy" else None
    tracemalloc.start()
    if what == "numpy":
        numpy_sgd(shape, data, 1, batch)
    else:
        bsl(design, data)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps([traced, rss]))


def peak_memory() -> None:
    def run(what: str) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, __file__, "--child", what], capture_output=True, text=True, check=True
        )
        return tuple(json.loads(out.stdout.strip().splitlines()[-1]))

    (base_t, base_r), (ours_t, ours_r), (big_t, big_r) = run("numpy"), run("bsl"), run("bsl60k")
    mib = 2**20
    print(
        "peak memory of one epoch (tracemalloc: the training's own allocations, data loaded before; "
        "resident set: the whole child process, imports and data included):"
    )
    print(
        f"  mnist5k, baseline: {base_t / mib:7.1f} MiB allocated, {base_r / mib:6.0f} MiB resident"
    )
    print(
        f"  mnist5k, BSL:      {ours_t / mib:7.1f} MiB allocated, {ours_r / mib:6.0f} MiB resident "
        f"({ours_t / base_t:.1f}x and {ours_r / base_r:.2f}x the baseline)"
    )
    print(
        f"  60,000 MNIST-shape samples, BSL: {big_t / mib:7.1f} MiB allocated, {big_r / 2**30:.2f} GiB "
        f"resident ({big_r / 2e9:.2f}x the 2 GB target)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--child", choices=["numpy", "bsl", "bsl60k"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    speed("digits", rounds=3 if args.quick else 5, epochs=10)
    speed("mnist5k", rounds=2 if args.quick else 3, epochs=1 if args.quick else 2)
    peak_memory()


if __name__ == "__main__":
    main()
