"""Load + compile + estimate time of large chips, and how it grows with the tile count.

Target (issue 2): well under 1 s for a chip of at least 10,000 tiles. Prints times and the ratio
to the smallest chip measured in the same run (machines here are shared and noisy).

    python benchmarks/estimate_bench.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from cimest.api import estimate_design, load_design

ROOT = Path(__file__).parents[1]
BASE = (ROOT / "architectures" / "full_precision_rram.yaml").read_text()


def arch(width: int, depth: int) -> str:
    net = ", ".join([str(width)] * depth + ["10"])
    text = BASE.replace("network: [64, 128, 10]", f"network: [{net}]")
    text = text.replace("  dataset: digits\n", "")  # a cost question: no training data
    return text.replace("rows: 128", "rows: 64").replace("cols: 128", "cols: 64")


def time_once(path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    d = load_design(path)
    estimate_design(d)
    return time.perf_counter() - t0, d.graph.n_tiles


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width in (512, 1024, 2048, 4096):
            f = Path(tmp) / f"w{width}.yaml"
            f.write_text(arch(width, 4))
            # the design's libraries are found beside the repository's architectures
            f2 = ROOT / "architectures" / f".bench_{width}.yaml"
            f2.write_text(f.read_text())
            try:
                times = [time_once(f2) for _ in range(5)]
            finally:
                f2.unlink()
            rows.append((times[0][1], statistics.median(t for t, _ in times)))
    base_tiles, base_t = rows[0]
    print(f"{'tiles':>8} {'median s':>10} {'x time':>8} {'x tiles':>8}")
    for tiles, t in rows:
        print(f"{tiles:>8,} {t:>10.4f} {t / base_t:>8.2f} {tiles / base_tiles:>8.1f}")
    big = [t for tiles, t in rows if tiles >= 10_000]
    if big:
        print(f"chip of >= 10,000 tiles: {big[0]:.3f} s = {big[0] / 1.0:.2f} x the 1 s target")


if __name__ == "__main__":
    main()
