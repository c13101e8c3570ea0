"""The fused one-sample step (cimest/engine/fast.py) against the general rules it replaces: the
same run, with and without it, must leave the same fingerprint (histories, measured activity,
wear, every array and random state), on designs longer and more varied than the recorded
fingerprints of test_bit_identity.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cimest.engine import fast
from cimest.engine import fast_batch as fb
from cimest.engine import train as train_module

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("fingerprint_cases", HERE / "fingerprint_cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

DEEP = (("network: [64, 128, 10]", "network: [64, 40, 30, 10]"),)
LAYER_RATES = (
    (
        "  activation_gain: 4\n",
        "  activation_gain: 4\n  per_layer: {L1: {learning_rate: 0.3}, L3: {learning_rate: 0.05}}\n",
    ),
)
EXTRA = {
    "fast_backprop_deep": (cases.FP, DEEP),
    "fast_bsl_deep": (cases.BSL, DEEP),
    "fast_backprop_deep_noisy_refs": (cases.FP, (*DEEP, *cases.NOISY, *cases.REFS)),
    "fast_backprop_deep_digital_backward": (cases.FP, (*DEEP, *cases.DIGITAL_BACKWARD)),
    "fast_bsl_deep_ideal_noisy": (cases.BSL, (*DEEP, *cases.IDEAL, *cases.NOISY)),
    "fast_bsl_deep_reference_cells": (cases.BSL, (*DEEP, *cases.REFS)),
    "fast_backprop_deep_layer_rates": (cases.FP, (*DEEP, *LAYER_RATES)),
}
# Why three by default: each runs twice (fused and general) over 160 samples, about a second each
DEFAULT = {"fast_backprop_deep", "fast_bsl_deep", "fast_backprop_deep_layer_rates"}


@pytest.fixture(scope="module")
def digits():
    from cimest.engine.datasets import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if c in DEFAULT else pytest.mark.slow) for c in EXTRA]
)
def test_fused_step_equals_the_general_rule(case, digits, monkeypatch):
    monkeypatch.setitem(cases.CASES, case, EXTRA[case])
    monkeypatch.setattr(cases, "SAMPLES", 160)
    taken = []
    real = fast.batch1_step

    def counting(setup):
        step = real(setup)
        assert step is not None  # every case here is one the fused step covers

        def counted(*args):
            taken.append(1)
            return step(*args)

        return counted

    monkeypatch.setattr(train_module, "batch1_step", counting)
    fused = cases.fingerprint(case, 1, digits)
    assert len(taken) == 160 * cases.EPOCHS  # every step went through the fused path
    monkeypatch.setattr(train_module, "batch1_step", lambda setup: None)
    general = cases.fingerprint(case, 1, digits)
    for key in general:  # one key at a time, so a failure names what moved
        assert fused[key] == general[key], key


@pytest.mark.parametrize(
    ("case", "covered"),
    [
        ("backprop", True),
        ("bsl", True),
        ("bsl_noisy", True),
        ("backprop_single_pulse", True),
        ("backprop_pair", False),  # differential pairs: the general path
        ("bsl_rows", False),
        ("bsl_float", False),
        ("software", False),
        ("dfa", False),
        ("pulse_coincidence", False),
    ],
)
def test_fused_step_applies_where_documented(case, covered):
    from cimest.engine.train import make_setup

    d = cases.design(case, 1)
    assert (fast.batch1_step(make_setup(d.graph, d.libraries)) is not None) == covered


def test_on_off_row_drivers_and_no_gradient_memory_take_the_general_path():
    """MLP+NeuroSim's chip: 1-bit row drivers binarise at 0.5 and, without a gradient memory, the
    remainder is dropped; the fused step models neither, so it must not take such a design (a
    run through it measured input density 0.37 where the general rule drives 0.26)."""
    from cimest.api import load_design
    from cimest.engine.train import make_setup

    d = load_design(cases.ROOT / "architectures" / "neurosim_mlp_taox.yaml")
    assert fast.batch1_step(make_setup(d.graph, d.libraries)) is None


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_error_dac_scale_equals_numpy_or_is_left_to_it(mode):
    """pow2_scale against error_path's numpy expression: equal wherever it decides, and it
    decides everywhere but at powers of two, just above them and at infinity (where a log2 off
    by an ulp would move the ceiling)."""
    import numpy as np

    rng = np.random.default_rng(mode)
    powers = np.ldexp(1.0, np.arange(-1070, 1020, 7))
    peaks = np.concatenate(
        [
            rng.random(2000) * 2.0,
            np.exp(rng.uniform(-700, 700, 2000)),
            powers,
            np.nextafter(powers, np.inf),
            np.nextafter(powers, 0.0),
            [0.0, -1.0, np.nan, np.inf, 5e-324, 1.0],
        ]
    )
    decided = 0
    for peak in peaks:
        with np.errstate(divide="ignore", invalid="ignore"):
            want = 2.0 ** np.ceil(np.log2(peak)) if mode == 2 and peak > 0 else 1.0
        got = fb.pow2_scale(float(peak), mode)
        if got != 0.0:
            assert got == want, peak
            decided += 1
    deferred = len(peaks) - decided
    assert deferred <= (2 * len(powers) + 3 if mode == 2 else 0)


@pytest.mark.parametrize(("adc_bits", "gain"), [(4, 4.0), (8, 4.0), (8, 1.5)])
def test_hidden_table_equals_the_general_rules_arithmetic(adc_bits, gain):
    """bp_hidden_table (one sample's hidden layer by look-up, into buffers) against the numpy of
    the general rule (fast_batch.bp_hidden_lookup_reference): at every ADC tie, its float32
    neighbours, out of range and on random pre-activations; a NaN or infinity is reported."""
    import numpy as np

    from cimest.engine import fast_batch as fb

    rng = np.random.default_rng(adc_bits)
    adc = fast._quantizer(adc_bits, -2.0, 2.0)
    v_min, lsb, top = adc
    ties = (v_min + lsb * (np.arange(-2, top + 3) - 0.5)).astype(np.float32)
    y = np.concatenate(
        [
            rng.normal(0, 1.5, 500).astype(np.float32),
            ties,
            np.nextafter(ties, np.float32(np.inf)),
            np.nextafter(ties, np.float32(-np.inf)),
            np.float32([0.0, -0.0, 1e30, -1e30]),
        ]
    ).reshape(1, -1)
    tabs = fb.hidden_tables(gain, adc, 8)
    x, x32, dz = np.empty(y.shape), np.empty(y.shape, np.float32), np.empty(y.shape)
    nnz, finite = fast.bp_hidden_table(y, *adc, *tabs, x, x32, dz)
    want_x, want_d, want_nnz = fb.bp_hidden_lookup_reference(y, *adc, gain, 8)
    assert finite and nnz == want_nnz
    assert np.array_equal(x, want_x) and np.array_equal(dz, want_d)
    assert np.array_equal(x32, want_x.astype(np.float32))
    y[0, 7] = np.nan
    assert not fast.bp_hidden_table(y, *adc, *tabs, x, x32, dz)[1]


def test_one_sample_softmax_equals_numpy():
    """softmax_one (BSL's batch-1 output) against the general rule's e / e.sum(axis=1,
    keepdims=True), bit for bit, on exponentials of spread magnitudes and widths."""
    import numpy as np

    rng = np.random.default_rng(3)
    for n in (1, 7, 10, 16, 100, 300):
        for _ in range(20):
            e = np.exp(rng.uniform(-30, 30, (1, n)))
            want = e / e.sum(axis=1, keepdims=True)
            label = int(rng.integers(0, n))
            got = e.copy()
            assert fast.softmax_one(got, label) == want[0, label]
            assert np.array_equal(got, want), n
