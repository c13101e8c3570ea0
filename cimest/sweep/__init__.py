"""Sweep room: design-space sweeps, their executors, result store and Pareto fronts.

May import every room above it (spec, graph, engine, costs, api). Nothing here prints or exits:
progress goes to a callback, user errors are CimestError.

    grid = build_grid("arch.yaml", ["crossbar.rows=64,128", "technology.node_nm=22,32"])
    summary = run_sweep(grid, "sweeps/rows-node", workers=2)
    front = pareto_front(list(ResultStore("sweeps/rows-node").records().values()))
"""

from cimest.sweep.fastcost import CostBasis
from cimest.sweep.grid import Grid, build_grid
from cimest.sweep.pareto import default_objectives, pareto_front
from cimest.sweep.run import SweepSummary, run_sweep
from cimest.sweep.store import ResultStore

__all__ = [
    "CostBasis",
    "Grid",
    "ResultStore",
    "SweepSummary",
    "build_grid",
    "default_objectives",
    "pareto_front",
    "run_sweep",
    "write_pareto_report",
]


def write_pareto_report(store_dir, out_path):
    """Interactive Pareto view and table of a sweep folder (see ``cimest.sweep.pareto_html``)."""
    from cimest.sweep.pareto_html import write_pareto_report as write

    return write(store_dir, out_path)
