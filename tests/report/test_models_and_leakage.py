"""The report shows the leakage power as its own key figure and, where the library says credible
models differ by more than 3x, which model the estimate used and what the others would cost."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from cimest.api import estimate_design, load_design
from cimest.report import design_from, render_report, report_records
from cimest.report.model import fmt_energy, fmt_power, fmt_ratio

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_LIBRARIES = [ROOT / "device_libraries"]


@pytest.fixture(scope="module")
def shipped_pair():
    out = []
    for name in ("full_precision_rram", "binary_stochastic_rram"):
        d = load_design(ROOT / "architectures" / f"{name}.yaml", search_path=SHIPPED_LIBRARIES)
        out.append(design_from(d, estimate_design(d)))
    return out


def section_text(page: str, sid: str) -> str:
    start = page.index(f"<section id='{sid}'>")
    body = page[start : page.index("</section>", start)]
    return unescape(re.sub(r"<wbr>", "", re.sub(r"<(?!wbr)[^>]+>", " ", body)))


def test_leakage_power_is_a_key_figure(shipped_pair):
    page = render_report(shipped_pair)
    kpis = section_text(page, "kpis")
    for d in shipped_pair:
        assert d.estimate.leakage_w > 0
        assert f"Leakage power {fmt_power(d.estimate.leakage_w)}" in " ".join(kpis.split())
    assert all(r["kpis"]["leakage_w"] > 0 for r in report_records(shipped_pair))


def test_models_used_names_the_model_and_each_alternative_with_its_ratio(shipped_pair):
    page = render_report(shipped_pair)
    text = " ".join(section_text(page, "models").split())
    fp = shipped_pair[0]
    alts = [p for p in fp.estimate.provenance if p.quantity.startswith("alternative:")]
    # the full-precision design uses the default NeuroSim SAR ADC; the survey is the 3x+ alternative
    survey = [p for p in alts if p.kind == "adc" and p.variant == "survey"]
    assert survey and all(p.used_variant == "neurosim_sar" for p in survey)
    for p in survey:
        assert p.scaled / p.value > 3
        row = f"adc convert neurosim_sar {fmt_energy(p.value)} survey {fmt_energy(p.scaled)} {fmt_ratio(p.factor)}"
        assert row in text, row


def test_a_design_whose_entries_name_no_alternative_says_so(shipped_pair, tmp_path):
    toy = ROOT / "tests" / "fixtures" / "bsl_toy.yaml"
    d = load_design(toy, search_path=[ROOT / "tests" / "fixtures" / "libraries"])
    page = render_report([design_from(d, estimate_design(d))])
    assert "names a model that differs by more than 3×" in section_text(page, "models")
