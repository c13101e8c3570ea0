"""Inference-only workloads: forward-only counts, bit-serial inputs, variable-precision read-out."""

from __future__ import annotations

import pytest

from cimest.api import bind_design, estimate_design
from cimest.cli import main
from cimest.graph import compile_graph
from cimest.graph.analytic import count_analytic
from cimest.spec import parse_architecture

ARCH = """
name: inf
technology: {node_nm: 32, vdd_v: 0.9, clock_mhz: 1000}
libraries: [toy_cmos, toy_cells]
workload: {network: [100, 60, 10], mode: inference, input_bits: IN_BITS, epochs: 1}
algorithm: {rule: backprop}
crossbar: {rows: 64, cols: 64, cell: toy_rram}
peripherals:
  input_driver: {kind: dac, bits: 4, bit_serial: SERIAL}
  readout: {kind: adc, bits: OUT_BITS, columns_per_adc: 4}
  error_input: {kind: dac, bits: 8}
  error_readout: {kind: adc, bits: 8}
  update: {kind: pulse_train}
  gradient_accumulator: {kind: sram_buffer, bits: 8}
  output_readout: {kind: adc, bits: OUT_BITS, columns_per_adc: 1}
"""


def spec(in_bits=1, out_bits=6, serial=True, mode="inference"):
    text = (
        ARCH.replace("IN_BITS", str(in_bits))
        .replace("OUT_BITS", str(out_bits))
        .replace("SERIAL", str(serial).lower())
        .replace("mode: inference", f"mode: {mode}")
    )
    return parse_architecture(text)


def test_forward_only_components_and_counts(toy_libs):
    g = compile_graph(spec().spec)
    assert {c.phase for c in g.components.values()} == {"forward"}
    roles = {role for _, role in g.components}
    assert not roles & {
        "error_input",
        "error_readout",
        "gradient_accumulator",
        "write_driver",
        "derivative_unit",
        "gradient_adder",
    }
    c = count_analytic(g)
    assert c.mode == "inference"
    assert {ph for (_, ph, _, _) in c.counts} == {"forward"}
    # the training twin has backward and update events on top of the same forward ones
    t = count_analytic(compile_graph(spec(mode="train").spec))
    fwd_train = {
        k: v for k, v in t.counts.items() if k[1] == "forward" and k[2] != "derivative_unit"
    }
    assert {k: v for k, v in c.counts.items()} == fwd_train


def test_macs_are_forward_only(toy_libs):
    g = compile_graph(spec().spec)
    assert g.macs_per_sample() == {"forward": 100 * 60 + 60 * 10, "backward": 0, "update": 0}
    est = estimate_design(bind_design(spec()))
    assert set(est.energy_by_phase_j) == {"forward"}
    assert est.energy_per_mac_j == pytest.approx(
        est.energy_per_sample_j / (100 * 60 + 60 * 10), rel=1e-12
    )


@pytest.mark.parametrize("bits", [2, 5, 8])
def test_bit_serial_cycles_multiply_drives_reads_and_shift_adds(toy_libs, bits):
    one = count_analytic(compile_graph(spec(in_bits=1).spec)).counts
    many = count_analytic(compile_graph(spec(in_bits=bits).spec)).counts
    # every input bit is driven, read, digitised and shifted in (ISAAC: an ADC conversion per
    # column per input bit; issue 11 found the conversions flat at 1, 8 and 16 bits)
    for role, action in (
        ("input_driver", "drive"),
        ("cell", "read"),
        ("shift_add", "op"),
        ("readout", "convert"),
        ("readout_mux", "switch"),
    ):
        key = ("L1", "forward", role, action)
        assert many[key] == pytest.approx(bits * one[key], rel=1e-12)
    # hidden layers are driven with the DAC's bits (4), not the network input's
    assert (
        many[("L2", "forward", "input_driver", "drive")]
        == one[("L2", "forward", "input_driver", "drive")]
    )
    g = compile_graph(spec(in_bits=bits).spec)
    assert g.component("L1", "input_driver").kind == "row_driver"
    assert g.component("L1", "input_driver").cycles == bits


def test_parallel_dac_converts_once_per_row(toy_libs):
    c = count_analytic(compile_graph(spec(in_bits=8, serial=False).spec)).counts
    g = compile_graph(spec(in_bits=8, serial=False).spec)
    assert (
        g.component("L1", "input_driver").kind == "dac"
        and g.component("L1", "input_driver").bits == 8
    )
    assert c[("L1", "forward", "input_driver", "convert")] == 100 * g.layer("L1").col_tiles


def test_energy_per_mac_and_latency_grow_with_input_bits(toy_libs):
    ests = [estimate_design(bind_design(spec(in_bits=b))) for b in (1, 2, 4, 8)]
    e = [x.energy_per_mac_j for x in ests]
    assert e == sorted(e) and e[-1] > e[0]
    lat = [x.latency_per_sample_s for x in ests]
    assert lat == sorted(lat) and lat[-1] > lat[0]


def test_energy_per_mac_grows_with_readout_bits(toy_libs):
    e = [estimate_design(bind_design(spec(out_bits=b))).energy_per_mac_j for b in (3, 6, 8)]
    assert e == sorted(e) and e[-1] > e[0]
    d = bind_design(spec(out_bits=3))
    assert d.graph.component("L1", "readout").bits == 3
    assert d.graph.component("L2", "readout").bits == 3  # output layer: output_readout bits


def test_estimate_cli_on_an_inference_workload(toy_libs, tmp_path, capsys):
    f = tmp_path / "inf.yaml"
    f.write_text(ARCH.replace("IN_BITS", "4").replace("OUT_BITS", "6").replace("SERIAL", "true"))
    assert main(["estimate", str(f), "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "(inference, analytic counts)" in out
    import json

    data = json.loads((tmp_path / "e.json").read_text())
    assert data["mode"] == "inference" and data["macs_per_sample"]["backward"] == 0


@pytest.mark.parametrize("argv", [["estimate", "--measured"], ["train"]])
def test_training_commands_refuse_an_inference_workload(toy_libs, tmp_path, capsys, argv):
    f = tmp_path / "inf.yaml"
    f.write_text(ARCH.replace("IN_BITS", "4").replace("OUT_BITS", "6").replace("SERIAL", "true"))
    assert main([argv[0], str(f), *argv[1:], "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{f}:" in err and "workload.mode" in err and "needs a training workload" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


# --- integrating read-out (NeuRRAM's voltage-mode neuron) --------------------------------------


def test_integration_phases_split_in_two_halves_above_the_limit():
    from cimest.graph.compile import conversion_steps, integration_phases

    assert integration_phases(1, 3) == (1,)
    assert integration_phases(3, 3) == (3,)
    assert integration_phases(4, 3) == (2, 2)
    assert integration_phases(7, 3) == (4, 3)  # upper ceil(n/2), then lower floor(n/2)
    assert integration_phases(12, None) == (12,)
    # the second phase resolves only the output bits below the first phase's input bits
    assert conversion_steps(10, (4, 3)) == (10, 6)
    assert conversion_steps(3, (4, 3)) == (3, 0)


def integrating(in_bits=5, out_bits=6, two_phase="3", mode="inference", serial=True):
    text = (
        ARCH.replace("IN_BITS", str(in_bits))
        .replace("OUT_BITS", str(out_bits))
        .replace("SERIAL", str(serial).lower())
        .replace("mode: inference", f"mode: {mode}")
    )
    integ = f"integrator: {{two_phase_above_bits: {two_phase}}}" if two_phase else "integrator: {}"
    text = text.replace("columns_per_adc: 4}", f"columns_per_adc: 4, {integ}}}")
    text = text.replace("columns_per_adc: 1}", f"columns_per_adc: 1, {integ}}}")
    return parse_architecture(text)


def test_integrating_readout_counts_by_hand(toy_libs):
    """[100, 60, 10] on 64x64 tiles: L1 has 2 row tiles, so 60 x 2 = 120 lanes; 5 input bits in
    phases (3, 2); L2 is driven by the 4-bit DAC: phases (2, 2), 10 lanes."""
    g = compile_graph(integrating().spec)
    c = count_analytic(g).counts
    f = lambda layer, role, action: c[(layer, "forward", role, action)]  # noqa: E731
    assert f("L1", "integrator", "step") == 120 * (7 + 3)
    assert f("L1", "sample_hold", "sample") == 120 * 5
    assert f("L1", "readout", "convert") == pytest.approx(120 * (6 + 3) / 6)  # 6 bits, then 3
    assert f("L1", "readout_mux", "switch") == 120 * 2  # one per phase
    assert f("L1", "shift_add", "op") == 120 * (6 + 3)  # one per resolved bit
    assert f("L1", "partial_sum_adder", "op") == 60
    assert f("L1", "input_driver", "drive") == 100 * 5  # one column tile, every row, 5 cycles
    assert f("L2", "integrator", "step") == 10 * (3 + 3)
    assert f("L2", "sample_hold", "sample") == 10 * 4
    assert f("L2", "readout", "convert") == pytest.approx(10 * (6 + 4) / 6)
    assert g.component("L1", "integrator").count == 2 * 64  # one per column of every tile


def test_one_phase_integration_takes_2_to_the_n_steps(toy_libs):
    c = count_analytic(compile_graph(integrating(in_bits=5, two_phase="").spec)).counts
    assert c[("L1", "forward", "integrator", "step")] == 120 * (2**5 - 1)
    assert c[("L1", "forward", "readout", "convert")] == 120  # one full conversion


def test_integrator_needs_a_library_entry(toy_libs):
    from cimest.errors import SpecError

    with pytest.raises(SpecError) as err:
        bind_design(integrating())
    text = str(err.value)
    assert (
        "libraries: no integrator in libraries [toy_cmos, toy_cells]; add an entry of kind integrator"
        in text
    )
    assert "no sample_hold in libraries" in text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"mode": "train"}, "integrating neurons are modelled for inference workloads only"),
        ({"serial": False}, "an integrator sums bit-serial input cycles"),
    ],
)
def test_integrator_is_refused_where_it_is_not_modelled(toy_libs, edit, message):
    from cimest.errors import SpecError

    with pytest.raises(SpecError, match=message):
        integrating(**edit)


def test_report_of_an_inference_workload_uses_analytic_counts(toy_libs, tmp_path, capsys):
    f = tmp_path / "inf.yaml"
    f.write_text(ARCH.replace("IN_BITS", "4").replace("OUT_BITS", "6").replace("SERIAL", "true"))
    out = tmp_path / "r.html"
    assert main(["report", str(f), "-o", str(out), "--run-dir", str(tmp_path / "runs")]) == 0
    assert "inference workload, analytic counts" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    html = out.read_text()
    assert "Per inference: the forward pass of every layer." in html
    assert "inference: forward MACs" in html and "one inference, incl. leakage" in html
    assert "Energy per training epoch" not in html and "Per training sample" not in html


def test_sweep_of_an_inference_workload_counts_instead_of_training(toy_libs, tmp_path, capsys):
    import json

    f = tmp_path / "inf.yaml"
    f.write_text(ARCH.replace("IN_BITS", "4").replace("OUT_BITS", "6").replace("SERIAL", "true"))
    out = tmp_path / "sweep"
    assert main(["sweep", str(f), "--vary", "peripherals.readout.bits=3,6", "-o", str(out)]) == 0
    assert "inference workload: analytic counts" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert len(records) == 2 and {r["counts_source"] for r in records} == {"analytic"}


def test_integrator_on_the_error_readout_is_refused(toy_libs):
    from cimest.errors import SpecError

    text = (
        ARCH.replace("IN_BITS", "4")
        .replace("OUT_BITS", "6")
        .replace("SERIAL", "true")
        .replace(
            "error_readout: {kind: adc, bits: 8}",
            "error_readout: {kind: adc, bits: 8, integrator: {}}",
        )
    )
    with pytest.raises(
        SpecError,
        match="peripherals.error_readout: integrating neurons are modelled on the forward",
    ):
        parse_architecture(text)


def test_a_binary_inference_chip_may_carry_any_placeholder_accumulator(toy_libs):
    """The accumulator-vs-threshold check is a training check: an inference chip never updates."""
    text = (
        ARCH.replace("IN_BITS", "4")
        .replace("OUT_BITS", "6")
        .replace("SERIAL", "true")
        .replace("algorithm: {rule: backprop}", "algorithm: {rule: binary_stochastic}")
        .replace("readout: {kind: adc, bits: 6, columns_per_adc: 4}", "readout: {kind: comparator}")
        .replace(
            "gradient_accumulator: {kind: sram_buffer, bits: 8}",
            "gradient_accumulator: {kind: sram_buffer, bits: 4}",
        )
    )
    assert parse_architecture(text).spec.peripherals.gradient_accumulator.bits == 4
