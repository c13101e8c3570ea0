"""Checkpoints: the whole EngineState in one .npz file, written atomically.

Room: engine. The file holds every array (conductances, accumulators, wear, feedback matrices)
and a JSON record (epoch, batch, histories, counts, random-source states, and the run identity
digest of cimest.engine.identity, so a checkpoint is never resumed into another run). Loading
never unpickles anything, and checks the file before it trusts a number in it: every member's
declared size against the bytes it really has before anything is allocated, every count and
length of the record against the arrays present before any loop, so a damaged or hand-edited
file is "corrupt" with what is wrong, never a crash, a hang or a huge allocation.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import zipfile
from pathlib import Path

import numpy as np

from cimest.counts import EventCounts
from cimest.engine.peripherals import rng_from_state
from cimest.engine.state import EngineState, LayerState
from cimest.errors import CheckpointError
from cimest.output import write_atomic

FILE = "checkpoint.npz"
FORMAT = 3  # 2: programmed-device tally; 3: run identity digest instead of the spec fingerprint,
# float accuracy history, counts with their activity
RECORD = "meta"
#: Members of a checkpoint: a few arrays per layer; far more means the file is not one.
MAX_MEMBERS = 10_000


def save(run_dir: str | os.PathLike, state: EngineState, identity: str) -> Path:
    """Write the state to ``run_dir/checkpoint.npz`` (temporary file, then rename).

    Args:
        identity: the run identity digest (``RunIdentity.digest``) the state belongs to.
    """
    arrays: dict[str, np.ndarray] = {}
    for i, ls in enumerate(state.layers):
        for name, arr in ls.arrays().items():
            arrays[f"layer{i}.{name}"] = arr
    for i, fb in enumerate(state.feedback):
        arrays[f"feedback{i}"] = fb
    samplers: dict[str, dict] = {}
    shared: dict[int, str] = {}
    for site, src in state.samplers.items():
        if id(src) in shared:
            samplers[site] = {"same_as": shared[id(src)]}
        else:
            shared[id(src)] = site
            samplers[site] = src.state()
    meta = {
        "format": FORMAT,
        "identity": identity,
        "epoch": state.epoch,
        "batch": state.batch,
        "accuracy_history": state.accuracy_history,
        "accuracy_float_history": state.accuracy_float_history,
        "loss_history": state.loss_history,
        "counts_per_epoch": [c.to_dict() for c in state.counts_per_epoch],
        "epoch_counts": state.epoch_counts.to_dict() if state.epoch_counts is not None else None,
        "epoch_loss_sum": state.epoch_loss_sum,
        "epoch_samples": state.epoch_samples,
        "programmed": state.programmed,
        "samplers": samplers,
        "device_rng": state.device_rng.bit_generator.state,
        "n_layers": len(state.layers),
        "n_feedback": len(state.feedback),
    }
    arrays[RECORD] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = Path(run_dir) / FILE
    write_atomic(path, buf.getvalue())
    return path


def _corrupt(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: corrupt checkpoint ({what}); delete it to start over")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the .npz file, each member's header checked before its data is read.

    Raises:
        CheckpointError: not a zip of plain .npy arrays, or a member declares more data than the
            file holds (a forged shape would otherwise make numpy allocate it first).
    """
    if path.is_dir() or (path.exists() and not path.is_file()):
        raise _corrupt(path, "not a regular file")
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as raw, zipfile.ZipFile(raw) as z:
            file_bytes = os.fstat(raw.fileno()).st_size
            members = z.infolist()
            if len(members) > MAX_MEMBERS:
                raise _corrupt(path, f"{len(members):,} members")
            for info in members:
                name = info.filename.removesuffix(".npy")
                if not info.filename.endswith(".npy") or info.is_dir() or name in out:
                    raise _corrupt(path, f"unexpected member {info.filename[:80]!r}")
                if info.compress_type != zipfile.ZIP_STORED:
                    # Why: a stored member's declared size is bounded by the file's; a compressed
                    # one could expand to anything. cimest writes checkpoints uncompressed.
                    raise _corrupt(path, f"member {name[:80]} is compressed")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        header = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
                    elif version == (2, 0):
                        header = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
                    else:
                        raise _corrupt(path, f"member {name[:80]}: .npy version {version}")
                    shape, fortran, dtype = header
                    if dtype.hasobject or dtype.kind not in "biuf":
                        raise _corrupt(path, f"member {name[:80]} holds {dtype} data")
                    n_bytes = math.prod(shape) * dtype.itemsize
                    if n_bytes > min(info.file_size, info.compress_size, file_bytes):
                        raise _corrupt(
                            path,
                            f"member {name[:80]} declares shape {shape}, "
                            f"larger than its {info.file_size:,} bytes",
                        )
                    arr = np.empty(math.prod(shape), dtype=dtype)
                    got = f.readinto(arr.view(np.uint8))
                    # Why read on: the zip's CRC is checked at the member's end; a flipped bit
                    # in the data is found there, and trailing bytes mean a wrong header.
                    if got != n_bytes or f.read(1):
                        raise _corrupt(path, f"member {name[:80]} does not hold its declared shape")
                out[name] = arr.reshape(shape, order="F" if fortran else "C")
    except CheckpointError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        zipfile.BadZipFile,
        EOFError,
        NotImplementedError,
        OverflowError,
        RuntimeError,
    ) as err:
        # Why this many: zipfile and numpy's header parser each raise several kinds on damage
        # (bad CRC: BadZipFile; bad header: ValueError; odd zip features: NotImplementedError).
        raise _corrupt(path, f"{type(err).__name__}: {str(err)[:120]}") from None
    return out


def _whole(x, lo: int = 0) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= lo


def _finite_list(x, n: int) -> bool:
    return (
        isinstance(x, list)
        and len(x) == n
        and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in x
        )
    )


def _record_problem(meta: dict, arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with the record's numbers, checked against the arrays present (the bounds
    every later loop relies on), or None."""
    n_layers, n_feedback = meta.get("n_layers"), meta.get("n_feedback")
    layer_ids = {k.split(".", 1)[0] for k in arrays if k.startswith("layer")}
    feedback_ids = {k for k in arrays if k.startswith("feedback")}
    # Why compare the numbers first: building the set of names of 10^9 layers would hang.
    if (
        not _whole(n_layers)
        or n_layers != len(layer_ids)
        or layer_ids != {f"layer{i}" for i in range(n_layers)}
    ):
        return f"n_layers {n_layers!r} but arrays of {len(layer_ids)} layers"
    if (
        not _whole(n_feedback)
        or n_feedback != len(feedback_ids)
        or feedback_ids != {f"feedback{i}" for i in range(n_feedback)}
    ):
        return f"n_feedback {n_feedback!r} but {len(feedback_ids)} feedback arrays"
    epoch, batch = meta.get("epoch"), meta.get("batch")
    if not _whole(epoch) or not _whole(batch):
        return f"epoch {epoch!r}, batch {batch!r}"
    for field in ("accuracy_history", "accuracy_float_history", "loss_history"):
        if not _finite_list(meta.get(field), epoch):
            return f"{field} is not {epoch} finite numbers"
    if not isinstance(meta.get("counts_per_epoch"), list) or len(meta["counts_per_epoch"]) != epoch:
        return f"counts_per_epoch is not {epoch} records"
    if meta.get("epoch_counts") is not None and not isinstance(meta["epoch_counts"], dict):
        return "epoch_counts is not a record"
    loss_sum = meta.get("epoch_loss_sum")
    if (
        not isinstance(loss_sum, numbers.Real)
        or isinstance(loss_sum, bool)
        or not math.isfinite(loss_sum)
    ):
        return f"epoch_loss_sum {loss_sum!r}"
    if not _whole(meta.get("epoch_samples")):
        return f"epoch_samples {meta.get('epoch_samples')!r}"
    programmed = meta.get("programmed")
    if not isinstance(programmed, dict) or not all(_whole(v) for v in programmed.values()):
        return "programmed is not a count per layer"
    samplers = meta.get("samplers")
    if not isinstance(samplers, dict) or not all(isinstance(v, dict) for v in samplers.values()):
        return "samplers is not a state per site"
    for site, st in samplers.items():
        if "same_as" in st:
            target = samplers.get(st["same_as"]) if isinstance(st["same_as"], str) else None
            if target is None or "same_as" in target:
                return (
                    f"random source {site} refers to {str(st['same_as'])[:40]!r}, no random source"
                )
    if not isinstance(meta.get("device_rng"), dict):
        return "device_rng is not a generator state"
    return None


def load(run_dir: str | os.PathLike, identity: str) -> EngineState | None:
    """The checkpointed state of ``run_dir``, or None if there is none yet.

    Args:
        identity: the digest of the run being resumed; a checkpoint of another run is refused.

    Raises:
        CheckpointError: the file is corrupt (naming what is wrong), or belongs to another run.
    """
    path = Path(run_dir) / FILE
    if not path.exists() and not path.is_symlink():
        return None
    data = _read_arrays(path)
    if RECORD not in data:
        raise _corrupt(path, "no record")
    try:
        meta = json.loads(data.pop(RECORD).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise _corrupt(path, f"record: {type(err).__name__}") from None
    if not isinstance(meta, dict):
        raise _corrupt(path, "the record is not a mapping")
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: written by another cimest version (checkpoint format {meta.get('format')!r}; "
            f"this one reads {FORMAT}); delete it to start over"
        )
    if meta.get("identity") != identity:
        raise CheckpointError(
            f"{path}: this checkpoint belongs to another run (identity {str(meta.get('identity'))[:20]}, "
            f"this one is {identity}: another architecture, seed, library entry or dataset); use "
            "another --run-dir or delete it"
        )
    problem = _record_problem(meta, data)
    if problem is not None:
        raise _corrupt(path, problem)
    try:
        layers = []
        for i in range(meta["n_layers"]):
            prefix = f"layer{i}."
            ls = LayerState(
                **{
                    k[len(prefix) :]: np.ascontiguousarray(v)
                    for k, v in data.items()
                    if k.startswith(prefix)
                }
            )
            layers.append(ls)
        feedback = [np.ascontiguousarray(data[f"feedback{i}"]) for i in range(meta["n_feedback"])]
        samplers: dict = {}
        for site, st in meta["samplers"].items():
            if "same_as" not in st:
                samplers[site] = rng_from_state(st)
        for site, st in meta["samplers"].items():
            if "same_as" in st:
                samplers[site] = samplers[st["same_as"]]
        samplers = {site: samplers[site] for site in meta["samplers"]}
        device_rng = np.random.Generator(np.random.PCG64())
        device_rng.bit_generator.state = meta["device_rng"]
        return EngineState(
            epoch=int(meta["epoch"]),
            batch=int(meta["batch"]),
            layers=layers,
            feedback=feedback,
            samplers=samplers,
            device_rng=device_rng,
            accuracy_history=[float(a) for a in meta["accuracy_history"]],
            accuracy_float_history=[float(a) for a in meta["accuracy_float_history"]],
            loss_history=[float(v) for v in meta["loss_history"]],
            counts_per_epoch=[EventCounts.from_dict(c) for c in meta["counts_per_epoch"]],
            epoch_counts=EventCounts.from_dict(meta["epoch_counts"])
            if meta["epoch_counts"]
            else None,
            epoch_loss_sum=float(meta["epoch_loss_sum"]),
            epoch_samples=int(meta["epoch_samples"]),
            programmed={str(k): int(v) for k, v in meta["programmed"].items()},
        )
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        RecursionError,
    ) as err:
        raise _corrupt(path, f"{type(err).__name__}: {str(err)[:120]}") from None


def check_like(
    state: EngineState, fresh: EngineState, run_dir: str | os.PathLike, acc_bits: int | None = None
) -> None:
    """Refuse a checkpoint whose arrays or random sources are not those of the design's own state
    (``fresh``, a newly initialised one), or whose accumulators lie outside their ``acc_bits``
    range: a hand-edited or forged file that the identity cannot catch would otherwise fail deep
    inside the engine, or be silently clipped.

    Raises:
        CheckpointError: naming the first array or random source that differs.
    """
    path = Path(run_dir) / FILE
    bad = None
    if state.epoch < 0 or state.batch < 0:
        bad = f"epoch {state.epoch}, batch {state.batch}"
    elif len(state.layers) != len(fresh.layers) or len(state.feedback) != len(fresh.feedback):
        bad = f"{len(state.layers)} layers and {len(state.feedback)} feedback arrays"
    else:
        pairs = [
            (f"feedback{i}", a, b)
            for i, (a, b) in enumerate(zip(state.feedback, fresh.feedback, strict=True))
        ]
        for i, (got, want) in enumerate(zip(state.layers, fresh.layers, strict=True)):
            pairs += [(f"layer{i}.{k}", getattr(got, k), v) for k, v in want.__dict__.items()]
        for name, a, b in pairs:
            if (a is None) != (b is None) or (
                b is not None and (a.shape != b.shape or a.dtype != b.dtype)
            ):
                shape = "absent" if a is None else f"{a.dtype}{list(a.shape)}"
                want_shape = "absent" if b is None else f"{b.dtype}{list(b.shape)}"
                bad = f"{name} is {shape}, the design needs {want_shape}"
                break
        if bad is None and acc_bits:  # 0: no gradient memory (online SGD), nothing to bound
            lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
            for i, ls in enumerate(state.layers):
                if (
                    ls.acc is not None
                    and ls.acc.size
                    and (int(ls.acc.min()) < lo or int(ls.acc.max()) > hi)
                ):
                    bad = f"layer{i}.acc holds values outside the {acc_bits}-bit range [{lo}, {hi}]"
                    break
        if bad is None:
            bad = _sampler_difference(state.samplers, fresh.samplers)
    if bad is not None:
        raise CheckpointError(
            f"{path}: checkpoint does not fit this design ({bad}); delete it to start over"
        )


def _sampler_difference(got: dict, want: dict) -> str | None:
    """The first random source whose kind, width or lanes differ from the design's, or None."""
    if set(got) != set(want):
        return f"random sources {sorted(got)[:6]}, the design has {sorted(want)[:6]}"
    for site, w in want.items():
        g = got[site]
        shape = [
            (type(s).__name__, getattr(s, "bits_per_draw", None), getattr(s, "n_lanes", None))
            for s in (g, w)
        ]
        if shape[0] != shape[1]:
            return f"random source {site} is {shape[0]}, the design needs {shape[1]}"
        sharing = [sorted(k for k, v in d.items() if v is d[site]) for d in (got, want)]
        if sharing[0] != sharing[1]:
            return f"random source {site} is shared by {sharing[0]}, the design's by {sharing[1]}"
    return None
