"""Fit the §2 pulse-response model to measured conductance-vs-pulse data.

Room "devices": imports only numpy and cimest leaf modules (errors, inputs).

Model (reference/algorithms.md §2, noiseless): the recurrence of one direction has the closed form

    pot: G(k) = Gmin + R · S(k),   dep: G(k) = Gmax - R · S(k),
    S(k) = (1 - exp(-alpha·t)) / (1 - exp(-alpha)),  t = min(k / N, 1),  R = Gmax - Gmin,

with k the pulse count since the first row (the first row is the state before any of the
counted pulses). Gmin and Gmax are the minimum and maximum of the data; alpha and N (a real
number, round it for a PulseModel) are found by least squares on G: Levenberg–Marquardt from two
starts (the best point of a coarse grid, and a line fit of the steps against S), keeping the
better. gamma is the standard deviation of the relative step residuals
ΔG_measured / ΔG_model(G_k) - 1 over consecutive pulses (Δpulse = 1) that neither start nor end on
a data extreme (clipping there shrinks the steps) and whose model step exceeds 1e-6 of the range;
it is 0 when fewer than 3 such steps exist.

When a curve saturates within a few pulses (alpha/N >~ 3), only alpha/N is well determined: many
(alpha, N) pairs then fit equally well.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cimest.errors import DatasetError, InputFileError
from cimest.inputs import read_bytes

_ALPHA_LINEAR = 1e-9
_ALPHA_BOUND = 300.0
COLUMNS = ("pulse", "conductance_s", "direction")
MAX_CSV_BYTES = 1_000_000
"""Largest pulse-response CSV read (bytes)."""
MAX_CSV_ROWS = 10_000
"""Most data rows fitted. Measured cycles hold hundreds to thousands of pulses; the fit takes
about 0.25 s per 1,000 rows of a direction (2.5 s at the limit), so more would take minutes."""
MAX_SHOWN_PROBLEMS = 50
DIRECTIONS = ("pot", "dep")


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters of one direction.

    Attributes:
        g_min_s: lowest conductance in the data, S.
        g_max_s: highest conductance in the data, S.
        n: pulses spanning the range (real-valued).
        alpha: nonlinearity.
        gamma: relative cycle-to-cycle sigma of a step.
        rms_error_s: RMS of (model - data), S.
        relative_error: rms_error_s / (g_max_s - g_min_s).
    """

    g_min_s: float
    g_max_s: float
    n: float
    alpha: float
    gamma: float
    rms_error_s: float
    relative_error: float


def _shape(k: np.ndarray, alpha: float, n: float) -> np.ndarray:
    """S(k) of the module docstring, in [0, 1]."""
    t = np.minimum(k / n, 1.0)
    if abs(alpha) < _ALPHA_LINEAR:
        return t
    return np.expm1(-alpha * t) / math.expm1(-alpha)


def _normalized_step(y: np.ndarray, alpha: float, n: float) -> np.ndarray:
    """Model step of S from S = y: (1/(1 - e^-alpha) - y)·(1 - e^(-alpha/N))."""
    if abs(alpha) < _ALPHA_LINEAR:
        return np.full_like(y, 1.0 / n)
    c = -math.expm1(-alpha / n)
    return (1.0 / -math.expm1(-alpha) - y) * c


def _sse(k: np.ndarray, y: np.ndarray, alpha: float, n: float) -> float:
    r = _shape(k, alpha, n) - y
    return float(r @ r)


def _grid_start(k: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    k_top = max(float(k[-1]), 1.0)
    alphas = np.concatenate([-np.geomspace(30, 0.01, 25), [0.0], np.geomspace(0.01, 100, 50)])
    ns = np.geomspace(0.5, 4.0 * k_top, 80)
    t = np.minimum(k[None, :] / ns[:, None], 1.0)  # (n, points)
    best = (math.inf, 0.0, k_top)
    for a in alphas:
        s = t if a == 0.0 else np.expm1(-a * t) / math.expm1(-a)
        sse = ((s - y) ** 2).sum(axis=1)
        i = int(np.argmin(sse))
        if sse[i] < best[0]:
            best = (float(sse[i]), float(a), float(ns[i]))
    return best[1], best[2]


def _step_regression_start(pulses: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(alpha, N) from the steps: over a gap of m pulses, dS = (1/d - S)·c_m exactly.

    With c_m = 1 - exp(-alpha·m/N) and d = 1 - exp(-alpha), a line fit dS = a - c_m·S over the
    unsaturated steps of the most common gap m gives alpha = -ln(1 - c_m/a) and
    N = alpha·m / -ln(1 - c_m). Exact for noiseless data; None when it does not apply.
    """
    gaps = np.diff(pulses)
    values, counts = np.unique(gaps, return_counts=True)
    m = float(values[np.argmax(counts)])
    use = (gaps == m) & (y[:-1] < 1.0) & (y[1:] < 1.0)
    if np.count_nonzero(use) < 3:
        return None
    start, step = y[:-1][use], np.diff(y)[use]
    if np.ptp(start) == 0:
        return None
    slope, a = np.polyfit(start, step, 1)
    c = -slope
    if not (a > 0 and c < 1 and c / a < 1):
        return None
    if abs(c) < 1e-12:
        return 0.0, m / a
    alpha = -math.log1p(-c / a)
    n = alpha * m / -math.log1p(-c)
    if not (math.isfinite(alpha) and math.isfinite(n) and n > 0):
        return None
    return float(np.clip(alpha, -_ALPHA_BOUND, _ALPHA_BOUND)), n


def _levenberg_marquardt(
    k: np.ndarray, y: np.ndarray, alpha: float, n: float
) -> tuple[float, float]:
    """Refine (alpha, ln N) by Levenberg–Marquardt with a central-difference Jacobian."""
    p = np.array([alpha, math.log(n)])
    lam = 1e-3

    def residual(q: np.ndarray) -> np.ndarray:
        return _shape(k, float(q[0]), math.exp(q[1])) - y

    r = residual(p)
    cost = float(r @ r)
    done = False
    for _ in range(200):
        jac = np.empty((k.size, 2))
        for j, h in enumerate((1e-6 * max(1.0, abs(p[0])), 1e-6)):
            dp = np.zeros(2)
            dp[j] = h
            jac[:, j] = (residual(p + dp) - residual(p - dp)) / (2 * h)
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        while lam < 1e12:
            step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -grad)
            q = p + step
            q[0] = float(np.clip(q[0], -_ALPHA_BOUND, _ALPHA_BOUND))
            r_new = residual(q)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                improved = True
                done = cost - cost_new <= 1e-15 * max(cost, 1e-300) or np.all(
                    np.abs(step) <= 1e-12 * (1.0 + np.abs(p))
                )
                p, r, cost = q, r_new, cost_new
                lam = max(lam / 10.0, 1e-12)
                break
            lam *= 10.0
        if not improved or done or cost == 0.0:
            break
    return float(p[0]), float(math.exp(p[1]))


def fit_pulse_response(
    pulse_index: np.ndarray, conductance: np.ndarray, direction: Literal["pot", "dep"]
) -> FitResult:
    """Fit alpha, N and gamma of one direction to a measured pulse response.

    Args:
        pulse_index: integer pulse numbers, strictly increasing (gaps allowed).
        conductance: measured conductance after each pulse number, S.
        direction: ``"pot"`` (rising) or ``"dep"`` (falling).

    Raises:
        DatasetError: fewer than 3 points, non-finite values, indices not strictly increasing,
            a flat curve, or an unknown direction.
    """
    if direction not in DIRECTIONS:
        raise DatasetError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    pulses = np.asarray(pulse_index, dtype=np.float64).reshape(-1)
    g = np.asarray(conductance, dtype=np.float64).reshape(-1)
    if pulses.size != g.size:
        raise DatasetError(f"{pulses.size} pulse indices but {g.size} conductances")
    if g.size < 3:
        raise DatasetError(f"need at least 3 points to fit, got {g.size}")
    if not (np.all(np.isfinite(pulses)) and np.all(np.isfinite(g))):
        raise DatasetError("pulse indices and conductances must be finite")
    if np.any(pulses != np.round(pulses)) or np.any(np.diff(pulses) <= 0):
        raise DatasetError("pulse indices must be integers in strictly increasing order")
    g_min, g_max = float(g.min()), float(g.max())
    span = g_max - g_min
    if not span > 0:
        raise DatasetError("conductance does not change: nothing to fit")
    k = pulses - pulses[0]
    y = (g - g_min) / span if direction == "pot" else (g_max - g) / span
    starts = [_grid_start(k, y), _step_regression_start(pulses, y)]
    fits = [_levenberg_marquardt(k, y, *p) for p in starts if p is not None]
    alpha, n = min(fits, key=lambda p: _sse(k, y, *p))
    residual = _shape(k, alpha, n) - y
    rms = float(np.sqrt(np.mean(residual**2))) * span
    return FitResult(
        g_min_s=g_min,
        g_max_s=g_max,
        n=n,
        alpha=alpha,
        gamma=_gamma(pulses, y, alpha, n),
        rms_error_s=rms,
        relative_error=rms / span,
    )


def _gamma(pulses: np.ndarray, y: np.ndarray, alpha: float, n: float) -> float:
    """Std of relative step residuals (see the module docstring); 0 if under 3 usable steps."""
    consecutive = np.diff(pulses) == 1
    interior = (y > 0.0) & (y < 1.0)
    usable = consecutive & interior[1:] & (y[:-1] < 1.0)
    if np.count_nonzero(usable) < 3:
        return 0.0
    start = y[:-1][usable]
    measured = np.diff(y)[usable]
    expected = _normalized_step(start, alpha, n)
    # Why: steps below 1e-6 of the range are lost in round-off (or in the instrument's resolution).
    ok = np.abs(expected) > 1e-6
    if np.count_nonzero(ok) < 3:
        return 0.0
    rel = measured[ok] / expected[ok] - 1.0
    return float(np.std(rel, ddof=1))


def read_pulse_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a pulse-response CSV with a header ``pulse,conductance_s,direction`` (any order).

    ``pulse`` is an integer, ``conductance_s`` a finite conductance >= 0 in siemens,
    ``direction`` ``pot`` or ``dep``. Blank lines and lines starting with ``#`` are skipped.
    Within one direction, pulse numbers must increase strictly (one cycle per direction).

    Returns:
        {direction: (pulse int64 array, conductance_s float64 array)} for the directions present,
        rows in file order.

    Raises:
        DatasetError: missing, not a regular file, larger than ``MAX_CSV_BYTES`` or
            ``MAX_CSV_ROWS``, bad header, or bad rows; one ``file:line: message`` per problem
            (the first ``MAX_SHOWN_PROBLEMS``, then how many more).
    """
    path = Path(path)
    try:
        text = read_bytes(path, MAX_CSV_BYTES, "a CSV file").decode("utf-8-sig")
    except InputFileError as err:
        if err.reason == "no such file":
            raise DatasetError(f"{path}: file not found") from None
        raise DatasetError(str(err)) from None
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path}: cannot read: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [
            (reader.line_num, fields)
            for fields in reader
            if any(f.strip() for f in fields) and not fields[0].lstrip().startswith("#")
        ]
    except csv.Error as err:
        raise DatasetError(f"{path}:{reader.line_num}: not a CSV row ({err})") from None
    if not rows:
        raise DatasetError(f"{path}: empty file; expected a header {','.join(COLUMNS)}")
    if len(rows) - 1 > MAX_CSV_ROWS:
        raise DatasetError(
            f"{path}: {len(rows) - 1:,} data rows; the limit is {MAX_CSV_ROWS:,} (a pulse-response "
            "cycle needs hundreds of pulses: keep every k-th row)"
        )
    header_line, header = rows[0]
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [h for h in names if h not in COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        raise DatasetError(
            f"{path}:{header_line}: header must name the columns {', '.join(COLUMNS)} once each; "
            f"found {', '.join(names) or 'nothing'}"
        )
    col = {name: names.index(name) for name in COLUMNS}
    problems: list[str] = []
    data: dict[str, tuple[list[int], list[float]]] = {}
    last_line: dict[str, int] = {}
    for line, fields in rows[1:]:
        where = f"{path}:{line}:"
        if len(fields) != len(names):
            problems.append(f"{where} expected {len(names)} fields, found {len(fields)}")
            continue
        raw_pulse, raw_g, raw_dir = (fields[col[c]].strip() for c in COLUMNS)
        try:
            pulse = int(raw_pulse)
        except ValueError:
            problems.append(f"{where} pulse: {raw_pulse!r} is not an integer")
            continue
        try:
            g = float(raw_g)
        except ValueError:
            problems.append(f"{where} conductance_s: {raw_g!r} is not a number")
            continue
        if not math.isfinite(g) or g < 0:
            problems.append(f"{where} conductance_s: {raw_g!r} must be finite and >= 0")
            continue
        if raw_dir not in DIRECTIONS:
            problems.append(f"{where} direction: {raw_dir!r} is not one of {', '.join(DIRECTIONS)}")
            continue
        pulses, gs = data.setdefault(raw_dir, ([], []))
        if pulses and pulse <= pulses[-1]:
            problems.append(
                f"{where} pulse: {pulse} does not follow {pulses[-1]} (line {last_line[raw_dir]}) "
                f"of direction {raw_dir}; pulse numbers must increase"
            )
            continue
        pulses.append(pulse)
        gs.append(g)
        last_line[raw_dir] = line
    if problems:
        if len(problems) > MAX_SHOWN_PROBLEMS:
            more = len(problems) - MAX_SHOWN_PROBLEMS
            problems = [*problems[:MAX_SHOWN_PROBLEMS], f"{path}: ... and {more:,} more problems"]
        raise DatasetError("\n".join(problems))
    if not data:
        raise DatasetError(f"{path}: no data rows after the header")
    return {
        d: (np.array(p, dtype=np.int64), np.array(gs, dtype=np.float64))
        for d, (p, gs) in data.items()
    }
