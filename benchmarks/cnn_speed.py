"""CNN training speed and memory: cimest's engine with every event counted, against a plain numpy
float32 im2col SGD of the same CNN timed in the same run on the same data.

    python benchmarks/cnn_speed.py            # a few minutes
    python benchmarks/cnn_speed.py --quick    # fewer rounds, fewer samples

The CNN is Li et al.'s MNIST CNN of architectures/bsl_cnn_mnist.yaml (conv 9x9x8 -> max-pool 2 ->
conv 5x5x12 -> max-pool 2 -> dense 108 -> 10, batch 100) on mnist5k's training digits. Engine
runs: that chip (binary stochastic learning, memristor updates, LFSR comparators, full counting)
and its high-precision twin (bsl_cnn_mnist_hp.yaml, the software rule: float64 backprop, no
counting). The baseline: the same CNN in float32 numpy, im2col patches, sigmoid(4y), max-pool
routed to the arg-max, softmax cross-entropy, backprop and SGD (eta 0.1).

Each side is warmed up once, then they run alternately for several rounds (the order flips every
round, so load from other processes hits both alike). Printed: samples/s of the baseline and of
each engine run's training steps (timed between the engine's per-batch progress calls: batch
selection, sampling and counting included, set-up and the per-epoch test evaluation not), with
the best and median ratio to the baseline (target >= 0.5x), then the peak memory of one epoch of
each, in a child process per measurement (tracemalloc: the training's own allocations after the
data is loaded; getrusage: the process's resident set). BLAS is held to one thread on both sides.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = {"BSL chip": "bsl_cnn_mnist.yaml", "HP (software)": "bsl_cnn_mnist_hp.yaml"}
BATCH = 100


def dataset(samples: int):
    """mnist5k's first ``samples`` training digits and 100 test digits (the engine evaluates the
    test set once per epoch; few test digits keep that out of the way)."""
    from cimest.engine.datasets import Dataset, load_dataset

    d = load_dataset("mnist5k")
    order = np.random.default_rng(0).permutation(len(d.x_train))[:samples]
    test = np.random.default_rng(1).permutation(len(d.x_test))[:100]
    return Dataset(
        "mnist5k", d.x_train[order], d.y_train[order], d.x_test[test], d.y_test[test], 10
    )


def design(name: str):
    from cimest.api import bind_design
    from cimest.spec import parse_architecture

    path = ROOT / "architectures" / name
    text = path.read_text().replace("epochs: 20", "epochs: 1")
    return bind_design(parse_architecture(text, str(path)))


# --- the baseline --------------------------------------------------------------------------------


def _patches(x: np.ndarray, k: int) -> np.ndarray:
    """(B, H, W, C) -> (B*P*Q, C*k*k) valid patches."""
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (B, P, Q, C, k, k)
    return np.ascontiguousarray(win).reshape(-1, win.shape[3] * k * k), win.shape[1:3]


def _maxpool(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b, p, q, c = z.shape
    w = z.reshape(b, p // 2, 2, q // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    arg = w.argmax(axis=1)
    return w[np.arange(w.shape[0]), arg].reshape(b, p // 2, q // 2, c), arg


def _unpool(e: np.ndarray, arg: np.ndarray) -> np.ndarray:
    b, pp, qq, c = e.shape
    out = np.zeros((e.size, 4), dtype=e.dtype)
    out[np.arange(e.size), arg] = e.reshape(-1)
    return out.reshape(b, pp, qq, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(b, 2 * pp, 2 * qq, c)


def _col2im(rows: np.ndarray, shape: tuple[int, ...], k: int, pq: tuple[int, int]) -> np.ndarray:
    b, h, w, c = shape
    p, q = pq
    cols = rows.reshape(b, p, q, c, k, k)
    out = np.zeros(shape, dtype=rows.dtype)
    for r in range(k):
        for s in range(k):
            out[:, r : r + p, s : s + q, :] += cols[..., r, s]
    return out


def numpy_cnn(data, epochs: int = 1) -> tuple[float, float]:
    """Plain float32 im2col SGD of the CNN. Returns (training samples/s, test accuracy)."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, np.sqrt(2 / 81), (81, 8)).astype(np.float32)
    w2 = rng.normal(0, np.sqrt(2 / 200), (200, 12)).astype(np.float32)
    w3 = rng.normal(0, np.sqrt(2 / 108), (108, 10)).astype(np.float32)
    # float32 data too (the loaders give float64): else the products would run in float64
    x_all, y_all = data.x_train.astype(np.float32).reshape(-1, 28, 28, 1), data.y_train

    def forward(x):
        p1, pq1 = _patches(x, 9)
        z1 = 1 / (1 + np.exp(-4 * (p1 @ w1)))
        z1 = z1.reshape(x.shape[0], *pq1, 8)
        h1, a1 = _maxpool(z1)
        p2, pq2 = _patches(h1, 5)
        z2 = (1 / (1 + np.exp(-4 * (p2 @ w2)))).reshape(x.shape[0], *pq2, 12)
        h2, a2 = _maxpool(z2)
        flat = np.ascontiguousarray(h2.transpose(0, 3, 1, 2)).reshape(x.shape[0], -1)
        return (p1, z1, h1, a1, p2, pq2, z2, a2, flat), flat @ w3

    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(x_all))
        for i in range(0, len(x_all), BATCH):
            sel = order[i : i + BATCH]
            xb, yb = x_all[sel], y_all[sel]
            b = len(yb)
            (p1, z1, h1, a1, p2, pq2, z2, a2, flat), y = forward(xb)
            pr = np.exp(y - y.max(1, keepdims=True))
            pr /= pr.sum(1, keepdims=True)
            pr[np.arange(b), yb] -= 1
            g3 = flat.T @ pr
            e = (pr @ w3.T).reshape(b, 12, 3, 3).transpose(0, 2, 3, 1)
            d2 = _unpool(e, a2) * 4 * z2 * (1 - z2)
            d2 = d2.reshape(-1, 12)
            g2 = p2.T @ d2
            e1 = _col2im(d2 @ w2.T, h1.shape, 5, pq2)
            d1 = (_unpool(e1, a1) * 4 * z1 * (1 - z1)).reshape(-1, 8)
            g1 = p1.T @ d1
            w3 -= 0.1 * g3 / b
            w2 -= 0.1 * g2 / b
            w1 -= 0.1 * g1 / b
    rate = len(x_all) * epochs / (time.perf_counter() - t0)
    accuracy = float(
        np.mean(
            forward(data.x_test.astype(np.float32).reshape(-1, 28, 28, 1))[1].argmax(1)
            == data.y_test
        )
    )
    return rate, accuracy


# --- the engine ----------------------------------------------------------------------------------


def engine(d, data) -> tuple[float, float]:
    """(samples/s of the training steps, test accuracy in float) of one epoch; the first batch
    (which follows the set-up) is left out of the timing."""
    from cimest.engine.train import train

    step_time, step_samples, last = 0.0, 0, [None]

    def on_progress(p) -> None:
        nonlocal step_time, step_samples
        now = time.perf_counter()
        if not p.epoch_done and last[0] is not None:
            step_time += now - last[0]
            step_samples += min(BATCH, len(data.x_train) - (p.batch - 1) * BATCH)
        last[0] = now

    r = train(d.graph, d.libraries, dataset=data, progress=on_progress)
    if d.spec.algorithm.rule != "software":
        assert r.counts.total() > 0
    return step_samples / step_time, r.accuracy_float


def speed(rounds: int, samples: int) -> None:
    data = dataset(samples)
    designs = {label: design(name) for label, name in DESIGNS.items()}
    numpy_cnn(dataset(200))
    for d in designs.values():
        engine(d, dataset(200))  # warm-up
    rows = []
    for r in range(rounds):
        sides = [("numpy", None), *designs.items()]
        if r % 2:
            sides.reverse()
        row = {}
        for label, d in sides:
            row[label] = numpy_cnn(data) if d is None else engine(d, data)
        rows.append(row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"MNIST CNN (conv9x9x8-maxpool2-conv5x5x12-maxpool2-10), batch {BATCH}, {samples:,} "
        f"mnist5k training digits, one epoch per run, {rounds} alternating rounds after a warm-up "
        f"(load average {load:.1f})"
    )
    base = [row["numpy"][0] for row in rows]
    print(
        f"  numpy float32 im2col SGD   median {statistics.median(base):>7,.0f} samples/s"
        f"   test accuracy {rows[-1]['numpy'][1]:.3f}"
    )
    for label in designs:
        rate = [row[label][0] for row in rows]
        ratios = [a / b for a, b in zip(rate, base, strict=True)]
        print(
            f"  {label:<26} median {statistics.median(rate):>7,.0f} samples/s"
            f"   best {max(ratios):.2f}x, median {statistics.median(ratios):.2f}x the baseline "
            f"(target >= 0.5x)   test accuracy {rows[-1][label][1]:.3f}"
        )


def child(what: str, samples: int) -> None:
    data = dataset(samples)
    d = design(DESIGNS[what]) if what != "numpy" else None
    tracemalloc.start()
    if d is None:
        numpy_cnn(data)
    else:
        engine(d, data)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps([traced, rss]))


def peak_memory(samples: int) -> None:
    mib = 2**20
    print(
        f"peak memory of one epoch of {samples:,} digits (tracemalloc: the training's own "
        "allocations, data loaded before; resident: the whole child process)"
    )
    base = None
    for what in ("numpy", *DESIGNS):
        out = subprocess.run(
            [sys.executable, __file__, "--child", what, "--samples", str(samples)],
            capture_output=True,
            text=True,
            check=True,
        )
        traced, rss = json.loads(out.stdout.strip().splitlines()[-1])
        note = "" if base is None else f" ({traced / base[0]:.1f}x and {rss / base[1]:.2f}x)"
        base = base or (traced, rss)
        print(
            f"  {what:<26} {traced / mib:7.1f} MiB allocated, {rss / mib:6.0f} MiB resident{note}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and samples")
    ap.add_argument("--child", choices=["numpy", *DESIGNS], help=argparse.SUPPRESS)
    ap.add_argument("--samples", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    samples = args.samples or (1000 if args.quick else 2000)
    if args.child:
        child(args.child, samples)
        return
    speed(rounds=2 if args.quick else 4, samples=samples)
    peak_memory(samples)


if __name__ == "__main__":
    main()
