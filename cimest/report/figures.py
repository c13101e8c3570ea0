"""The report's plotly figures, one builder per chart. Room: report.

Each builder takes ReportDesigns and returns a ``plotly.graph_objects.Figure`` (or None when the
designs hold nothing to draw, e.g. accuracy of analytic estimates). Display units are chosen here
and in model.py only.
"""

from __future__ import annotations

import plotly.graph_objects as go

from cimest.report.model import ReportDesign, fmt_area, fmt_energy_per_mac, fmt_time

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
PHASE_COLOR = {
    "forward": "#4c9fb0",
    "backward": "#f58518",
    "update": "#54a24b",
    "static": "#bab0ac",
}
LAYER_COLORS = ("#dfe5ec", "#c9d2dc")
PHASE_DASH = {"forward": "solid", "backward": "dash", "update": "dot", "static": "dashdot"}
_FONT = dict(
    family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=12
)


KIND_COLORS = [
    "#8dd3c7",
    "#fdb462",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
    "#a6cee3",
    "#e5c494",
    "#b2df8a",
]
_KINDS = (
    "cell",
    "row_driver",
    "dac",
    "adc",
    "comparator",
    "rng",
    "mux",
    "shift_add",
    "accumulator",
    "adder",
    "multiplier",
    "activation",
    "sram_buffer",
    "write_driver",
    "interconnect",
    "ternary_driver",
)


def kind_color(kind: str) -> str:
    """A fixed colour per component kind (stable across designs and runs)."""
    i = _KINDS.index(kind) if kind in _KINDS else sum(map(ord, kind))
    return KIND_COLORS[i % len(KIND_COLORS)]


def _layout(fig: go.Figure, height: int, title: str | None = None, **kw) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        font=_FONT,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        **kw,
    )
    return fig


def _time_unit(max_s: float) -> tuple[float, str]:
    for scale, unit in ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms")):
        if max_s < 1000 * scale:
            return scale, unit
    return 1.0, "s"


def _tree(rows: list[tuple[tuple[str, ...], float]], root: str):
    """ids, labels, parents, values of a hierarchy whose parents carry their children's totals."""
    values: dict[tuple[str, ...], float] = {(): 0.0}
    for path, v in rows:
        for i in range(len(path) + 1):
            values[path[:i]] = values.get(path[:i], 0.0) + v
    ids, labels, parents, vals = [], [], [], []
    for path, v in values.items():
        ids.append("/".join((root, *path)))
        labels.append(path[-1] if path else root)
        parents.append("/".join((root, *path[:-1])) if path else "")
        vals.append(v)
    return ids, labels, parents, vals


def energy_sunburst(d: ReportDesign) -> go.Figure:
    """chip → layer → phase → component → action, in energy per MAC."""
    macs = d.total_macs or 1
    rows = [
        ((r.layer, r.phase, f"{r.component} ({r.kind})", r.action), r.energy_j / macs)
        for r in d.estimate.breakdown
    ]
    ids, labels, parents, vals = _tree(rows, d.name)
    total = vals[ids.index(d.name)] or 1.0
    hover = [f"{fmt_energy_per_mac(v)}<br>{100 * v / total:.1f} % of the chip" for v in vals]
    layers = sorted({r.layer for r in d.estimate.breakdown})
    colors = []
    for i in ids:  # colour by phase, so the same colour means the same phase in every design
        parts = i.split("/")[1:]
        if not parts:
            colors.append("#ffffff")
        elif len(parts) == 1:
            colors.append(
                LAYER_COLORS[layers.index(parts[0]) % 2] if parts[0] in layers else "#dfe5ec"
            )
        else:
            colors.append(PHASE_COLOR.get(parts[1], "#9aa5b1"))
    fig = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            values=[v * 1e12 for v in vals],
            branchvalues="total",
            customdata=hover,
            maxdepth=4,
            marker=dict(colors=colors, line=dict(color="#ffffff", width=1)),
            hovertemplate="<b>%{label}</b><br>%{customdata}<extra></extra>",
            insidetextorientation="radial",
        )
    )
    return _layout(fig, 460, title=f"{d.name}: {fmt_energy_per_mac(d.estimate.energy_per_mac_j)}")


def area_treemap(d: ReportDesign) -> go.Figure:
    """chip → layer (tiles) → component, in mm²."""
    tiles = {lm["name"]: lm["n_tiles"] for lm in d.layers}
    rows = []
    for r in d.estimate.area:
        layer = f"{r.layer} ({tiles[r.layer]} tiles)" if r.layer in tiles else r.layer
        rows.append(((layer, f"{r.component} ({r.kind}) ×{r.instances:,}"), r.area_m2))
    ids, labels, parents, vals = _tree(rows, d.name)
    total = vals[ids.index(d.name)] or 1.0
    hover = [f"{fmt_area(v)}<br>{100 * v / total:.1f} % of the chip" for v in vals]
    kind_of = {f"{r.component} ({r.kind})": r.kind for r in d.estimate.area}
    colors = []
    for i in ids:  # colour by component kind, the same in every design
        leaf = i.split("/")[-1].rsplit(" ×", 1)[0]
        colors.append(
            kind_color(kind_of[leaf]) if i.count("/") == 2 and leaf in kind_of else "#eef1f5"
        )
    fig = go.Figure(
        go.Treemap(
            ids=ids,
            labels=labels,
            parents=parents,
            values=[v * 1e6 for v in vals],
            branchvalues="total",
            customdata=hover,
            maxdepth=3,
            marker=dict(colors=colors, line=dict(color="#ffffff", width=1)),
            textfont=dict(color="#1d2733"),
            hovertemplate="<b>%{label}</b><br>%{customdata}<extra></extra>",
            textinfo="label+percent root",
        )
    )
    return _layout(fig, 420, title=f"{d.name}: {fmt_area(d.estimate.area_m2)}")


def latency_gantt(d: ReportDesign) -> go.Figure:
    """The (layer, phase) schedule of one sample; critical-path steps in red."""
    steps = d.estimate.schedule
    end = max((s.start_s + s.duration_s for s in steps), default=0.0)
    scale, unit = _time_unit(end)
    fig = go.Figure()
    for critical, name, color in (
        (True, "critical path", "#d62728"),
        (False, "off the critical path", "#9aa5b1"),
    ):
        sel = [s for s in steps if s.critical == critical]
        if not sel:
            continue
        fig.add_trace(
            go.Bar(
                y=[f"{s.layer} {s.phase}" for s in sel],
                x=[s.duration_s / scale for s in sel],
                base=[s.start_s / scale for s in sel],
                orientation="h",
                name=name,
                marker_color=color,
                customdata=[[fmt_time(s.start_s), fmt_time(s.duration_s)] for s in sel],
                hovertemplate="<b>%{y}</b><br>start %{customdata[0]}<br>duration %{customdata[1]}"
                "<extra>" + name + "</extra>",
            )
        )
    order = [f"{s.layer} {s.phase}" for s in steps]
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1], automargin=True)
    fig.update_xaxes(title_text=f"time within one sample ({unit})", rangemode="tozero")
    return _layout(
        fig,
        120 + 28 * len(steps),
        title=f"{d.name}: {fmt_time(d.estimate.latency_per_sample_s)} per sample",
        legend=dict(orientation="h", y=-0.25 if len(steps) > 4 else -0.5),
    )


def accuracy_curves(designs: list[ReportDesign]) -> go.Figure | None:
    fig = go.Figure()
    for i, d in enumerate(designs):
        hist = (d.training or {}).get("accuracy_history") or []
        if hist:
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(hist) + 1)),
                    y=[a * 100 for a in hist],
                    mode="lines+markers",
                    name=d.name,
                    line=dict(color=PALETTE[i % len(PALETTE)]),
                )
            )
    if not fig.data:
        return None
    fig.update_xaxes(title_text="epoch", dtick=1 if max(len(t.x) for t in fig.data) <= 20 else None)
    fig.update_yaxes(title_text="test accuracy (%)")
    return _layout(fig, 340, legend=dict(orientation="h", y=-0.25))


def events_per_epoch(designs: list[ReportDesign]) -> go.Figure | None:
    """Counted events per epoch, by phase (log scale): data-dependent counts move over training."""
    fig = go.Figure()
    for i, d in enumerate(designs):
        for ph in ("forward", "backward", "update"):
            ys = []
            for c in (d.training or {}).get("counts_per_epoch") or []:
                ys.append(sum(r["count"] for r in c["records"] if r["phase"] == ph))
            if ys and any(ys):
                fig.add_trace(
                    go.Scatter(
                        x=list(range(1, len(ys) + 1)),
                        y=ys,
                        mode="lines+markers",
                        name=f"{d.name} · {ph}",
                        line=dict(color=PALETTE[i % len(PALETTE)], dash=PHASE_DASH[ph]),
                    )
                )
    if not fig.data:
        return None
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="events per epoch", type="log", dtick=1)
    return _layout(fig, 380, legend=dict(orientation="h", y=-0.25))


def wear_histogram(designs: list[ReportDesign]) -> go.Figure | None:
    fig = go.Figure()
    for i, d in enumerate(designs):
        h = ((d.training or {}).get("wear") or {}).get("histogram") or {}
        edges, counts = h.get("edges") or [], h.get("counts") or []
        if counts:
            labels = [
                f"{lo}" if hi - lo <= 1 else f"{lo}–{hi - 1}"
                for lo, hi in zip(edges[:-1], edges[1:], strict=True)
            ]
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=counts,
                    name=d.name,
                    marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{x} pulses: %{y:,} devices<extra>%{fullData.name}</extra>",
                )
            )
    if not fig.data:
        return None
    fig.update_xaxes(title_text="programming pulses per device over the run", type="category")
    fig.update_yaxes(title_text="devices", type="log", dtick=1)
    return _layout(fig, 340, barmode="group", legend=dict(orientation="h", y=-0.3))


def _by(records, key, value) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in records:
        out[key(r)] = out.get(key(r), 0.0) + value(r)
    return out


def compare_bars(designs: list[ReportDesign], what: str) -> go.Figure:
    """Grouped bars, one group per category, one bar per design.

    ``what``: "kind" (energy per MAC by component kind), "phase" (energy per MAC by phase) or
    "area" (area by component kind).
    """
    per: list[dict[str, float]] = []
    for d in designs:
        macs = d.total_macs or 1
        if what == "area":
            per.append(
                {
                    k: v * 1e6
                    for k, v in _by(d.estimate.area, lambda r: r.kind, lambda r: r.area_m2).items()
                }
            )
        elif what == "phase":
            per.append(
                {
                    k: v / macs * 1e12
                    for k, v in _by(
                        d.estimate.breakdown, lambda r: r.phase, lambda r: r.energy_j
                    ).items()
                }
            )
        else:
            per.append(
                {
                    k: v / macs * 1e12
                    for k, v in _by(
                        d.estimate.breakdown, lambda r: r.kind, lambda r: r.energy_j
                    ).items()
                }
            )
    # Why the name as second key: ties (two kinds of equal energy, or both 0) would otherwise keep
    # the order of a set, which follows PYTHONHASHSEED and changes the HTML from run to run.
    cats = sorted({k for p in per for k in p}, key=lambda k: (-max(p.get(k, 0.0) for p in per), k))
    unit = "mm²" if what == "area" else "pJ/MAC"
    fig = go.Figure()
    for i, (d, p) in enumerate(zip(designs, per, strict=True)):
        ys = [p.get(c, 0.0) for c in cats]
        fig.add_trace(
            go.Bar(
                x=cats,
                y=[y if y > 0 else None for y in ys],
                name=d.name,
                marker_color=PALETTE[i % len(PALETTE)],
                hovertemplate="%{x}: %{y:.4g} " + unit + "<extra>%{fullData.name}</extra>",
            )
        )
    title = {
        "kind": "Energy per MAC by component kind",
        "phase": "Energy per MAC by phase",
        "area": "Area by component kind",
    }[what]
    fig.update_yaxes(title_text=f"{unit} (log)", type="log", dtick=1, exponentformat="power")
    fig.update_xaxes(tickangle=-30 if len(cats) > 6 else 0, automargin=True)
    fig = _layout(
        fig,
        400,
        title=title,
        barmode="group",
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"),
    )
    fig.update_layout(margin=dict(t=70))
    return fig
