"""The fused many-sample step (cimest/engine/fast_batch.py): its kernels against their numpy
references (bit for bit, on random inputs and at the edges), and whole runs with and without it
leaving the same fingerprint (histories, measured activity, wear, every array and random state)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cimest.engine import fast_batch as fb
from cimest.engine import train as train_module
from cimest.engine.fast import _quantizer
from cimest.engine.rules.backprop import residual_pulses_reference

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("fingerprint_cases", HERE / "fingerprint_cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def same(a, b) -> bool:
    """Equal bit for bit (dtype, shape, every value including -0.0 and NaN payloads)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- kernels against their references ------------------------------------------------------------


@pytest.mark.parametrize(  # codes in uint8 to 8 bits, int32 above (9, 12)
    ("adc_bits", "dac_bits", "gain"),
    [(8, 8, 4.0), (5, 3, 3.0), (3, None, 2.5), (9, 8, 4.0), (12, None, 3.0)],
)
def test_hidden_lookup_equals_the_general_rules_arithmetic(adc_bits, dac_bits, gain):
    rng = np.random.default_rng(adc_bits)
    adc = _quantizer(adc_bits, -2.0, 2.0)
    v_min, lsb, top = adc
    # every code's midpoint (the ADC's ties) and its neighbours in float32, out of range, zeros
    ties = (v_min + lsb * (np.arange(-2, top + 3) - 0.5)).astype(np.float32)
    y = np.concatenate(
        [
            rng.normal(0, 1.5, 3000).astype(np.float32),
            ties,
            np.nextafter(ties, np.float32(np.inf)),
            np.nextafter(ties, np.float32(-np.inf)),
            np.float32([0.0, -0.0, 1e30, -1e30]),
        ]
    )
    y = y[: y.size - y.size % 8].reshape(8, -1)
    tab_x, tab_d = fb.hidden_tables(gain, adc, dac_bits)
    x, x32, d = np.empty(y.shape), np.empty(y.shape, np.float32), np.empty(y.shape)
    nnz, finite = fb.bp_hidden_lookup(y, *adc, tab_x, tab_d, x, x32, d)
    want_x, want_d, want_nnz = fb.bp_hidden_lookup_reference(y, *adc, gain, dac_bits)
    assert finite
    assert same(x, want_x) and same(d, want_d) and nnz == want_nnz
    assert same(x32, want_x.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_hidden_lookup_reports_a_non_finite_pre_activation(bad):
    adc = _quantizer(8, -2.0, 2.0)
    y = np.zeros((2, 3), dtype=np.float32)
    y[1, 2] = bad
    out = np.empty(y.shape), np.empty(y.shape, np.float32), np.empty(y.shape)
    assert not fb.bp_hidden_lookup(y, *adc, *fb.hidden_tables(4.0, adc, 8), *out)[1]


def test_output_softmax_and_errors_equal_their_references():
    rng = np.random.default_rng(1)
    out_q = _quantizer(6, -8.0, 8.0)
    y = np.concatenate([rng.normal(0, 5, (40, 10)), np.full((1, 10), 3.0)]).astype(np.float32)
    y[0, :3] = [1e30, -1e30, 0.0]  # clipped at both ends
    shifted = np.empty(y.shape)
    finite = fb.output_shifted_rows(y, *out_q, shifted)
    assert finite and same(shifted, fb.output_shifted_rows_reference(y, *out_q))
    e = np.exp(shifted)
    labels = rng.integers(0, 10, y.shape[0])
    # a label's probability below 1e-300 (the loss's floor) and a row of NaN
    e = np.concatenate([e, [[1.0] + [0.0] * 9], np.full((1, 10), np.nan)])
    labels = np.concatenate([labels, [3, 0]])
    for error in (False, True):
        p, at = e.copy(), np.empty(e.shape[0])
        got = (p, at, *fb.softmax_rows(p, labels, error, at))
        want = fb.softmax_rows_reference(e, labels, error)
        assert same(got[0], want[0]) and same(got[1], want[1]) and got[3] == want[3]
        assert same(got[2], want[2])  # NaN from the last row when the error is formed
    assert got[1][-2] == 1e-300 and np.isnan(got[1][-1]) and np.isnan(got[2])
    labels = labels[:-2]
    zs = (rng.random((41, 10)) < 0.3).astype(np.int8)
    got, n = fb.bsl_output_error_rows(zs, labels)
    want_d, want_n = fb.bsl_output_error_rows_reference(zs, labels)
    assert same(got, want_d) and n == want_n


def test_output_shift_reports_a_non_finite_output():
    y = np.zeros((3, 4), dtype=np.float32)
    y[2, 1] = np.nan
    assert not fb.output_shifted_rows(y, *_quantizer(6, -8.0, 8.0), np.empty(y.shape))


def test_input_levels_equal_the_dac_reference():
    rng = np.random.default_rng(3)
    q = _quantizer(8, 0.0, 1.0)
    ties = q[1] * (np.arange(-2, 260) + 0.5)
    x = np.concatenate([rng.random(498), ties, [0.0, -0.0, np.inf, -np.inf, 1.0]]).reshape(5, -1)
    got, got32 = np.empty(x.shape), np.empty(x.shape, np.float32)
    nnz, nan = fb.levels_nnz(x, *q, got, got32)
    want, want_nnz = fb.levels_nnz_reference(x, *q)
    assert same(got32, want.astype(np.float32))
    assert not nan and same(got, want) and nnz == want_nnz
    x[2, 3] = np.nan
    assert fb.levels_nnz(x, *q, got, got32)[1]


@pytest.mark.parametrize("adc", [True, False])
def test_error_read_equals_the_general_rules_arithmetic(adc):
    rng = np.random.default_rng(4)
    q = _quantizer(8, -2.0, 2.0)
    ties = -2.0 + q[1] * (np.arange(-2, 260) + 0.5)
    v = np.concatenate([rng.normal(0, 1.5, 700), ties, [0.0, -0.0, 1e300, -1e300]])
    v = v[: v.size - v.size % 6].reshape(6, -1)
    dz = rng.random(v.shape)
    dz[0, :5] = 0.0  # errors that vanish
    out = np.empty(v.shape)
    got = (out, *fb.bp_error_read_rows(v, adc, *q, 0.25, dz, out))
    want = fb.bp_error_read_rows_reference(v, adc, *q, 0.25, dz)
    assert not got[3] and same(got[0], want[0]) and got[1] == want[1] and got[2] == want[2]
    dz[1, 1] = np.nan  # a NaN error makes the peak NaN, as np.max does
    assert np.isnan(fb.bp_error_read_rows(v, adc, *q, 0.25, dz, out)[0])
    v[1, 2] = np.nan
    assert fb.bp_error_read_rows(v, adc, *q, 0.25, dz, out)[2] == adc  # only an ADC meets the NaN


@pytest.mark.parametrize("by", [0, 1, 2, -1])  # rows, columns, bit masks, the cheapest
@pytest.mark.parametrize(("bits", "theta"), [(8, 64), (8, 1), (6, 20), (4, 5), (4, 9)])
def test_integer_gradient_equals_the_general_rules_update(bits, theta, by):
    """Saturation at both ends, steps of several thetas, exact multiples, a restored accumulator
    already at a step or beyond its range under an input never driven (no gradient there),
    samples without an error, and the gradient terms."""
    rng = np.random.default_rng(theta)
    B, n_in, n_out = 20, 30, 12
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = (rng.random((B, n_in)) < 0.4).astype(np.float32)
    x[:, 0] = 0.0  # input 0 never driven
    x[:, 1] = 1.0  # input 1 always: its column sums reach +-B and saturate
    delta = rng.integers(-1, 2, (B, n_out)).astype(np.int8)
    delta[3] = 0  # a sample without an error
    delta[:, 5] = np.where(np.arange(B) % 2, 1, -1)  # sums of opposite signs
    delta[:, 6], delta[:, 7] = 1, -1
    acc = rng.integers(lo, hi + 1, n_in * n_out).astype(np.int32)
    acc[:4] = [theta if theta <= hi else hi, -theta if -theta >= lo else lo, hi + 3, lo - 3]
    acc[n_out + 6], acc[n_out + 7] = hi, lo
    got_acc, want_acc = acc.copy(), acc.copy()
    idx, sign, terms = fb.bsl_grad_accumulate(got_acc, x, delta, lo, hi, theta, by)
    want_idx, want_sign, want_terms = fb.bsl_grad_accumulate_reference(
        want_acc.reshape(n_in, n_out), x, delta, bits, theta
    )
    assert (idx.size > 0) == (theta <= hi) and terms > 0  # the case exercises what it says
    assert same(got_acc, want_acc)
    assert same(idx, want_idx) and same(sign, want_sign.astype(np.int64)) and terms == want_terms


@pytest.mark.parametrize("by", [0, 1, 2])
def test_integer_gradient_of_a_batch_beyond_int16(by):
    """Rows summed in int32 once the samples with an error could overflow int16's sums (and
    masks of many words: 514 of 64 samples)."""
    rng = np.random.default_rng(by)
    B = (1 << 15) + 100
    x = (rng.random((B, 3)) < 0.9).astype(np.float32)
    x[:, 0] = 1.0  # its sums reach +-B
    delta = np.ones((B, 4), dtype=np.int8)
    delta[:, 1] = -1
    delta[::7, 2] = 0
    acc = rng.integers(-(1 << 20), 1 << 20, 12).astype(np.int32)
    got_acc, want_acc = acc.copy(), acc.copy()
    idx, sign, terms = fb.bsl_grad_accumulate(got_acc, x, delta, -(1 << 29), (1 << 29) - 1, 5, by)
    want_idx, want_sign, want_terms = fb.bsl_grad_accumulate_reference(
        want_acc.reshape(3, 4), x, delta, 30, 5
    )
    assert same(got_acc, want_acc) and same(idx, want_idx) and terms == want_terms
    assert same(sign, want_sign.astype(np.int64))


def test_integer_gradient_takes_the_cheaper_way():
    """Both ways give the same accumulators (test above); which one runs only changes the time:
    by rows for dense errors (a hidden layer's), by columns for sparse ones (the output's)."""
    rng = np.random.default_rng(0)
    x = (rng.random((64, 128)) < 0.5).astype(np.float32)
    sparse = np.zeros((64, 10), dtype=np.int8)
    sparse[np.arange(64), rng.integers(0, 10, 64)] = -1
    accs = [np.zeros(128 * 10, dtype=np.int32) for _ in range(4)]
    for acc, by in zip(accs, (-1, 0, 1, 2), strict=True):
        fb.bsl_grad_accumulate(acc, x, sparse, -128, 127, 200, by)
    assert all(same(accs[0], other) for other in accs[1:])


@pytest.mark.parametrize("width", [8, 16, 24, 31])
def test_fused_draws_equal_the_comparators_and_rules(width):
    """A hidden layer's sigmoid, derivative and both comparator banks in one kernel, and the
    output's comparators with its error, against LfsrRng.exceeds on the general rule's values:
    the same samples, the same lane states after."""
    from cimest.engine.peripherals import LfsrRng

    rng = np.random.default_rng(width)
    B, n, n_out = 7, 13, 10
    y = rng.normal(0, 1, (B, n)).astype(np.float32)
    y[0, :3] = [0.0, 40.0, -40.0]  # z exactly 0.5, 1 and 0
    banks = [LfsrRng(seed, n, width) for seed in (3, 4, 3, 4)]  # two pairs of the same bank
    t = fb.bsl_sigmoid_pre(y, 4.0)
    np.tanh(t, out=t)
    x, ds = np.empty((B, n), dtype=np.float32), np.empty((B, n), dtype=np.int8)
    ones = fb.bsl_hidden_draws(t, 4.0, banks[0].kernel_state(), banks[1].kernel_state(), x, ds)
    want_x, want_ds, want_ones = fb.bsl_hidden_draws_reference(y, 4.0, banks[2], banks[3])
    assert same(x, want_x) and same(ds, want_ds) and ones == want_ones
    assert same(banks[0].lane_states(), banks[2].lane_states())
    assert same(banks[1].lane_states(), banks[3].lane_states())
    p = rng.dirichlet(np.ones(n_out), B)
    p[0, :2] = [0.0, 1.0]
    labels = rng.integers(0, n_out, B)
    a, b = LfsrRng(9, n_out, width), LfsrRng(9, n_out, width)
    got, nnz = fb.bsl_output_draws(p, labels, a.kernel_state())
    want, want_nnz = fb.bsl_output_error_rows_reference(b.exceeds(p, np.int8), labels)
    assert same(got, want) and nnz == want_nnz and same(a.lane_states(), b.lane_states())


@pytest.mark.parametrize("margin", ["tanh_margin", 0.05, np.inf])
@pytest.mark.parametrize("width", [8, 16, 24, 28])
def test_hidden_comparators_decided_from_a_candidate_equal_the_rules(width, margin):
    """A hidden layer's comparators decided from libm.tanh_candidate where a tanh ``margin`` off
    cannot change them, the rest settled from numpy's tanh of the values left open, against
    LfsrRng.exceeds on the general rule's values: the same samples, the same lane states after
    (special values, values near the comparators' thresholds, banks wider than 24 bits)."""
    from cimest.engine import libm
    from cimest.engine.peripherals import LfsrRng

    margin = libm.tanh_margin() if margin == "tanh_margin" else margin
    rng = np.random.default_rng(width)
    B, n = 24, 40
    y = rng.normal(0, 1.5, (B, n)).astype(np.float32)
    y[0, :8] = [0.0, 40.0, -40.0, np.inf, -np.inf, np.nan, 1e-30, 5.0]
    # pre-activations whose sigmoid is a multiple of 2^-8: on a threshold of every width here
    y[1] = np.arctanh(2 * rng.integers(1, 255, n) / 256 - 1) / 2
    banks = [LfsrRng(seed, n, width) for seed in (3, 4, 3, 4)]  # two pairs of the same bank
    t = fb.bsl_sigmoid_pre(y, 4.0)
    x, ds = np.empty((B, n), dtype=np.float32), np.empty((B, n), dtype=np.int8)
    sz, sd = np.empty(B * n, dtype=np.uint32), np.empty(B * n, dtype=np.uint32)
    flags, where = np.empty(B * n, dtype=np.uint8), np.empty(B * n, dtype=np.int64)
    z_rng, d_rng = banks[0].kernel_state(), banks[1].kernel_state()
    flat = (x.reshape(-1), ds.reshape(-1))
    n_open = fb.bsl_hidden_decide(t.reshape(-1), 4.0, z_rng, d_rng, sz, sd, *flat, flags, margin)
    assert n_open == np.count_nonzero(flags) and flags[5] == 1  # NaN is left open
    if margin == np.inf or width > 24:
        assert n_open == B * n
    th = fb.bsl_hidden_open(t, flags, n_open)
    assert same(th, np.tanh(t).reshape(-1)[flags == 1])
    ones = fb.bsl_hidden_settle(th, flags, n_open, 4.0, z_rng, d_rng, sz, sd, *flat, where)
    want_x, want_ds, want_ones = fb.bsl_hidden_draws_reference(y, 4.0, banks[2], banks[3])
    assert same(x, want_x) and same(ds, want_ds) and ones == want_ones
    assert same(banks[0].lane_states(), banks[2].lane_states())
    assert same(banks[1].lane_states(), banks[3].lane_states())


@pytest.mark.parametrize("cap", [1, 3, 32])
@pytest.mark.parametrize("B", [16, 13, 64])  # a power of two takes a product for G / B
def test_residual_batch_equals_the_gradient_memory_reference(cap, B):
    rng = np.random.default_rng(cap)
    n_steps, eta = 100, 0.1
    residual = rng.uniform(-1, 1, 400)
    grad = rng.normal(0, 2, 400) * B
    grad[:4] = [0.0, 1e9, -1e9, 0.0]  # no change, capped both ways, and below:
    residual[3] = -0.0  # a signed zero kept as the reference keeps it
    residual[4:6] = [np.inf, -np.inf]
    # G / B rounded below the normals, exactly and not (a residual of zero keeps the update)
    grad[6:10] = [5e-324, -3e-320, 1.5e-310, np.nextafter(2.2e-308, 0)]
    residual[6:10] = 0.0
    got_r = residual.copy()
    counts, idx, n = np.empty(400), np.zeros(400, np.int64), np.zeros(400, np.int64)
    m, total = fb.bp_residual_batch(got_r, grad, -eta, B, n_steps, cap, counts, idx, n)
    idx, n = idx[:m], n[:m]
    want_r, want_n = residual_pulses_reference(residual, -eta * (grad / B), n_steps, cap)
    flat = want_n.reshape(-1)
    assert same(got_r, want_r) and np.signbit(got_r[3])
    assert same(idx, np.flatnonzero(flat)) and same(n, flat[flat != 0])
    assert total == int(np.abs(flat).sum())


@pytest.mark.parametrize("gain", [4.0, 3.0])
def test_bsl_sigmoid_and_errors_equal_the_general_rules_arithmetic(gain):
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.normal(0, 3, 1000), [0.0, -0.0, 40.0, -40.0]]).astype(np.float32)
    y = y.reshape(4, -1)
    t = fb.bsl_sigmoid_pre(y, gain)
    np.tanh(t, out=t)
    z, d = fb.bsl_sigmoid_post(t, gain)
    want_z, want_d = fb.bsl_sigmoid_reference(y, gain)
    assert same(z, want_z) and same(d, want_d)
    v = rng.normal(0, 1, (4, 50)).astype(np.float32)
    v[0, :2] = [0.0, -0.0]
    ds = (rng.random((4, 50)) < 0.5).astype(np.int8)
    got, n = fb.bsl_error_down_rows(v, ds)
    want, want_n = fb.bsl_error_down_rows_reference(v, ds)
    assert same(got, want) and n == want_n and fb.nonzeros(v) == np.count_nonzero(v)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_error_drive_equals_the_general_rules_drive(mode):
    rng = np.random.default_rng(mode)
    q = _quantizer(8, -1.0, 1.0) if mode == 2 else (0.0, 1.0, 1)
    d = np.concatenate([rng.normal(0, 0.3, 500), [0.0, -0.0, 0.5, -0.5, 3.0]]).reshape(5, -1)
    got = np.empty(d.shape)
    n, nan = fb.bp_error_drive_rows(d, mode, 0.5, *q, got)
    got = d if mode == 0 else got
    want, want_n = fb.bp_error_drive_rows_reference(d, mode, 0.5, *q)
    assert not nan and same(got, want) and n == want_n


@pytest.mark.parametrize("case", ["backprop", "backprop_noisy_refs"])
def test_programming_equals_program_at_and_after_update(case):
    """program_layer against the general rule's programming of the same counts from the same
    state: conductances, wear, read-weight cache, meters and the device generator."""
    import copy

    from cimest.engine.rules import Meter
    from cimest.engine.rules.common import after_update, program_at, read_weights
    from cimest.engine.train import init_state, make_setup

    d = cases.design(case, 16)
    setup = make_setup(d.graph, d.libraries)
    rng = np.random.default_rng(9)
    for i, lm in enumerate(d.graph.layers):
        ours, ref = init_state(setup, 3), init_state(setup, 3)
        idx = np.sort(rng.choice(lm.n_weights, 40, replace=False)).astype(np.int64)
        n = rng.integers(-5, 6, idx.size).astype(np.int64)
        n[n == 0] = 1
        m_ours, m_ref = Meter(d.graph), Meter(d.graph)
        W = read_weights(setup, ours)
        device = fb.Programmer(setup)
        device.attach(m_ours, 16)  # held: one update of every layer, 16 samples' gradients
        xi = ours.device_rng.standard_normal(int(np.abs(n).sum()))
        device.program(ours, i, lm.name, idx, n, xi, W[i])
        m_ours.settle()
        read_weights(setup, ref)
        program_at(setup, ref.layers[i], idx, n, ref.device_rng, m_ref, lm.name)
        after_update(setup, ref, i, lm.name, idx)
        for layer in d.graph.layers:  # what attach holds besides the programming
            m_ref.update(layer.name)
            m_ref.gradient(layer.name, 16 * layer.n_weights)
        assert same(ours.layers[i].g, ref.layers[i].g)
        assert same(ours.layers[i].pulses, ref.layers[i].pulses)
        assert same(ours.read_weights[i], ref.read_weights[i])
        assert m_ours.activity == m_ref.activity
        assert ours.device_rng.bit_generator.state == ref.device_rng.bit_generator.state
        assert copy.deepcopy(m_ours.activity[lm.name]).set_pulses > 0


# --- whole runs: fused against the general rules ---------------------------------------------------

DEEP = (("network: [64, 128, 10]", "network: [64, 40, 30, 10]"),)
EXTRA = {
    "batch_backprop_deep": (cases.FP, DEEP),
    "batch_bsl_deep": (cases.BSL, DEEP),
    "batch_backprop": (cases.FP, ()),
    "batch_bsl": (cases.BSL, ()),
    "batch_backprop_deep_noisy_refs": (cases.FP, (*DEEP, *cases.NOISY, *cases.REFS)),
    "batch_backprop_deep_digital_backward": (cases.FP, (*DEEP, *cases.DIGITAL_BACKWARD)),
    "batch_backprop_single_pulse": (
        cases.FP,
        (("update: {kind: pulse_train, max_pulses: 32}", "update: {kind: single_pulse}"),),
    ),
    "batch_bsl_deep_ideal_noisy": (cases.BSL, (*DEEP, *cases.IDEAL, *cases.NOISY)),
    "batch_bsl_deep_reference_cells": (cases.BSL, (*DEEP, *cases.REFS)),
}
# Why two by default: each runs twice (fused and general) over 160 samples, about a second each
DEFAULT = {"batch_backprop_deep", "batch_bsl_deep"}


@pytest.fixture(scope="module")
def digits():
    from cimest.engine.datasets import load_dataset

    return load_dataset("digits")


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if c in DEFAULT else pytest.mark.slow) for c in EXTRA]
)
@pytest.mark.parametrize("batch", [13])  # 160 = 12 x 13 + 4: a short last batch too
@pytest.mark.parametrize("products", ["in kernels", "numpy's exp and log", "numpy"])
def test_fused_batch_step_equals_the_general_rule(case, batch, products, digits, monkeypatch):
    """Every way of the fused step: its products inside the kernels (blas.matmul) with np.exp and
    np.log there too (libm.matches) or numpy's between them, and, where a product's bits could
    differ from np.matmul's (blas.matches false), staged around numpy."""
    if products == "numpy":
        monkeypatch.setattr(fb.blas, "matches", lambda *args, **kwargs: False)
    elif not fb.blas.bundled():  # see tests/engine/test_blas.py
        pytest.skip("numpy is not a PyPI wheel with its bundled scipy-openblas")
    if products == "numpy's exp and log":
        monkeypatch.setattr(fb.libm, "matches", lambda: False)
    monkeypatch.setitem(cases.CASES, case, EXTRA[case])
    monkeypatch.setattr(cases, "SAMPLES", 160)
    taken = []
    real = fb.batch_step

    def counting(setup, single):
        step = real(setup, single)
        assert step is not single  # every case here is one the fused step covers

        def counted(setup_, state, xb, yb, meter):
            taken.append(xb.shape[0])
            return step(setup_, state, xb, yb, meter)

        return counted

    monkeypatch.setattr(train_module, "batch_step", counting)
    # the steps with their products in the kernels (BSL: on LFSR banks only), counted at the
    # kernel the step calls from Python (one no other kernel calls: a kernel that calls a
    # patched one could not compile)
    in_kernels = []
    kernels_ = (
        ["bsl_tail", "bp_train"]
        if products == "in kernels"
        else ["bsl_backward", "bp_backward_all"]
    )
    for name in kernels_:
        real_kernel = getattr(fb, name)

        def counted_kernel(*args, real_kernel=real_kernel):
            in_kernels.append(1)
            return real_kernel(*args)

        monkeypatch.setattr(fb, name, counted_kernel)
    fused = cases.fingerprint(case, batch, digits)
    assert taken == ([13] * 12 + [4]) * cases.EPOCHS  # every batch went through the step
    if "bsl" not in case or "ideal" not in case:
        assert bool(in_kernels) == (products != "numpy")
    monkeypatch.setattr(train_module, "batch_step", lambda setup, single: single)
    general = cases.fingerprint(case, batch, digits)
    for key in general:  # one key at a time, so a failure names what moved
        assert fused[key] == general[key], key


@pytest.mark.parametrize("margin", [0.05, np.inf])
def test_fused_bsl_step_with_values_left_to_numpys_tanh_equals_the_general_rule(
    margin, digits, monkeypatch
):
    """The fused BSL step's comparators decided from a candidate tanh, with a wide margin (about
    a quarter of the values left to numpy's tanh) and none (every value numpy's): the general
    rule's fingerprint. (With libm.tanh_margin's, few batches leave any value open: the test
    above covers that way.)"""
    if not fb.blas.bundled():  # see tests/engine/test_blas.py
        pytest.skip("numpy is not a PyPI wheel with its bundled scipy-openblas")
    monkeypatch.setattr(fb.libm, "tanh_margin", lambda: margin)
    monkeypatch.setitem(cases.CASES, "batch_bsl_deep", EXTRA["batch_bsl_deep"])
    monkeypatch.setattr(cases, "SAMPLES", 160)
    opened = []
    real_open = fb.bsl_hidden_open

    def counted_open(t, flags, n_open):
        opened.append(n_open / t.size)
        return real_open(t, flags, n_open)

    monkeypatch.setattr(fb, "bsl_hidden_open", counted_open)
    fused = cases.fingerprint("batch_bsl_deep", 13, digits)
    assert opened  # the step took the kernels' way
    assert 0.05 < np.mean(opened) < 0.5 if margin == 0.05 else min(opened) == 1.0
    monkeypatch.setattr(train_module, "batch_step", lambda setup, single: single)
    general = cases.fingerprint("batch_bsl_deep", 13, digits)
    for key in general:  # one key at a time, so a failure names what moved
        assert fused[key] == general[key], key


@pytest.mark.parametrize(
    ("case", "covered"),
    [
        ("backprop", True),
        ("bsl", True),
        ("bsl_noisy", True),
        ("bsl_ideal_rng", True),
        ("backprop_single_pulse", True),
        ("backprop_pair", False),  # differential pairs: the general path
        ("bsl_rows", False),
        ("bsl_float", False),
        ("bsl_integer", False),
        ("software", False),
        ("dfa", False),
        ("pulse_coincidence", False),
    ],
)
def test_fused_batch_step_applies_where_documented(case, covered):
    from cimest.engine.rules import train_batch
    from cimest.engine.train import make_setup

    d = cases.design(case, 16)
    assert (fb.batch_step(make_setup(d.graph, d.libraries), train_batch) is not train_batch) == (
        covered
    )


def test_on_off_row_drivers_and_no_gradient_memory_take_the_general_path():
    """MLP+NeuroSim's chip (1-bit row drivers, no gradient memory): as for the batch-1 step."""
    from cimest.api import load_design
    from cimest.engine.rules import train_batch
    from cimest.engine.train import make_setup

    d = load_design(cases.ROOT / "architectures" / "neurosim_mlp_taox.yaml")
    assert fb.batch_step(make_setup(d.graph, d.libraries), train_batch) is train_batch


@pytest.mark.parametrize(
    ("option", "value", "covered"),
    [
        ("output", "softmax", True),
        ("output", "sigmoid", False),
        ("gradient_input", "driven", True),
        ("gradient_input", "activation", False),
        ("per_layer", {}, True),
        ("per_layer", {"L1": {"learning_rate": 0.4}}, False),
    ],
)
def test_backprop_options_it_does_not_model_take_the_general_path(
    option, value, covered, monkeypatch
):
    """A sigmoid output, gradients from the activation or per-layer learning rates (options of the
    full-precision rules where the spec has them) must not run through a step that models none."""
    from cimest.engine.rules import train_batch
    from cimest.engine.rules.common import Setup
    from cimest.engine.train import make_setup

    d = cases.design("backprop", 16)
    setup = make_setup(d.graph, d.libraries)
    real = Setup.spec.fget

    class Algorithm:  # the design's algorithm with one option set
        def __init__(self, alg):
            self._alg = alg

        def __getattr__(self, name):
            return value if name == option else getattr(self._alg, name)

    class Spec:
        def __init__(self, spec):
            self._spec, self.algorithm = spec, Algorithm(spec.algorithm)

        def __getattr__(self, name):
            return getattr(self._spec, name)

    monkeypatch.setattr(Setup, "spec", property(lambda self: Spec(real(self))))
    assert (fb.batch_step(setup, train_batch) is not train_batch) == covered


def test_magnitude_peak_equals_numpys_max_of_magnitudes():
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.normal(0, 3, 997), [0.0, -0.0, -np.inf, 5e-324, -1e308]])
    for arr in (x, x[:3], np.zeros(4), -np.zeros(4), np.empty(0)):
        peak, nnz = fb.magnitude_peak(arr)
        assert same(peak, float(np.max(np.abs(arr), initial=0.0)))
        assert nnz == np.count_nonzero(arr)
    for bad in (np.nan, -np.nan):
        y = x.copy()
        y[500] = bad
        assert np.isnan(fb.magnitude_peak(y)[0])


def test_bound_kernels_are_the_dispatchers_overloads():
    """_Bound calls the compiled function numba's dispatcher would pick for the arguments' types,
    one per kernel, and _type_key tells apart every two values numba types apart (it may tell
    apart more: a (1, n) array is C- and F-contiguous)."""
    import numba

    x32 = np.arange(12, dtype=np.float32).reshape(3, 4)
    frozen = x32.copy()
    frozen.flags.writeable = False
    values = [
        x32,
        x32.astype(np.float64),
        x32[:, :2],
        x32.T,
        np.zeros((1, 4)),
        frozen,
        np.zeros(3, dtype=np.int8),
        (x32, (1, 2.0, True)),
        (x32, x32),
        (),
        3,
        2**63,
        np.float64(1.0),
        True,
    ]
    for a in values:
        for b in values:
            if fb._type_key(a) == fb._type_key(b):
                assert numba.typeof(a) == numba.typeof(b), (a, b)
            else:
                assert a is not b

    bound = fb._Bound()
    v = np.linspace(-3, 3, 64)
    want = fb.magnitude_peak(v)
    assert bound(fb.magnitude_peak, v) == want
    (run,) = bound._compiled.values()
    assert run is fb.magnitude_peak.get_overload((numba.typeof(v),))
    assert bound(fb.magnitude_peak, v[::-1].copy()) == want  # the same types: the same function
    assert list(bound._compiled.values()) == [run]
