"""The compiled pulse kernels (cimest.devices.kernels) against their numpy references: the same
conductances bit for bit and the same random stream left behind, on linear and nonlinear, noisy
and noiseless, one- and two-direction devices, with and without device-to-device variation."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.devices.pulse import (
    PulseModel,
    apply_pulses,
    apply_pulses_reference,
    d2d_multipliers,
    pulse_at,
    pulse_at_reference,
)

MODELS = {
    "nonlinear_noisy": PulseModel(1e-6, 1e-5, 50, 40, 3.0, -2.0, 0.05, 0.1, 0.1, 0.3),
    "linear_noiseless": PulseModel(1e-6, 1e-5, 64, 64, 0.0, 0.0, 0.0, 0.0, 0.1),
    "huge_noise": PulseModel(1e-6, 1e-5, 10, 10, 1.0, 1.0, 3.0, 3.0, 0.1),  # wrong-way steps
    "pot_only": PulseModel(1e-6, 1e-5, 30, 0, 2.0, 0.0, 0.05, 0.0, 0.1),
}


def start(model: PulseModel, shape, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = rng.uniform(model.g_min_s, model.g_max_s, shape)
    g.reshape(-1)[:3] = [model.g_min_s, model.g_max_s, model.g_min_s]  # at the bounds
    return g, d2d_multipliers(model, shape, rng)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("with_d2d", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pulse_trains_equal_the_numpy_reference(name, with_d2d, seed):
    model = MODELS[name]
    g, d2d = start(model, (7, 13), seed)
    rng = np.random.default_rng(100 + seed)
    n = rng.integers(-6, 7, g.shape) * (rng.random(g.shape) < 0.4)
    if model.n_d == 0:
        n = np.abs(n)
    a = np.random.Generator(np.random.PCG64([seed, 2]))
    b = np.random.Generator(np.random.PCG64([seed, 2]))
    got = apply_pulses(model, g, n, a, d2d if with_d2d else None)
    want = apply_pulses_reference(model, g, n, b, d2d if with_d2d else None)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, g)  # something was programmed
    assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("name", ["nonlinear_noisy", "huge_noise"])
@pytest.mark.parametrize("direction", ["pot", "dep"])
def test_pulse_at_equals_the_numpy_reference(name, direction):
    model = MODELS[name]
    g, d2d = start(model, (9, 5), 3)
    idx = np.flatnonzero(np.random.default_rng(4).random(g.shape) < 0.5)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    got, want = g.copy(), g.copy()
    pulse_at(model, got, idx, a, d2d, direction)
    pulse_at_reference(model, want, idx, b, d2d, direction)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, g)
    assert a.bit_generator.state == b.bit_generator.state


def test_no_pulse_draws_nothing_and_changes_nothing():
    model = MODELS["nonlinear_noisy"]
    g, _ = start(model, (4, 4), 0)
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    assert np.array_equal(apply_pulses(model, g, np.zeros(g.shape, dtype=np.int64), rng), g)
    assert rng.bit_generator.state == before
