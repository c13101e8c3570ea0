"""Activity: what a layer did over some samples, the one input of every counting rule.

Room: graph. The engine measures an Activity per layer (non-zero entries, pulses, ...) while it
trains; the analytic counter makes one from activity factors (densities). Both hand it to the
same counting rules (cimest/graph/roles.py), so engine and analytic counts agree by construction
wherever their activity does. Factors are densities of these totals (``factors``) and the totals
of one sample back from factors (``from_factors``): neither inverts a counting rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from cimest.graph.shapes import LayerMap
from cimest.spec.architecture import ActivityFactors


@dataclass
class Activity:
    """Totals of one layer over ``samples`` samples (floats: expected values when analytic)."""

    samples: float = 0.0
    inputs_driven: float = 0.0
    """Non-zero entries of the layer's forward input, summed over samples and uses."""
    errors_driven: float = 0.0
    """Non-zero entries of the layer's error delta (what drives its backward MVM through W^T)."""
    feedback_driven: float = 0.0
    """DFA: non-zero entries of the output error driving this layer's feedback array."""
    gradient_terms: float = 0.0
    """Non-zero products x_i * delta_j (binary rules: accumulator read-modify-writes)."""
    updates: float = 0.0
    """Weight updates (batches)."""
    devices_programmed: float = 0.0
    """Devices that got at least one pulse in an update, summed over updates."""
    set_pulses: float = 0.0
    reset_pulses: float = 0.0
    program_steps: float = 0.0
    """Write steps of the programming schedule (tiles in parallel; in a tile, rows one after
    another; in a row, groups of parallel_columns cells, each first as long as its longest SET
    train, then as long as its longest RESET train; empty groups and rows skipped), summed over
    updates; each step is one pulse slot, SET or RESET."""
    program_set_steps: float = 0.0
    """Of ``program_steps``, the SET slots."""
    row_pulses: float = 0.0
    """pulse_coincidence: pulses fired on the rows (inputs) in the update slots."""
    col_pulses: float = 0.0
    """pulse_coincidence: pulses fired on the columns (outputs) in the update slots."""

    @property
    def pulses(self) -> float:
        return self.set_pulses + self.reset_pulses

    def add(self, other: Activity) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Activity:
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in data.items() if k in known})

    def factors(
        self, lm: LayerMap, feedback: LayerMap | None = None, pulse_length: int = 1
    ) -> dict[str, float]:
        """Densities of these totals, in the form ``workload.activity.per_layer`` takes."""
        n = max(self.samples, 1e-300)
        uses = n * lm.uses_per_sample
        f = {
            "input_density": self.inputs_driven / (uses * lm.n_in),
            "error_density": self.errors_driven / (uses * lm.n_out),
            "gradient_density": self.gradient_terms / (uses * lm.n_weights),
            "update_fraction": self.devices_programmed / (n * lm.n_devices),
            "pulses_per_update": self.pulses / self.devices_programmed
            if self.devices_programmed
            else 1.0,
            "set_fraction": self.set_pulses / self.pulses if self.pulses else 0.5,
            "updates_per_sample": self.updates / n,
        }
        if self.program_steps:
            f["write_steps_per_update"] = self.program_steps / self.updates if self.updates else 0.0
            f["write_set_fraction"] = self.program_set_steps / self.program_steps
        if self.row_pulses or self.col_pulses:
            # per update cycle: one per sample and use (a convolution updates at every position)
            f["update_row_density"] = self.row_pulses / (uses * lm.n_in * pulse_length)
            f["update_col_density"] = self.col_pulses / (uses * lm.n_out * pulse_length)
        return f

    @classmethod
    def from_factors(
        cls,
        a: ActivityFactors,
        lm: LayerMap,
        *,
        batch_size: int,
        output_error_density: float,
        feedback: LayerMap | None = None,
        pulse_length: int = 1,
    ) -> Activity:
        """Expected totals of one sample from densities (the analytic counter's activity)."""
        uses = lm.uses_per_sample
        gradient = a.gradient_density
        if gradient is None:
            gradient = a.input_density * a.error_density
        programmed = a.update_fraction * lm.n_devices
        pulses = programmed * a.pulses_per_update
        updates = a.updates_per_sample if a.updates_per_sample is not None else 1.0 / batch_size
        steps = (a.write_steps_per_update or 0.0) * updates
        set_slots = a.write_set_fraction if a.write_set_fraction is not None else a.set_fraction
        return cls(
            samples=1.0,
            inputs_driven=a.input_density * lm.n_in * uses,
            errors_driven=a.error_density * lm.n_out * uses,
            feedback_driven=output_error_density * feedback.n_in if feedback is not None else 0.0,
            gradient_terms=gradient * lm.n_weights * uses,
            updates=updates,
            program_steps=steps,
            program_set_steps=steps * set_slots,
            devices_programmed=programmed,
            set_pulses=pulses * a.set_fraction,
            reset_pulses=pulses * (1 - a.set_fraction),
            row_pulses=(a.update_row_density or 0.0) * lm.n_in * pulse_length * uses,
            col_pulses=(a.update_col_density or 0.0) * lm.n_out * pulse_length * uses,
        )
