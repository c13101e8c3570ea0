"""`cimest report DIR` on a sweep folder writes the sweep's Pareto view."""

from __future__ import annotations

from cimest.cli import main


def test_report_on_a_sweep_folder(bsl_toy, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                str(bsl_toy),
                "--vary",
                "technology.node_nm=22,45",
                "-o",
                str(out),
                "--analytic",
            ]
        )
        == 0
    )
    html = tmp_path / "pareto.html"
    assert main(["report", str(out), "-o", str(html)]) == 0
    text = html.read_text(encoding="utf-8")
    assert "technology.node_nm" in text
    assert "<script src=" not in text


def test_report_on_a_folder_that_is_no_sweep(tmp_path, capsys):
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "Traceback" not in capsys.readouterr().err
