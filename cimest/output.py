"""Writing output files safely: a locked temporary file in the target's folder, then a rename.

Leaf module. Every file cimest writes goes through ``write_atomic``:

- An interrupted or failed write leaves the old file or the new one, never half of one; a full
  disk or a file-size limit is a user error ("no space left writing PATH") and leaves the old
  file as it was.
- Only regular files are written. An existing path that is a directory, a device (/dev/null), a
  FIFO or a socket is refused; so is a symbolic link into /proc (/dev/stdout, /dev/fd/1).
- A symbolic link to a regular file (or to a file not yet there) is written through: the link
  stays, its target gets the new content.
- Temporary files are named ``.cimest-<random>.tmp`` (short, so any legal file name can be
  written) and locked while in use. A later write into the same folder removes the ones whose
  writer died (kill -9, power loss): unlocked and older than ``STALE_AFTER_S``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import sys
import time
from pathlib import Path
from typing import Any

from cimest.errors import OutputFileError, shown_path
from cimest.inputs import file_kind

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: temporary files are not locked or cleaned
    fcntl = None  # type: ignore[assignment]

TEMP_PREFIX = ".cimest-"
TEMP_SUFFIX = ".tmp"
STALE_AFTER_S = 10.0
"""A temporary file this old and unlocked was left by a writer that died."""
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_MAX_LINKS = 40
_cleaned: set[str] = set()  # folders already cleaned by this process (a folder may hold many files)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsync, then rename over the old file).

    Text is written as UTF-8; characters UTF-8 cannot hold (the lone surrogates of a file name
    that is not UTF-8) are written as backslash escapes.

    Raises:
        OutputFileError: the path is not a regular file, its folder cannot be made, or the write
            failed (no space left, file-size limit, permission, read-only file system ...).
    """
    shown = shown_path(path)
    target = _target(Path(path), shown)
    _make_folder(target.parent, shown)
    _clean_stale_temporaries(target.parent)
    payload = data if isinstance(data, bytes) else data.encode("utf-8", "backslashreplace")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        existed = True
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode, existed = 0o666 & ~umask, False
    fd, tmp = _create_temporary(target.parent, shown)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.fchmod(
            fd, mode
        )  # mkstemp-like files are 0600; keep the old file's mode, or the usual one
        _refuse_special(target, shown)  # again: the path may have become a FIFO meanwhile
        os.replace(tmp, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputFileError(_write_failure(shown, err, existed)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)  # also releases the lock
    _sync_folder(target.parent)


def _write_failure(shown: str, err: OSError, existed: bool) -> str:
    kept = "the old file is unchanged" if existed else "nothing was written"
    if err.errno in _NO_SPACE:
        return f"no space left writing {shown} ({err.strerror}); {kept}"
    if err.errno == errno.ENAMETOOLONG:
        return f"{shown}: cannot write: file name or path too long"
    return f"{shown}: cannot write: {_reason(err)}; {kept}"


def _reason(err: OSError) -> str:
    return {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.EISDIR: "is a directory",
    }.get(err.errno, (err.strerror or type(err).__name__).lower())


def _name_too_long(path: Path, shown: str) -> OutputFileError:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    name_bytes = len(os.fsencode(path.name))
    if name_bytes > name_max:
        return OutputFileError(
            f"{shown}: file name is {name_bytes:,} bytes; the limit is {name_max:,}"
        )
    try:
        path_max = os.pathconf(folder if folder.exists() else ".", "PC_PATH_MAX")
    except (OSError, ValueError):
        path_max = 4096
    return OutputFileError(
        f"{shown}: path is {len(os.fsencode(path)):,} bytes; the limit is {path_max:,}"
    )


def _lstat(path: Path, shown: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:
            raise _name_too_long(path, shown) from None
        raise OutputFileError(f"{shown}: cannot write: {_reason(err)}") from None


def _refuse_special(path: Path, shown: str) -> None:
    st = _lstat(path, shown)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputFileError(
            f"{shown}: is {file_kind(st.st_mode)}, expected a file path "
            "(cimest writes only regular files)"
        )


def _in_proc(path: Path) -> bool:
    folder = os.path.realpath(path.parent if str(path.parent) else ".")
    return folder == "/proc" or folder.startswith("/proc/")


def _target(path: Path, shown: str) -> Path:
    """The regular file to replace: ``path``, or the end of its chain of symbolic links."""
    if not str(path) or path.name in ("", ".", ".."):
        raise OutputFileError(f"{shown}: expected a file path")
    st = _lstat(path, shown)
    if st is None or stat.S_ISREG(st.st_mode):
        return path
    if not stat.S_ISLNK(st.st_mode):
        _refuse_special(path, shown)
    current = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        link = os.readlink(current)
        nxt = Path(os.path.normpath(current.parent / link))
        if _in_proc(current) or _in_proc(nxt):  # /dev/stdout, /dev/fd/1: the process's own files
            raise OutputFileError(
                f"{shown}: is a link to {link}, a special file; cimest writes "
                "only regular files (redirect the printed output with > instead)"
            )
        current = nxt
        st = _lstat(current, shown)
        if st is None:
            return Path(os.path.realpath(current))  # a link to a file not yet there: create it
        if not stat.S_ISLNK(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                raise OutputFileError(
                    f"{shown}: is a link to {shown_path(current)}, which is "
                    f"{file_kind(st.st_mode)}; cimest writes only regular files"
                )
            return Path(os.path.realpath(current))
    raise OutputFileError(f"{shown}: cannot write: too many levels of symbolic links")


def _make_folder(folder: Path, shown: str) -> None:
    if not str(folder) or folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFileError(
            f"{shown}: cannot create folder {shown_path(folder)}: {_reason(err)}"
        ) from None


def _create_temporary(folder: Path, shown: str) -> tuple[int, str]:
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    for _ in range(100):
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno in _NO_SPACE:
                raise OutputFileError(f"no space left writing {shown} ({err.strerror})") from None
            raise OutputFileError(f"{shown}: cannot write: {_reason(err)}") from None
        if fcntl is not None:
            with contextlib.suppress(OSError):  # a file system without locks: write unlocked
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, tmp
    raise OutputFileError(
        f"{shown}: cannot write: no free temporary file name in {shown_path(folder)}"
    )


def _clean_stale_temporaries(folder: Path) -> None:
    """Remove temporary files of dead writers from ``folder`` (once per folder and process)."""
    key = os.path.abspath(folder)
    if fcntl is None or key in _cleaned:
        return
    _cleaned.add(key)
    now = time.time()
    try:
        entries = [
            e
            for e in os.scandir(folder)
            if e.name.startswith(TEMP_PREFIX) and e.name.endswith(TEMP_SUFFIX)
        ]
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < STALE_AFTER_S:
                continue
            fd = os.open(
                entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its writer lives
                if os.fstat(fd).st_ino == st.st_ino:
                    os.unlink(entry.path)
            finally:
                os.close(fd)


def _sync_folder(folder: Path) -> None:
    """fsync the folder so the rename itself survives a power loss (where the OS allows it)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_console_safe() -> None:
    """Let ``sys.stdout`` and ``sys.stderr`` print any text.

    Characters the console's encoding cannot show ("mm²" under an ASCII-only locale such as
    ``LC_ALL=C`` with ``PYTHONUTF8=0``, the lone surrogates of a file name that is not UTF-8) are
    printed as backslash escapes instead of raising UnicodeEncodeError. The command line calls
    this once at start; the library itself never prints.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any) -> str:
    """JSON text; NaN and infinities become null (JSON has no such numbers)."""
    return json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False) + "\n"


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if x == x and x not in (float("inf"), float("-inf")) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_atomic(path, to_json(data))
