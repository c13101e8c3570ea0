"""The points of a sweep: ``--vary KEY=V1,V2`` arguments, the grid (or a seeded sample of it),
and every point's architecture, built by editing the parsed base YAML and validated up front.

Room: sweep. Also defines the two keys that decide what work a point shares with others:
- the *training key*: ``cimest.engine.identity.counts_key``, the part of the run identity the
  engine reads: the architecture with what only the cost model reads removed (technology,
  libraries, library variants, calibration, name, description), plus the cell's device
  parameters (the one thing the engine takes from a library), the dataset files' digests and the
  checkpoint format. Points with equal training keys have equal EventCounts, so one training run
  serves them all.
- the *pricing key*: the architecture without ``calibration``. Calibration only multiplies the
  energy of a component kind, so points that differ only in it share one priced design.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from cimest.engine.identity import counts_key, data_record
from cimest.errors import CimestError, DatasetError, Problem, ResourceError, SpecError
from cimest.inputs import read_bytes
from cimest.spec import Loaded, validate_architecture_data
from cimest.spec.libraries import LibrarySet, default_search_path, load_library_set
from cimest.spec.yamlio import MAX_FILE_BYTES, LineMap, parse_yaml, read_text

MAX_POINTS = 20_000
"""Most points of one sweep. Measured on tests/fixtures/bsl_toy.yaml with --analytic: a point takes
about 2 ms to validate and 17-30 kB of memory until the sweep ends, and 7 ms to run when points
share their counts, 95 ms when each needs its own (counting, and the fsync of its counts file and
record). 20,000 points: 40 s to validate, under 0.6 GB, up to half an hour to run; a larger
design space is a job for --sample random:N."""
BYTES_PER_POINT = 60_000
"""Memory a validated point holds until the sweep ends, with a margin (twice the measured)."""
MAX_SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Vary:
    """One ``--vary KEY=V1,V2,...`` argument."""

    arg: str
    key: str
    path: tuple[str, ...]
    values: tuple

    def canonical(self) -> dict:
        return {"key": self.key, "values": list(self.values)}


@dataclass
class Point:
    """One design of the sweep."""

    index: int  # position in the full grid
    params: dict  # dotted key -> value, in --vary order
    data: dict  # the edited architecture data
    id: str = ""
    loaded: Loaded | None = None
    training_key: str = ""
    pricing_key: str = ""
    notes: dict = field(default_factory=dict)


def point_id(params: dict) -> str:
    """Hash of a point's parameters (stable across runs, machines and --vary order)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# --- --vary and --sample ------------------------------------------------------------------------


def parse_vary(arg: str) -> Vary:
    """``crossbar.rows=64,128`` -> Vary; values are YAML scalars (``8`` int, ``0.9`` float, ``x`` str).

    Raises:
        CimestError: the argument is not KEY=V1,V2,... or a value is not a plain scalar.
    """
    where = f"--vary {arg}"
    key, eq, rest = arg.partition("=")
    key = key.strip()
    if not eq or not key:
        raise CimestError(f"{where}: expected KEY=V1,V2,... (for example crossbar.rows=64,128)")
    path = tuple(key.split("."))
    if any(not part for part in path):
        raise CimestError(
            f"{where}: '{key}' is not a dotted key path like peripherals.readout.bits"
        )
    values = []
    for raw in rest.split(","):
        text = raw.strip()
        if not text:
            raise CimestError(
                f"{where}: empty value in '{rest}'; separate values with single commas"
            )
        try:
            value, _ = parse_yaml(text, where)
        except SpecError as err:
            raise CimestError(
                f"{where}: value '{text}' is not a YAML scalar ({err.problems[0].message})"
            ) from None
        if isinstance(value, dict | list) or value is None:
            raise CimestError(
                f"{where}: value '{text}' must be a single number, word or true/false"
            )
        if (type(value), value) in {(type(v), v) for v in values}:
            raise CimestError(f"{where}: value '{text}' is listed twice")
        values.append(value)
    return Vary(arg, key, path, tuple(values))


def parse_sample(text: str | None) -> int | None:
    """``random:N`` -> N (None for the full grid)."""
    if text is None:
        return None
    kind, _, n = text.partition(":")
    if kind != "random" or not n.strip().isdigit() or int(n) < 1:
        raise CimestError(f"--sample {text}: expected random:N with N >= 1 (for example random:20)")
    return int(n)


def grid_indices(sizes: list[int], sample: int | None, seed: int) -> list[int]:
    """Indices into the grid (row-major over the --vary arguments), in grid order."""
    total = 1
    for s in sizes:
        total *= s
    if sample is None:
        if total > MAX_POINTS:
            raise CimestError(
                f"the grid has {total:,} points, more than {MAX_POINTS:,}; use --sample random:N"
            )
        return list(range(total))
    if sample > total:
        raise CimestError(f"--sample random:{sample}: the grid has only {total:,} points")
    if sample > MAX_POINTS:
        raise CimestError(f"--sample random:{sample}: at most {MAX_POINTS:,} points")
    return sorted(random.Random(seed).sample(range(total), sample))


def available_memory_bytes() -> int | None:
    """Memory this process may still take: the smaller of the system's available memory and
    what the address-space limit (ulimit -v) leaves; None where neither can be read."""
    import resource

    found: list[int] = []
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/statm", "rb") as f:
                used = int(f.read().split()[0]) * resource.getpagesize()
        except (OSError, ValueError, IndexError):
            used = 0
        found.append(max(soft - used, 0))
    return min(found) if found else None


def check_memory(n_points: int, available: int | None = None) -> None:
    """Refuse a sweep whose points would not fit in memory, before building any of them.

    Raises:
        ResourceError: ``n_points * BYTES_PER_POINT`` exceeds the available memory.
    """
    if available is None:
        available = available_memory_bytes()
    need = n_points * BYTES_PER_POINT
    if available is not None and need > available:
        raise ResourceError(
            f"the sweep has {n_points:,} points; holding them takes about {need / 1e9:.2g} GB and "
            f"only {available / 1e9:.2g} GB of memory is available; use --sample random:N with "
            f"N at most {max(available // BYTES_PER_POINT, 1):,}, or fewer --vary values"
        )


def _unravel(index: int, sizes: list[int]) -> list[int]:
    out = []
    for s in reversed(sizes):
        out.append(index % s)
        index //= s
    return out[::-1]


# --- editing and validating -------------------------------------------------------------------


def set_path(data: dict, vary: Vary, value) -> None:
    """Set ``vary.path`` in ``data`` (creating missing sections; validation judges them)."""
    node = data
    for i, part in enumerate(vary.path[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            prefix = ".".join(vary.path[: i + 1])
            raise CimestError(
                f"--vary {vary.arg}: {prefix} is a value, not a section; {vary.key} cannot be set"
            )
        node = nxt
    node[vary.path[-1]] = value


class Binder:
    """``bind_design`` with the libraries loaded once per library list instead of once per point.

    Why: loading and validating the library YAML is 95 % of binding (about 14 ms); sweeps bind
    thousands of points that name the same libraries.
    """

    def __init__(self, search_path: list[Path]):
        self.search_path = search_path
        self._libs: dict[tuple, LibrarySet] = {}

    def libraries(self, loaded: Loaded) -> LibrarySet:
        key = tuple(loaded.spec.libraries)
        if key not in self._libs:
            self._libs[key] = load_library_set(
                loaded.spec.libraries,
                self.search_path,
                arch_file=loaded.path,
                line=loaded.line("libraries"),
            )
        return self._libs[key]

    def library_hashes(self) -> dict[str, str]:
        """sha256 of every library file the points use, by library name.

        Why: stored records were costed with these numbers; resuming after a library changed
        would mix old and new costs in one store.
        """
        out: dict[str, str] = {}
        for libs in self._libs.values():
            for spec, file in libs.libraries:
                raw = read_bytes(file, MAX_FILE_BYTES, "a YAML file")
                out[spec.name] = hashlib.sha256(raw).hexdigest()
        return dict(sorted(out.items()))

    def bind(self, loaded: Loaded):
        """``cimest.api.bind_design`` with the libraries this grid already loaded."""
        from cimest.api import bind_design

        return bind_design(loaded, libraries=self.libraries(loaded))


def training_key(loaded: Loaded, libs: LibrarySet, data: dict) -> str:
    """Hash of everything that decides a point's EventCounts and accuracy (``data``: the
    dataset record of cimest.engine.identity.data_record)."""
    return counts_key(loaded.spec, libs, data)


class DataDigests:
    """The dataset record of each dataset the points name, computed once per dataset.

    Why: hashing the dataset's files for each of thousands of points would cost seconds. A
    dataset that cannot be read gets its error in place of digests: analytic counts do not read
    it, and training reports the same error when it loads the data.
    """

    def __init__(self):
        self.records: dict[str, dict] = {}

    def __call__(self, dataset: str) -> dict:
        if dataset not in self.records:
            try:
                self.records[dataset] = data_record(dataset)
            except DatasetError as err:
                self.records[dataset] = {"name": dataset, "unreadable": str(err)}
        return self.records[dataset]


def pricing_key(loaded: Loaded) -> str:
    spec = loaded.spec.model_dump(mode="json")
    spec.pop("calibration", None)
    return _hash(spec)


@dataclass
class Grid:
    """The validated points of a sweep and what identifies it."""

    file: str
    file_sha256: str
    varies: list[Vary]
    sample: int | None
    seed: int
    points: list[Point]
    search_path: list[Path]
    lines: LineMap
    binder: Binder
    designs: dict[str, object]  # pricing key -> Design without calibration
    data: DataDigests = field(default_factory=DataDigests)

    def identity(self, analytic: bool) -> dict:
        """What must match for a result folder to be resumed by this sweep."""
        return {
            "base_sha256": self.file_sha256,
            "vary": [v.canonical() for v in self.varies],
            "sample": self.sample,
            "seed": self.seed if self.sample is not None else None,
            "analytic": analytic,
            "libraries_sha256": self.binder.library_hashes(),
            # Why not for analytic sweeps: analytic counts never read the dataset.
            "data_sha256": None if analytic else dict(sorted(self.data.records.items())),
        }

    def groups(self) -> dict[str, list[Point]]:
        """Training key -> its points, in grid order (the first one is trained)."""
        out: dict[str, list[Point]] = {}
        for p in self.points:
            out.setdefault(p.training_key, []).append(p)
        return out


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _owner(problem_path: str, varies: list[Vary]) -> Vary | None:
    for v in varies:
        if (
            problem_path == v.key
            or problem_path.startswith(v.key + ".")
            or problem_path.startswith(v.key + "[")
            or v.key.startswith(problem_path + ".")
        ):
            return v
    return None


def _build_points(indices, sizes, varies, data, lines, name, binder, digests):
    """The validated points of ``indices``, the problems found, and one bound design per pricing key."""
    points: list[Point] = []
    problems: dict[tuple[str, str], list[dict]] = {}
    designs: dict[str, object] = {}
    for index in indices:
        choice = _unravel(index, sizes)
        params = {v.key: v.values[c] for v, c in zip(varies, choice, strict=True)}
        pdata = copy.deepcopy(data)
        for v, c in zip(varies, choice, strict=True):
            set_path(pdata, v, v.values[c])
        point = Point(index, params, pdata, point_id(params))
        try:
            point.loaded = validate_architecture_data(pdata, lines, name)
            point.pricing_key = pricing_key(point.loaded)
            if point.pricing_key not in designs:
                # Why: calibration only multiplies energies, so one bind per pricing key checks
                # every name the point uses; the calibration values were validated just above.
                bare = copy.deepcopy(pdata)
                bare.pop("calibration", None)
                designs[point.pricing_key] = binder.bind(
                    validate_architecture_data(bare, lines, name)
                )
            point.training_key = training_key(
                point.loaded,
                binder.libraries(point.loaded),
                digests(point.loaded.spec.workload.dataset),
            )
        except SpecError as err:
            for p in err.problems:
                owner = _owner(p.path, varies)
                if owner is not None:
                    problems.setdefault((f"--vary {owner.arg}", str(p)), []).append(params)
                else:
                    problems.setdefault(("", str(p)), []).append(params)
            continue
        except CimestError as err:
            for line in err.messages():
                problems.setdefault(("", line), []).append(params)
            continue
        points.append(point)
    return points, problems, designs


def build_grid(
    file: str,
    vary_args: list[str],
    *,
    sample: str | None = None,
    seed: int = 0,
    search_path: list[Path] | None = None,
) -> Grid:
    """Parse the base file and the --vary arguments, build and validate every point.

    Raises:
        CimestError: bad --vary/--sample arguments, or points that do not validate; each message
            names the --vary argument and key that caused it (or the point's parameters).
        SpecError: the base file itself is unreadable or invalid YAML.
    """
    name, text = read_text(file)
    data, lines = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise SpecError([Problem(name, 1, "", "expected a mapping of fields")])
    if not vary_args:
        raise CimestError("sweep: give at least one --vary KEY=V1,V2,...")
    varies = [parse_vary(a) for a in vary_args]
    seen: dict[str, str] = {}
    for v in varies:
        if v.key in seen:
            raise CimestError(
                f"--vary {v.arg}: key {v.key} is already varied by --vary {seen[v.key]}"
            )
        seen[v.key] = v.arg
    n = parse_sample(sample)
    sizes = [len(v.values) for v in varies]
    if search_path is None:
        search_path = default_search_path(name)
    search_path = [Path(p).resolve() for p in search_path]
    binder = Binder(search_path)
    indices = grid_indices(sizes, n, seed)
    check_memory(len(indices))
    digests = DataDigests()
    try:
        points, problems, designs = _build_points(
            indices, sizes, varies, data, lines, name, binder, digests
        )
    except MemoryError:
        raise ResourceError(
            f"out of memory while validating the sweep's {len(indices):,} points; use "
            "--sample random:N with fewer points, or fewer --vary values"
        ) from None
    if problems:
        messages = []
        for (prefix, text), where in problems.items():
            if not prefix:
                # Why: a problem no single --vary owns (a combination): name the first point
                # that has it, and how many others do.
                prefix = f"point {_describe(where[0])}"
                text += f" (and {len(where) - 1} more points)" if len(where) > 1 else ""
            messages.append(f"{prefix}: {text}")
        shown = messages[:MAX_SHOWN_PROBLEMS]
        if len(messages) > len(shown):
            shown.append(f"... and {len(messages) - len(shown)} more problems")
        raise CimestError("\n".join(shown))
    return Grid(
        name,
        hashlib.sha256(text.encode()).hexdigest(),
        varies,
        n,
        seed,
        points,
        search_path,
        lines,
        binder,
        designs,
        digests,
    )


def iter_params(varies: list[Vary]):
    """Every parameter combination of the full grid, in grid order (for tests and tools)."""
    for combo in itertools.product(*(v.values for v in varies)):
        yield {v.key: c for v, c in zip(varies, combo, strict=True)}
