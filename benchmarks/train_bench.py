"""Training speed and memory of binary stochastic learning with full event counting.

Prints samples/s of BSL training of a 784-500-200-10 MLP (batch 100, every event counted, LFSR
random references) next to a plain numpy float32 SGD MLP of the same shape timed in the same run
(target: at least 0.5x its speed), and the peak memory of a one-epoch run on 60,000 samples of
MNIST shape (target: < 2 GB), measured in a child process.

Two BSL figures: the whole run as `cimest train` does it (set-up, a test-set evaluation after each
epoch), and its training steps alone, which is the work the baseline's timer covers.

    python benchmarks/train_bench.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
SHAPE = [784, 500, 200, 10]


def arch_text() -> str:
    text = (ROOT / "architectures" / "binary_stochastic_rram.yaml").read_text()
    text = text.replace("network: [64, 128, 10]", f"network: {SHAPE}")
    text = text.replace("  dataset: digits\n", "")  # trained on the synthetic set passed to train()
    return text.replace("batch_size: 64", "batch_size: 100")


def synthetic(n: int, seed: int = 0):
    from cimest.engine.datasets import Dataset

    rng = np.random.default_rng(seed)
    x = (rng.random((n, 784), dtype=np.float32) * (rng.random((n, 784)) < 0.2)).astype(np.float32)
    y = rng.integers(0, 10, n)
    xt, yt = x[:1000], y[:1000]
    return Dataset("synthetic", x, y, xt, yt, 10)


def numpy_sgd(x: np.ndarray, y: np.ndarray, epochs: int, batch: int = 100) -> float:
    """Plain float32 sigmoid MLP with softmax and backprop: the baseline."""
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in zip(SHAPE, SHAPE[1:], strict=False)]
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            xb, yb = x[i : i + batch], y[i : i + batch]
            hs = [xb]
            for w in ws[:-1]:
                hs.append(1 / (1 + np.exp(-hs[-1] @ w)))
            z = hs[-1] @ ws[-1]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            d = p
            for k in range(len(ws) - 1, -1, -1):
                g = hs[k].T @ d
                if k:
                    d = (d @ ws[k].T) * hs[k] * (1 - hs[k])
                ws[k] -= 0.1 * g / len(yb)
    return len(x) * epochs / (time.perf_counter() - t0)


def bsl(data, epochs: int) -> tuple[float, float]:
    """(samples/s of the whole run, samples/s of its training steps alone)."""
    import cimest.engine.train as engine
    from cimest.api import bind_design
    from cimest.spec import parse_architecture

    text = arch_text().replace("epochs: 20", f"epochs: {epochs}")
    d = bind_design(parse_architecture(text, str(ROOT / "architectures" / "bench.yaml")))
    in_steps = [0.0]
    step = engine.train_batch

    def timed_step(*args):
        t = time.perf_counter()
        out = step(*args)
        in_steps[0] += time.perf_counter() - t
        return out

    engine.train_batch = timed_step  # measurement only: the same function, timed
    try:
        t0 = time.perf_counter()
        r = engine.train(d.graph, d.libraries, dataset=data)
        whole = time.perf_counter() - t0
    finally:
        engine.train_batch = step
    assert r.counts.total() > 0
    return r.counts.n_samples / whole, r.counts.n_samples / in_steps[0]


def child_peak_memory() -> None:
    data = synthetic(60_000)
    bsl(data, 1)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def main() -> None:
    if sys.argv[1:] == ["--child"]:
        child_peak_memory()
        return
    data = synthetic(5_000)
    base = numpy_sgd(data.x_train, data.y_train, 2)
    whole, steps = bsl(data, 2)
    print(f"numpy float32 SGD MLP {SHAPE}: {base:,.0f} samples/s")
    print(f"cimest BSL with full event counting, training steps: {steps:,.0f} samples/s "
          f"= {steps / base:.2f}x the baseline (target >= 0.5x)")
    print(f"cimest BSL, whole run (set-up, test evaluation per epoch): {whole:,.0f} samples/s "
          f"= {whole / base:.2f}x")
    out = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True)
    peak_gib = int(out.stdout.strip().splitlines()[-1]) / 2**20
    print(f"peak memory, one epoch of 60,000 samples: {peak_gib:.2f} GiB (target < 2 GB: "
          f"{peak_gib * 2**30 / 2e9:.2f}x)")


if __name__ == "__main__":
    main()
