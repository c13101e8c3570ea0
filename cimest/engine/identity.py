"""RunIdentity: one digest of everything a training run's result depends on.

Room: engine (imports spec, graph, engine.datasets and engine.checkpoint's format number).

What goes in (``RunIdentity.record``, readable JSON; the digest is its sha256):

- ``spec``: the validated architecture, minus ``workload.epochs`` (a run resumed with more epochs
  is the same run) and with ``workload.seed`` set to the seed the run uses;
- ``library_entries``: the content of every library entry the design uses: for each component of
  the compiled graph the entry ``LibrarySet.find(kind, variant, bits)`` resolves to, and the cell
  entry (with the library-wide node and supply it inherits);
- ``dataset``: the sha256 of every file the dataset is read from (by file name), or of the arrays
  of a dataset passed in memory;
- ``checkpoint_format`` and ``seed``.

Run folders (their name and ``run.json``), checkpoints and result records all carry the digest,
and nothing is reused from a folder whose digest differs.

``counts_key`` is the part of the same inputs that the engine reads (DESIGN.md: counts do not
depend on the device library's energies): the architecture without its cost-only sections and
library variant names but with the epochs, the cell's device parameters, the dataset digests,
the checkpoint format and the seed. A sweep keys its stored counts and training groups on it, so
points that differ only in node, supply, CMOS variants or calibration share one training run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from cimest.engine.checkpoint import FORMAT
from cimest.engine.datasets import Dataset, file_digests
from cimest.graph.compile import ComponentGraph
from cimest.spec.architecture import ArchitectureSpec
from cimest.spec.libraries import LibrarySet, Located

DIGEST_CHARS = 16
#: Top-level sections the engine never reads (it takes only the cell's device from a library).
COST_ONLY_SECTIONS = (
    "technology",
    "libraries",
    "calibration",
    "area_calibration",
    "name",
    "description",
)


@dataclass(frozen=True)
class RunIdentity:
    """The digest of a run's inputs and the readable record it was computed from."""

    digest: str
    record: dict

    @property
    def name(self) -> str:
        return self.record["spec"].get("name", "?")

    @property
    def seed(self) -> int:
        return self.record["seed"]

    def describe(self) -> str:
        """``bsl-rram-32nm, seed 0`` (names in messages)."""
        return describe(self.record)


def describe(record: dict) -> str:
    """A design and seed as a person names them, from an identity record."""
    spec = record.get("spec") if isinstance(record, dict) else None
    name = spec.get("name", "?") if isinstance(spec, dict) else "?"
    return f"{name}, seed {record.get('seed', '?') if isinstance(record, dict) else '?'}"


def digest_of(obj) -> str:
    """The digest of a JSON-able record (sha256 of its sorted, compact JSON, shortened)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def entry_digest(loc: Located) -> str:
    """sha256 of one library entry's content and the library-wide values it inherits."""
    return digest_of(
        {
            "library": loc.library.name,
            "node_nm": loc.node_nm,
            "vdd_v": loc.vdd_v,
            "entry": loc.entry.model_dump(mode="json"),
        }
    )


def array_digests(dataset: Dataset) -> dict[str, str]:
    """sha256 of a dataset given in memory (tests, notebooks): its arrays with dtype and shape."""
    out = {"n_classes": str(dataset.n_classes)}
    for field in ("x_train", "y_train", "x_test", "y_test"):
        a = np.ascontiguousarray(getattr(dataset, field))
        h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
        out[field] = h.hexdigest()
    return out


def data_record(dataset_spec: str, dataset: Dataset | None = None) -> dict:
    """What the dataset part of an identity holds.

    Raises:
        DatasetError: a file of the dataset is missing or unreadable.
    """
    if dataset is not None:
        return {"name": dataset.name, "arrays": array_digests(dataset)}
    return {"name": dataset_spec, "files": file_digests(dataset_spec)}


def _spec_record(spec: ArchitectureSpec, seed: int) -> dict:
    data = spec.model_dump(mode="json")
    data["workload"].pop("epochs", None)
    data["workload"]["seed"] = seed
    return data


def run_identity(
    graph: ComponentGraph,
    libraries: LibrarySet,
    seed: int | None = None,
    *,
    dataset: Dataset | None = None,
    data: dict | None = None,
) -> RunIdentity:
    """The identity of training ``graph``'s design with ``seed`` (default: the workload's).

    Args:
        dataset: a dataset passed to training in memory (its arrays are hashed, not the files).
        data: an already computed ``data_record`` (a caller that hashes many designs).

    Raises:
        DatasetError: the dataset's files cannot be read.
        LibraryError: a component has no library entry (bind_design has checked this already).
    """
    spec = graph.spec
    seed = spec.workload.seed if seed is None else seed
    entries: dict[str, dict] = {}
    cell = libraries.cell(spec.crossbar.cell)
    entries[f"cell/{spec.crossbar.cell}"] = {
        "library": cell.library.name,
        "sha256": entry_digest(cell),
    }
    for comp in sorted(graph.components.values(), key=lambda c: c.id):
        loc = libraries.find(comp.kind, comp.variant, comp.bits)
        key = f"{loc.entry.kind}/{loc.entry.variant}" + (
            f"@{loc.entry.bits}b" if loc.entry.bits is not None else ""
        )
        entries[key] = {"library": loc.library.name, "sha256": entry_digest(loc)}
    record = {
        "spec": _spec_record(spec, seed),
        "library_entries": dict(sorted(entries.items())),
        "dataset": data if data is not None else data_record(spec.workload.dataset, dataset),
        "checkpoint_format": FORMAT,
        "seed": seed,
    }
    return RunIdentity(digest_of(record), record)


def _strip_variants(obj):
    if isinstance(obj, dict):
        return {k: _strip_variants(v) for k, v in obj.items() if not k.endswith("variant")}
    if isinstance(obj, list):
        return [_strip_variants(v) for v in obj]
    return obj


def counts_key(spec: ArchitectureSpec, libraries: LibrarySet, data: dict) -> str:
    """Digest of what a finished run's EventCounts and accuracy depend on (see the module doc).

    Args:
        data: the ``data_record`` of the spec's dataset (or any record standing for it, such as
            the message of a dataset that cannot be read: analytic counts do not read it).
    """
    arch = spec.model_dump(mode="json")
    for section in COST_ONLY_SECTIONS:
        arch.pop(section, None)
    device = libraries.cell(spec.crossbar.cell).entry.device
    return digest_of(
        {
            "spec": _strip_variants(arch),
            "cell_device": device.model_dump(mode="json") if device is not None else None,
            "dataset": data,
            "checkpoint_format": FORMAT,
        }
    )


def differences(have: dict, want: dict, limit: int = 4) -> list[str]:
    """What differs between two identity records, as dotted field names (at most ``limit``)."""
    out: list[str] = []

    def walk(a, b, path: str) -> None:
        if len(out) > limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        else:
            out.append(path or "(everything)")

    for part, label in (
        ("spec", ""),
        ("library_entries", "library entry "),
        ("dataset", "dataset "),
        ("checkpoint_format", "checkpoint format"),
        ("seed", ""),
    ):
        a = have.get(part) if isinstance(have, dict) else None
        b = want.get(part)
        if part == "spec" and isinstance(a, dict) and isinstance(b, dict):
            walk(a, b, "")
        elif part == "library_entries" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"{label}{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif part == "dataset" and a != b:
            out.append("the dataset's files" if isinstance(b, dict) and "files" in b else "dataset")
        elif part == "checkpoint_format" and a != b:
            out.append(label)
        elif a != b and part == "seed" and "workload.seed" not in out:
            out.append("seed")
    if len(out) > limit:
        out = [*out[:limit], "..."]
    return out
