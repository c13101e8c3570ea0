"""The report in a real browser: headless Chromium draws every plot, logs nothing, is not blank.

Needs Debian's ``chromium`` (/usr/bin/chromium; .ci/run installs it). Missing chromium fails the
test when CI=true and skips it otherwise. Set CIMEST_SCREENSHOT_DIR to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cimest.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found: apt-get install chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(CHROMIUM)


def run_chromium(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


class PlotSvgs(HTMLParser):
    """For each ``<div id="plot-N">``: whether an ``<svg>`` element was drawn inside it."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "path",
        "rect",
        "circle",
        "line",
        "stop",
        "use",
        "image",
        "polygon",
    }

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, str | None]] = []  # (tag, plot id)
        self.svg: dict[str, bool] = {}

    def handle_starttag(self, tag, attrs):
        pid = dict(attrs).get("id") or ""
        if tag == "div" and pid.startswith("plot-"):
            self.svg[pid] = False
        else:
            pid = None
        if tag == "svg":
            for _, p in self.open:
                if p:
                    self.svg[p] = True
        if tag not in self.VOID:
            self.open.append((tag, pid))

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break


def png_summary(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decompressed image stream).

    Why not decode pixels: pillow is not a dependency, and a blank page's filtered scanlines hold
    only a handful of byte values, while a drawn report holds nearly all 256.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, [], 0, 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif ctype == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    return width, height, len(set(raw))


@pytest.fixture(scope="module")
def report_file(measured_pair, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "compare.html"
    write_report(out, measured_pair)
    return out


def test_every_plot_draws_without_console_output(chromium, report_file, tmp_path):
    r = run_chromium(
        chromium, tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", report_file.as_uri()
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # Chromium writes every console message (log, warn, error, uncaught exception) as CONSOLE;
    # the report must print none, and plotly reports bad figures there.
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, "\n".join(console)
    p = PlotSvgs()
    p.feed(r.stdout)
    assert len(p.svg) == 12, sorted(p.svg)
    assert all(p.svg.values()), f"plots without SVG: {[k for k, v in p.svg.items() if not v]}"


def test_screenshot_is_not_blank(chromium, report_file, tmp_path):
    shot = tmp_path / "compare.png"
    r = run_chromium(
        chromium, tmp_path, "--window-size=1366,5200", f"--screenshot={shot}", report_file.as_uri()
    )
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    data = shot.read_bytes()
    width, height, distinct = png_summary(data)
    assert (width, height) == (1366, 5200)
    assert distinct > 64, f"screenshot looks blank ({distinct} distinct byte values)"
    keep = os.environ.get("CIMEST_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "compare.png")


def test_blank_page_is_detected(chromium, tmp_path):
    """The blank check itself must fail on a blank page (a test that cannot fail is no test)."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    shot = tmp_path / "blank.png"
    run_chromium(chromium, tmp_path, "--window-size=400,300", f"--screenshot={shot}", page.as_uri())
    assert png_summary(shot.read_bytes())[2] <= 64


def test_console_errors_are_caught(chromium, tmp_path):
    page = tmp_path / "err.html"
    page.write_text(
        "<html><body><script>undefinedFunction();</script></body></html>", encoding="utf-8"
    )
    r = run_chromium(
        chromium, tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()
    )
    assert any("Uncaught" in line for line in r.stderr.splitlines())
