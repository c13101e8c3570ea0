"""The learning rules cimest knows, as declarations: what each needs from the chip.

Room: spec. One entry per rule; the arithmetic of each lives in its own module under
``cimest/engine/rules/`` (a test holds the two lists equal). The graph reads these traits to decide
which roles a layer has (cimest/graph/roles.py), the schedule to order the backward steps, the
validation to check the peripherals. Adding a rule: one entry here, one module there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RuleTraits:
    """What a learning rule asks of the hardware.

    Attributes:
        name: the value of ``algorithm.rule``.
        family: ``binary`` (1-bit signals: comparators, ternary drivers), ``full_precision``
            (DAC/ADC), or ``by_feedback`` (DFA: binary when ``algorithm.binary_feedback``).
        backward: ``transpose`` (errors go back through W transposed: F1..FN, BN..B1) or
            ``feedback`` (every hidden layer's error comes from the output error through a fixed
            random matrix: its backward steps run in parallel).
        update: ``accumulate`` (a per-weight gradient memory, then programming pulses) or
            ``coincidence`` (stochastic pulse trains on rows and columns program the devices where
            they coincide: no gradient memory).
        prices_hardware: False for the float reference, whose estimate has no hardware to price.
        source: where the rule is published.
    """

    name: str
    family: Literal["binary", "full_precision", "by_feedback"]
    backward: Literal["transpose", "feedback"]
    update: Literal["accumulate", "coincidence"]
    prices_hardware: bool
    source: str

    @property
    def gradient_memory(self) -> bool:
        """Whether the rule needs a per-weight gradient accumulator."""
        return self.update == "accumulate"


RULES: dict[str, RuleTraits] = {
    r.name: r
    for r in (
        RuleTraits(
            "binary_stochastic",
            "binary",
            "transpose",
            "accumulate",
            True,
            "Li et al., arXiv:2304.12866 (2023)",
        ),
        RuleTraits(
            "backprop",
            "full_precision",
            "transpose",
            "accumulate",
            True,
            "in-situ backprop with DAC/ADC peripherals (NeuroSim V2.1 style)",
        ),
        RuleTraits(
            "dfa",
            "by_feedback",
            "feedback",
            "accumulate",
            True,
            "direct feedback alignment (Noekland 2016; Wolters et al., MWSCAS 2023)",
        ),
        RuleTraits(
            "pulse_coincidence",
            "full_precision",
            "transpose",
            "coincidence",
            True,
            "Gokmen & Vlasov, Front. Neurosci. 10:333 (2016); aihwkit's pulsed update",
        ),
        RuleTraits(
            "software",
            "full_precision",
            "transpose",
            "accumulate",
            False,
            "float backprop: the reference, no hardware",
        ),
    )
}


def is_binary(rule: str, binary_feedback: bool = False) -> bool:
    """Whether a rule (with its DFA option) runs on 1-bit signals."""
    family = RULES[rule].family
    return family == "binary" or (family == "by_feedback" and binary_feedback)
