"""Shared pieces of the spec models: strict base class and unit-checked quantity fields.

Room: spec.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cimest.units import SUFFIXES, UnitError, parse_quantity, suffix_of


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once loaded."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,  # Why: NaN fails every bound, and "<= 100, got nan" misleads
    )


RANGES: dict[str, tuple[float, float]] = {
    "vdd_v": (0.1, 20.0),  # supplies, from sub-threshold logic to high-voltage I/O
    "v_read_v": (1e-3, 20.0),
    "v_set_v": (1e-3, 20.0),
    "v_reset_v": (1e-3, 20.0),
    "t_read_ns": (1e-3, 1e9),  # 1 ps .. 1 s
    "t_set_ns": (1e-3, 1e9),
    "t_reset_ns": (1e-3, 1e9),
    "clock_mhz": (1e-3, 1e5),  # 1 kHz .. 100 GHz
    "energy_pj": (0.0, 1e6),  # up to 1 uJ per action
    "latency_ns": (0.0, 1e9),  # up to 1 s per action
    "area_um2": (0.0, 1e9),  # up to 1000 mm2, above the reticle limit
    "leakage_nw": (0.0, 1e9),  # up to 1 W per instance
    "r_on_ohm": (1.0, 1e12),
}
"""Allowed range of each quantity field, in the field's own unit (inclusive).

Why: every library and architecture number is multiplied with others (V^2 G t, energy x count,
(V / V0)^2); a value far outside what any device or circuit has made those products overflow
(1e308 V) or vanish (a supply of 5e-324 V) instead of being refused with a message.
"""


_UNIT_TEXT = {
    "v": "V",
    "pj": "pJ",
    "nw": "nW",
    "mhz": "MHz",
    "ghz": "GHz",
    "ohm": "Ohm",
    "kohm": "kOhm",
}


def unit_of(yaml_name: str) -> str:
    """The unit a field name carries, as messages write it: ``vdd_v`` -> "V", ``area_um2`` -> "um2"."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if yaml_name.endswith(suffix):
            return _UNIT_TEXT.get(suffix[1:], suffix[1:])
    return ""


def _quantity_validator(
    yaml_name: str, dimension: str, factor: float, within: tuple[float, float] | None
):
    unit = unit_of(yaml_name)

    def check(value: Any) -> float:
        try:
            si = parse_quantity(value, dimension, factor)
        except UnitError as err:
            raise ValueError(str(err)) from None
        if within is not None:
            lo, hi = within
            if not lo * factor <= si <= hi * factor:
                raise ValueError(
                    f"{si / factor:.4g} {unit} is out of range: allowed {lo:g} to {hi:g} {unit}"
                )
        return si

    return check


def quantity(yaml_name: str, *, default: Any = ..., positive: bool = False, doc: str = "") -> Any:
    """A float field stored in SI units, written in YAML as ``yaml_name`` (which names the unit).

    Example: ``energy_j: float = quantity("energy_pj")`` reads ``energy_pj: 2.3`` or
    ``energy_pj: "2.3 fJ"`` and stores 2.3e-12 J.
    """
    found = suffix_of(yaml_name)
    if found is None:
        raise ValueError(f"field name {yaml_name} does not name a unit")
    dimension, factor = found
    kwargs: dict[str, Any] = {"alias": yaml_name}
    if doc:
        kwargs["description"] = doc
    if positive:
        kwargs["gt"] = 0
    if default is not ...:
        kwargs["default"] = default
    return Field(**kwargs)


def Quantity(yaml_name: str, within: tuple[float, float] | None = None) -> Any:  # noqa: N802 - used as a type
    """The annotated float type that parses the unit named by ``yaml_name``.

    Args:
        within: the allowed (low, high) range in the field's unit; ``RANGES[yaml_name]`` when
            omitted (no range for a name not listed there).
    """
    dimension, factor = suffix_of(yaml_name)  # type: ignore[misc]
    if within is None:
        within = RANGES.get(yaml_name)
    return Annotated[
        float, BeforeValidator(_quantity_validator(yaml_name, dimension, factor, within))
    ]
