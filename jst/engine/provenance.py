"""Provenance of a run: the code (git commit, "+dirty" when uncommitted), the libraries and the hardware."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from jst import __version__


def versions() -> dict:
    import numpy
    import torchvision
    return {"jst": __version__, "git_commit": git_commit(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def git_commit() -> str | None:
    """The commit of the code that ran (with "+dirty" if it had uncommitted changes), for provenance."""
    repo = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "jst"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def hardware(device: torch.device) -> dict:
    info = {"device": str(device), "platform": platform.platform(), "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
