"""Clean stops: within ``on_signals()`` SIGTERM and SIGINT raise ``Stopped``, so a run ends at once through
its ``finally`` blocks (locks released, a cut-short atomic write removed) and keeps its last checkpoint.

A second signal acts as it would without jst (SIGTERM kills, SIGINT raises KeyboardInterrupt): a stop
that hangs can still be ended. The exit status is 128 + the signal's number, as a shell reports it.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from jst.engine.errors import Stopped

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def on_signals():
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def stop(signum, frame):
        for s, handler in previous.items():
            signal.signal(s, handler)
        raise Stopped(signum)

    for s in SIGNALS:
        signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def signum(stop: BaseException) -> int:
    return getattr(stop, "signum", signal.SIGINT)  # a bare KeyboardInterrupt is a Ctrl-C


def exit_status(stop: BaseException) -> int:
    return 128 + signum(stop)


def message(stop: BaseException, folder: str | Path | None = None) -> str:
    """One line: the signal, the stage of the last checkpoint kept and how to resume. ``folder`` is the
    folder the command was given; a run folder under it (a comparison's run) is named."""
    name = signal.Signals(signum(stop)).name
    run_dir = getattr(stop, "run_dir", None)
    if run_dir is None:
        return f"stopped by {name}: run the same command again"  # outside any run: nothing to resume
    where = "" if folder is not None and Path(folder) == Path(run_dir) else f" in {run_dir}"
    stage = last_checkpoint(Path(run_dir))
    if stage is None:
        return f"stopped by {name} before the first checkpoint{where}: run the same command to start again"
    return f"stopped by {name} after {stage}{where}; the last checkpoint is kept: run the same command to resume"


def last_checkpoint(run_dir: Path) -> str | None:
    """The stage of the checkpoint written last (its file name without .pt), or None."""
    paths = []
    for p in (run_dir / "checkpoints").glob("*.pt"):
        try:
            paths.append((p.stat().st_mtime_ns, p.stem))
        except FileNotFoundError:
            pass
    return max(paths)[1] if paths else None
