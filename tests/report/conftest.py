"""Report fixtures: the two toy designs, trained briefly once per session (runs kept in tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"


def short_copy(src: Path, dst_dir: Path, epochs: int = 3, name: str | None = None) -> Path:
    """The fixture architecture with fewer epochs (and optionally another name)."""
    text = src.read_text(encoding="utf-8").replace("epochs: 10", f"epochs: {epochs}")
    if name is not None:
        first = next(line for line in text.splitlines() if line.startswith("name:"))
        text = text.replace(first, f"name: {name!r}")
    out = dst_dir / src.name
    out.write_text(text, encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def toy_env():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIMEST_LIBRARY_PATH", str(FIXTURES / "libraries"))
        yield


@pytest.fixture(scope="session")
def arch_pair(toy_env, tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("arch")
    return short_copy(FIXTURES / "bsl_toy.yaml", d), short_copy(FIXTURES / "fp_toy.yaml", d)


@pytest.fixture(scope="session")
def run_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def measured_pair(arch_pair, run_root):
    """ReportDesigns of the binary and the full-precision toy designs, from measured counts."""
    from cimest.api import default_run_dir, load_design, measured_estimate
    from cimest.report import design_from

    out = []
    for f in arch_pair:
        d = load_design(f)
        est, record = measured_estimate(d, run_dir=run_root / default_run_dir(d).name)
        out.append(design_from(d, est, record))
    return out
