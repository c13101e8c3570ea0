"""The durable result store of a sweep: one folder, JSON Lines plus a manifest.

Room: sweep. Layout of the folder::

    manifest.json        what sweep this is (base file hash, --vary, --sample, --seed, --analytic)
    points.jsonl         one record per finished point, appended and fsync'd one line at a time
    counts/<key>.json    the EventCounts (and accuracy) of each training group, written atomically
    runs/<key>/          the training run folder of each group (checkpoint.npz, result.json)

Why JSON Lines and not SQLite or Parquet: only the coordinating process writes (workers hand
their results back), and only one sweep at a time writes a folder (``run_sweep`` holds the
folder's advisory lock, cimest.folders), so the store needs no transactions beyond "a line is
there or it is not"; an append of one line followed by fsync gives exactly that. The file stays
readable with ``grep``/``jq``/``pandas.read_json(lines=True)``, diffs cleanly, and needs no new
dependency (Parquet would need pyarrow, and cannot be appended to one row at a time). A line cut
short by a kill (no final newline) is the one expected kind of damage: it is dropped and its point
redone. Any other damage is an error naming the file and line, never silently skipped: every
record, stored count file and the manifest end with a ``"check"`` field, the sha256 of the line's
own bytes before it, so even a flipped digit inside a number is caught.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from cimest.counts import EventCounts
from cimest.errors import CheckpointError, CimestError
from cimest.output import write_atomic
from cimest.sweep.fastcost import KPI_FIELDS

FORMAT = 2  # 2: a checksum on every record, count file and manifest
MANIFEST = "manifest.json"
POINTS = "points.jsonl"
COUNTS = "counts"
RECORD_FIELDS = ("point_id", "params", *KPI_FIELDS, "training_key", "counts_path")
CHECK = "check"
_MARK = f',"{CHECK}":"'
MAX_MANIFEST_BYTES = 10 << 20
MAX_POINTS_BYTES = 1 << 30  # 100,000 points of about 1 kB each, with room to spare
MAX_COUNTS_BYTES = 64 << 20


def _finite(x):
    """JSON has no NaN or infinity: they are stored as null (as in the estimate JSON contract)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def seal(obj) -> str:
    """One line of compact JSON whose last field ``check`` is the sha256 of the bytes before it."""
    body = json.dumps(_finite(obj), allow_nan=False, separators=(",", ":"))
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return body[:-1] + ("," if len(body) > 2 else "") + f'"{CHECK}":"{digest}"}}'


def unseal(text: str):
    """The object of a ``seal``ed line.

    Raises:
        ValueError: not JSON, no checksum, or a checksum that does not match (the reason).
    """
    i = text.rfind(_MARK)
    if i < 0 and text.startswith(_MARK.replace(",", "{", 1)):  # the seal of an empty record
        i = 0
    if i < 0 or not text.endswith('"}'):
        raise ValueError("no checksum")
    body = text[:i] + "}" if i else "{}"
    digest = text[i + len(_MARK) : -2]
    if hashlib.sha256(body.encode("utf-8")).hexdigest()[:16] != digest:
        raise ValueError("checksum mismatch: changed after it was written")
    return json.loads(body)


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a store file: a regular file (a FIFO is refused, not waited on), capped."""
    from cimest.errors import InputFileError
    from cimest.inputs import read_bytes

    try:
        return read_bytes(path, limit, "a sweep store file")
    except InputFileError as err:
        raise CheckpointError(f"{path}: corrupt sweep store ({err.reason})") from None


def _record_problem(rec) -> str | None:
    """What is wrong with a record's fields (beyond its checksum), or None."""
    if not isinstance(rec, dict):
        return "not a mapping"
    missing = [f for f in RECORD_FIELDS if f not in rec]
    if missing:
        return f"missing {', '.join(missing)}"
    for f in ("point_id", "training_key", "counts_path", "name", "counts_source"):
        if not isinstance(rec[f], str):
            return f"{f} is not text"
    if not isinstance(rec["params"], dict):
        return "params is not a mapping"
    for f in KPI_FIELDS:
        v = rec[f]
        if (
            f not in ("name", "counts_source")
            and v is not None
            and (isinstance(v, bool) or not isinstance(v, int | float))
        ):
            return f"{f} is not a number"
    return None


class ResultStore:
    """A sweep's result folder."""

    def __init__(self, folder: str | os.PathLike):
        self.dir = Path(folder)
        self.points_path = self.dir / POINTS
        self.manifest_path = self.dir / MANIFEST

    # --- manifest --------------------------------------------------------------------------

    def manifest(self) -> dict | None:
        """The manifest, None if the folder has none.

        Raises:
            CheckpointError: corrupt, or of another store format.
        """
        if not self.manifest_path.exists():
            return None
        try:
            text = _read_bounded(self.manifest_path, MAX_MANIFEST_BYTES).decode("utf-8")
            data = json.loads(text)
        except (OSError, ValueError, RecursionError) as err:
            raise CheckpointError(
                f"{self.manifest_path}: corrupt sweep manifest ({type(err).__name__}); "
                "delete the folder to start over"
            ) from None
        if isinstance(data, dict) and data.get("format") != FORMAT:
            raise CheckpointError(
                f"{self.manifest_path}: written by another cimest version (sweep store format "
                f"{str(data.get('format'))[:20]}; this one reads {FORMAT}); use another -o DIR, "
                "or delete the folder to start over"
            )
        try:
            data = unseal(text.strip())
        except (ValueError, RecursionError) as err:
            raise CheckpointError(
                f"{self.manifest_path}: corrupt sweep manifest ({err}); delete the folder to "
                "start over"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("identity"), dict):
            raise CheckpointError(
                f"{self.manifest_path}: corrupt sweep manifest (no identity); delete the "
                "folder to start over"
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
            write_atomic(
                self.manifest_path, seal({"format": FORMAT, "identity": identity, **info}) + "\n"
            )
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
                "data_sha256": "the dataset files' contents",
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
        raw = _read_bounded(self.points_path, MAX_POINTS_BYTES)
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        if torn and repair:
            self._truncate(len(raw) - len(torn))
        out: dict[str, dict] = {}
        for number, line in enumerate(lines, start=1):
            where = f"{self.points_path}:{number}"
            try:
                rec = unseal(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as err:
                raise CheckpointError(
                    f"{where}: corrupt record ({err}); delete this line to redo the point"
                ) from None
            problem = _record_problem(rec)
            if problem is not None:
                raise CheckpointError(
                    f"{where}: corrupt record ({problem}); delete this line to redo the point"
                )
            if rec["point_id"] in out:
                raise CheckpointError(
                    f"{where}: corrupt store (point {rec['point_id']} recorded twice); delete "
                    "one of its lines"
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
        line = seal(record) + "\n"
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.points_path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            # Why a user error: a full disk or a file-size limit is the machine's state, not a bug;
            # a torn last line is dropped when the store is read again, the earlier records stay
            raise CimestError(
                f"{self.points_path}: cannot append a record: {err.strerror or err}; the earlier "
                "records are kept, and the same command resumes once there is room"
            ) from None

    # --- counts of training groups ------------------------------------------------------------

    def counts_rel(self, training_key: str) -> str:
        return f"{COUNTS}/{training_key}.json"

    def run_dir(self, training_key: str) -> Path:
        return (self.dir / "runs" / training_key).resolve()

    def read_counts(self, training_key: str) -> dict | None:
        """The stored counts of a training group, None if not stored yet.

        Raises:
            CheckpointError: the file is corrupt (naming what is wrong) or of another group.
        """
        path = self.dir / self.counts_rel(training_key)
        if not path.exists():
            return None
        try:
            data = unseal(_read_bounded(path, MAX_COUNTS_BYTES).decode("utf-8"))
            if not isinstance(data, dict) or data.get("training_key") != training_key:
                raise ValueError("stored for another training group")
            EventCounts.from_dict(data["counts"])
            acc = data["accuracy"]
            if acc is not None and (isinstance(acc, bool) or not isinstance(acc, int | float)):
                raise ValueError(f"accuracy {acc!r}")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, RecursionError) as err:
            raise CheckpointError(
                f"{path}: corrupt stored counts ({err}); delete it to recount this group"
            ) from None
        return data

    def write_counts(self, training_key: str, data: dict) -> str:
        rel = self.counts_rel(training_key)
        write_atomic(self.dir / rel, seal({**data, "training_key": training_key}))
        return rel
