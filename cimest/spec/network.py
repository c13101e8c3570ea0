"""The entries of ``workload.network`` and the weight layers they resolve to. Room: spec.

A network is a list, input first:

- the input: a width (``784``) or an image shape ``[channels, height, width]``;
- a dense layer: its width (``100``); the last entry is the classifier and must be dense;
- ``{conv: {maps, kernel, stride, padding}}``: a convolution (cross-correlation, square kernel,
  zero padding), followed by the hidden activation;
- ``{pool: {kind, size, stride}}``: max or average pooling of the convolution just before it
  (applied after its activation);
- ``flatten``: an image to a vector (implied where a dense layer follows an image).

``resolve`` turns the list into the weight layers (convolutions and dense layers) with their input
and output shapes; a shape that does not fit is a ValueError naming the entry (``network[3]: ...``)
so the message lands on that entry's line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from cimest.spec.base import StrictModel

MAX_WIDTH = 1_000_000
MAX_KERNEL = 256


class ConvSpec(StrictModel):
    maps: int = Field(ge=1, le=MAX_WIDTH)
    """Output channels (feature maps)."""
    kernel: int = Field(ge=1, le=MAX_KERNEL)
    """Side of the square kernel (R = S)."""
    stride: int = Field(1, ge=1, le=MAX_KERNEL)
    """Step between output positions."""
    padding: int = Field(0, ge=0, le=MAX_KERNEL)
    """Zeros added on every side of the input (0: a 'valid' convolution)."""


class PoolSpec(StrictModel):
    kind: Literal["max", "average"] = "max"
    """max (backward: routed to the window's arg-max, first in row-major order on ties) or average."""
    size: int = Field(2, ge=1, le=MAX_KERNEL)
    """Side of the square window."""
    stride: int | None = Field(None, ge=1, le=MAX_KERNEL)
    """Step between windows; the window size when left out (non-overlapping windows)."""

    @property
    def step(self) -> int:
        return self.size if self.stride is None else self.stride


class ConvEntry(StrictModel):
    conv: ConvSpec


class PoolEntry(StrictModel):
    pool: PoolSpec


def _entry_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "dense"
    if isinstance(value, list | tuple):
        return "shape"
    if isinstance(value, str):
        return "flatten"
    if isinstance(value, dict):
        if "conv" in value:
            return "conv"
        if "pool" in value:
            return "pool"
    if isinstance(value, ConvEntry):
        return "conv"
    if isinstance(value, PoolEntry):
        return "pool"
    return None


ENTRY_HELP = (
    "a network entry is a width (an integer), an input shape [channels, height, width] (first "
    "entry only), {conv: {maps, kernel, stride, padding}}, {pool: {kind, size, stride}} or flatten"
)

NetworkEntry = Annotated[
    Annotated[Annotated[int, Field(ge=1, le=MAX_WIDTH)], Tag("dense")]
    | Annotated[
        Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]], Field(min_length=3, max_length=3)
        ],
        Tag("shape"),
    ]
    | Annotated[ConvEntry, Tag("conv")]
    | Annotated[PoolEntry, Tag("pool")]
    | Annotated[Literal["flatten"], Tag("flatten")],
    Discriminator(_entry_kind, custom_error_type="network_entry", custom_error_message=ENTRY_HELP),
]


@dataclass(frozen=True)
class LayerShape:
    """One weight layer (convolution or dense) of a resolved network."""

    kind: str
    """dense | conv"""
    entry: int
    """Index of the layer's entry in ``workload.network``."""
    in_shape: tuple[int, ...]
    """(channels, height, width) of a convolution's input; (n,) of a dense layer's."""
    out_shape: tuple[int, ...]
    """(maps, P, Q) of a convolution before pooling; (n,) of a dense layer."""
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    pool: PoolSpec | None = None
    """The pooling after the layer's activation, if any."""

    @property
    def n_in(self) -> int:
        """Rows of the weight matrix: C*R*S for a convolution (the kernel unrolled), n for dense."""
        if self.kind == "conv":
            return self.in_shape[0] * self.kernel * self.kernel
        return self.in_shape[0]

    @property
    def n_out(self) -> int:
        """Columns of the weight matrix: the maps of a convolution, the width of a dense layer."""
        return self.out_shape[0]

    @property
    def uses(self) -> int:
        """Times the matrix is applied per sample: a convolution's P*Q output positions."""
        return math.prod(self.out_shape[1:]) if self.kind == "conv" else 1

    @property
    def next_shape(self) -> tuple[int, ...]:
        """Shape the next layer receives: the pooled maps, or the output."""
        if self.pool is None:
            return self.out_shape
        k, p, q = self.out_shape
        s = self.pool.step
        return (k, (p - self.pool.size) // s + 1, (q - self.pool.size) // s + 1)


def resolve(entries: list) -> list[LayerShape]:
    """The weight layers of a network, with their shapes.

    Raises:
        ValueError: "network[i]: ..." for an entry whose shape does not fit.
    """
    if len(entries) < 2:
        raise ValueError("network: give the input and at least one layer, e.g. [64, 10]")
    first = entries[0]
    if isinstance(first, int):
        shape: tuple[int, ...] = (first,)
    elif isinstance(first, list | tuple):
        shape = tuple(first)
    else:
        raise ValueError(
            "network[0]: the first entry is the input: a width (784) or an image shape "
            "[channels, height, width]"
        )
    layers: list[LayerShape] = []
    for i, entry in enumerate(entries[1:], start=1):
        if isinstance(entry, list | tuple):
            raise ValueError(
                f"network[{i}]: an image shape [channels, height, width] can only be the first "
                "entry (the input)"
            )
        if isinstance(entry, ConvEntry):
            c = entry.conv
            if len(shape) != 3:
                raise ValueError(
                    f"network[{i}]: a convolution needs an image [channels, height, width]; "
                    f"what reaches it is {shape[0]} values (give the input as [C, H, W], and put "
                    "convolutions before dense layers)"
                )
            ch, h, w = shape
            p = (h + 2 * c.padding - c.kernel) // c.stride + 1
            q = (w + 2 * c.padding - c.kernel) // c.stride + 1
            if h + 2 * c.padding < c.kernel or w + 2 * c.padding < c.kernel:
                raise ValueError(
                    f"network[{i}]: a {c.kernel}x{c.kernel} kernel does not fit the {h}x{w} input "
                    f"(padding {c.padding}); use a smaller kernel or more padding"
                )
            layers.append(
                LayerShape("conv", i, (ch, h, w), (c.maps, p, q), c.kernel, c.stride, c.padding)
            )
            shape = (c.maps, p, q)
        elif isinstance(entry, PoolEntry):
            last = layers[-1] if layers else None
            if last is None or last.kind != "conv" or last.entry != i - 1:
                raise ValueError(
                    f"network[{i}]: pooling follows a convolution (it pools that convolution's "
                    "activations); put it right after a {conv: ...} entry"
                )
            pl = entry.pool
            _, h, w = shape
            if pl.size > min(h, w):
                raise ValueError(
                    f"network[{i}]: a {pl.size}x{pl.size} window does not fit the {h}x{w} maps "
                    "of the convolution before it"
                )
            layers[-1] = LayerShape(
                "conv", last.entry, last.in_shape, last.out_shape, last.kernel, last.stride,
                last.padding, pl,
            )  # fmt: skip
            shape = layers[-1].next_shape
        elif entry == "flatten":
            if len(shape) != 3:
                raise ValueError(f"network[{i}]: flatten needs an image; the input is already flat")
            shape = (math.prod(shape),)
        else:
            n_in = math.prod(shape)
            layers.append(LayerShape("dense", i, (n_in,), (int(entry),)))
            shape = (int(entry),)
    last_entry = entries[-1]
    if not layers or layers[-1].kind != "dense" or layers[-1].entry != len(entries) - 1:
        raise ValueError(
            f"network[{len(entries) - 1}]: the last entry is the classifier: a dense width "
            f"(got {_describe(last_entry)})"
        )
    return layers


def _describe(entry: Any) -> str:
    if isinstance(entry, ConvEntry):
        return "a convolution"
    if isinstance(entry, PoolEntry):
        return "a pooling layer"
    return repr(entry)


def input_shape(entries: list) -> tuple[int, ...]:
    """The network input: (n,) or (channels, height, width)."""
    first = entries[0]
    return (first,) if isinstance(first, int) else tuple(first)


def describe(entries: list) -> str:
    """The network in one line, for messages: ``[784, 500, 10]`` (dense) or
    ``1x28x28-conv9x9x8-maxpool2-...-10``."""
    if all(isinstance(e, int) for e in entries):
        return str(list(entries))
    parts = []
    for e in entries:
        if isinstance(e, int):
            parts.append(str(e))
        elif isinstance(e, list | tuple):
            parts.append("x".join(str(v) for v in e))
        elif isinstance(e, ConvEntry):
            parts.append(f"conv{e.conv.kernel}x{e.conv.kernel}x{e.conv.maps}")
        elif isinstance(e, PoolEntry):
            parts.append(f"{e.pool.kind}pool{e.pool.size}")
        else:
            parts.append(str(e))
    return "-".join(parts)
