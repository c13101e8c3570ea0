"""Stochastic pulse-coincidence update (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016; the
default pulsed update of IBM's aihwkit).

Room: engine. Forward and backward as full-precision backprop. The update needs no gradient
memory: for every sample, each row i fires a pulse in each of BL slots with probability
min(C |x_i|, 1) and each column j with probability min(C |delta_j|, 1); a device is programmed by
one pulse in every slot where its row and its column both fire, in the direction of -sign(x_i
delta_j). With C = sqrt(eta_s / (BL dw_min)) the expected change is -eta_s x_i delta_j, where
eta_s = eta / B is the per-sample learning rate of a batch of B and dw_min = 1 / n_steps the
weight change of one pulse. The samples of a batch are applied one after another, as a chip
updating online would; a convolution's output positions too, each an update cycle of its own
(Gokmen, Onen & Haensch, Front. Neurosci. 11:538, 2017).
"""

from __future__ import annotations

import math

import numpy as np

from cimest.engine.rules import backprop
from cimest.engine.rules.common import Meter, Setup, after_update, program
from cimest.engine.state import EngineState, LayerState
from cimest.graph.shapes import LayerMap


def update(
    setup: Setup,
    state: EngineState,
    layer: LayerState,
    lm: LayerMap,
    x: np.ndarray,
    delta: np.ndarray,
    meter: Meter,
) -> None:
    bl = setup.spec.algorithm.pulse_length
    B = x.shape[0] // lm.uses_per_sample
    c = math.sqrt((setup.eta_of(lm.name) / B) * setup.device.n_steps / bl)
    rng = state.samplers["update"]
    uses = x.shape[0]  # one update cycle per sample and, for a convolution, per position
    p_row = np.minimum(c * np.abs(x), 1.0)
    p_col = np.minimum(c * np.abs(delta), 1.0)
    rows = (rng.uniform((uses, bl, lm.n_in)) < p_row[:, None, :]).astype(np.float32)
    cols = (rng.uniform((uses, bl, lm.n_out)) < p_col[:, None, :]).astype(np.float32)
    meter.coincidence(lm.name, int(rows.sum()), int(cols.sum()))
    meter.update(lm.name)
    sign = -(np.sign(x)[:, :, None] * np.sign(delta)[:, None, :]).astype(np.int64)
    for b in range(uses):
        hits = np.rint(rows[b].T @ cols[b]).astype(np.int64)  # coincidences per device
        n = hits * sign[b]
        if np.any(n):
            program(setup, layer, n, state.device_rng, meter, lm.name)


def train_batch(
    setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter
) -> float:
    xs, dz, delta, loss, W, routes = backprop.forward(setup, state, xb, yb, meter)
    layers = setup.graph.layers

    def update_layer(i: int, d: np.ndarray) -> None:
        update(setup, state, state.layers[i], layers[i], xs[i], d, meter)
        after_update(setup, state, i, layers[i].name, None)

    backprop.backward_transpose(setup, state, W, delta, dz, meter, update_layer, routes)
    return loss
