"""The memristor variant of binary stochastic learning trains with the device fits of Li et al.

Source: Y. Li et al., arXiv:2304.12866 (2023) and the authors' public code: device fits of
section 2 of reference/algorithms.md (here Tang IEDM 2018 ECRAM and the Suri JAP 2012 PCM pair).
Reached on digits (64-128-10, batch = threshold = 64, 20 epochs): ECRAM about 85 %, PCM pair
about 88 %; the tolerance asserts learning well above chance (10 %) and above 80 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures" / "binary_stochastic_rram.yaml"


@pytest.mark.parametrize(("cell", "encoding"), [("ecram_li2023", "reference_column"),
                                                ("pcm_li2023", "differential_pair")])
def test_memristor_bsl_trains_with_a_device_fit(cell, encoding):
    text = ARCH.read_text().replace("libraries: [cmos_32nm, rram_taox_hfox]",
                                    "libraries: [cmos_32nm, device_fits_li2023]")
    text = text.replace("cell: taox_hfox_rram", f"cell: {cell}")
    text = text.replace("weight_encoding: reference_column", f"weight_encoding: {encoding}")
    d = bind_design(parse_architecture(text, str(ARCH)))
    r = train(d.graph, d.libraries)
    assert r.accuracy > 0.80, r.accuracy_history
    assert r.counts.total(action="set_pulse") > 0
