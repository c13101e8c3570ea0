"""Running a sweep: count each training group on an executor, cost its points, store records.

Room: sweep. Flow, for the points not yet in the store:

1. group them by training key; a group whose counts are already stored needs no executor;
2. the other groups go to the executor (``count_group`` of the group's first point: this
   process, local processes, or a Dask cluster);
3. as each group's counts come back they are stored (atomically), then every pending point of
   the group is costed here, in the coordinating process, and appended to the store.

Costing always happens here from the stored (JSON) counts, so results are bit-identical
whichever executor counted them and whether they were counted now or in an earlier run. Nothing
here prints: progress goes to ``progress(done, total, note)``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cimest.counts import EventCounts
from cimest.errors import CheckpointError, CimestError
from cimest.folders import clean_stray_temps, locked
from cimest.sweep.fastcost import CostBasis
from cimest.sweep.grid import Grid, Point
from cimest.sweep.store import COUNTS, MANIFEST, ResultStore
from cimest.sweep.work import count_group

Progress = Callable[[int, int, str], None]
CONNECT_TIMEOUT_S = 10


@dataclass
class SweepSummary:
    n_points: int
    n_skipped: int  # finished in an earlier run
    n_costed: int  # costed in this run
    n_groups: int  # training groups of the whole sweep
    n_counted: int  # groups counted (trained or analytic) in this run
    store_dir: str


def _label(p: Point) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.params.items())


# --- executors: each yields (training key, count_group result) as groups finish -----------------


def _run_inline(tasks: list[dict]) -> Iterator[tuple[str, dict]]:
    for t in tasks:
        yield t["training_key"], count_group(t)


def _run_processes(tasks: list[dict], workers: int) -> Iterator[tuple[str, dict]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Why forkserver and not fork: a forked worker shares the store's lock and, orphaned by a
    # kill -9 of this process, would hold it for ever; forkserver workers start from a clean
    # process that never had the lock file open.
    ctx = multiprocessing.get_context("forkserver")
    alive, keep_alive = ctx.Pipe(duplex=False)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=ctx,
        initializer=_exit_with_parent,
        initargs=(alive,),
    )
    try:
        futures = {pool.submit(count_group, t): t["training_key"] for t in tasks}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        keep_alive.close()
        alive.close()


def _exit_with_parent(alive) -> None:
    """Worker initializer: end this worker when the sweep process that started it ends.

    Why: workers wait on a queue whose write end they hold themselves, so a worker orphaned by a
    kill -9 of the sweep would wait for ever (and hold its training group's run folder while it
    trains). ``alive`` is the read end of a pipe only the sweep process writes to: it reads
    end-of-file exactly when that process is gone.
    """
    import threading

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            alive.recv()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run_dask(tasks: list[dict], scheduler: str) -> Iterator[tuple[str, dict]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise CimestError(
            "--scheduler needs the Dask distributed package, which is not installed; "
            "install it with: pip install cimest[dask]"
        ) from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise CimestError(f"--scheduler {scheduler}: cannot connect ({err})") from None
    futures = []
    try:
        for t in tasks:
            fut = client.submit(count_group, t, key=f"cimest-count-{t['training_key']}", pure=False)
            futures.append(fut)
        keys = {fut.key: t["training_key"] for fut, t in zip(futures, tasks, strict=True)}
        # Why: loop= because this client is not made the process-wide default one.
        for fut in as_completed(futures, loop=client.loop):
            yield keys[fut.key], fut.result()
    finally:
        if futures:
            client.cancel(futures)
        client.close()


# --- the sweep ----------------------------------------------------------------------------------


def run_sweep(
    grid: Grid,
    out_dir: str | os.PathLike,
    *,
    analytic: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    command: str = "",
) -> SweepSummary:
    """Run (or resume) ``grid``'s sweep into the result folder ``out_dir``.

    Args:
        workers: local processes for training groups; 1 runs them in this process.
        scheduler: ``tcp://host:port`` of a Dask scheduler (overrides ``workers``).
        progress: called with (points done, points total, note) after every point.
        command: the command line, recorded in the manifest for people to read.

    Raises:
        FolderBusy: another process is writing the folder.
        CheckpointError: the folder holds another sweep, or its store is corrupt.
        CimestError: a group's training failed (message names the point).
    """
    store = ResultStore(out_dir)
    # Why the lock: two sweeps writing one store would mix or duplicate their records.
    with locked(store.dir, "-o DIR"):
        clean_stray_temps(store.dir, {MANIFEST})
        clean_stray_temps(store.dir / COUNTS)
        return _run_locked(grid, store, analytic, workers, scheduler, progress, command)


def _run_locked(
    grid: Grid,
    store: ResultStore,
    analytic: bool,
    workers: int,
    scheduler: str | None,
    progress: Progress | None,
    command: str,
) -> SweepSummary:
    store.open(
        grid.identity(analytic),
        {"command": command, "base_file": grid.file, "n_points": len(grid.points)},
    )
    done = store.records(repair=True)
    ids = {p.id for p in grid.points}
    stray = sorted(set(done) - ids)
    if stray:
        raise CheckpointError(
            f"{store.points_path}: has records of points that are not in this "
            f"sweep ({', '.join(stray[:3])}); use another -o DIR"
        )
    total = len(grid.points)
    n_done = sum(p.id in done for p in grid.points)
    skipped = n_done
    if progress is not None:
        progress(n_done, total, "resumed" if n_done else "started")
    groups = grid.groups()
    pending: dict[str, list[Point]] = {}
    for key, pts in groups.items():
        todo = [p for p in pts if p.id not in done]
        if todo:
            pending[key] = todo

    def cost(key: str, stored: dict) -> None:
        nonlocal n_done
        counts = EventCounts.from_dict(stored["counts"])
        rel = store.counts_rel(key)
        bases: dict[str, CostBasis] = {}
        for p in pending[key]:
            basis = bases.get(p.pricing_key)
            if basis is None:
                basis = bases[p.pricing_key] = CostBasis.build(
                    grid.designs[p.pricing_key], counts, stored["accuracy"]
                )
            record = {
                "point_id": p.id,
                "params": p.params,
                **basis.kpis(p.loaded.spec.calibration if p.loaded else {}),
                "training_key": key,
                "counts_path": rel,
            }
            store.append(record)
            n_done += 1
            if progress is not None:
                progress(n_done, total, _label(p))

    tasks = []
    for key in pending:
        stored = store.read_counts(key)
        if stored is not None:
            cost(key, stored)
            continue
        first = groups[key][0]
        tasks.append(
            {
                "training_key": key,
                "data": first.data,
                "file": grid.file,
                "search_path": [str(p) for p in grid.search_path],
                "run_dir": str(store.run_dir(key)),
                "analytic": analytic,
                "label": _label(first),
            }
        )
    if tasks:
        if analytic or (scheduler is None and workers <= 1):
            # Why: analytic counting takes milliseconds; shipping it to workers costs more.
            results = _run_inline(tasks)
        elif scheduler is not None:
            results = _run_dask(tasks, scheduler)
        else:
            results = _run_processes(tasks, workers)
        for key, result in results:
            store.write_counts(key, result)
            # Cost from what was stored, so a resumed run costs the very same numbers.
            cost(key, store.read_counts(key))
    return SweepSummary(total, skipped, n_done - skipped, len(groups), len(tasks), str(store.dir))
