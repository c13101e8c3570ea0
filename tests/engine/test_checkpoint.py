"""Damaged checkpoints: whatever the damage, loading gives a state or a CheckpointError saying
what is wrong, never another exception (an "internal error"), a hang or a huge allocation."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

from cimest.api import bind_design, design_identity, train_design
from cimest.engine import checkpoint
from cimest.engine.train import init_state, make_setup
from cimest.errors import CheckpointError
from cimest.spec import parse_architecture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE = [None, -1, 10**9, 2**70, 1.5, float("nan"), "x", [], {}, True, [1, 2], {"a": 1}]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A one-epoch checkpoint of a small BSL design: (run folder, its bytes, load-and-check)."""
    text = (FIXTURES / "bsl_toy.yaml").read_text()
    text = text.replace("epochs: 10", "epochs: 1\n  max_train_samples: 128")
    text = text.replace("network: [64, 128, 10]", "network: [64, 16, 10]")
    d = bind_design(parse_architecture(text, "small.yaml"), [FIXTURES / "libraries"])
    run = tmp_path_factory.mktemp("run")
    train_design(d, run_dir=run)
    ident = design_identity(d).digest
    setup = make_setup(d.graph, d.libraries)
    fresh = init_state(setup, 0)

    def resume(data: bytes):
        (run / checkpoint.FILE).write_bytes(data)
        state = checkpoint.load(run, ident)
        checkpoint.check_like(state, fresh, run, setup.acc_bits)
        return state

    return run, (run / checkpoint.FILE).read_bytes(), resume


def test_the_undamaged_file_resumes(saved):
    _, good, resume = saved
    assert resume(good).epoch == 1


def test_random_byte_damage_is_corrupt_or_harmless(saved):
    _, good, resume = saved
    rng = random.Random(7)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            resume(bytes(data))
            outcomes["loaded"] += 1  # a byte the format does not read (a zip timestamp)
        except CheckpointError as err:
            assert "corrupt checkpoint" in str(err) or "does not fit" in str(err), err
            outcomes["refused"] += 1
    assert outcomes["refused"] > 250, outcomes


def _with_record(good: bytes, change) -> bytes:
    with np.load(io.BytesIO(good)) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_hostile_values_in_the_record_are_refused_or_harmless(saved):
    _, good, resume = saved
    meta = json.loads(bytes(np.load(io.BytesIO(good))["meta"]))
    places = [(k,) for k in meta if k not in ("format", "identity")]
    places += [("samplers", s, f) for s in meta["samplers"] for f in meta["samplers"][s]]
    places += [("device_rng", f) for f in meta["device_rng"]]
    refused = 0
    for place in places:
        for value in HOSTILE:

            def change(m, place=place, value=value):
                node = m
                for key in place[:-1]:
                    node = node[key]
                node[place[-1]] = value

            try:
                resume(_with_record(good, change))
            except CheckpointError:
                refused += 1
    assert refused > 0.8 * len(places) * len(HOSTILE)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_layers", 10**9, "n_layers 1000000000 but arrays of 2 layers"),
        ("n_feedback", 10**12, "n_feedback 1000000000000 but 0 feedback arrays"),
        ("epoch", 10**9, "accuracy_history is not 1000000000 finite numbers"),
        ("counts_per_epoch", [{"records": "x"}], "counts have no list of records"),
    ],
)
def test_counts_in_the_record_are_checked_before_any_loop(saved, field, value, message):
    _, good, resume = saved
    with pytest.raises(CheckpointError, match="corrupt checkpoint") as err:
        resume(_with_record(good, lambda m: m.__setitem__(field, value)))
    assert message in str(err.value)


def test_a_design_without_gradient_memory_resumes_as_one_run(tmp_path):
    """Online SGD without a gradient accumulator (acc_bits 0, MLP+NeuroSim's chip) resumes from
    its checkpoint, and the resumed run equals one uninterrupted run."""
    from cimest.engine.train import train

    text = (FIXTURES / "fp_toy.yaml").read_text()
    text = text.replace("epochs: 10", "epochs: 2\n  max_train_samples: 40")
    text = text.replace("batch_size: 64", "batch_size: 1")
    text = text.replace("  gradient_accumulator: {kind: sram_buffer, bits: 8}\n", "")
    text = text.replace("network: [64, 128, 10]", "network: [64, 16, 10]")
    d = bind_design(parse_architecture(text, "online.yaml"), [FIXTURES / "libraries"])
    whole = train(d.graph, d.libraries)
    train(d.graph, d.libraries, epochs=1, run_dir=tmp_path)
    resumed = train(d.graph, d.libraries, epochs=2, run_dir=tmp_path, resume=True)
    assert resumed.accuracy_history == whole.accuracy_history
    assert [c.to_dict() for c in resumed.counts_per_epoch] == [
        c.to_dict() for c in whole.counts_per_epoch
    ]
