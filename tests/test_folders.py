"""cimest.folders: the advisory lock of a folder, and the clean-up of killed atomic writes."""

from __future__ import annotations

import os

import pytest

from cimest.errors import CimestError
from cimest.folders import FolderBusy, clean_stray_temps, locked
from cimest.output import write_atomic


def test_a_held_lock_refuses_a_second_holder_and_is_released_after(tmp_path):
    folder = tmp_path / "f"
    with locked(folder, "-o DIR"):
        with pytest.raises(
            FolderBusy,
            match=rf"^{folder}: in use by another cimest process "
            rf"\(pid {os.getpid()}\); .* another -o DIR$",
        ):
            with locked(folder, "-o DIR"):
                pass
    with locked(folder, "-o DIR"):  # released
        pass


def test_a_file_where_the_folder_should_be_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with (
        pytest.raises(CimestError, match="exists and is not a folder"),
        locked(tmp_path / "f", "-o"),
    ):
        pass


def test_only_the_temporary_files_of_atomic_writes_are_removed(tmp_path):
    write_atomic(tmp_path / "result.json", "{}")  # a real one leaves no temporary file behind
    made = [tmp_path / ".result.json.abcd_123.tmp", tmp_path / ".run.json.ZZZZZZZZ.tmp"]
    kept = [
        tmp_path / "result.json",
        tmp_path / ".result.json.tmp",
        tmp_path / "a.b.abcd1234.tmp",
        tmp_path / ".result.json.abcd12345.tmp",
    ]
    for f in made + kept[1:]:
        f.write_text("x")
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()  # not a file: left alone
    assert sorted(clean_stray_temps(tmp_path, {"result.json"})) == [made[0]]
    assert sorted(clean_stray_temps(tmp_path)) == [made[1]]
    assert all(f.exists() for f in kept) and (tmp_path / ".dir.abcdefgh.tmp").is_dir()
    assert clean_stray_temps(tmp_path / "missing") == []


def test_the_pattern_matches_what_write_atomic_makes(tmp_path, monkeypatch):
    import cimest.output as output

    seen = []
    real = output._create_temporary

    def spy(*a, **kw):
        fd, name = real(*a, **kw)
        seen.append(name)
        return fd, name

    monkeypatch.setattr(output, "_create_temporary", spy)

    def fail(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    from cimest.errors import CimestError

    with pytest.raises(CimestError):  # a failed write is the user's "cannot write" message
        write_atomic(tmp_path / "checkpoint.npz", b"x")
    # write_atomic removes its own file on failure; a kill would not: recreate it as a kill would
    (tmp_path / os.path.basename(seen[0])).write_bytes(b"x")
    assert [p.name for p in clean_stray_temps(tmp_path, {"checkpoint.npz"})] == [
        os.path.basename(seen[0])
    ]
