"""The sweep store's checksums: any changed character of a stored line is caught."""

from __future__ import annotations

import pytest

from cimest.sweep.store import seal, unseal

RECORD = {
    "point_id": "ab12",
    "params": {"technology.node_nm": 22},
    "energy_per_mac_j": 8.41e-14,
    "accuracy": 0.9055,
    "name": "bsl",
    "note": None,
    "flag": True,
}


def test_a_sealed_line_reads_back_as_written():
    line = seal(RECORD)
    assert "\n" not in line and line.endswith('"}')
    assert unseal(line) == RECORD
    assert unseal(seal({})) == {}


def test_every_one_character_change_is_caught():
    line = seal(RECORD)
    for i, ch in enumerate(line):
        for new in {"0", "1", "9", "x", '"'} - {ch}:
            with pytest.raises(ValueError):
                unseal(line[:i] + new + line[i + 1 :])


def test_a_line_without_a_checksum_is_refused():
    with pytest.raises(ValueError, match="no checksum"):
        unseal('{"point_id": "ab12"}')


def test_a_full_disk_while_appending_is_a_user_error_not_a_bug(tmp_path, monkeypatch):
    """ENOSPC or a file-size limit while a record is appended: a clear message (exit 2)."""
    import builtins
    import errno

    from cimest.errors import CimestError
    from cimest.sweep.store import ResultStore

    store = ResultStore(tmp_path / "sweep")
    real_open = builtins.open

    def full(path, *a, **kw):
        if str(path).endswith("points.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(CimestError, match="points.jsonl: cannot append a record: No space left"):
        store.append({"point_id": "x"})


def test_a_fifo_in_place_of_a_run_file_is_refused_not_waited_on(tmp_path):
    import os

    from cimest.engine.runs import read_run
    from cimest.errors import CheckpointError

    os.mkfifo(tmp_path / "run.json")
    with pytest.raises(
        CheckpointError, match=r"run.json: corrupt run record \(not a regular file\)"
    ):
        read_run(tmp_path)
