"""Interrupting a real `cimest train` process: Ctrl-C (SIGINT) and SIGKILL.

Ctrl-C must checkpoint and exit with status 130; SIGKILL may lose only the epoch in progress; in
both cases `--resume` must give exactly the result of an uninterrupted run. Also: every output
file of cimest goes through cimest.output.write_atomic, and a failed rename leaves the old file.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cimest.api import design_identity, load_design
from cimest.engine import checkpoint
from cimest.errors import OutputFileError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ARCH = FIXTURES / "bsl_toy.yaml"
EPOCHS = "30"  # about 0.07 s each on digits: long enough to interrupt, short enough for CI


def _env() -> dict:
    return {**os.environ, "CIMEST_LIBRARY_PATH": str(FIXTURES / "libraries")}


def start(run_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cimest.cli",
            "train",
            str(ARCH),
            "--run-dir",
            str(run_dir),
            "--epochs",
            EPOCHS,
            *extra,
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    # a hang guard only (tests never check wall-clock time): generous for a loaded 2-core CI
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def wait_for_epochs(run_dir: Path, n: int, p: subprocess.Popen, timeout: float = 120) -> None:
    """Until run_dir's checkpoint holds at least ``n`` finished epochs."""
    deadline = time.monotonic() + timeout
    path = run_dir / checkpoint.FILE
    while time.monotonic() < deadline:
        assert p.poll() is None, f"training ended before {n} epochs: {p.communicate()}"
        if path.exists():
            try:
                with np.load(path) as z:
                    if json.loads(bytes(z["meta"]))["epoch"] >= n:
                        return
            except (OSError, ValueError, KeyError):
                pass  # being replaced right now
        time.sleep(0.005)
    raise AssertionError(f"no checkpoint with {n} epochs after {timeout} s")


def load_state(run_dir: Path):
    d = load_design(ARCH)
    return checkpoint.load(run_dir, design_identity(d).digest)


def result(run_dir: Path) -> dict:
    return json.loads((run_dir / "result.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run (started first; the tests below run while it trains)."""
    run_dir = tmp_path_factory.mktemp("reference")
    p = start(run_dir)

    def get() -> dict:
        if p.returncode is None:
            status, _, err = finish(p)
            assert status == 0, err
        return result(run_dir)

    yield get
    if p.poll() is None:
        p.kill()
        p.wait()


def test_ctrl_c_checkpoints_exits_130_and_resume_equals_uninterrupted(
    reference, tmp_path, toy_libs
):
    run_dir = tmp_path / "run"
    p = start(run_dir)
    wait_for_epochs(run_dir, 1, p)
    p.send_signal(signal.SIGINT)
    status, _, err = finish(p)
    assert status == 130, err
    assert "interrupted in epoch" in err and "--resume" in err and "Traceback" not in err
    assert not (run_dir / "result.json").exists()
    state = load_state(run_dir)
    assert state is not None and 1 <= state.epoch < int(EPOCHS)
    assert len(state.accuracy_history) == state.epoch

    status, _, err = finish(start(run_dir, "--resume"))
    assert status == 0, err
    assert result(run_dir) == reference()


def test_sigkill_loses_at_most_the_epoch_in_progress(reference, tmp_path, toy_libs):
    run_dir = tmp_path / "run"
    p = start(run_dir)
    wait_for_epochs(run_dir, 2, p)
    time.sleep(0.03)  # somewhere inside a later epoch, perhaps inside a checkpoint write
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL

    state = load_state(run_dir)  # loadable: never half-written
    assert state is not None and state.batch == 0, "SIGKILL leaves the last finished epoch"
    ref = reference()
    assert state.accuracy_history == ref["accuracy_history"][: state.epoch]

    status, _, err = finish(start(run_dir, "--resume"))
    assert status == 0, err
    assert result(run_dir) == ref


def test_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path, toy_libs):
    run_dir = tmp_path / "run"
    p = start(run_dir)
    wait_for_epochs(run_dir, 1, p)
    # Both signals land before the engine polls between batches, or the first already stopped it.
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGINT)
    status, _, err = finish(p)
    assert status == 130, err
    assert "Traceback" not in err
    assert load_state(run_dir) is not None


# --- atomic writes -----------------------------------------------------------------------------

# (module, function) pairs that write a file; (None, f) matches any receiver (Path.write_text).
WRITERS = {
    ("np", "save"),
    ("np", "savez"),
    ("np", "savez_compressed"),
    ("np", "savetxt"),
    ("json", "dump"),
    ("shutil", "copy"),
    ("shutil", "copyfile"),
    ("shutil", "move"),
    ("nx", "write_graphml"),
    ("pickle", "dump"),
    (None, "write_text"),
    (None, "write_bytes"),
    (None, "to_csv"),
    (None, "write_html"),
    (None, "write_image"),
    (None, "savefig"),
}


# Writers outside output.py on purpose, and why.
ALLOWED = {
    # The sweep's JSON Lines store is an append-only log: one fsynced line per point; a torn
    # last line is cut by the resuming sweep (tests/sweep pins this), never read as a record.
    ("cimest/sweep/store.py", "open", "a"),
    ("cimest/sweep/store.py", "open", "r+b"),
}


def _writes(path: Path):
    """(line, name, mode) of every call in ``path`` that may write a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        owner = (
            f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
        )
        args = [*node.args, *(k.value for k in node.keywords)]
        if any(isinstance(a, ast.Name) and a.id in ("buf", "buffer") for a in args):
            continue  # into memory, then write_atomic
        if name in ("open", "fdopen"):
            mode = next((k.value for k in node.keywords if k.arg == "mode"), None)
            if mode is None and len(node.args) > 1:
                mode = node.args[1]
            m = mode.value if isinstance(mode, ast.Constant) else None
            builtin = isinstance(f, ast.Name)
            if isinstance(m, str) and set(m) & set("wax+"):
                yield node.lineno, name, m
            elif builtin and mode is not None and m is None:
                yield node.lineno, name, "?"  # a computed mode: cannot tell
        elif (owner, name) in WRITERS or (None, name) in WRITERS:
            yield node.lineno, name, ""


def test_every_output_file_goes_through_write_atomic():
    offenders = []
    for path in sorted((ROOT / "cimest").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "cimest/output.py":
            continue
        for line, name, mode in _writes(path):
            if (rel, name, mode) not in ALLOWED:
                offenders.append(f"{rel}:{line}: {name}({mode!r})")
    assert not offenders, "write through cimest.output.write_atomic instead:\n" + "\n".join(
        offenders
    )


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from cimest import output

    target = tmp_path / "result.json"
    output.write_json(target, {"old": True})

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputFileError):
        output.write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, bsl_toy):
    from cimest.api import train_design

    d = load_design(bsl_toy)
    train_design(d, epochs=1, run_dir=tmp_path)
    before = (tmp_path / checkpoint.FILE).read_bytes()
    real_replace = os.replace

    def fail_on_checkpoint(src, dst):
        if Path(dst).name == checkpoint.FILE:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_checkpoint)
    with pytest.raises(OutputFileError):
        train_design(d, epochs=2, run_dir=tmp_path, resume=True)
    assert (tmp_path / checkpoint.FILE).read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(os, "replace", real_replace)
    assert load_state(tmp_path).epoch == 1
