"""The cost-only fast path equals estimate() on the calibrated design to 1e-12 relative."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.api import estimate_design
from cimest.graph.analytic import count_analytic
from cimest.sweep import CostBasis, build_grid
from cimest.sweep.fastcost import KPI_FIELDS


@pytest.mark.parametrize("fixture", ["bsl", "fp"])
def test_fast_path_equals_estimate(fixture, request):
    base = request.getfixturevalue(fixture)
    grid = build_grid(
        str(base),
        [
            "technology.node_nm=22,45,130",
            "technology.vdd_v=0.8,1.0",
            "peripherals.output_readout.bits=4,8",
            "calibration.adc=0.5,1,3",
            "calibration.cell=1,2.5",
            "calibration.sram_buffer=1,7",
        ],
    )
    counts = count_analytic(next(iter(grid.designs.values())).graph)
    bases: dict[str, CostBasis] = {}
    for p in grid.points:
        basis = bases.setdefault(
            p.pricing_key, CostBasis.build(grid.designs[p.pricing_key], counts, 0.9)
        )
        fast = basis.kpis(p.loaded.spec.calibration)
        design = grid.binder.bind(p.loaded)  # the calibrated design, priced the usual way
        want = estimate_design(design, counts, accuracy=0.9).to_dict()
        for k in KPI_FIELDS:
            if isinstance(want[k], float):
                assert fast[k] == pytest.approx(want[k], rel=1e-12, abs=0), (k, p.params)
            else:
                assert fast[k] == want[k]
    assert len(bases) == 12  # calibration never needs another priced design


def test_vectorised_rows_equal_single_points(bsl):
    grid = build_grid(str(bsl), ["technology.node_nm=32"])
    d = grid.designs[grid.points[0].pricing_key]
    basis = CostBasis.build(d, count_analytic(d.graph))
    cals = [{"comparator": c, "rng": r} for c in (0.5, 1, 2) for r in (1, 3)]
    many = basis.evaluate(basis.calibration_matrix(cals))
    for i, cal in enumerate(cals):
        one = basis.kpis(cal)
        assert many["energy_per_mac_j"][i] == pytest.approx(one["energy_per_mac_j"], rel=1e-14)
    assert np.all(np.diff(many["energy_per_sample_j"][::2]) > 0)
