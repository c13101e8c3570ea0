"""Speed work must not move results: short runs on every rule, weight encoding and update variant
(tests/engine/fingerprint_cases.py) against the fingerprints the engine gave before it
(tests/fixtures/engine_fingerprints.json, which names the commit that produced them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("fingerprint_cases", HERE / "fingerprint_cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

RECORDED = json.loads(cases.FIXTURE.read_text())["cases"]


@pytest.fixture(scope="module")
def digits():
    from cimest.engine.datasets import load_dataset

    return load_dataset("digits")


def test_every_case_is_recorded():
    assert sorted(RECORDED) == sorted(f"{c}@{b}" for c, b in cases.keys())


# Why: every case at batch 1 (the per-sample kernels) and the two shipped designs at batch 16
# (the BLAS paths) by default, a few seconds; the other batch-16 cases with -m slow
DEFAULT = {("bsl", 16), ("backprop", 16)}
PARAMS = [
    pytest.param(c, b, id=f"{c}@{b}", marks=() if b == 1 or (c, b) in DEFAULT else pytest.mark.slow)
    for c, b in cases.keys()
]


@pytest.mark.parametrize(("case", "batch"), PARAMS)
def test_run_is_bit_identical_to_the_recorded_engine(case, batch, digits):
    got = cases.fingerprint(case, batch, digits)
    want = RECORDED[f"{case}@{batch}"]
    for key in want:  # one key at a time, so a failure names what moved
        assert got[key] == want[key], key
    assert got.keys() == want.keys()
