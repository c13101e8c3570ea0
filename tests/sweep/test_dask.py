"""The Dask executor: a LocalCluster of two worker processes on loopback gives the very same
store as the local executor, and resuming works the same."""

from __future__ import annotations

import sys

import pytest

from cimest.cli import main
from cimest.errors import CimestError
from cimest.sweep import build_grid, run_sweep

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as c:
        yield c


def test_dask_cluster_matches_local_executor(bsl, tmp_path, cluster, sorted_records):
    args = ["--vary", "crossbar.rows=16,32,64", "--vary", "technology.node_nm=22,32"]
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert main(["sweep", str(bsl), *args, "-o", str(local)]) == 0
    assert (
        main(
            ["sweep", str(bsl), *args, "-o", str(remote), "--scheduler", cluster.scheduler_address]
        )
        == 0
    )
    assert len(sorted_records(remote)) == 6
    assert sorted_records(remote) == sorted_records(local)
    # resume on the cluster: nothing left to do
    s = run_sweep(build_grid(str(bsl), args[1::2]), remote, scheduler=cluster.scheduler_address)
    assert (s.n_skipped, s.n_costed, s.n_counted) == (6, 0, 0)


def test_unreachable_scheduler_is_a_user_error(bsl, tmp_path, capsys, monkeypatch):
    from cimest.sweep import run

    monkeypatch.setattr(run, "CONNECT_TIMEOUT_S", 1)
    status = main(
        [
            "sweep",
            str(bsl),
            "--vary",
            "crossbar.rows=16,32",
            "-o",
            str(tmp_path / "o"),
            "--scheduler",
            "tcp://127.0.0.1:1",
        ]
    )
    assert status == 2
    assert "--scheduler tcp://127.0.0.1:1: cannot connect" in capsys.readouterr().err


def test_missing_distributed_names_the_extra(bsl, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(CimestError, match=r"pip install cimest\[dask\]"):
        run_sweep(
            build_grid(str(bsl), ["crossbar.rows=16,32"]),
            tmp_path / "o",
            scheduler="tcp://127.0.0.1:1",
        )
