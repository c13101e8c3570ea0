"""MLP+NeuroSim V3.0 (github neurosim/MLP_NeuroSim_V3.0): the default 400-100-10 chip at 32 nm
(architectures/neurosim_mlp_taox.yaml), each analog device of the manual's Table II as its cell,
against two references:

1. NeuroSim's own code, built and run here for 2,000 training images (the numbers it printed,
   with the command and the commit, are in data/neurosim_mlp_v3_code_runs.yaml): Ag:a-Si (the
   code's default device), TaOx/HfOx, AlOx/HfO2 and PCMO. Same chip, same data (mnist5k-20x20),
   same number of images as cimest's measured run: the like-for-like comparison.
2. The manual's Table II (125 epochs x 8,000 images = 10^6 samples): all seven devices.

Scope: NeuroSim prices the arrays and their periphery (drivers, switch matrices, decoders,
read-out, write path), not the digital backward pass, the weight-update arithmetic or the
sigmoid; those cimest roles are left out (``NOT_IN_NEUROSIM``), from energy, area and leakage.
Latency is per image, energy per image without leakage (NeuroSim prints leakage power apart),
area the whole chip, leakage power the chip's. Tolerance: within 2x (ratio in [0.5, 2]) per
metric; the tests assert how many devices reach it.

The chip learns by NeuroSim's rule and starts from NeuroSim's weights (the design file says why
each setting): sigmoid output with the squared-error delta (Train.cpp s2 = -2 a2 (1 - a2)
(y - a2)), the second layer's gradient from the analog a1, activation gain 1, alpha1/alpha2 as
0.4/0.1 on cimest's weight scale, every device on one of 7 levels (Mapping.cpp). Counts are
analytic, on activity cimest measured per device with benchmarks/neurosim_activity.py (seed 0,
mnist5k-20x20, 4,000 training images; general engine path, 250-900 samples/s per process here):
- ``ACTIVITY_2000``: the first 2,000 images (``--samples 2000``), NeuroSim's own run's window,
  for the comparison with its code (the slow test re-measures one device);
- ``ACTIVITY_LONG``: the first ``LONG_SAMPLES`` = 200,000 images (``--epochs 50``),
  for Table II. That is 20% of Table II's 10^6 samples: the seven devices, run in parallel
  on a shared 2-core machine, reached it in the time there was (10^6 samples per device would take
  about 45 min of one free core each). It is the activity of the window, not of Table II's run:
  the writes per image fall mostly over the first ~20,000 samples; from 20,000 to 200,000 they
  fall 2-17 % more for every device but AlOx/HfO2, whose writes fall 2.2x more (table below).
  Nothing measured here suggests they would fall another 2-6x by 10^6 samples, but that is not
  measured either.
  cimest's 2,000-image window trains on the first 2,000 of the 4,000 images (max_train_samples),
  which are digits 0-4 only (mnist5k's training split is sorted by class); NeuroSim's run draws
  its 2,000 from all 4,000 (rand() % 4000); cimest's first epoch over all
  4,000 writes 0.5-1.5x per image what its 2,000-image window writes (table below).

cimest / NeuroSim's code, 2,000 images (run ``python tests/validation/test_neurosim_mlp_v3.py``;
latency = read + write, energy = read + write; then the four lines apart):

| device    | area  | latency | energy | leakage | read lat | write lat | read E | write E |
|-----------|-------|---------|--------|---------|----------|-----------|--------|---------|
| Ag:a-Si   | 1.11x | 1.49x | 1.83x | 0.931x | 0.179x | 1.49x | 0.0789x | 1.85x |
| TaOx/HfOx | 1.06x | 1.08x | 1.56x | 0.931x | 4.22x | 1.08x | 0.198x | 1.62x |
| AlOx/HfO2 | 0.883x | 10.5x | 24.6x | 0.931x | 5.17x | 10.5x | 0.791x | 25.3x |
| PCMO      | 1.11x | 2.05x | 2.74x | 0.931x | 0.317x | 2.05x | 0.0818x | 3.11x |

Within 2x: area 4 of 4, latency 2, energy 2, leakage 4.
Before NeuroSim's rule and start (softmax rule, mid-range start):
latency Ag:a-Si 1.42x, TaOx 1.35x, AlOx/HfO2 35.8x, PCMO 2.56x; energy 1.28x, 0.73x, 90x,
3.5x (within 2x: 2 and 2).

cimest / NeuroSim's code, 30,000 images (the code's long_runs: 30 epochs of 1,000 images drawn
from the 4,000; cimest's ``ACTIVITY_32K``: ``--epochs 8``, 32,000 images, all 4,000 per epoch;
latency, energy, then the write lines apart):

| device    | latency | energy | write lat | write E |
|-----------|---------|--------|-----------|---------|
| Ag:a-Si   | 1.23x   | 1.42x  | 1.23x     | 1.43x   |
| TaOx/HfOx | 1.02x   | 1.66x  | 1.02x     | 1.70x   |
| PCMO      | 1.32x   | 1.53x  | 1.32x     | 1.72x   |
| AlOx/HfO2 | 2.76x   | 5.66x  | 2.76x     | 5.72x   |

Within 2x: latency 3 of 4, energy 3 of 4 (AlOx/HfO2 misses: below). Past its first 2,000 images
cimest's chip writes what NeuroSim's writes, to within 2x, on every device that learns.

cimest / Table II (activity of the first 200,000 images):

| device    | area  | latency | energy | leakage |
|-----------|-------|---------|--------|---------|
| Ag:a-Si   | 1.11x | 4.39x | 5.04x | 0.931x |
| TaOx/HfOx | 0.809x | 6.47x | 6.91x | 0.931x |
| PCMO      | 1.11x | 2.72x | 2.42x | 0.931x |
| AlOx/HfO2 | 0.322x | 6.77x | 9.61x | 0.931x |
| GST PCM   | 0.151x | 7.17x | 3.98x | 0.931x |
| EpiRAM    | 0.767x | 5.22x | 7.39x | 0.931x |
| HZO FeFET | 1.05x | 2.12x | 0.203x | 0.931x |

Within 2x: area 5 of 7, latency 0, energy 0, leakage 7.
Before (softmax rule, mid-range start, first-2,000-image activity):
latency 3.8-86x, energy 2.2-147x, within 2x: area 5, latency 0, energy 0, leakage 7. With this
rule on the first 2,000 images instead of the long window: latency 1, energy 1 of 7 within 2x.
The issue's target (5 of 7 within 2x on every metric) is met for area and leakage,
NOT for latency and energy.

How the writes fall with the samples seen (programming pulses / write steps per image, L1 + L2,
each an epoch's average of 4,000 images at the epoch ending there; 2k: the first 2,000 images
alone, the ``ACTIVITY_2000`` window; test accuracy at the last epoch):

| device    | 2k        | 4k        | 20k       | 40k       | 100k      | last      | acc  |
|-----------|-----------|-----------|-----------|-----------|-----------|-----------|------|
| Ag:a-Si   | 524/459   | 662/587   | 634/564   | 620/555   | 573/518   | 553/503   | 0.38 |
| TaOx/HfOx | 1248/976  | 1854/1465 | 1813/1430 | 1859/1439 | 1779/1413 | 1779/1417 | 0.67 |
| PCMO      | 82/79     | 44/43     | 56/55     | 59/58     | 57/56     | 53/52     | 0.43 |
| AlOx/HfO2 | 185/173   | 189/177   | 68/67     | 52/52     | 41/41     | 31/31     | 0.30 |
| GST PCM   | 539/447   | 792/686   | 606/521   | 554/477   | 541/469   | 540/467   | 0.89 |
| EpiRAM    | 345/301   | 515/467   | 369/338   | 335/303   | 340/305   | 326/301   | 0.87 |
| HZO FeFET | 70/66     | 91/86     | 86/82     | 82/78     | 69/66     | 71/69     | 0.43 |
(last: epoch 50, 200,000 samples.)

Where the manual differs from the code's own output (same device parameters, same chip):
- area: the code gives 6,601.7 um2 for TaOx/HfOx (Table II 8,663.1) and 7,941.8 um2 for
  AlOx/HfO2 (Table II 21,760); for Ag:a-Si and PCMO it reproduces the table (6,292.3 um2).
  GST PCM's 46,565 um2 and EpiRAM's and HZO FeFET's areas were not re-run (other cell types).
- latency and energy: the code's first 2,000 images write 1.7-4.1x more per image than Table
  II's average (write latency per image Ag:a-Si 85 ms vs 32 ms, TaOx 42 us vs 10.2 us,
  AlOx/HfO2 1.13 ms vs 0.47 ms, PCMO 21 ms vs 12 ms), and its writes do not fall as it trains:
  run 30,000 images (long_runs) the code writes MORE per image than in its first 2,000 (TaOx
  64 us, Ag:a-Si 125 ms, PCMO 25 ms, AlOx/HfO2 2.1 ms per image on average), 2.1-6.3x Table II's
  latency and 1.5-4.2x its energy per image (within 2x: latency 0 of 4, energy 1, PCMO). So on
  this chip and data NeuroSim's own code does not give Table II's latency and energy either;
  the table's run (the repository's MNIST patches, absent from its snapshot; 60,000 images to
  draw from) may differ from this one in ways not known here.
- the code adds its periphery's write energy twice per row (Train.cpp: NeuroSimSubArrayWrite
  Energy inside the omp critical block and again after it): the periphery is 9 % of TaOx's
  printed write energy, half of it the repeat. Left as printed.

Causes of the misses:
- Table II latency and energy (Ag:a-Si, TaOx/HfOx, PCMO, AlOx/HfO2, GST PCM, EpiRAM, HZO FeFET):
  the writes per image, where NeuroSim's own code misses Table II as cimest does (above). On
  30,000 images cimest's agree with the code's within 2x for 3 of 4 devices, and on the first
  2,000 for TaOx and Ag:a-Si (write latency 1.08x, 1.49x), and the code's own first 2,000 images write 1.7-4.1x
  more than Table II's 125-epoch average; cimest's writes do not fall that far in its window of
  200,000 images (table above: TaOx's per image are
  flat after 20,000 samples, at 67 % test accuracy where Table II reports ~80 % after
  10^6 samples). Two differences stand behind that and are not closed here: the window (20% of
  10^6) and the data (cimest trains on mnist5k-20x20's 4,000 images, NeuroSim on 8,000
  per epoch drawn from MNIST's 60,000). HZO FeFET learns less here (43 % against
  Table II's 88 %) and writes fewer pulses, mostly in the second layer, each nearly a write step
  of its own: its latency is high, its energy low (0.2x); its energy per pulse against
  NeuroSim's is not examined here.
  AlOx/HfO2 also misses against the code (below).
- AlOx/HfO2 and PCMO against the code (write latency 10.5x and 2.05x on 2,000 images; 2.76x
  and 1.32x on 30,000, where NeuroSim's AlOx/HfO2 writes 5.7x less energy): NeuroSim's
  chip starts elsewhere. Its ideal initial write (Array.cpp WriteCell, regular = false) sets
  G = (w + 1)/2 (Gmax - Gmin) without + Gmin, clipped at Gmin, so its devices start lower by
  Gmin, 29 % of AlOx/HfO2's range (17 % of PCMO's, 11 % of TaOx's): 2 of AlOx/HfO2's 7 start
  levels end clipped at Gmin.
  cimest starts on the levels. Evidence, cimest on its first 2,000 images with that slipped start
  (an experiment, not shipped): AlOx/HfO2 stays at chance, 10.0 % (NeuroSim 9.5-10.2 %; cimest's
  own start: 37.7 %), PCMO 10.1 % (NeuroSim 16-17 %; cimest 37.7 %), TaOx 45.7 % (NeuroSim 52.4 %),
  Ag:a-Si 43.4 % (47 %); write latency against the code then Ag:a-Si 1.02x, TaOx 0.51x, PCMO
  0.35x, AlOx/HfO2 0.002x. So the start explains why NeuroSim's AlOx/HfO2 and PCMO do not learn,
  but not AlOx/HfO2's writes: stuck at chance NeuroSim's chip still writes about 24 nJ per image
  (a few of its 2.9 nJ pulses: 0.9 V, 17 kOhm, 100 us), cimest's slipped chip almost none (its
  deltas, rounded at half a pulse of 40 levels, never reach one). Not resolved here.
- The schedule itself (groups of 7, longest SET then longest RESET train per group), the
  rounding at half a pulse without a gradient memory, and the 1T1R column held at V_set with its
  access transistors' capacitance (70.8 fF per 400-cell column) are NeuroSim's. cimest runs the
  two arrays' updates in parallel; NeuroSim adds them.
- read latency and energy: NeuroSim charges every word line's gate capacitance for every column
  read and prices its integrate-and-fire read-out per 16 columns; cimest's forward pass comes
  to 0.08-0.8x of its read energy. Reads are 1-4 % of NeuroSim's energy per image (PCMO 12 %),
  so they move the totals little; its read latency follows R_on more steeply than cimest's
  sensing time (Ag:a-Si 4.1 us per image, TaOx 63 ns; cimest 0.72 us and 0.27 us).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cimest.api import estimate_design, load_design

ROOT = Path(__file__).resolve().parents[2]
CODE_RUNS = yaml.safe_load(
    (Path(__file__).parent / "data" / "neurosim_mlp_v3_code_runs.yaml").read_text()
)
TABLE_II_SAMPLES = 125 * 8000  # MLP+NeuroSim Param.cpp: totalNumEpochs x numTrainImagesPerEpoch
NEUROSIM_LEAKAGE_W = 105.65e-6  # Table II, every device

# Table II of the MLP+NeuroSim V3.0 manual: area um2, latency s, energy J (125 epochs x 8,000).
TABLE_II = {
    "ag_asi_rram": (6292.3, 31997.0, 13.44e-3),
    "taox_hfox_rram": (8663.1, 10.15, 4.01e-3),
    "pcmo_rram": (6292.4, 12218.0, 2.53e-3),
    "alox_hfo2_rram": (21760.0, 470.42, 15.26e-3),
    "gst_pcm": (46565.0, 203.0, 35.0e-3),
    "epiram": (9144.3, 229.6, 31.01e-3),
    "hzo_fefet": (7032.6, 2.73, 1.9e-3),
}

# Activity measured per device by benchmarks/neurosim_activity.py (seed 0, mnist5k-20x20), as
# workload.activity.per_layer: (input_density, update_fraction, pulses_per_update, set_fraction,
# write_steps_per_update, write_set_fraction) for L1, L2; error_density is 1 (digital backward
# pass, float errors).
# The first 2,000 images (``--samples 2000``), the window of NeuroSim's own run:
ACTIVITY_2000 = {
    "ag_asi_rram": (
        (0.2578, 0.01133, 1.067, 0.638, 423, 0.6342),
        (0.1667, 0.02884, 1.377, 0.6066, 36.39, 0.6617),
    ),
    "taox_hfox_rram": (
        (0.2578, 0.02516, 1.141, 0.5116, 885, 0.5121),
        (0.3943, 0.0608, 1.636, 0.4854, 91.02, 0.5303),
    ),
    "pcmo_rram": (
        (0.2578, 0.00114, 1.002, 0.6418, 43.69, 0.64),
        (0.3277, 0.03598, 1, 0.698, 34.91, 0.7194),
    ),
    "alox_hfo2_rram": (
        (0.2578, 0.003122, 1.001, 0.4755, 118.3, 0.4788),
        (0.5414, 0.06025, 1, 0.4428, 54.9, 0.4859),
    ),
    "gst_pcm": (
        (0.2578, 0.01156, 1.056, 0.5412, 399.2, 0.5394),
        (0.3025, 0.03737, 1.37, 0.5213, 47.43, 0.5625),
    ),
    "epiram": (
        (0.2578, 0.007348, 1.016, 0.4931, 257.1, 0.4968),
        (0.4445, 0.03947, 1.185, 0.4784, 43.86, 0.5101),
    ),
    "hzo_fefet": (
        (0.2578, 0.0005252, 1, 0.4764, 20.56, 0.4749),
        (0.4972, 0.04925, 1, 0.4812, 45.88, 0.5166),
    ),
}
# The first LONG_SAMPLES images (``--epochs LONG_EPOCHS``, 4,000 images each), for Table II's
# 125 x 8,000 = 10^6 (see the module docstring for how the writes fall with the samples seen):
LONG_EPOCHS = 50
LONG_SAMPLES = LONG_EPOCHS * 4000
ACTIVITY_LONG = {
    "ag_asi_rram": (
        (0.251, 0.01231, 1.051, 0.6708, 467.8, 0.6613),
        (0.1425, 0.03815, 1.385, 0.5974, 47.76, 0.6609),
    ),
    "taox_hfox_rram": (
        (0.251, 0.03676, 1.144, 0.5204, 1292, 0.5193),
        (0.4357, 0.09672, 1.725, 0.5098, 155.4, 0.5471),
    ),
    "pcmo_rram": (
        (0.251, 0.0005276, 1, 0.7193, 20.84, 0.7187),
        (0.2989, 0.03395, 1, 0.7008, 33.23, 0.7159),
    ),
    "alox_hfo2_rram": (
        (0.251, 0.0002872, 1, 0.4646, 11.28, 0.4645),
        (0.8114, 0.03255, 1, 0.4466, 31.84, 0.4566),
    ),
    "gst_pcm": (
        (0.251, 0.01196, 1.045, 0.5645, 423.3, 0.5637),
        (0.32, 0.05093, 1.319, 0.5552, 64.37, 0.5795),
    ),
    "epiram": (
        (0.251, 0.006635, 1.008, 0.5003, 239.7, 0.5008),
        (0.6277, 0.06318, 1.218, 0.4956, 74.18, 0.5141),
    ),
    "hzo_fefet": (
        (0.251, 6.162e-05, 1, 0.512, 2.447, 0.512),
        (0.7749, 0.0739, 1, 0.4873, 70.77, 0.5088),
    ),
}

# Activity over the first 32,000 images (8 epochs of all 4,000; ``--epochs 8``), beside NeuroSim's
# own 30,000-image runs (data/neurosim_mlp_v3_code_runs.yaml, long_runs): the like-for-like
# comparison after the first two epochs.
CODE_LONG_EPOCHS = 8
ACTIVITY_32K = {
    "taox_hfox_rram": (
        (0.250975, 0.0367348, 1.14249, 0.520354, 1295.29, 0.519395),
        (0.415177, 0.0946166, 1.70817, 0.508017, 150.282, 0.546349),
    ),
    "ag_asi_rram": (
        (0.250975, 0.0136043, 1.05056, 0.668995, 509.316, 0.658591),
        (0.144595, 0.0386896, 1.36329, 0.596431, 47.7752, 0.658479),
    ),
    "pcmo_rram": (
        (0.250975, 0.000429288, 1.00064, 0.706359, 16.9355, 0.707266),
        (0.318657, 0.0340995, 1.0, 0.700313, 33.4139, 0.714682),
    ),
    "alox_hfo2_rram": (
        (0.250975, 0.000779835, 1.0002, 0.473707, 30.5123, 0.47395),
        (0.752489, 0.0614507, 1.0, 0.445537, 58.2725, 0.469838),
    ),
}

NOT_IN_NEUROSIM = {
    "gradient_multiplier",
    "gradient_adder",
    "error_mac",
    "error_add",
    "error_weights",
    "activation",
    "derivative_unit",
    "level_shifter",  # NeuroSim models none
}
METRICS = ("area", "latency", "energy", "leakage")
TOLERANCE = 2.0
# Devices within 2x per metric, asserted as at least this many.
ACHIEVED_CODE = {"area": 4, "latency": 2, "energy": 2, "leakage": 4}
ACHIEVED_TABLE_II = {"area": 5, "latency": 0, "energy": 0, "leakage": 7}
ACHIEVED_CODE_LONG = {"latency": 3, "energy": 3, "write_latency": 3, "write_energy": 3}

FIELDS = (
    "input_density",
    "update_fraction",
    "pulses_per_update",
    "set_fraction",
    "write_steps_per_update",
    "write_set_fraction",
)


def _design_text(device: str, activity: dict = ACTIVITY_LONG) -> str:
    text = (ROOT / "architectures" / "neurosim_mlp_taox.yaml").read_text()
    head, rest = text.split("  activity:\n", 1)
    rest = rest.split("\n# NeuroSim's learning rule", 1)[1]
    lines = ["  activity:", "    per_layer:"]
    for i, values in enumerate(activity[device]):
        factors = ", ".join(f"{k}: {v}" for k, v in zip(FIELDS, values, strict=True))
        lines.append(f"      L{i + 1}: {{error_density: 1, {factors}}}")
    text = head + "\n".join(lines) + "\n# NeuroSim's learning rule" + rest
    return text.replace("cell: taox_hfox_rram", f"cell: {device}")


def neurosim_scope(device: str, tmp: Path, activity: dict = ACTIVITY_LONG) -> dict[str, float]:
    """cimest's figures for MLP+NeuroSim's chip with ``device``, in NeuroSim's scope, per image."""
    path = tmp / f"neurosim_{device}.yaml"
    path.write_text(_design_text(device, activity))
    est = estimate_design(load_design(str(path)))

    def kept(component: str) -> bool:
        return component.split(".")[-1] not in NOT_IN_NEUROSIM

    lat = est.latency_per_sample_s
    dynamic = [r for r in est.breakdown if kept(r.component) and r.phase != "static"]
    static = sum(r.energy_j for r in est.breakdown if kept(r.component) and r.phase == "static")
    return {
        "area": sum(a.area_m2 for a in est.area if kept(a.component)) * 1e12,
        "latency": lat,
        "read_latency": est.latency_by_phase_s.get("forward", 0.0),
        "write_latency": est.latency_by_phase_s.get("update", 0.0),
        "energy": sum(r.energy_j for r in dynamic),
        "read_energy": sum(r.energy_j for r in dynamic if r.phase == "forward"),
        "write_energy": sum(r.energy_j for r in dynamic if r.phase == "update"),
        "leakage": static / lat,
    }


def code_reference(device: str) -> dict[str, float]:
    """NeuroSim's own printout for 2,000 images, per image."""
    run = CODE_RUNS["devices"][device]
    last = run["epoch_2"]
    n = CODE_RUNS["samples"]
    return {
        "area": run["area_m2"] * 1e12,
        "latency": (last["read_latency_s"] + last["write_latency_s"]) / n,
        "read_latency": last["read_latency_s"] / n,
        "write_latency": last["write_latency_s"] / n,
        "energy": (last["read_energy_j"] + last["write_energy_j"]) / n,
        "read_energy": last["read_energy_j"] / n,
        "write_energy": last["write_energy_j"] / n,
        "leakage": run["leakage_w"],
    }


def code_long_reference(device: str) -> dict[str, float]:
    """NeuroSim's own printout for 30,000 images, per image."""
    runs = CODE_RUNS["long_runs"]
    last = runs["devices"][device]["epoch_30"]
    n = runs["samples"]
    return {
        "latency": (last["read_latency_s"] + last["write_latency_s"]) / n,
        "write_latency": last["write_latency_s"] / n,
        "energy": (last["read_energy_j"] + last["write_energy_j"]) / n,
        "write_energy": last["write_energy_j"] / n,
    }


def table_ii_reference(device: str) -> dict[str, float]:
    area, latency, energy = TABLE_II[device]
    return {
        "area": area,
        "latency": latency / TABLE_II_SAMPLES,
        "energy": energy / TABLE_II_SAMPLES,
        "leakage": NEUROSIM_LEAKAGE_W,
    }


def ratios(tmp: Path, devices, reference, activity, keys=METRICS) -> dict[str, dict[str, float]]:
    out = {}
    for device in devices:
        got, ref = neurosim_scope(device, tmp, activity), reference(device)
        out[device] = {k: got[k] / ref[k] for k in keys}
    return out


def _within(r: dict[str, dict[str, float]], metric: str) -> list[str]:
    return [d for d in r if 1 / TOLERANCE <= r[d][metric] <= TOLERANCE]


def test_the_code_run_reproduces_table_ii_where_the_manual_agrees_with_it():
    """Evidence for the docstring: same leakage everywhere, Table II's area for Ag:a-Si/PCMO."""
    for device, run in CODE_RUNS["devices"].items():
        assert run["leakage_w"] == pytest.approx(NEUROSIM_LEAKAGE_W, rel=1e-3), device
    for device in ("ag_asi_rram", "pcmo_rram"):
        area = CODE_RUNS["devices"][device]["area_m2"] * 1e12
        assert area == pytest.approx(TABLE_II[device][0], rel=1e-3), device


def test_devices_within_2x_of_neurosims_code_per_metric(tmp_path):
    r = ratios(tmp_path, CODE_RUNS["devices"], code_reference, ACTIVITY_2000)
    for metric, want in ACHIEVED_CODE.items():
        within = _within(r, metric)
        assert len(within) >= want, (metric, {d: round(r[d][metric], 3) for d in r})


def test_devices_within_2x_of_table_ii_per_metric(tmp_path):
    r = ratios(tmp_path, TABLE_II, table_ii_reference, ACTIVITY_LONG)
    for metric, want in ACHIEVED_TABLE_II.items():
        within = _within(r, metric)
        assert len(within) >= want, (metric, {d: round(r[d][metric], 3) for d in r})


LONG_KEYS = ("latency", "energy", "write_latency", "write_energy")


def test_within_2x_of_neurosims_code_over_30000_images(tmp_path):
    """Past the first two epochs: cimest's activity over 32,000 images against NeuroSim's own
    30,000-image runs, latency and energy per image (the writes are 97-99.9 % of both)."""
    r = ratios(tmp_path, ACTIVITY_32K, code_long_reference, ACTIVITY_32K, LONG_KEYS)
    for metric, want in ACHIEVED_CODE_LONG.items():
        within = _within(r, metric)
        assert len(within) >= want, (metric, {d: round(r[d][metric], 3) for d in r})


def test_neurosims_own_code_is_not_table_ii_over_30000_images():
    """Evidence for the docstring: NeuroSim V3.0's own code, run 30,000 images on this chip,
    writes more per image than in its first 2,000, not less, and misses Table II's per-image
    latency by more than 2x on every device run (2.1-6.3x), its energy on all but PCMO."""
    latency_within, energy_within = 0, 0
    for device in CODE_RUNS["long_runs"]["devices"]:
        code, table = code_long_reference(device), table_ii_reference(device)
        latency_within += code["latency"] / table["latency"] <= TOLERANCE
        energy_within += code["energy"] / table["energy"] <= TOLERANCE
        assert code["write_latency"] > code_reference(device)["write_latency"], device
    assert latency_within == 0
    assert energy_within <= 1


def test_sensing_time_follows_the_cells_on_resistance(tmp_path):
    """26 MOhm Ag:a-Si reads slower than 100 kOhm TaOx on the same array (NeuroSim's read pulse
    is C_bl x V_th x 2^bits / I_max, I_max ~ 1 / R_on)."""
    reads = {}
    for device in ("ag_asi_rram", "taox_hfox_rram"):
        text = (ROOT / "architectures" / "neurosim_mlp_taox.yaml").read_text()
        path = tmp_path / f"{device}.yaml"
        path.write_text(text.replace("cell: taox_hfox_rram", f"cell: {device}"))
        est = estimate_design(load_design(str(path)))
        reads[device] = next(
            p.scaled for p in est.provenance if p.kind == "cell" and p.quantity == "latency:read"
        )
    assert reads["taox_hfox_rram"] == pytest.approx(5e-9)  # the device's own 5 ns is the floor
    assert reads["ag_asi_rram"] > 10 * reads["taox_hfox_rram"]


@pytest.mark.slow
def test_the_recorded_activity_is_what_a_2000_image_run_measures(tmp_path):
    from cimest.engine.train import train

    device = "taox_hfox_rram"
    text = _design_text(device, ACTIVITY_2000).replace(
        "  epochs: 125\n", "  epochs: 1\n  max_train_samples: 2000\n"
    )
    path = tmp_path / "measure.yaml"
    path.write_text(text)
    design = load_design(str(path))
    run = train(design.graph, design.libraries)
    est = estimate_design(design, run.counts, run.accuracy)
    for i, layer in enumerate(("L1", "L2")):
        got = est.activity["per_layer"][layer]
        want = dict(zip(FIELDS, ACTIVITY_2000[device][i], strict=True))
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=0.01), (layer, k)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        lines = ("read_latency", "write_latency", "read_energy", "write_energy")
        print("cimest / NeuroSim's code, 2,000 images")
        for device, row in ratios(
            Path(d), CODE_RUNS["devices"], code_reference, ACTIVITY_2000, METRICS + lines
        ).items():
            print(
                f"| {device:15s} | " + " | ".join(f"{row[k]:.3g}x" for k in METRICS + lines) + " |"
            )
        print("cimest / NeuroSim's code, 30,000 images (cimest: 32,000)")
        for device, row in ratios(
            Path(d), ACTIVITY_32K, code_long_reference, ACTIVITY_32K, LONG_KEYS
        ).items():
            print(f"| {device:15s} | " + " | ".join(f"{row[k]:.3g}x" for k in LONG_KEYS) + " |")
        print(f"cimest / Table II (activity of the first {LONG_SAMPLES:,} images)")
        for device, row in ratios(Path(d), TABLE_II, table_ii_reference, ACTIVITY_LONG).items():
            print(f"| {device:15s} | " + " | ".join(f"{row[k]:.3g}x" for k in METRICS) + " |")
