"""Quantities: numbers in the field's unit or strings with SI prefixes, dimension-checked."""

from __future__ import annotations

import math

import pytest

from cimest.units import UnitError, format_si, parse_quantity


@pytest.mark.parametrize(
    ("value", "dimension", "factor", "si"),
    [
        (2.3, "energy", 1e-12, 2.3e-12),
        ("2.3 fJ", "energy", 1e-12, 2.3e-15),
        ("2.3fJ", "energy", 1e-12, 2.3e-15),
        ("0.3 pJ", "energy", 1e-15, 0.3e-12),
        ("400 um2", "area", 1e-12, 400e-12),
        ("1 mm2", "area", 1e-12, 1e-6),
        ("10 ns", "time", 1e-9, 10e-9),
        ("0.9 V", "voltage", 1.0, 0.9),
        (5, "time", 1e-9, 5e-9),
    ],
)
def test_parse(value, dimension, factor, si):
    assert math.isclose(parse_quantity(value, dimension, factor), si, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("value", "dimension", "message"),
    [
        ("2.3 fW", "energy", "not a unit of energy"),
        (-1, "energy", "must not be negative"),
        (float("nan"), "energy", "must be finite"),
        (float("inf"), "time", "must be finite"),
        ("lots", "energy", "cannot read"),
        (True, "energy", "boolean"),
        ([1], "energy", "expected a number"),
    ],
)
def test_rejects(value, dimension, message):
    with pytest.raises(UnitError, match=message):
        parse_quantity(value, dimension, 1e-12)


def test_format_si_picks_a_readable_prefix():
    assert format_si(2.3e-15, "J") == "2.3 fJ"
    assert format_si(1.5e-6, "s") == "1.5 µs"
    assert format_si(float("nan"), "J") == "n/a"
