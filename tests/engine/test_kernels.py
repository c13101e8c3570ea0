"""The engine's compiled loops (cimest.engine.kernels) against the numpy code they replace, kept
as references: equal bit for bit (integers, float64 levels, LFSR states, accumulators) on random
inputs and at the edges (ties, infinities, saturation, steps, restored out-of-range state)."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.api import bind_design
from cimest.engine import kernels
from cimest.engine.peripherals import (
    LfsrRng,
    _quantize,
    _quantize_reference,
    accumulate_steps,
    accumulate_steps_reference,
    adc_values,
)
from cimest.engine.rules.backprop import residual_pulses_reference
from cimest.engine.rules.common import sigmoid, write_steps, write_steps_reference
from cimest.engine.train import make_setup
from cimest.errors import TrainingError
from cimest.spec import parse_architecture


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bits", [1, 3, 8])
def test_quantizer_equals_the_numpy_reference(dtype, bits):
    rng = np.random.default_rng(bits)
    lsb = 2.0 / ((1 << bits) - 1)
    ties = -1.0 + lsb * (np.arange(-2, (1 << bits) + 2) + 0.5)  # midpoints, in and out of range
    x = np.concatenate([rng.normal(0, 1.5, 200), ties, [np.inf, -np.inf, 0.0, -0.0]]).astype(dtype)
    x = x.reshape(2, -1)
    got, want = _quantize(x, bits, -1.0, 1.0, "t"), _quantize_reference(x, bits, -1.0, 1.0, "t")
    assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_quantizer_rejects_nan_as_the_reference_does():
    x = np.array([0.1, np.nan])
    for f in (_quantize, _quantize_reference):
        with pytest.raises(TrainingError, match="NaN"):
            f(x, 4, 0.0, 1.0, "adc_quantize")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("bits", "v_min", "v_max"), [(1, 0.0, 1.0), (4, -0.0, 1.0), (8, -2.5, 2.5)]
)
def test_levels_alone_equal_the_reference_levels_bit_for_bit(dtype, bits, v_min, v_max):
    rng = np.random.default_rng(bits)
    lsb = (v_max - v_min) / ((1 << bits) - 1)
    ties = v_min + lsb * (np.arange(-2, (1 << bits) + 2) + 0.5)
    x = np.concatenate([rng.normal(0, 2.0, 300), ties, [np.inf, -np.inf, 0.0, -0.0, -1e-300]])
    x = x.astype(dtype)[: x.size // 2 * 2].reshape(2, -1)
    got = adc_values(x, bits, v_min, v_max)
    want = _quantize_reference(x, bits, v_min, v_max, "t")[1]
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.int64), want.view(np.int64))  # the sign of zero too
    with pytest.raises(TrainingError, match="NaN"):
        adc_values(np.array([0.1, np.nan]), bits, v_min, v_max)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_sigmoid_equals_the_plain_expression(dtype):
    x = np.concatenate([np.random.default_rng(1).normal(0, 8, 500), [0.0, -0.0, 40.0, -40.0]])
    x = x.astype(dtype)
    got, want = sigmoid(x), 0.5 * (1.0 + np.tanh(0.5 * x))
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert sigmoid(dtype(0.3)) == 0.5 * (1.0 + np.tanh(0.5 * dtype(0.3)))


@pytest.mark.parametrize(("bits", "theta"), [(8, 64), (8, 1), (8, 127), (8, 128), (5, 200)])
def test_accumulator_threshold_pass_equals_the_numpy_reference(bits, theta):
    rng = np.random.default_rng(theta)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    acc = rng.integers(max(lo, -theta + 1), min(hi, theta - 1) + 1, (9, 11)).astype(np.int32)
    delta = rng.integers(-70, 71, acc.shape).astype(np.int32)
    a, b = acc.copy(), acc.copy()
    got = accumulate_steps(a, delta, bits, theta, delta_bound=70)
    acc = a
    want = accumulate_steps_reference(b, delta, bits, theta)
    assert np.array_equal(a, b)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert bool(got[0].size) == (theta <= hi + 1)  # steps taken, unless theta is out of reach
    assert acc.min() >= lo and acc.max() <= hi


def binary_reference(x, delta, acc, bits, theta):
    """binary_stochastic.update's numpy path: the BLAS gradient, then accumulate_steps."""
    grad = (x.T.astype(np.float32) @ delta.astype(np.float32)).astype(np.int32)
    terms = int(np.count_nonzero(x, axis=1) @ np.count_nonzero(delta, axis=1))
    idx, dw = accumulate_steps_reference(acc, grad, bits, theta)
    return idx, dw, terms


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("restored", [False, True])
def test_binary_gradient_accumulation_equals_the_numpy_reference(batch, restored):
    rng = np.random.default_rng(batch)
    bits, theta = 8, 4
    x = (rng.random((batch, 13)) < 0.4).astype(np.float32)
    x[:, 0] = 0  # a row without input
    delta = rng.integers(-1, 2, (batch, 7)).astype(np.int8)
    acc = rng.integers(-3, 4, (13, 7)).astype(np.int32)
    if restored:  # a restored state may hold accumulators at or beyond a step in idle rows
        acc[0, :3] = [5, -4, 127]
    a, b = acc.copy(), acc.copy()
    got = kernels.binary_accumulate(x, delta, a.reshape(-1), -128, 127, theta)
    want = binary_reference(x, delta, b, bits, theta)
    assert np.array_equal(a, b)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[2] == want[2]


@pytest.mark.parametrize(("batch", "cap"), [(1, 32), (5, 32), (1, 1)])
def test_gradient_memory_pass_equals_the_numpy_reference(batch, cap):
    rng = np.random.default_rng(batch + cap)
    residual = rng.normal(0, 0.6, (6, 9))
    grad = rng.normal(0, 3.0, (6, 9))
    grad[0, 0] = 1e6  # far beyond the cap
    eta, n_steps = 0.1, 50
    r = residual.copy()
    idx, n = kernels.residual_pulses(r.reshape(-1), grad.reshape(-1), -eta, batch, n_steps, cap)
    want_r, want_n = residual_pulses_reference(residual, -eta * (grad / batch), n_steps, cap)
    assert np.array_equal(r, want_r)
    assert np.array_equal(idx, np.flatnonzero(want_n))
    assert np.array_equal(n, want_n.reshape(-1)[idx])


def _toy_setup(fp_toy, group):
    """fp_toy on 8 x 6 tiles (several row and column tiles), ``group`` parallel columns."""
    par = "" if group is None else f", parallel_columns: {group}"
    text = fp_toy.read_text()
    for old, new in (
        ("rows: 128\n  cols: 128", "rows: 8\n  cols: 6"),
        (
            "update: {kind: pulse_train, max_pulses: 32}",
            f"update: {{kind: pulse_train, max_pulses: 32{par}}}",
        ),
    ):
        assert old in text, old
        text = text.replace(old, new)
    d = bind_design(parse_architecture(text, str(fp_toy)))
    return make_setup(d.graph, d.libraries)


@pytest.mark.parametrize("group", [None, 1, 2, 5])
def test_write_schedule_equals_the_numpy_reference(fp_toy, group):
    setup = _toy_setup(fp_toy, group)
    rng = np.random.default_rng(7)
    for L, shape in (("L1", (64, 128)), ("L2", (128, 10))):
        for density in (0.0, 0.01, 0.3, 1.0):
            trains = rng.integers(1, 33, shape) * (rng.random(shape) < density)
            assert write_steps(setup, L, trains) == write_steps_reference(setup, L, trains)


@pytest.mark.parametrize("group", [None, 1, 2, 5])
@pytest.mark.parametrize("order", ["ascending", "shuffled"])
def test_programming_meter_equals_the_numpy_reference(fp_toy, group, order):
    """program_meter (wear, pulses per polarity, each polarity's write steps) against numpy's
    wear sums and write_steps_reference of each polarity's trains, in index order (its walk
    along a row) and out of order (its divisions)."""
    from cimest.engine.rules.common import _geometry

    setup = _toy_setup(fp_toy, group)
    rng = np.random.default_rng(3)
    for L, shape in (("L1", (64, 128)), ("L2", (128, 10))):
        for density in (0.0, 0.01, 0.3, 1.0):
            dense = rng.integers(-32, 33, shape) * (rng.random(shape) < density)
            idx = np.flatnonzero(dense)
            if order == "shuffled":
                idx = rng.permutation(idx)
            n = dense.reshape(-1)[idx].astype(np.int64)
            wear = rng.integers(0, 5, shape).astype(np.int32)
            want_wear = wear + np.abs(dense)
            got = kernels.program_meter(idx, n, wear.reshape(-1), *_geometry(setup, L))
            want = (
                int(np.maximum(dense, 0).sum()),
                int(np.maximum(-dense, 0).sum()),
                write_steps_reference(setup, L, np.maximum(dense, 0)),
                write_steps_reference(setup, L, np.maximum(-dense, 0)),
            )
            assert got == want
            assert np.array_equal(wear, want_wear)


@pytest.mark.parametrize("cap", [32, 1])
def test_gradient_memory_pass_over_zero_inputs_equals_the_reference(cap):
    """residual_pulses_rows passes over zero-input rows only where the reference leaves them as
    they are: rows holding a remainder of 1 or more, a -0.0, a NaN, or below errors that are not
    all finite are updated as the reference updates them."""
    rng = np.random.default_rng(cap)
    n_in, n_out = 12, 7
    x = rng.random((1, n_in))
    x[0, ::2] = 0.0  # every other row without input
    for case in ("small", "remainders", "negative_zero", "nan_residual", "inf_error"):
        residual = rng.normal(0, 0.3, (n_in, n_out))
        delta = rng.normal(0, 2.0, (1, n_out))
        if case == "remainders":  # left beyond the cap by an earlier update
            residual[2, 3], residual[4, 0] = 7.5, -1.0
        elif case == "negative_zero":
            residual[6, 1] = -0.0
        elif case == "nan_residual":
            residual[8, 2] = np.nan
        elif case == "inf_error":
            delta[0, 5] = np.inf
        r = residual.copy()
        idx, n = np.empty(r.size, dtype=np.int64), np.empty(r.size, dtype=np.int64)
        m, pulses = kernels.residual_pulses_rows(
            r.reshape(-1), x[0], delta[0], -0.1, 50, cap, idx, n
        )
        # one product per weight, as residual_pulses_outer forms it (a BLAS outer product may
        # give the other zero)
        with np.errstate(invalid="ignore"):
            outer = np.multiply.outer(x[0], delta[0])
            want_r, want_n = residual_pulses_reference(residual, -0.1 * outer, 50, cap)
        assert r.tobytes() == want_r.tobytes(), case  # bit for bit, the sign of zero included
        r_outer = residual.copy()
        kernels.residual_pulses_outer(r_outer.reshape(-1), x[0], delta[0], -0.1, 50, cap)
        assert r.tobytes() == r_outer.tobytes(), case
        assert np.array_equal(idx[:m], np.flatnonzero(want_n)), case
        assert np.array_equal(n[:m], want_n.reshape(-1)[idx[:m]]), case
        assert pulses == int(np.abs(want_n).sum()), case


@pytest.mark.parametrize("width", [8, 16, 24, 31])
@pytest.mark.parametrize("lanes", [1, 10, 19])  # groups of eight lanes and the rest
def test_lfsr_draws_and_comparators_equal_the_numpy_reference(width, lanes):
    a, b = LfsrRng(5, lanes, width), LfsrRng(5, lanes, width)
    assert np.array_equal(a._advance(300), b._advance_reference(300))  # across a 256-draw block
    assert np.array_equal(a.lane_states(), b.lane_states())
    rng = np.random.default_rng(width)
    for n_draws in (30, 600):  # within a 256-draw block, and across two block boundaries
        x = rng.random((n_draws, lanes))
        grid = np.floor(x * 2**width) / 2**width  # values a draw can take: ties (x == u)
        for dtype, xs in ((np.float32, x.astype(np.float32)), (np.int8, x), (np.int8, grid)):
            got = a.exceeds(xs, dtype)
            want = (xs > b.uniform(xs.shape)).astype(dtype)
            assert got.dtype == want.dtype and np.array_equal(got, want)
            assert np.array_equal(a.lane_states(), b.lane_states())
    assert a.state() == b.state()


def test_finiteness_check_equals_numpy():
    for x in ([1.0, 2.0], [1.0, np.nan], [np.inf], [], [-np.inf, 0.0]):
        arr = np.array(x, dtype=np.float32)
        assert kernels.all_finite(arr) == bool(np.all(np.isfinite(arr)))


def test_one_sample_gradient_memory_pass_equals_blas_and_the_reference():
    rng = np.random.default_rng(11)
    residual = rng.normal(0, 0.6, (6, 9))
    x, delta = rng.random((1, 6)), rng.normal(0, 2.0, (1, 9))
    r = residual.copy()
    idx, n = kernels.residual_pulses_outer(r.reshape(-1), x[0], delta[0], -0.1, 50, 32)
    want_r, want_n = residual_pulses_reference(residual, -0.1 * (x.T @ delta / 1), 50, 32)
    assert np.array_equal(r, want_r)
    assert np.array_equal(idx, np.flatnonzero(want_n))
    assert np.array_equal(n, want_n.reshape(-1)[idx])


def test_pairwise_sum_equals_numpy_sum():
    """pairwise_sum (the softmax's sum in fast.bp_output_error) against numpy's sum of the same
    row, bit for bit, across the block (8, 128) and halving (> 128) boundaries, on magnitudes
    spread so that any other order of additions rounds differently; -0.0 sums to +0.0 as in
    numpy."""
    rng = np.random.default_rng(5)
    sizes = [*range(1, 140), 255, 256, 257, 1000, 4099, 8193]
    for n in sizes:
        for _ in range(4):
            row = rng.standard_normal((1, n)) * np.exp(rng.uniform(-8, 8, (1, n)))
            want = row.sum(axis=1, keepdims=True)[0, 0]
            assert 0.0 + kernels.pairwise_sum(row.reshape(-1), 0, n) == want, n
    zeros = np.full(300, -0.0)
    for n in (1, 9, 300):
        got = 0.0 + kernels.pairwise_sum(zeros, 0, n)
        assert np.signbit(got) == np.signbit(zeros[:n].sum())
    row = rng.random(50)
    assert kernels.pairwise_sum(row, 10, 30) + 0.0 == row[10:40].sum()


def test_popcount_counts_the_set_bits():
    """The compiled popcount against Python's count of ones, at the edges and on random words."""
    from numba import njit

    @njit
    def counts(words):
        out = np.empty(words.size, dtype=np.int64)
        for i in range(words.size):
            out[i] = kernels.popcount(words[i])
        return out

    rng = np.random.default_rng(0)
    edges = [0, 1, 1 << 63, (1 << 64) - 1, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA]
    words = np.array(edges + list(rng.integers(0, 1 << 64, 1000, dtype=np.uint64)), np.uint64)
    assert counts(words).tolist() == [bin(int(w)).count("1") for w in words]
