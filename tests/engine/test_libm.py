"""numpy's float64 exp and log inside compiled kernels (cimest/engine/libm.py): the same bits as
numpy's where libm.matches says so, and a check that tells a different implementation apart."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from cimest.engine import libm


@pytest.fixture
def fresh_check():
    libm.matches.cache_clear()
    yield
    libm.matches.cache_clear()


def test_on_x86_64_without_avx512_numpy_and_the_kernels_share_libm():
    """On the machines cimest is measured on (x86-64, AVX2: numpy's float64 exp and log have no
    SIMD versions of their own there), the check passes and the fused steps take them inside."""
    if platform.machine() != "x86_64":
        pytest.skip("the claim is about x86-64")
    flags = open("/proc/cpuinfo").read() if platform.system() == "Linux" else ""
    if "avx512f" in flags or not flags:
        pytest.skip("numpy has SIMD float64 exp and log of its own on AVX512F")
    assert libm.matches()


def test_where_it_matches_values_it_never_saw_agree_bit_for_bit():
    if not libm.matches():
        pytest.skip("numpy's exp and log are not libm's on this machine: the steps keep numpy's")
    rng = np.random.default_rng(12345)  # not the check's own samples
    x = np.concatenate([rng.uniform(-750, 720, 100_000), -rng.exponential(3.0, 100_000)])
    y = np.concatenate([10.0 ** rng.uniform(-324, 308.2, 100_000), rng.random(100_000)])
    ours_exp, ours_log = np.empty_like(x), np.empty_like(y)
    libm.exp_into(x, ours_exp)
    libm.log_into(y, ours_log)
    with np.errstate(all="ignore"):
        assert ours_exp.tobytes() == np.exp(x).tobytes()
        assert ours_log.tobytes() == np.log(y).tobytes()


@pytest.mark.parametrize("which", ["exp_into", "log_into"])
def test_a_function_one_ulp_off_on_one_value_in_a_thousand_is_refused(
    which, fresh_check, monkeypatch
):
    real = getattr(libm, which)

    def off(x, out):
        real(x, out)
        out[::1000] = np.nextafter(out[::1000], np.inf)

    monkeypatch.setattr(libm, which, off)
    assert not libm.matches()


def test_a_correctly_rounded_exp_is_told_apart_from_libms(fresh_check, monkeypatch):
    """An exp as careful as glibc's but rounded from long double (a different implementation
    agreeing on all but about 0.08% of values) fails the check."""
    if np.finfo(np.longdouble).nmant <= 52:
        pytest.skip("no long double wider than double here")

    def long_double_exp(x, out):
        with np.errstate(all="ignore"):
            out[:] = np.exp(x.astype(np.longdouble)).astype(np.float64)

    monkeypatch.setattr(libm, "exp_into", long_double_exp)
    assert not libm.matches()


@pytest.fixture
def fresh_tanh_check():
    libm.tanh_margin.cache_clear()
    yield
    libm.tanh_margin.cache_clear()


def test_the_tanh_candidate_keeps_its_margin_on_this_machine():
    """numpy's float32 tanh, whichever loop a build takes (its SIMD ones, the C library's), is
    within a few float32 ulps of tanh, far inside the candidate's bound, and gives a value the
    same bits wherever it sits in an array."""
    assert libm.tanh_margin() == libm.TANH_BOUND


def test_a_candidate_off_by_the_bound_on_one_value_in_a_thousand_is_refused(
    fresh_tanh_check, monkeypatch
):
    real = libm.tanh_candidate_into

    def off(t, out):
        real(t, out)
        out[::1000] += np.float32(libm.TANH_BOUND)

    monkeypatch.setattr(libm, "tanh_candidate_into", off)
    assert libm.tanh_margin() == np.inf


def test_a_tanh_that_gives_a_value_other_bits_in_a_short_array_is_refused(
    fresh_tanh_check, monkeypatch
):
    """The kernels send numpy's tanh only the values they leave open: a tanh whose bits depend on
    where a value sits (a SIMD loop's scalar tail rounding otherwise) must be told apart."""
    real = np.tanh

    def tail_differs(x, *args, **kwargs):
        y = real(x, *args, **kwargs)
        if y.size % 8:
            y[-1] = np.nextafter(y[-1], np.float32(2.0))
        return y

    monkeypatch.setattr(libm.np, "tanh", tail_differs)
    assert libm.tanh_margin() == np.inf


@pytest.mark.slow
def test_the_candidate_is_within_half_its_bound_of_numpys_tanh_on_every_float32():
    """All 2^32 float32 values but NaN (about a minute): the bound fast_batch.bsl_hidden_decide
    relies on, measured on this machine (4.2e-7 on the development machine, at t = 8.31)."""
    if libm.tanh_margin() == np.inf:
        pytest.skip("the kernels leave every value to numpy's tanh on this machine")
    n = 1 << 24
    bits = np.arange(n, dtype=np.uint32)
    ours = np.empty(n, dtype=np.float32)
    worst = 0.0
    for k in range(256):
        t = (bits + np.uint32(k * n)).view(np.float32)
        t = t[~np.isnan(t)]
        libm.tanh_candidate_into(t, ours)
        worst = max(worst, float(np.max(np.abs(ours[: t.size].astype(np.float64) - np.tanh(t)))))
    assert worst <= libm.TANH_BOUND / 2
