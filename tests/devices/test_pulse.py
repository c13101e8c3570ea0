"""Pulse-response model (algorithms.md §2): expected values derived by hand from the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimest.devices.pulse import (
    PulseModel,
    apply_pulses,
    conductance_for_weights,
    d2d_multipliers,
    depress,
    initial_conductance,
    nominal_step,
    pair_for_weights,
    potentiate,
    pulses_from_bound,
    refresh_pairs,
    weights_differential,
    weights_reference,
)
from cimest.errors import LibraryError

US = 1e-6  # conductances below in microsiemens


def model(**kw) -> PulseModel:
    """Gmin 1 uS, Gmax 4 uS (R = 3 uS); N = 2 and alpha = 2 ln 2 in both directions.

    Then 1 - exp(-alpha/N) = 1/2, 1 - exp(-alpha) = 3/4, and one potentiation step is
    dG = [R/(3/4) - (G - Gmin)] / 2 = 2 uS - (G - Gmin)/2: from 1 uS to 3 uS to 4 uS.
    """
    base = dict(
        g_min_s=1 * US, g_max_s=4 * US, n_p=2, n_d=2, alpha_p=2 * math.log(2),
        alpha_d=2 * math.log(2), gamma_p=0.0, gamma_d=0.0, v_read_v=0.1,
    )  # fmt: skip
    base.update(kw)
    return PulseModel(**base)


def linear(**kw) -> PulseModel:
    """Gmin 1 uS, Gmax 3 uS, N = 4, alpha = 0: every step is R/N = 0.5 uS."""
    base = dict(
        g_min_s=1 * US, g_max_s=3 * US, n_p=4, n_d=4, alpha_p=0.0, alpha_d=0.0,
        gamma_p=0.0, gamma_d=0.0, v_read_v=0.2,
    )  # fmt: skip
    base.update(kw)
    return PulseModel(**base)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def approx(values, rel=1e-12):
    return pytest.approx(np.asarray(values, dtype=float) * US, rel=rel, abs=1e-18)


# --- single pulses ------------------------------------------------------------------------------


def test_potentiation_steps_by_hand():
    g = np.array([1.0, 2.0, 3.0, 4.0]) * US
    # 1 -> 1 + 2 = 3; 2 -> 2 + (2 - 0.5) = 3.5; 3 -> 3 + (2 - 1) = 4; 4 -> 4 + 0.5 clipped to 4
    assert potentiate(model(), g, None, rng()) == approx([3.0, 3.5, 4.0, 4.0])


def test_depression_steps_by_hand():
    g = np.array([4.0, 3.0, 2.0, 1.0]) * US
    # mirror image: dG = -[2 - (Gmax - G)/2]
    assert depress(model(), g, None, rng()) == approx([2.0, 1.5, 1.0, 1.0])


def test_n_pulses_span_the_range_closed_form():
    # Suri PCM potentiation (N 30, alpha 6): G(k) = Gmin + R (1 - e^(-6k/30)) / (1 - e^-6)
    m = PulseModel(7e-6, 2.2e-3, 30, 10, 6.0, 50.0, 0.0, 0.0, 0.1)
    g = np.array([m.g_min_s])
    for k in range(1, 31):
        g = potentiate(m, g, None, rng())
        expected = m.g_min_s + m.g_range_s * (1 - math.exp(-6 * k / 30)) / (1 - math.exp(-6))
        assert g[0] == pytest.approx(expected, rel=1e-12)
    assert g[0] == pytest.approx(m.g_max_s, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1e-15, -1e-15, 1e-13])
def test_linear_limit_without_division_by_zero(alpha):
    m = linear(alpha_p=alpha, alpha_d=alpha)
    g = np.array([1.0, 1.7, 2.9]) * US
    assert potentiate(m, g, None, rng()) == approx([1.5, 2.2, 3.0])
    assert depress(m, g, None, rng()) == approx([1.0, 1.2, 2.4])


def test_small_alpha_is_continuous_with_linear():
    g = np.array([1.0, 2.5]) * US
    near = potentiate(linear(alpha_p=1e-7), g, None, rng())
    assert near == approx([1.5, 3.0], rel=1e-6)


def test_negative_alpha_gives_growing_steps():
    m = linear(alpha_p=-2.0)
    low = nominal_step(m, np.array(1.0 * US), "pot")
    high = nominal_step(m, np.array(2.0 * US), "pot")
    assert 0 < low < high


def test_only_masked_devices_change_and_noise_is_drawn_in_row_major_order():
    m = model(gamma_p=0.2)
    g = np.array([[1.0, 2.0, 1.0], [2.0, 1.0, 2.0]]) * US
    mask = np.array([[True, False, True], [False, True, False]])
    out = potentiate(m, g, mask, rng(7))
    xi = rng(7).standard_normal(3)  # masked positions (0,0), (0,2), (1,1) in C order
    expected = g.copy()
    for x, (i, j) in zip(xi, [(0, 0), (0, 2), (1, 1)], strict=True):
        expected[i, j] = np.clip(g[i, j] + 2 * US * (1 + 0.2 * x), 1 * US, 4 * US)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert out[0, 1] == g[0, 1] and out[1, 0] == g[1, 0] and out[1, 2] == g[1, 2]


def test_draws_depend_on_the_mask_only_not_on_gamma():
    g = np.full(5, 2 * US)
    mask = np.array([True, True, False, True, False])
    r = rng(3)
    potentiate(model(gamma_p=0.0), g, mask, r)
    reference = rng(3)
    reference.standard_normal(3)
    assert r.bit_generator.state == reference.bit_generator.state


def test_input_is_not_modified():
    g = np.array([1.0, 2.0]) * US
    before = g.copy()
    potentiate(model(gamma_p=0.5), g, None, rng())
    np.testing.assert_array_equal(g, before)


def test_large_noise_can_reverse_a_step_but_stays_clipped():
    # gamma 2 (Choi epiRAM): 1 + 2 xi < 0 for xi < -1/2, as in the reference code
    m = model(gamma_p=2.0)
    g = np.full(10_000, 2.5 * US)
    out = potentiate(m, g, None, rng(1))
    assert out.min() >= m.g_min_s and out.max() <= m.g_max_s
    assert (out < g).any() and (out > g).any()


def test_d2d_multiplier_scales_the_step():
    out = potentiate(
        linear(), np.array([1.0, 1.0, 1.0]) * US, None, rng(), d2d=np.array([0.5, 1.0, 2.0])
    )
    assert out == approx([1.25, 1.5, 2.0])


def test_d2d_multipliers_draw_and_clip_at_zero():
    m = linear(d2d_sigma=0.3)
    got = d2d_multipliers(m, (4, 5), rng(2))
    expected = np.maximum(0.0, 1 + 0.3 * rng(2).standard_normal((4, 5)))
    np.testing.assert_array_equal(got, expected)
    assert (d2d_multipliers(linear(d2d_sigma=5.0), (1000,), rng(2)) >= 0).all()
    np.testing.assert_array_equal(d2d_multipliers(linear(), (3,), rng()), np.ones(3))


def test_unprogrammable_direction_raises():
    pot_only = model(n_d=0)
    with pytest.raises(ValueError, match="n_d = 0"):
        depress(pot_only, np.array([2 * US]), None, rng())
    with pytest.raises(ValueError, match="n_p = 0"):
        apply_pulses(model(n_p=0), np.array([2 * US]), np.array([1]), rng())


def test_mask_must_be_boolean_of_the_same_shape():
    with pytest.raises(TypeError):
        potentiate(model(), np.zeros(3) + US, np.array([1, 0, 1]), rng())
    with pytest.raises(ValueError):
        potentiate(model(), np.zeros(3) + US, np.array([True, False]), rng())


@settings(max_examples=60, deadline=None)
@given(
    alpha=st.floats(-5, 60),
    n=st.integers(1, 500),
    gamma=st.floats(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_pulses_always_stay_within_bounds(alpha, n, gamma, seed):
    m = PulseModel(1e-7, 3e-5, n, n, alpha, alpha, gamma, gamma, 2.0)
    g = np.random.default_rng(seed).uniform(m.g_min_s, m.g_max_s, 64)
    counts = np.random.default_rng(seed + 1).integers(-5, 6, 64)
    out = apply_pulses(m, g, counts, np.random.default_rng(seed))
    assert out.min() >= m.g_min_s and out.max() <= m.g_max_s
    np.testing.assert_array_equal(out[counts == 0], g[counts == 0])


# --- pulse trains -------------------------------------------------------------------------------


def test_apply_pulses_by_hand():
    g = np.array([1.0, 4.0, 1.0, 2.5, 3.0]) * US
    out = apply_pulses(model(), g, np.array([2, -2, 1, 0, -1]), rng())
    assert out == approx([4.0, 1.0, 3.0, 2.5, 1.5])


def test_apply_pulses_draw_order():
    # pulse 1: pot devices 0, 2 then dep device 1; pulse 2: pot device 0 then dep device 1
    m = linear(gamma_p=0.1, gamma_d=0.3)
    g = np.array([1.0, 3.0, 1.0]) * US
    out = apply_pulses(m, g, np.array([2, -2, 1]), rng(5))
    x = rng(5).standard_normal(5)
    step = 0.5 * US
    g0 = 1 * US + step * (1 + 0.1 * x[0]) + step * (1 + 0.1 * x[3])
    g1 = 3 * US - step * (1 + 0.3 * x[2]) - step * (1 + 0.3 * x[4])
    g2 = 1 * US + step * (1 + 0.1 * x[1])
    np.testing.assert_allclose(out, [g0, g1, g2], rtol=1e-12)


def test_apply_pulses_rejects_float_counts():
    with pytest.raises(TypeError):
        apply_pulses(model(), np.array([2 * US]), np.array([1.0]), rng())


def test_initial_conductance():
    m = model()
    got = initial_conductance(m, (3, 4), rng(9))
    expected = np.clip(2.5 * US * (1 + 0.1 * rng(9).standard_normal((3, 4))), 1 * US, 4 * US)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    wide = initial_conductance(PulseModel(1e-6, 1.1e-6, 1, 1, 0, 0, 0, 0, 1), (10_000,), rng())
    assert wide.min() == 1e-6 and wide.max() == 1.1e-6  # clipped at both ends


# --- weights ------------------------------------------------------------------------------------


def test_weights_scaling():
    m = model()  # G0 = R = 3 uS, mid = 2.5 uS
    assert m.g0_s == pytest.approx(3 * US)
    assert m.i0_a == pytest.approx(0.1 * 3 * US)
    g = np.array([4.0, 1.0, 2.5, 3.25]) * US
    np.testing.assert_allclose(weights_reference(g, 2.5 * US, m), [0.5, -0.5, 0.0, 0.25])
    np.testing.assert_allclose(
        weights_differential(np.array([4.0, 1.0]) * US, np.array([2.5, 1.75]) * US, m), [0.5, -0.25]
    )


def test_conductance_for_weights_inverse_and_clipping():
    m = model()
    w = np.array([-0.7, -0.5, 0.0, 0.25, 0.5, 0.9])
    assert conductance_for_weights(w, m) == approx([1.0, 1.0, 2.5, 3.25, 4.0, 4.0])
    assert conductance_for_weights(np.array([0.1]), m, g_ref_s=2 * US) == approx([2.3])
    inside = np.array([-0.4, 0.1, 0.3])
    np.testing.assert_allclose(
        weights_reference(conductance_for_weights(inside, m), 2.5 * US, m), inside
    )


def test_pair_for_weights_bases():
    m = model()
    w = np.array([0.25, -0.25, 0.0, 0.8])
    plus, minus = pair_for_weights(w, m, "low")
    assert plus == approx([1.75, 1.0, 1.0, 2.5]) and minus == approx([1.0, 1.75, 1.0, 1.0])
    plus, minus = pair_for_weights(w, m, "high")
    assert plus == approx([4.0, 3.25, 4.0, 4.0]) and minus == approx([3.25, 4.0, 4.0, 2.5])
    plus, minus = pair_for_weights(w, m, "mid")
    assert plus == approx([2.875, 2.125, 2.5, 3.25]) and minus == approx([2.125, 2.875, 2.5, 1.75])
    assert pair_for_weights(w, model(n_p=0))[0] == approx([4.0, 3.25, 4.0, 4.0])
    assert pair_for_weights(w, model(n_d=0))[0] == approx([1.75, 1.0, 1.0, 2.5])


def test_pulses_from_bound():
    m = model()  # from Gmin: 1 pulse -> 3 uS, 2 pulses -> 4 uS
    targets = np.array([1.0, 2.9, 3.0, 3.6, 4.0]) * US
    # pulses n with G(n) = 1 + 4 (1 - 2^-n):  2.9 -> n = -log2(1 - 1.9/4) = 0.93 -> 1;
    # 3.6 -> -log2(1 - 2.6/4) = 1.51 -> 2
    np.testing.assert_array_equal(pulses_from_bound(m, targets, "pot"), [0, 1, 1, 2, 2])
    # linear, in exactly representable siemens: 0.5 S per pulse; 2.25 S is 2.5 pulses from
    # Gmin and rounds half up to 3
    lin = PulseModel(1.0, 3.0, 4, 4, 0.0, 0.0, 0.0, 0.0, 0.2)
    np.testing.assert_array_equal(
        pulses_from_bound(lin, np.array([1.0, 2.2, 2.25, 3.0, 9.0]), "pot"), [0, 2, 3, 4, 4]
    )
    np.testing.assert_array_equal(
        pulses_from_bound(lin, np.array([3.0, 1.8, 1.75, 1.0]), "dep"), [0, 2, 3, 4]
    )


# --- pair refresh for one-direction devices ------------------------------------------------------


def test_refresh_pot_only_pairs_by_hand():
    m = linear(g_max_s=4 * US, n_p=6, n_d=0)  # R 3 uS, 0.5 uS per SET pulse
    g_plus = np.array([4.0, 3.6, 4.0, 2.0]) * US
    g_minus = np.array([2.0, 3.9, 1.2, 2.5]) * US
    res = refresh_pairs(m, g_plus, g_minus, rng())
    # 0: at Gmax, lower device 1 uS above Gmin -> reset both, 2 uS = 4 SET pulses on G+
    # 1: 3.9 + 0.5 >= 4 -> reset, |D| = 0.3 uS = 0.6 pulse -> 1 SET pulse on G-
    # 2: at Gmax but the lower device is only 0.2 uS (< one step) above Gmin: left alone
    # 3: not near Gmax: left alone
    np.testing.assert_array_equal(res.refreshed, [True, True, False, False])
    assert res.g_plus == approx([3.0, 1.0, 4.0, 2.0])
    assert res.g_minus == approx([1.0, 1.5, 1.2, 2.5])
    assert (res.n_set, res.n_reset) == (5, 4)


def test_refresh_dep_only_pairs_by_hand():
    m = linear(g_max_s=4 * US, n_p=0, n_d=6)  # 0.5 uS per RESET pulse
    g_plus = np.array([3.0, 1.0, 1.2])
    g_minus = np.array([1.0, 2.0, 4.0])
    res = refresh_pairs(m, g_plus * US, g_minus * US, rng())
    # 0: G- at Gmin, G+ 1 uS below Gmax -> 2 SET to Gmax, then G- down by 2 uS: 4 RESET
    # 1: G+ at Gmin, G- 2 uS below Gmax -> G+ down by 1 uS: 2 RESET
    # 2: G- at Gmax already: no room gained, left alone
    np.testing.assert_array_equal(res.refreshed, [True, True, False])
    assert res.g_plus == approx([4.0, 3.0, 1.2])
    assert res.g_minus == approx([2.0, 4.0, 4.0])
    assert (res.n_set, res.n_reset) == (4, 6)
    np.testing.assert_allclose(
        weights_differential(res.g_plus, res.g_minus, m)[:2], ((g_plus - g_minus) / 3)[:2]
    )


def test_refresh_keeps_nonlinear_weights_within_one_step():
    m = PulseModel(7e-6, 2.2e-3, 30, 0, 6.0, 50.0, 0.0, 0.0, 0.1)  # Suri PCM, pot_only
    r = rng(4)
    g_plus = r.uniform(m.g_min_s, m.g_max_s, 500)
    g_minus = r.uniform(m.g_min_s, m.g_max_s, 500)
    g_plus[:250] = m.g_max_s  # half the pairs saturated
    res = refresh_pairs(m, g_plus, g_minus, rng())
    assert res.refreshed[:250].any()
    sel = res.refreshed
    before = g_plus[sel] - g_minus[sel]
    after = res.g_plus[sel] - res.g_minus[sel]
    largest_step = float(nominal_step(m, np.array(m.g_min_s), "pot"))
    assert np.abs(after - before).max() <= largest_step
    assert res.n_reset == 2 * sel.sum()
    assert (np.minimum(res.g_plus, res.g_minus)[sel] == m.g_min_s).all()


def test_refresh_rejects_pot_dep_devices():
    with pytest.raises(ValueError, match="pot_dep"):
        refresh_pairs(model(), np.array([4 * US]), np.array([1 * US]), rng())


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(g_max_s=1 * US), "g_min_s < g_max_s"),
        (dict(n_p=0, n_d=0), "not programmable"),
        (dict(n_p=2.5), "n_p must be an integer"),
        (dict(gamma_d=-0.1), "gamma_d must be >= 0"),
        (dict(alpha_p=float("nan")), "alpha_p must be finite"),
        (dict(v_read_v=0.0), "v_read_v must be > 0"),
    ],
)
def test_model_validation(change, message):
    with pytest.raises(LibraryError, match=message):
        model(**change)


def test_model_kind():
    assert model().kind == "pot_dep"
    assert model(n_d=0).kind == "pot_only"
    assert model(n_p=0).kind == "dep_only"


@pytest.mark.parametrize("direction", ["pot", "dep"])
def test_pulse_at_in_place_equals_a_masked_pulse(direction):
    """The engine's in-place pulse on chosen devices gives the conductances of potentiate/depress
    with the same devices masked, from the same random state."""
    from cimest.devices.pulse import depress, potentiate, pulse_at

    m = model(gamma_p=0.3, gamma_d=0.3)
    rng = np.random.default_rng(5)
    g = rng.uniform(m.g_min_s, m.g_max_s, (6, 9))
    d2d = rng.uniform(0.5, 1.5, g.shape)
    mask = rng.random(g.shape) < 0.3
    want = (potentiate if direction == "pot" else depress)(
        m, g, mask, np.random.default_rng(1), d2d
    )
    got = g.copy()
    pulse_at(m, got, np.flatnonzero(mask), np.random.default_rng(1), d2d, direction)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, g)
