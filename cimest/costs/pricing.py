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
    aspect_hw: float = 1.0
    """Height / width of one instance as laid out (the entry's aspect_hw; square when omitted)."""


def array_feature_m(spec: ArchitectureSpec) -> float:
    """F of the array (crossbar.feature_nm, else the technology node), in metres."""
    return (spec.crossbar.feature_nm or spec.technology.node_nm) * 1e-9


def cell_pitch_m(cell: Located, spec: ArchitectureSpec) -> float:
    """Side of one cell along a word or bit line: sqrt(area) of a square cell (16 F^2 -> 4F)."""
    e = cell.entry
    if e.area_f2 is not None:
        return math.sqrt(e.area_f2) * array_feature_m(spec)
    return math.sqrt(e.area_m2) if e.area_m2 else array_feature_m(spec)


#: NeuroSim's integrate-and-fire read-out fires at this fraction of the read voltage
#: (MLP_NeuroSim_V3.0 constant.h RATIO_READ_THRESHOLD_VS_VOLTAGE).
SENSE_THRESHOLD_RATIO = 0.2


def sensing_time_s(
    component: Component, cell: Located, libs: LibrarySet, spec: ArchitectureSpec
) -> tuple[float, str]:
    """(seconds, rule) to read a bit line of ``component.line_cells`` cells to
    ``component.sense_bits`` bits: the line charges its capacitance to the read-out's threshold
    2^bits times at the largest current (every row at R_on), plus the line's own RC/2.

    Why: MLP+NeuroSim V3.0 sets its read pulse the same way (NeuroSim.cpp, analog 1T1R:
    readPulseWidth = C_in x V_th / I_max x 2^bits, I_max = rows x V_read / R_on), so a 26 MOhm
    cell reads far slower than a 100 kOhm one; the cell's own t_read is the floor.
    """
    if not component.line_cells:
        return 0.0, ""
    d = cell.entry.device
    w = libs.find("wire", spec.crossbar.wire_variant).entry.wire
    length = component.line_cells * cell_pitch_m(cell, spec)
    c_line, r_line = w.c_per_m * length, w.r_per_m * length
    if spec.crossbar.access == "1t1r":  # NeuroSim's C_in: capCol, access transistors included
        c_line += w.c_access_ff_per_cell * 1e-15 * component.line_cells
    bits = max(component.sense_bits, 1)
    i_max = component.line_cells * d.v_read_v * d.g_max_s
    t_int = c_line * SENSE_THRESHOLD_RATIO * d.v_read_v * 2**bits / i_max
    t = t_int + r_line * c_line / 2
    return t, (
        f"sensing {t * 1e9:.3g} ns = C_bl {c_line * 1e15:.3g} fF x {SENSE_THRESHOLD_RATIO} V_read "
        f"x 2^{bits} / ({component.line_cells} rows x V_read / R_on) + R_bl C_bl / 2 "
        "(MLP+NeuroSim V3.0 read pulse)"
    )


def _cell_actions(
    component: Component, loc: Located, libs: LibrarySet, spec: ArchitectureSpec
) -> tuple[dict[str, float], dict[str, float], str]:
    """Read and pulse energies of a cell from its device (device_data.md formulas); the read lasts
    the device's t_read or the bit line's sensing time, whichever is longer."""
    d = loc.entry.device
    assert d is not None  # the library schema guarantees cells have a device
    t_sense, sense_rule = sensing_time_s(component, loc, libs, spec)
    t_read = max(d.t_read_s, t_sense)
    g_mid = (d.g_min_s + d.g_max_s) / 2
    read = d.v_read_v**2 * g_mid * t_read
    energy = {
        "read": read,
        "verify_read": read,
        "set_pulse": d.v_set_v**2 * g_mid * d.t_set_s,
        "reset_pulse": d.v_reset_v**2 * g_mid * d.t_reset_s,
    }
    latency = {
        "read": t_read,
        "verify_read": t_read,
        "set_pulse": d.t_set_s,
        "reset_pulse": d.t_reset_s,
    }
    rule = "V^2 * G_mid * t (NeuroSim Cell.cpp form; device_data.md)"
    if t_sense > d.t_read_s:
        rule += f"; read t = {sense_rule}, above the device's t_read {d.t_read_s * 1e9:g} ns"
    return energy, latency, rule


def _wire_actions(
    component: Component, loc: Located, libs: LibrarySet, spec: ArchitectureSpec
) -> tuple[dict[str, float], dict[str, float], str]:
    """C V^2 of one line of ``component.line_cells`` cell pitches: read at V_read; a selected line
    at the write voltage; an unselected column held at V_set (1T1R) or half-selected at V_write/2
    (cross-point), as MLP+NeuroSim V3.0 Train.cpp charges them.
    Latency: the line's distributed RC/2."""
    w = loc.entry.wire
    cell = libs.cell(spec.crossbar.cell)
    d = cell.entry.device
    pitch = cell_pitch_m(cell, spec)
    length = component.line_cells * pitch
    c, r = w.c_per_m * length, w.r_per_m * length
    one_t_one_r = spec.crossbar.access == "1t1r"
    c_access = 0.0
    if one_t_one_r and component.role == "bitline":  # each cell's access transistor on the column
        c_access = w.c_access_ff_per_cell * 1e-15 * component.line_cells
        c += c_access
    v_write2 = (d.v_set_v**2 + d.v_reset_v**2) / 2
    energy = {
        "read": c * d.v_read_v**2,
        "write": c * v_write2,
        # 1T1R: the unselected columns of the row are held at V_set in the SET phase (the row's
        # transistors are on), at 0 V in the RESET phase; cross-point: at V_write / 2
        "half_select": c * d.v_set_v**2 if one_t_one_r else c * v_write2 / 4,
    }
    latency = dict.fromkeys(energy, r * c / 2)
    rule = (
        f"C V^2, C = {w.c_ff_per_um:g} fF/um x {component.line_cells} cells x "
        f"{pitch * 1e9:.4g} nm pitch"
        + (
            f" + {w.c_access_ff_per_cell:g} fF access transistor x {component.line_cells} cells"
            if c_access
            else ""
        )
        + f" = {c * 1e15:.4g} fF; R = {r:.4g} Ohm "
        f"(rho {w.resistivity_ohm_m:g} Ohm m, {w.width_nm:g} nm x AR {w.aspect_ratio:g}); "
        f"V_read {d.v_read_v:g} V, V_write rms of SET {d.v_set_v:g} / RESET {d.v_reset_v:g} V, "
        + (
            "unselected columns held at V_set in the SET phase (1T1R)"
            if one_t_one_r
            else "half-selected at V_write / 2 (cross-point)"
        )
    )
    return energy, latency, rule


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
        return _price_entry(component, loc, libs, spec, component.bits), loc
    lo, hi = bracket
    return _interpolate(
        component.bits,
        _price_entry(component, lo, libs, spec, lo.entry.bits),
        _price_entry(component, hi, libs, spec, hi.entry.bits),
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
        a.aspect_hw,
    )


def _price_entry(
    component: Component,
    loc: Located,
    libs: LibrarySet,
    spec: ArchitectureSpec,
    bits: int | None,
) -> Priced:
    """``component`` priced from one library entry, its resolution taken to ``bits`` by the entry's law."""
    e = loc.entry
    node_to = spec.technology.node_nm
    is_cell = component.kind == "cell"
    # Why: cells and array wires are device physics at the array's own geometry, not CMOS
    # circuits: their numbers are not scaled with the node.
    is_array = is_cell or component.kind == "wire"
    prov: list[Provenance] = []
    lib_name = loc.library.name

    bits_factor = area_bits_factor = 1.0
    if is_array:
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
        derived_e, derived_t, derived_src = _cell_actions(component, loc, libs, spec)
    elif component.kind == "wire":
        derived_e, derived_t, derived_src = _wire_actions(component, loc, libs, spec)
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
                    ("latency ~ node" if not is_array else "none (device)") + t_rule,
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
            f_m = array_feature_m(spec)
            area = e.area_f2 * f_m * f_m
            a_rule, a_base, a_factor = f"{e.area_f2:g} F^2 at F = {f_m * 1e9:g} nm", e.area_f2, 1.0
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
    if is_array:
        leak_factor, leak_rule = 1.0, "none (device)"
    else:
        # Why: leakage follows the transistor count, so resolution scales it like area.
        transistor = spec.technology.transistor
        leak_factor = (
            scaling.leakage_factor(loc.node_nm, node_to)
            * scaling.leakage_voltage_factor(loc.vdd_v, spec.technology.vdd_v)
            * area_bits_factor
            * scaling.transistor_leakage_factor(node_to, transistor)
        )
        leak_rule = (
            f"stillmaker_baas_leakage {loc.node_nm:g}->{node_to:g} nm; "
            f"V/V0 {loc.vdd_v:g}->{spec.technology.vdd_v:g} V"
            + (f"; like area {e.bits}->{bits} bits" if area_bits_factor != 1.0 else "")
            + (f"; neurosim_hp_off_current at {node_to:g} nm" if transistor == "hp" else "")
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
    return Priced(
        component.kind, e.variant, energy, latency, area, leakage, prov, e.aspect_hw or 1.0
    )


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
        ck = (comp.kind, comp.variant, comp.bits, comp.line_cells, comp.sense_bits)
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
