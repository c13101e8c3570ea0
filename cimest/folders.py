"""Folders one cimest process writes over several files: run folders and sweep stores.

Leaf module (imports only cimest.errors). Two things keep such a folder sound:

- ``locked``: an advisory lock (``fcntl.flock`` on ``FOLDER/.lock``) held while a command writes
  the folder, so two processes never write one folder at once; the second is refused at once with
  a message naming the folder. The kernel releases the lock when its holder ends, even by kill -9,
  so a lock file left behind never blocks anyone: only a live holder does. The file itself is
  never deleted (deleting it would let a third process lock a new file while the second still
  holds the old one).
- ``clean_stray_temps``: removes what an atomic write cut short by a kill leaves (the
  ``.cimest-<hex>.tmp`` files of cimest.output.write_atomic, and the ``.NAME.XXXXXXXX.tmp`` ones of
  earlier versions). Only the lock holder calls it, so no write in progress can be removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cimest.errors import CimestError

LOCK_FILE = ".lock"
# write_atomic's temporary names (".cimest-" + hex + ".tmp"; they do not name their target), and
# those of earlier versions: "." + the target's name + "." + mkstemp's 8 characters + ".tmp"
_TEMP = re.compile(r"^\.cimest-[0-9a-f]+\.tmp$")
_OLD_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


class FolderBusy(CimestError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def locked(folder: str | os.PathLike, flag: str) -> Iterator[Path]:
    """Hold ``folder``'s advisory lock for the ``with`` block (creating the folder if needed).

    Args:
        flag: how the user named the folder (``--run-dir``, ``-o``), for the message.

    Raises:
        FolderBusy: another live process holds the lock.
        CimestError: the folder cannot be created or its lock file opened.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CimestError(f"{folder}: exists and is not a folder ({flag})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise CimestError(f"{folder}: cannot lock the folder: {err.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise FolderBusy(
                f"{folder}: in use by another cimest process{holder}; wait for it to finish, "
                f"or give another {flag}"
            ) from None
        except OSError as err:
            raise CimestError(f"{folder}: cannot lock the folder: {err.strerror}") from None
        with contextlib.suppress(OSError):  # who holds it, for the message of a second process
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        try:
            yield folder
        finally:
            # Why LOCK_UN and not only close: a child forked while the lock was held shares the
            # open file and would otherwise keep the lock after this process lets go.
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" ({text})" if re.fullmatch(r"pid \d+", text) else ""


def clean_stray_temps(folder: str | os.PathLike, names: set[str] | None = None) -> list[Path]:
    """Remove the temporary files of interrupted atomic writes in ``folder`` (not recursive).

    Args:
        names: of the older, target-named temporary files only those of these target file names
            (all when None); the current ones do not name their target and are all removed.

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        old = _OLD_TEMP.match(entry.name)
        if not _TEMP.match(entry.name) and (
            old is None or (names is not None and old["name"] not in names)
        ):
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed
