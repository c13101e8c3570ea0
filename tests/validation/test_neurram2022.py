"""NeuRRAM (Wan et al., "A compute-in-memory chip based on resistive random-access memory", Nature 608,
504, 2022; 130 nm RRAM, 48 cores of 256x256, 4-bit weights): chip TOPS, TOPS/W and energy breakdown
across (output bits, input bits), against the reference figures of reference/anchors.md (as CiMLoop's
macro tests use them, mit-emze/cimloop workspace/models/arch/1_macro/wan_nature_2022/_tests.py: TOPS
for 48 cores, 2 ops per MAC, 256 x 128 signed weights per core; the breakdown in fJ per op).

Model: architectures/neurram_like_inference.yaml (its header says what is modelled and why): signed
4-bit weights on row pairs (differential_rows), 256 neurons per core that integrate the bit-serial
input (2^p - 1 steps per phase of p bits, two phases above 3 bits), sample once per input bit,
toggle their wordline once per input bit, and convert step by step, the second phase resolving only
the low output bits. Component values: device_libraries/neurram_130nm.yaml.

Calibration: ONE factor, on the cell's read energy (cimest reads every cell at mid-range
conductance with every input active; the paper's data draws less current, see below). It is fitted
with `cimest calibrate`'s own fit on ONE published number, the input-pulse energy of ONE breakdown
point, and checked only on numbers it was not fitted on. The shipped architecture's factor is the
fit on (6, 4); the tests re-fit it on each of the three breakdown points in turn (leave-one-out:
fit on one point, predict the other two points' input pulses and the other seven points' TOPS/W).
Numbers that do not depend on the factor (TOPS; wordline and neuron energy; TOPS/W without
calibration) are checked at every point, and a test shows they do not depend on it.

Measured errors (model / published - 1), every one out of sample. Calibration-free quantities:

| (out, in) | TOPS   | TOPS/W, no calibration | WL switching | neuron ops + control |
|-----------|--------|------------------------|--------------|----------------------|
| (3, 1)    | +0.0 % | -8.6 %                 | -17.6 %      | -0.9 %               |
| (4, 2)    | -1.5 % | -8.2 %                 |              |                      |
| (5, 3)    | +2.5 % | -13.7 %                |              |                      |
| (6, 4)    | +5.0 % | -16.8 %                | +2.2 %       | +5.6 %               |
| (7, 5)    | +2.1 % | -12.4 %                |              |                      |
| (8, 6)    | +3.7 % | -6.0 %                 |              |                      |
| (9, 7)    | +2.2 % | -17.0 %                |              |                      |
| (10, 8)   | +4.3 % | -16.0 %                | +2.7 %       | +6.3 %               |
| largest   | 5.0 %  | 17.0 %                 | 17.6 %       | 6.3 %                |
| tolerance | 10 %   | 34 %                   | 35 %         | 13 %                 |

With the factor fitted on (6, 4) (shipped, 0.419) / on (3, 1) (0.357) / on (10, 8) (0.434); "fit"
marks the number the factor was fitted on, which no test checks:

| (out, in) | TOPS/W                     | input pulses               |
|-----------|----------------------------|----------------------------|
| (3, 1)    | +6.6 % / fit / +6.2 %      | +11.2 % / fit / +13.9 %    |
| (4, 2)    | +6.1 % / +7.9 % / +5.7 %   |                            |
| (5, 3)    | +0.9 % / +2.8 % / +0.5 %   |                            |
| (6, 4)    | fit / -1.0 % / -3.2 %      | fit / -10.1 % / +2.4 %     |
| (7, 5)    | +1.8 % / +3.6 % / +1.4 %   |                            |
| (8, 6)    | +9.5 % / +11.4 % / +9.0 %  |                            |
| (9, 7)    | -3.5 % / -1.8 % / -3.9 %   |                            |
| (10, 8)   | -2.6 % / -0.9 % / fit      | -2.4 % / -12.2 % / fit     |
| largest   | 11.4 %                     | 13.9 %                     |
| tolerance | 23 %                       | 28 %                       |

Each tolerance is about twice the largest measured error of its quantity (issue 13). TOPS/W at a
fit point is not checked: the fitted input pulses are 18 % of its energy. The factor moves by 20 %
across the operating points (0.357 .. 0.434), which is what the input-pulse tolerance covers.

Without calibration TOPS is unchanged (calibration scales energy only) and TOPS/W is within -17 %
.. -6 %; only the input pulses miss (+90 % .. +116 %): cimest reads every cell at the mid-range
conductance with every input active, while the published figure is for the paper's data (inputs and
weights peaked at zero, Fig. 7e), which draws about 0.42 of that current.

Area is not validated: the paper gives only a split of the core area (neurons 28 %, array drivers
21 %, RRAM 12 %; Fig. 11f) whose other 39 % is circuitry cimest does not model, and cimest's
generic 16 F^2 1T1R cell and NeuroSim row drivers are far smaller than NeuRRAM's layout (CiMLoop
itself scales its driver area by 5.25 to match). For the record, cimest's neurons take 0.247 mm^2
per core, CiMLoop's sum of the same component areas 0.325 mm^2 (its sample unit is 350 um^2, the
newer neurram.py's 45 um^2 here).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from cimest.api import bind_design, estimate_design
from cimest.costs.calibrate import MeasuredBreakdownSpec, fit_calibration
from cimest.spec import parse_architecture

ARCH = Path(__file__).parents[2] / "architectures" / "neurram_like_inference.yaml"
# Tolerances: about twice the largest measured error of each quantity (module docstring).
TOL_TOPS = 0.10
TOL_TOPS_PER_W = 0.23  # with a calibration fitted elsewhere
TOL_TOPS_PER_W_UNCALIBRATED = 0.34
TOL_BREAKDOWN = {"wl": 0.35, "neuron": 0.13, "pulses": 0.28}

# (output bits, input bits) -> (chip TOPS, TOPS/W); reference/anchors.md
CHIP = {
    (3, 1): (2.122, 43.08),
    (4, 2): (1.793, 40.33),
    (5, 3): (1.165, 23.09),
    (6, 4): (0.744, 15.95),
    (7, 5): (0.525, 11.03),
    (8, 6): (0.418, 8.26),
    (9, 7): (0.344, 7.75),
    (10, 8): (0.264, 6.44),
}
# fJ per op: (WL switching, neuron ops + control, input pulses); reference/anchors.md
BREAKDOWN = {
    (3, 1): (8.99, 10.62, 3.45),
    (6, 4): (21.76, 29.11, 11.51),
    (10, 8): (50.52, 75.86, 27.51),
}
CATEGORIES = ("wl", "neuron", "pulses")
SHIPPED_FIT_POINT = (6, 4)
# Every (point checked, point the factor is fitted on) pair with the two apart.
OUT_OF_SAMPLE_TOPS_PER_W = [(p, f) for f in sorted(BREAKDOWN) for p in sorted(CHIP) if p != f]
OUT_OF_SAMPLE_PULSES = [(p, f) for f in sorted(BREAKDOWN) for p in sorted(BREAKDOWN) if p != f]


def point_id(point: tuple[int, int]) -> str:
    return f"out{point[0]}-in{point[1]}"


def pair_ids(pairs) -> list[str]:
    return [f"{point_id(p)}-fitted-on-{point_id(f)}" for p, f in pairs]


def design_at(out_bits: int, in_bits: int, cell_factor: float | None | str = "shipped"):
    """The shipped design at a published point; ``cell_factor`` replaces its calibration (None:
    no calibration)."""
    data = yaml.safe_load(ARCH.read_text())
    pulses = max(in_bits - 1, 1)  # signed inputs: the sign is the pulse polarity
    data["workload"]["input_bits"] = pulses
    data["peripherals"]["input_driver"]["bits"] = pulses
    data["peripherals"]["output_readout"]["bits"] = out_bits
    if cell_factor is None:
        data.pop("calibration", None)
    elif cell_factor != "shipped":
        data["calibration"] = {"cell": cell_factor}
    return bind_design(parse_architecture(yaml.safe_dump(data, sort_keys=False), str(ARCH)))


@functools.cache
def estimate_at(point: tuple[int, int], cell_factor: float | None | str = "shipped"):
    """The estimate of ``design_at(*point, cell_factor)``, computed once per module."""
    return estimate_design(design_at(*point, cell_factor=cell_factor))


def ops(est) -> int:
    return 2 * sum(est.macs_per_sample.values())


def per_op_groups(est) -> dict[str, float]:
    """fJ per op in the paper's three categories (as CiMLoop's test groups its components)."""
    g = dict.fromkeys(CATEGORIES, 0.0)
    for r in est.breakdown:
        if r.component.endswith("neuron_wordline"):
            g["wl"] += r.energy_j
        elif r.kind in ("row_driver", "cell"):
            g["pulses"] += r.energy_j
        else:
            g["neuron"] += r.energy_j
    return {k: v / ops(est) * 1e15 for k, v in g.items()}


def chip_tops(est) -> float:
    return ops(est) * est.throughput_samples_per_s / 1e12


@functools.cache
def cell_factor_fitted_on(point: tuple[int, int]) -> float:
    """What `cimest calibrate` fits on ``point``'s published input pulses alone: the cell's share
    of them (published input pulses minus the model's input drivers), as one factor on the cell."""
    design = design_at(*point, cell_factor=None)
    est = estimate_design(design)
    drivers = sum(r.energy_j for r in est.breakdown if r.component.endswith("input_driver"))
    cell_fj_per_op = BREAKDOWN[point][2] - drivers / ops(est) * 1e15
    measured = MeasuredBreakdownSpec.model_validate(
        {"per": "mac", "energy_pj": {"cell": 2 * cell_fj_per_op / 1000}}
    )
    fit = fit_calibration(design.spec, design.libraries, measured)
    assert set(fit.calibration) == {"cell"}
    return fit.calibration["cell"]


def test_the_shipped_calibration_is_the_cell_fit_on_the_6_4_input_pulses():
    """The file's one factor is `cimest calibrate`'s fit on one number; nothing else was tuned."""
    shipped = design_at(*SHIPPED_FIT_POINT)
    assert shipped.spec.calibration == pytest.approx(
        {"cell": cell_factor_fitted_on(SHIPPED_FIT_POINT)}, rel=1e-9
    )


def test_the_cell_factor_moves_only_the_input_pulses_and_tops_per_w():
    """Why TOPS, wordline and neuron energy are checked at every point, fit point included."""
    for point in sorted(BREAKDOWN):
        bare, shipped = estimate_at(point, None), estimate_at(point)
        assert chip_tops(shipped) == chip_tops(bare)
        g_bare, g_shipped = per_op_groups(bare), per_op_groups(shipped)
        assert g_shipped["wl"] == g_bare["wl"] and g_shipped["neuron"] == g_bare["neuron"]
        assert g_shipped["pulses"] < g_bare["pulses"]
        assert shipped.tops_per_w > bare.tops_per_w


def test_shape_48_cores_of_256x256_with_256_neurons_each():
    d = design_at(*SHIPPED_FIT_POINT)
    assert d.graph.n_tiles == 48
    assert d.graph.macs_per_sample()["forward"] == 48 * 256 * 128
    assert d.graph.component("L1", "integrator").count == 48 * 256


@pytest.mark.parametrize("point", sorted(CHIP), ids=point_id)
def test_tops(point):
    est = estimate_at(point, None)
    assert chip_tops(est) == pytest.approx(CHIP[point][0], rel=TOL_TOPS)


@pytest.mark.parametrize("point", sorted(CHIP), ids=point_id)
def test_tops_per_w_without_calibration(point):
    est = estimate_at(point, None)
    assert est.tops_per_w == pytest.approx(CHIP[point][1], rel=TOL_TOPS_PER_W_UNCALIBRATED)


@pytest.mark.parametrize(
    ("point", "fit_point"), OUT_OF_SAMPLE_TOPS_PER_W, ids=pair_ids(OUT_OF_SAMPLE_TOPS_PER_W)
)
def test_tops_per_w_with_the_factor_fitted_on_another_point(point, fit_point):
    est = estimate_at(point, cell_factor_fitted_on(fit_point))
    assert est.tops_per_w == pytest.approx(CHIP[point][1], rel=TOL_TOPS_PER_W)


@pytest.mark.parametrize(
    ("point", "fit_point"), OUT_OF_SAMPLE_PULSES, ids=pair_ids(OUT_OF_SAMPLE_PULSES)
)
def test_input_pulses_with_the_factor_fitted_on_another_point(point, fit_point):
    g = per_op_groups(estimate_at(point, cell_factor_fitted_on(fit_point)))
    assert g["pulses"] == pytest.approx(BREAKDOWN[point][2], rel=TOL_BREAKDOWN["pulses"])


@pytest.mark.parametrize("point", sorted(BREAKDOWN), ids=point_id)
@pytest.mark.parametrize("category", ["wl", "neuron"])
def test_wordline_and_neuron_energy(point, category):
    g = per_op_groups(estimate_at(point, None))
    expected = BREAKDOWN[point][CATEGORIES.index(category)]
    assert g[category] == pytest.approx(expected, rel=TOL_BREAKDOWN[category])


def test_latency_follows_the_integrators_2_to_the_p_steps():
    """A phase of p input bits integrates in 2^p - 1 steps. At 8 output bits, 4 input bits in one
    phase take 15 steps, one 8-bit conversion and one sample step; in two phases of 2 bits, 3 + 3
    steps, conversions of 8 and 6 bits, and two sample steps."""

    def latency(in_bits, two_phase=True):
        data = yaml.safe_load(ARCH.read_text())
        data["workload"]["input_bits"] = in_bits
        data["peripherals"]["input_driver"]["bits"] = in_bits
        data["peripherals"]["output_readout"]["bits"] = 8
        if not two_phase:
            del data["peripherals"]["output_readout"]["integrator"]["two_phase_above_bits"]
        d = bind_design(parse_architecture(yaml.safe_dump(data), str(ARCH)))
        return estimate_design(d).latency_per_sample_s

    step, bit, sample = 270e-9, 300e-9, 300e-9  # device_libraries/neurram_130nm.yaml
    one, two = latency(4, two_phase=False), latency(4)
    assert one - two == pytest.approx((15 - 6) * step - (8 + 6 - 8) * bit - sample, rel=1e-6)
    assert latency(3) < two < one


def test_the_step_wise_neuron_adc_takes_more_steps_not_more_area_for_more_bits():
    """NeuRRAM's neuron resolves one bit per step: energy and time per conversion grow with the
    output bits (0.3 pJ and 0.3 us per step), its 400 um^2 does not (area_bit_scaling: none)."""
    lo, hi = (estimate_design(design_at(o, 4)) for o in (4, 8))

    def adc(est):
        area = sum(a.area_m2 for a in est.area if a.kind == "adc")
        energy = sum(r.energy_j for r in est.breakdown if r.kind == "adc" and r.action == "convert")
        return area, energy

    (a4, e4), (a8, e8) = adc(lo), adc(hi)
    assert a4 == a8 == pytest.approx(48 * 256 * 400e-12, rel=1e-9)
    assert e8 == pytest.approx(2 * e4, rel=1e-9)
