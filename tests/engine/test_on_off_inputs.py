"""Full-precision rules behind an on/off row driver drive a row when its value is >= 0.5, as
MLP+NeuroSim V3.0 binarises its 1-bit inputs and hidden activations (formula.cpp truncate and
round_th, BWthreshold = Hthreshold = 0.5); a DAC still drives its levels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cimest.engine.peripherals import dac_levels
from cimest.engine.rules.common import drive_levels


def test_row_driver_binarises_at_one_half_ties_on():
    x = np.array([0.0, 0.2, 0.4999, 0.5, 0.51, 1.0])
    got = drive_levels(SimpleNamespace(kind="row_driver"), x, 1)
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 1, 1])


def test_dac_keeps_its_levels():
    x = np.linspace(0, 1, 11)
    got = drive_levels(SimpleNamespace(kind="dac", bits=3), x, 3)
    np.testing.assert_array_equal(got, dac_levels(x, 3, 0.0, 1.0)[1])
