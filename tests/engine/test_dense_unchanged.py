"""Dense networks train exactly as before convolution reached the engine.

Regression pin, not a correctness oracle: the digests below were recorded from main at 2160c96
(the last commit whose engine refused conv layers) with numpy 2.4.6 on the development machine;
the conv-capable engine reproduced all 13 configurations checked then (these five included) bit
for bit, before and after merging main's compiled kernels. A digest covers the accuracy histories
(chip path and float), the losses, the measured activity of every layer (what the counts are made
from: the counts themselves follow the priced roles, which later merges extend), the wear summary
and the final conductances. Float results depend on the numpy/BLAS build, so the pin is skipped
on another numpy version. Re-pinned on branch neurosim (issue 12) when the measured activity
gained program_set_steps and the write steps became a group's longest SET train plus its longest
RESET train: histories, losses, wear and conductances were checked equal to main's (fefd7be) part
by part before the digests were replaced; only the activity part moved.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

SMALL = ("epochs: 10", "epochs: 2\n  max_train_samples: 640")
CASES = {
    "bsl_memristor": ("bsl_toy", [], "eb6bb563a4cfbad5"),
    "bsl_float": (
        "bsl_toy",
        [("weight_update: memristor", "weight_update: float")],
        "62cb474d9e135df0",
    ),
    "backprop": ("fp_toy", [], "0eaf56082b8bdd2e"),
    "dfa_binary": (
        "bsl_toy",
        [
            ("rule: binary_stochastic", "rule: dfa\n  binary_feedback: true"),
            ("[64, 128, 10]", "[64, 40, 30, 10]"),
        ],
        "9f0ff932dac4f0d8",
    ),
    "pulse_coincidence": (
        "fp_toy",
        [
            ("update: {kind: pulse_train, max_pulses: 32}", "update: {kind: coincidence}"),
            ("rule: backprop", "rule: pulse_coincidence\n  pulse_length: 7"),
            ("batch_size: 64", "batch_size: 8"),
            ("  gradient_accumulator: {kind: sram_buffer, bits: 8}\n", ""),
            ("max_train_samples: 640", "max_train_samples: 64"),
        ],
        "e221511fc84499b7",
    ),
}


def digest(result) -> str:
    h = hashlib.sha256()
    record = [
        result.accuracy_history,
        result.accuracy_float_history,
        result.loss_history,
        result.counts.n_samples,
        result.counts.activity,  # what the engine measured (counts follow the priced roles)
        result.wear,
    ]
    h.update(json.dumps(record, sort_keys=True, default=str).encode())
    for k in sorted(result.conductances):
        h.update(np.ascontiguousarray(result.conductances[k]).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.skipif(np.__version__ != "2.4.6", reason="digests recorded with numpy 2.4.6")
@pytest.mark.parametrize("case", list(CASES))
def test_dense_run_equals_main_before_convolution(case, request):
    fixture, edits, want = CASES[case]
    text = request.getfixturevalue(fixture).read_text().replace(*SMALL)
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    d = bind_design(parse_architecture(text, "x.yaml"))
    assert digest(train(d.graph, d.libraries)) == want
