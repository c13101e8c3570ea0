"""Architecture and library files: only regular files are read, with a size cap; sniffing a file
for `cimest validate` reads at most its first megabyte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cimest.api import load_design
from cimest.errors import SpecError
from cimest.spec.yamlio import MAX_FILE_BYTES, looks_like_library, read_text

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_as_an_architecture():
    with pytest.raises(SpecError, match="/dev/zero: is a character device, expected a YAML file"):
        load_design("/dev/zero")
    assert looks_like_library("/dev/zero") is False


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "arch.yaml")
    with pytest.raises(
        SpecError, match="arch.yaml: is a FIFO \\(named pipe\\), expected a YAML file"
    ):
        read_text(tmp_path / "arch.yaml")
    assert looks_like_library(tmp_path / "arch.yaml") is False


def test_a_file_over_the_cap_is_refused(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(
        SpecError, match=f"big.yaml: file is {MAX_FILE_BYTES + 3:,} bytes; the limit is"
    ):
        read_text(f)


def test_sniffing_tells_a_library_from_an_architecture():
    assert looks_like_library(FIXTURES / "libraries" / "toy_cmos.yaml") is True
    assert looks_like_library(FIXTURES / "bsl_toy.yaml") is False
