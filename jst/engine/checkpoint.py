"""Atomic, pickle-free checkpoints and records.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the target: a reader
sees the old file or the new one, never a torn one. Checkpoints load with ``weights_only=True``, so a
file holding arbitrary pickled objects is refused.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from jst.engine import faults
from jst.engine.errors import CheckpointError, JstError


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            faults.point("checkpoint_write")
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(obj, path) -> None:
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def write_bytes(path, data: bytes) -> None:
    """A file copied in whole or not at all (a forked run's checkpoint: ``jst.engine.fork``)."""
    _atomic_write(Path(path), lambda f: f.write(data))


def load(path, map_location="cpu", mmap: bool = False):
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as e:  # unpickling refused, truncated zip, wrong format
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a valid jst checkpoint ({first[:200]})") from None


def restore(module: torch.nn.Module, state: dict, path) -> None:
    """load_state_dict, with a mismatch reported as a one-line CheckpointError."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: checkpoint does not fit this network ({first[:200]})") from None


def save_json(obj, path) -> None:
    _atomic_write(Path(path), lambda f: f.write((json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()))


def load_json(path) -> dict:
    """A JSON file (config, record), or a one-line JstError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise JstError(f"{path}: unreadable ({e})") from None
