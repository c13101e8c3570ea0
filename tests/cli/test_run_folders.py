"""Real processes on one folder: two `cimest train` into one --run-dir, two `cimest sweep` into
one -o, and a kill -9 whose lock must not outlive it (issue 15).

The first process is paused (SIGSTOP) while the second runs, so it holds its lock however fast or
slow this machine is; it then continues (SIGCONT) and must finish normally."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ARCH = FIXTURES / "bsl_toy.yaml"


def _env() -> dict:
    return {**os.environ, "CIMEST_LIBRARY_PATH": str(FIXTURES / "libraries")}


def cimest(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cimest.cli", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def wait_for(path: Path, p: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert p.poll() is None, f"ended before writing {path}: {p.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)


def train(run_dir: Path, *extra: str) -> subprocess.Popen:
    return cimest("train", str(ARCH), "--run-dir", str(run_dir), "--epochs", "5", *extra)


@pytest.mark.parametrize("second_seed", ["0", "7"])
def test_a_second_trainer_is_refused_while_the_first_writes(tmp_path, second_seed):
    run_dir = tmp_path / "run"
    first = train(run_dir)
    wait_for(run_dir / "checkpoint.npz", first)  # claimed, locked and training
    first.send_signal(signal.SIGSTOP)
    try:
        status, err = finish(train(run_dir, "--seed", second_seed))
    finally:
        first.send_signal(signal.SIGCONT)
    assert status == 2, err
    assert f"{run_dir}: in use by another cimest process (pid {first.pid})" in err
    assert "Traceback" not in err
    status, err = finish(first)
    assert status == 0, err
    record = json.loads((run_dir / "run.json").read_text())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["run_identity"] == record["identity"] and result["seed"] == 0


def test_a_lock_does_not_outlive_a_kill_9(tmp_path):
    run_dir = tmp_path / "run"
    first = train(run_dir)
    wait_for(run_dir / "checkpoint.npz", first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (run_dir / ".lock").exists()  # the file stays; the kernel dropped the lock
    status, err = finish(train(run_dir, "--resume", "--epochs", "2"))
    assert status == 0, err


def sweep(out: Path, *vary: str) -> subprocess.Popen:
    small = out.parent / "small.yaml"  # three training groups of a fraction of a second each
    if not small.exists():
        small.write_text(
            ARCH.read_text().replace("epochs: 10", "epochs: 2\n  max_train_samples: 300")
        )
    return cimest("sweep", str(small), *(f"--vary={v}" for v in vary), "-o", str(out))


def test_a_second_sweep_into_one_store_is_refused(tmp_path):
    out = tmp_path / "sweep"
    first = sweep(out, "workload.seed=0,1,2")
    wait_for(out / "manifest.json", first)
    first.send_signal(signal.SIGSTOP)
    try:
        for vary in ("workload.seed=0,1,2", "workload.seed=3,4"):  # the same sweep, and another
            status, err = finish(sweep(out, vary))
            assert status == 2, err
            assert f"{out}: in use by another cimest process (pid {first.pid})" in err
    finally:
        first.send_signal(signal.SIGCONT)
    status, err = finish(first)
    assert status == 0, err
    lines = (out / "points.jsonl").read_text().splitlines()
    assert len(lines) == 3  # nothing mixed in, nothing twice
    # once the first is done, running it again is allowed and redoes nothing
    status, err = finish(sweep(out, "workload.seed=0,1,2"))
    assert status == 0, err
    assert (out / "points.jsonl").read_text().splitlines() == lines


def test_a_sweep_killed_then_rerun_cleans_its_temporary_files(tmp_path):
    out = tmp_path / "sweep"
    first = sweep(out, "workload.seed=0,1,2")
    wait_for(out / "manifest.json", first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stray = [out / ".manifest.json.k1ll3d00.tmp", out / "counts" / ".abc.json.k1ll3d00.tmp"]
    for f in stray:
        f.parent.mkdir(exist_ok=True)
        f.write_text("half")
    status, err = finish(sweep(out, "workload.seed=0,1,2"))
    assert status == 0, err
    assert not any(f.exists() for f in stray)
    assert len((out / "points.jsonl").read_text().splitlines()) == 3
