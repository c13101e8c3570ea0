"""The software reference: float backprop with no converters and no devices.

Room: engine. Backprop's arithmetic with every quantizer and the device left out (Setup.ideal),
float64 weights and biases, plain SGD; it prices no hardware (cimest/spec/rules.py).
"""

from __future__ import annotations

from cimest.engine.rules.backprop import train_batch

__all__ = ["train_batch"]
