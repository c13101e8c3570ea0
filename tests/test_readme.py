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


def test_the_readme_breakdown_example_calibrates_a_shipped_design(tmp_path, capsys):
    from cimest.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Calibrate against a measured breakdown", 1)[1]
    (tmp_path / "BREAKDOWN.yaml").write_text(section.split("```yaml", 1)[1].split("```", 1)[0])
    command = section.split("```bash", 1)[1].split("```", 1)[0].split()
    assert command[:2] == ["cimest", "calibrate"]
    arch = tmp_path / "my_chip.yaml"
    arch.write_text((ROOT / "architectures" / "full_precision_rram.yaml").read_text())
    argv = [str(tmp_path / a) if a.endswith(".yaml") else a for a in command[2:]]
    assert main(["calibrate", *argv]) == 0
    out = capsys.readouterr().out
    assert "RMS relative error" in out
    calibrated = (tmp_path / "my_chip_calibrated.yaml").read_text()
    assert "calibration:\n  adc: " in calibrated and "area_calibration:\n  adc: " in calibrated


def test_the_readme_example_is_what_estimate_prints(capsys, monkeypatch):
    from cimest.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "$ cimest estimate architectures/binary_stochastic_rram.yaml\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("CIMEST_LIBRARY_PATH", raising=False)
    assert main(["estimate", "architectures/binary_stochastic_rram.yaml"]) == 0
    assert capsys.readouterr().out == shown
