"""What every command shares: printing (escaped, tables), progress, Ctrl-C, argument types.

Every line the CLI writes goes through ``say`` or ``err`` (or a ``Table``), and each of them passes
its text through ``shown``: names that come from user files (design names, layer names, paths,
sources) can hold terminal escape codes, and a terminal must never receive them raw.

On a terminal, tables and progress bars are drawn by rich; when the stream is a file or a pipe the
same tables are plain aligned columns (no colour, no box) and progress is one line per epoch or per
finished point, so logs and piped output stay greppable.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterator

# C0 and C1 control characters, and the invisible Unicode controls that reorder or hide text
# (bidirectional overrides and isolates, line and paragraph separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def shown(text: object) -> str:
    """``text`` safe to print on a terminal: each control character written as an escape
    (ESC as ``\\x1b``, U+202E as ``\\u202e``); everything else unchanged."""

    def escape(m: re.Match) -> str:
        o = ord(m.group())
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"

    return _CONTROL.sub(escape, str(text))


def say(text: object = "") -> None:
    """One line on stdout."""
    print(shown(text))


def err(text: object) -> None:
    """One line on stderr (messages, notes, plain progress)."""
    print(shown(text), file=sys.stderr)


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _console(file, terminal: bool, width: int | None = None):
    from rich.console import Console

    return Console(
        file=file,
        width=width,
        force_terminal=terminal,
        color_system="auto" if terminal else None,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


class Table:
    """A console table. Columns are ``(header, align)`` with align ``"<"`` (left) or ``">"``
    (right). Every cell goes through ``shown``.

    On a terminal: rich, a rule under the header, the terminal's width (long cells wrap). Piped:
    plain columns two spaces apart, nothing wrapped, no trailing spaces.
    """

    def __init__(self, *columns: tuple[str, str], header: bool = True, indent: int = 2):
        self.columns = columns
        self.header = header
        self.indent = indent
        self.rows: list[tuple[str, ...]] = []

    def row(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(tuple(shown(c) for c in cells))

    def print(self) -> None:
        from rich import box
        from rich.table import Table as RichTable

        terminal = is_terminal(sys.stdout)
        width = shutil.get_terminal_size().columns if terminal else 100_000
        t = RichTable(
            box=box.SIMPLE_HEAD if terminal and self.header else None,
            show_header=self.header,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            header_style="bold" if terminal else "",
        )
        for name, align in self.columns:
            t.add_column(shown(name), justify="right" if align == ">" else "left", overflow="fold")
        for cells in self.rows:
            t.add_row(*cells)
        buf = io.StringIO()
        _console(buf, terminal, max(width - self.indent, 20)).print(t)
        pad = " " * self.indent
        lines = [line if terminal else line.rstrip() for line in buf.getvalue().splitlines()]
        sys.stdout.write("".join(f"{pad}{line}\n" for line in lines if line.strip()))
        sys.stdout.flush()


# --- progress -----------------------------------------------------------------------------------


def _epoch_line(p) -> str:
    from cimest.report.model import fmt_accuracy, fmt_count

    loss = f"{p.loss:.4f}" if p.loss is not None else "n/a"
    return (
        f"epoch {p.epoch}/{p.epochs}: accuracy {fmt_accuracy(p.accuracy)}, loss {loss}, "
        f"{fmt_count(p.samples_per_s, 'samples/s')}, {fmt_count(p.events_per_s, 'events/s')}"
    )


@contextlib.contextmanager
def train_progress() -> Iterator[Callable]:
    """A progress callback for training (``cimest.engine.train.Progress``).

    On a terminal: a rich bar over all epochs' batches, and one kept line per finished epoch.
    Otherwise: only that line per finished epoch. The bar starts at the first batch (a reused
    finished run shows nothing) and is removed on leaving, also on an error or Ctrl-C.
    """
    if not is_terminal(sys.stderr):

        def plain(p) -> None:
            if p.epoch_done:
                err(_epoch_line(p))

        yield plain
        return

    from cimest.report.model import fmt_accuracy, fmt_count

    bar = _bar("{task.description}", "{task.fields[status]}", transient=True)
    task = None

    def on(p) -> None:
        nonlocal task
        done = (p.epoch - 1) * p.batches + p.batch
        loss = f"{p.loss:.4f}" if p.loss is not None else "n/a"
        status = (
            f"accuracy {fmt_accuracy(p.accuracy)}  loss {loss}  "
            f"{fmt_count(p.samples_per_s, 'samples/s')}"
        )
        desc = f"epoch {p.epoch}/{p.epochs}"
        if task is None:
            bar.start()
            task = bar.add_task(desc, total=p.epochs * p.batches, completed=done, status=status)
        bar.update(task, description=desc, completed=done, status=status)
        if p.epoch_done:
            bar.console.print(shown(_epoch_line(p)))

    try:
        yield on
    finally:
        if task is not None:
            bar.stop()


def _bar(title: str, status: str, transient: bool = False):
    """A rich progress bar on stderr: title, bar, done/total, status text, time remaining."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(title, markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(status, markup=False),
        TimeRemainingColumn(),
        console=_console(sys.stderr, True),
        transient=transient,
    )


@contextlib.contextmanager
def sweep_progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback for ``run_sweep`` (points done, total, note).

    On a terminal: a rich bar with the last point's parameters. Otherwise: one line per call
    (the start, then each finished point), ``sweep: 3/8 points  crossbar.rows=64``.
    """
    if not is_terminal(sys.stderr):
        yield lambda done, total, note: err(f"sweep: {done}/{total} points  {note}")
        return

    bar = _bar("sweep", "{task.fields[note]}")
    task = None

    def on(done: int, total: int, note: str) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("sweep", total=total, completed=done, note=shown(note))
        bar.update(task, total=total, completed=done, note=shown(note))

    try:
        yield on
    finally:
        if task is not None:
            bar.stop()


# --- Ctrl-C -------------------------------------------------------------------------------------


class stop_on_ctrl_c:
    """Turn the first Ctrl-C into a polite stop request (the engine checkpoints and raises
    Interrupted); a second Ctrl-C interrupts at once."""

    def __enter__(self) -> Callable[[], bool]:
        self.requested = False
        self._old = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            self._old = None
        return lambda: self.requested

    def __exit__(self, *exc) -> bool:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


# --- argument types -----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if not 1 <= v <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, got {v}")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < 0 or v > 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {v}")
    return v


def path(text: str) -> str:
    """An output or run path given on the command line: refused when empty, instead of silently
    writing nothing (``--json ''``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return text


def name(text: str) -> str:
    """A name given on the command line: letters, digits, '_', '-' and '.', not empty."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a name; use letters, digits, _, - or .")
    return text
