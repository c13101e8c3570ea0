"""The rule seam: one module per rule, the analytic counter equal to the engine on every rule, the
pulse-coincidence rule, honoured RNG widths, and measured activity that drives latency."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cimest.api import bind_design, estimate_design
from cimest.engine.datasets import load_dataset
from cimest.engine.peripherals import dac_levels
from cimest.engine.rules import STEPS
from cimest.engine.train import make_setup, train
from cimest.errors import SpecError
from cimest.graph.analytic import count_analytic
from cimest.spec import parse_architecture, validate_architecture_data
from cimest.spec.rules import RULES

SMALL = ("epochs: 10", "epochs: 2\n  max_train_samples: 640")


def design(path, *edits):
    text = path.read_text()
    for old, new in (SMALL, *edits):
        assert old in text, old
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(path)))


PC = (
    ("rule: backprop", "rule: pulse_coincidence\n  pulse_length: 10"),
    (
        "  update: {kind: pulse_train, max_pulses: 32}\n  gradient_accumulator: {kind: sram_buffer, bits: 8}\n",
        "  update: {kind: coincidence}\n",
    ),
    ("batch_size: 64", "batch_size: 8"),
)
VARIANTS = {
    "binary_stochastic": ("bsl_toy", ()),
    "backprop": ("fp_toy", ()),
    "dfa": ("fp_toy", (("rule: backprop", "rule: dfa"), ("[64, 128, 10]", "[64, 40, 30, 10]"))),
    "dfa_binary": (
        "bsl_toy",
        (
            ("rule: binary_stochastic", "rule: dfa\n  binary_feedback: true"),
            ("[64, 128, 10]", "[64, 40, 30, 10]"),
        ),
    ),
    "pulse_coincidence": ("fp_toy", PC),
    "backprop_digital_backward": (
        "fp_toy",
        (
            (
                "  error_input: {kind: dac, bits: 8}\n  error_readout: {kind: adc, bits: 8, columns_per_adc: 8}\n",
                "  backward: {kind: digital, bits: 8}\n",
            ),
        ),
    ),
}


def test_every_declared_rule_has_one_module_and_back():
    assert set(STEPS) == set(RULES)


def with_activity(d, activity: dict):
    """The same design with the given per-layer activity factors in its YAML."""
    data = yaml.safe_load(d.loaded.spec.model_dump_json(by_alias=True))
    data["technology"]["clock_mhz"] = d.spec.technology.clock_hz / 1e6  # dumped in Hz
    data["workload"]["activity"] = {"per_layer": activity}
    return bind_design(validate_architecture_data(data, {}, "measured"))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_analytic_counter_equals_the_engine_on_the_measured_activity(name, request):
    fixture, edits = VARIANTS[name]
    d = design(request.getfixturevalue(fixture), *edits)
    r = train(d.graph, d.libraries)
    assert r.counts.n_samples == 1280
    per_sample = count_analytic(with_activity(d, r.activity).graph)
    nonzero = {k for k, v in r.counts.counts.items() if v}
    assert nonzero <= set(per_sample.counts)
    for key, n in r.counts.counts.items():
        assert per_sample.counts[key] * r.counts.n_samples == pytest.approx(
            n, rel=1e-9, abs=1e-6
        ), key


def test_measured_input_activity_equals_an_independent_recount_of_the_data(fp_toy):
    """The engine's L1 input activity against the dataset's own non-zero DAC codes, counted here
    from the data (no engine, no counting rule)."""
    d = design(fp_toy)
    r = train(d.graph, d.libraries)
    x = load_dataset("digits").x_train[:640]
    nonzero = int(np.count_nonzero(dac_levels(x.astype(np.float64), 8, 0.0, 1.0)[1]))
    assert r.counts.activity["L1"]["inputs_driven"] == 2 * nonzero
    L1 = d.graph.layer("L1")
    assert r.counts.get("L1", "forward", "cell", "read") == 2 * nonzero * L1.cols_read_per_row


def test_pulse_coincidence_trains_without_gradient_memory(fp_toy):
    """Gokmen & Vlasov's update learns digits and its chip has no per-weight accumulator."""
    d = design(fp_toy, *PC, ("epochs: 2\n  max_train_samples: 640", "epochs: 3"))
    roles = {role for _, role in d.graph.components}
    assert {"update_rng", "update_row_driver", "update_col_driver"} <= roles
    assert not roles & {
        "gradient_accumulator",
        "gradient_adder",
        "gradient_multiplier",
        "write_driver",
    }
    r = train(d.graph, d.libraries)
    assert r.accuracy > 0.5  # chance is 0.1
    est = estimate_design(d, r.counts, r.accuracy)
    kinds = {rec.kind for rec in est.breakdown}
    assert "sram_buffer" not in kinds
    pulses = r.counts.total(phase="update", component="cell")
    assert pulses > 0
    # one random draw per line and slot, whatever fired
    L1 = d.graph.layer("L1")
    assert (
        r.counts.get("L1", "update", "update_rng", "bit")
        == r.counts.n_samples * (L1.n_in + L1.n_out) * 10 * 16
    )


def test_pulse_coincidence_refuses_a_gradient_memory(fp_toy):
    text = fp_toy.read_text().replace("rule: backprop", "rule: pulse_coincidence")
    with pytest.raises(SpecError, match="keeps no gradient memory"):
        parse_architecture(text, "pc.yaml")


def test_rng_bits_are_honoured_not_replaced(bsl_toy):
    """A 12-bit LFSR is simulated 12 bits wide (it was silently 16 before)."""
    from cimest.engine.train import _samplers, make_setup

    d = design(bsl_toy, ("rng: lfsr, rng_bits: 16", "rng: lfsr, rng_bits: 12"))
    samplers = _samplers(make_setup(d.graph, d.libraries), 0)
    assert {s.width for s in samplers.values()} == {12}
    assert train(d.graph, d.libraries).counts.counts != train(*_bound(bsl_toy)).counts.counts


def _bound(path):
    d = design(path)
    return d.graph, d.libraries


@pytest.mark.parametrize("rng,bits", [("lfsr", 40), ("ideal", 60)])
def test_rng_bits_a_source_cannot_draw_are_refused(bsl_toy, rng, bits):
    text = bsl_toy.read_text().replace("rng: lfsr, rng_bits: 16", f"rng: {rng}, rng_bits: {bits}")
    with pytest.raises(SpecError, match=r"readout.rng_bits: .* cannot be drawn"):
        parse_architecture(text, "x.yaml")


def test_rng_on_the_sign_comparator_is_refused(bsl_toy):
    text = bsl_toy.read_text().replace(
        "error_readout: {kind: comparator}", "error_readout: {kind: comparator, rng: " + "lfsr}"
    )
    with pytest.raises(SpecError, match="error_readout.rng: unknown field"):
        parse_architecture(text, "x.yaml")


def test_measured_estimate_times_the_measured_pulse_trains(fp_toy):
    """Counts drive latency: the update step programs for the measured write schedule, which
    follows the pulse trains (longer than one pulse here) and skips rows without pulses."""
    d = design(fp_toy, ("learning_rate: 0.1", "learning_rate: 3.0"))
    r = train(d.graph, d.libraries)
    est = estimate_design(d, r.counts, r.accuracy)
    act = r.counts.activity["L1"]
    L1 = d.graph.layer("L1")
    lat = d.priced[("L1", "cell")].latency_s
    digital = (
        d.priced[("L1", "gradient_adder")].latency_s["op"]
        + d.priced[("L1", "gradient_multiplier")].latency_s["op"]
    )
    train_length = (act["set_pulses"] + act["reset_pulses"]) / act["devices_programmed"]
    assert train_length > 1.5
    # at least the longest train of some row per update, at most every row's longest train
    assert act["updates"] <= act["program_steps"] <= act["updates"] * L1.n_in * 32
    # each step one pulse slot: a group's longest SET train, then its longest RESET train
    set_steps = act["program_set_steps"]
    assert 0 < set_steps < act["program_steps"]
    reset_steps = act["program_steps"] - set_steps
    want = (
        min(L1.rows, L1.n_in) * digital
        + (set_steps * lat["set_pulse"] + reset_steps * lat["reset_pulse"]) / act["samples"]
    )
    step = next(s for s in est.schedule if (s.layer, s.phase) == ("L1", "update"))
    assert step.duration_s == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("fixture", ["bsl_toy", "fp_toy"])
def test_pasting_a_measured_activity_gives_the_same_estimate(fixture, request):
    d = design(request.getfixturevalue(fixture))
    r = train(d.graph, d.libraries)
    measured = estimate_design(d, r.counts, r.accuracy)
    pasted = estimate_design(with_activity(d, measured.activity["per_layer"]))
    assert pasted.energy_per_sample_j == pytest.approx(measured.energy_per_sample_j, rel=1e-9)
    assert pasted.latency_per_sample_s == pytest.approx(measured.latency_per_sample_s, rel=1e-9)
    for layer, factors in measured.activity["per_layer"].items():
        assert pasted.activity["per_layer"][layer] == pytest.approx(factors, rel=1e-9)


def test_the_software_rule_says_it_prices_no_hardware(fp_toy):
    from cimest.output import to_json

    d = design(fp_toy, ("rule: backprop", "rule: software"))
    est = estimate_design(d)
    assert not est.priced_hardware
    assert "no hardware is priced" in est.warnings[0]
    data = yaml.safe_load(to_json(est.to_dict()))
    assert data["energy_per_mac_j"] is None and data["tops_per_w"] is None


def test_the_clock_sets_digital_latency(fp_toy):
    fast = design(fp_toy)
    slow = design(fp_toy, ("clock_mhz: 1000", "clock_mhz: 100"))
    op = slow.priced[("L1", "gradient_adder")].latency_s["op"]
    assert op == pytest.approx(10e-9, rel=1e-12)  # one cycle of 100 MHz
    assert (
        estimate_design(slow).latency_per_sample_s > 2 * estimate_design(fast).latency_per_sample_s
    )
    # analog parts do not follow the clock
    assert slow.priced[("L1", "cell")].latency_s == fast.priced[("L1", "cell")].latency_s


@pytest.mark.parametrize("group, want", [(None, 9), (3, 9), (1, 10)])
def test_write_steps_charge_each_group_its_longest_train_and_skip_empty_ones(fp_toy, group, want):
    """Hand count on 4x4 tiles (3 weight columns and a reference, 4 rows): tile (0, 0) has row 0
    with trains 3 and 5 in columns 0 and 1, row 1 with 2 in column 2; tile (1, 0) has 9 in row 4.
    Three columns at once: row 0 takes 5, row 1 takes 2, the tile 7; the other tile 9; the slower
    tile sets the layer: 9. One column at a time: 3 + 5 + 2 = 10 against 9: 10."""
    from cimest.engine.rules.common import write_steps

    par = "" if group is None else f", parallel_columns: {group}"
    d = design(
        fp_toy,
        ("rows: 128\n  cols: 128", "rows: 4\n  cols: 4"),
        (
            "update: {kind: pulse_train, max_pulses: 32}",
            f"update: {{kind: pulse_train, max_pulses: 32{par}}}",
        ),
    )
    setup = make_setup(d.graph, d.libraries)
    trains = np.zeros((64, 128), dtype=np.int64)
    trains[0, 0], trains[0, 1], trains[1, 2], trains[4, 0] = 3, 5, 2, 9
    assert write_steps(setup, "L1", trains) == want
    assert write_steps(setup, "L1", np.zeros_like(trains)) == 0


def test_a_group_takes_its_longest_set_train_then_its_longest_reset_train(fp_toy):
    """MLP+NeuroSim V3.0 Train.cpp: a batch write lasts maxLatencyLTP + maxLatencyLTD. Row 0 of
    tile (0, 0), three columns at once: SET 3 and RESET 5 in columns 0 and 1 -> 3 + 5 slots;
    row 1: SET 2 -> 2; tile (1, 0): RESET 4 -> 4. SET phase: the slower tile's 3 + 2 = 5; RESET
    phase: max(5, 4) = 5."""
    from cimest.engine.rules.common import polarity_steps

    d = design(fp_toy, ("rows: 128\n  cols: 128", "rows: 4\n  cols: 4"))
    setup = make_setup(d.graph, d.libraries)
    n = np.zeros((64, 128), dtype=np.int64)
    n[0, 0], n[0, 1], n[1, 2], n[4, 0] = 3, -5, 2, -4
    assert polarity_steps(setup, "L1", n) == (5, 5)


def test_programming_one_column_at_a_time_takes_longer(fp_toy):
    learn = ("learning_rate: 0.1", "learning_rate: 3.0")
    parallel = design(fp_toy, learn)
    serial = design(fp_toy, learn, ("max_pulses: 32}", "max_pulses: 32, parallel_columns: 1}"))
    rp, rs = train(parallel.graph, parallel.libraries), train(serial.graph, serial.libraries)
    # the same pulses, another schedule: only the write-selection circuits differ (a column
    # decoder picks each one-cell group; the other columns sit half-selected while it is written)
    schedule = {("column_decoder", "decode"), ("bitline", "half_select")}

    def same(counts):
        return {k: v for k, v in counts.items() if (k[2], k[3]) not in schedule}

    assert same(rp.counts.counts) == same(rs.counts.counts)
    assert not any((k[2], k[3]) in schedule and v for k, v in rp.counts.counts.items())
    assert any(k[2] == "column_decoder" and v for k, v in rs.counts.counts.items())

    def update_latency(d, r):
        est = estimate_design(d, r.counts, r.accuracy)
        return sum(s.duration_s for s in est.schedule if s.phase == "update")

    assert update_latency(serial, rs) > 2 * update_latency(parallel, rp)
