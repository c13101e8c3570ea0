"""The parser table: every command, its arguments and its handler, in one place; and ``main``.

A command is added here and nowhere else (its handler lives in the module of its group). Two-word
commands (``library show``) are grouped under their first word, whose help is in ``GROUPS``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cimest import __version__
from cimest.cli import device, estimate, library, report, sweep, validate
from cimest.cli.common import err, name, nonneg_int, path, positive_int
from cimest.errors import CimestError
from cimest.output import make_console_safe


@dataclass(frozen=True)
class Arg:
    """One ``add_argument`` call: its flags (or positional name) and options."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    words: str
    """``"estimate"``, or ``"library show"`` for a command of a group."""
    help: str
    run: Callable[[argparse.Namespace], int]
    args: tuple[Arg, ...] = ()


FILE = arg("file", metavar="FILE")
ARCH_FILE = arg("file", metavar="FILE", help="the architecture YAML")
REPORT_ARGS = (
    arg(
        "-o",
        "--output",
        metavar="PATH.html",
        type=path,
        required=True,
        help="the HTML file to write",
    ),
    arg("--json", metavar="PATH", type=path, help="also write the numbers as JSON"),
    arg("--csv", metavar="PATH", type=path, help="also write the energy breakdown as CSV"),
    arg(
        "--analytic",
        action="store_true",
        help="analytic counts, no training (accuracy n/a); inference workloads always use them",
    ),
    arg(
        "--run-dir",
        metavar="DIR",
        type=path,
        default=None,
        help="folder of training runs (default: runs/); one <name>-<hash> per design",
    ),
)

GROUPS = {
    "library": "browse device libraries",
    "device": "user-defined devices: fit measured pulse-response data",
}

COMMANDS: tuple[Command, ...] = (
    Command(
        "validate",
        "check architecture files and their libraries",
        validate.validate,
        (arg("files", nargs="+", metavar="FILE"),),
    ),
    Command(
        "graph",
        "print the component graph of an architecture",
        validate.graph,
        (
            FILE,
            arg("--graphml", metavar="PATH", type=path, help="also write the graph as GraphML"),
        ),
    ),
    Command(
        "estimate",
        "energy, area, latency of an architecture",
        estimate.estimate,
        (
            FILE,
            arg("--json", metavar="PATH", type=path, help="write the results as JSON"),
            arg("--csv", metavar="PATH", type=path, help="write the energy breakdown as CSV"),
            arg(
                "--measured",
                action="store_true",
                help="train the workload and cost the engine's exact counts",
            ),
            arg(
                "--run-dir",
                metavar="DIR",
                type=path,
                default=None,
                help="where training runs are kept (default: runs/<name>-<hash>)",
            ),
        ),
    ),
    Command(
        "train",
        "train the workload on the modelled chip, counting every event",
        estimate.train,
        (
            FILE,
            arg("--epochs", type=positive_int, default=None, help="override workload.epochs"),
            arg("--seed", type=nonneg_int, default=None, help="override workload.seed"),
            arg("--resume", action="store_true", help="continue from the run folder's checkpoint"),
            arg(
                "--run-dir",
                metavar="DIR",
                type=path,
                default=None,
                help="checkpoint and result folder (default: runs/<name>-<hash>)",
            ),
            arg("--json", metavar="PATH", type=path, help="write the training result as JSON"),
        ),
    ),
    Command("library list", "list libraries", library.library_list),
    Command(
        "library show",
        "show a library's entries with sources",
        library.library_show,
        (
            arg("name"),
            arg("--kind", default=None, help="only entries of this kind"),
        ),
    ),
    Command(
        "report",
        "HTML report of one design, or several side by side (plus JSON/CSV)",
        report.report,
        (arg("files", nargs="+", metavar="FILE"), *REPORT_ARGS),
    ),
    Command(
        "compare",
        "HTML comparison of two designs, with the ratio of every figure",
        report.compare,
        (arg("files", nargs=2, metavar="FILE"), *REPORT_ARGS),
    ),
    Command(
        "sweep",
        "sweep design parameters; resumable; Pareto front of the results",
        sweep.sweep,
        (
            arg("file", metavar="FILE", help="the base architecture YAML"),
            arg(
                "--vary",
                action="append",
                default=[],
                metavar="KEY=V1,V2,...",
                help="a dotted key of the YAML and its values (repeatable), "
                "e.g. crossbar.rows=64,128 or technology.node_nm=22,32",
            ),
            arg(
                "--sample",
                metavar="random:N",
                default=None,
                help="run N distinct points of the grid chosen at random (default: all)",
            ),
            arg("--seed", type=nonneg_int, default=None, help="seed of --sample (default 0)"),
            arg(
                "-o",
                "--output",
                metavar="DIR",
                type=path,
                required=True,
                help="result folder; running the same command again resumes it",
            ),
            arg(
                "--workers",
                type=positive_int,
                default=1,
                help="local processes for training (default 1: in this process)",
            ),
            arg(
                "--scheduler",
                metavar="tcp://HOST:PORT",
                default=None,
                help="run training on this Dask scheduler (needs pip install cimest[dask])",
            ),
            arg(
                "--analytic",
                action="store_true",
                help="analytic counts instead of training (no accuracy)",
            ),
        ),
    ),
    Command(
        "device fit",
        "fit the pulse-response model to a CSV and write a library with one cell",
        device.device_fit,
        (
            arg("data", metavar="DATA.csv", help="columns pulse,conductance_s,direction (pot/dep)"),
            arg(
                "--name",
                default=None,
                type=name,
                help="the cell's variant name (default: the CSV's name)",
            ),
            arg(
                "-o",
                "--output",
                metavar="OUT.yaml",
                type=path,
                default=None,
                help="library file to write (default: NAME.yaml); its name is the library name",
            ),
        ),
    ),
    Command(
        "calibrate",
        "fit per-kind energy/area factors to a measured breakdown",
        device.calibrate,
        (
            ARCH_FILE,
            arg(
                "--measured",
                metavar="BREAKDOWN.yaml",
                required=True,
                help="per: sample|mac, energy_pj: {kind: value}, optional area_um2: {kind: value}",
            ),
            arg(
                "-o",
                "--output",
                metavar="OUT.yaml",
                type=path,
                default=None,
                help="write the calibrated architecture here (default: rewrite FILE)",
            ),
        ),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="cimest",
        description="Estimate energy, area, latency and accuracy of compute-in-memory chips that train in situ.",
    )
    ap.add_argument("--version", action="version", version=f"cimest {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for c in COMMANDS:
        group, _, word = c.words.partition(" ")
        if word:
            if group not in groups:
                groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(
                    dest="action", metavar="ACTION"
                )
                groups[group].required = True
            p = groups[group].add_parser(word, help=c.help)
        else:
            p = sub.add_parser(c.words, help=c.help)
        for a in c.args:
            p.add_argument(*a.flags, **a.options)
        p.set_defaults(func=c.run)
    return ap


def _interrupted(error: CimestError) -> bool:
    """Training stopped by Ctrl-C (it checkpointed and says where). Only a loaded engine can
    have raised it, so nothing is imported to check."""
    train = sys.modules.get("cimest.engine.train")
    return train is not None and isinstance(error, train.Interrupted)


def main(argv: list[str] | None = None) -> int:
    """Run one command: exit status 0, 2 for a user error, 130 when interrupted, 1 for a bug."""
    make_console_safe()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CimestError as error:
        for m in error.messages():
            err(m)
        return 130 if _interrupted(error) else 2
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # noqa: BLE001 - the one place that turns bugs into exit status 1
        if args.debug:
            traceback.print_exc()
        err(f"internal error: {type(error).__name__}: {error}")
        if not args.debug:
            err("this is a bug in cimest; run again with --debug for the traceback and report it")
        return 1
