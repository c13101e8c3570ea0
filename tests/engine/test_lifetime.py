"""Wear to lifetime (issue 13): a trained design's lifetime is its cell's endurance, from the
device library, over the pulses per epoch of its most-written device."""

from __future__ import annotations

import math
from pathlib import Path

from cimest.api import bind_design
from cimest.engine.train import train
from cimest.spec import load_library, parse_architecture

ROOT = Path(__file__).resolve().parents[2]
ARCH = ROOT / "architectures" / "binary_stochastic_rram.yaml"


def test_the_binary_design_on_a_cell_with_endurance_has_a_finite_lifetime():
    # The shipped binary design with its cell swapped for one whose library states an endurance
    # (the TaOx/HfOx cell of the shipped file has no published endurance: device_libraries/).
    text = ARCH.read_text()
    for old, new in {
        "cell: taox_hfox_rram": "cell: ag_asi_rram",
        "epochs: 20": "epochs: 2\n  max_train_samples: 640",
    }.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    d = bind_design(parse_architecture(text, str(ARCH)))
    r = train(d.graph, d.libraries)

    library = load_library(ROOT / "device_libraries" / "rram_taox_hfox.yaml").spec
    (cell,) = [e for e in library.entries if e.kind == "cell" and e.variant == "ag_asi_rram"]
    endurance = cell.device.endurance_cycles
    assert endurance and r.wear["endurance_cycles"] == endurance
    most = r.wear["most_written"]["pulses"]
    assert most > 0  # the run programmed devices, so wear is measured
    life = r.wear["lifetime_epochs"]
    assert math.isfinite(life)
    assert life == endurance / (most / 2)
