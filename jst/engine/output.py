"""Output folders (``--out``, a notebook's ``run_dir``), checked before any work so that a run cannot train
for hours and then fail to write: a path that is a file, lies below a file, or whose folder (or, when it is
still to be created, nearest existing parent) cannot be written is refused in one line, and nothing is
created or touched.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from jst.engine.errors import ConfigError


def check_output_folder(out) -> Path:
    """``out`` as a Path when a run can write there: an existing writable folder, or a new one whose nearest
    existing parent is a writable folder (``os.access``, so a read-only file system counts, even for root)."""
    out = Path(out).expanduser()
    if os.path.lexists(out) and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a folder" if out.is_file() else f"{out} exists and is not a folder")
    existing = next(p for p in (out, *out.parents) if os.path.lexists(p))
    if not existing.is_dir():
        raise ConfigError(f"{out} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == out else f" (its parent {existing} is not writable)"
        raise ConfigError(f"{out} cannot be written{where}: no write permission or a read-only file system")
    return out


def out_argument(text: str) -> str:
    """argparse ``type=`` of ``--out``: a folder refused here is a usage error (one line, exit status 2)."""
    try:
        check_output_folder(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
