"""The floorplan area model (technology.area_model: floorplan): tiles as bounding boxes.

Room: costs (imports graph and the priced components; no spec loading, no printing).

A tile is laid out as NeuroSim lays out a sub-array (DNN+NeuroSim V1.4 SubArray.cpp,
CalculateArea): the cell array, rows x cols cells of the cell's height and width (its area and
the library's aspect_hw), with every array-edge peripheral pitch-matched to the edge it serves.
A peripheral on the row side (one per row: input drivers, row level shifters, decoders) is as
high as the array and as wide as its area over the array's height; those on the column side
(ADCs, muxes, shift-adds, column level shifters) are as wide as the array and as high as their
area over its width (NeuroSim's LevelShifter, MultilevelSenseAmp: width = area / height). Row-side
blocks stack side by side, column-side blocks one below the other, and the tile is the box

    (W + A_row / H) x (H + A_col / W),   W, H: the array's width and height,

A_row, A_col: the areas of one tile's row- and column-side peripherals. The box holds the array,
the peripherals and two empty corners, whose area is A_row x A_col / (W x H) per tile: the
``layout`` line of the area breakdown, so the placed areas plus it give the floorplan. Components
on neither edge (digital units, buffers, read-outs shared by several tiles) add their areas as in
the sum model. Not modelled: the PE, tile and chip H-trees and buffers NeuroSim adds above the
sub-arrays, and the rounding of a pitch-matched block to whole transistor columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cimest.costs.pricing import Priced
from cimest.graph.compile import ComponentGraph

LAYOUT_ROLE = "layout"
"""The component name of a layer's empty floorplan corners in the area breakdown."""


@dataclass(frozen=True)
class TileBox:
    """The floorplan of one tile of a layer (metres, square metres)."""

    layer: str
    n_tiles: int
    array_width_m: float
    array_height_m: float
    row_side_m2: float
    """Area of one tile's row-side peripherals."""
    col_side_m2: float
    """Area of one tile's column-side peripherals."""

    @property
    def width_m(self) -> float:
        return self.array_width_m + self.row_side_m2 / self.array_height_m

    @property
    def height_m(self) -> float:
        return self.array_height_m + self.col_side_m2 / self.array_width_m

    @property
    def area_m2(self) -> float:
        return self.width_m * self.height_m

    @property
    def empty_m2(self) -> float:
        """The two corners the box holds beyond the array and its peripherals."""
        return self.row_side_m2 * self.col_side_m2 / (self.array_width_m * self.array_height_m)


def tile_boxes(graph: ComponentGraph, priced: dict[tuple[str, str], Priced]) -> list[TileBox]:
    """One TileBox per layer, from the cell's priced area and aspect and the edge instances the
    roles declare (Component.edge_row, edge_col)."""
    out = []
    for lm in graph.layers:
        cell = priced[(lm.name, "cell")]
        cell_height = math.sqrt(cell.area_m2 * cell.aspect_hw)
        cell_width = math.sqrt(cell.area_m2 / cell.aspect_hw)
        row_side = col_side = 0.0
        for (layer, role), comp in graph.components.items():
            if layer != lm.name:
                continue
            area = priced[(layer, role)].area_m2
            row_side += comp.edge_row * area
            col_side += comp.edge_col * area
        out.append(
            TileBox(
                lm.name,
                lm.n_tiles,
                lm.cols * cell_width,
                lm.rows * cell_height,
                row_side,
                col_side,
            )
        )
    return out
