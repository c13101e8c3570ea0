"""Shared fixtures: the toy libraries and architectures under tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def toy_libs(monkeypatch):
    """Make the toy libraries the first place libraries are looked for."""
    monkeypatch.setenv("CIMEST_LIBRARY_PATH", str(FIXTURES / "libraries"))
    return FIXTURES / "libraries"


@pytest.fixture
def bsl_toy(toy_libs):
    return FIXTURES / "bsl_toy.yaml"


@pytest.fixture
def fp_toy(toy_libs):
    return FIXTURES / "fp_toy.yaml"
