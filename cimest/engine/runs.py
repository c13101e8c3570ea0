"""Run folders: one training run's files, the run they belong to, and who may write them.

Room: engine. A run folder holds::

    run.json          the run's identity (digest and readable record, cimest.engine.identity);
                      written first, by the process that claims the folder
    checkpoint.npz    the state after the last finished epoch (cimest.engine.checkpoint)
    result.json       the finished run: TrainResult.to_dict() plus its ``run_identity``
    conductances.npz  the final conductances
    .lock             the advisory lock of the process writing the folder (cimest.folders)

Nothing is reused from a folder whose run.json names another identity: such a folder is refused
with both runs named, and so are a run's files without a run.json (an older cimest, a hand-made
folder), since nothing says whose they are. A missing or unreadable result.json only means "not
finished yet": the run continues from its checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cimest.counts import EventCounts
from cimest.engine import checkpoint
from cimest.engine.identity import RunIdentity, describe, differences, digest_of
from cimest.errors import CheckpointError
from cimest.folders import clean_stray_temps, locked
from cimest.output import write_atomic, write_json

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
CONDUCTANCES_FILE = "conductances.npz"
FILES = (RUN_FILE, RESULT_FILE, checkpoint.FILE, CONDUCTANCES_FILE)
RUN_FORMAT = 1
MAX_RUN_BYTES = 1 << 20  # run.json: the architecture and a digest per library entry (a few kB)
MAX_RESULT_BYTES = 256 << 20  # result.json: counts of every epoch (about 10 kB per epoch)


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a run file: a regular file (a FIFO is refused, not waited on), capped."""
    from cimest.errors import InputFileError
    from cimest.inputs import read_bytes

    try:
        return read_bytes(path, limit, "a cimest run file")
    except InputFileError as err:
        raise CheckpointError(f"{path}: {err.reason}; not a cimest run file") from None


def read_run(folder: str | os.PathLike) -> dict | None:
    """The run record of ``folder`` (``{"identity": digest, "record": {...}}``), None if none.

    Raises:
        CheckpointError: run.json exists but is corrupt (naming what is wrong).
    """
    path = Path(folder) / RUN_FILE
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        raise CheckpointError(
            f"{path}: corrupt run record (not a regular file); delete the folder to start over"
        )
    try:
        data = json.loads(_read_bounded(path, MAX_RUN_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise CheckpointError(
            f"{path}: corrupt run record ({type(err).__name__}); delete the folder to start over"
        ) from None
    problem = None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        problem = f"not a run record of format {RUN_FORMAT}"
    elif not isinstance(data.get("record"), dict) or not isinstance(data.get("identity"), str):
        problem = "no identity"
    elif digest_of(data["record"]) != data["identity"]:
        problem = "its record does not match its digest"
    if problem:
        raise CheckpointError(
            f"{path}: corrupt run record ({problem}); delete the folder to start over"
        )
    return data


def check(folder: str | os.PathLike, ident: RunIdentity, flag: str = "--run-dir") -> bool:
    """Whether ``folder`` holds the run ``ident`` (True) or no run at all (False).

    Raises:
        CheckpointError: the folder holds another run (both named, with what differs), files of
            a run without a run.json, or a corrupt run.json.
    """
    folder = Path(folder)
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: exists and is not a folder ({flag})")
    have = read_run(folder)
    if have is None:
        found = [f for f in FILES if (folder / f).exists() or (folder / f).is_symlink()]
        if found:
            raise CheckpointError(
                f"{folder}: holds {', '.join(found)} of a run without {RUN_FILE} (an older cimest, "
                f"or made by hand), so not known to be {ident.describe()}; give another {flag}, "
                "or delete the folder to start over"
            )
        return False
    if have["identity"] == ident.digest:
        return True
    diff = differences(have["record"], ident.record)
    raise CheckpointError(
        f"{folder}: holds the run of {describe(have['record'])} (identity {have['identity']}), "
        f"not of {ident.describe()} (identity {ident.digest}); they differ in "
        f"{', '.join(diff) or 'their identity'}. Give another {flag}, or delete the folder to "
        "start over"
    )


@contextlib.contextmanager
def writing(
    folder: str | os.PathLike, ident: RunIdentity, flag: str = "--run-dir"
) -> Iterator[Path]:
    """Lock ``folder``, clean what killed writes left, and claim it for ``ident`` (or check it is
    already its own) for the ``with`` block.

    Raises:
        FolderBusy: another process is writing the folder.
        CheckpointError: the folder holds another run (see ``check``).
    """
    with locked(folder, flag) as path:
        clean_stray_temps(path, set(FILES))
        if not check(path, ident, flag):
            write_json(
                path / RUN_FILE,
                {"format": RUN_FORMAT, "identity": ident.digest, "record": ident.record},
            )
        yield path


def finished(folder: str | os.PathLike, ident: RunIdentity, epochs: int) -> dict | None:
    """The result record of run ``ident`` finished after ``epochs`` epochs, or None.

    Call ``check`` first: this only reads result.json, and treats one that is missing,
    unreadable, of another identity or of other epochs as "not finished".
    """
    path = Path(folder) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(_read_bounded(path, MAX_RESULT_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("run_identity") != ident.digest
        or data.get("epochs") != epochs
    ):
        return None
    # Why: a hand-edited or damaged result.json is treated like a missing one (the run continues
    # from its checkpoint and rewrites it), never allowed to crash the cost model later.
    try:
        EventCounts.from_dict(data["counts"])
    except (KeyError, ValueError):
        return None
    acc = data.get("accuracy")
    if acc is not None and (
        isinstance(acc, bool) or not isinstance(acc, int | float) or not math.isfinite(acc)
    ):
        return None
    return data


def write_result(folder: str | os.PathLike, ident: RunIdentity, result) -> dict:
    """Write a finished run's result.json (and conductances.npz); return the record written.

    Args:
        result: cimest.engine.train.TrainResult.
    """
    record = {**result.to_dict(), "run_identity": ident.digest}
    write_json(Path(folder) / RESULT_FILE, record)
    if result.conductances:
        buf = io.BytesIO()
        np.savez_compressed(buf, **result.conductances)
        write_atomic(Path(folder) / CONDUCTANCES_FILE, buf.getvalue())
    return record
