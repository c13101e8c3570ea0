"""Shared pieces of the spec models: strict base class and unit-checked quantity fields.

Room: spec.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cimest.units import UnitError, parse_quantity, suffix_of


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once loaded."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True,
        allow_inf_nan=False,  # Why: NaN fails every bound, and "<= 100, got nan" misleads
    )


def _quantity_validator(dimension: str, factor: float):
    def check(value: Any) -> float:
        try:
            return parse_quantity(value, dimension, factor)
        except UnitError as err:
            raise ValueError(str(err)) from None

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


def Quantity(yaml_name: str) -> Any:  # noqa: N802 - used as a type
    """The annotated float type that parses the unit named by ``yaml_name``."""
    dimension, factor = suffix_of(yaml_name)  # type: ignore[misc]
    return Annotated[float, BeforeValidator(_quantity_validator(dimension, factor))]
