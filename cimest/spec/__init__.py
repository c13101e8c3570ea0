"""Spec room: pydantic models of architecture and device-library YAML, and their loading.

May import: pydantic, yaml, cimest leaf modules (errors, units). Nothing else of cimest.
Loading reports every problem at once as ``FILE:LINE: field.path: message``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cimest.errors import Problem, SpecError
from cimest.spec.architecture import ArchitectureSpec
from cimest.spec.kinds import KIND_ACTIONS, KINDS
from cimest.spec.library import DeviceSpec, EntrySpec, LibrarySpec
from cimest.spec.validate import validate_model
from cimest.spec.yamlio import LineMap, parse_yaml, read_text

__all__ = [
    "KINDS",
    "KIND_ACTIONS",
    "ArchitectureSpec",
    "DeviceSpec",
    "EntrySpec",
    "LibrarySpec",
    "Loaded",
    "load_architecture",
    "load_library",
    "parse_architecture",
]


class Loaded:
    """A validated spec with the file it came from and the line of every field."""

    def __init__(self, spec, path: str, lines: LineMap):
        self.spec = spec
        self.path = path
        self.lines = lines

    def line(self, *path) -> int:
        from cimest.spec.yamlio import line_of

        return line_of(self.lines, tuple(path))

    def problem(self, path: tuple, message: str) -> Problem:
        from cimest.spec.yamlio import dotted

        return Problem(self.path, self.line(*path), dotted(path), message)


def _load(model, path: str | os.PathLike, data=None, name: str | None = None) -> Loaded:
    if data is None:
        name, text = read_text(path)
        data, lines = parse_yaml(text, name)
    else:
        name = name or str(path)
        lines = {}
    if not isinstance(data, dict):
        raise SpecError(
            [Problem(name, 1, "", f"expected a mapping of fields, got {type(data).__name__}")]
        )
    spec = validate_model(model, data, lines, name)
    return Loaded(spec, name, lines)


def load_architecture(path: str | os.PathLike) -> Loaded:
    """Read and validate an architecture YAML file.

    Raises:
        SpecError: every problem found, each with file, line and field path.
    """
    return _load(ArchitectureSpec, path)


def parse_architecture(text: str, name: str = "<string>") -> Loaded:
    """Validate an architecture given as YAML text (for sweeps and tests)."""
    data, lines = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise SpecError([Problem(name, 1, "", "expected a mapping of fields")])
    return Loaded(validate_model(ArchitectureSpec, data, lines, name), name, lines)


def validate_architecture_data(data: dict, lines: LineMap, name: str) -> Loaded:
    """Validate already-parsed architecture data (sweeps edit the data, keeping the lines)."""
    return Loaded(validate_model(ArchitectureSpec, data, lines, name), name, lines)


def load_library(path: str | os.PathLike) -> Loaded:
    """Read and validate a device-library YAML file."""
    return _load(LibrarySpec, Path(path))
