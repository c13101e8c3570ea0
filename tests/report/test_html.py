"""The HTML report: sections, numbers taken from the Estimate, offline, escaped."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest

from cimest.report import render_report, write_report
from cimest.report.model import KPIS, fmt_energy, fmt_quantity, fmt_ratio, ratio

SECTIONS = [
    "kpis",
    "energy",
    "area",
    "latency",
    "accuracy",
    "events",
    "wear",
    "layers",
    "provenance",
]


class Page(HTMLParser):
    """Collects what the tests look at: sections, text, tags with attributes, script bodies."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, str] = {}  # id -> h2 text
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.kpi_values: dict[str, list[str]] = {}
        self._stack: list[str] = []
        self._section: str | None = None
        self._in_h2 = False
        self._in_script = False
        self._kpi: str | None = None
        self._in_value = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section] = ""
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")
        elif tag == "div" and "data-kpi" in a:
            self._kpi = a["data-kpi"]
        elif tag == "div" and a.get("class") == "value" and self._kpi:
            self._in_value = True

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "script":
            self._in_script = False
        elif tag == "div" and self._in_value:
            self._in_value = False
            self._kpi = None

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
            return
        self.text.append(data)
        if self._in_h2 and self._section:
            self.sections[self._section] += data
        if self._in_value:
            self.kpi_values.setdefault(self._kpi, []).append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def compare_html(measured_pair) -> str:
    return render_report(measured_pair)


@pytest.fixture(scope="module")
def page(compare_html) -> Page:
    return Page(compare_html)


def test_sections_are_present_with_titles(page):
    for sid in [*SECTIONS, "comparison"]:
        assert sid in page.sections, sid
        assert page.sections[sid].strip(), f"section {sid} has no <h2>"


def test_single_design_has_no_comparison(measured_pair):
    p = Page(render_report(measured_pair[:1]))
    assert set(SECTIONS) <= set(p.sections) and "comparison" not in p.sections


def test_kpi_cards_show_the_estimates_numbers(page, measured_pair):
    for k in KPIS:
        shown = [v.strip() for v in page.kpi_values[k.key]]
        assert shown == [k.fmt(k.value(d)) for d in measured_pair], k.key
    # and they are real numbers, not n/a, for trained designs
    assert all(v != "n/a" for vals in page.kpi_values.values() for v in vals)


def test_energy_per_epoch_is_energy_per_sample_times_training_set(measured_pair):
    d = measured_pair[0]
    assert d.energy_per_epoch_j == d.estimate.energy_per_sample_j * d.training["n_train_samples"]


def test_ratio_table_holds_every_kpi_ratio(page, measured_pair):
    a, b = measured_pair
    text = page.all_text
    assert f"{b.name} ÷ {a.name}" in text and f"{a.name} ÷ {b.name}" in text
    for k in KPIS:
        if k.points:  # accuracies: differences in percentage points, not ratios
            pp = 100 * (k.value(b) - k.value(a))
            assert f"{pp:+.3g} pp" in text and f"{-pp:+.3g} pp" in text, k.key
            continue
        r = ratio(k.value(a), k.value(b))
        assert fmt_ratio(r) in text and fmt_ratio(1 / r) in text, k.key


def test_layer_and_provenance_tables(page, measured_pair):
    text = page.all_text
    for d in measured_pair:
        energy_l1 = sum(r.energy_j for r in d.estimate.breakdown if r.layer == "L1")
        assert fmt_energy(energy_l1) in text
        for p in d.estimate.provenance:
            assert fmt_quantity(p.scaled, p.unit, scaled=True) in text
            assert p.source in text and p.rule in text


def test_every_figure_is_drawn_by_the_inline_plotly(page, compare_html):
    plot_divs = [
        a["id"] for t, a in page.tags if t == "div" and a.get("id", "").startswith("plot-")
    ]
    # 3 comparison bars + per design (sunburst, treemap, gantt) + accuracy + events + wear
    assert len(plot_divs) == 3 + 3 * 2 + 3
    for pid in plot_divs:
        assert f'"{pid}"' in compare_html and compare_html.count(f'getElementById("{pid}")') == 1
    assert sum("Plotly.newPlot" in s for s in page.scripts) == len(plot_divs)
    big = [s for s in page.scripts if len(s) > 1_000_000]
    assert len(big) == 1, "plotly.js must be embedded exactly once"


def test_no_network_request(page, compare_html):
    for tag, attrs in page.tags:
        for key in ("src", "href", "data", "action", "srcset", "poster"):
            v = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", v), (tag, key, v)
        assert not (tag == "script" and "src" in attrs), "scripts must be inline"
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), "styles must be inline"
    css = "".join(s for s in re.findall(r"<style>(.*?)</style>", compare_html, re.S))
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert "mathjax" not in compare_html.lower().split("<script", 1)[0]
    assert 'displaylogo": false' in compare_html.replace("'", '"')


def test_hostile_names_are_text(measured_pair, tmp_path):
    evil = "<script>alert(1)</script>"
    close = "</script><img src=x onerror=alert(2)>"
    a, b = measured_pair
    est = dataclasses.replace(a.estimate, name=evil)
    hostile = dataclasses.replace(a, estimate=est, description=close, path=f"/tmp/{evil}.yaml")
    out = tmp_path / "evil.html"
    write_report(out, [hostile, b])
    html = out.read_text(encoding="utf-8")
    assert evil not in html and close not in html
    p = Page(html)
    assert evil in p.all_text and close in p.all_text  # shown as text
    assert not any(t == "img" for t, _ in p.tags)
    # every script is ours: plotly.js, one per figure, the resize nudge; none contains the payload
    # the name is data inside the figures' JSON, with < > / written as \u003c \u003e \u002f
    for body in p.scripts[1:]:
        assert "<" not in body
    assert any(
        "\\u003cscript\\u003ealert(1)\\u003c\\u002fscript\\u003e" in b for b in p.scripts[1:]
    )
    assert sum(1 for t, _ in p.tags if t == "script") == 1 + 12 + 1
