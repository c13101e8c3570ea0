"""EventCounts: how many times each component did each action. Leaf module.

The one type both producers emit: the training engine (exact, ``source="measured"``) and the
analytic counter (from layer shapes and activity factors, ``source="analytic"``). Counts never
depend on a device library, so stored counts can be re-costed for any node or library.

A key is ``(layer, phase, component, action)``: ``layer`` is a layer name of the component graph
(``"L1"``), ``phase`` one of ``PHASES``, ``component`` a component role of that layer in the graph
(``"readout"``, ``"cell"``), ``action`` an action of that component's kind (``"convert"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

PHASES = ("forward", "backward", "update")
Key = tuple[str, str, str, str]


@dataclass
class EventCounts:
    """Event totals over ``n_samples`` samples of one mode.

    Attributes:
        counts: total events per (layer, phase, component, action).
        n_samples: how many samples the totals cover (training samples, or inferences).
        mode: ``"train"`` (forward, backward and update per sample) or ``"inference"``.
        source: ``"analytic"`` or ``"measured"``.
    """

    counts: dict[Key, float] = field(default_factory=dict)
    n_samples: int = 1
    mode: str = "train"
    source: str = "analytic"
    activity: dict[str, dict[str, float]] = field(default_factory=dict)
    """The activity the counts were made from, per layer (totals over ``n_samples``: non-zero
    inputs, errors, pulses, ...; cimest.graph.activity.Activity); summed when counts merge."""

    def add(self, layer: str, phase: str, component: str, action: str, n: float) -> None:
        """Add ``n`` events (zero is recorded too, so a counted-but-idle action stays visible)."""
        key = (layer, phase, component, action)
        self.counts[key] = self.counts.get(key, 0) + n

    def __iter__(self) -> Iterator[tuple[Key, float]]:
        return iter(sorted(self.counts.items()))

    def get(self, layer: str, phase: str, component: str, action: str) -> float:
        return self.counts.get((layer, phase, component, action), 0)

    def total(
        self,
        layer: str | None = None,
        phase: str | None = None,
        component: str | None = None,
        action: str | None = None,
    ) -> float:
        """Sum of the counts matching every given field."""
        want = (layer, phase, component, action)
        return sum(
            n
            for key, n in self.counts.items()
            if all(w is None or w == k for w, k in zip(want, key, strict=True))
        )

    def per_sample(self) -> dict[Key, float]:
        return {k: v / self.n_samples for k, v in self.counts.items()}

    def merged(self, other: EventCounts) -> EventCounts:
        """Counts of both runs together (same mode and source)."""
        if other.mode != self.mode:
            raise ValueError(f"cannot merge {self.mode} counts with {other.mode} counts")
        out = EventCounts(dict(self.counts), self.n_samples, self.mode, self.source,
                          {k: dict(v) for k, v in self.activity.items()})
        out.accumulate(other)
        return out

    def accumulate(self, other: EventCounts) -> None:
        """Add ``other``'s samples, counts and activity to these, in place."""
        self.n_samples += other.n_samples
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        for layer, quantities in other.activity.items():
            mine = self.activity.setdefault(layer, {})
            for name, v in quantities.items():
                mine[name] = mine.get(name, 0) + v

    def to_dict(self) -> dict:
        return {
            "n_samples": self.n_samples,
            "mode": self.mode,
            "source": self.source,
            "records": [
                {"layer": k[0], "phase": k[1], "component": k[2], "action": k[3], "count": v}
                for k, v in self
            ],
            "activity": self.activity,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> EventCounts:
        counts = {
            (r["layer"], r["phase"], r["component"], r["action"]): r["count"]
            for r in data["records"]
        }
        activity = {str(layer): {str(k): float(v) for k, v in q.items()}
                    for layer, q in (data.get("activity") or {}).items()}
        return cls(counts, int(data["n_samples"]), data["mode"], data["source"], activity)


def sum_counts(parts: Iterable[EventCounts]) -> EventCounts:
    """Merge a sequence of counts (for example one per epoch) into one."""
    parts = list(parts)
    if not parts:
        return EventCounts(n_samples=0)
    out = parts[0]
    for part in parts[1:]:
        out = out.merged(part)
    return out
