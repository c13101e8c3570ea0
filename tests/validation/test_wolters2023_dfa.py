"""DFA vs backprop latency on the schedule.

Source: Wolters et al., "Biologically Plausible Learning on Neuromorphic Hardware Architectures",
arXiv:2212.14337 (MWSCAS 2023): every DFA error depends only on the output error, so the
backward steps of all N hidden layers run in parallel and backward latency falls by up to N x.
Tolerance: the ratio is 1/N within 25 % (the output layer's own backward step is not parallel).
"""

from __future__ import annotations

import pytest

from cimest.api import bind_design, estimate_design
from cimest.spec import parse_architecture


@pytest.mark.parametrize("n_hidden", [2, 4])
def test_dfa_backward_latency_is_1_over_n_of_backprop(fp_toy, n_hidden):
    widths = ", ".join(["100"] * (n_hidden + 2))
    text = fp_toy.read_text().replace("network: [64, 128, 10]", f"network: [{widths}]")
    bp = estimate_design(bind_design(parse_architecture(text)))
    dfa = estimate_design(bind_design(parse_architecture(text.replace("rule: backprop", "rule: dfa"))))
    ratio = dfa.latency_by_phase_s["backward"] / bp.latency_by_phase_s["backward"]
    assert ratio == pytest.approx(1 / n_hidden, rel=0.25)
