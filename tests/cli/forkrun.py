"""Run many `cimest` command lines fast: import cimest once, fork a child per command line.

Used by test_bad_inputs.py. Reads a JSON list of jobs on stdin ({argv, cwd, env, out, err}),
writes a JSON list of {status, seconds} on stdout. Each child sets a 1 GB address-space limit,
applies its environment and runs ``cimest.cli.main(argv)`` exactly as ``python -m cimest.cli``
would, minus the interpreter start-up; status is negative when a signal ended it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

import cimest.api  # noqa: F401 - imported once here, shared by every child
import cimest.cli
import cimest.engine.train  # noqa: F401
import cimest.report  # noqa: F401
import cimest.sweep  # noqa: F401

MEMORY_LIMIT = 1 << 30
TIMEOUT_S = 15.0
PARALLEL = max(2, min(6, os.cpu_count() or 2))


def _child(job: dict) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        for fd, path in ((1, job["out"]), (2, job["err"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = ["cimest", *job["argv"]]
        try:
            code = cimest.cli.main(job["argv"])
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    except BaseException:  # noqa: BLE001 - a traceback here is what the test looks for
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def main() -> None:
    jobs = json.load(sys.stdin)
    results: list[dict | None] = [None] * len(jobs)
    running: dict[int, tuple[int, float]] = {}
    queue = list(range(len(jobs)))
    while queue or running:
        while queue and len(running) < PARALLEL:
            i = queue.pop(0)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(jobs[i])
            running[pid] = (i, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.005)
            for p, (_i, t0) in list(running.items()):
                if time.monotonic() - t0 > TIMEOUT_S:
                    os.kill(p, signal.SIGKILL)
            continue
        i, t0 = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        results[i] = {"status": code, "seconds": time.monotonic() - t0}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
