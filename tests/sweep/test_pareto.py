"""Pareto fronts, and the HTML view escaping what users typed."""

from __future__ import annotations

import json

from cimest.sweep.pareto import default_objectives, pareto_front
from cimest.sweep.pareto_html import render_pareto_html


def rec(pid, e, a, acc, **params):
    return {
        "point_id": pid,
        "params": params,
        "name": "d",
        "energy_per_mac_j": e,
        "area_m2": a,
        "accuracy": acc,
        "tops_per_w": 1.0,
        "latency_per_sample_s": 1e-6,
        "throughput_samples_per_s": 1e6,
        "counts_source": "measured",
    }


def ids(records):
    return [r["point_id"] for r in records]


def test_front_minimises_energy_and_area_and_maximises_accuracy():
    rs = [
        rec("a", 1.0, 1.0, 0.90),
        rec("b", 2.0, 2.0, 0.80),  # dominated by a
        rec("c", 0.5, 3.0, 0.85),  # cheapest energy
        rec("d", 3.0, 0.5, 0.70),  # smallest area
        rec("e", 1.0, 1.0, 0.95),  # dominates a
        rec("f", 1.0, 1.0, 0.95),  # equal to e: both stay
    ]
    assert default_objectives(rs) == [
        ("energy_per_mac_j", "min"),
        ("area_m2", "min"),
        ("accuracy", "max"),
    ]
    assert ids(pareto_front(rs)) == ["c", "d", "e", "f"]


def test_without_accuracy_energy_and_area_only():
    rs = [rec("a", 1.0, 2.0, None), rec("b", 2.0, 1.0, None), rec("c", 2.0, 2.0, None)]
    assert [k for k, _ in default_objectives(rs)] == ["energy_per_mac_j", "area_m2"]
    assert ids(pareto_front(rs)) == ["a", "b"]
    assert pareto_front([]) == []


def test_missing_values_are_never_optimal():
    rs = [rec("a", None, 1.0, None), rec("b", 2.0, 2.0, None)]
    assert ids(pareto_front(rs, [("energy_per_mac_j", "min")])) == ["b"]


def test_html_escapes_user_strings():
    evil = "</script><img src=x onerror=alert(1)>"
    rs = [rec("a", 1e-12, 1e-6, 0.9, **{"crossbar.cell": evil}), rec("b", 2e-12, 2e-6, 0.8)]
    page = render_pareto_html(rs, {"command": f"cimest sweep {evil}"}, f"Sweep {evil}")
    assert evil not in page
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # the figure's JSON carries no raw '<' that could end the script element
    start = page.index("var fig=") + len("var fig=")
    blob = page[start : page.index(";Plotly.newPlot", start)]
    assert "<" not in blob
    fig = json.loads(blob)
    assert [t["name"] for t in fig["data"]] == ["other points", "Pareto-optimal"]
    assert len(fig["data"][1]["x"]) == 1
    assert "cdn.plot.ly/plotly" not in page and "<script src" not in page
