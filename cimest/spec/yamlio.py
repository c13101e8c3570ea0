"""Reading YAML safely, keeping the line of every node so errors can name it.

Room: spec. Only safe loading: no tags that construct objects, no aliases (they would let a small
file expand into gigabytes), duplicate keys rejected.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from cimest.errors import InputFileError, Problem, SpecError
from cimest.inputs import open_regular, read_bytes

MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000

LineMap = dict[tuple, int]


def _fail(file: str, line: int, message: str) -> SpecError:
    return SpecError([Problem(file, line, "", message)])


def read_text(path: str | os.PathLike) -> tuple[str, str]:
    """Return (display name, text) of a YAML file, or raise SpecError saying why not.

    Only a regular file of at most ``MAX_FILE_BYTES`` is read (a device, FIFO or directory is
    refused before reading).
    """
    name = str(path)
    try:
        raw = read_bytes(path, MAX_FILE_BYTES, "a YAML file")
    except InputFileError as err:
        raise _fail(name, 0, err.reason) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise _fail(name, line, f"not UTF-8 text (byte 0x{raw[err.start]:02x})") from None
    return name, text


def looks_like_library(path: str | os.PathLike) -> bool:
    """A top-level ``entries:`` and no ``workload:`` in the file's first megabyte: a device
    library, not an architecture. False for anything unreadable (loading it says why).

    Why here: ``cimest validate`` sniffs each file before loading it, and a sniff that reads a
    device such as /dev/zero never ends; this one reads a regular file's first 1 MB only.
    """
    import re

    try:
        with open_regular(path, MAX_FILE_BYTES, "a YAML file") as f:
            head = f.read(1_000_000).decode("utf-8", errors="replace")
    except (InputFileError, OSError):
        return False
    return bool(re.search(r"^entries\s*:", head, re.M)) and not re.search(
        r"^workload\s*:", head, re.M
    )


def parse_yaml(text: str, name: str) -> tuple[Any, LineMap]:
    """Parse YAML text into plain data and a map from key path to 1-based line.

    Raises:
        SpecError: syntax errors, aliases, tags, duplicate keys, empty documents.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise _fail(name, 0, "YAML nested too deeply") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        msg = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise _fail(name, line, f"YAML syntax error: {msg}") from None
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        raise _fail(
            name, line, f"character U+{char:04X} is not allowed in YAML ({err.reason})"
        ) from None
    except yaml.YAMLError as err:
        raise _fail(name, 0, f"YAML error: {err}") from None
    if node is None:
        raise _fail(name, 0, "file is empty")
    lines: LineMap = {}
    problems: list[Problem] = []
    budget = [MAX_NODES]
    try:
        data = _construct(node, (), lines, problems, name, budget)
    except RecursionError:
        raise _fail(name, 0, "YAML nested too deeply") from None
    if problems:
        raise SpecError(problems)
    return data, lines


_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def _construct(node, path, lines, problems, name, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise _fail(
            name,
            node.start_mark.line + 1,
            f"more than {MAX_NODES:,} YAML nodes (are aliases expanding?)",
        )
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _COLLECTION_TAGS:
        problems.append(Problem(name, line, _dotted(path), f"YAML tag {node.tag} is not allowed"))
        return None
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(
                        name,
                        key_node.start_mark.line + 1,
                        _dotted(path),
                        "merge keys (<<) are not supported",
                    )
                )
                continue
            key = _scalar(key_node, problems, name, path)
            if key is None and not isinstance(key_node, yaml.ScalarNode):
                continue
            if key in out:
                problems.append(
                    Problem(
                        name, key_node.start_mark.line + 1, _dotted((*path, key)), "duplicate key"
                    )
                )
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines, problems, name, budget)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, i), lines, problems, name, budget)
            for i, item in enumerate(node.value)
        ]
    return _scalar(node, problems, name, path)


def _scalar(node, problems, name, path):
    if not isinstance(node, yaml.ScalarNode):
        problems.append(
            Problem(name, node.start_mark.line + 1, _dotted(path), "a key must be a plain value")
        )
        return None
    if node.tag not in _SCALAR_TAGS:
        problems.append(
            Problem(
                name, node.start_mark.line + 1, _dotted(path), f"YAML tag {node.tag} is not allowed"
            )
        )
        return None
    return _plain(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor


def _plain(node: yaml.ScalarNode):
    """The Python value of a plain scalar (int, float, bool, None or str) by YAML 1.1 rules."""
    return _CONSTRUCTOR.yaml_constructors[node.tag](_SCALARS, node)


_SCALARS = _CONSTRUCTOR()


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def dotted(path: tuple) -> str:
    """Render a key path as ``peripherals.readout.bits`` or ``network[2]``."""
    return _dotted(path)


def line_of(lines: LineMap, path: tuple) -> int:
    """Line of the deepest known prefix of ``path`` (0 if none)."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), 0)
