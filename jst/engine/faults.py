"""Fault injection for the kill/resume and lock tests: ``JST_CRASH_AT=event:n[:action]`` acts at the n-th
occurrence of ``event`` (``batch``, ``checkpoint_write`` mid-write, ``epoch``). The action is a signal the
process sends itself (``SIGKILL``, the default; ``SIGTERM``, ``SIGINT``) or ``pause``: print
``jst.faults: paused at event:n`` to stderr and sleep (up to ``JST_PAUSE_S`` seconds, default 600) so that a
test can act on a run that is reliably live. Unset in real use."""
from __future__ import annotations

import os
import signal
import sys
import time

_counts: dict[str, int] = {}


def point(event: str) -> None:
    spec = os.environ.get("JST_CRASH_AT")
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != event:
        return
    n, _, action = rest.partition(":")
    _counts[event] = _counts.get(event, 0) + 1
    if _counts[event] != int(n or 1):
        return
    if action == "pause":
        print(f"jst.faults: paused at {event}:{_counts[event]}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("JST_PAUSE_S", "600")))
        return
    os.kill(os.getpid(), getattr(signal, action or "SIGKILL"))
