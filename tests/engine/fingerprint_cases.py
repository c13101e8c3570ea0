"""Fingerprints of short training runs on every rule, weight encoding and update variant, so a
change of the engine's speed can be held bit-identical to the engine before it.

    python tests/engine/fingerprint_cases.py   # rewrites tests/fixtures/engine_fingerprints.json

(with ``--engine-commit SHA`` when the cimest imported is another checkout's, at SHA).

A fingerprint is everything a run leaves: accuracy and loss histories (exact floats), every
epoch's measured activity, the wear summary, and a SHA-256 of every array of the final state
(conductances, accumulators, residuals, integer and float weights, pulses per device) and of the
random sources' states. tests/engine/test_bit_identity.py recomputes them and compares. The
recorded file names the commit that produced it: regenerate it only for a change meant to move
results, and say so in that commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "engine_fingerprints.json"
FP = "full_precision_rram.yaml"
BSL = "binary_stochastic_rram.yaml"
LIBS = (
    "libraries: [cmos_32nm, rram_taox_hfox]",
    "libraries: [cmos_32nm, rram_taox_hfox, device_fits_li2023]",
)
PAIR = ("weight_encoding: reference_column", "weight_encoding: differential_pair")
ROWS = ("weight_encoding: reference_column", "weight_encoding: differential_rows")
POT_ONLY = (LIBS, PAIR, ("cell: taox_hfox_rram", "cell: pcm_li2023"))
DEP_ONLY = (
    LIBS,
    PAIR,
    ("cell: taox_hfox_rram", "cell: oxram_li2023\n  initial_conductance: {at: max}"),
)
NOISY = (("cell: taox_hfox_rram", "cell: taox_hfox_rram\n  c2c_sigma: 0.02\n  d2d_sigma: 0.3"),)
REFS = (
    (
        "weight_encoding: reference_column",
        "weight_encoding: reference_column\n  reference_cells: {sigma: 0.1}",
    ),
)
IDEAL = (("rng: lfsr, rng_bits: 16", "rng: ideal, rng_bits: 16"),)
PC = (
    ("rule: backprop", "rule: pulse_coincidence\n  pulse_length: 10"),
    (
        "  update: {kind: pulse_train, max_pulses: 32}\n  gradient_accumulator: {kind: sram_buffer, bits: 8}\n",
        "  update: {kind: coincidence}\n",
    ),
)
DIGITAL_BACKWARD = (
    (
        "  error_input: {kind: dac, bits: 8}\n  error_readout: {kind: adc, bits: 8, columns_per_adc: 8}\n",
        "  backward: {kind: digital, bits: 8}\n",
    ),
)
DEEP = (("network: [64, 128, 10]", "network: [64, 40, 30, 10]"),)
SOFTWARE = (
    ("rule: backprop", "rule: software"),
    ("weight_update: memristor", "weight_update: float"),
)

# name -> (architecture, edits); every case runs at batch 1 and at batch 16
CASES: dict[str, tuple[str, tuple]] = {
    "bsl": (BSL, ()),
    "bsl_ideal_rng": (BSL, IDEAL),
    "bsl_pair": (BSL, (PAIR,)),
    "bsl_rows": (BSL, (ROWS,)),
    "bsl_pot_only_pair": (BSL, POT_ONLY),
    "bsl_reference_cells": (BSL, REFS),
    "bsl_noisy": (BSL, NOISY),
    "bsl_float": (BSL, (("weight_update: memristor", "weight_update: float"),)),
    "bsl_integer": (
        BSL,
        (("weight_update: memristor", "weight_update: integer\n  integer_bits: 8"),),
    ),
    "dfa_binary": (
        BSL,
        (("rule: binary_stochastic", "rule: dfa\n  binary_feedback: true"), *DEEP),
    ),
    "backprop": (FP, ()),
    "backprop_pair": (FP, (PAIR,)),
    "backprop_rows": (FP, (ROWS,)),
    "backprop_pot_only_pair": (FP, POT_ONLY),
    "backprop_dep_only_pair": (FP, DEP_ONLY),
    "backprop_noisy_refs": (FP, (*NOISY, *REFS)),
    "backprop_float": (FP, (("weight_update: memristor", "weight_update: float"),)),
    "backprop_digital_backward": (FP, DIGITAL_BACKWARD),
    "backprop_single_pulse": (
        FP,
        (("update: {kind: pulse_train, max_pulses: 32}", "update: {kind: single_pulse}"),),
    ),
    "dfa": (FP, (("rule: backprop", "rule: dfa"), *DEEP)),
    "pulse_coincidence": (FP, PC),
    "software": (FP, SOFTWARE),
}
BATCHES = (1, 16)
SAMPLES = 32
TEST_SAMPLES = 60
EPOCHS = 2


_LIBRARIES: dict = {}  # library names -> LibrarySet, loaded once per process (YAML is slow)


def design(case: str, batch: int):
    from cimest.api import bind_design
    from cimest.spec import parse_architecture
    from cimest.spec.libraries import default_search_path, load_library_set

    arch, edits = CASES[case]
    path = ROOT / "architectures" / arch
    text = path.read_text()
    for old, new in (
        ("epochs: 20", f"epochs: {EPOCHS}\n  max_train_samples: {SAMPLES}"),
        ("batch_size: 64", f"batch_size: {batch}"),
        *edits,
    ):
        assert text.count(old) == 1, (case, old)
        text = text.replace(old, new, 1)
    loaded = parse_architecture(text, str(path))
    names = tuple(loaded.spec.libraries)
    if names not in _LIBRARIES:
        _LIBRARIES[names] = load_library_set(list(names), default_search_path(loaded.path))
    return bind_design(loaded, libraries=_LIBRARIES[names])


def small(data):
    """The first SAMPLES training and TEST_SAMPLES test samples (the evaluations are most of a
    short run's time)."""
    from cimest.engine.datasets import Dataset

    return Dataset(
        f"{data.name}-small",
        data.x_train[:SAMPLES],
        data.y_train[:SAMPLES],
        data.x_test[:TEST_SAMPLES],
        data.y_test[:TEST_SAMPLES],
        data.n_classes,
    )


def _digest(a) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def _json_digest(x) -> str:
    text = json.dumps(
        x, sort_keys=True, default=lambda v: v.item() if hasattr(v, "item") else str(v)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(case: str, batch: int, data=None) -> dict:
    """Everything one run leaves, as JSON-comparable values."""
    from cimest.engine import checkpoint
    from cimest.engine.datasets import load_dataset
    from cimest.engine.train import train

    d = design(case, batch)
    data = small(data if data is not None else load_dataset("digits"))
    with tempfile.TemporaryDirectory() as run_dir:
        r = train(d.graph, d.libraries, dataset=data, run_dir=run_dir, identity="fingerprint")
        state = checkpoint.load(run_dir, "fingerprint")
    arrays = {}
    for i, ls in enumerate(state.layers):
        for name, arr in sorted(ls.arrays().items()):
            arrays[f"L{i + 1}.{name}"] = _digest(arr)
    for i, f in enumerate(state.feedback):
        arrays[f"feedback{i + 1}"] = _digest(f)
    for name, g in sorted(r.conductances.items()):
        arrays[f"conductance.{name}"] = _digest(g)
    rngs = {k: s.state() for k, s in sorted(state.samplers.items())}
    rngs["device"] = state.device_rng.bit_generator.state
    return {
        "accuracy_history": [float(a).hex() for a in r.accuracy_history],
        "accuracy_float_history": [float(a).hex() for a in r.accuracy_float_history],
        "loss_history": [float(x).hex() for x in r.loss_history],
        # the engine's measurement; the events the graph derives from it may change with the
        # priced roles without the engine changing (tests/graph holds the counting rules)
        "activity_per_epoch": _json_digest([c.activity for c in r.counts_per_epoch]),
        "wear": _json_digest(r.wear),
        "arrays": arrays,
        "rng_states": _json_digest(rngs),
    }


def keys() -> list[tuple[str, int]]:
    return [(c, b) for c in CASES for b in BATCHES]


def main() -> None:
    import cimest
    from cimest.engine.datasets import load_dataset

    # the commit of the engine that ran: this checkout's, or the one named by --engine-commit when
    # another checkout's cimest was imported (e.g. main's, to record the fingerprints before a
    # change)
    commit = (
        sys.argv[sys.argv.index("--engine-commit") + 1] if "--engine-commit" in sys.argv else ""
    )
    if not commit:
        assert Path(cimest.__file__).resolve().is_relative_to(ROOT), cimest.__file__
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    data = load_dataset("digits")
    out = {
        "generated_by": "python tests/engine/fingerprint_cases.py",
        "engine_commit": commit,
        "cases": {f"{c}@{b}": fingerprint(c, b, data) for c, b in keys()},
    }
    FIXTURE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(
        f"wrote {len(out['cases'])} fingerprints from {commit[:12]} to {FIXTURE}", file=sys.stderr
    )


if __name__ == "__main__":
    main()
