"""NaN or infinity in training stops the run with the epoch and layer, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cimest import cli
from cimest.engine import train as train_mod

ROOT = Path(__file__).resolve().parents[2]


def _poison(layer_index: int, value: float):
    """A wrapper of init_state that puts ``value`` into one weight of one layer."""
    real = train_mod.init_state

    def init_state(setup, seed):
        state = real(setup, seed)
        ls = state.layers[layer_index]
        arr = next(a for a in (ls.g, ls.w, ls.w_int) if a is not None)
        if arr.dtype.kind == "f":
            arr[0, 0] = value
        else:  # integer weights cannot hold NaN
            pytest.skip("integer variant")
        return state

    return init_state


@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_in_training_is_reported_with_epoch_and_layer(
    fixture, value, request, tmp_path, monkeypatch, capsys, recwarn
):
    arch = request.getfixturevalue(fixture)
    monkeypatch.setattr(train_mod, "init_state", _poison(1, value))
    status = cli.main(["train", str(arch), "--run-dir", str(tmp_path / "run"), "--epochs", "2"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "epoch 1, layer L" in err and "NaN or infinite" in err, err
    assert "Traceback" not in err and "internal error" not in err
    # one message, not numpy's RuntimeWarnings besides it
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_poisoned_checkpoint_is_caught_on_resume_by_the_real_command(bsl_toy, tmp_path):
    from cimest.api import load_design, train_design

    run_dir = tmp_path / "run"
    train_design(load_design(bsl_toy), epochs=1, run_dir=run_dir)
    path = run_dir / "checkpoint.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layer1.g"] = np.full_like(arrays["layer1.g"], np.nan)
    with open(path, "wb") as f:  # test data, not cimest output
        np.savez(f, **arrays)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "cimest.cli",
            "train",
            str(bsl_toy),
            "--run-dir",
            str(run_dir),
            "--resume",
            "--epochs",
            "2",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, p.stderr
    assert "epoch 2, layer L2: " in p.stderr and "became NaN or infinite" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
