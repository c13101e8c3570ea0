"""workload.network: convolution, pooling and flatten entries beside dense widths, resolved into
weight layers with shapes; a shape that does not fit is refused at its entry's line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cimest.errors import SpecError
from cimest.graph import compile_graph
from cimest.spec import parse_architecture

ROOT = Path(__file__).parents[2]
BASE = (ROOT / "architectures" / "binary_stochastic_rram.yaml").read_text()

MNIST_CNN = """
    - [1, 28, 28]
    - {conv: {maps: 8, kernel: 9}}
    - {pool: {kind: max, size: 2}}
    - {conv: {maps: 12, kernel: 5}}
    - {pool: {kind: max, size: 2}}
    - 10"""


def _spec(network: str, dataset: str = "mnist5k"):
    text = re.sub(r"network: \[.*\]", "network:" + network, BASE)
    text = text.replace("dataset: digits", f"dataset: {dataset}")
    return parse_architecture(text, "cnn.yaml"), text


def test_the_authors_mnist_cnn_resolves_to_its_shapes_and_macs():
    loaded, _ = _spec(MNIST_CNN)
    layers = loaded.spec.workload.layers()
    assert [ls.kind for ls in layers] == ["conv", "conv", "dense"]
    # valid convolutions 28 -> 20, pool -> 10, 10 -> 6, pool -> 3 (Li et al.'s MNIST CNN)
    assert [ls.out_shape for ls in layers] == [(8, 20, 20), (12, 6, 6), (10,)]
    assert [ls.next_shape for ls in layers] == [(8, 10, 10), (12, 3, 3), (10,)]
    graph = compile_graph(loaded.spec)
    assert [(lm.n_in, lm.n_out, lm.uses_per_sample) for lm in graph.layers] == [
        (81, 8, 400),
        (200, 12, 36),
        (108, 10, 1),
    ]
    # by hand: 81*8*400 + 200*12*36 + 108*10 = 259,200 + 86,400 + 1,080 (issue 16)
    assert graph.macs_per_sample()["forward"] == 346_680
    assert loaded.spec.layer_names() == ["L1", "L2", "L3"]


def test_stride_padding_and_an_explicit_flatten():
    loaded, _ = _spec(
        "\n    - [3, 32, 32]\n    - {conv: {maps: 16, kernel: 3, stride: 2, padding: 1}}"
        "\n    - {pool: {kind: average, size: 2}}\n    - flatten\n    - 10",
        dataset="mnist-idx:/nowhere",
    )
    conv, dense = loaded.spec.workload.layers()
    assert conv.out_shape == (16, 16, 16)  # (32 + 2 - 3) // 2 + 1
    assert conv.next_shape == (16, 8, 8)
    assert (dense.n_in, dense.n_out) == (16 * 8 * 8, 10)


@pytest.mark.parametrize(
    ("network", "entry", "message"),
    [
        ("\n    - [1, 28, 28]\n    - {conv: {maps: 8, kernel: 29}}\n    - 10", 1, "does not fit"),
        ("\n    - 784\n    - {conv: {maps: 8, kernel: 9}}\n    - 10", 1, "needs an image"),
        ("\n    - [1, 28, 28]\n    - {pool: {size: 2}}\n    - 10", 1, "follows a convolution"),
        ("\n    - [1, 28, 28]\n    - {cnov: {maps: 2}}\n    - 10", 1, "network entry is"),
        ("\n    - [1, 28, 28]\n    - {conv: {maps: 8, kernel: 3}}\n    - flaten\n    - 10", 2,
         "did you mean 'flatten'"),
        ("\n    - [1, 28, 28]\n    - {conv: {maps: 8, kernel: 3}}", 1, "classifier"),
        ("\n    - [1, 28, 28]\n    - {conv: {maps: 2, kernel: 27}}\n    - {pool: {size: 3}}"
         "\n    - 10", 2, "window does not fit"),
    ],
)  # fmt: skip
def test_a_shape_that_does_not_fit_is_refused_at_its_entry(network, entry, message):
    text = re.sub(r"network: \[.*\]", "network:" + network, BASE)
    with pytest.raises(SpecError) as err:
        parse_architecture(text, "cnn.yaml")
    problem = err.value.problems[0]
    assert problem.path == f"workload.network[{entry}]"
    first = next(i for i, t in enumerate(text.splitlines()) if t.strip() == "network:")
    assert problem.line == first + 2 + entry  # the entry's own line
    assert message in problem.message


def test_an_image_input_must_match_the_dataset_images():
    with pytest.raises(SpecError) as err:
        _spec(MNIST_CNN, dataset="digits")
    assert "the input must be [1, 8, 8]" in str(err.value)
