"""One writer per folder: ``hold(folder)`` takes an exclusive ``flock`` on ``folder/.lock`` and writes the
holder's PID and command into it; a second process is refused at once with a ``FolderInUse`` naming them.

The kernel drops a flock when its process dies, however it dies, so a lock left by a killed run is taken
over by the next one. Locks are per open file, so a second ``hold`` in the same process is refused too.
On release the lock file is removed (and the folder, if ``hold`` created it and it is still empty); a
process that opened the file just before it was removed notices the swap and tries again.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from jst.engine.errors import ConfigError, FolderInUse

NAME = ".lock"


@contextmanager
def hold(folder: str | Path):
    """Hold ``folder``'s lock for the ``with`` block (the folder is created if missing)."""
    folder = Path(folder)
    created = _make(folder)
    try:
        fd = _acquire(folder)
    except BaseException:
        _remove(created)
        raise
    try:
        yield
    finally:
        try:
            (folder / NAME).unlink(missing_ok=True)  # still locked: no one can take the old file meanwhile
        finally:
            os.close(fd)
            _remove(created)


def ensure_free(folder: str | Path) -> None:
    """Raise ``FolderInUse`` if a live process holds ``folder``'s lock; creates and changes nothing."""
    try:
        fd = os.open(Path(folder) / NAME, os.O_RDONLY)
    except OSError:
        return  # a holder always has the file (one we cannot read: the run itself will find out)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderInUse(_refusal(Path(folder))) from None
    finally:
        os.close(fd)


def holder(folder: str | Path) -> dict | None:
    """What the lock file of ``folder`` says about its holder (None if there is none or it is unreadable)."""
    try:
        info = json.loads((Path(folder) / NAME).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _make(folder: Path) -> list[Path]:
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{folder} cannot be created ({e.strerror})") from None
    return missing


def _remove(created: list[Path]) -> None:
    for path in created:  # deepest first; one that is not empty (another run started in it) stays
        try:
            path.rmdir()
        except OSError:
            return


def _acquire(folder: Path) -> int:
    path = folder / NAME
    while True:
        folder.mkdir(parents=True, exist_ok=True)  # a releasing process may just have removed an empty one
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(f"{folder}: cannot create its lock file {NAME} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderInUse(_refusal(folder)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder released and removed the file between our open and our flock
            os.close(fd)
            continue
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        return fd


def _refusal(folder: Path) -> str:
    info = None
    for _ in range(20):  # the holder writes its record right after taking the lock
        info = holder(folder)
        if info:
            break
        time.sleep(0.05)
    info = info or {}
    who = f"process {info['pid']}" if "pid" in info else "another process"
    if info.get("host") and info["host"] != socket.gethostname():
        who += f" on {info['host']}"
    if info.get("command"):
        who += f" ({info['command']})"
    return (f"{folder} is in use by {who}; one process writes a folder at a time: wait for it to finish "
            "or stop it, then run this again")


def command() -> str:
    """This process's command line, ``python -m jst ...`` when it was started as a module."""
    argv = list(sys.argv) or [""]
    head = Path(argv[0])
    if head.name == "__main__.py" and "jst" in head.parts:
        parts = head.parts[:-1]
        top = len(parts) - 1 - parts[::-1].index("jst")
        argv[0] = "-m " + ".".join(parts[top:])
    return " ".join([Path(sys.executable).name, *argv]).strip()
