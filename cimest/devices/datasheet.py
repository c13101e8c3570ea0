"""Cell entries of a device library from measured data: what `cimest device fit` writes.

Room "devices": imports only numpy and cimest.errors. The result is plain data (a dict shaped like a
device-library YAML, see cimest/spec/library.py) so the CLI can write it and ``load_library`` can
check it; this module never imports the spec.

Datasheet numbers (levels, R_on, on/off, NL labels, c2c sigma) are converted by the spec itself
(``datasheet:`` block, cimest/spec/datasheet.py); here the pulse-response fit of
:mod:`cimest.devices.fit` gives the section 2 parameters directly:

    g_min_s, g_max_s   extremes of all the data (both directions)
    n_p, n_d           fitted pulses spanning the range, rounded (0 for a direction not measured)
    alpha_p, alpha_d   fitted alpha; the library format holds alpha >= 0, so a negative fit
                       (curvature opposite to section 2) is stored as 0 and the note says so
    gamma_p, gamma_d   fitted relative step sigma
    levels             max(n_p, n_d, 2)

The data says nothing of the electrical side: read 0.5 V / 5 ns (the MLP+NeuroSim defaults the
shipped libraries use) and programming pulses of 2 V / 10 ns (the NVSim sample cell) are written
as placeholders, and the note tells the user to replace them.
"""

from __future__ import annotations

from pathlib import Path

from cimest.devices.fit import FitResult, fit_pulse_response, read_pulse_csv
from cimest.errors import DatasetError

PLACEHOLDER_ELECTRICAL = {
    "v_read_v": 0.5,
    "t_read_ns": 5.0,
    "v_set_v": 2.0,
    "v_reset_v": 2.0,
    "t_set_ns": 10.0,
    "t_reset_ns": 10.0,
}
"""Electrical values a pulse-response CSV cannot give (see the module docstring)."""

_GAMMA_MAX = 100.0  # the library format's bound on gamma


def fit_csv(path: str | Path) -> dict[str, FitResult]:
    """Read a ``pulse,conductance_s,direction`` CSV and fit each direction it holds.

    Raises:
        DatasetError: a bad file (one ``file:line: message`` per problem) or a direction that
            cannot be fitted (``file: direction pot: ...``).
    """
    data = read_pulse_csv(path)
    fits: dict[str, FitResult] = {}
    problems = []
    for direction, (pulses, g) in data.items():
        try:
            fits[direction] = fit_pulse_response(pulses, g, direction)  # type: ignore[arg-type]
        except DatasetError as err:
            problems.append(f"{path}: direction {direction}: {err}")
    if problems:
        raise DatasetError("\n".join(problems))
    return fits


def fit_error_text(fits: dict[str, FitResult]) -> str:
    """One line per direction: RMS error in S and relative to the range."""
    return "; ".join(
        f"{d}: RMS {f.rms_error_s:.3g} S = {100 * f.relative_error:.3g} % of the range "
        f"(N {f.n:.4g}, alpha {f.alpha:.4g}, gamma {f.gamma:.4g})"
        for d, f in fits.items()
    )


def library_from_fits(
    fits: dict[str, FitResult],
    *,
    library: str,
    variant: str,
    source: str,
    node_nm: float = 32.0,
    vdd_v: float = 0.9,
) -> dict:
    """A device-library document (dict) with one cell entry built from the fits.

    Args:
        fits: {"pot": FitResult, "dep": FitResult}, one or both.
        library: library name (the file name without .yaml).
        variant: the cell's variant name (what ``crossbar.cell`` names).
        source: where the data comes from.
        node_nm, vdd_v: the library's node and supply (cells are not scaled; required fields).
    """
    if not fits:
        raise DatasetError("no direction to fit")
    pot, dep = fits.get("pot"), fits.get("dep")
    g_min = min(f.g_min_s for f in fits.values())
    g_max = max(f.g_max_s for f in fits.values())
    notes = []

    def side(f: FitResult | None, name: str) -> tuple[int, float, float]:
        if f is None:
            return 0, 0.0, 0.0
        n = max(1, round(f.n))
        alpha = f.alpha
        if alpha < 0:
            notes.append(f"{name}: fitted alpha {alpha:.4g} < 0 (opposite curvature) stored as 0")
            alpha = 0.0
        gamma = min(f.gamma, _GAMMA_MAX)
        return n, float(alpha), float(gamma)

    n_p, alpha_p, gamma_p = side(pot, "pot")
    n_d, alpha_d, gamma_d = side(dep, "dep")
    mode = "pot_dep" if pot and dep else ("pot_only" if pot else "dep_only")
    device = {
        "g_min_s": g_min,
        "g_max_s": g_max,
        **PLACEHOLDER_ELECTRICAL,
        "levels": max(n_p, n_d, 2),
        "n_p": n_p,
        "n_d": n_d,
        "alpha_p": round(alpha_p, 6),
        "alpha_d": round(alpha_d, 6),
        "gamma_p": round(gamma_p, 6),
        "gamma_d": round(gamma_d, 6),
        "weight_mode": mode,
    }
    note = (
        f"fit error {fit_error_text(fits)}. "
        + (" ".join(n + "." for n in notes) + " " if notes else "")
        + "Read 0.5 V / 5 ns and write 2 V / 10 ns are placeholders (the data has no electrical "
        "values): replace them with the device's. Area 16 F^2 (NeuroSim's 1T1R cell) assumed."
    )
    return {
        "name": library,
        "description": f"cell {variant} fitted to measured pulse-response data",
        "node_nm": node_nm,
        "vdd_v": vdd_v,
        "entries": [
            {
                "kind": "cell",
                "variant": variant,
                "source": source,
                "confidence": "M",
                "note": note,
                "area_f2": 16,
                "device": device,
            }
        ],
    }
