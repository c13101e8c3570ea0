"""Error types of cimest. Leaf module: imports nothing from cimest.

User errors (bad YAML, unknown names, missing files) derive from ``CimestError``; the CLI turns
them into one message per problem and exit status 2. Anything else escaping the library is a bug.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_SHOWN_PATH = 160
"""Longer paths are shortened in messages (their middle replaced by '...')."""


def shown_path(path: str | os.PathLike | bytes) -> str:
    """A path as a message shows it: decoded as the file system does, shortened when very long."""
    text = os.fsdecode(path)
    if len(text) <= MAX_SHOWN_PATH:
        return text
    half = MAX_SHOWN_PATH // 2
    return f"{text[:half]}...{text[-half:]} ({len(text):,} characters)"


class CimestError(Exception):
    """A problem with the user's input or environment, explained in ``str(err)``."""

    def messages(self) -> list[str]:
        """One line per problem, as the CLI prints them."""
        return str(self).splitlines() or [type(self).__name__]


@dataclass(frozen=True, order=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        path = f" {self.path}:" if self.path else ""
        return f"{where}{path} {self.message}"


class SpecError(CimestError):
    """One or more problems in a YAML file, each with file, line and field path."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def messages(self) -> list[str]:
        return [str(p) for p in self.problems]


class InputFileError(CimestError):
    """An input file that cannot be read: missing, not a regular file, or too large."""

    def __init__(self, path: str | os.PathLike | bytes, reason: str):
        self.path = os.fsdecode(path)
        self.reason = reason
        super().__init__(f"{shown_path(path)}: {reason}")

    def __reduce__(self):  # Why: sweeps send errors between processes
        return type(self), (self.path, self.reason)


class OutputFileError(CimestError):
    """An output file that cannot be written: not a regular file, no space left, no permission."""


class LibraryError(CimestError):
    """A device library is missing, malformed, or lacks what an architecture needs."""


class DatasetError(CimestError):
    """A dataset cannot be found or read."""


class CheckpointError(CimestError):
    """A checkpoint or result store is missing, corrupt, or belongs to another run."""


class ResourceError(CimestError):
    """A job would need more memory or time than is sensible on this machine."""


class TrainingError(CimestError):
    """Training diverged (NaN or Inf) or cannot proceed."""
