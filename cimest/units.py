"""SI units: parsing quantities at the YAML boundary and formatting them for display.

Leaf module: imports nothing from cimest. Inside cimest every quantity is an SI float (J, s, m^2,
W, V, S, Hz, ohm); YAML fields name their unit (``energy_pj``) and may also be given a string with
a unit (``"2.3 fJ"``), which is checked for dimension here.
"""

from __future__ import annotations

import math
import re

PREFIXES: dict[str, float] = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "μ": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
}

# dimension -> accepted unit symbols (without prefix)
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "energy": ("J",),
    "time": ("s",),
    "area": ("m2", "m²", "m^2"),
    "power": ("W",),
    "voltage": ("V",),
    "conductance": ("S",),
    "resistance": ("Ohm", "ohm", "Ω"),
    "frequency": ("Hz",),
    "length": ("m",),
    "capacitance": ("F",),
}

# field-name suffix -> (dimension, SI factor of one unit of the suffix)
SUFFIXES: dict[str, tuple[str, float]] = {
    "_j": ("energy", 1.0),
    "_pj": ("energy", 1e-12),
    "_fj": ("energy", 1e-15),
    "_nj": ("energy", 1e-9),
    "_s": ("time", 1.0),
    "_ns": ("time", 1e-9),
    "_us": ("time", 1e-6),
    "_ms": ("time", 1e-3),
    "_ps": ("time", 1e-12),
    "_m2": ("area", 1.0),
    "_um2": ("area", 1e-12),
    "_mm2": ("area", 1e-6),
    "_w": ("power", 1.0),
    "_mw": ("power", 1e-3),
    "_uw": ("power", 1e-6),
    "_nw": ("power", 1e-9),
    "_pw": ("power", 1e-12),
    "_v": ("voltage", 1.0),
    "_s_siemens": ("conductance", 1.0),
    "_ohm": ("resistance", 1.0),
    "_kohm": ("resistance", 1e3),
    "_mhz": ("frequency", 1e6),
    "_ghz": ("frequency", 1e9),
    "_hz": ("frequency", 1.0),
    "_nm": ("length", 1e-9),
    "_um": ("length", 1e-6),
    "_ff": ("capacitance", 1e-15),
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d.+-][^\s]*)?\s*$")


class UnitError(ValueError):
    """A quantity string that cannot be read, or has the wrong dimension."""


def _unit_factor(unit: str, dimension: str) -> float:
    symbols = DIMENSIONS[dimension]
    area = dimension == "area"
    for symbol in symbols:
        if unit.endswith(symbol):
            prefix = unit[: -len(symbol)]
            if prefix in PREFIXES:
                scale = PREFIXES[prefix]
                return scale**2 if area else scale
    allowed = ", ".join(f"{p}{symbols[0]}" for p in ("f", "p", "n", "u", "m", "") if p in PREFIXES)
    raise UnitError(f"'{unit}' is not a unit of {dimension}; use for example {allowed}")


def parse_quantity(value: object, dimension: str, factor: float) -> float:
    """Convert a YAML value to an SI float.

    Args:
        value: a number (in the field's unit, ``factor`` SI units each) or a string with a unit.
        dimension: the quantity's dimension, a key of ``DIMENSIONS``.
        factor: SI value of one unit of the field's named unit (1e-12 for ``energy_pj``).

    Raises:
        UnitError: unreadable, wrong dimension, negative or not finite.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a {dimension}, got a boolean")
    if isinstance(value, int | float):
        si = float(value) * factor
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise UnitError(f"cannot read '{value}' as a {dimension} (write e.g. '2.3 fJ')")
        number, unit = match.groups()
        si = float(number) * (_unit_factor(unit, dimension) if unit else factor)
    else:
        raise UnitError(f"expected a number or a string with a unit, got {type(value).__name__}")
    if not math.isfinite(si):
        raise UnitError(f"{dimension} must be finite, got {value!r}")
    if si < 0:
        raise UnitError(f"{dimension} must not be negative, got {value!r}")
    return si


def suffix_of(field: str) -> tuple[str, float] | None:
    """Dimension and SI factor named by a field's unit suffix, or None."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if field.endswith(suffix):
            return SUFFIXES[suffix]
    return None


_DISPLAY = {
    "J": [
        (1e-18, "aJ"),
        (1e-15, "fJ"),
        (1e-12, "pJ"),
        (1e-9, "nJ"),
        (1e-6, "µJ"),
        (1e-3, "mJ"),
        (1, "J"),
    ],
    "s": [(1e-12, "ps"), (1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1, "s")],
    "W": [(1e-12, "pW"), (1e-9, "nW"), (1e-6, "µW"), (1e-3, "mW"), (1, "W")],
    "m2": [(1e-18, "nm²"), (1e-12, "µm²"), (1e-6, "mm²"), (1, "m²")],
}


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format an SI value with a readable prefix: ``format_si(2.3e-15, "J") == "2.3 fJ"``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    steps = _DISPLAY.get(unit)
    if steps is None:
        return f"{value:.{digits}g} {unit}"
    scale, name = steps[0]
    for s, n in steps:
        if abs(value) >= s:
            scale, name = s, n
    return f"{value / scale:.{digits}g} {name}"
