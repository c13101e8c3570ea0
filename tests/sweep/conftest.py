"""Fixtures of the sweep tests: the toy libraries and a tiny, fast-training base architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def toy_libs(monkeypatch):
    monkeypatch.setenv("CIMEST_LIBRARY_PATH", str(FIXTURES / "libraries"))
    return FIXTURES / "libraries"


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


def sorted_records(store_dir) -> list[dict]:
    from cimest.sweep import ResultStore

    return sorted(ResultStore(store_dir).records().values(), key=lambda r: r["point_id"])
