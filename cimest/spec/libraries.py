"""Finding device libraries by name and looking up their entries.

Room: spec. A ``LibrarySet`` is the ordered list of libraries an architecture names; the first
library holding a (kind, variant) wins. Lookups fail with the names that do exist.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from cimest.errors import LibraryError, Problem, SpecError
from cimest.spec.library import EntrySpec, LibrarySpec

ENV_PATH = "CIMEST_LIBRARY_PATH"


def default_search_path(near: str | os.PathLike | None = None) -> list[Path]:
    """Where libraries are looked for, in order.

    1. each folder of the ``CIMEST_LIBRARY_PATH`` environment variable (``:``-separated);
    2. ``device_libraries/`` beside the architecture file and in its parent folder;
    3. ``device_libraries/`` in the current folder;
    4. the ``device_libraries/`` folder of the cimest source tree (the shipped libraries).
    """
    paths: list[Path] = []
    env = os.environ.get(ENV_PATH, "")
    paths += [Path(p) for p in env.split(os.pathsep) if p]
    if near is not None:
        here = Path(near).resolve().parent
        paths += [here / "device_libraries", here.parent / "device_libraries"]
    paths.append(Path.cwd() / "device_libraries")
    paths.append(Path(__file__).resolve().parents[2] / "device_libraries")
    out: list[Path] = []
    for p in paths:
        if p not in out:
            out.append(p)
    return out


def available_libraries(search_path: list[Path]) -> dict[str, Path]:
    """Library name -> file, first folder wins."""
    found: dict[str, Path] = {}
    for folder in search_path:
        if folder.is_dir():
            for f in sorted(folder.glob("*.yaml")):
                found.setdefault(f.stem, f)
    return found


@dataclass(frozen=True)
class Located:
    """A library entry and where it came from."""

    entry: EntrySpec
    library: LibrarySpec
    file: str

    @property
    def node_nm(self) -> float:
        return self.entry.node_nm if self.entry.node_nm is not None else self.library.node_nm

    @property
    def vdd_v(self) -> float:
        return self.entry.vdd_v if self.entry.vdd_v is not None else self.library.vdd_v


class LibrarySet:
    """The libraries of one architecture, in priority order."""

    def __init__(self, libraries: list[tuple[LibrarySpec, str]]):
        self.libraries = libraries

    @property
    def names(self) -> list[str]:
        return [lib.name for lib, _ in self.libraries]

    def variants(self, kind: str) -> list[str]:
        out: list[str] = []
        for lib, _ in self.libraries:
            for e in lib.entries:
                if e.kind == kind and e.variant not in out:
                    out.append(e.variant)
        return out

    def find(self, kind: str, variant: str | None = None, bits: int | None = None) -> Located:
        """The entry for (kind, variant) closest in bits; the default variant when none is named.

        Raises:
            LibraryError: no such kind or variant in any library (the message lists what exists).
        """
        if variant is None:
            variant = self.default_variant(kind)
        candidates: list[Located] = []
        for lib, file in self.libraries:
            hits = [e for e in lib.entries if e.kind == kind and e.variant == variant]
            if hits:
                candidates = [Located(e, lib, file) for e in hits]
                break
        if not candidates:
            have = self.variants(kind)
            if not have:
                raise LibraryError(
                    f"no {kind} in libraries [{', '.join(self.names)}]; add an entry of kind {kind}"
                )
            guess = difflib.get_close_matches(variant, have, n=1, cutoff=0.6)
            hint = f"; did you mean '{guess[0]}'?" if guess else "."
            raise LibraryError(
                f"no {kind} variant '{variant}' in libraries [{', '.join(self.names)}]{hint} "
                f"Available: {', '.join(have)}"
            )
        if bits is None:
            return candidates[0]
        return min(
            candidates, key=lambda c: (abs((c.entry.bits or bits) - bits), -(c.entry.bits or 0))
        )

    def bracket(self, kind: str, variant: str | None, bits: int) -> tuple[Located, Located] | None:
        """The entries of (kind, variant) just below and just above ``bits``, when ``bits`` lies
        strictly between two of them; None when an entry holds ``bits`` or none lies on one side.

        Why: a table of resolutions (ADC, DAC) is priced between its points by interpolating the
        two neighbours (``cimest.costs.scaling.interpolate_bits``), not by scaling the nearer one
        with its bit law: halving the 6-bit survey ADC for 5 bits put 5 bits below 4 bits.
        """
        nearest = self.find(kind, variant, bits)
        if nearest.entry.bits is None or nearest.entry.bits == bits:
            return None
        same = [
            Located(e, nearest.library, nearest.file)
            for e in nearest.library.entries
            if e.kind == kind and e.variant == nearest.entry.variant and e.bits is not None
        ]
        below = [c for c in same if c.entry.bits < bits]
        above = [c for c in same if c.entry.bits > bits]
        if not below or not above:
            return None
        return (max(below, key=lambda c: c.entry.bits), min(above, key=lambda c: c.entry.bits))

    def default_variant(self, kind: str) -> str:
        for lib, _ in self.libraries:
            for e in lib.entries:
                if e.kind == kind and e.default:
                    return e.variant
        for lib, _ in self.libraries:
            for e in lib.entries:
                if e.kind == kind:
                    return e.variant
        raise LibraryError(
            f"no {kind} in libraries [{', '.join(self.names)}]; add an entry of kind {kind} "
            "(device_libraries/README.md lists the shipped libraries and their kinds)"
        )

    def cell(self, name: str) -> Located:
        return self.find("cell", name)


def load_library_set(
    names: list[str],
    search_path: list[Path],
    *,
    arch_file: str = "",
    line: int = 0,
) -> LibrarySet:
    """Load the named libraries from the search path, reporting every missing or bad one."""
    from cimest.spec import load_library

    found = available_libraries(search_path)
    problems: list[Problem] = []
    loaded: list[tuple[LibrarySpec, str]] = []
    for i, name in enumerate(names):
        path = found.get(name)
        if path is None:
            guess = difflib.get_close_matches(name, list(found), n=1, cutoff=0.6)
            hint = f"; did you mean '{guess[0]}'?" if guess else "."
            problems.append(
                Problem(
                    arch_file,
                    line,
                    f"libraries[{i}]",
                    f"no library '{name}'{hint} Available: {', '.join(found) or '(none found)'}",
                )
            )
            continue
        try:
            loaded.append((load_library(path).spec, str(path)))
        except SpecError as err:
            problems.extend(err.problems)
    if problems:
        raise SpecError(problems)
    return LibrarySet(loaded)
