"""What the CLI writes to a terminal or a pipe: escaped user strings, tables, progress, encoding."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cimest import cli
from cimest.cli.common import shown
from cimest.report.model import KPIS, fmt_accuracy

ROOT = Path(__file__).resolve().parents[2]
EVIL = "a\x1b[31mb"  # a design name that would turn a terminal red


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "raw, escaped",
    [
        (EVIL, "a\\x1b[31mb"),
        ("\x07bell\x08", "\\x07bell\\x08"),
        ("line\nbreak\r", "line\\x0abreak\\x0d"),
        ("\x9b2J", "\\x9b2J"),  # the one-byte C1 CSI
        ("abc\u202edef", "abc\\u202edef"),  # right-to-left override
        ("µm² é 漢 ×", "µm² é 漢 ×"),  # printable text is left alone
    ],
)
def test_shown_escapes_control_characters(raw, escaped):
    assert shown(raw) == escaped


def _evil_design(tmp_path: Path, source: Path) -> Path:
    text = source.read_text()
    first = next(line for line in text.splitlines() if line.startswith("name:"))
    f = tmp_path / "evil.yaml"
    f.write_text(text.replace(first, 'name: "a\\x1b[31mb"', 1))
    return f


def test_a_design_name_with_escape_codes_is_printed_escaped(bsl_toy, fp_toy, tmp_path, capsys):
    evil = _evil_design(tmp_path, bsl_toy)
    graphml = tmp_path / "g\x1b[2J.graphml"  # a path with an escape code, echoed by "wrote"
    runs = [
        ["validate", str(evil)],
        ["estimate", str(evil)],
        ["graph", str(evil), "--graphml", str(graphml)],
        ["compare", str(evil), str(fp_toy), "-o", str(tmp_path / "c.html"), "--analytic"],
        [
            "sweep",
            str(evil),
            "--vary",
            "crossbar.rows=32,64",
            "-o",
            str(tmp_path / "sw"),
            "--analytic",
        ],
    ]
    for argv in runs:
        assert cli.main(argv) == 0, argv
        captured = capsys.readouterr()
        assert "\x1b" not in captured.out + captured.err, argv
    assert cli.main(["estimate", str(evil)]) == 0
    assert capsys.readouterr().out.startswith("a\\x1b[31mb  (train, analytic counts)")
    assert cli.main(["graph", str(evil), "--graphml", str(graphml)]) == 0
    assert "g\\x1b[2J.graphml" in capsys.readouterr().out


def test_an_error_message_quoting_user_input_is_escaped(toy_libs, capsys):
    assert cli.main(["library", "show", "x\x1b[2Jy"]) == 2
    err = capsys.readouterr().err
    assert "no library 'x\\x1b[2Jy'" in err and "\x1b" not in err


def test_piped_tables_are_plain_and_keep_every_figure(bsl_toy, tmp_path, capsys):
    j = tmp_path / "e.json"
    assert cli.main(["estimate", str(bsl_toy), "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert not set(out) & set("\x1b─━│┃╇┡"), "colour or box drawing in piped output"
    assert all(line == line.rstrip() for line in out.splitlines()), "trailing spaces"
    data = json.loads(j.read_text())
    rows = {line[:25].strip(): line[25:].strip() for line in out.splitlines()[1:11]}
    for k in KPIS:
        if k.key in data and data[k.key] is not None:
            assert rows[k.label] == k.fmt(data[k.key]), k.label
    assert rows["Accuracy"] == "not trained"


def test_tables_on_a_terminal_are_drawn_by_rich(toy_libs, monkeypatch, capsys):
    assert cli.main(["library", "list"]) == 0
    piped = capsys.readouterr().out.splitlines()
    term = _Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setenv("COLUMNS", "260")  # wide enough for the toy library's 22 kinds on one line
    assert cli.main(["library", "list"]) == 0
    drawn = term.getvalue().splitlines()
    assert any(set(line.strip()) == {"─"} for line in drawn), "no rule under the header"
    cells = lambda lines: [line.split() for line in lines if "─" not in line]  # noqa: E731
    plain = lambda words: [w for w in words if "\x1b" not in w]  # noqa: E731
    assert [plain(c) for c in cells(drawn)][1:] == cells(piped)[1:]  # same rows, same figures


def test_train_progress_is_one_line_per_epoch_when_piped(bsl_toy, tmp_path, capsys):
    j = tmp_path / "r.json"
    assert (
        cli.main(
            [
                "train",
                str(bsl_toy),
                "--epochs",
                "2",
                "--run-dir",
                str(tmp_path / "run"),
                "--json",
                str(j),
            ]
        )
        == 0
    )
    history = json.loads(j.read_text())["accuracy_history"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for epoch, (line, acc) in enumerate(zip(lines, history, strict=True), start=1):
        assert line.startswith(f"epoch {epoch}/2: accuracy {fmt_accuracy(acc)}, loss "), line


def test_train_progress_on_a_terminal_keeps_a_line_per_epoch(
    bsl_toy, tmp_path, monkeypatch, capsys
):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    j = tmp_path / "r.json"
    assert (
        cli.main(
            [
                "train",
                str(bsl_toy),
                "--epochs",
                "2",
                "--run-dir",
                str(tmp_path / "run"),
                "--json",
                str(j),
            ]
        )
        == 0
    )
    history = json.loads(j.read_text())["accuracy_history"]
    drawn = term.getvalue()
    assert "━" in drawn or "╸" in drawn  # rich's bar was drawn
    for epoch, acc in enumerate(history, start=1):
        assert f"epoch {epoch}/2: accuracy {fmt_accuracy(acc)}, loss " in drawn
    assert drawn.count("\x1b[?25h") >= 1  # the cursor is shown again when the bar ends


def test_sweep_progress_is_one_line_per_finished_point_when_piped(bsl_toy, tmp_path, capsys):
    assert (
        cli.main(
            [
                "sweep",
                str(bsl_toy),
                "--vary",
                "crossbar.rows=32,64,128",
                "-o",
                str(tmp_path / "sw"),
                "--analytic",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == [f"sweep: {k}/3 points" for k in range(4)]
    assert lines[1].endswith("crossbar.rows=32") and lines[3].endswith("crossbar.rows=128")


def test_an_interrupted_measured_estimate_exits_130_with_the_engines_message(
    bsl_toy, monkeypatch, capsys
):
    from cimest.engine.train import Interrupted

    def interrupted(*args, **kwargs):
        raise Interrupted("interrupted at epoch 2, batch 3; checkpoint written to RUN")

    monkeypatch.setattr("cimest.api.measured_estimate", interrupted)
    assert cli.main(["estimate", str(bsl_toy), "--measured"]) == 130
    assert "interrupted at epoch 2, batch 3" in capsys.readouterr().err


def test_an_ascii_only_terminal_gets_escapes_instead_of_a_crash(bsl_toy, tmp_path):
    env = {
        **os.environ,
        "PYTHONIOENCODING": "ascii",
        "CIMEST_LIBRARY_PATH": str(bsl_toy.parent / "libraries"),
    }
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", "estimate", str(bsl_toy)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="ascii",
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert "mm\\xb2" in p.stdout and "Area" in p.stdout


def test_the_console_script_and_python_m_run_the_same_main():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "cimest"]
    assert script.load() is cli.main
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and p.stdout.startswith("cimest ")


def test_every_command_of_the_table_is_parsed_to_its_handler():
    parser = cli.build_parser()
    for c in cli.COMMANDS:
        words = c.words.split()
        needs = [a for a in c.args if not a.flags[0].startswith("-") or a.options.get("required")]
        argv = [*words]
        for a in needs:
            if a.flags[0].startswith("-"):
                argv += [a.flags[-1], "X"]
            else:
                argv += ["X"] * (
                    a.options.get("nargs") if isinstance(a.options.get("nargs"), int) else 1
                )
        assert parser.parse_args(argv).func is c.run, c.words
