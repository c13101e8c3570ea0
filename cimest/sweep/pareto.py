"""Pareto fronts over sweep records.

Room: sweep. An objective is a record field and a direction; a record is Pareto-optimal when no
other record is at least as good in every objective and better in one. Records missing a value
(``None``, NaN) for an objective are never on the front.
"""

from __future__ import annotations

import math

import numpy as np

MINIMISE, MAXIMISE = "min", "max"


def default_objectives(records: list[dict]) -> list[tuple[str, str]]:
    """Energy per MAC and area down, accuracy up (accuracy only when every record has one)."""
    objectives = [("energy_per_mac_j", MINIMISE), ("area_m2", MINIMISE)]
    if records and all(r.get("accuracy") is not None for r in records):
        objectives.append(("accuracy", MAXIMISE))
    return objectives


def pareto_front(
    records: list[dict], objectives: list[tuple[str, str]] | None = None
) -> list[dict]:
    """The non-dominated records, in their input order.

    Args:
        records: dicts with the objective fields (sweep store records).
        objectives: (field, "min" | "max") pairs; ``default_objectives`` when None.
    """
    if not records:
        return []
    if objectives is None:
        objectives = default_objectives(records)
    for _, sense in objectives:
        if sense not in (MINIMISE, MAXIMISE):
            raise ValueError(f"objective direction must be 'min' or 'max', got {sense!r}")
    n = len(records)
    values = np.empty((n, len(objectives)))
    valid = np.ones(n, dtype=bool)
    for j, (name, sense) in enumerate(objectives):
        for i, r in enumerate(records):
            v = r.get(name)
            if v is None or not isinstance(v, int | float) or math.isnan(v):
                valid[i] = False
                values[i, j] = 0.0
            else:
                values[i, j] = v if sense == MINIMISE else -v  # minimise everything
    idx = np.flatnonzero(valid)
    v = values[idx]
    on_front = np.ones(len(idx), dtype=bool)
    for a in range(len(idx)):
        # a is dominated if some b is <= in every objective and < in one
        le = np.all(v <= v[a], axis=1)
        lt = np.any(v < v[a], axis=1)
        if np.any(le & lt):
            on_front[a] = False
    front = set(idx[on_front].tolist())
    return [r for i, r in enumerate(records) if i in front]
