"""The corpus in tests/bad_inputs/ through the real `cimest` command.

Each case of tests/bad_inputs/cases.yaml runs in a subprocess with a 10 s timeout and a 1 GB
address-space limit. It must exit with its status (0 or 2, never 1 or a signal), print its message
and no traceback. The cases run concurrently once per session; each test checks one of them.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "bad_inputs"
FIXTURES = ROOT / "tests" / "fixtures"
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
TIME_LIMIT_S = 10.0
FF = os.fsdecode(b"\xff")  # {ff}: a byte that is not UTF-8, as Python holds it in a file name
MEMORY_LIMIT = 1 << 30


def case_id(case: dict) -> str:
    stem = Path(case["file"]).stem if "file" in case else case.get("setup", "")
    cmd = (case.get("args") or ["validate"])[:1]
    words = [w for w in (*cmd, stem) if w]
    return "-".join(words) or "no-args"


IDS: list[str] = []
for _c in CASES:
    base = case_id(_c)
    n = sum(1 for i in IDS if i == base or i.startswith(base + "#"))
    IDS.append(base if n == 0 else f"{base}#{n + 1}")


# --- set-ups of {tmp} ---------------------------------------------------------------------------


class _Evil:
    """Pickles into a call of os.system: loading it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # test data, not cimest output
        np.savez(f, **arrays)


def _record(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def _toy_design():
    from cimest.api import load_design

    return load_design(FIXTURES / "bsl_toy.yaml", [HERE / "libraries", FIXTURES / "libraries"])


def _own(run: Path, seed: int | None = None) -> str:
    """Make ``run`` the run folder of bsl_toy.yaml (with ``seed``): its run.json, as `cimest
    train` writes it first. Returns the identity digest."""
    from cimest.api import design_identity
    from cimest.engine import runs

    ident = design_identity(_toy_design(), seed)
    with runs.writing(run, ident):
        pass
    return ident.digest


def _meta(identity: str, **changes) -> dict:
    """A checkpoint record that passes the format and identity checks (of a 0-epoch state)."""
    from cimest.engine.checkpoint import FORMAT

    meta = {
        "format": FORMAT,
        "identity": identity,
        "epoch": 0,
        "batch": 0,
        "accuracy_history": [],
        "accuracy_float_history": [],
        "loss_history": [],
        "counts_per_epoch": [],
        "epoch_counts": None,
        "epoch_loss_sum": 0.0,
        "epoch_samples": 0,
        "programmed": {},
        "samplers": {},
        "device_rng": {},
        "n_layers": 0,
        "n_feedback": 0,
    }
    meta.update(changes)
    return meta


def _forged_shape(path: Path, identity: str) -> None:
    """A stored member whose .npy header declares 10^12 float64 values over 8 bytes of data."""
    import zipfile

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    header += " " * (63 - len(header)) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(8)
    buf = io.BytesIO()
    np.save(buf, _record(_meta(identity, n_layers=1)))
    with zipfile.ZipFile(path, "w") as z:  # test data, not cimest output
        z.writestr("meta.npy", buf.getvalue())
        z.writestr("layer0.g.npy", npy)


def _trained_checkpoint(tmp: Path) -> Path:
    """A real one-epoch checkpoint of tmp/small.yaml (bsl_toy.yaml on 128 samples) in tmp/run."""
    from cimest.api import load_design, train_design

    small = tmp / "small.yaml"
    small.write_text(
        (FIXTURES / "bsl_toy.yaml")
        .read_text()
        .replace("epochs: 10", "epochs: 10\n  max_train_samples: 128")
    )
    train_design(
        load_design(small, [HERE / "libraries", FIXTURES / "libraries"]),
        epochs=1,
        run_dir=tmp / "run",
    )
    return tmp / "run" / "checkpoint.npz"


def _small_sweep(store: Path) -> None:
    from cimest.sweep import build_grid, run_sweep

    grid = build_grid(
        str(FIXTURES / "bsl_toy.yaml"),
        ["crossbar.rows=64,128"],
        search_path=[HERE / "libraries", FIXTURES / "libraries"],
    )
    run_sweep(grid, store, analytic=True)


def _flip_digit(path: Path, line: int = 0) -> None:
    """Change one digit inside a number of the ``line``-th line (the file stays valid JSON)."""
    lines = path.read_bytes().split(b"\n")
    text = lines[line]
    i = text.index(b'_j":') + 4
    while not text[i : i + 1].isdigit():
        i += 1
    digit = b"1" if text[i : i + 1] != b"1" else b"2"
    lines[line] = text[:i] + digit + text[i + 1 :]
    path.write_bytes(b"\n".join(lines))


def _setup(name: str, tmp: Path) -> None:
    run = tmp / "run"
    ckpt = run / "checkpoint.npz"
    store = tmp / "sweep"
    if name in {
        "garbage_checkpoint",
        "empty_checkpoint",
        "npz_without_record",
        "npz_record_not_object",
        "npz_pickled_object",
        "checkpoint_is_directory",
        "foreign_checkpoint",
        "old_format_checkpoint",
        "result_json_list",
        "result_json_bad_counts",
        "run_json_garbage",
        "run_json_edited",
        "checkpoint_huge_n_layers",
        "checkpoint_forged_shape",
        "checkpoint_compressed",
        "checkpoint_short_history",
        "checkpoint_bad_sampler",
    }:
        identity = _own(run)
    if name == "big_file":
        (tmp / "big.yaml").write_text("# " + "x" * 2_100_000 + "\n")
    elif name == "garbage_checkpoint":
        ckpt.write_bytes(bytes((i * 131 + 7) % 256 for i in range(4096)))
    elif name == "empty_checkpoint":
        ckpt.write_bytes(b"")
    elif name == "npz_without_record":
        _npz(ckpt, layer0_g=np.zeros(3))
    elif name == "npz_record_not_object":
        _npz(ckpt, meta=_record([1, 2]))
    elif name == "npz_pickled_object":
        _npz(ckpt, meta=np.array([_Evil(tmp / "pwned")], dtype=object))
    elif name == "checkpoint_is_directory":
        ckpt.mkdir(parents=True)
    elif name == "foreign_checkpoint":
        _npz(ckpt, meta=_record(_meta("0" * 16)))
    elif name == "old_format_checkpoint":
        _npz(ckpt, meta=_record({"format": 1, "fingerprint": "0" * 16}))
    elif name == "checkpoint_huge_n_layers":  # once made `train --resume` loop for ever
        _npz(ckpt, meta=_record(_meta(identity, n_layers=10**9)))
    elif name == "checkpoint_forged_shape":
        _forged_shape(ckpt, identity)
    elif name == "checkpoint_compressed":
        with open(ckpt, "wb") as f:  # test data, not cimest output
            np.savez_compressed(f, meta=_record(_meta(identity)))
    elif name == "checkpoint_short_history":
        _npz(ckpt, meta=_record(_meta(identity, epoch=5)))
    elif name == "checkpoint_bad_sampler":
        _npz(
            ckpt,
            meta=_record(
                _meta(
                    identity,
                    samplers={"input": {"kind": "lfsr", "width": 99, "taps": [99], "lanes": [1]}},
                )
            ),
        )
    elif name == "checkpoint_bit_flip":
        path = _trained_checkpoint(tmp)
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0x10  # inside layer0.g's float64 values
        path.write_bytes(bytes(data))
    elif name == "run_json_garbage":
        (run / "run.json").write_bytes(b'{"format": 1, "identity": \xff')
    elif name == "run_json_edited":
        text = (run / "run.json").read_text()
        (run / "run.json").write_text(
            text.replace('"update_threshold": 64', '"update_threshold": 65')
        )
    elif name == "result_json_without_run_json":
        run.mkdir()
        (run / "result.json").write_text("{}\n")
    elif name == "run_of_seed_7":
        _own(run, seed=7)
    elif name == "sweep_flipped_digit":
        _small_sweep(store)
        _flip_digit(store / "points.jsonl")
    elif name == "sweep_flipped_counts":
        _small_sweep(store)
        points = store / "points.jsonl"
        points.write_bytes(points.read_bytes().split(b"\n")[0] + b"\n")  # one point to redo
        for f in (store / "counts").iterdir():
            f.write_bytes(f.read_bytes().replace(b'"count":', b'"count":1', 1))
    elif name == "sweep_forged_record":
        from cimest.sweep.store import seal, unseal

        _small_sweep(store)
        points = store / "points.jsonl"
        first, *rest = points.read_text().split("\n")
        rec = unseal(first)
        rec["energy_per_mac_j"] = "cheap"
        points.write_text("\n".join([seal(rec), *rest]))
    elif name == "sweep_duplicate_record":
        _small_sweep(store)
        points = store / "points.jsonl"
        first = points.read_text().split("\n")[0]
        points.write_text(points.read_text() + first + "\n")
    elif name == "sweep_old_format":
        _small_sweep(store)
        (store / "manifest.json").write_text('{"format": 1, "identity": {}}\n')
    elif name == "sweep_manifest_garbage":
        _small_sweep(store)
        (store / "manifest.json").write_bytes(b"\x00\x01 not json")
    elif name == "result_json_list":
        (run / "result.json").write_text("[1, 2]\n")
    elif name == "result_json_bad_counts":
        record = {
            "layer": "L1",
            "phase": "forward",
            "component": "cell",
            "action": "read",
            "count": "many",
        }
        (run / "result.json").write_text(
            json.dumps(
                {
                    "epochs": 10,
                    "accuracy": 0.5,
                    "counts": {
                        "records": [record],
                        "n_samples": 1,
                        "mode": "train",
                        "source": "measured",
                    },
                }
            )
        )
    elif name == "sweep_store_garbage":
        (tmp / "sweep").mkdir()
        (tmp / "sweep" / "points.jsonl").write_bytes(b'{"key": "a", "par\x00\xff\n')
    elif name == "plain_file":
        (tmp / "plain").write_text("not a folder\n")
    elif name == "fifo_input":  # a FIFO with no writer: reading it would wait forever
        os.mkfifo(tmp / "arch.yaml")
    elif name == "fifo_output":
        os.mkfifo(tmp / "out.json")
    elif name == "link_to_device":
        (tmp / "link.json").symlink_to("/dev/null")
    elif name == "big_csv":
        (tmp / "big.csv").write_text("pulse,conductance_s,direction\n# " + "x" * 1_099_998 + "\n")
    elif name == "many_rows_csv":
        rows = "".join(f"{i},{1e-6 + i * 1e-10!r},pot\n" for i in range(10_001))
        (tmp / "rows.csv").write_text("pulse,conductance_s,direction\n" + rows)
    elif name == "idx_fifo":
        (tmp / "idx").mkdir()
        for stem in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ):
            os.mkfifo(tmp / "idx" / stem)
        text = (FIXTURES / "bsl_toy.yaml").read_text(encoding="utf-8")
        (tmp / "arch.yaml").write_text(
            text.replace("dataset: digits", f"dataset: 'mnist-idx:{tmp}/idx'")
        )
    elif name == "nonutf8_arch":
        (tmp / f"arch{FF}.yaml").write_bytes((FIXTURES / "bsl_toy.yaml").read_bytes())
    else:
        raise AssertionError(f"unknown setup {name!r} in cases.yaml")


# --- running ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    argv: list[str]
    status: int
    stdout: str
    stderr: str
    seconds: float
    tmp: Path


def _job(case: dict, tmp: Path) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    if "setup" in case:
        _setup(case["setup"], tmp)
    fill = {
        "here": str(HERE),
        "fixtures": str(FIXTURES),
        "tmp": str(tmp),
        "ff": FF,
        "file": str(HERE / case["file"]) if "file" in case else "",
    }
    args = case.get("args", ["validate", "{file}"])
    env = {
        "CIMEST_LIBRARY_PATH": os.pathsep.join(
            [str(HERE / "libraries"), str(FIXTURES / "libraries")]
        )
    }
    return {
        "argv": [str(a).format(**fill) for a in args],
        "cwd": str(ROOT),
        "env": env,
        "out": str(tmp.parent / f"{tmp.name}.out"),
        "err": str(tmp.parent / f"{tmp.name}.err"),
    }


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _env() -> dict:
    env = dict(os.environ)
    # BLAS thread pools reserve address space per core; one thread keeps the 1 GB limit about
    # cimest, not about the CI machine's core count.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every case, run by forkrun.py: cimest imported once, one forked child per case."""
    root = tmp_path_factory.mktemp("bad_inputs")
    jobs = [_job(c, root / f"case{n:03d}") for n, c in enumerate(CASES)]
    p = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("forkrun.py"))],
        cwd=ROOT,
        env=_env(),
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)
    out = {}
    for i, job, r in zip(IDS, jobs, results, strict=True):
        read = lambda f: Path(f).read_text(encoding="utf-8", errors="replace")  # noqa: E731
        out[i] = Outcome(
            job["argv"],
            r["status"],
            read(job["out"]),
            read(job["err"]),
            r["seconds"],
            root / Path(job["out"]).stem,
        )
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_input(case, outcomes, request):
    o = outcomes[request.node.callspec.id]
    shown = f"cimest {' '.join(o.argv)}\n--- exit {o.status}\n--- stderr:\n{o.stderr[-3000:]}"
    assert o.status >= 0, f"killed by signal {-o.status} (timeout or memory)\n{shown}"
    assert o.status in (0, 2), shown
    assert o.status == case.get("status", 2), shown
    assert "Traceback" not in o.stderr and "internal error" not in o.stderr, shown
    assert o.seconds < TIME_LIMIT_S, f"took {o.seconds:.1f} s\n{shown}"
    where = o.stdout + o.stderr if o.status == 0 else o.stderr
    assert case["expect"] in where, (
        f"want {case['expect']!r}\n{shown}\n--- stdout:\n{o.stdout[-2000:]}"
    )
    assert not (o.tmp / "pwned").exists() and not (ROOT / "cimest-pwned-marker").exists()


def test_every_corpus_file_is_used():
    used = {c["file"] for c in CASES if "file" in c}
    files = {p.name for p in HERE.glob("*.yaml")} - {"cases.yaml"}
    assert files == used, f"unused: {sorted(files - used)}; missing: {sorted(used - files)}"


# A few cases also through a fresh `python -m cimest.cli` (interpreter start-up included).
REAL = [
    "validate-python_object_apply",
    "validate-alias_bomb",
    "validate-deep_nesting",
    "train-huge_network",
    "train-huge_network_long_layers",
    "train-garbage_checkpoint",
]


@pytest.mark.parametrize("ident", REAL)
def test_bad_input_in_a_fresh_process(ident, tmp_path):
    case = CASES[IDS.index(ident)]
    job = _job(case, tmp_path / "case")
    started = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", *job["argv"]],
        cwd=ROOT,
        env={**_env(), **job["env"]},
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S + 5,
        preexec_fn=_limit_memory,
    )
    assert time.monotonic() - started < TIME_LIMIT_S
    assert p.returncode == case.get("status", 2), p.stderr
    assert case["expect"] in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_validate_dev_zero_answers_at_once():
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", "validate", "/dev/zero"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S + 5,
        preexec_fn=_limit_memory,
    )
    assert p.returncode == 2, p.stderr
    assert "/dev/zero: is a character device, expected a YAML file" in p.stderr
