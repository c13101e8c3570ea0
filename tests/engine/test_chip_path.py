"""Accuracy as the chip delivers it, samples per inference, and the device settings of the
crossbar (issue 13): each pinned on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.api import bind_design, estimate_design
from cimest.engine.train import init_state, make_setup, pulse_model, train
from cimest.spec import parse_architecture

SMALL = ("epochs: 10", "epochs: 3\n  max_train_samples: 640")


def design(path, *edits):
    text = path.read_text()
    for old, new in (SMALL, *edits):
        assert old in text, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(path)))


def test_binary_chip_accuracy_differs_from_the_float_evaluation(bsl_toy):
    d = design(bsl_toy, ("weight_update: memristor", "weight_update: float"))
    r = train(d.graph, d.libraries)
    assert len(r.accuracy_history) == len(r.accuracy_float_history) == 3
    # sampled inputs and hidden outputs, a 6-bit output ADC: not the float network
    assert r.accuracy != r.accuracy_float
    assert r.to_dict()["accuracy_float"] == r.accuracy_float


def test_the_software_rule_is_its_own_float_evaluation(fp_toy):
    d = design(fp_toy, ("rule: backprop", "rule: software"))
    r = train(d.graph, d.libraries)
    assert r.accuracy_history == r.accuracy_float_history


def test_more_samples_per_inference_change_accuracy_and_scale_its_cost(bsl_toy):
    one = design(bsl_toy, ("weight_update: memristor", "weight_update: float"))
    ten = design(
        bsl_toy,
        ("weight_update: memristor", "weight_update: float"),
        ("  seed: 0", "  seed: 0\n  inference_samples: 10"),
    )
    r1, r10 = train(one.graph, one.libraries), train(ten.graph, ten.libraries)
    assert r1.accuracy_float_history == r10.accuracy_float_history  # same training
    assert r1.accuracy_history != r10.accuracy_history
    from cimest.costs.estimate import estimate
    from cimest.graph.analytic import count_analytic

    def dynamic(d) -> float:  # energy of the events of one inference (leakage aside)
        est = estimate(d.graph, count_analytic(d.graph, "inference"), d.libraries, priced=d.priced)
        return sum(r.energy_j for r in est.breakdown if r.phase != "static")

    assert dynamic(ten) == pytest.approx(10 * dynamic(one), rel=1e-12)
    c1, c10 = count_analytic(one.graph, "inference"), count_analytic(ten.graph, "inference")
    assert all(c10.counts[k] == pytest.approx(10 * v, rel=1e-12) for k, v in c1.counts.items())


def test_samples_per_inference_need_a_sampling_read_out(fp_toy):
    from cimest.errors import SpecError

    with pytest.raises(SpecError, match="inference_samples: only comparator read-outs"):
        design(fp_toy, ("  seed: 0", "  seed: 0\n  inference_samples: 4"))


def test_initial_conductance_is_g_at_times_scale_plus_sigma_xi(bsl_toy):
    d = design(
        bsl_toy,
        (
            "  weight_encoding: reference_column",
            "  weight_encoding: reference_column\n  initial_conductance: {at: max, scale: 0.9, sigma: 0.0}",
        ),
    )
    state = init_state(make_setup(d.graph, d.libraries), 0)
    g_max = d.libraries.cell("toy_rram").entry.device.g_max_s
    assert np.all(state.layers[0].g == 0.9 * g_max)
    # the default keeps mid-range x (1 + 0.1 xi)
    plain = init_state(make_setup(design(bsl_toy).graph, d.libraries), 0).layers[0].g
    dev = d.libraries.cell("toy_rram").entry.device
    mid = 0.5 * (dev.g_min_s + dev.g_max_s)
    assert plain.mean() == pytest.approx(mid, rel=0.01) and plain.std() == pytest.approx(
        0.1 * mid, rel=0.05
    )


def test_a_uniform_start_puts_each_device_on_one_of_evenly_spaced_levels(bsl_toy):
    """at: uniform, levels 7: MLP+NeuroSim's rand() % 7 weights over the range, each level about
    1/7 of the devices (128 x 64 draws: 3 sigma of a binomial is about 1 %)."""
    d = design(
        bsl_toy,
        (
            "  weight_encoding: reference_column",
            "  weight_encoding: reference_column\n  initial_conductance: {at: uniform, levels: 7}",
        ),
    )
    g = init_state(make_setup(d.graph, d.libraries), 0).layers[0].g
    dev = d.libraries.cell("toy_rram").entry.device
    k = (g - dev.g_min_s) / (dev.g_max_s - dev.g_min_s) * 6
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    share = np.bincount(np.round(k).astype(int).ravel(), minlength=7) / k.size
    np.testing.assert_allclose(share, 1 / 7, atol=0.015)


@pytest.mark.parametrize(
    "start, message",
    [
        ("{at: uniform, sigma: 0.2}", "remove scale and sigma"),
        ("{at: mid, levels: 5}", "only at: uniform has levels"),
    ],
)
def test_start_fields_that_do_not_apply_are_refused(bsl_toy, start, message):
    from cimest.errors import SpecError

    with pytest.raises(SpecError, match=message):
        design(
            bsl_toy,
            (
                "  weight_encoding: reference_column",
                f"  weight_encoding: reference_column\n  initial_conductance: {start}",
            ),
        )


def test_reference_cells_vary_and_weights_are_read_against_them(bsl_toy):
    from cimest.engine.rules.common import backward_weights, effective_weights

    d = design(
        bsl_toy,
        (
            "  weight_encoding: reference_column",
            "  weight_encoding: reference_column\n  reference_cells: {sigma: 0.1}",
        ),
    )
    setup = make_setup(d.graph, d.libraries)
    ls = init_state(setup, 0).layers[0]
    assert ls.ref_row.shape == (64,) and ls.ref_col.shape == (128,)
    dev = d.libraries.cell("toy_rram").entry.device
    mid, span = 0.5 * (dev.g_min_s + dev.g_max_s), dev.g_max_s - dev.g_min_s
    assert ls.ref_row.std() == pytest.approx(0.1 * mid, rel=0.35)
    fwd = effective_weights(setup, ls)
    assert np.allclose(fwd, (ls.g - ls.ref_row[:, None]) / span, atol=1e-6)
    bwd = backward_weights(setup, ls, fwd)
    assert np.allclose(bwd, (ls.g - ls.ref_col[None, :]) / span, atol=1e-6)
    # a run with real references differs from one with ideal ones, and is reproducible
    r = train(d.graph, d.libraries)
    assert r.counts.counts == train(d.graph, d.libraries).counts.counts
    assert r.accuracy_history != train(*_gl(design(bsl_toy))).accuracy_history


def _gl(d):
    return d.graph, d.libraries


def test_reference_cells_need_single_device_weights(bsl_toy):
    from cimest.errors import SpecError

    with pytest.raises(SpecError, match="reference_cells: pairs read G\\+ against G-"):
        design(
            bsl_toy,
            (
                "  weight_encoding: reference_column",
                "  weight_encoding: differential_pair\n  reference_cells: {sigma: 0.1}",
            ),
        )


def test_a_datasheet_c2c_is_the_same_noise_typed_under_crossbar(tmp_path, bsl_toy, monkeypatch):
    """c2c_sigma means one thing everywhere: a fraction of the range per pulse. A datasheet's
    0.037 and a quiet cell with crossbar.c2c_sigma 0.037 model the same device."""
    lib = tmp_path / "ds_cells.yaml"
    cell = (
        "  - kind: cell\n    variant: {v}\n    source: test\n    confidence: L\n    area_f2: 20\n"
        "    datasheet: {{levels: 128, r_on_ohm: 100000, on_off_ratio: 10, c2c_sigma: {c}, "
        "v_set_v: 1.6, v_reset_v: 1.6, t_set_ns: 50, t_reset_ns: 50}}\n"
    )
    lib.write_text(
        "name: ds_cells\ndescription: test\nnode_nm: 32\nvdd_v: 0.9\nentries:\n"
        + cell.format(v="noisy", c=0.037)
        + cell.format(v="quiet", c=0.0)
    )
    monkeypatch.setenv("CIMEST_LIBRARY_PATH", f"{tmp_path}:{bsl_toy.parent / 'libraries'}")
    libs = ("libraries: [toy_cmos, toy_cells]", "libraries: [toy_cmos, ds_cells]")
    noisy = design(bsl_toy, libs, ("cell: toy_rram", "cell: noisy"))
    quiet = design(
        bsl_toy,
        libs,
        ("cell: toy_rram", "cell: quiet"),
        (
            "  weight_encoding: reference_column",
            "  weight_encoding: reference_column\n  c2c_sigma: 0.037",
        ),
    )
    a, b = pulse_model(noisy.graph, noisy.libraries), pulse_model(quiet.graph, quiet.libraries)
    assert a == b
    assert a.gamma_p == pytest.approx(0.037 * 128)


def test_an_untrained_estimate_on_another_dataset_says_its_activity_is_from_digits(
    bsl_toy, tmp_path
):
    from cimest.spec.architecture import DATASET_ACTIVITY

    net = ("[64, 128, 10]", "[784, 128, 10]")
    idx = design(bsl_toy, ("dataset: digits", f"dataset: mnist-idx:{tmp_path}"), net)
    notes = estimate_design(idx).warnings
    assert any(f"defaults measured on digits, not on mnist-idx:{tmp_path}" in n for n in notes)
    assert not any("defaults measured" in n for n in estimate_design(design(bsl_toy)).warnings)
    # mnist5k has defaults of its own, and the analytic counter takes them
    mnist = design(bsl_toy, ("dataset: digits", "dataset: mnist5k"), net)
    assert not any("defaults measured" in n for n in estimate_design(mnist).warnings)
    from cimest.graph.analytic import activity_of

    want = DATASET_ACTIVITY["mnist5k"]["binary"]["input_density"]
    assert (
        activity_of(mnist.graph, "L2").input_density
        == want
        != DATASET_ACTIVITY["digits"]["binary"]["input_density"]
    )
    # given factors silence it
    given = design(
        bsl_toy,
        ("dataset: digits", f"dataset: mnist-idx:{tmp_path}"),
        net,
        (
            "  seed: 0",
            "  seed: 0\n  activity: {input_density: 0.2, error_density: 0.3, "
            "update_fraction: 1.0e-4, pulses_per_update: 1, set_fraction: 0.5}",
        ),
    )
    assert not any("defaults measured" in n for n in estimate_design(given).warnings)


def test_a_uniform_start_survives_a_dump_and_a_second_validation(bsl_toy):
    """Run identities and measured estimates validate a dumped spec again, defaults and all."""
    from cimest.spec.architecture import InitialConductanceSpec

    d = design(
        bsl_toy,
        (
            "  weight_encoding: reference_column",
            "  weight_encoding: reference_column\n  initial_conductance: {at: uniform, levels: 5}",
        ),
    )
    start = d.graph.spec.crossbar.initial_conductance
    assert InitialConductanceSpec.model_validate(start.model_dump()) == start
    mid = InitialConductanceSpec()
    assert InitialConductanceSpec.model_validate(mid.model_dump()) == mid
