"""Several runs of a grid at once, each in a process of its own (``--jobs N``).

Each process gets its share of the cores (one thread each with two jobs on this 2-core machine). In block 1
of the protocol grid, runs made two at a time took no longer than the same methods' runs made one at a time
with one thread (JST 6.7 against 8.7-10.1 min, L1-norm 4.5 against 4.9-6.1), so two jobs about doubled the
runs finished an hour. A run starts once the runs it starts
from have finished (its seed's shared dense network, Scratch-B's source run); a run whose source failed is
not started and is reported with it. Each run is seeded and checkpointed on its own, so its record does
not depend on which runs share the machine with it. ``jobs=1`` runs everything in order, in this process.

A stop (SIGTERM, Ctrl-C) is passed on to every running run, which keeps its last checkpoint as a single
run does (``jst.engine.stopping``); the same command resumes them.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from jst.engine.errors import JstError, TrainingDiverged
from jst.report.records import is_record

FAILURES = (JstError, RuntimeError, TrainingDiverged)   # one failed run does not stop the others


@dataclass(frozen=True)
class Job:
    name: str
    cfg: object                 # a jst.config.Config
    out: Path
    needs: tuple[str, ...] = ()  # names of the jobs whose runs this one starts from
    fork_source: Path | None = None  # a run whose first stage this one may start from (jst.engine.fork)


def jobs_argument(text: str) -> int:
    """argparse ``type=`` of ``--jobs``: a whole number of at least 1 (else a usage error, exit status 2)."""
    import argparse
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a whole number of at least 1, got {text!r}")
    return n


def threads_per_job(jobs: int) -> int | None:
    """Each process's share of the cores (None: leave torch's default, e.g. one job, or OMP_NUM_THREADS set)."""
    if jobs <= 1 or os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


def _child(job: Job, threads: int | None, report) -> None:
    """One run in a spawned process: its error, in one line, goes back through ``report``."""
    import torch

    from jst.engine import stopping
    from jst.engine.errors import Stopped
    from jst.engine.pipeline import run
    if threads:
        torch.set_num_threads(threads)
    try:
        with stopping.on_signals():
            run(job.cfg, job.out, fork_source=job.fork_source)
    except FAILURES as e:
        report.send(f"{job.name}: {e}")
        raise SystemExit(1) from None
    except (Stopped, KeyboardInterrupt) as stop:
        raise SystemExit(stopping.exit_status(stop)) from None


def run_all(jobs: list[Job], n: int = 1) -> list[str]:
    """Run ``jobs`` (in plan order), ``n`` at a time; returns the failures, one line each."""
    if n <= 1:
        return _in_order(jobs)
    ctx = mp.get_context("spawn")   # a fork would copy torch's thread pools mid-flight
    threads, names = threads_per_job(n), {j.name for j in jobs}
    pending, running, done, failures = list(jobs), {}, set(), {}
    try:
        while pending or running:
            before = len(pending)
            for job in list(pending):
                blocked = [d for d in job.needs if d in failures]
                ready = all(d in done for d in job.needs if d in names)
                if blocked:
                    pending.remove(job)
                    failures[job.name] = f"{job.name}: not started, its source {blocked[0]} failed"
                elif ready and is_record(job.out):   # finished before: nothing to start
                    pending.remove(job)
                    done.add(job.name)
                elif ready and len(running) < n:
                    pending.remove(job)
                    receive, send = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child, args=(job, threads, send), name=job.name)
                    proc.start()
                    send.close()
                    running[proc.sentinel] = (job, proc, receive)
            if not running:
                if pending and len(pending) == before:   # nothing can start: never wait for nothing
                    raise JstError(f"{pending[0].name} waits for runs that never finish")
                continue
            for sentinel in wait(list(running)):
                job, proc, receive = running.pop(sentinel)
                proc.join()
                if proc.exitcode == 0:
                    done.add(job.name)
                elif proc.exitcode in (130, 143):   # a run stopped from outside: the grid stops with it
                    raise KeyboardInterrupt
                else:
                    failures[job.name] = receive.recv() if receive.poll() else \
                        f"{job.name}: its process ended with status {proc.exitcode}"
    finally:
        for _, proc, _ in running.values():   # a stop: each run keeps its last checkpoint
            proc.terminate()
        for _, proc, _ in running.values():
            proc.join()
    return [failures[j.name] for j in jobs if j.name in failures]


def _in_order(jobs: list[Job]) -> list[str]:
    from jst.engine.pipeline import run
    failures = []
    for job in jobs:
        try:
            run(job.cfg, job.out, fork_source=job.fork_source)
        except FAILURES as e:
            failures.append(f"{job.name}: {e}")
    return failures
