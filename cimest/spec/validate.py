"""Turning pydantic validation errors into file:line: field.path: message problems.

Room: spec. Generic: no special cases for single fields. Unknown keys get a "did you mean" and the
allowed keys; literal and tag errors list the allowed values.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from cimest.errors import Problem, SpecError
from cimest.spec.yamlio import LineMap, dotted, line_of

M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], data: Any, lines: LineMap, name: str) -> M:
    """Validate ``data`` into ``model``, collecting every problem with its line."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        problems = [_problem(e, model, data, lines, name) for e in err.errors(include_url=False)]
        raise SpecError(_dedupe(problems)) from None


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple] = set()
    out = []
    for p in problems:
        key = (p.line, p.path, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _data_path(loc: tuple, data: Any) -> tuple:
    """Drop the loc parts pydantic adds that are not keys of the data (union tags, etc.)."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            # a tag, a validator name or a missing key: keep only missing keys of a mapping
            if isinstance(node, dict) and part == loc[-1] and isinstance(part, str):
                path.append(part)
            continue
        else:
            break
    return tuple(path)


def _problem(e: dict, model: type[BaseModel], data: Any, lines: LineMap, name: str) -> Problem:
    loc = tuple(e["loc"])
    path = _data_path(loc, data)
    kind = e["type"]
    line = line_of(lines, path)
    msg = e["msg"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, data, path[:-1])
        key = str(path[-1]) if path else ""
        guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        msg = f"unknown field{hint} Allowed: {', '.join(allowed)}"
        if hint:
            msg = f"unknown field{hint} Allowed: {', '.join(allowed)}"
        else:
            msg = f"unknown field. Allowed: {', '.join(allowed)}"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "literal_error":
        got = _value_at(data, path)
        expected = e.get("ctx", {}).get("expected", "").replace(" or ", ", ").replace("'", "")
        options = [t.strip() for t in expected.split(",")]
        guess = difflib.get_close_matches(str(got), options, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else "."
        msg = f"'{got}' is not allowed{hint} Allowed: {expected}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = e.get("ctx", {})
        tag = ctx.get("discriminator", "kind").strip("'")
        expected = ctx.get("expected_tags", "").replace("'", "") or _tags_at(model, data, path, tag)
        if kind == "union_tag_invalid":
            got = ctx.get("tag")
            options = [t.strip() for t in expected.split(",")]
            guess = difflib.get_close_matches(str(got), options, n=1, cutoff=0.6)
            hint = f"; did you mean '{guess[0]}'?" if guess else "."
            msg = f"unknown {tag} '{got}'{hint} Allowed: {expected}"
        else:
            msg = f"needs a '{tag}' field. Allowed: {expected}"
        path = tuple(p for p in path if p != tag) + ((tag,) if kind == "union_tag_invalid" else ())
        line = line_of(lines, path)
    elif kind == "value_error":
        msg = str(e.get("ctx", {}).get("error", msg))
        # A model-level check may name the field it is about: "peripherals.readout: ..."
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head:
            sub = tuple(
                int(p) if p.isdigit() else p
                for p in head.replace("[", ".").replace("]", "").split(".")
            )
            if _value_at(data, (*path, *sub)) is not None:
                path = (*path, *sub)
                msg = rest
                line = line_of(lines, path)
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg = f"{msg}, got {_value_at(data, path)!r}"
    return Problem(name, line, dotted(path), msg)


def _tags_at(model: type[BaseModel], data: Any, path: tuple, tag: str) -> str:
    """The values the ``tag`` literal of the union field at ``path`` allows (pydantic does not
    list them when the tag is missing)."""
    parent = _model_at(model, data, path[:-1]) if path else None
    field = _field_by_key(parent, path[-1]) if parent is not None else None
    if field is None:
        return ""
    tp = field.annotation
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    tags: list[str] = []
    for member in typing.get_args(tp) or (tp,):
        f = getattr(member, "model_fields", {}).get(tag)
        if f is not None:
            tags += [str(a) for a in typing.get_args(f.annotation)]
    return ", ".join(tags)


def _value_at(data: Any, path: tuple) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _allowed_fields(model: type[BaseModel], data: Any, path: tuple) -> list[str]:
    target = _model_at(model, data, path)
    if target is None:
        return []
    return [f.alias or n for n, f in target.model_fields.items()]


def _model_at(model: Any, data: Any, path: tuple) -> type[BaseModel] | None:
    node_type: Any = model
    node = data
    for part in path:
        node_type = _resolve(node_type, node)
        if node_type is None:
            return None
        if isinstance(node_type, type) and issubclass(node_type, BaseModel):
            field = _field_by_key(node_type, part)
            if field is None:
                return None
            node_type = field.annotation
        else:
            origin = typing.get_origin(node_type)
            args = typing.get_args(node_type)
            if origin in (list, tuple) and args:
                node_type = args[0]
            elif origin is dict and len(args) == 2:
                node_type = args[1]
            else:
                return None
        node = _value_at(node, (part,))
    node_type = _resolve(node_type, node)
    if isinstance(node_type, type) and issubclass(node_type, BaseModel):
        return node_type
    return None


def _field_by_key(model: type[BaseModel], key: Any):
    for n, f in model.model_fields.items():
        if key in (n, f.alias):
            return f
    return None


def _resolve(tp: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the union member whose 'kind' literal matches the data."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            kind = node.get("kind") if isinstance(node, dict) else None
            for m in models:
                f = m.model_fields.get("kind")
                if f is not None and kind in typing.get_args(f.annotation):
                    return m
            if len(members) == 1:
                tp = members[0]
                continue
            return models[0] if len(models) == 1 else None
        return tp
