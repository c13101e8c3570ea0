"""Every quantity field has a physical range, inclusive, stated with its unit in the message."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from cimest.spec.architecture import ArchitectureSpec
from cimest.spec.base import RANGES, Quantity, unit_of
from cimest.spec.library import LibrarySpec


def _aliases(model: type[BaseModel], seen: set) -> set[str]:
    """Field names (aliases) of ``model`` and every model nested in it."""
    import typing

    if model in seen:
        return set()
    seen.add(model)
    out = set()
    for name, f in model.model_fields.items():
        out.add(f.alias or name)
        stack = [f.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                out |= _aliases(tp, seen)
            stack.extend(typing.get_args(tp))
    return out


def test_every_range_names_a_field_of_the_yaml_formats():
    # A misspelt key here would leave its field without a range, silently.
    fields = _aliases(ArchitectureSpec, set()) | _aliases(LibrarySpec, set())
    assert set(RANGES) <= fields, sorted(set(RANGES) - fields)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_the_bounds_are_inclusive_and_just_outside_is_refused(name):
    lo, hi = RANGES[name]
    check = TypeAdapter(Quantity(name))
    factor = check.validate_python(1.0)  # the SI value of one unit of the field
    assert check.validate_python(lo) == pytest.approx(lo * factor)
    assert check.validate_python(hi) == pytest.approx(hi * factor)
    with pytest.raises(
        ValidationError, match=re.escape(f"out of range: allowed {lo:g} to {hi:g} {unit_of(name)}")
    ):
        check.validate_python(hi * 1.001)
    if lo > 0:
        with pytest.raises(ValidationError, match="out of range"):
            check.validate_python(lo * 0.999)


def test_a_string_with_a_unit_is_checked_in_the_fields_unit():
    check = TypeAdapter(Quantity("vdd_v"))
    assert check.validate_python("900 mV") == pytest.approx(0.9)
    with pytest.raises(ValidationError, match="0.05 V is out of range: allowed 0.1 to 20 V"):
        check.validate_python("50 mV")


def test_an_explicit_range_overrides_the_table():
    check = TypeAdapter(Quantity("energy_pj", (0.0, 1e12)))
    assert check.validate_python(1e9) == pytest.approx(
        1e-3
    )  # 1 mJ: too much for one action, fine per sample
    with pytest.raises(
        ValidationError, match="1e\\+308 pJ is out of range: allowed 0 to 1e\\+12 pJ"
    ):
        check.validate_python(1e308)
