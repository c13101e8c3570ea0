"""Direct feedback alignment (reference/algorithms.md section 4; Wolters et al., MWSCAS 2023).

Room: engine. Every hidden layer's error is the output error through its own fixed random matrix
B_l (a never-updated feedback array): delta_l = (delta_N B_l) * f'(y_l), so the backward steps of
all layers depend only on the output error. Full precision by default; with
``algorithm.binary_feedback`` the binary variant mirrors BSL: sampled forward, sign(delta_N B_l)
times the sampled derivative, threshold updates.
"""

from __future__ import annotations

import numpy as np

from cimest.engine.rules import backprop, binary_stochastic
from cimest.engine.rules.common import Meter, Setup, after_update, error_at_output
from cimest.engine.state import EngineState


def train_batch(
    setup: Setup, state: EngineState, xb: np.ndarray, yb: np.ndarray, meter: Meter
) -> float:
    """One DFA step. A convolution's feedback array maps the output error onto its pooled output
    (columns in (channels, height, width) order); the error is routed back through the pooling
    to every position, then multiplied by the derivative there (binary: the sign first)."""
    layers = setup.graph.layers
    if setup.binary:
        xs, ds, delta, loss, _, routes = binary_stochastic.forward(setup, state, xb, yb, meter)
        deltas = [None] * len(layers)
        deltas[-1] = delta
        for i, lm in enumerate(layers[:-1]):
            meter.feedback(lm.name, delta)
            e = np.sign(delta @ state.feedback[i]).astype(np.int8)
            e = error_at_output(lm, e, routes[i], binary=True)
            deltas[i] = (e * ds[i]).astype(np.int8)
        for i in range(len(layers) - 1, -1, -1):
            meter.errors(layers[i].name, deltas[i])
            changed = binary_stochastic.update(
                setup, state.layers[i], layers[i], xs[i], deltas[i], state.device_rng, meter
            )
            after_update(setup, state, i, layers[i].name, changed)
        return loss
    xs, dz, delta, loss, _, routes = backprop.forward(setup, state, xb, yb, meter)
    drive, read = backprop.error_path(setup)
    dq, scale = drive(delta)
    meter.errors(layers[-1].name, dq)
    deltas = [None] * len(layers)
    deltas[-1] = delta
    for i, lm in enumerate(layers[:-1]):
        meter.feedback(lm.name, dq)
        deltas[i] = error_at_output(lm, read(dq @ state.feedback[i], scale), routes[i]) * dz[i]
        meter.errors(lm.name, deltas[i])
    for i in range(len(layers) - 1, -1, -1):
        changed = backprop.update(
            setup, state.layers[i], layers[i], xs[i], deltas[i], state.device_rng, meter
        )
        after_update(setup, state, i, layers[i].name, changed)
    return loss
