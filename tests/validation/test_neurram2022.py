"""NeuRRAM (Wan et al., "A compute-in-memory chip based on resistive random-access memory", Nature 608,
504, 2022; 130 nm RRAM, 48 cores of 256x256, 4-bit weights): chip TOPS, TOPS/W and energy breakdown
across (output bits, input bits), against the reference figures of reference/anchors.md (as CiMLoop's
macro tests use them: TOPS for 48 cores, 2 ops per MAC, 256 x 128 signed weights per core; the
breakdown in fJ per op = fJ per MAC / 2).

Model: architectures/neurram_like_inference.yaml (its header says what is modelled and why). One
calibration set for the whole chip, fitted on ONE point, the (6, 4) energy breakdown; every other
point is a prediction. Tolerances: TOPS and TOPS/W +-25 %, breakdown categories +-30 % (issue 5).

Measured errors (model / published - 1), with the calibration of the architecture file:

| (out, in) | TOPS           | TOPS/W         | WL + input pulses | neuron ops + control |
|-----------|----------------|----------------|-------------------|----------------------|
| (3, 1)    | -51 %  MISS    | -3.4 %         | -10.9 %           | +21.8 %              |
| (4, 2)    | -56 %  MISS    | -11.2 %        |                   |                      |
| (5, 3)    | -46 %  MISS    | -1.9 %         |                   |                      |
| (6, 4)    | -30 %  MISS    | +3.8 % (fit)   | 0.0 % (fit)       | -6.7 % (fit; leakage is not calibrated) |
| (7, 5)    | -15 %          | +18.2 %        |                   |                      |
| (8, 6)    | -7 %           | +30.3 %  MISS  |                   |                      |
| (9, 7)    | +1 %           | +18.2 %        |                   |                      |
| (10, 8)   | +18 %          | +23.8 %        | -0.5 %            | -37.0 %  MISS        |

Why the misses:
- TOPS at 3-6 output bits: cimest's neuron takes 1 us per conversion step (the library's L value from
  neurram.py's global cycle), so latency is linear in output bits (3 us at (3, 1) vs the chip's
  1.48 us). The published latency grows faster than linearly with precision (the integrator takes 2^N
  time steps per N-bit input slice, and inputs of 5 bits or more run in two phases); cimest has no
  integrator role, so it is too slow at low precision and right at high precision. No per-point
  latency factor is applied.
- TOPS/W at (8, 6) and the neuron energy at (10, 8): the neuron's missing integrator (2^N steps) and
  sample energy are folded into one factor on the ADC and shift-add, fitted at (6, 4); at high input
  bits the real integrator energy grows faster than that factor.
- WL switching and input pulses cannot be told apart: both are row_driver and cell energy in cimest
  (NeuRRAM's word-line switching 0.9 V <-> 2.2 V is a row-driver cost), so they are tested as a sum.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cimest.api import bind_design, estimate_design
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures" / "neurram_like_inference.yaml"
TOL_CHIP = 0.25
TOL_BREAKDOWN = 0.30

# (output bits, input bits) -> (chip TOPS, TOPS/W); reference/anchors.md
CHIP = {(3, 1): (2.122, 43.08), (4, 2): (1.793, 40.33), (5, 3): (1.165, 23.09), (6, 4): (0.744, 15.95),
        (7, 5): (0.525, 11.03), (8, 6): (0.418, 8.26), (9, 7): (0.344, 7.75), (10, 8): (0.264, 6.44)}
# fJ per op: (WL switching, neuron ops + control, input pulses); reference/anchors.md
BREAKDOWN = {(3, 1): (8.99, 10.62, 3.45), (6, 4): (21.76, 29.11, 11.51), (10, 8): (50.52, 75.86, 27.51)}
FIT_POINT = (6, 4)

TOPS_MISSES = {(3, 1), (4, 2), (5, 3), (6, 4)}
TOPS_PER_W_MISSES = {(8, 6)}
NEURON_MISSES = {(10, 8)}


def design_at(out_bits: int, in_bits: int, calibration: bool = True):
    text = ARCH.read_text()
    pulses = max(in_bits - 1, 1)  # signed inputs: the sign is the pulse polarity
    text = text.replace("input_bits: 3", f"input_bits: {pulses}")
    text = text.replace("{kind: dac, bits: 3, bit_serial: true}", f"{{kind: dac, bits: {pulses}, bit_serial: true}}")
    text = text.replace("{kind: adc, bits: 6, columns_per_adc: 1}", f"{{kind: adc, bits: {out_bits}, columns_per_adc: 1}}")
    if not calibration:
        text = text[: text.index("\ncalibration:")] + "\n"
    return bind_design(parse_architecture(text, str(ARCH)))


def per_op_groups(est) -> dict[str, float]:
    """fJ per op (2 ops per MAC) of the two categories cimest can separate."""
    ops = 2 * sum(est.macs_per_sample.values())
    g = {"input": 0.0, "neuron": 0.0}
    for r in est.breakdown:
        g["input" if r.kind in ("row_driver", "cell") else "neuron"] += r.energy_j / ops * 1e15
    return g


def chip_tops(est) -> float:
    return 2 * sum(est.macs_per_sample.values()) * est.throughput_samples_per_s / 1e12


def test_calibration_is_the_fit_on_one_point():
    """The file's factors are what the (6, 4) breakdown gives; nothing else was tuned."""
    base = per_op_groups(estimate_design(design_at(*FIT_POINT, calibration=False)))
    wl, neuron, pulses = BREAKDOWN[FIT_POINT]
    cal = design_at(*FIT_POINT).spec.calibration
    assert cal["row_driver"] == cal["cell"] == pytest.approx((wl + pulses) / base["input"], rel=1e-6)
    assert cal["adc"] == cal["shift_add"] == pytest.approx(neuron / base["neuron"], rel=1e-6)
    assert set(cal) == {"row_driver", "cell", "adc", "shift_add"}


def test_shape_48_cores_of_256x256():
    d = design_at(*FIT_POINT)
    assert d.graph.n_tiles == 48
    assert d.graph.macs_per_sample()["forward"] == 48 * 256 * 128


@pytest.mark.parametrize("point", sorted(set(CHIP) - TOPS_PER_W_MISSES))
def test_tops_per_w(point):
    est = estimate_design(design_at(*point))
    assert est.tops_per_w == pytest.approx(CHIP[point][1], rel=TOL_CHIP)


@pytest.mark.parametrize("point", sorted(set(CHIP) - TOPS_MISSES))
def test_tops(point):
    est = estimate_design(design_at(*point))
    assert chip_tops(est) == pytest.approx(CHIP[point][0], rel=TOL_CHIP)


@pytest.mark.parametrize("point", sorted(BREAKDOWN))
def test_breakdown_wl_and_input_pulses(point):
    g = per_op_groups(estimate_design(design_at(*point)))
    wl, _, pulses = BREAKDOWN[point]
    assert g["input"] == pytest.approx(wl + pulses, rel=TOL_BREAKDOWN)


@pytest.mark.parametrize("point", sorted(set(BREAKDOWN) - NEURON_MISSES))
def test_breakdown_neuron(point):
    g = per_op_groups(estimate_design(design_at(*point)))
    assert g["neuron"] == pytest.approx(BREAKDOWN[point][1], rel=TOL_BREAKDOWN)


def test_the_listed_misses_are_still_misses():
    """If the model improves, move the point into the asserted set and update the table."""
    for p in TOPS_MISSES:
        assert abs(chip_tops(estimate_design(design_at(*p))) / CHIP[p][0] - 1) > TOL_CHIP
    for p in TOPS_PER_W_MISSES:
        assert abs(estimate_design(design_at(*p)).tops_per_w / CHIP[p][1] - 1) > TOL_CHIP
    for p in NEURON_MISSES:
        assert abs(per_op_groups(estimate_design(design_at(*p)))["neuron"] / BREAKDOWN[p][1] - 1) > TOL_BREAKDOWN
