"""Rooms import only downstream of themselves (DESIGN.md): parsed with ast, no imports run."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parents[1] / "cimest"
LEAVES = {"errors", "units", "counts", "output", "folders", "inputs"}
ALLOWED = {
    "spec": set(),
    "graph": {"spec"},
    "devices": set(),
    "engine": {"spec", "graph", "devices"},
    "costs": {"spec", "graph"},
    "report": {"costs", "spec", "graph"},
    "sweep": {"spec", "graph", "devices", "engine", "costs", "report", "api"},
}


def room_imports(room: str, pkg: Path = PKG) -> set[tuple[str, str]]:
    found = set()
    for f in (pkg / room).rglob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                parts = n.split(".")
                if parts[0] == "cimest" and len(parts) > 1:
                    found.add((f.name, parts[1]))
    return found


def check(room: str, allowed: set[str], pkg: Path = PKG) -> list[str]:
    return [
        f"cimest/{room}/{f} imports cimest.{target}"
        for f, target in room_imports(room, pkg)
        if target != room and target not in allowed | LEAVES
    ]


def test_rooms_import_only_downstream():
    bad = [
        msg
        for room, allowed in ALLOWED.items()
        if (PKG / room).exists()
        for msg in check(room, allowed)
    ]
    assert not bad, "\n".join(bad)


def test_leaf_modules_import_nothing_from_cimest():
    for leaf in LEAVES:
        tree = ast.parse((PKG / f"{leaf}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("cimest")
            ):
                assert node.module in {f"cimest.{x}" for x in LEAVES}, (
                    f"{leaf} imports {node.module}"
                )


def test_the_check_catches_an_upstream_import(tmp_path):
    """The checker itself must fail on a violation (a test that cannot fail is no test)."""
    fake = tmp_path / "cimest" / "spec"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("from cimest.engine import train\n")
    assert check("spec", set(), tmp_path / "cimest") == ["cimest/spec/x.py imports cimest.engine"]
