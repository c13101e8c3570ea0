"""--vary parsing, the grid and its sample, and bad keys/values rejected before anything runs."""

from __future__ import annotations

import pytest

from cimest.cli import main
from cimest.errors import CimestError
from cimest.sweep.grid import build_grid, parse_vary, point_id


def test_values_are_yaml_scalars():
    v = parse_vary("peripherals.readout.bits=4, 8,0.5,true,toy")
    assert v.key == "peripherals.readout.bits"
    assert v.values == (4, 8, 0.5, True, "toy")


@pytest.mark.parametrize(
    "arg, message",
    [
        ("crossbar.rows", "expected KEY=V1,V2"),
        ("=1,2", "expected KEY=V1,V2"),
        ("crossbar..rows=1", "not a dotted key path"),
        ("crossbar.rows=4,,5", "empty value"),
        ("crossbar.rows=4,4", "listed twice"),
        ("crossbar.rows=[1]", "single number"),
    ],
)
def test_bad_vary_syntax(arg, message):
    with pytest.raises(CimestError, match=message):
        parse_vary(arg)


def test_full_grid_in_order(bsl):
    g = build_grid(str(bsl), ["crossbar.rows=32,64", "technology.node_nm=22,32,45"])
    assert [tuple(p.params.values()) for p in g.points] == [
        (32, 22),
        (32, 32),
        (32, 45),
        (64, 22),
        (64, 32),
        (64, 45),
    ]
    assert len({p.id for p in g.points}) == 6
    assert g.points[0].id == point_id({"technology.node_nm": 22, "crossbar.rows": 32})
    assert g.points[0].loaded.spec.crossbar.rows == 32
    # node only changes costs: one training group per row count
    assert len(g.groups()) == 2


def test_sample_is_distinct_and_seeded(bsl):
    args = ["crossbar.rows=16,32,64", "technology.node_nm=22,32,45,65"]
    a = build_grid(str(bsl), args, sample="random:5", seed=3)
    b = build_grid(str(bsl), args, sample="random:5", seed=3)
    c = build_grid(str(bsl), args, sample="random:5", seed=4)
    ids = [p.id for p in a.points]
    assert len(set(ids)) == 5 and ids == [p.id for p in b.points]
    assert ids != [p.id for p in c.points]
    with pytest.raises(CimestError, match="only 12 points"):
        build_grid(str(bsl), args, sample="random:13")
    with pytest.raises(CimestError, match="random:N"):
        build_grid(str(bsl), args, sample="latin:5")


@pytest.mark.parametrize(
    "vary, expected",
    [
        (
            "crossbar.rowz=32,64",
            "--vary crossbar.rowz=32,64: {f}:21: crossbar.rowz: unknown field; did you mean 'rows'? "
            "Allowed: rows, cols, cell, weight_encoding, c2c_sigma, d2d_sigma",
        ),
        (
            "algorithm.rule=binary_stochastic,bogus",
            "--vary algorithm.rule=binary_stochastic,bogus: {f}:16: algorithm.rule: 'bogus' is not "
            "allowed. Allowed: binary_stochastic, backprop, dfa, pulse_coincidence, software",
        ),
        (
            "crossbar.cell=toy_rram,toy_ram",
            "--vary crossbar.cell=toy_rram,toy_ram: {f}:24: crossbar.cell: no cell 'toy_ram' in "
            "libraries [toy_cmos, toy_cells]; did you mean 'toy_rram'? Available: toy_rram, toy_pcm",
        ),
        (
            "peripherals.readout.variant=toy,fast",
            "--vary peripherals.readout.variant=toy,fast: {f}:28: peripherals.readout.variant: no "
            "comparator 'fast' in libraries [toy_cmos, toy_cells]. Available: toy",
        ),
        ("technology.node_nm.x=3", "technology.node_nm is a value, not a section"),
        (
            "algorithm.rule=backprop",
            "point crossbar.rows=32, algorithm.rule=backprop: {f}:28: peripherals.readout: rule "
            "backprop needs multi-bit read-out; use {{kind: adc, bits: N}} (and 1 more points)",
        ),
    ],
)
def test_bad_keys_and_values_exit_2_before_running(bsl, tmp_path, capsys, vary, expected):
    out = tmp_path / "out"
    status = main(
        ["sweep", str(bsl), "--vary", "crossbar.rows=32,64", "--vary", vary, "-o", str(out)]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert expected.format(f=bsl) in err
    assert not out.exists()  # nothing ran, nothing written
    assert "Traceback" not in err


def test_a_sweep_that_would_not_fit_in_memory_is_refused_before_building_it():
    from cimest.errors import ResourceError
    from cimest.sweep.grid import BYTES_PER_POINT, check_memory

    check_memory(1000, available=1000 * BYTES_PER_POINT)  # fits exactly
    with pytest.raises(ResourceError, match="use --sample random:N with N at most 1,000") as err:
        check_memory(1001, available=1000 * BYTES_PER_POINT)
    assert str(err.value).startswith("the sweep has 1,001 points; holding them takes about 0.06 GB")


def _address_space_1gb() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_sweep_beyond_the_memory_limit_exits_2_at_once(bsl, tmp_path):
    """A real process under a 1 GB address-space limit asks for 19,000 points (1.1 GB to hold)."""
    import os
    import subprocess
    import sys
    import time

    values = ",".join(str(1 + i / 100) for i in range(27))
    args = [
        "sweep",
        str(bsl),
        "--vary",
        f"calibration.adc={values}",
        "--vary",
        f"calibration.dac={values}",
        "--vary",
        f"calibration.mux={values}",
        "--sample",
        "random:19000",
        "-o",
        str(tmp_path / "s"),
        "--analytic",
    ]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_address_space_1gb,
    )
    assert p.returncode == 2, p.stderr
    assert "the sweep has 19,000 points; holding them takes about 1.1 GB" in p.stderr
    assert time.monotonic() - started < 30  # refused up front, not after validating the points
