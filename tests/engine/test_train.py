"""The training engine: bit-exact reproducibility, resume, and counts equal to the analytic
counter's on the activity factors the run measured."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.api import bind_design
from cimest.counts import EventCounts
from cimest.engine.train import Interrupted, train
from cimest.graph.analytic import count_analytic
from cimest.spec import parse_architecture


def design(path, **edits):
    text = path.read_text()
    for old, new in edits.items():
        text = text.replace(old.replace("__", ": "), new)
    return bind_design(parse_architecture(text, str(path)))


SMALL = {"epochs__10": "epochs: 2\n  max_train_samples: 640"}


def run(d, **kw):
    return train(d.graph, d.libraries, **kw)


def same_result(a, b) -> None:
    assert a.accuracy_history == b.accuracy_history
    assert a.loss_history == b.loss_history
    assert a.counts.counts == b.counts.counts
    assert a.counts.n_samples == b.counts.n_samples
    assert a.conductances.keys() == b.conductances.keys()
    for k in a.conductances:
        assert np.array_equal(a.conductances[k], b.conductances[k])
    assert a.wear == b.wear


@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
def test_same_seed_same_everything(fixture, request):
    path = request.getfixturevalue(fixture)
    d = design(path, **SMALL)
    same_result(run(d), run(d))


def test_another_seed_differs(bsl_toy):
    d = design(bsl_toy, **SMALL)
    assert run(d).counts.counts != run(d, seed=1).counts.counts


@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
def test_resume_after_an_epoch_equals_the_uninterrupted_run(fixture, request, tmp_path):
    d = design(request.getfixturevalue(fixture), **SMALL)
    whole = run(d)
    run(d, epochs=1, run_dir=tmp_path)
    resumed = run(d, run_dir=tmp_path, resume=True)
    same_result(whole, resumed)


def test_stop_mid_epoch_then_resume_equals_the_uninterrupted_run(bsl_toy, tmp_path):
    d = design(bsl_toy, **SMALL)
    whole = run(d)
    polls = {"n": 0}

    def stop_after_13_batches() -> bool:
        polls["n"] += 1
        return polls["n"] > 13

    with pytest.raises(Interrupted, match="epoch 2, batch 3"):
        run(d, run_dir=tmp_path, should_stop=stop_after_13_batches)
    same_result(whole, run(d, run_dir=tmp_path, resume=True))


def test_checkpoint_of_another_architecture_is_refused(bsl_toy, tmp_path):
    from cimest.errors import CheckpointError

    run(design(bsl_toy, **SMALL), epochs=1, run_dir=tmp_path)
    other = design(bsl_toy, **SMALL, **{"learning_rate__0.1": "learning_rate: 0.2"})
    with pytest.raises(CheckpointError, match="another architecture"):
        run(other, run_dir=tmp_path, resume=True)


def test_corrupt_checkpoint_is_a_clear_error(bsl_toy, tmp_path):
    from cimest.errors import CheckpointError

    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        run(design(bsl_toy, **SMALL), run_dir=tmp_path, resume=True)


@pytest.mark.parametrize(
    ("forge", "names"),
    [
        (lambda a: a.update({"layer0.g": a["layer0.g"][:-1]}), "layer0.g is float64[63, 128]"),
        (
            lambda a: a.update({"layer1.acc": a["layer1.acc"].astype(np.float32)}),
            "layer1.acc is float32",
        ),
        (lambda a: a.pop("layer1.pulses"), "layer1.pulses is absent"),
        (
            lambda a: a["layer0.acc"].__setitem__((0, 0), 2**31 - 1),
            "layer0.acc holds values outside the 8-bit range",
        ),
    ],
)
def test_forged_checkpoint_with_wrong_arrays_is_refused(bsl_toy, tmp_path, forge, names):
    """The fingerprint covers the design, not the arrays; a hand-edited file is caught by shape."""
    from cimest.errors import CheckpointError

    d = design(bsl_toy, **SMALL)
    run(d, epochs=1, run_dir=tmp_path)
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    forge(arrays)
    with open(path, "wb") as f:  # test data, not cimest output
        np.savez(f, **arrays)
    with pytest.raises(CheckpointError, match="does not fit this design") as err:
        run(d, run_dir=tmp_path, resume=True)
    assert names in str(err.value)


def analytic_with(d, activity: dict) -> EventCounts:
    """The analytic counter fed a run's measured activity factors, as an architecture would."""
    import yaml

    data = yaml.safe_load(d.loaded.spec.model_dump_json(by_alias=True))
    # Why: the dump holds SI values under the YAML names; clock_mhz: 1e9 would read as 1e9 MHz
    data["technology"]["clock_mhz"] = d.spec.technology.clock_hz / 1e6
    data["workload"]["activity"] = {"per_layer": activity}
    from cimest.spec import validate_architecture_data

    d2 = bind_design(validate_architecture_data(data, {}, "measured"))
    return count_analytic(d2.graph)


@pytest.mark.parametrize("encoding", ["reference_column", "differential_rows"])
@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
def test_analytic_counter_reproduces_measured_counts(fixture, encoding, request):
    d = design(
        request.getfixturevalue(fixture),
        **SMALL,
        weight_encoding__reference_column=f"weight_encoding: {encoding}",
    )
    assert d.spec.crossbar.weight_encoding == encoding
    r = run(d)
    assert r.counts.n_samples == 1280  # 640 samples x 2 epochs, whole batches of 64
    per_sample = analytic_with(d, r.activity)
    measured = r.counts
    assert set(measured.counts) == set(per_sample.counts)
    for key, n in measured.counts.items():
        assert per_sample.counts[key] * measured.n_samples == pytest.approx(
            n, rel=1e-9, abs=1e-6
        ), key


def test_forward_cell_reads_are_driven_rows_times_columns(bsl_toy):
    """Counting invariant, checked against an independent recount of the sampled inputs."""
    d = design(bsl_toy, **SMALL)
    r = run(d, epochs=1)
    L1 = d.graph.layer("L1")
    drives = r.counts.get("L1", "forward", "input_driver", "drive")
    reads = r.counts.get("L1", "forward", "cell", "read")
    assert drives % L1.col_tiles == 0
    assert reads == drives // L1.col_tiles * L1.cols_read_per_row
    compares = r.counts.get("L1", "forward", "readout", "compare")
    assert compares == 640 * 128


def test_binary_run_pulses_once_per_threshold_crossing(bsl_toy):
    d = design(bsl_toy, **SMALL)
    r = run(d)
    for L in ("L1", "L2"):
        pulses = r.counts.get(L, "update", "write_driver", "pulse")
        sets = r.counts.get(L, "update", "cell", "set_pulse")
        resets = r.counts.get(L, "update", "cell", "reset_pulse")
        assert pulses == sets + resets
    assert r.wear["most_written"]["pulses"] <= 2 * (1280 // 64)  # at most one pulse per batch
    hist = r.wear["histogram"]
    assert sum(hist["counts"]) == 64 * 128 + 128 * 10


@pytest.mark.parametrize("top", [0, 1, 7, 39, 40, 1000])
def test_wear_histogram_is_numpys_histogram_of_the_pulse_counts(top):
    from types import SimpleNamespace

    from cimest.engine.state import LayerState
    from cimest.engine.train import wear_summary

    rng = np.random.default_rng(top)
    layers = [
        LayerState(pulses=rng.integers(0, top + 1, (30, 20)).astype(np.int32)),
        LayerState(pulses=rng.integers(0, top + 1, (2, 20, 5)).astype(np.int32)),
    ]
    graph = SimpleNamespace(layers=[SimpleNamespace(name="L1"), SimpleNamespace(name="L2")])
    w = wear_summary(SimpleNamespace(layers=layers), graph, None, 1)
    flat = np.concatenate([ls.pulses.reshape(-1) for ls in layers])
    counts, edges = np.histogram(flat, bins=np.array(w["histogram"]["edges"]))
    assert w["histogram"]["counts"] == counts.tolist()
    assert sum(counts) == flat.size


def test_cached_read_weights_equal_recomputed_ones(bsl_toy, monkeypatch):
    """The engine keeps the read weights between batches and refreshes them only where pulses
    landed; a run that recomputes them every batch gives the identical result."""
    import cimest.engine.rules.binary_stochastic as rules

    d = design(bsl_toy, **SMALL)
    cached = run(d)
    refresh = rules.after_update
    monkeypatch.setattr(
        rules,
        "after_update",
        lambda setup, state, i, name, changed: refresh(setup, state, i, name, None),
    )
    same_result(cached, run(d))


def test_measured_pulse_trains_give_their_mean_length(fp_toy, bsl_toy):
    """Pulse-train updates: pulses_per_update is the mean train length of the devices programmed
    (so the schedule's programming time follows it), not 1; single pulses stay at 1."""
    d = design(fp_toy, **SMALL, **{"learning_rate__0.1": "learning_rate: 3.0"})  # long trains
    r = run(d)
    lengths = []
    for L, f in r.activity.items():
        pulses = r.counts.get(L, "update", "write_driver", "pulse")
        assert f["update_fraction"] * f["pulses_per_update"] * d.graph.layer(
            L
        ).n_devices * r.counts.n_samples == pytest.approx(pulses, rel=1e-9)
        lengths.append(f["pulses_per_update"])
    assert min(lengths) >= 1.0 and max(lengths) > 1.5
    single = run(design(bsl_toy, **SMALL))
    assert {f["pulses_per_update"] for f in single.activity.values()} == {1.0}


def test_resume_from_a_fortran_ordered_checkpoint_equals_the_uninterrupted_run(bsl_toy, tmp_path):
    """A checkpoint whose arrays were rewritten in Fortran order (same values) resumes to the same
    result: the engine's in-place updates must not land in a copy."""
    d = design(bsl_toy, **SMALL)
    whole = run(d)
    run(d, epochs=1, run_dir=tmp_path)
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as z:
        arrays = {k: (np.asfortranarray(z[k]) if z[k].ndim == 2 else z[k]) for k in z.files}
    with open(path, "wb") as f:  # test data, not cimest output
        np.savez(f, **arrays)
    same_result(whole, run(d, run_dir=tmp_path, resume=True))


# --- convolutional networks ---------------------------------------------------------------------

CNN = {
    "[64, 128, 10]": "[[1, 8, 8], {conv: {maps: 3, kernel: 3}}, {pool: {kind: max, size: 2}}, 10]",
    "epochs__10": "epochs: 2\n  max_train_samples: 256",
}
CNN2 = {
    **CNN,
    "[64, 128, 10]": "[[1, 8, 8], {conv: {maps: 2, kernel: 3, padding: 1}}, "
    "{pool: {kind: average, size: 2}}, {conv: {maps: 3, kernel: 2, stride: 2}}, 6, 10]",
}
CNN_RULES = {
    "bsl": ("bsl_toy", {}),
    "bsl_integer": ("bsl_toy", {"weight_update__memristor": "weight_update: integer"}),
    "bsl_pair": (
        "bsl_toy",
        {"weight_encoding__reference_column": "weight_encoding: differential_pair"},
    ),
    "bsl_rows": (
        "bsl_toy",
        {"weight_encoding__reference_column": "weight_encoding: differential_rows"},
    ),
    "dfa_binary": ("bsl_toy", {"rule__binary_stochastic": "rule: dfa\n  binary_feedback: true"}),
    "backprop": ("fp_toy", {}),
    "dfa": ("fp_toy", {"rule__backprop": "rule: dfa"}),
    "pulse_coincidence": (
        "fp_toy",
        {
            "rule__backprop": "rule: pulse_coincidence\n  pulse_length: 3",
            "update: {kind: pulse_train, max_pulses: 32}": "update: {kind: coincidence}",
            "  gradient_accumulator: {kind: sram_buffer, bits: 8}\n": "",
            "batch_size__64": "batch_size: 4",
            "max_train_samples: 256": "max_train_samples: 16",
        },
    ),
}


@pytest.mark.parametrize("net", [CNN, CNN2], ids=["cnn", "cnn2"])
@pytest.mark.parametrize("case", list(CNN_RULES))
def test_analytic_counter_reproduces_measured_counts_of_a_cnn(case, net, request):
    """Conv layers count per use (output position): patches driven, errors driven at every
    position, gradient terms summed over positions; fed the run's measured activity, the analytic
    counter gives the engine's counts exactly, as for dense layers."""
    fixture, edits = CNN_RULES[case]
    d = design(request.getfixturevalue(fixture), **{**net, **edits})
    assert d.graph.layers[0].kind == "conv"
    r = run(d)
    per_sample = analytic_with(d, r.activity)
    measured = r.counts
    assert set(measured.counts) == set(per_sample.counts)
    for key, n in measured.counts.items():
        assert per_sample.counts[key] * measured.n_samples == pytest.approx(
            n, rel=1e-9, abs=1e-6
        ), key


def test_cnn_forward_drives_every_non_zero_patch_entry(fp_toy):
    """Counting invariant against an independent recount: a pixel drives its row once for every
    output position whose patch covers it (digits pixels k/16 stay non-zero through the DAC)."""
    from cimest.engine.datasets import load_dataset
    from cimest.engine.train import _epoch_order

    d = design(fp_toy, **{**CNN2, "epochs: 2": "epochs: 1"})
    r = run(d)
    x = load_dataset("digits").x_train[:256].reshape(-1, 8, 8)
    x = x[_epoch_order(0, 0, 256)]
    cover = np.zeros((10, 10))  # padding 1: positions 0..7 of the padded 10x10 input
    for i in range(8):
        for j in range(8):
            cover[i : i + 3, j : j + 3] += 1
    cover = cover[1:9, 1:9]
    got = r.counts.activity["L1"]["inputs_driven"]
    assert got == int(((x != 0) * cover).sum())
    L1 = d.graph.layer("L1")
    assert r.counts.get("L1", "forward", "cell", "read") == got * L1.cols_read_per_row
    assert r.counts.n_samples == 256


@pytest.mark.parametrize("case", ["bsl", "backprop"])
def test_a_cnn_resumed_after_an_epoch_equals_the_uninterrupted_run(case, request, tmp_path):
    fixture, edits = CNN_RULES[case]
    d = design(request.getfixturevalue(fixture), **{**CNN2, **edits})
    whole = run(d)
    run(d, epochs=1, run_dir=tmp_path)
    resumed = run(d, run_dir=tmp_path, resume=True)
    same_result(whole, resumed)
    assert whole.conductances["L1"].shape == (1 * 3 * 3, 2)  # C*R*S rows, K columns


@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
def test_an_epochs_progress_reports_its_counted_events(fixture, request):
    """After each epoch, the progress's events and samples per second share one duration, so
    their ratio is the counted events per sample so far."""
    d = design(request.getfixturevalue(fixture), **SMALL)
    done = []
    r = run(d, progress=lambda p: done.append(p) if p.epoch_done else None)
    events = np.cumsum([c.total() for c in r.counts_per_epoch])
    samples = np.cumsum([c.n_samples for c in r.counts_per_epoch])
    assert len(done) == len(events) > 1 and events[-1] > 0
    for p, e, n in zip(done, events, samples, strict=True):
        assert p.events_per_s / p.samples_per_s == pytest.approx(e / n, rel=1e-9)


@pytest.mark.parametrize(("seed", "epoch"), [(0, 0), (0, 7), (12345, 19), ((1 << 32) - 1, 3)])
def test_epoch_order_is_the_list_seeded_generators(seed, epoch):
    """The shuffle seeded from a uint32 array is the one numpy's list of ints gives (each below
    2^32 is one word); beyond 2^32 the list itself is taken."""
    from cimest.engine.train import _epoch_order

    want = np.random.Generator(np.random.PCG64([seed, 3, epoch])).permutation(1000)
    assert np.array_equal(_epoch_order(seed, epoch, 1000), want)
    big = 1 << 40
    want = np.random.Generator(np.random.PCG64([big, 3, epoch])).permutation(1000)
    assert np.array_equal(_epoch_order(big, epoch, 1000), want)
