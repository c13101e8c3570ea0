"""Run folders never give a wrong answer: a result or checkpoint is reused only by the very run
that made it (issue 11 "stale runs", issue 15 "--run-dir trusts whatever is there")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cimest.api import (
    bind_design,
    cached_result,
    default_run_dir,
    design_identity,
    measured_estimate,
    train_design,
)
from cimest.engine import checkpoint, runs
from cimest.engine.train import train
from cimest.errors import CheckpointError
from cimest.folders import FolderBusy, locked
from cimest.spec import parse_architecture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = ("epochs: 10", "epochs: 1\n  max_train_samples: 128")


@pytest.fixture
def libs(tmp_path, monkeypatch) -> Path:
    """An editable copy of the toy libraries; the current folder is tmp_path (runs/ goes there)."""
    out = tmp_path / "libs"
    shutil.copytree(FIXTURES / "libraries", out)
    monkeypatch.chdir(tmp_path)
    return out


def design(libs: Path, *edits: tuple[str, str]):
    text = (FIXTURES / "bsl_toy.yaml").read_text().replace(*SMALL)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, "bsl_toy.yaml"), [libs])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def run_folders() -> list[Path]:
    return sorted(Path("runs").iterdir())


def test_a_library_edit_forces_a_new_run(libs):
    d = design(libs)
    _, first = measured_estimate(d)
    assert len(run_folders()) == 1
    # the cell's device: a new run, and the old folder is never answered for the new design
    edit(
        libs / "toy_cells.yaml",
        "gamma_p: 0.0, gamma_d: 0.0, endurance",
        "gamma_p: 0.8, gamma_d: 0.8, endurance",
    )
    d2 = design(libs)
    assert default_run_dir(d2) != default_run_dir(d)
    with pytest.raises(CheckpointError, match="they differ in library entry cell/toy_rram"):
        cached_result(d2, run_folders()[0])
    _, second = measured_estimate(d2)
    assert len(run_folders()) == 2
    assert second["run_identity"] == design_identity(d2).digest != first["run_identity"]


def test_a_peripheral_library_edit_forces_a_new_run_too(libs):
    measured_estimate(design(libs))
    edit(libs / "toy_cmos.yaml", "compare: {energy_pj: 0.01,", "compare: {energy_pj: 0.02,")
    measured_estimate(design(libs))
    assert len(run_folders()) == 2


def test_a_dataset_edit_forces_a_new_run(libs, idx_folder):
    folder = idx_folder
    d = design(libs, ("dataset: digits", f"dataset: mnist-idx:{folder}"))
    _, first = measured_estimate(d)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-64] + bytes(64))  # the last image goes black
    d2 = design(libs, ("dataset: digits", f"dataset: mnist-idx:{folder}"))
    with pytest.raises(CheckpointError, match="they differ in the dataset's files"):
        cached_result(d2, run_folders()[0])
    _, second = measured_estimate(d2)
    assert len(run_folders()) == 2
    assert second["run_identity"] != first["run_identity"]


def test_a_seed_7_run_is_never_reported_for_seed_0(libs, tmp_path):
    d = design(libs)
    folder = tmp_path / "mine"
    train_design(d, seed=7, run_dir=folder)
    with pytest.raises(CheckpointError) as err:
        measured_estimate(d, run_dir=folder)
    msg = str(err.value)
    assert "holds the run of bsl-rram-32nm, seed 7" in msg
    assert "not of bsl-rram-32nm, seed 0" in msg and "they differ in workload.seed" in msg
    # and the folder still holds the seed-7 run, untouched
    assert json.loads((folder / "result.json").read_text())["seed"] == 7
    with pytest.raises(CheckpointError, match="seed 7"):
        train_design(d, run_dir=folder)  # nor is it overwritten by a fresh start


def test_an_update_threshold_edit_is_never_answered_from_the_old_run(libs, tmp_path):
    folder = tmp_path / "mine"
    est, rec = measured_estimate(design(libs), run_dir=folder)
    d2 = design(libs, ("update_threshold: 64", "update_threshold: 16"))
    with pytest.raises(CheckpointError, match="they differ in algorithm.update_threshold"):
        measured_estimate(d2, run_dir=folder)
    est2, rec2 = measured_estimate(d2)  # its own default folder: trained afresh
    assert rec2["run_identity"] == design_identity(d2).digest != rec["run_identity"]
    assert est2.energy_per_mac_j != est.energy_per_mac_j


def test_a_finished_run_is_reused_and_a_damaged_result_redone(libs, tmp_path):
    d = design(libs)
    folder = tmp_path / "mine"
    _, rec = measured_estimate(d, run_dir=folder)
    assert cached_result(d, folder) == json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text('{"epochs": 1, "counts": ')
    assert cached_result(d, folder) is None
    _, again = measured_estimate(d, run_dir=folder)  # resumes from the checkpoint: same run
    assert again["accuracy_history"] == rec["accuracy_history"]
    assert again["counts"] == rec["counts"]


def test_more_epochs_continue_the_same_run(libs, tmp_path):
    folder = tmp_path / "mine"
    measured_estimate(design(libs), run_dir=folder)
    two = design(libs, ("epochs: 1", "epochs: 2"))
    assert cached_result(two, folder) is None  # not finished at 2 epochs
    _, rec = measured_estimate(two, run_dir=folder)
    assert rec["epochs"] == 2 and len(rec["accuracy_history"]) == 2


def test_a_run_longer_than_asked_is_never_answered_for_a_shorter_one(libs, tmp_path):
    folder = tmp_path / "mine"
    measured_estimate(design(libs, ("epochs: 1", "epochs: 2")), run_dir=folder)
    with pytest.raises(CheckpointError, match="already trained 2 epochs, more than the 1 asked"):
        measured_estimate(design(libs), run_dir=folder)
    with pytest.raises(CheckpointError, match="already trained 2 epochs"):
        train_design(design(libs), run_dir=folder, resume=True)
    assert json.loads((folder / "result.json").read_text())["epochs"] == 2  # untouched


def test_a_folder_being_written_is_refused_with_its_name(libs, tmp_path):
    folder = tmp_path / "busy"
    with locked(folder, "--run-dir"), pytest.raises(FolderBusy) as err:
        train_design(design(libs), run_dir=folder)
    assert str(err.value).startswith(f"{folder}: in use by another cimest process")
    assert "--run-dir" in str(err.value)


def test_a_leftover_lock_file_and_stray_temporary_files_do_not_stay(libs, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / ".lock").write_text("pid 999999999\n")  # left by a killed process
    strays = [folder / ".checkpoint.npz.a1b2c3d4.tmp", folder / ".result.json.zz_9xy01.tmp"]
    for f in strays:
        f.write_bytes(b"half a file")
    keep = [folder / "notes.txt", folder / ".mine.tmp"]  # not cimest's
    for f in keep:
        f.write_text("mine")
    train_design(design(libs), run_dir=folder)
    assert not any(f.exists() for f in strays)
    assert all(f.exists() for f in keep)
    assert (folder / "result.json").exists()


def test_files_of_a_run_without_run_json_are_not_trusted(libs, tmp_path):
    d = design(libs)
    folder = tmp_path / "old"
    train(d.graph, d.libraries, run_dir=folder)  # the engine alone writes no run.json
    assert (folder / checkpoint.FILE).exists() and not (folder / runs.RUN_FILE).exists()
    with pytest.raises(CheckpointError, match="holds checkpoint.npz of a run without run.json"):
        measured_estimate(d, run_dir=folder)


def test_a_checkpoint_of_another_run_is_refused_by_the_engine_too(libs, tmp_path):
    d = design(libs)
    train(d.graph, d.libraries, run_dir=tmp_path)
    edit(libs / "toy_cells.yaml", "endurance_cycles: 1.0e6}", "endurance_cycles: 2.0e6}")
    d2 = design(libs)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        train(d2.graph, d2.libraries, run_dir=tmp_path, resume=True)


def test_the_run_record_names_the_run(libs, tmp_path):
    d = design(libs)
    train_design(d, seed=3, run_dir=tmp_path / "mine")
    saved = json.loads((tmp_path / "mine" / runs.RUN_FILE).read_text())
    ident = design_identity(d, 3)
    assert saved["identity"] == ident.digest
    assert saved["record"] == ident.record
    assert saved["record"]["seed"] == 3 and saved["record"]["spec"]["name"] == "bsl-rram-32nm"
