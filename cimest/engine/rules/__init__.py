"""The learning rules, one module each, and the one table that binds a rule name to its step.

Room: engine. Each module's ``train_batch(setup, state, xb, yb, meter) -> summed loss`` runs one
batch: forward, backward and update, mutating the state and telling the Meter what the hardware
saw. What a rule asks of the chip (its family, backward path, update kind) is declared in
cimest/spec/rules.py; a test holds the two tables equal. Adding a rule: a module here, a line in
STEPS, an entry in spec/rules.py.
"""

from __future__ import annotations

from cimest.engine.rules import backprop, binary_stochastic, dfa, pulse_coincidence, software
from cimest.engine.rules.common import Meter, Setup, effective_weights, predict, predict_float

STEPS = {
    "binary_stochastic": binary_stochastic.train_batch,
    "backprop": backprop.train_batch,
    "dfa": dfa.train_batch,
    "pulse_coincidence": pulse_coincidence.train_batch,
    "software": software.train_batch,
}


def train_batch(setup: Setup, state, xb, yb, meter: Meter) -> float:
    """One training step of the setup's rule on a batch; returns the batch's summed loss."""
    return STEPS[setup.rule](setup, state, xb, yb, meter)


__all__ = [
    "STEPS",
    "Meter",
    "Setup",
    "effective_weights",
    "predict",
    "predict_float",
    "train_batch",
]
