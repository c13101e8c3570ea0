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
