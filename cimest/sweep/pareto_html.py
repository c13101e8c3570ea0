"""The Pareto view of a sweep folder: one self-contained HTML file (plotly.js inline, no CDN).

Room: sweep. Scatter of energy per MAC against accuracy (against area when the sweep has no
accuracy), marker colour = area; hovering shows the point's parameters; Pareto-optimal points
are drawn as stars and joined. Below it, a table of every point. Every string that came from the
user (parameters, design names, the command) is HTML-escaped; the figure's JSON is embedded with
``<``, ``>`` and ``&`` escaped so no value can close the script element.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from cimest.errors import CheckpointError
from cimest.output import write_atomic
from cimest.sweep.pareto import default_objectives, pareto_front
from cimest.sweep.store import ResultStore


def _num(x, scale=1.0, fmt="{:.4g}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return fmt.format(x * scale)


def _script_json(obj) -> str:
    text = json.dumps(obj, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _params_text(params: dict) -> str:
    return "<br>".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in params.items())


def figure_spec(records: list[dict], front_ids: set[str], has_accuracy: bool) -> dict:
    """Plotly data and layout (plain JSON) of the Pareto scatter."""

    def y_of(r):
        return r["accuracy"] * 100 if has_accuracy else r["area_m2"] * 1e6

    ok = [r for r in records if r["energy_per_mac_j"] is not None and y_of(r) is not None]
    # colour: area when the axes are energy and accuracy, latency when area is already the y axis
    if has_accuracy:
        colour_title, colours = "area (mm²)", [r["area_m2"] * 1e6 for r in ok]
    else:
        colour_title = "latency (µs)"
        colours = [(r.get("latency_per_sample_s") or 0.0) * 1e6 for r in ok]
    hover = [
        f"<b>{html.escape(r['point_id'])}</b><br>{_params_text(r['params'])}<br>"
        f"energy/MAC {_num(r['energy_per_mac_j'], 1e12)} pJ<br>area {_num(r['area_m2'], 1e6)} mm²"
        + (
            f"<br>latency {_num(r.get('latency_per_sample_s'), 1e6)} µs"
            if r.get("latency_per_sample_s")
            else ""
        )
        + (f"<br>accuracy {_num(r['accuracy'], 100, '{:.2f}')} %" if has_accuracy else "")
        for r in ok
    ]
    others = [i for i, r in enumerate(ok) if r["point_id"] not in front_ids]
    best = sorted(
        (i for i, r in enumerate(ok) if r["point_id"] in front_ids),
        key=lambda i: ok[i]["energy_per_mac_j"],
    )
    y_title = "accuracy (%)" if has_accuracy else "area (mm²)"
    marker_common = {
        "colorscale": "Viridis",
        "cmin": min(colours, default=0),
        "cmax": max(colours, default=1),
    }

    def trace(idx, name, symbol, size, line=False, colorbar=False):
        t = {
            "type": "scatter",
            "mode": "lines+markers" if line else "markers",
            "name": name,
            "x": [ok[i]["energy_per_mac_j"] * 1e12 for i in idx],
            "y": [y_of(ok[i]) for i in idx],
            "text": [hover[i] for i in idx],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {
                **marker_common,
                "color": [colours[i] for i in idx],
                "symbol": symbol,
                "size": size,
                "line": {"width": 1, "color": "#222"},
                **({"colorbar": {"title": {"text": colour_title}}} if colorbar else {}),
            },
        }
        if line:
            t["line"] = {"color": "#d62728", "width": 1.5, "dash": "dot"}
        return t

    data = [
        trace(others, "other points", "circle", 9, colorbar=True),
        trace(best, "Pareto-optimal", "star", 15, line=True, colorbar=not others),
    ]
    layout = {
        "title": {
            "text": f"Energy per MAC vs {y_title.split(' (')[0]} (colour: {colour_title.split(' (')[0]})"
        },
        "xaxis": {"title": {"text": "energy per MAC (pJ)"}, "type": "log"},
        "yaxis": {"title": {"text": y_title}},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.2},
        "height": 560,
    }
    return {"data": data, "layout": layout}


def _table(records: list[dict], front_ids: set[str]) -> str:
    keys: list[str] = []
    for r in records:
        for k in r["params"]:
            if k not in keys:
                keys.append(k)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    head += (
        "<th>Pareto</th><th>energy/MAC (pJ)</th><th>TOPS/W</th><th>area (mm²)</th>"
        "<th>latency/sample (µs)</th><th>throughput (samples/s)</th><th>accuracy (%)</th>"
        "<th>counts</th><th>point</th>"
    )
    rows = []
    for r in sorted(
        records, key=lambda r: (r["energy_per_mac_j"] is None, r["energy_per_mac_j"] or 0)
    ):
        cells = "".join(f"<td>{html.escape(str(r['params'].get(k, '')))}</td>" for k in keys)
        star = "★" if r["point_id"] in front_ids else ""
        cells += (
            f"<td class=c>{star}</td><td>{_num(r['energy_per_mac_j'], 1e12)}</td>"
            f"<td>{_num(r['tops_per_w'])}</td><td>{_num(r['area_m2'], 1e6)}</td>"
            f"<td>{_num(r['latency_per_sample_s'], 1e6)}</td>"
            f"<td>{_num(r['throughput_samples_per_s'])}</td>"
            f"<td>{_num(r['accuracy'], 100, '{:.2f}')}</td>"
            f"<td>{html.escape(str(r['counts_source']))}</td>"
            f"<td><code>{html.escape(r['point_id'])}</code></td>"
        )
        rows.append(f"<tr{' class=best' if star else ''}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3;position:sticky;top:0}
tr.best{background:#fff6d6} td.c{text-align:center;color:#d62728}
code{font-size:12px} .meta{color:#555;font-size:13px}
"""


def render_pareto_html(records: list[dict], manifest: dict | None, title: str) -> str:
    """The page as a string (see module docstring)."""
    from plotly.offline import get_plotlyjs

    objectives = default_objectives(records)
    has_accuracy = any(name == "accuracy" for name, _ in objectives)
    front_ids = {r["point_id"] for r in pareto_front(records, objectives)}
    fig = figure_spec(records, front_ids, has_accuracy)
    command = (manifest or {}).get("command", "")
    obj_text = ", ".join(f"{'minimise' if d == 'min' else 'maximise'} {k}" for k, d in objectives)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class=meta>{len(records)} points, {len(front_ids)} Pareto-optimal ({html.escape(obj_text)})."
        + (f"<br>command: <code>{html.escape(command)}</code>" if command else "")
        + "</p><div id=pareto></div>"
        f"<script>var fig={_script_json(fig)};"
        "Plotly.newPlot('pareto',fig.data,fig.layout,{responsive:true,displaylogo:false});</script>"
        f"<h2>All points</h2>{_table(records, front_ids)}</body></html>\n"
    )


def write_pareto_report(store_dir: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Write the Pareto view of the sweep folder ``store_dir`` to ``out_path`` (atomically).

    Raises:
        CheckpointError: the folder is not a sweep result folder, or its store is corrupt.
    """
    store = ResultStore(store_dir)
    manifest = store.manifest()
    if manifest is None:
        raise CheckpointError(f"{store_dir}: not a sweep result folder (no manifest.json)")
    # Why sorted: the store holds records in the order points finished, which differs between
    # runs with several workers; the page must not.
    records = sorted(store.records().values(), key=lambda r: r["point_id"])
    name = records[0]["name"] if records else Path(store_dir).name
    title = f"Sweep of {name}: {Path(store_dir).name}"
    write_atomic(out_path, render_pareto_html(records, manifest, title))
    return Path(out_path)
