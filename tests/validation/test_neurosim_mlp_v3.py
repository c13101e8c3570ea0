"""MLP+NeuroSim V3.0 (github neurosim/MLP_NeuroSim_V3.0): the default 400-100-10 chip at 32 nm
(architectures/neurosim_mlp_taox.yaml), each analog device of the manual's Table II as its cell,
against two references:

1. NeuroSim's own code, built and run here for 2,000 training images (the numbers it printed,
   with the command and the commit, are in data/neurosim_mlp_v3_code_runs.yaml): Ag:a-Si (the
   code's default device), TaOx/HfOx, AlOx/HfO2 and PCMO. Same chip, same data (mnist5k-20x20),
   same number of images as cimest's measured run: the like-for-like comparison.
2. The manual's Table II (125 epochs x 8,000 images): all seven devices.

Scope: NeuroSim prices the arrays and their periphery (drivers, switch matrices, decoders,
read-out, write path), not the digital backward pass, the weight-update arithmetic or the
sigmoid; those cimest roles are left out (``NOT_IN_NEUROSIM``), from energy, area and leakage.
Counts are analytic, on the activity cimest measured per device on 2,000 images (``ACTIVITY``:
``cimest estimate --measured`` of the design with epochs 1, max_train_samples 2000, seed 0; the
slow test re-measures one device). Latency is per image, energy per image without leakage (NeuroSim
prints leakage power apart), area the whole chip, leakage power the chip's. Tolerance: within 2x
(ratio in [0.5, 2]) per metric; the tests assert how many devices reach it.

cimest / NeuroSim's code, 2,000 images (run ``python tests/validation/test_neurosim_mlp_v3.py``;
latency = read + write, energy = read + write; then the four lines apart):

| device    | area  | latency | energy | leakage | read lat | write lat | read E | write E |
|-----------|-------|---------|--------|---------|----------|-----------|--------|---------|
| Ag:a-Si   | 1.11x | 1.42x   | 1.28x  | 0.93x   | 0.18x    | 1.42x     | 0.078x | 1.30x   |
| TaOx/HfOx | 1.06x | 1.35x   | 0.73x  | 0.93x   | 4.2x     | 1.34x     | 0.20x  | 0.75x   |
| AlOx/HfO2 | 0.88x | 35.8x   | 90x    | 0.93x   | 5.2x     | 35.8x     | 0.78x  | 92x     |
| PCMO      | 1.11x | 2.56x   | 3.5x   | 0.93x   | 0.32x    | 2.56x     | 0.080x | 4.0x    |

Within 2x: area 4 of 4, latency 2, energy 2, leakage 4.

cimest / Table II (125 epochs x 8,000 images; cimest's activity from the same 2,000 images):

| device    | area  | latency | energy | leakage |
|-----------|-------|---------|--------|---------|
| Ag:a-Si   | 1.11x | 3.78x   | 3.25x  | 0.93x   |
| TaOx/HfOx | 0.81x | 5.57x   | 2.19x  | 0.93x   |
| PCMO      | 1.11x | 4.46x   | 4.78x  | 0.93x   |
| AlOx/HfO2 | 0.32x | 85.8x   | 147x   | 0.93x   |
| GST PCM   | 0.15x | 9.43x   | 5.24x  | 0.93x   |
| EpiRAM    | 0.77x | 9.12x   | 11.3x  | 0.93x   |
| HZO FeFET | 1.05x | 6.03x   | 7.74x  | 0.93x   |

Within 2x: area 5 of 7, leakage 7, latency 0, energy 0: the issue's target (5 of 7 on every
metric) is met for area and leakage, NOT for latency and energy.

Where the manual differs from the code's own output (same device parameters, same chip):
- area: the code gives 6,601.7 um2 for TaOx/HfOx (Table II 8,663.1) and 7,941.8 um2 for
  AlOx/HfO2 (Table II 21,760); for Ag:a-Si and PCMO it reproduces the table (6,292.3 um2).
  GST PCM's 46,565 um2 and EpiRAM's and HZO FeFET's areas were not re-run (other cell types).
- latency and energy: Table II averages 125 epochs, over which the output error and so the
  writes shrink; the code's first 2,000 images write 1.7-4.1x more per image than the table's
  average (write latency per image Ag:a-Si 85 ms vs 32 ms, TaOx 42 us vs 10.2 us, AlOx/HfO2
  1.13 ms vs 0.47 ms, PCMO 21 ms vs 12 ms). cimest's activity comes from 2,000 images too, so
  against Table II it carries that excess on top of its own.
- the code adds its periphery's write energy twice per row (Train.cpp: NeuroSimSubArrayWrite
  Energy inside the omp critical block and again after it): the periphery is 9 % of TaOx's
  printed write energy, half of it the repeat. Left as printed.

Causes of the remaining differences against the code, per image:
- write latency and energy follow the pulses the learning rule asks for, and the rules differ:
  NeuroSim's output is sigmoid with a squared-error delta (Train.cpp s2 = -2 a2 (1 - a2)
  (y - a2)), alpha 0.4 / 0.2 per layer; cimest's backprop reads out through a softmax (delta
  p - y) at one rate. Where NeuroSim's chip does not learn in 2,000 images (AlOx/HfO2 9.5-10.2 %,
  PCMO 16-17 % accuracy) its deltas, rounded to whole pulses, hardly ever reach a pulse: AlOx/HfO2
  writes about 24 nJ per image, a few of its 2.9 nJ pulses (0.9 V, 17 kOhm, 100 us), where cimest
  still pulses (its softmax error stays large), hence 36x and 90x. For TaOx the counts are close
  (NeuroSim's first layer: 815 pulses per image, cimest's 1,205). The schedule itself (groups of
  7, longest SET then longest RESET train per group), the rounding at half a pulse without a
  gradient memory, and the 1T1R column held at V_set with its access transistors' capacitance
  (70.8 fF per 400-cell column) are NeuroSim's. cimest runs the two arrays' updates in parallel;
  NeuroSim adds them.
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

# Activity measured per device (see the module docstring), as workload.activity.per_layer:
# (input_density, update_fraction, pulses_per_update, set_fraction, write_steps_per_update,
#  write_set_fraction) for L1, L2; error_density is 1 (digital backward pass, float errors).
ACTIVITY = {
    "ag_asi_rram": (
        (0.2578, 0.00398, 2.64, 0.5885, 403.6, 0.5993),
        (0.06749, 0.03887, 3.604, 0.5132, 106.7, 0.6734),
    ),
    "taox_hfox_rram": (
        (0.2578, 0.009569, 3.118, 0.4873, 1109, 0.4936),
        (0.2441, 0.06881, 6.261, 0.5163, 377.5, 0.5892),
    ),
    "pcmo_rram": (
        (0.2578, 0.0008195, 1.792, 0.5152, 54.51, 0.547),
        (0.0326, 0.02447, 2.157, 0.4837, 35.95, 0.7103),
    ),
    "alox_hfo2_rram": (
        (0.2578, 0.005921, 1.808, 0.448, 403.5, 0.4542),
        (0.3562, 0.06019, 4.176, 0.5187, 235.9, 0.5526),
    ),
    "gst_pcm": (
        (0.2578, 0.006789, 2.308, 0.5218, 587.7, 0.5327),
        (0.1414, 0.03955, 3.859, 0.5376, 129.8, 0.6321),
    ),
    "epiram": (
        (0.2578, 0.005755, 1.938, 0.4834, 418.4, 0.4905),
        (0.2209, 0.03891, 3.537, 0.535, 123.4, 0.5968),
    ),
    "hzo_fefet": (
        (0.2578, 0.003898, 1.386, 0.4659, 205, 0.4748),
        (0.2375, 0.03759, 2.651, 0.5622, 91.79, 0.6104),
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

FIELDS = (
    "input_density",
    "update_fraction",
    "pulses_per_update",
    "set_fraction",
    "write_steps_per_update",
    "write_set_fraction",
)


def _design_text(device: str) -> str:
    text = (ROOT / "architectures" / "neurosim_mlp_taox.yaml").read_text()
    head, rest = text.split("  activity:\n", 1)
    rest = rest.split("algorithm:", 1)[1]
    lines = ["  activity:", "    per_layer:"]
    for i, values in enumerate(ACTIVITY[device]):
        factors = ", ".join(f"{k}: {v}" for k, v in zip(FIELDS, values, strict=True))
        lines.append(f"      L{i + 1}: {{error_density: 1, {factors}}}")
    text = head + "\n".join(lines) + "\nalgorithm:" + rest
    return text.replace("cell: taox_hfox_rram", f"cell: {device}")


def neurosim_scope(device: str, tmp: Path) -> dict[str, float]:
    """cimest's figures for MLP+NeuroSim's chip with ``device``, in NeuroSim's scope, per image."""
    path = tmp / f"neurosim_{device}.yaml"
    path.write_text(_design_text(device))
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


def table_ii_reference(device: str) -> dict[str, float]:
    area, latency, energy = TABLE_II[device]
    return {
        "area": area,
        "latency": latency / TABLE_II_SAMPLES,
        "energy": energy / TABLE_II_SAMPLES,
        "leakage": NEUROSIM_LEAKAGE_W,
    }


def ratios(tmp: Path, devices, reference, keys=METRICS) -> dict[str, dict[str, float]]:
    out = {}
    for device in devices:
        got, ref = neurosim_scope(device, tmp), reference(device)
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
    r = ratios(tmp_path, CODE_RUNS["devices"], code_reference)
    for metric, want in ACHIEVED_CODE.items():
        within = _within(r, metric)
        assert len(within) >= want, (metric, {d: round(r[d][metric], 3) for d in r})


def test_devices_within_2x_of_table_ii_per_metric(tmp_path):
    r = ratios(tmp_path, TABLE_II, table_ii_reference)
    for metric, want in ACHIEVED_TABLE_II.items():
        within = _within(r, metric)
        assert len(within) >= want, (metric, {d: round(r[d][metric], 3) for d in r})


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
    text = _design_text(device).replace(
        "  epochs: 125\n", "  epochs: 1\n  max_train_samples: 2000\n"
    )
    path = tmp_path / "measure.yaml"
    path.write_text(text)
    design = load_design(str(path))
    run = train(design.graph, design.libraries)
    est = estimate_design(design, run.counts, run.accuracy)
    for i, layer in enumerate(("L1", "L2")):
        got = est.activity["per_layer"][layer]
        want = dict(zip(FIELDS, ACTIVITY[device][i], strict=True))
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=0.01), (layer, k)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        lines = ("read_latency", "write_latency", "read_energy", "write_energy")
        print("cimest / NeuroSim's code, 2,000 images")
        for device, row in ratios(
            Path(d), CODE_RUNS["devices"], code_reference, METRICS + lines
        ).items():
            print(
                f"| {device:15s} | " + " | ".join(f"{row[k]:.3g}x" for k in METRICS + lines) + " |"
            )
        print("cimest / Table II")
        for device, row in ratios(Path(d), TABLE_II, table_ii_reference).items():
            print(f"| {device:15s} | " + " | ".join(f"{row[k]:.3g}x" for k in METRICS) + " |")
