"""Fixtures of the sweep tests: tiny, fast-training base architectures on the toy libraries
(``toy_libs`` comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def tiny(src: str, dst: Path) -> Path:
    """A fixture architecture shrunk to train in a fraction of a second."""
    text = (FIXTURES / src).read_text()
    text = text.replace("epochs: 10", "epochs: 1\n  max_train_samples: 200")
    text = text.replace("network: [64, 128, 10]", "network: [64, 32, 10]")
    dst.write_text(text)
    return dst


@pytest.fixture
def bsl(tmp_path, toy_libs) -> Path:
    return tiny("bsl_toy.yaml", tmp_path / "bsl.yaml")


@pytest.fixture
def fp(tmp_path, toy_libs) -> Path:
    return tiny("fp_toy.yaml", tmp_path / "fp.yaml")


def _sorted_records(store_dir) -> list[dict]:
    from cimest.sweep import ResultStore

    return sorted(ResultStore(store_dir).records().values(), key=lambda r: r["point_id"])


@pytest.fixture
def sorted_records():
    """store folder -> its records sorted by point id (stores compare equal this way)."""
    return _sorted_records
