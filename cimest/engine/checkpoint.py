"""Checkpoints: the whole EngineState in one .npz file, written atomically.

Room: engine. The file holds every array (conductances, accumulators, wear, feedback matrices)
and a JSON record (epoch, batch, histories, counts, random-source states, and a fingerprint of
the architecture and seed, so a checkpoint is never resumed into another run). Loading never
unpickles anything.
"""

from __future__ import annotations

import hashlib
import io
import json
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
FORMAT = 3  # 2: programmed-device tally; 3: float accuracy history, counts with their activity


def fingerprint(setup, seed: int) -> str:
    """Hash of what determines a run: the architecture (minus epochs) and the seed."""
    spec = setup.spec.model_dump(mode="json")
    spec["workload"].pop("epochs", None)
    text = json.dumps({"spec": spec, "seed": seed, "format": FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(run_dir: str | os.PathLike, state: EngineState, setup, seed: int) -> Path:
    """Write the state to ``run_dir/checkpoint.npz`` (temporary file, then rename)."""
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
        "fingerprint": fingerprint(setup, seed),
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
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = Path(run_dir) / FILE
    write_atomic(path, buf.getvalue())
    return path


def load(run_dir: str | os.PathLike, setup, seed: int) -> EngineState | None:
    """The checkpointed state of ``run_dir``, or None if there is none yet.

    Raises:
        CheckpointError: the file is corrupt, or belongs to another architecture or seed.
    """
    path = Path(run_dir) / FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(bytes(data.pop("meta")).decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as err:
        raise CheckpointError(f"{path}: corrupt checkpoint ({type(err).__name__}); delete it to start over") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint (no record); delete it to start over")
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: written by another cimest version (checkpoint format {meta.get('format')}; "
            f"this one reads {FORMAT}); delete it to start over"
        )
    if meta.get("fingerprint") != fingerprint(setup, seed):
        raise CheckpointError(
            f"{path}: this checkpoint belongs to another architecture or seed; use another "
            "--run-dir or delete it"
        )
    try:
        layers = []
        for i in range(meta["n_layers"]):
            prefix = f"layer{i}."
            ls = LayerState(**{k[len(prefix):]: np.ascontiguousarray(v) for k, v in data.items()
                               if k.startswith(prefix)})
            layers.append(ls)
        feedback = [data[f"feedback{i}"] for i in range(meta["n_feedback"])]
        samplers: dict = {}
        for site, st in meta["samplers"].items():
            samplers[site] = samplers[st["same_as"]] if "same_as" in st else rng_from_state(st)
        device_rng = np.random.Generator(np.random.PCG64())
        device_rng.bit_generator.state = meta["device_rng"]
        return EngineState(
            epoch=int(meta["epoch"]),
            batch=int(meta["batch"]),
            layers=layers,
            feedback=feedback,
            samplers=samplers,
            device_rng=device_rng,
            accuracy_history=list(meta["accuracy_history"]),
            accuracy_float_history=list(meta["accuracy_float_history"]),
            loss_history=list(meta["loss_history"]),
            counts_per_epoch=[EventCounts.from_dict(c) for c in meta["counts_per_epoch"]],
            epoch_counts=EventCounts.from_dict(meta["epoch_counts"]) if meta["epoch_counts"] else None,
            epoch_loss_sum=float(meta["epoch_loss_sum"]),
            epoch_samples=int(meta["epoch_samples"]),
            programmed={str(k): int(v) for k, v in meta["programmed"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path}: corrupt checkpoint ({err}); delete it to start over") from None


def check_like(state: EngineState, fresh: EngineState, run_dir: str | os.PathLike,
               acc_bits: int | None = None) -> None:
    """Refuse a checkpoint whose arrays do not have the shapes and types of the design's own state
    (``fresh``, a newly initialised one), or whose accumulators lie outside their ``acc_bits``
    range: a hand-edited or forged file that the fingerprint cannot catch would otherwise fail
    deep inside the engine, or be silently clipped.

    Raises:
        CheckpointError: naming the first array that differs.
    """
    path = Path(run_dir) / FILE
    bad = None
    if state.epoch < 0 or state.batch < 0:
        bad = f"epoch {state.epoch}, batch {state.batch}"
    elif len(state.layers) != len(fresh.layers) or len(state.feedback) != len(fresh.feedback):
        bad = f"{len(state.layers)} layers and {len(state.feedback)} feedback arrays"
    else:
        pairs = [(f"feedback{i}", a, b) for i, (a, b) in enumerate(zip(state.feedback, fresh.feedback, strict=True))]
        for i, (got, want) in enumerate(zip(state.layers, fresh.layers, strict=True)):
            pairs += [(f"layer{i}.{k}", getattr(got, k), v) for k, v in want.__dict__.items()]
        for name, a, b in pairs:
            if (a is None) != (b is None) or (
                    b is not None and (a.shape != b.shape or a.dtype != b.dtype)):
                shape = "absent" if a is None else f"{a.dtype}{list(a.shape)}"
                want_shape = "absent" if b is None else f"{b.dtype}{list(b.shape)}"
                bad = f"{name} is {shape}, the design needs {want_shape}"
                break
        if bad is None and acc_bits is not None:
            lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
            for i, ls in enumerate(state.layers):
                if ls.acc is not None and ls.acc.size and (int(ls.acc.min()) < lo or int(ls.acc.max()) > hi):
                    bad = f"layer{i}.acc holds values outside the {acc_bits}-bit range [{lo}, {hi}]"
                    break
    if bad is not None:
        raise CheckpointError(f"{path}: checkpoint does not fit this design ({bad}); delete it to start over")
