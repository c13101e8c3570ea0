"""Scaling laws of the cost model: technology node, supply voltage and resolution, by name.

Room: costs. May import only cimest.spec, cimest.errors, cimest.units and numpy/networkx; this
module needs none of them: it is pure arithmetic on floats, so the report can quote every factor.

Every law is a pure function returning a multiplicative factor that takes a library value at
``from`` to ``to``. ``SCALING_RULES`` names each law with a one-line description for the
report's provenance table; the cost model refers to the laws by these names.

Technology tables: Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS
device performance from 180 nm to 7 nm", Integration 58 (2017), as used by Accelergy and
hwcomponents (reference/device_data.md).
"""

from __future__ import annotations

import math
import numbers

# Energy: f(node) = a*V^2 + b*V + c, evaluated at the same V at both nodes (device_data.md).
ENERGY_COEFFICIENTS: dict[float, tuple[float, float, float]] = {
    130: (7.171, -6.709, 2.904),
    90: (4.762, -4.781, 2.092),
    65: (3.755, -4.398, 1.975),
    45: (1.103, -0.362, 0.2767),
    32: (0.9559, -0.7823, 0.471),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
ENERGY_REFERENCE_V = 0.8
"""Supply at which the energy polynomial is evaluated at both nodes; voltage is scaled apart."""

TABLE_NODES_NM: tuple[float, ...] = (130, 90, 65, 45, 32, 20, 16, 14, 10, 7)

# Area factor, rows "from" 65 / 45 / 32 nm, columns "to" TABLE_NODES_NM.
AREA_TABLE: dict[float, tuple[float, ...]] = {
    65: (4.3, 1.9, 1, 0.66, 0.31, 0.14, 0.13, 0.12, 0.068, 0.039),
    45: (6.4, 2.8, 1.5, 1, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059),
    32: (14, 6.1, 3.3, 2.2, 1, 0.46, 0.41, 0.38, 0.22, 0.13),
}

ENERGY_OUTSIDE_EXPONENT = 0.5
"""Beyond the table (above 130 nm or below 7 nm) energy follows (node ratio)^0.5."""
AREA_OUTSIDE_EXPONENT = 1.0
"""Beyond the table area follows the node ratio."""

SCALING_RULES: dict[str, str] = {
    "stillmaker_baas_energy": (
        "energy x f(to)/f(from), f = a*V^2 + b*V + c at V = 0.8 V (Stillmaker & Baas 2017), "
        "f linearly interpolated between table nodes; beyond 7-130 nm x (to/from)^0.5"
    ),
    "stillmaker_baas_area": (
        "area x R(to)/R(from) on the Stillmaker & Baas row (from 65, 45 or 32 nm) nearest the "
        "source node, R linearly interpolated between table nodes; beyond 7-130 nm x (to/from)"
    ),
    "stillmaker_baas_leakage": (
        "leakage power scales like energy with the node (stillmaker_baas_energy), linearly with "
        "the supply (P = V * I_off), and like area with resolution"
    ),
    "neurosim_hp_off_current": (
        "technology.transistor hp: leakage x I_off(HP) / I_off(LSTP) at the node, NMOS + PMOS at "
        "300 K (MLP_NeuroSim_V3.0 NeuroSim/Technology.cpp), linear between table nodes, held "
        "flat beyond 22-130 nm"
    ),
    "latency_linear": "latency x to/from (gate delay proportional to the node)",
    "voltage_squared": "dynamic energy x (V_to/V_from)^2, applied apart from the node factor",
    "exponential": "resolution: energy and area x 2^(bits_to - bits_from)",
    "linear": "resolution: energy and area x bits_to / bits_from",
    "none": "resolution: no change with bits",
    "interpolated": (
        "resolution between two entries of a table: log-linear in bits between the neighbours "
        "(geometric), linear where one of them is 0"
    ),
}

RESOLUTION_RULES: tuple[str, ...] = ("exponential", "linear", "none")
"""The values of a library entry's ``bit_scaling`` and of ``resolution_factor``'s ``rule``."""


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _interpolate(node: float, values: dict[float, float], outside_exponent: float) -> float:
    """Piecewise-linear value at ``node`` from table ``values``; a power law beyond the ends."""
    nodes = sorted(values)
    lo, hi = nodes[0], nodes[-1]
    if node <= lo:
        return values[lo] * (node / lo) ** outside_exponent
    if node >= hi:
        return values[hi] * (node / hi) ** outside_exponent
    for left, right in zip(nodes, nodes[1:], strict=False):
        if left <= node <= right:
            t = (node - left) / (right - left)
            return values[left] + t * (values[right] - values[left])
    raise AssertionError("unreachable: node inside the table but between no two nodes")


def _energy_value(node_nm: float) -> float:
    v = ENERGY_REFERENCE_V
    values = {n: a * v * v + b * v + c for n, (a, b, c) in ENERGY_COEFFICIENTS.items()}
    return _interpolate(node_nm, values, ENERGY_OUTSIDE_EXPONENT)


def energy_factor(from_nm: float, to_nm: float) -> float:
    """Dynamic-energy factor from node ``from_nm`` to ``to_nm`` at constant supply.

    How: f(node) = a*V^2 + b*V + c with V = 0.8 V is evaluated at the table nodes; between two
    table nodes f is interpolated linearly in the node (the *polynomial values* are interpolated,
    not the factors); the factor is f(to) / f(from). Beyond the table, f continues from the end
    node as f(end) * (node/end)^0.5, so a step entirely outside the table is (to/from)^0.5.
    This gives 65 -> 22 nm x 0.237 and 32 -> 22 nm x 0.446 (device_data.md check values).
    Voltage is scaled separately (``voltage_factor``).
    """
    from_nm = _check_positive("from_nm", from_nm)
    to_nm = _check_positive("to_nm", to_nm)
    if from_nm == to_nm:
        return 1.0
    return _energy_value(to_nm) / _energy_value(from_nm)


def leakage_factor(from_nm: float, to_nm: float) -> float:
    """Leakage-power factor of a node change: leakage scales like energy (device_data.md)."""
    return energy_factor(from_nm, to_nm)


def leakage_voltage_factor(v_from: float, v_to: float) -> float:
    """Leakage-power factor of a supply change, v_to / v_from.

    Why linear, not squared: static power is V * I_off, and the off-current is taken as fixed by
    the process (NeuroSim formula.cpp CalculateGateLeakage times tech.vdd).
    """
    v_from = _check_positive("v_from", v_from)
    v_to = _check_positive("v_to", v_to)
    return v_to / v_from


# Off-current (A/m, NMOS + PMOS at 300 K) of NeuroSim's high-performance (HP) and low-standby-power
# (LSTP) transistors per node: MLP_NeuroSim_V3.0 NeuroSim/Technology.cpp, currentOffNmos[0] and
# currentOffPmos[0] of each roadmap (commit cc13863 of github neurosim/MLP_NeuroSim_V3.0). The
# libraries' leakage is LSTP/LP at 300 K (device_libraries/README.md, Leakage); HP leaks the ratio
# more, about 1000x at every node (ITRS targets ~100 nA/um against ~100 pA/um).
HP_OFF_CURRENT_A_PER_M: dict[float, tuple[float, float]] = {
    # node: (HP NMOS + PMOS, LSTP NMOS + PMOS)
    130: (100.00e-3 + 100.20e-3, 100.20e-6 + 100.20e-6),
    90: (100.8e-3 + 100.00e-3, 100.00e-6 + 100.30e-6),
    65: (100.00e-3 + 100.10e-3, 100.20e-6 + 100.20e-6),
    45: (100.00e-3 + 100.20e-3, 100.00e-6 + 100.20e-6),
    32: (100.30e-3 + 100.10e-3, 100.10e-6 + 100.10e-6),
    22: (100.20e-3 + 100.20e-3, 100.00e-6 + 100.00e-6),
}

TRANSISTORS: tuple[str, ...] = ("lp", "hp")
"""The values of ``technology.transistor`` and of ``transistor_leakage_factor``'s argument."""


def transistor_leakage_factor(node_nm: float, transistor: str) -> float:
    """Leakage factor of the transistor flavour against the libraries' LP figures.

    ``lp`` is 1 (the libraries' convention); ``hp`` is NeuroSim's HP/LSTP off-current ratio at the
    node (``HP_OFF_CURRENT_A_PER_M``), interpolated linearly between table nodes, flat beyond.
    """
    node_nm = _check_positive("node_nm", node_nm)
    if transistor == "lp":
        return 1.0
    if transistor != "hp":
        raise ValueError(f"transistor must be one of {', '.join(TRANSISTORS)}, got {transistor!r}")
    ratios = {n: hp / lp for n, (hp, lp) in HP_OFF_CURRENT_A_PER_M.items()}
    return _interpolate(node_nm, ratios, 0.0)


def _area_row(from_nm: float) -> float:
    """The "from" row of the area table used for a source node: the nearest of 65/45/32 nm.

    Why: the published table has rows only for 65, 45 and 32 nm. Distance is |from - row| in nm;
    a tie goes to the smaller node.
    """
    return min(AREA_TABLE, key=lambda row: (abs(from_nm - row), row))


def _area_value(row: float, node_nm: float) -> float:
    values = dict(zip(TABLE_NODES_NM, AREA_TABLE[row], strict=True))
    return _interpolate(node_nm, values, AREA_OUTSIDE_EXPONENT)


def area_factor(from_nm: float, to_nm: float) -> float:
    """Area factor from node ``from_nm`` to ``to_nm``.

    How: take the table row nearest ``from_nm`` (65, 45 or 32 nm); R(node) is that row,
    interpolated linearly in the node between table columns and continued beyond 7-130 nm as
    R(end) * (node/end). The factor is R(to) / R(from) -- "going through" the row: for a source
    node that is a row (65/45/32 nm) R(from) = 1 and the factor is the table entry itself; for
    another source node (e.g. 22 nm, row 32) it is the row's ratio between the two nodes.
    This gives 65 -> 22 nm x 0.168 and 32 -> 22 nm x 0.55 (device_data.md check values).
    """
    from_nm = _check_positive("from_nm", from_nm)
    to_nm = _check_positive("to_nm", to_nm)
    if from_nm == to_nm:
        return 1.0
    row = _area_row(from_nm)
    return _area_value(row, to_nm) / _area_value(row, from_nm)


def latency_factor(from_nm: float, to_nm: float) -> float:
    """Latency factor: proportional to the node, to / from."""
    from_nm = _check_positive("from_nm", from_nm)
    to_nm = _check_positive("to_nm", to_nm)
    return to_nm / from_nm


def voltage_factor(v_from: float, v_to: float) -> float:
    """Dynamic-energy factor of a supply change, (v_to / v_from)^2."""
    v_from = _check_positive("v_from", v_from)
    v_to = _check_positive("v_to", v_to)
    return (v_to / v_from) ** 2


def resolution_factor(bits_from: int, bits_to: int, rule: str) -> float:
    """Energy/area factor from a component of ``bits_from`` bits to one of ``bits_to`` bits.

    Rules (``SCALING_RULES``): ``exponential`` 2^(bits_to - bits_from) (the field's usual ADC/DAC
    law), ``linear`` bits_to / bits_from (bit-serial or ripple datapaths), ``none`` 1.

    Raises:
        ValueError: a rule not in ``RESOLUTION_RULES`` or a resolution below 1 bit.
    """
    if rule not in RESOLUTION_RULES:
        raise ValueError(
            f"unknown resolution scaling rule '{rule}'. Allowed: {', '.join(RESOLUTION_RULES)}"
        )
    for name, bits in (("bits_from", bits_from), ("bits_to", bits_to)):
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits < 1:
            raise ValueError(f"{name} must be an integer of at least 1 bit, got {bits!r}")
    if rule == "exponential":
        return 2.0 ** (bits_to - bits_from)
    if rule == "linear":
        return bits_to / bits_from
    return 1.0


def interpolate_bits(
    bits_lo: int, value_lo: float, bits_hi: int, value_hi: float, bits: int
) -> float:
    """A value at ``bits`` between two table points, log-linear in bits (``interpolated``).

    How: with t = (bits - bits_lo) / (bits_hi - bits_lo), the value is value_lo^(1-t) *
    value_hi^t, so a table that doubles per bit is reproduced exactly and a monotonic table stays
    monotonic. Where either value is 0 (no latency, no leakage given) it is linear in t.

    Raises:
        ValueError: bits not strictly between bits_lo < bits_hi, or a negative value.
    """
    if not bits_lo < bits < bits_hi:
        raise ValueError(f"bits {bits} is not strictly between {bits_lo} and {bits_hi}")
    if value_lo < 0 or value_hi < 0:
        raise ValueError(f"cannot interpolate negative values ({value_lo!r}, {value_hi!r})")
    t = (bits - bits_lo) / (bits_hi - bits_lo)
    if value_lo == 0 or value_hi == 0:
        return value_lo + t * (value_hi - value_lo)
    return value_lo ** (1 - t) * value_hi**t
