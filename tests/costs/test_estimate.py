"""The cost model: linear in counts, traceable, and the binary design cheaper per MAC."""

from __future__ import annotations

import math

import pytest

from cimest.api import estimate_design, load_design
from cimest.costs.scaling import energy_factor
from cimest.counts import EventCounts
from cimest.graph.analytic import count_analytic


def test_energy_is_linear_in_counts(bsl_toy):
    d = load_design(bsl_toy)
    c = count_analytic(d.graph)
    e1 = estimate_design(d, c).energy_per_sample_j
    doubled = EventCounts({k: 2 * v for k, v in c.counts.items()}, c.n_samples, c.mode, c.source)
    e2 = estimate_design(d, doubled).energy_per_sample_j
    leak = sum(r.energy_j for r in estimate_design(d, c).breakdown if r.action == "leakage")
    assert math.isclose(e2 - leak, 2 * (e1 - leak), rel_tol=1e-12)
    # and additive: counts of two runs cost the sum (per sample, over twice the samples)
    both = c.merged(c)
    assert math.isclose(estimate_design(d, both).energy_per_sample_j, e1, rel_tol=1e-12)


def test_one_event_costs_its_library_energy(bsl_toy):
    d = load_design(bsl_toy)
    one = EventCounts({("L1", "forward", "readout", "compare"): 1}, 1)
    est = estimate_design(d, one)
    rec = [r for r in est.breakdown if r.action == "compare"][0]
    # toy comparator: 0.01 pJ at 32 nm and 0.9 V; the chip is 32 nm, 0.9 V
    assert math.isclose(rec.energy_j, 0.01e-12, rel_tol=1e-12)


def test_node_scaling_reaches_every_cmos_energy(bsl_toy, tmp_path):
    text = bsl_toy.read_text().replace("node_nm: 32", "node_nm: 22")
    f = tmp_path / "b22.yaml"
    f.write_text(text)
    d32, d22 = load_design(bsl_toy), load_design(f)
    one = EventCounts({("L1", "forward", "readout", "compare"): 1}, 1)

    def compare_energy(d):
        return next(r.energy_j for r in estimate_design(d, one).breakdown if r.action == "compare")

    e32, e22 = compare_energy(d32), compare_energy(d22)
    assert math.isclose(e22 / e32, energy_factor(32, 22), rel_tol=1e-12)
    assert energy_factor(32, 22) == pytest.approx(0.446, rel=0.01)


def test_every_priced_number_has_a_source(bsl_toy):
    est = estimate_design(load_design(bsl_toy))
    assert est.provenance
    assert all(p.source and p.library for p in est.provenance)
    quantities = {(p.kind, p.quantity) for p in est.provenance}
    for r in est.breakdown:
        if r.action != "leakage":
            assert (r.kind, f"energy:{r.action}") in quantities


def test_binary_design_is_cheaper_per_mac_and_why(bsl_toy, fp_toy):
    b = estimate_design(load_design(bsl_toy))
    f = estimate_design(load_design(fp_toy))
    assert b.energy_per_mac_j < f.energy_per_mac_j
    kinds_b = {r.kind for r in b.breakdown if r.phase == "forward"}
    kinds_f = {r.kind for r in f.breakdown if r.phase == "forward"}
    assert "comparator" in kinds_b and "dac" in kinds_f
    assert b.tops_per_w == pytest.approx(2 / b.energy_per_mac_j / 1e12)


def test_schedule_critical_path_is_the_latency(bsl_toy):
    est = estimate_design(load_design(bsl_toy))
    crit = [s for s in est.schedule if s.critical]
    assert crit
    assert max(s.start_s + s.duration_s for s in est.schedule) == pytest.approx(
        est.latency_per_sample_s
    )


def test_update_latency_programs_both_rows_of_a_differential_row_pair(bsl_toy, tmp_path):
    """Per tile, accumulators are read-modify-written once per input row of weights and devices are
    programmed once per physical row: differential_rows doubles the physical rows of a 64-input
    layer on 128-row tiles (64 -> 128) and leaves its 64 weight rows alone."""
    from cimest.costs.schedule import step_durations
    from cimest.graph.analytic import analytic_activity

    durations = {}
    for enc in ("reference_column", "differential_rows"):
        f = tmp_path / f"{enc}.yaml"
        f.write_text(
            bsl_toy.read_text().replace(
                "weight_encoding: reference_column", f"weight_encoding: {enc}"
            )
        )
        d = load_design(f)
        durations[enc] = step_durations(d.graph, d.priced, analytic_activity(d.graph))[
            ("L1", "update")
        ]
        lat = d.priced[("L1", "cell")].latency_s
        program_per_row = (lat["set_pulse"] + lat["reset_pulse"]) / d.spec.workload.batch_size
    assert durations["differential_rows"] - durations["reference_column"] == pytest.approx(
        64 * program_per_row
    )
