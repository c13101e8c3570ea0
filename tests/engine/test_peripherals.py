"""Peripheral conventions at their edges: quantizer ties and clipping, comparator ties,
saturating accumulators, threshold steps, random sources and the LFSR."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimest.engine.peripherals import (
    DEFAULT_TAPS,
    IdealRng,
    LfsrRng,
    accumulate,
    adc_quantize,
    compare,
    dac_levels,
    rng_from_state,
    ternary_sign,
    threshold_steps,
)
from cimest.errors import TrainingError

# --- quantizers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", [adc_quantize, dac_levels])
def test_two_bit_quantizer_edges(quantize):
    # 2 bits over [0, 3]: levels 0, 1, 2, 3 (lsb 1); thresholds at 0.5, 1.5, 2.5, ties go down
    x = np.array([-1.0, 0.0, 0.5, 0.5000001, 1.49, 1.5, 2.5, 2.51, 3.0, 7.0, np.inf, -np.inf])
    codes, values = quantize(x, 2, 0.0, 3.0)
    np.testing.assert_array_equal(codes, [0, 0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 0])
    np.testing.assert_array_equal(values, codes.astype(float))
    assert codes.dtype == np.int64 and values.dtype == np.float64


def test_quantizer_endpoints_are_levels():
    lsb = 2 / 255
    x = np.array([-1.0, 1.0, -1.0 + 127.3 * lsb, -1.0 + 127.7 * lsb])
    codes, values = adc_quantize(x, 8, -1.0, 1.0)
    np.testing.assert_array_equal(codes, [0, 255, 127, 128])
    assert values[0] == -1.0 and values[1] == pytest.approx(1.0, abs=1e-15)
    assert values[2] == pytest.approx(-1.0 + 127 * lsb)


def test_one_bit_adc_is_a_strict_comparator_at_mid_range():
    x = np.concatenate([[0.5, 0.5 + 1e-12, 0.5 - 1e-12, 0.0, 1.0], np.linspace(-0.2, 1.2, 57)])
    codes, _ = adc_quantize(x, 1, 0.0, 1.0)
    np.testing.assert_array_equal(codes, compare(x, 0.5))
    assert codes[0] == 0


def test_quantizer_shape_is_kept():
    codes, values = dac_levels(np.zeros((2, 3, 4)), 4, 0.0, 1.0)
    assert codes.shape == values.shape == (2, 3, 4)


@pytest.mark.parametrize("quantize", [adc_quantize, dac_levels])
def test_quantizer_nan_is_an_error(quantize):
    with pytest.raises(TrainingError, match="NaN"):
        quantize(np.array([0.1, np.nan]), 4, 0.0, 1.0)


@pytest.mark.parametrize("bits, v_min, v_max", [(0, 0.0, 1.0), (53, 0.0, 1.0), (4, 1.0, 1.0),
                                                 (4, 0.0, math.inf), (2.0, 0.0, 1.0)])  # fmt: skip
def test_quantizer_bad_configuration(bits, v_min, v_max):
    with pytest.raises(ValueError):
        adc_quantize(np.zeros(2), bits, v_min, v_max)


@settings(max_examples=100, deadline=None)
@given(
    x=st.floats(-10, 10, allow_nan=False),
    bits=st.integers(1, 12),
    lo=st.floats(-5, 0),
    span=st.floats(0.1, 5),
)
def test_quantizer_picks_a_nearest_level(x, bits, lo, span):
    hi = lo + span
    (code,), (value,) = adc_quantize(np.array([x]), bits, lo, hi)
    lsb = span / (2**bits - 1)
    assert 0 <= code <= 2**bits - 1
    clipped = min(max(x, lo), hi)
    assert abs(value - clipped) <= lsb / 2 * (1 + 1e-9) + 1e-12


# --- comparator and sign -------------------------------------------------------------------------


def test_compare_ties_give_zero():
    out = compare(np.array([0.3, 0.5, 0.7, 0.5]), np.array([0.5, 0.5, 0.5, 0.4999]))
    np.testing.assert_array_equal(out, [0, 0, 1, 1])
    assert out.dtype == np.int8


def test_compare_broadcasts_and_rejects_nan():
    np.testing.assert_array_equal(compare(np.array([[1, 2], [3, 4]]), 2), [[0, 0], [1, 1]])
    with pytest.raises(TrainingError):
        compare(np.array([np.nan]), 0.5)
    with pytest.raises(TrainingError):
        compare(np.array([0.1]), np.array([np.nan]))


def test_ternary_sign():
    out = ternary_sign(np.array([-2.0, -0.0, 0.0, 1e-300, -1e-300, 5.0]))
    np.testing.assert_array_equal(out, [-1, 0, 0, 1, -1, 1])
    assert out.dtype == np.int8
    np.testing.assert_array_equal(ternary_sign(np.array([-3, 0, 3])), [-1, 0, 1])
    with pytest.raises(TrainingError):
        ternary_sign(np.array([np.nan]))


# --- accumulators --------------------------------------------------------------------------------


def test_accumulate_saturates_in_twos_complement_range():
    acc = np.array([120, -120, 0, 127, -128], dtype=np.int16)
    new, n_sat = accumulate(acc, np.array([10, -10, -5, 0, 1]), 8)
    np.testing.assert_array_equal(new, [127, -128, -5, 127, -127])
    assert n_sat == 2 and new.dtype == np.int16


def test_accumulate_exact_edges_do_not_count_as_saturation():
    new, n_sat = accumulate(np.array([120, -120], dtype=np.int8), np.array([7, -8]), 8)
    np.testing.assert_array_equal(new, [127, -128])
    assert n_sat == 0


def test_accumulate_broadcasts_delta():
    new, n_sat = accumulate(np.zeros((2, 3), dtype=np.int32), np.array([1, -300, 300]), 9)
    np.testing.assert_array_equal(new, [[1, -256, 255], [1, -256, 255]])
    assert n_sat == 4


def test_accumulate_rejects_bad_input():
    with pytest.raises(ValueError, match="cannot hold"):
        accumulate(np.zeros(2, dtype=np.int8), np.zeros(2, dtype=np.int8), 9)
    with pytest.raises(TypeError):
        accumulate(np.zeros(2), np.zeros(2, dtype=int), 8)
    with pytest.raises(ValueError, match="outside"):
        accumulate(np.array([200], dtype=np.int16), np.array([0]), 8)
    with pytest.raises(ValueError):
        accumulate(np.zeros(2, dtype=np.int16), np.zeros(3, dtype=np.int16), 8)


def test_threshold_steps_truncate_toward_zero():
    acc = np.array([130, -130, 63, -63, 64, -64, 0, 128, -191], dtype=np.int16)
    dw, new = threshold_steps(acc, 64)
    # fix(acc/64) = 2, -2, 0, 0, 1, -1, 0, 2, -2 ; dw = -fix ; acc + dw*64
    np.testing.assert_array_equal(dw, [-2, 2, 0, 0, -1, 1, 0, -2, 2])
    np.testing.assert_array_equal(new, [2, -2, 63, -63, 0, 0, 0, 0, -63])
    assert dw.dtype == np.int64 and new.dtype == np.int16


def test_threshold_steps_most_negative_int8():
    dw, new = threshold_steps(np.array([-128], dtype=np.int8), 1)
    assert dw[0] == 128 and new[0] == 0


def test_threshold_rejects_bad_theta():
    for theta in (0, -64, 1.5):
        with pytest.raises(ValueError):
            threshold_steps(np.array([1]), theta)


@settings(max_examples=100, deadline=None)
@given(acc=st.lists(st.integers(-5000, 5000), min_size=1, max_size=20), theta=st.integers(1, 300))
def test_threshold_invariants(acc, theta):
    a = np.array(acc, dtype=np.int32)
    dw, new = threshold_steps(a, theta)
    np.testing.assert_array_equal(new - dw * theta, a)
    assert (np.abs(new) < theta).all()
    assert ((new == 0) | (np.sign(new) == np.sign(a))).all()


# --- ideal RNG -----------------------------------------------------------------------------------


def test_ideal_rng_convention():
    got = IdealRng(42, bits_per_draw=16).uniform((3, 5))
    k = np.random.Generator(np.random.PCG64(42)).integers(0, 65536, size=(3, 5), dtype=np.uint16)
    np.testing.assert_array_equal(got, k / 65536.0)
    assert got.dtype == np.float64


@pytest.mark.parametrize("bits", [1, 3, 16, 24, 53])
def test_ideal_rng_range_and_resolution(bits):
    u = IdealRng(1, bits).uniform(20_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    np.testing.assert_array_equal(u * 2.0**bits, np.floor(u * 2.0**bits))
    if bits == 1:
        assert set(np.unique(u)) == {0.0, 0.5}


def test_ideal_rng_state_round_trip_through_json():
    rng = IdealRng(7, 12)
    rng.uniform(1000)
    saved = json.loads(json.dumps(rng.state()))
    expected = rng.uniform((4, 4))
    np.testing.assert_array_equal(rng_from_state(saved).uniform((4, 4)), expected)
    assert rng_from_state(saved).bits_per_draw == 12


def test_ideal_rng_rejects_bad_arguments():
    for args in [(-1,), (0, 0), (0, 54), (1.5,)]:
        with pytest.raises(ValueError):
            IdealRng(*args)


# --- LFSR ----------------------------------------------------------------------------------------


def reference_steps(seed: int, width: int, taps: tuple[int, ...], n_steps: int) -> list[int]:
    """Bit-by-bit Fibonacci LFSR: feedback = XOR of bits t-1, shift left, feedback into bit 0."""
    s, out = seed, []
    for _ in range(n_steps):
        fb = 0
        for t in taps:
            fb ^= (s >> (t - 1)) & 1
        s = ((s << 1) | fb) & ((1 << width) - 1)
        out.append(s)
    return out


def test_width8_default_taps_have_maximal_period():
    assert DEFAULT_TAPS[8] == (8, 6, 5, 4)
    states = reference_steps(1, 8, DEFAULT_TAPS[8], 255)
    assert len(set(states)) == 255 and 0 not in states and states[-1] == 1
    # one draw = 8 steps; gcd(8, 255) = 1, so the draws also run through all 255 states
    draws = LfsrRng(1, width=8).uniform(256) * 256
    np.testing.assert_array_equal(draws, reference_steps(1, 8, (8, 6, 5, 4), 8 * 256)[7::8])
    assert len(set(draws[:255])) == 255 and draws[255] == draws[0]


def test_lfsr_matches_bit_by_bit_reference_width16():
    expected = reference_steps(0xACE1, 16, (16, 15, 13, 4), 16 * 600)[15::16]
    got = LfsrRng(0xACE1).uniform(600) * 65536
    np.testing.assert_array_equal(got, expected)


def test_lfsr_zero_seed_is_rejected():
    with pytest.raises(ValueError, match="0 locks"):
        LfsrRng(0)
    with pytest.raises(ValueError, match="0 locks"):
        LfsrRng([1, 0, 3], n_lanes=3)
    with pytest.raises(ValueError):
        LfsrRng(256, width=8)


def test_lfsr_rejects_non_maximal_taps():
    with pytest.raises(ValueError, match="maximal"):
        LfsrRng(1, width=4, taps=(4, 2))  # x^4 + x^2 + 1 = (x^2 + x + 1)^2
    with pytest.raises(ValueError):
        LfsrRng(1, width=8, taps=(7, 6))  # misses the top bit


def test_lfsr_lanes_run_in_lockstep_at_evenly_spaced_phases():
    rng = LfsrRng(1, n_lanes=4, width=8)  # stride 255 // 4 = 63 steps between lanes
    u = rng.uniform((3, 4)) * 256
    stream = reference_steps(1, 8, (8, 6, 5, 4), 63 * 3 + 8 * 3)
    for lane in range(4):
        for draw in range(3):
            # step index (0-based) after lane*63 phase steps and (draw+1)*8 draw steps
            assert u[draw, lane] == stream[lane * 63 + 8 * (draw + 1) - 1]


def test_lfsr_size_must_be_a_multiple_of_lanes():
    with pytest.raises(ValueError, match="multiple"):
        LfsrRng(5, n_lanes=3).uniform(7)


def test_lfsr_state_round_trip_and_chunking_are_bit_exact():
    a = LfsrRng(0x1234, n_lanes=8)
    a.uniform((300, 8))
    saved = json.loads(json.dumps(a.state()))
    expected = a.uniform((700, 8))
    b = rng_from_state(saved)
    chunks = np.concatenate([b.uniform((1, 8)), b.uniform((299, 8)), b.uniform((400, 8))])
    np.testing.assert_array_equal(chunks, expected)
    assert b.bits_per_draw == 16


def test_lfsr_values_are_in_open_unit_interval():
    u = LfsrRng(3, n_lanes=16).uniform((1000, 16))
    assert u.min() >= 2.0**-16 and u.max() <= 1 - 2.0**-16
    assert abs(u.mean() - 0.5) < 0.01


@pytest.mark.parametrize("bits", [2, 4, 8, 16, 30, 40])
@pytest.mark.parametrize("theta", [1, 3, 64, 127, 128, 200])
def test_accumulate_steps_equals_accumulate_then_threshold_steps(bits, theta):
    """The engine's fused update equals the two reference functions, saturation included, on the
    fast int32 path and on the fallback (40-bit accumulators in int64)."""
    from cimest.engine.peripherals import accumulate, accumulate_steps, threshold_steps

    rng = np.random.default_rng(bits * 1000 + theta)
    dtype = np.int32 if bits <= 30 else np.int64
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    acc = rng.integers(lo, hi + 1, (37, 23)).astype(dtype)
    for _ in range(5):
        delta = rng.integers(-300, 301, acc.shape).astype(np.int32 if bits <= 30 else np.int64)
        want_acc, _ = accumulate(acc, delta, bits)
        want_dw, want_acc = threshold_steps(want_acc, theta)
        got, bounded = acc.copy(), acc.copy()
        idx, dw = accumulate_steps(got, delta, bits, theta)
        idx_b, dw_b = accumulate_steps(bounded, delta, bits, theta, delta_bound=300)
        assert (
            np.array_equal(bounded, got) and np.array_equal(idx_b, idx) and np.array_equal(dw_b, dw)
        )
        assert np.array_equal(got, want_acc)
        assert np.array_equal(idx, np.flatnonzero(want_dw))
        assert np.array_equal(dw, want_dw.reshape(-1)[idx])
        acc = got
