"""Training state: weights or conductances, accumulators, random sources, histories.

Room: engine. The whole state of a run lives here (no globals), so a checkpoint is this object
written to disk and a resumed run continues bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cimest.counts import EventCounts


@dataclass
class LayerState:
    """Storage of one layer. Exactly one representation is used, by the rule's variant:

    - ``g`` (and ``g_minus`` for differential pairs): device conductances, S (memristor);
    - ``w`` (and ``b``): float weights (software, float variant) or integer weights (``w_int``).
    """

    g: np.ndarray | None = None
    g_minus: np.ndarray | None = None
    d2d: np.ndarray | None = None
    d2d_minus: np.ndarray | None = None
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    w_int: np.ndarray | None = None
    acc: np.ndarray | None = None
    residual: np.ndarray | None = None
    """Full-precision designs: pulses owed but not yet applied (fraction of a step)."""
    ref_row: np.ndarray | None = None
    """Real reference devices read against each row's weights in the forward pass (n_in,), S."""
    ref_col: np.ndarray | None = None
    """Real reference devices read against each column's weights in the backward pass (n_out,), S."""
    pulses: np.ndarray | None = None
    """Programming pulses per device so far (wear); shape (n_in, n_out) or (2, n_in, n_out)."""

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}


@dataclass
class EngineState:
    """Everything a run needs to continue: the Flax-style state of DESIGN.md."""

    epoch: int
    """Epochs completed."""
    batch: int
    """Batches of the current epoch completed (0 at an epoch boundary)."""
    layers: list[LayerState]
    feedback: list[np.ndarray]
    samplers: dict
    """Random sources by sampling site (input, z1, d1, ..., out), each with state()."""
    device_rng: np.random.Generator
    accuracy_history: list[float] = field(default_factory=list)
    """Accuracy of the modelled inference path (the chip's converters, comparators, samples)."""
    accuracy_float_history: list[float] = field(default_factory=list)
    """Accuracy of the same weights evaluated in float."""
    loss_history: list[float] = field(default_factory=list)
    counts_per_epoch: list[EventCounts] = field(default_factory=list)
    epoch_counts: EventCounts | None = None
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0
    programmed: dict = field(default_factory=dict)
    """Devices that received at least one programming pulse in an update, per layer, whole run."""
    read_weights: list = field(default_factory=list, repr=False)
    """Per layer, the weights as the crossbar reads them (rules.effective_weights), kept between
    batches and refreshed where an update changed them; None where stale. Derived from ``layers``,
    so never checkpointed."""
