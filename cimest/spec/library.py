"""Pydantic models of a device library YAML (device_libraries/*.yaml).

Room: spec. A library is data: entries of (kind, variant) with an energy and latency per action,
an area and a leakage per instance, and the source and node of every number.

    name: cmos_32nm
    node_nm: 32                     # default node of the entries below
    vdd_v: 0.9                      # supply the numbers were taken at
    entries:
      - kind: adc
        variant: neurosim_sar
        default: true
        bits: 8
        source: "NeuroSim V1.4 SarADC.cpp, 32 nm"
        confidence: M
        area_um2: 1200
        actions:
          convert: {energy_pj: "169 fJ", latency_ns: 9}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from cimest.spec.base import Quantity, StrictModel, quantity
from cimest.spec.datasheet import DatasheetSpec
from cimest.spec.kinds import KIND_ACTIONS


class ActionCostSpec(StrictModel):
    energy_j: Quantity("energy_pj") = quantity("energy_pj")
    """Energy per action, pJ (or a string with a unit: "169 fJ")."""
    latency_s: Quantity("latency_ns") = quantity("latency_ns", default=0.0)
    """Time one action takes."""
    source: str | None = None
    """Source of this action's numbers when it differs from the entry's."""


class ModelSpreadSpec(StrictModel):
    """Credible models of the same component that disagree with this entry by more than 3x."""

    variants: list[str] = Field(min_length=1)
    """Variants of the same kind in this library that model the same component differently."""
    note: str = Field(min_length=3)
    """Where the models differ and by how much, with their sources (a report shows it)."""


class DeviceSpec(StrictModel):
    """Physical parameters of a memory cell (kind: cell)."""

    model: Literal["li2023_pulse"] = "li2023_pulse"
    """The device model the engine runs (cimest/devices/model.py): li2023_pulse, the nonlinear,
    noisy, bounded pulse response of Li et al. (arXiv:2304.12866)."""
    g_min_s: float = Field(gt=0, le=1)
    """Lowest conductance, siemens."""
    g_max_s: float = Field(gt=0, le=1)
    """Highest conductance, siemens."""
    v_read_v: Quantity("v_read_v") = quantity("v_read_v", positive=True)
    """Read voltage."""
    t_read_s: Quantity("t_read_ns") = quantity("t_read_ns", default=10e-9, positive=True)
    """Read pulse width."""
    v_set_v: Quantity("v_set_v") = quantity("v_set_v", positive=True)
    """Potentiation (SET) pulse amplitude."""
    v_reset_v: Quantity("v_reset_v") = quantity("v_reset_v", positive=True)
    """Depression (RESET) pulse amplitude (magnitude)."""
    t_set_s: Quantity("t_set_ns") = quantity("t_set_ns", positive=True)
    """SET pulse width."""
    t_reset_s: Quantity("t_reset_ns") = quantity("t_reset_ns", positive=True)
    """RESET pulse width."""
    levels: int = Field(64, ge=2, le=1_000_000)
    """Distinguishable conductance levels."""
    n_p: int = Field(ge=0, le=1_000_000)
    """Potentiation pulses spanning Gmin..Gmax (0: not programmable upwards)."""
    n_d: int = Field(ge=0, le=1_000_000)
    """Depression pulses spanning Gmax..Gmin (0: not programmable downwards)."""
    alpha_p: float = Field(0.0, ge=0, le=1000)
    """Nonlinearity of potentiation (the pulse-response model: README, How it models a chip, Devices)."""
    alpha_d: float = Field(0.0, ge=0, le=1000)
    """Nonlinearity of depression."""
    gamma_p: float = Field(0.0, ge=0, le=100)
    """Cycle-to-cycle relative sigma of a potentiation step."""
    gamma_d: float = Field(0.0, ge=0, le=100)
    """Cycle-to-cycle relative sigma of a depression step."""
    d2d_sigma: float = Field(0.0, ge=0, le=10)
    """Device-to-device relative sigma of the step size."""
    weight_mode: Literal["pot_dep", "pot_only", "dep_only"] = "pot_dep"
    """Which directions are gradual; one-direction devices need differential pairs."""
    endurance_cycles: float | None = Field(None, gt=0)
    """Programming pulses a device survives, where a source states it."""

    @model_validator(mode="after")
    def _ordered(self) -> DeviceSpec:
        if self.g_min_s >= self.g_max_s:
            raise ValueError(f"g_min_s ({self.g_min_s}) must be below g_max_s ({self.g_max_s})")
        if self.n_p == 0 and self.n_d == 0:
            raise ValueError("n_p and n_d cannot both be 0: the device could not be programmed")
        return self


class WireSpec(StrictModel):
    """Parameters of an array's word and bit lines (kind: wire), per unit of length."""

    c_ff_per_um: float = Field(gt=0, le=100)
    """Line capacitance per micrometre, fF/um (NeuroSim: 0.2 fF/um at every node)."""
    resistivity_ohm_m: float = Field(gt=0, le=1e-5)
    """Resistivity of the line metal at this width, ohm m (size effects included)."""
    aspect_ratio: float = Field(gt=0, le=10)
    """Height / width of the line."""
    width_nm: float = Field(gt=1, le=10000)
    """Line width; the resistance per length is resistivity / (width^2 x aspect_ratio)."""
    c_access_ff_per_cell: float = Field(0.0, ge=0, le=100)
    """1T1R arrays: capacitance each cell's access transistor adds to its column line, fF
    (NeuroSim SubArray.cpp: capCol += drain cap of the access transistor x rows); 0: the wire
    alone. Word lines and cross-point arrays take none."""

    @property
    def c_per_m(self) -> float:
        return self.c_ff_per_um * 1e-15 / 1e-6

    @property
    def r_per_m(self) -> float:
        w = self.width_nm * 1e-9
        return self.resistivity_ohm_m / (w * w * self.aspect_ratio)


class EntrySpec(StrictModel):
    kind: str
    """Component kind (see the kinds table in the README)."""
    variant: str = "default"
    """Name of this variant; an architecture picks it with `variant:`."""
    default: bool = False
    """The entry used when an architecture names no variant of this kind."""
    why_default: str | None = None
    """Why this variant is the default where sources disagree."""
    bits: int | None = Field(None, ge=1, le=32)
    """Resolution these numbers hold for (ADC, DAC, accumulator, buffer width)."""
    bit_scaling: Literal["exponential", "linear", "none"] = "none"
    """How energy and area follow `bits` away from this entry: 2^dbits, linear, or not at all; linear entries are serial units whose latency follows bits too."""
    area_bit_scaling: Literal["exponential", "linear", "none"] | None = None
    """How area follows `bits` when it differs from bit_scaling: `none` for a step-wise unit that
    takes more steps, not more circuit, for more bits (NeuRRAM's neuron ADC)."""
    node_nm: float | None = Field(None, gt=1, le=1000)
    """Node of these numbers; the library's node_nm when omitted."""
    vdd_v: Quantity("vdd_v") | None = quantity("vdd_v", default=None)
    """Supply of these numbers; the library's vdd_v when omitted."""
    source: str = Field(min_length=3)
    """Where the numbers come from (paper, table, model), precise enough to check."""
    confidence: Literal["H", "M", "L"] = "M"
    """H: printed in a traceable table; M: output of a public model; L: an estimate."""
    note: str | None = None
    """How a value was derived, assumptions, caveats."""
    area_m2: Quantity("area_um2") | None = quantity("area_um2", default=None)
    """Area of one instance."""
    area_f2: float | None = Field(None, gt=0)
    """Area of one instance in F^2 (cells): scaled with the architecture's node."""
    aspect_hw: float | None = Field(None, gt=0, le=100)
    """Height / width of one instance as laid out (cells: the row pitch over the column pitch;
    NeuroSim's 1T1R cell is 4F high and 12F wide, 1/3). The floorplan area model
    (technology.area_model) sizes an array's height and width from it; square when omitted."""
    leakage_w: Quantity("leakage_nw") = quantity("leakage_nw", default=0.0)
    """Leakage power of one instance."""
    leakage_source: str | None = Field(None, min_length=3)
    """Where leakage_nw comes from, when not from `source` (model, roadmap, temperature)."""
    model_spread: ModelSpreadSpec | None = None
    """Other variants of this kind whose numbers differ from this entry's by more than 3x."""
    actions: dict[str, ActionCostSpec] = Field(default_factory=dict)
    """Cost per action; a cell may omit them and have them derived from `device`."""
    device: DeviceSpec | None = None
    """Cells only: the device parameters (section 2 model)."""
    datasheet: DatasheetSpec | None = None
    """Cells only, instead of `device`: datasheet numbers, converted to `device` at load."""
    wire: WireSpec | None = None
    """Wires only: capacitance and resistance per length of the array's lines."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KIND_ACTIONS:
            raise ValueError(f"unknown kind '{kind}'. Allowed: {', '.join(KIND_ACTIONS)}")
        return kind

    @model_validator(mode="after")
    def _actions_of_kind(self) -> EntrySpec:
        allowed = KIND_ACTIONS[self.kind]
        for action in self.actions:
            if action not in allowed:
                raise ValueError(
                    f"actions.{action}: kind {self.kind} has no action '{action}'. Allowed: {', '.join(allowed)}"
                )
        if self.kind != "cell" and (self.device is not None or self.datasheet is not None):
            raise ValueError(f"device: only cells have device parameters, not {self.kind}")
        if (self.kind == "wire") != (self.wire is not None):
            raise ValueError(
                "wire: a wire entry needs its wire block (c_ff_per_um, resistivity_ohm_m, "
                "aspect_ratio, width_nm), and only wire entries have one"
            )
        if self.device is not None and self.datasheet is not None:
            raise ValueError("datasheet: give a device block or a datasheet block, not both")
        if self.datasheet is not None:
            try:
                derived = DeviceSpec.model_validate(self.datasheet.device_fields())
            except ValidationError as err:
                why = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
                raise ValueError(f"datasheet: the derived device is not valid: {why}") from None
            # Why: the entry is frozen; the derived device is part of loading, not a later edit.
            object.__setattr__(self, "device", derived)
        if self.kind == "cell" and self.device is None:
            raise ValueError(
                "device: a cell entry needs its device parameters (a device or a datasheet block)"
            )
        if self.area_m2 is not None and self.area_f2 is not None:
            raise ValueError("area: give area_um2 or area_f2, not both")
        if self.leakage_w < 0:
            raise ValueError(
                f"leakage_nw: a leakage power cannot be negative, got {self.leakage_w * 1e9:g}"
            )
        if self.model_spread is not None and self.variant in self.model_spread.variants:
            raise ValueError(
                f"model_spread.variants: lists the entry's own variant '{self.variant}'"
            )
        return self


class LibrarySpec(StrictModel):
    name: str = Field(min_length=1)
    """Library name (the file name without .yaml)."""
    description: str = ""
    """What the library holds."""
    node_nm: float = Field(gt=1, le=1000)
    """Default node of the entries."""
    vdd_v: Quantity("vdd_v") = quantity("vdd_v", positive=True)
    """Supply the entries' energies were taken at."""
    entries: list[EntrySpec] = Field(min_length=1)
    """Component entries."""

    @model_validator(mode="after")
    def _unique(self) -> LibrarySpec:
        seen: set[tuple] = set()
        defaults: dict[str, int] = {}
        for e in self.entries:
            key = (e.kind, e.variant, e.bits)
            if key in seen:
                raise ValueError(
                    f"entries: two entries for kind {e.kind}, variant {e.variant}, bits {e.bits}"
                )
            seen.add(key)
        for e in self.entries:
            if e.default:
                defaults.setdefault(e.kind, 0)
        for kind in defaults:
            variants = {e.variant for e in self.entries if e.kind == kind and e.default}
            if len(variants) > 1:
                raise ValueError(
                    f"entries: kind {kind} has several default variants: {', '.join(sorted(variants))}"
                )
        for e in self.entries:
            if e.model_spread is None:
                continue
            have = {x.variant for x in self.entries if x.kind == e.kind}
            missing = [v for v in e.model_spread.variants if v not in have]
            if missing:
                raise ValueError(
                    f"entries: {e.kind}/{e.variant} model_spread names {', '.join(missing)}, not a "
                    f"{e.kind} variant of this library. Available: {', '.join(sorted(have))}"
                )
        return self
