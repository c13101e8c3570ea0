"""Reading the user's input files: regular files only, never more than a stated number of bytes.

Leaf module. Every file cimest reads from the user (architectures, device libraries, measured
breakdowns, pulse-response CSVs, IDX datasets) goes through ``open_regular`` or ``read_bytes``:
a device (``/dev/zero``), a FIFO, a socket or a directory is refused before a byte is read (the
open does not block on a FIFO without a writer), and a file above the cap is refused instead of
filling the memory.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from cimest.errors import InputFileError

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # Why: opening a FIFO for reading would wait for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

_REASONS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENXIO: "not a regular file (a socket or a device)",
}


def file_kind(mode: int) -> str:
    """``a directory``, ``a character device`` ... for a stat mode that is not a regular file."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def reason(err: OSError) -> str:
    """A short, lower-case reason for an OSError, without the path (the caller names it)."""
    if err.errno == errno.EISDIR:
        return "is a directory"
    return _REASONS.get(err.errno, (err.strerror or type(err).__name__).lower())


def open_regular(path: str | os.PathLike, max_bytes: int, what: str = "a file") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes`` bytes.

    Args:
        what: what the caller expects, for the message ("a YAML file").

    Raises:
        InputFileError: missing or unreadable, not a regular file, or larger than ``max_bytes``.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        why = reason(err)
        raise InputFileError(
            path, f"{why}, expected {what}" if why.startswith("is ") else why
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(path, f"is {file_kind(st.st_mode)}, expected {what}")
        if st.st_size > max_bytes:
            raise InputFileError(path, f"file is {st.st_size:,} bytes; the limit is {max_bytes:,}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, max_bytes: int, what: str = "a file") -> bytes:
    """The content of the regular file ``path``, refused above ``max_bytes`` bytes.

    Raises:
        InputFileError: as ``open_regular``, or the file grew past the cap while it was read.
    """
    with open_regular(path, max_bytes, what) as f:
        try:
            # Why the file's size and not the cap: read(cap + 1) allocates the whole cap first
            # (a MemoryError under a tight memory limit); a file that grows is still caught
            size = os.fstat(f.fileno()).st_size
            data = f.read(min(size, max_bytes) + 1)
            if len(data) > size and len(data) <= max_bytes:
                data += f.read(max_bytes + 1 - len(data))
        except OSError as err:
            raise InputFileError(path, f"cannot read: {reason(err)}") from None
    if len(data) > max_bytes:
        raise InputFileError(
            path, f"file is more than {max_bytes:,} bytes; the limit is {max_bytes:,}"
        )
    return data
