"""Fault injection for the kill/resume tests: ``JST_CRASH_AT=event:n`` SIGKILLs the process at the
n-th occurrence of ``event`` (``batch``, ``checkpoint_write`` mid-write, ``epoch``). Unset in real use."""
from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def point(event: str) -> None:
    spec = os.environ.get("JST_CRASH_AT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != event:
        return
    _counts[event] = _counts.get(event, 0) + 1
    if _counts[event] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)
