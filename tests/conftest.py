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


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    """A folder of four tiny IDX files (40 train and 20 test 8x8 images, 10 classes) for
    ``workload.dataset: mnist-idx:<folder>``."""
    import numpy as np

    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for prefix, n in (("train", 40), ("t10k", 20)):
        for what, array in (
            ("images-idx3-ubyte", rng.integers(0, 256, (n, 8, 8))),
            ("labels-idx1-ubyte", np.arange(n) % 10),
        ):
            head = bytes([0, 0, 8, array.ndim]) + b"".join(
                d.to_bytes(4, "big") for d in array.shape
            )
            (folder / f"{prefix}-{what}").write_bytes(head + array.astype(np.uint8).tobytes())
    return folder


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """The engine's numba kernels compiled (or loaded from numba's cache) before any test times a
    command. Why: a fresh checkout compiles them on first use, tens of seconds on a loaded
    machine, which would land in whichever timed CLI test trains first."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fingerprint_cases", Path(__file__).parent / "engine" / "fingerprint_cases.py"
    )
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    for case, batch in (
        ("bsl", 1),
        ("bsl", 16),
        ("backprop", 1),
        ("backprop", 16),
        ("bsl_pair", 1),
    ):
        cases.fingerprint(case, batch)
