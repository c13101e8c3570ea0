"""Library lookup and scaling: the cost of one action of one component, at the chip's node.

Room: costs (imports spec, graph, leaf modules). Every priced number keeps its provenance: the
library value at its own node, the factors applied, and the source, so reports can trace it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from cimest.costs import scaling
from cimest.errors import LibraryError
from cimest.graph.compile import Component
from cimest.spec.architecture import ArchitectureSpec
from cimest.spec.kinds import KIND_ACTIONS
from cimest.spec.libraries import LibrarySet, Located


@dataclass(frozen=True)
class Provenance:
    """Where one priced number comes from."""

    kind: str
    variant: str
    quantity: str  # "energy:convert", "latency:convert", "area", "leakage"
    value: float  # SI, at the library's node
    unit: str
    node_nm: float
    scaled: float  # SI, at the chip's node and bits
    factor: float
    rule: str
    source: str
    confidence: str
    library: str
    used_variant: str | None = None
    """Only on 'alternative:<action>' records: the variant the estimate used instead of this one."""


@dataclass
class Priced:
    """Costs of one component instance of a graph component."""

    kind: str
    variant: str
    energy_j: dict[str, float]
    latency_s: dict[str, float]
    area_m2: float
    leakage_w: float
    provenance: list[Provenance] = field(default_factory=list)


def _cell_actions(loc: Located) -> tuple[dict[str, float], dict[str, float], str]:
    """Read and pulse energies of a cell from its device (device_data.md formulas)."""
    d = loc.entry.device
    assert d is not None  # the library schema guarantees cells have a device
    g_mid = (d.g_min_s + d.g_max_s) / 2
    read = d.v_read_v**2 * g_mid * d.t_read_s
    energy = {
        "read": read,
        "verify_read": read,
        "set_pulse": d.v_set_v**2 * g_mid * d.t_set_s,
        "reset_pulse": d.v_reset_v**2 * g_mid * d.t_reset_s,
    }
    latency = {
        "read": d.t_read_s,
        "verify_read": d.t_read_s,
        "set_pulse": d.t_set_s,
        "reset_pulse": d.t_reset_s,
    }
    return energy, latency, "V^2 * G_mid * t (NeuroSim Cell.cpp form; device_data.md)"


#: Kinds that run on the chip's digital clock: one action takes whole clock cycles.
CLOCKED_KINDS = frozenset({"adder", "accumulator", "multiplier", "shift_add", "activation", "rng"})


def clocked(kind: str, latency_s: float, clock_hz: float) -> tuple[float, str]:
    """(latency, rule) of one action: a clocked kind's library latency rounded up to whole cycles
    of ``technology.clock_mhz`` (at least one cycle when it takes any time); others unchanged."""
    if kind not in CLOCKED_KINDS or latency_s <= 0:
        return latency_s, ""
    cycles = max(math.ceil(latency_s * clock_hz * (1 - 1e-9)), 1)
    return (
        cycles / clock_hz,
        f"; {cycles} cycle{'s' if cycles > 1 else ''} of {clock_hz / 1e6:g} MHz",
    )


def price(component: Component, libs: LibrarySet, spec: ArchitectureSpec) -> Priced:
    """Cost of one instance of ``component`` at the architecture's node and supply.

    A resolution between two entries of the variant's table (a 5-bit ADC between the 4- and
    6-bit points) is interpolated between them (``scaling.interpolate_bits``); outside the table
    the nearest entry is scaled by its ``bit_scaling``. Where the entry names credible models that
    differ by more than 3x (``model_spread``), their cost for the same component is recorded too
    (provenance quantity ``alternative:<action>``), so a report can say which model was used.

    Raises:
        LibraryError: the libraries have no entry for the component's kind/variant, or the entry
            lacks an action the kind needs.
    """
    priced, used = _price_table(component, libs, spec)
    priced.provenance.extend(_alternatives(component, used, priced, libs, spec))
    return priced


def _price_table(
    component: Component, libs: LibrarySet, spec: ArchitectureSpec
) -> tuple[Priced, Located]:
    """The component priced from its entry, or interpolated between the two entries around its bits."""
    bracket = None
    if component.kind != "cell" and component.bits is not None:
        bracket = libs.bracket(component.kind, component.variant, component.bits)
    if bracket is None:
        loc = libs.find(component.kind, component.variant, component.bits)
        return _price_entry(component, loc, spec, component.bits), loc
    lo, hi = bracket
    return _interpolate(
        component.bits,
        _price_entry(component, lo, spec, lo.entry.bits),
        _price_entry(component, hi, spec, hi.entry.bits),
        lo,
        hi,
    ), lo


_CONFIDENCE_ORDER = "LMH"


def _interpolate(bits: int, a: Priced, b: Priced, lo: Located, hi: Located) -> Priced:
    """Every number of ``a`` (at lo bits) and ``b`` (at hi bits) interpolated to ``bits``."""
    b_lo, b_hi = lo.entry.bits, hi.entry.bits

    def at(x: float, y: float) -> float:
        return scaling.interpolate_bits(b_lo, x, b_hi, y, bits)

    energy = {k: at(v, b.energy_j[k]) for k, v in a.energy_j.items()}
    latency = {k: at(v, b.latency_s[k]) for k, v in a.latency_s.items()}
    by_quantity = {pr.quantity: pr for pr in b.provenance}
    prov: list[Provenance] = []
    for pa in a.provenance:
        pb = by_quantity.get(pa.quantity)
        if pb is None:
            continue
        value, scaled = at(pa.value, pb.value), at(pa.scaled, pb.scaled)
        rule = f"interpolated between {b_lo} b and {b_hi} b to {bits} b (log-linear in bits); {b_lo} b: {pa.rule}"
        if pb.rule != pa.rule:
            rule += f"; {b_hi} b: {pb.rule}"
        source = (
            pa.source if pa.source == pb.source else f"{b_lo} b: {pa.source}; {b_hi} b: {pb.source}"
        )
        confidence = min(pa.confidence, pb.confidence, key=_CONFIDENCE_ORDER.index)
        prov.append(
            Provenance(
                pa.kind,
                pa.variant,
                pa.quantity,
                value,
                pa.unit,
                pa.node_nm,
                scaled,
                scaled / value if value else 1.0,
                rule,
                source,
                confidence,
                pa.library,
            )
        )
    return Priced(
        a.kind,
        a.variant,
        energy,
        latency,
        at(a.area_m2, b.area_m2),
        at(a.leakage_w, b.leakage_w),
        prov,
    )


def _price_entry(
    component: Component, loc: Located, spec: ArchitectureSpec, bits: int | None
) -> Priced:
    """``component`` priced from one library entry, its resolution taken to ``bits`` by the entry's law."""
    e = loc.entry
    node_to = spec.technology.node_nm
    is_cell = component.kind == "cell"
    prov: list[Provenance] = []
    lib_name = loc.library.name

    bits_factor = area_bits_factor = 1.0
    if is_cell:
        e_factor = t_factor = 1.0
        e_rule = "none (device physics)"
    else:
        if e.bits is not None and bits is not None:
            bits_factor = scaling.resolution_factor(e.bits, bits, e.bit_scaling)
            area_bits_factor = scaling.resolution_factor(
                e.bits, bits, e.area_bit_scaling or e.bit_scaling
            )
        e_factor = (
            scaling.energy_factor(loc.node_nm, node_to)
            * scaling.voltage_factor(loc.vdd_v, spec.technology.vdd_v)
            * bits_factor
        )
        t_factor = scaling.latency_factor(loc.node_nm, node_to)
        if e.bit_scaling == "linear":
            # Why: a linear entry is a serial unit (bit-serial DAC, NeuRRAM's step-wise neuron ADC):
            # n bits take n of its steps, in time as in energy.
            t_factor *= bits_factor
        e_rule = (
            f"stillmaker_baas {loc.node_nm:g}->{node_to:g} nm; (V/V0)^2 {loc.vdd_v:g}->{spec.technology.vdd_v:g} V"
            + (f"; {e.bit_scaling} {e.bits}->{bits} bits" if bits_factor != 1.0 else "")
        )
    cal = spec.calibration.get(component.kind, 1.0)
    energy: dict[str, float] = {}
    latency: dict[str, float] = {}
    derived_e, derived_t, derived_src = ({}, {}, "")
    if is_cell:
        derived_e, derived_t, derived_src = _cell_actions(loc)
    missing = []
    for action in KIND_ACTIONS[component.kind]:
        cost = e.actions.get(action)
        if cost is not None:
            base_e, base_t, src = cost.energy_j, cost.latency_s, cost.source or e.source
        elif action in derived_e:
            base_e, base_t, src = (
                derived_e[action],
                derived_t[action],
                f"{e.source}; derived: {derived_src}",
            )
        else:
            missing.append(action)
            continue
        energy[action] = base_e * e_factor * cal
        latency[action], t_rule = clocked(
            component.kind, base_t * t_factor, spec.technology.clock_hz
        )
        prov.append(
            Provenance(
                component.kind,
                e.variant,
                f"energy:{action}",
                base_e,
                "J",
                loc.node_nm,
                energy[action],
                e_factor * cal,
                e_rule + (f"; calibration x{cal:g}" if cal != 1.0 else ""),
                src,
                e.confidence,
                lib_name,
            )
        )
        if base_t:
            prov.append(
                Provenance(
                    component.kind,
                    e.variant,
                    f"latency:{action}",
                    base_t,
                    "s",
                    loc.node_nm,
                    latency[action],
                    latency[action] / base_t,
                    ("latency ~ node" if not is_cell else "none (device)") + t_rule,
                    src,
                    e.confidence,
                    lib_name,
                )
            )
    if missing:
        raise LibraryError(
            f"library {lib_name} ({loc.file}): {component.kind} variant '{e.variant}' has no cost for "
            f"action(s) {', '.join(missing)}; the architecture needs them (component {component.id})"
        )
    if is_cell:
        if e.area_f2 is not None:
            f_m = node_to * 1e-9
            area = e.area_f2 * f_m * f_m
            a_rule, a_base, a_factor = f"{e.area_f2:g} F^2 at F = {node_to:g} nm", e.area_f2, 1.0
        else:
            area = e.area_m2 or 0.0
            a_rule, a_base, a_factor = "none (device)", area, 1.0
    else:
        a_factor = scaling.area_factor(loc.node_nm, node_to) * area_bits_factor
        a_base = e.area_m2 or 0.0
        area = a_base * a_factor
        a_rule = f"stillmaker_baas area {loc.node_nm:g}->{node_to:g} nm"
    a_cal = spec.area_calibration.get(component.kind, 1.0)
    if a_cal != 1.0:
        area *= a_cal
        a_factor *= a_cal
        a_rule += f"; area calibration x{a_cal:g}"
    prov.append(
        Provenance(
            component.kind,
            e.variant,
            "area",
            a_base,
            "F^2" if (is_cell and e.area_f2) else "m2",
            loc.node_nm,
            area,
            a_factor,
            a_rule,
            e.source,
            e.confidence,
            lib_name,
        )
    )
    if is_cell:
        leak_factor, leak_rule = 1.0, "none (device)"
    else:
        # Why: leakage follows the transistor count, so resolution scales it like area.
        leak_factor = (
            scaling.leakage_factor(loc.node_nm, node_to)
            * scaling.leakage_voltage_factor(loc.vdd_v, spec.technology.vdd_v)
            * area_bits_factor
        )
        leak_rule = (
            f"stillmaker_baas_leakage {loc.node_nm:g}->{node_to:g} nm; "
            f"V/V0 {loc.vdd_v:g}->{spec.technology.vdd_v:g} V"
            + (f"; like area {e.bits}->{bits} bits" if area_bits_factor != 1.0 else "")
        )
    leakage = e.leakage_w * leak_factor
    if e.leakage_w:
        prov.append(
            Provenance(
                component.kind,
                e.variant,
                "leakage",
                e.leakage_w,
                "W",
                loc.node_nm,
                leakage,
                leak_factor,
                leak_rule,
                e.leakage_source or e.source,
                e.confidence,
                lib_name,
            )
        )
    return Priced(component.kind, e.variant, energy, latency, area, leakage, prov)


def _alternatives(
    component: Component, used: Located, priced: Priced, libs: LibrarySet, spec: ArchitectureSpec
) -> list[Provenance]:
    """The energy of the component's main action under each model its entry's model_spread names."""
    spread = used.entry.model_spread
    if spread is None or not priced.energy_j:
        return []
    action = next(a for a in KIND_ACTIONS[component.kind] if a in priced.energy_j)
    used_j = priced.energy_j[action]
    out = []
    for variant in spread.variants:
        alt, loc = _price_table(replace(component, variant=variant), libs, spec)
        alt_j = alt.energy_j.get(action)
        if alt_j is None:
            continue
        out.append(
            Provenance(
                component.kind,
                variant,
                f"alternative:{action}",
                used_j,
                "J",
                spec.technology.node_nm,
                alt_j,
                alt_j / used_j if used_j else float("inf"),
                f"model_spread of {priced.variant}: {spread.note}",
                loc.entry.source,
                loc.entry.confidence,
                loc.library.name,
                used_variant=priced.variant,
            )
        )
    return out


def price_graph(graph, libs: LibrarySet) -> dict[tuple[str, str], Priced]:
    """Price every component of the graph, reporting all missing entries at once."""
    out: dict[tuple[str, str], Priced] = {}
    errors: list[str] = []
    cache: dict[tuple, Priced] = {}
    for key, comp in graph.components.items():
        ck = (comp.kind, comp.variant, comp.bits)
        try:
            if ck not in cache:
                cache[ck] = price(comp, libs, graph.spec)
            out[key] = cache[ck]
        except LibraryError as err:
            msg = str(err)
            if msg not in errors:
                errors.append(msg)
    if errors:
        raise LibraryError("\n".join(errors))
    return out
