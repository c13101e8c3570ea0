"""Layer shapes and how each layer's weight matrix sits on its tiles. Room: graph.

A layer has an input and an output shape, a weight matrix of ``n_in x n_out`` (dense: the input
and output widths) mapped onto crossbar tiles, and ``uses_per_sample``: how many times that matrix
is used per sample (1 for dense layers; the output positions of a convolution). Every counting rule
multiplies by the uses, and the schedule repeats a layer's step that many times.

Mapping conventions (documented in the README):
- reference_column: one device per weight; each tile gives one column to the reference devices,
  so a tile holds ``cols - 1`` weight columns. differential_pair: two devices (G+, G-) per weight,
  ``cols // 2`` weights per tile row. differential_rows: the pair sits on neighbouring rows driven
  +V and -V, so a tile holds ``rows // 2`` inputs and ``cols`` weight columns, and every driven
  input drives two rows.
- Row tiles ``R = ceil(n_in / inputs_per_tile)``, column tiles ``C = ceil(n_out / weight_cols_per_tile)``.
- Tile size per layer: the crossbar's ``rows x cols``, a layer's own (``crossbar.per_layer``), and
  with ``size: fit`` shrunk to the layer where it needs less than a tile (MLP+NeuroSim's arrays
  sized to layers): rows = min(rows, inputs x rows per input), cols = min(cols, columns needed).
- Weight slices (ISAAC, NeuroSim): a weight of ``weight_bits`` on cells of ``bits_per_cell`` takes
  ``slices = ceil(weight_bits / bits_per_cell)`` neighbouring columns (per device of its encoding);
  each column is read out on its own and the slices are shift-added digitally. A tile then holds
  ``weight columns // slices`` outputs.
- Duplication (``duplicate: N``): N copies of the layer's tiles, each computing a share of the
  output positions (ceil(uses / N) positions per copy), trading area for latency; programming
  writes every copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cimest.spec.network import LayerShape, PoolSpec


@dataclass(frozen=True)
class LayerMap:
    """One layer: its shapes, and how its weight matrix sits on the tiles."""

    name: str
    index: int
    n_in: int
    n_out: int
    is_output: bool
    row_tiles: int
    col_tiles: int
    devices_per_weight: int
    weight_cols_per_tile: int
    rows: int
    cols: int
    rows_per_input: int = 1
    """Rows one input drives: 2 for differential_rows (+V and -V), else 1."""
    kind: str = "dense"
    """dense | conv (the kernel unrolled along the rows: n_in = C*R*S; maps along the columns)."""
    in_shape: tuple[int, ...] = ()
    """Shape of one sample's input to the layer (dense: (n_in,); conv: (C, H, W))."""
    out_shape: tuple[int, ...] = ()
    """Shape of one sample's output of the layer before pooling (dense: (n_out,); conv: (K, P, Q))."""
    uses_per_sample: int = 1
    """Times the weight matrix is applied per sample (dense 1; a convolution's output positions)."""
    kernel: int = 1
    """Convolution: side of the square kernel."""
    stride: int = 1
    padding: int = 0
    pool: PoolSpec | None = None
    """Convolution: the pooling after its activation."""
    next_shape: tuple[int, ...] = ()
    """Shape the next layer receives (the pooled maps of a convolution with pooling)."""
    slices: int = 1
    """Columns (per device of the encoding) one weight is split over: ceil(weight bits / bits per
    cell); each is read out on its own and the slices shift-added."""
    duplicate: int = 1
    """Copies of the layer's tiles, each computing a share of the output positions."""

    @property
    def n_tiles(self) -> int:
        """Tiles of the layer, every copy counted."""
        return self.row_tiles * self.col_tiles * self.duplicate

    @property
    def positions_per_copy(self) -> int:
        """Times one copy of the array is used per sample: the output positions it computes."""
        return math.ceil(self.uses_per_sample / self.duplicate)

    @property
    def pooled_outputs(self) -> int:
        """Values the layer hands on per sample (a convolution's pooled maps, or its outputs)."""
        return math.prod(self.next_shape) if self.next_shape else self.n_out

    def row_groups(self, parallel_rows: int | None) -> int:
        """Row groups read one after another per output column, summed over the row tiles:
        ceil(rows used / parallel_rows) per tile (NeuroSim's parallel read of N rows per
        conversion); the row tiles when every row of a tile is read at once."""
        if parallel_rows is None:
            return self.row_tiles
        rows = self.n_in * self.rows_per_input
        full, rest = divmod(rows, self.rows)
        per_full = math.ceil(self.rows / parallel_rows)
        return full * per_full + (math.ceil(rest / parallel_rows) if rest else 0)

    @property
    def n_weights(self) -> int:
        return self.n_in * self.n_out

    @property
    def n_devices(self) -> int:
        """Devices holding weights (reference devices excluded)."""
        return self.n_weights * self.devices_per_weight

    @property
    def macs_per_sample(self) -> int:
        """Multiply-accumulates of one pass through the layer for one sample."""
        return self.n_weights * self.uses_per_sample

    @property
    def has_reference(self) -> bool:
        """reference_column encoding: one device per weight slice and a reference column per tile."""
        return self.devices_per_weight == self.slices

    @property
    def cols_read_per_row(self) -> int:
        """Cells read per driven input: weight devices plus one reference per column tile."""
        if not self.has_reference:
            return self.devices_per_weight * self.n_out
        return self.slices * self.n_out + self.col_tiles

    @property
    def cells_read_per_col(self) -> int:
        """Cells read on one driven column in the backward pass (plus one reference per row tile)."""
        if not self.has_reference:
            return self.devices_per_weight * self.n_in
        return self.n_in + self.row_tiles

    @property
    def used_cells(self) -> int:
        """Cells holding a weight device or a reference device, every copy counted."""
        reference = self.n_in * self.col_tiles if self.has_reference else 0
        return (self.n_devices + reference) * self.duplicate

    @property
    def utilisation(self) -> float:
        """Fraction of the layer's cells that hold a weight or reference device."""
        return self.used_cells / (self.n_tiles * self.rows * self.cols)

    @property
    def column_utilisation(self) -> float:
        """Fraction of the tiles' weight columns that hold an output."""
        return self.n_out / (self.col_tiles * self.weight_cols_per_tile)


def columns_needed(n_out: int, encoding: str, slices: int = 1) -> int:
    """Columns of one tile holding all ``n_out`` outputs (``slices`` columns per device)."""
    if encoding == "differential_pair":
        return 2 * n_out * slices
    if encoding == "differential_rows":
        return n_out * slices
    return n_out * slices + 1


def map_layer(
    name: str,
    index: int,
    n_in: int,
    n_out: int,
    is_output: bool,
    rows: int,
    cols: int,
    encoding: str,
    fit: bool = False,
    shape: LayerShape | None = None,
    slices: int = 1,
    duplicate: int = 1,
) -> LayerMap:
    """Map an ``n_in x n_out`` weight matrix onto tiles of ``rows x cols`` cells (``fit``: shrunk
    to the layer where it needs less). ``shape``: the layer's shapes from the network (a
    convolution's kernel, stride, padding, pooling and output positions); ``slices``: columns per
    weight device (weight bits over bits per cell); ``duplicate``: copies of the tiles.

    Raises:
        ValueError: a tile too narrow for one weight's slices.
    """
    rows_per_input = 2 if encoding == "differential_rows" else 1
    if fit:
        rows = max(min(rows, n_in * rows_per_input), 2)
        cols = max(min(cols, columns_needed(n_out, encoding, slices)), 2)
    inputs_per_tile = rows // rows_per_input
    if encoding == "differential_pair":
        per_weight, weight_cols = 2 * slices, cols // (2 * slices)
    elif encoding == "differential_rows":
        per_weight, weight_cols = 2 * slices, cols // slices
    else:
        per_weight, weight_cols = slices, (cols - 1) // slices
    if weight_cols < 1:
        raise ValueError(
            f"{name}: a weight of {slices} slices does not fit a tile of {cols} columns"
        )
    lm = LayerMap(
        name=name,
        index=index,
        n_in=n_in,
        n_out=n_out,
        is_output=is_output,
        row_tiles=math.ceil(n_in / inputs_per_tile),
        col_tiles=math.ceil(n_out / weight_cols),
        devices_per_weight=per_weight,
        weight_cols_per_tile=weight_cols,
        rows=rows,
        cols=cols,
        rows_per_input=rows_per_input,
        in_shape=(n_in,),
        out_shape=(n_out,),
        next_shape=(n_out,),
        slices=slices,
        duplicate=duplicate,
    )
    if shape is None or shape.kind == "dense":
        return lm
    return replace(
        lm,
        kind=shape.kind,
        in_shape=shape.in_shape,
        out_shape=shape.out_shape,
        uses_per_sample=shape.uses,
        kernel=shape.kernel,
        stride=shape.stride,
        padding=shape.padding,
        pool=shape.pool,
        next_shape=shape.next_shape,
    )


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def layer_text(lm: LayerMap) -> str:
    """The layer's kind and shapes in one line: ``dense 784 → 500`` or ``conv 9×9 (stride 1,
    padding 0) 1×28×28 → 8×20×20, 400 positions, max-pool 2×2 → 8×10×10``."""
    if lm.kind != "conv":
        return f"dense {lm.n_in} → {lm.n_out}"
    text = (
        f"conv {lm.kernel}×{lm.kernel} (stride {lm.stride}, padding {lm.padding}) "
        f"{_dims(lm.in_shape)} → {_dims(lm.out_shape)}, {lm.uses_per_sample} positions"
    )
    if lm.pool is not None:
        text += f", {lm.pool.kind}-pool {lm.pool.size}×{lm.pool.size} → {_dims(lm.next_shape)}"
    return text


def layer_summary(lm: LayerMap) -> dict:
    """The layer's kind, shapes and mapping, as the JSON and the report give them."""
    out = {
        "name": lm.name,
        "kind": lm.kind,
        "n_in": lm.n_in,
        "n_out": lm.n_out,
        "in_shape": list(lm.in_shape),
        "out_shape": list(lm.out_shape),
        "uses_per_sample": lm.uses_per_sample,
        "row_tiles": lm.row_tiles,
        "col_tiles": lm.col_tiles,
        "duplicate": lm.duplicate,
        "n_tiles": lm.n_tiles,
        "slices": lm.slices,
        "tile": [lm.rows, lm.cols],
        "utilisation": lm.utilisation,
        "text": layer_text(lm),
    }
    if lm.kind == "conv":
        out.update(kernel=lm.kernel, stride=lm.stride, padding=lm.padding)
        out["pool"] = (
            None
            if lm.pool is None
            else {"kind": lm.pool.kind, "size": lm.pool.size, "stride": lm.pool.step}
        )
        out["next_shape"] = list(lm.next_shape)
    return out
