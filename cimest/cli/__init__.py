"""The `cimest` command. Turns user errors into one message per problem and exit status 2.

Internal errors (bugs) exit with status 1 and a short message; ``--debug`` shows the traceback.
Ctrl-C exits with status 130 after the command has saved what it can.

Layout: ``commands`` holds the parser table (every command, its arguments, its handler) and
``main``; one module per command group holds the handlers (``validate``: validate and graph,
``estimate``: estimate and train, ``report``: report and compare, ``sweep``, ``library``,
``device``: device fit and calibrate); ``common`` holds what they share (escaped printing,
tables, progress, Ctrl-C, argument types).
"""

from cimest.cli.commands import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
