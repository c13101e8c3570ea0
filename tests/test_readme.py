"""README.md stays true: its YAML reference is the one the schema generates, and its set-up
commands are the ones .ci/run executes."""

from __future__ import annotations

from pathlib import Path

from cimest.spec.reference import BEGIN, END, markdown

ROOT = Path(__file__).parents[1]


def test_yaml_reference_matches_the_schema():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == markdown(), "regenerate with: python -m cimest.spec.reference"


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Set-up", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.strip() for line in block.strip().splitlines()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install_and_run, test = commands
    for part in install_and_run.split(" && "):
        assert part in ci, part
    assert test in ci
