"""Scaling laws (cimest/costs/scaling.py) against the check values of reference/device_data.md."""

from __future__ import annotations

import itertools

import pytest

from cimest.costs import scaling

NODES = (250, 180, 130, 110, 90, 65, 55, 45, 40, 32, 28, 22, 20, 16, 14, 10, 7, 5, 3)


@pytest.mark.parametrize(
    ("law", "from_nm", "to_nm", "expected"),
    [
        (scaling.energy_factor, 65, 22, 0.237),
        (scaling.area_factor, 65, 22, 0.168),
        (scaling.energy_factor, 32, 22, 0.446),
        (scaling.area_factor, 32, 22, 0.55),
    ],
)
def test_check_values(law, from_nm, to_nm, expected):
    assert law(from_nm, to_nm) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("node", NODES)
def test_same_node_is_one(node):
    assert scaling.energy_factor(node, node) == 1.0
    assert scaling.area_factor(node, node) == 1.0
    assert scaling.leakage_factor(node, node) == 1.0
    assert scaling.latency_factor(node, node) == 1.0


def test_area_rows_are_the_table():
    # From a row node, the factor is the published table entry itself.
    for row, values in scaling.AREA_TABLE.items():
        for to_nm, value in zip(scaling.TABLE_NODES_NM, values, strict=True):
            assert scaling.area_factor(row, to_nm) == pytest.approx(value, rel=1e-12)


def test_energy_at_table_nodes_is_the_polynomial_ratio():
    v = scaling.ENERGY_REFERENCE_V

    def f(node):
        a, b, c = scaling.ENERGY_COEFFICIENTS[node]
        return a * v * v + b * v + c

    for a_nm, b_nm in itertools.permutations(scaling.TABLE_NODES_NM, 2):
        assert scaling.energy_factor(a_nm, b_nm) == pytest.approx(f(b_nm) / f(a_nm), rel=1e-12)


def test_outside_the_table():
    # Both nodes beyond the table: pure power laws.
    assert scaling.energy_factor(250, 180) == pytest.approx((180 / 250) ** 0.5, rel=1e-12)
    assert scaling.area_factor(250, 180) == pytest.approx(180 / 250, rel=1e-12)
    assert scaling.energy_factor(5, 3) == pytest.approx((3 / 5) ** 0.5, rel=1e-12)
    assert scaling.area_factor(5, 3) == pytest.approx(3 / 5, rel=1e-12)
    # One node beyond: power law to the table's end, table from there.
    assert scaling.energy_factor(180, 65) == pytest.approx(
        (130 / 180) ** 0.5 * scaling.energy_factor(130, 65), rel=1e-12
    )
    assert scaling.energy_factor(7, 5) == pytest.approx((5 / 7) ** 0.5, rel=1e-12)


@pytest.mark.parametrize(
    "law", [scaling.energy_factor, scaling.area_factor, scaling.latency_factor]
)
def test_monotonic_in_target_node(law):
    for from_nm in NODES:
        factors = [law(from_nm, to_nm) for to_nm in sorted(NODES)]
        assert all(b > a for a, b in itertools.pairwise(factors)), (from_nm, factors)


@pytest.mark.parametrize("law", [scaling.energy_factor, scaling.latency_factor])
def test_round_trip_and_composition(law):
    # Energy and latency factors are ratios of one function of the node: they compose exactly.
    for a_nm, b_nm, c_nm in itertools.permutations((130, 65, 45, 32, 22, 7, 3), 3):
        assert law(a_nm, b_nm) * law(b_nm, c_nm) == pytest.approx(law(a_nm, c_nm), rel=1e-12)


def test_continuous_at_table_nodes():
    for node in scaling.TABLE_NODES_NM:
        for eps in (1e-6, -1e-6):
            assert scaling.energy_factor(32, node + eps) == pytest.approx(
                scaling.energy_factor(32, node), rel=1e-4
            )
            assert scaling.area_factor(32, node + eps) == pytest.approx(
                scaling.area_factor(32, node), rel=1e-4
            )


def test_area_uses_nearest_row():
    # 22 nm goes through the 32 nm row, 130 nm through the 65 nm row.
    assert scaling.area_factor(22, 32) == pytest.approx(1 / 0.55, rel=1e-12)
    assert scaling.area_factor(130, 65) == pytest.approx(1 / 4.3, rel=1e-12)


def test_voltage_and_latency():
    assert scaling.voltage_factor(0.9, 0.9) == 1.0
    assert scaling.voltage_factor(1.0, 0.5) == pytest.approx(0.25)
    assert scaling.voltage_factor(0.7, 1.4) == pytest.approx(4.0)
    assert scaling.latency_factor(32, 16) == pytest.approx(0.5)
    assert scaling.leakage_factor(65, 22) == scaling.energy_factor(65, 22)


@pytest.mark.parametrize(
    ("bits_from", "bits_to", "rule", "expected"),
    [
        (8, 8, "exponential", 1.0),
        (8, 4, "exponential", 1 / 16),
        (1, 8, "exponential", 128.0),
        (8, 8, "linear", 1.0),
        (1, 8, "linear", 8.0),
        (8, 6, "linear", 0.75),
        (1, 16, "none", 1.0),
    ],
)
def test_resolution_factor(bits_from, bits_to, rule, expected):
    assert scaling.resolution_factor(bits_from, bits_to, rule) == pytest.approx(expected)


def test_rules_are_named():
    for rule in scaling.RESOLUTION_RULES:
        assert rule in scaling.SCALING_RULES
    for name, text in scaling.SCALING_RULES.items():
        assert name and text and "\n" not in text


def test_library_bit_scaling_values_are_rules():
    from typing import get_args

    from cimest.spec.library import EntrySpec

    allowed = get_args(EntrySpec.model_fields["bit_scaling"].annotation)
    assert set(allowed) == set(scaling.RESOLUTION_RULES)


@pytest.mark.parametrize(
    "call",
    [
        lambda: scaling.resolution_factor(8, 4, "quadratic"),
        lambda: scaling.resolution_factor(0, 4, "linear"),
        lambda: scaling.resolution_factor(8, 2.5, "linear"),
        lambda: scaling.energy_factor(0, 22),
        lambda: scaling.area_factor(32, -5),
        lambda: scaling.latency_factor(float("nan"), 22),
        lambda: scaling.voltage_factor(0.0, 0.9),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()
