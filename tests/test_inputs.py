"""cimest.inputs: input files are regular files, read with a size cap, refused before reading."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from cimest.errors import InputFileError
from cimest.inputs import open_regular, read_bytes


def test_a_regular_file_is_read(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_bytes(b"name: x\n")
    assert read_bytes(f, 100) == b"name: x\n"


def test_a_file_at_the_cap_is_read_and_one_byte_more_is_refused(tmp_path):
    f = tmp_path / "a.csv"
    f.write_bytes(b"x" * 100)
    assert len(read_bytes(f, 100)) == 100
    f.write_bytes(b"x" * 101)
    with pytest.raises(InputFileError, match="a.csv: file is 101 bytes; the limit is 100"):
        read_bytes(f, 100)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_before_reading():
    with pytest.raises(
        InputFileError, match="/dev/zero: is a character device, expected a YAML file"
    ):
        read_bytes("/dev/zero", 1_000_000, "a YAML file")


def test_a_fifo_without_writer_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "arch.yaml"
    os.mkfifo(fifo)
    result: list = []

    def attempt() -> None:
        try:
            read_bytes(fifo, 1000, "a YAML file")
        except InputFileError as err:
            result.append(str(err))

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():  # unblock the thread so the test run can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("opening a FIFO without a writer blocked")
    assert result and result[0].endswith("is a FIFO (named pipe), expected a YAML file")


def test_a_directory_and_a_socket_are_refused(tmp_path):
    with pytest.raises(InputFileError, match="is a directory, expected a CSV file"):
        read_bytes(tmp_path, 1000, "a CSV file")
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(InputFileError, match="s: not a regular file|s: is a socket"):
            read_bytes(path, 1000)


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "arch.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputFileError, match="is a character device"):
        open_regular(link, 1000)


def test_missing_file_and_its_reason(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_bytes(tmp_path / "nope.yaml", 1000)
    assert err.value.reason == "no such file"
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_a_very_long_path_is_shortened_in_the_message(tmp_path):
    long = tmp_path / ("d" * 200) / ("d" * 200) / "x.yaml"
    with pytest.raises(InputFileError) as err:
        read_bytes(long, 1000)
    text = str(err.value)
    assert "..." in text and len(text) < 300 and text.endswith("no such file")
