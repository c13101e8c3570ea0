"""EventCounts: how many times each component did each action. Leaf module.

The one type both producers emit: the training engine (exact, ``source="measured"``) and the
analytic counter (from layer shapes and activity factors, ``source="analytic"``). Counts never
depend on a device library, so stored counts can be re-costed for any node or library.

A key is ``(layer, phase, component, action)``: ``layer`` is a layer name of the component graph
(``"L1"``), ``phase`` one of ``PHASES``, ``component`` a component role of that layer in the graph
(``"readout"``, ``"cell"``), ``action`` an action of that component's kind (``"convert"``).
"""

from __future__ import annotations

import math
import numbers
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
        out = EventCounts(
            dict(self.counts),
            self.n_samples,
            self.mode,
            self.source,
            {k: dict(v) for k, v in self.activity.items()},
        )
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
        """The counts of ``to_dict``'s record.

        Raises:
            ValueError: the record is not what ``to_dict`` writes (wrong types, negative or
                non-finite counts, repeated keys), with what is wrong.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"counts are {type(data).__name__}, not a mapping")
        records, n_samples = data.get("records"), data.get("n_samples")
        if not isinstance(records, list):
            raise ValueError("counts have no list of records")
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, numbers.Integral)
            or n_samples < 0
        ):
            raise ValueError(f"n_samples is {n_samples!r}, not a whole number >= 0")
        if data.get("mode") not in ("train", "inference") or not isinstance(
            data.get("source"), str
        ):
            raise ValueError(f"mode {data.get('mode')!r} / source {data.get('source')!r} unknown")
        counts: dict[Key, float] = {}
        for i, r in enumerate(records):
            key = (
                tuple(r.get(f) for f in ("layer", "phase", "component", "action"))
                if isinstance(r, Mapping)
                else ()
            )
            n = r.get("count") if isinstance(r, Mapping) else None
            if len(key) != 4 or not all(isinstance(k, str) for k in key):
                raise ValueError(f"record {i} lacks layer, phase, component or action")
            if isinstance(n, bool) or not isinstance(n, numbers.Real) or not 0 <= n < math.inf:
                raise ValueError(f"record {i} has count {n!r}, not a finite number >= 0")
            if key in counts:
                raise ValueError(f"record {i} repeats {'.'.join(key)}")
            counts[key] = n  # type: ignore[index]
        activity = data.get("activity") or {}
        if not isinstance(activity, Mapping) or not all(
            isinstance(q, Mapping)
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in q.values())
            for q in activity.values()
        ):
            raise ValueError("activity is not a mapping of layers to numbers")
        activity = {
            str(layer): {str(k): float(v) for k, v in q.items()} for layer, q in activity.items()
        }
        return cls(counts, int(n_samples), data["mode"], data["source"], activity)


def sum_counts(parts: Iterable[EventCounts]) -> EventCounts:
    """Merge a sequence of counts (for example one per epoch) into one."""
    parts = list(parts)
    if not parts:
        return EventCounts(n_samples=0)
    out = parts[0]
    for part in parts[1:]:
        out = out.merged(part)
    return out
