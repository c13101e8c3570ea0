"""RunIdentity: what goes into the digest, and what does not."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from cimest.api import bind_design, design_identity
from cimest.engine.datasets import dataset_files, file_digests
from cimest.engine.identity import counts_key, data_record, differences
from cimest.spec import parse_architecture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def design(text: str, libs: Path):
    return bind_design(parse_architecture(text, "arch.yaml"), [libs])


@pytest.fixture
def libs(tmp_path) -> Path:
    """An editable copy of the toy libraries."""
    out = tmp_path / "libs"
    shutil.copytree(FIXTURES / "libraries", out)
    return out


@pytest.fixture
def arch() -> str:
    return (FIXTURES / "bsl_toy.yaml").read_text()


def test_same_inputs_same_digest_and_epochs_do_not_count(arch, libs):
    a = design_identity(design(arch, libs))
    b = design_identity(design(arch.replace("epochs: 10", "epochs: 3"), libs))
    assert a.digest == b.digest and len(a.digest) == 16
    assert a.record == b.record


def test_seed_given_or_in_the_yaml_is_the_same_run(arch, libs):
    by_arg = design_identity(design(arch, libs), seed=7)
    in_yaml = design_identity(design(arch.replace("seed: 0", "seed: 7"), libs))
    assert by_arg.digest == in_yaml.digest
    assert by_arg.digest != design_identity(design(arch, libs)).digest


def test_the_record_names_every_library_entry_the_design_uses(arch, libs):
    d = design(arch, libs)
    entries = design_identity(d).record["library_entries"]
    kinds = {c.kind for c in d.graph.components.values()} | {"cell"}
    assert {k.split("/")[0] for k in entries} == kinds
    assert "cell/toy_rram" in entries and entries["cell/toy_rram"]["library"] == "toy_cells"


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        (
            "toy_cells.yaml",
            "gamma_p: 0.0, gamma_d: 0.0, endurance",
            "gamma_p: 0.5, gamma_d: 0.0, endurance",
        ),
        ("toy_cells.yaml", 'source: "test fixture"', 'source: "test fixture, corrected"'),
    ],
)
def test_a_cell_library_edit_changes_the_run_and_the_counts_key(arch, libs, file, old, new):
    before = design(arch, libs)
    path = libs / file
    assert path.read_text().count(old) >= 1
    path.write_text(path.read_text().replace(old, new, 1))
    after = design(arch, libs)
    a, b = design_identity(before), design_identity(after)
    assert a.digest != b.digest
    assert differences(a.record, b.record) == ["library entry cell/toy_rram"]
    data = data_record("digits")
    changed_device = "gamma_p" in old
    assert (
        counts_key(before.spec, before.libraries, data)
        != counts_key(after.spec, after.libraries, data)
    ) is changed_device


def test_a_peripheral_library_edit_changes_the_run_but_not_the_counts_key(arch, libs):
    """Counts do not depend on energies (DESIGN.md): a sweep over them must not retrain; but a
    run folder is only reused for the very inputs it was made with."""
    before = design(arch, libs)
    old = "compare: {energy_pj: 0.01,"
    text = (libs / "toy_cmos.yaml").read_text()
    assert text.count(old) == 1
    (libs / "toy_cmos.yaml").write_text(text.replace(old, "compare: {energy_pj: 0.02,"))
    after = design(arch, libs)
    a, b = design_identity(before), design_identity(after)
    assert a.digest != b.digest
    assert differences(a.record, b.record) == ["library entry comparator/toy"]
    data = data_record("digits")
    assert counts_key(before.spec, before.libraries, data) == counts_key(
        after.spec, after.libraries, data
    )


def test_cost_only_sections_keep_the_counts_key(arch, libs):
    data = data_record("digits")
    a = design(arch, libs)
    b = design(
        arch.replace("node_nm: 32", "node_nm: 22").replace("name: bsl-rram-32nm", "name: x"), libs
    )
    assert counts_key(a.spec, a.libraries, data) == counts_key(b.spec, b.libraries, data)
    assert design_identity(a).digest != design_identity(b).digest
    c = design(arch.replace("update_threshold: 64", "update_threshold: 32"), libs)
    assert counts_key(a.spec, a.libraries, data) != counts_key(c.spec, c.libraries, data)


def test_dataset_digest_is_the_files_sha256(arch, libs):
    (path,) = dataset_files("digits")
    assert path.name == "digits.csv.gz"
    want = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digests("digits") == {"digits.csv.gz": want}
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 1797  # the file loaded
    assert design_identity(design(arch, libs)).record["dataset"] == {
        "name": "digits",
        "files": {"digits.csv.gz": want},
    }


def test_a_dataset_edit_changes_the_run_and_the_counts_key(arch, libs, idx_folder):
    folder = idx_folder
    text = arch.replace("dataset: digits", f"dataset: mnist-idx:{folder}")
    before = design(text, libs)
    a = design_identity(before)
    key = counts_key(before.spec, before.libraries, data_record(f"mnist-idx:{folder}"))
    assert len(a.record["dataset"]["files"]) == 4
    images = folder / "train-images-idx3-ubyte"
    raw = bytearray(images.read_bytes())
    raw[-1] ^= 1  # one pixel of one image
    images.write_bytes(bytes(raw))
    after = design(text, libs)
    b = design_identity(after)
    assert a.digest != b.digest
    assert differences(a.record, b.record) == ["the dataset's files"]
    assert key != counts_key(after.spec, after.libraries, data_record(f"mnist-idx:{folder}"))


def test_a_special_dataset_file_is_refused_before_hashing(idx_folder):
    from cimest.errors import DatasetError

    folder = idx_folder
    (folder / "t10k-labels-idx1-ubyte").unlink()
    (folder / "t10k-labels-idx1-ubyte").symlink_to("/dev/zero")  # never ends
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte(: is a | file)"):
        file_digests(f"mnist-idx:{folder}")


def test_a_dataset_file_larger_than_the_loader_accepts_is_not_hashed(idx_folder):
    from cimest.engine.datasets import MAX_IDX_BYTES
    from cimest.errors import DatasetError

    folder = idx_folder
    with open(folder / "train-images-idx3-ubyte", "r+b") as f:
        f.truncate(MAX_IDX_BYTES + 1)  # sparse: no disk used
    with pytest.raises(DatasetError, match=f"the limit is {MAX_IDX_BYTES:,}"):
        file_digests(f"mnist-idx:{folder}")
