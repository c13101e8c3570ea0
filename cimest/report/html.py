"""write_report(path, designs): one self-contained HTML file. Room: report.

plotly.js is embedded once, inline; figures are plotly JSON drawn by it. The page makes no
network request: no CDN, no web fonts, no MathJax. Every string that comes from the user (design
names, descriptions, paths, component names, library sources) goes through ``html.escape``;
plotly's JSON encoder writes ``<``, ``>`` and ``/`` as ``\\u003c`` … so a name cannot close a
``<script>`` element either.
"""

from __future__ import annotations

import os
from html import escape

import plotly.io as pio
import plotly.offline

from cimest import __version__
from cimest.output import write_atomic
from cimest.report import figures
from cimest.report.model import (
    KPIS,
    ReportDesign,
    alternatives,
    fmt_area,
    fmt_count,
    fmt_energy,
    fmt_energy_per_mac,
    fmt_plain,
    fmt_quantity,
    fmt_ratio,
    fmt_time,
    ratio,
    verdict,
)

PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["sendDataToCloud", "lasso2d", "select2d"],
}

CSS = """
:root { --fg: #1d2733; --muted: #5b6775; --line: #dde3ea; --card: #f6f8fa; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 60px; }
h1 { font-size: 1.6rem; margin: 0.4rem 0; }
h2 { font-size: 1.25rem; margin: 0 0 0.6rem; padding-bottom: 0.25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.02rem; margin: 1rem 0 0.4rem; }
section { margin-top: 2rem; }
p.note, .muted { color: var(--muted); font-size: 0.9rem; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.92rem; padding: 8px 0;
      border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); text-decoration: none; }
ul.designs { padding-left: 1.2rem; margin: 0.3rem 0; }
ul.designs li { overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.35em;
          vertical-align: -0.05em; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.kpi .label { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.03em; }
.kpi .value { font-size: 1.35rem; font-weight: 600; margin: 2px 0; overflow-wrap: anywhere; }
.kpi .sub { font-size: 0.78rem; color: var(--muted); }
/* auto-fill, not auto-fit: a figure drawn while the page is still parsing gets its final width */
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 14px; }
.figs.one { grid-template-columns: 1fr; }
.fig { min-width: 0; border: 1px solid var(--line); border-radius: 8px; padding: 6px; }
.plot { width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 0.86rem; margin: 0.3rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
td.wide { min-width: 16em; }
td.verdict { min-width: 11em; }
details { margin: 0.4rem 0 1rem; }
summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 3rem; color: var(--muted); font-size: 0.8rem; }
@media (max-width: 640px) { .figs { grid-template-columns: 1fr; } main { padding: 10px; } }
"""


def _fig_html(fig, div_id: str) -> str:
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        config=PLOT_CONFIG,
        div_id=div_id,
        default_width="100%",
    )


class _Page:
    """Collects HTML parts and numbers the plot containers."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n_figs = 0

    def add(self, *html: str) -> None:
        self.parts.extend(html)

    def fig(self, fig, caption: str | None = None) -> str:
        self.n_figs += 1
        cap = f"<p class='note'>{escape(caption)}</p>" if caption else ""
        return f"<div class='fig'>{_fig_html(fig, f'plot-{self.n_figs}')}{cap}</div>"

    def section(self, sid: str, title: str, body: str, note: str = "") -> None:
        n = f"<p class='note'>{escape(note)}</p>" if note else ""
        self.add(f"<section id='{sid}'><h2>{escape(title)}</h2>{n}{body}</section>")


def _breakable(text: str) -> str:
    """Escaped text that may wrap after '/', ':' and '_' (identifiers like cell/taox_hfox_rram)."""
    out = escape(text)
    for ch in "/:_":
        out = out.replace(ch, ch + "<wbr>")
    return out


def _table(
    headers: list[str],
    rows: list[list[str]],
    num: set[int] = frozenset(),
    wide: set[int] = frozenset(),
    verdict: set[int] = frozenset(),
) -> str:
    """A table of already-formatted cells; every cell is escaped here. ``wide`` columns hold prose."""
    th = "".join(
        f"<th{' class=num' if i in num else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        tds = []
        for i, c in enumerate(row):
            classes = " ".join(
                x
                for x in (
                    "num" if i in num else "",
                    "wide" if i in wide else "",
                    "verdict" if i in verdict else "",
                )
                if x
            )
            tds.append(
                f"<td{f' class={chr(34)}{classes}{chr(34)}' if classes else ''}>{escape(c) if i in num else _breakable(c)}</td>"
            )
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figs(parts: list[str]) -> str:
    return f"<div class='figs{' one' if len(parts) == 1 else ''}'>{''.join(parts)}</div>"


def _swatch(i: int) -> str:
    return f"<span class='swatch' style='background:{figures.PALETTE[i % len(figures.PALETTE)]}'></span>"


def _per_sample(designs: list[ReportDesign]) -> str:
    """What one sample is, for the designs on the page."""
    modes = {d.inference for d in designs}
    if modes == {True}:
        return "Per inference: the forward pass of every layer."
    if modes == {False}:
        return "Per training sample: forward, backward and update of every layer."
    return (
        "Per sample: forward, backward and update of every layer for a training design, the "
        "forward pass for an inference design."
    )


def _kpi_cards(d: ReportDesign) -> str:
    cards = []
    for k in KPIS:
        if not k.shown_for(d):
            continue
        v = k.value(d)
        sub = k.note_for(d)
        if k.key == "accuracy" and v is None:
            sub = (
                "inference workload: not trained" if d.inference else "analytic counts: not trained"
            )
        cards.append(
            f"<div class='kpi' data-kpi='{k.key}'><div class='label'>{escape(k.label)}</div>"
            f"<div class='value'>{escape(k.fmt(v))}</div><div class='sub'>{escape(sub)}</div></div>"
        )
    return f"<div class='kpis'>{''.join(cards)}</div>"


def _ratio_table(designs: list[ReportDesign]) -> str:
    base = designs[0]
    headers = ["KPI"] + [d.name for d in designs]
    for d in designs[1:]:
        headers += [f"{d.name} ÷ {base.name}", f"{base.name} ÷ {d.name}", "better (by)"]
    rows = []
    for k in KPIS:
        row = [f"{k.label} ({k.better} is better)"] + [k.fmt(k.value(d)) for d in designs]
        for d in designs[1:]:
            if k.points:  # accuracies differ by percentage points, not by a factor
                a, b = k.value(base), k.value(d)
                pp = 100 * (b - a) if a is not None and b is not None else None
                row += [
                    f"{pp:+.3g} pp" if pp is not None else "n/a",
                    f"{-pp:+.3g} pp" if pp is not None else "n/a",
                    verdict(k, base, d),
                ]
                continue
            r = ratio(k.value(base), k.value(d))
            row += [fmt_ratio(r), fmt_ratio(1 / r if r else None), verdict(k, base, d)]
        rows.append(row)
    num = set(range(1, len(headers)))
    verdicts = set(range(len(designs) + 3, len(headers), 3))
    return _table(headers, rows, num=num - verdicts, verdict=verdicts)


def _layer_table(d: ReportDesign) -> str:
    e = d.estimate
    energy = {}
    for r in e.breakdown:
        energy[r.layer] = energy.get(r.layer, 0.0) + r.energy_j
    area = {}
    for r in e.area:
        area[r.layer] = area.get(r.layer, 0.0) + r.area_m2
    lat = {}
    for s in e.schedule:
        lat.setdefault(s.layer, {})[s.phase] = s.duration_s
    total_e = e.energy_per_sample_j or 1.0
    macs = d.total_macs or 1
    rows = []
    names = [lm["name"] for lm in d.layers] or sorted(energy)
    info = {lm["name"]: lm for lm in d.layers}
    for name in names:
        lm = info.get(name, {})
        shape = lm.get("text") or (f"{lm['n_in']} × {lm['n_out']}" if lm else "")
        ph = lat.get(name, {})
        rows.append(
            [
                name,
                shape,
                f"{lm.get('n_tiles', '')}" + (f" of {lm['tile']}" if lm.get("tile") else ""),
                f"{lm.get('n_devices', 0):,}" if lm else "",
                f"{100 * lm['utilisation']:.0f} %" if "utilisation" in lm else "",
                fmt_energy(energy.get(name, 0.0)),
                f"{100 * energy.get(name, 0.0) / total_e:.1f} %",
                fmt_energy_per_mac(energy.get(name, 0.0) / macs),
                fmt_area(area.get(name, 0.0)),
                " / ".join(
                    fmt_time(ph.get(p)) for p in ("forward", "backward", "update") if p in ph
                ),
            ]
        )
    headers = [
        "layer",
        "shape",
        "tiles",
        "weight devices",
        "cells in use",
        "energy per sample",
        "share",
        "energy per chip MAC",
        "area",
        "latency fwd / bwd / upd",
    ]
    return _table(headers, rows, num={3, 4, 5, 6, 7, 8})


def _provenance_table(d: ReportDesign) -> str:
    rows = []
    for p in d.estimate.provenance:
        rows.append(
            [
                f"{p.kind}/{p.variant} ({p.library})",
                p.quantity,
                f"{fmt_quantity(p.value, p.unit)} @ {p.node_nm:g} nm",
                fmt_quantity(p.scaled, p.unit, scaled=True),
                f"×{p.factor:.4g}",
                p.rule,
                p.source,
                p.confidence,
            ]
        )
    headers = [
        "component (library)",
        "quantity",
        "value at its node",
        "scaled value",
        "factor",
        "scaling rule",
        "source",
        "conf.",
    ]
    return _table(headers, rows, num={2, 3, 4}, wide={6})


def _models_table(d: ReportDesign) -> str:
    """Where the library names credible models that differ by more than 3x: which one was used."""
    rows = []
    for p in alternatives(d):
        note = p.rule.split(": ", 1)[-1]
        rows.append(
            [
                p.kind,
                p.quantity.split(":", 1)[1],
                p.used_variant or "",
                fmt_energy(p.value),
                p.variant,
                fmt_energy(p.scaled),
                fmt_ratio(p.factor),
                note,
                p.source,
            ]
        )
    if not rows:
        return (
            "<p>No library entry this design uses names a model that differs by more than 3×.</p>"
        )
    headers = [
        "kind",
        "action",
        "model used",
        "its energy",
        "alternative",
        "alternative's energy",
        "alternative ÷ used",
        "where they differ",
        "alternative's source",
    ]
    return _table(headers, rows, num={3, 5, 6}, wide={7, 8})


def _wear_table(designs: list[ReportDesign]) -> str:
    rows = []
    for d in designs:
        w = (d.training or {}).get("wear") or {}
        m = w.get("most_written")
        if not d.training:
            rows.append([d.name, "n/a (analytic counts)", "", "", "", ""])
            continue
        dev = (
            f"{m['layer']} row {m['row']} col {m['col']} ({m['device']})"
            if m and m.get("layer")
            else "no device written"
        )
        life = w.get("lifetime_epochs")
        endurance = w.get("endurance_cycles")
        rows.append(
            [
                d.name,
                dev,
                f"{m['pulses']:,}" if m else "0",
                fmt_plain(w.get("mean_pulses")),
                fmt_count(endurance, "cycles") if endurance else "not stated by the library",
                fmt_count(life, "epochs") if life else "n/a",
            ]
        )
    return _table(
        [
            "design",
            "most-written device",
            "its pulses",
            "mean pulses per device",
            "cell endurance",
            "lifetime at this rate",
        ],
        rows,
        num={2, 3},
    )


def _header(designs: list[ReportDesign]) -> str:
    title = "cimest report" if len(designs) == 1 else "cimest comparison"
    items = []
    for i, d in enumerate(designs):
        e = d.estimate
        counts = (
            f"measured counts from training ({d.training.get('epochs')} epochs, "
            f"{d.training.get('n_train_samples'):,} samples, seed {d.training.get('seed')})"
            if d.training
            else f"{e.counts_source} counts, no training"
        )
        items.append(
            f"<li>{_swatch(i)}<b>{escape(d.name)}</b> — {escape(d.description)} "
            f"<span class='muted'>({escape(d.path)}; {escape(counts)})</span></li>"
        )
    return (
        f"<header><h1>{title}: {escape(' vs '.join(d.name for d in designs))}</h1>"
        f"<ul class='designs'>{''.join(items)}</ul></header>"
    )


def render_report(designs: list[ReportDesign]) -> str:
    """The report's HTML text."""
    if not designs:
        raise ValueError("a report needs at least one design")
    page = _Page()
    multi = len(designs) > 1
    sections = [("kpis", "Key figures")]
    if multi:
        sections.append(("comparison", "Comparison"))
    sections += [
        ("energy", "Energy breakdown"),
        ("area", "Area"),
        ("latency", "Latency schedule"),
        ("accuracy", "Accuracy"),
        ("events", "Events per epoch"),
        ("wear", "Device wear"),
        ("layers", "Per layer"),
        ("models", "Models used"),
        ("provenance", "Provenance"),
    ]
    nav = "".join(f"<a href='#{sid}'>{escape(t)}</a>" for sid, t in sections)

    kpi_body = "".join(
        (f"<h3>{_swatch(i)}{escape(d.name)}</h3>" if multi else "") + _kpi_cards(d)
        for i, d in enumerate(designs)
    )
    page.section(
        "kpis", "Key figures", kpi_body, f"{_per_sample(designs)} TOPS counts 2 ops per MAC."
    )
    if multi:
        body = _ratio_table(designs)
        body += _figs(
            [page.fig(figures.compare_bars(designs, w)) for w in ("kind", "phase", "area")]
        )
        page.section(
            "comparison",
            "Comparison",
            body,
            f"Ratios against {designs[0].name}. Where the difference comes from: energy per MAC "
            "by component kind and by phase, and area by component kind (log scales).",
        )
    page.section(
        "energy",
        "Energy breakdown",
        _figs([page.fig(figures.energy_sunburst(d)) for d in designs]),
        "Energy per MAC: chip → layer → phase → component → action. Click a ring to zoom in; "
        "hover for values. 'static' is leakage over the latency of one sample.",
    )
    page.section(
        "area",
        "Area",
        _figs([page.fig(figures.area_treemap(d)) for d in designs]),
        "Chip → layer (with its crossbar tiles) → component. Click to zoom. Under the floorplan "
        "area model (technology.area_model), 'layout (layout)' is the empty corners of a layer's "
        "tile bounding boxes, beside the placed area of every component.",
    )
    page.section(
        "latency",
        "Latency schedule",
        _figs([page.fig(figures.latency_gantt(d)) for d in designs]),
        "One sample's (layer, phase) steps; red steps form the critical path that sets the "
        "latency per sample.",
    )
    acc = figures.accuracy_curves(designs)
    untrained = [d.name for d in designs if not d.training]
    page.section(
        "accuracy",
        "Accuracy",
        (page.fig(acc) if acc else "<p>No design was trained (analytic counts).</p>")
        + (
            f"<p class='note'>Not trained: {escape(', '.join(untrained))}.</p>"
            if untrained and acc
            else ""
        ),
    )
    ev = figures.events_per_epoch(designs)
    page.section(
        "events",
        "Events per epoch",
        page.fig(ev) if ev else "<p>No per-epoch counts (analytic counts).</p>",
        "Events counted by the engine in each epoch, by phase. Binary stochastic updates "
        "depend on the data, so their counts move as training converges."
        if ev
        else "",
    )
    wh = figures.wear_histogram(designs)
    page.section(
        "wear",
        "Device wear",
        (page.fig(wh) if wh else "") + _wear_table(designs),
        "Programming pulses per weight device over the whole run. Lifetime: the cell's "
        "endurance divided by the most-written device's pulses per epoch.",
    )
    page.section(
        "layers",
        "Per layer",
        "".join(
            (f"<h3>{_swatch(i)}{escape(d.name)}</h3>" if multi else "") + _layer_table(d)
            for i, d in enumerate(designs)
        ),
    )
    page.section(
        "models",
        "Models used",
        "".join(
            (f"<h3>{_swatch(i)}{escape(d.name)}</h3>" if multi else "") + _models_table(d)
            for i, d in enumerate(designs)
        ),
        "Where a library entry says credible models of the component differ by more than 3×: the "
        "one this estimate used, and what each alternative would cost for the same component at "
        "this chip's node and resolution (pick one with the peripheral's variant).",
    )
    page.section(
        "provenance",
        "Provenance",
        "".join(
            f"<details{' open' if not multi else ''}><summary>{escape(d.name)}: "
            f"{len(d.estimate.provenance)} library values</summary>{_provenance_table(d)}</details>"
            for d in designs
        ),
        "Every library number the estimate used: its value at the library's node, the value at "
        "this chip's node and resolution, and the rule that scaled it.",
    )

    plotly_js = plotly.offline.get_plotlyjs()
    title = escape(" vs ".join(d.name for d in designs))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>cimest: {title}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{plotly_js}</script></head><body><main>"
        f"{_header(designs)}<nav>{nav}</nav>{''.join(page.parts)}"
        f"<footer>Generated by cimest {escape(__version__)}. Self-contained: works offline.</footer>"
        "</main><script>window.dispatchEvent(new Event('resize'));</script></body></html>\n"
    )


def write_report(path: str | os.PathLike, designs: list[ReportDesign]) -> None:
    """Write the HTML report of ``designs`` (one, or several side by side) to ``path``."""
    write_atomic(path, render_report(designs))
