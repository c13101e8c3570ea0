"""Fitting the §2 pulse model to conductance-vs-pulse data, and reading such data from CSV.

Data are generated here from the closed form / the recurrence of algorithms.md §2, independently
of cimest.devices.pulse.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cimest.devices.fit import fit_pulse_response, read_pulse_csv
from cimest.errors import DatasetError

G_MIN, G_MAX = 2e-6, 9e-6


def closed_form(k: np.ndarray, n: float, alpha: float, direction: str) -> np.ndarray:
    """G(k) = Gmin + R (1 - e^(-alpha k/N)) / (1 - e^-alpha) for k <= N, then the bound."""
    t = np.minimum(k / n, 1.0)
    s = t if alpha == 0 else (1 - np.exp(-alpha * t)) / (1 - math.exp(-alpha))
    r = G_MAX - G_MIN
    return G_MIN + r * s if direction == "pot" else G_MAX - r * s


def noisy_recurrence(n: int, alpha: float, gamma: float, steps: int, seed: int) -> np.ndarray:
    """Potentiation from Gmin, one pulse at a time: §2 with (1 + gamma xi) and clipping."""
    r = G_MAX - G_MIN
    b = r / (1 - math.exp(-alpha))
    c = 1 - math.exp(-alpha / n)
    xi = np.random.default_rng(seed).standard_normal(steps)
    g = [G_MIN]
    for x in xi:
        g.append(min(G_MAX, max(G_MIN, g[-1] + (b - (g[-1] - G_MIN)) * c * (1 + gamma * x))))
    return np.array(g)


@pytest.mark.parametrize(
    "n, alpha, direction",
    [
        (55, 0.5, "pot"),  # Tang ECRAM
        (30, 6.0, "pot"),  # Suri PCM potentiation
        (100, 15.0, "dep"),  # Huang OxRAM depression
        (400, 15.0, "dep"),  # Choi epiRAM (1) depression
        (200, 5.0, "pot"),
        (40, -2.0, "dep"),  # convex
    ],
)
def test_noiseless_fit_recovers_parameters(n, alpha, direction):
    k = np.arange(0, n + 15)  # includes saturated points after N pulses
    g = closed_form(k, n, alpha, direction)
    fit = fit_pulse_response(k + 7, g, direction)  # offset pulse numbering
    assert fit.n == pytest.approx(n, rel=0.02)
    assert fit.alpha == pytest.approx(alpha, rel=0.02)
    assert fit.g_min_s == pytest.approx(G_MIN, rel=1e-12)
    assert fit.g_max_s == pytest.approx(G_MAX, rel=1e-12)
    assert fit.gamma < 1e-6
    assert fit.relative_error < 1e-6
    assert fit.rms_error_s == pytest.approx(fit.relative_error * (G_MAX - G_MIN))


def test_noiseless_linear_fit():
    k = np.arange(0, 60)
    fit = fit_pulse_response(k, closed_form(k, 50, 0.0, "pot"), "pot")
    assert fit.n == pytest.approx(50, rel=0.02)
    assert abs(fit.alpha) < 0.02


def test_sampled_every_third_pulse():
    k = np.arange(0, 130, 3)
    fit = fit_pulse_response(k, closed_form(k, 120, 4.0, "pot"), "pot")
    assert fit.n == pytest.approx(120, rel=0.02)
    assert fit.alpha == pytest.approx(4.0, rel=0.02)
    assert fit.gamma == 0.0  # no consecutive pulses: gamma cannot be estimated


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_fit_gives_sensible_gamma(seed):
    g = noisy_recurrence(200, 3.0, 0.1, 220, seed)
    fit = fit_pulse_response(np.arange(g.size), g, "pot")
    assert 0.07 < fit.gamma < 0.13
    assert fit.n == pytest.approx(200, rel=0.1)
    assert fit.alpha == pytest.approx(3.0, rel=0.15)
    assert fit.relative_error < 0.02


def test_more_noise_gives_larger_gamma():
    k = np.arange(151)
    low = fit_pulse_response(k, noisy_recurrence(150, 2.0, 0.05, 150, 3), "pot").gamma
    high = fit_pulse_response(k, noisy_recurrence(150, 2.0, 0.3, 150, 3), "pot").gamma
    assert low < 0.1 < 0.2 < high


@pytest.mark.parametrize(
    "pulses, g, direction, message",
    [
        ([0, 1], [1e-6, 2e-6], "pot", "at least 3"),
        ([0, 2, 1], [1e-6, 2e-6, 3e-6], "pot", "strictly increasing"),
        ([0, 1, 2], [1e-6, 1e-6, 1e-6], "pot", "does not change"),
        ([0, 1, 2], [1e-6, np.nan, 2e-6], "pot", "finite"),
        ([0, 1, 2], [1e-6, 2e-6, 3e-6], "set", "direction"),
        ([0, 1.5, 2], [1e-6, 2e-6, 3e-6], "pot", "integers"),
    ],
)
def test_fit_rejects_bad_data(pulses, g, direction, message):
    with pytest.raises(DatasetError, match=message):
        fit_pulse_response(np.array(pulses), np.array(g), direction)


# --- CSV ---------------------------------------------------------------------------------------


def test_read_pulse_csv(tmp_path):
    path = tmp_path / "curve.csv"
    path.write_text(
        "direction,pulse,conductance_s\n"
        "# measured 2024-01-01\n"
        "pot,0,1e-6\n"
        "pot,1,1.5e-6\n"
        "\n"
        "dep,0,3e-6\n"
        "pot,2, 1.75e-6\n"
        "dep,1,2.5e-6\n"
    )
    data = read_pulse_csv(path)
    assert sorted(data) == ["dep", "pot"]
    np.testing.assert_array_equal(data["pot"][0], [0, 1, 2])
    np.testing.assert_array_equal(data["pot"][1], [1e-6, 1.5e-6, 1.75e-6])
    np.testing.assert_array_equal(data["dep"][0], [0, 1])
    np.testing.assert_array_equal(data["dep"][1], [3e-6, 2.5e-6])
    assert data["pot"][0].dtype == np.int64


def test_read_pulse_csv_reports_every_bad_row_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "pulse,conductance_s,direction\n"  # 1
        "0,1e-6,pot\n"  # 2
        "x,1e-6,pot\n"  # 3
        "1,abc,pot\n"  # 4
        "2,-1e-6,pot\n"  # 5
        "3,1e-6,set\n"  # 6
        "4,1e-6\n"  # 7
        "0,2e-6,pot\n"  # 8: does not follow pulse 0 of line 2
        "5,inf,pot\n"  # 9
    )
    with pytest.raises(DatasetError) as info:
        read_pulse_csv(path)
    lines = str(info.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5", "6", "7", "8", "9"]
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "'x' is not an integer" in lines[0]
    assert "'set' is not one of pot, dep" in lines[3]
    assert "expected 3 fields, found 2" in lines[4]
    assert "line 2" in lines[5]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("pulse,conductance,direction\n0,1e-6,pot\n", ":1: header must name"),
        ("pulse,conductance_s,direction,extra\n", ":1: header must name"),
        ("pulse,conductance_s,direction\n", "no data rows"),
    ],
)
def test_read_pulse_csv_bad_header_or_empty(tmp_path, text, message):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_pulse_csv(path)


def test_read_pulse_csv_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: file not found"):
        read_pulse_csv(tmp_path / "nope.csv")
