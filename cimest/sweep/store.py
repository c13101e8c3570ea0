"""The durable result store of a sweep: one folder, JSON Lines plus a manifest.

Room: sweep. Layout of the folder::

    manifest.json        what sweep this is (base file hash, --vary, --sample, --seed, --analytic)
    points.jsonl         one record per finished point, appended and fsync'd one line at a time
    counts/<key>.json    the EventCounts (and accuracy) of each training group, written atomically
    runs/<key>/          the training run folder of each group (checkpoint.npz, result.json)

Why JSON Lines and not SQLite or Parquet: only the coordinating process writes (workers hand
their results back), so the store needs no locking or transactions beyond "a line is there or it
is not"; an append of one line followed by fsync gives exactly that. The file stays readable with
``grep``/``jq``/``pandas.read_json(lines=True)``, diffs cleanly, and needs no new dependency
(Parquet would need pyarrow, and cannot be appended to one row at a time). A line cut short by a
kill (no final newline) is the one expected kind of damage: it is dropped and its point redone.
Any other unreadable line is an error naming the file and line, never silently skipped.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from cimest.errors import CheckpointError, CimestError
from cimest.output import write_atomic, write_json
from cimest.sweep.fastcost import KPI_FIELDS

FORMAT = 1
MANIFEST = "manifest.json"
POINTS = "points.jsonl"
RECORD_FIELDS = ("point_id", "params", *KPI_FIELDS, "training_key", "counts_path")


def _finite(x):
    """JSON has no NaN or infinity: they are stored as null (as in the estimate JSON contract)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


class ResultStore:
    """A sweep's result folder."""

    def __init__(self, folder: str | os.PathLike):
        self.dir = Path(folder)
        self.points_path = self.dir / POINTS
        self.manifest_path = self.dir / MANIFEST

    # --- manifest --------------------------------------------------------------------------

    def manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CheckpointError(
                f"{self.manifest_path}: unreadable sweep manifest ({err}); "
                "delete the folder to start over"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(
                f"{self.manifest_path}: not a cimest sweep manifest of format {FORMAT}"
            )
        return data

    def open(self, identity: dict, info: dict) -> None:
        """Claim the folder for the sweep ``identity``, or check it already belongs to it.

        Raises:
            CheckpointError: the folder holds another sweep (or something that is not a sweep).
        """
        if self.dir.exists() and not self.dir.is_dir():
            raise CimestError(f"{self.dir}: exists and is not a folder")
        old = self.manifest()
        if old is None:
            if self.points_path.exists():
                raise CheckpointError(
                    f"{self.dir}: has {POINTS} but no {MANIFEST}; use another -o DIR or delete it"
                )
            write_json(self.manifest_path, {"format": FORMAT, "identity": identity, **info})
            return
        have = old.get("identity", {})
        if have != identity:
            diff = [k for k in sorted(set(have) | set(identity)) if have.get(k) != identity.get(k)]
            what = {
                "base_sha256": "the base file's contents",
                "vary": "the --vary arguments",
                "sample": "--sample",
                "seed": "--seed",
                "analytic": "--analytic",
                "libraries_sha256": "the device libraries' contents",
            }
            raise CheckpointError(
                f"{self.dir}: holds another sweep (differs in {', '.join(what.get(k, k) for k in diff)}; "
                f"it was started with: {old.get('command', '?')}). Use another -o DIR, or delete "
                "the folder to start over"
            )

    # --- records ---------------------------------------------------------------------------

    def records(self, repair: bool = False) -> dict[str, dict]:
        """Finished points by id. A last line without its newline (a write cut short) is ignored,
        and with ``repair`` cut off the file (only the sweep that writes the store repairs it:
        a reader could otherwise cut a line another process is writing).

        Raises:
            CheckpointError: a line that is not a complete record, naming file and line.
        """
        if not self.points_path.exists():
            return {}
        raw = self.points_path.read_bytes()
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        if torn and repair:
            self._truncate(len(raw) - len(torn))
        out: dict[str, dict] = {}
        for number, line in enumerate(lines, start=1):
            where = f"{self.points_path}:{number}"
            try:
                rec = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                raise CheckpointError(
                    f"{where}: corrupt record ({err}); delete this line to redo the point"
                ) from None
            if not isinstance(rec, dict) or any(f not in rec for f in RECORD_FIELDS):
                missing = [f for f in RECORD_FIELDS if not isinstance(rec, dict) or f not in rec]
                raise CheckpointError(
                    f"{where}: corrupt record (missing {', '.join(missing)}); "
                    "delete this line to redo the point"
                )
            out[rec["point_id"]] = rec
        return out

    def _truncate(self, size: int) -> None:
        with open(self.points_path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def append(self, record: dict) -> None:
        """Add one record durably: one write of one line, then fsync."""
        line = json.dumps(_finite(record), allow_nan=False, separators=(",", ":")) + "\n"
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.points_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    # --- counts of training groups ------------------------------------------------------------

    def counts_rel(self, training_key: str) -> str:
        return f"counts/{training_key}.json"

    def run_dir(self, training_key: str) -> Path:
        return (self.dir / "runs" / training_key).resolve()

    def read_counts(self, training_key: str) -> dict | None:
        path = self.dir / self.counts_rel(training_key)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["counts"]["records"]  # noqa: B018 - shape check
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"{path}: corrupt stored counts ({type(err).__name__}); delete "
                "it to recount this group"
            ) from None
        return data

    def write_counts(self, training_key: str, data: dict) -> str:
        rel = self.counts_rel(training_key)
        write_atomic(self.dir / rel, json.dumps(_finite(data), allow_nan=False, sort_keys=True))
        return rel
