"""What every benchmark shares: its command line, the machine it ran on, interleaved timing, and the JSON.

A figure is only worth something with the conditions it was measured under, so every JSON carries the
exact command, the git commit and library versions (``jst.engine.provenance.versions``), the CPU model, cores,
torch threads and the load average before and after (a busy machine shows up there), the raw timings
and their median and spread. Ratios are measured side by side: ``interleaved`` alternates the variants
repeat by repeat, so a change of machine load hits all of them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from jst.engine.data import default_data_root
from jst.engine.provenance import versions
from jst.experiments.timing import interleaved, summary, timed


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes: where the JSON goes, a seconds-long dry run, threads, data."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON (and plots)")
    p.add_argument("--quick", action="store_true", help="a few iterations: proves the script runs, measures nothing")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--data-root", default=default_data_root())
    return p


def setup(args: argparse.Namespace) -> dict:
    """Threads and seed; returns the start (time and load average) that ``write`` records."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return {"time": time.time(), "load_average": list(os.getloadavg())}


def machine() -> dict:
    """CPU model, cores, torch threads, load average, and the GPU if one is visible."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_model": model or platform.processor(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
            "platform": platform.platform(), "load_average": list(os.getloadavg())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def goal(description: str, value: float, threshold: float, higher_is_better: bool) -> dict:
    """A goal and whether the measured ``value`` met it."""
    met = value >= threshold if higher_is_better else value <= threshold
    return {"goal": description, "value": value, "threshold": threshold,
            "direction": ">=" if higher_is_better else "<=", "met": bool(met)}


def uncommitted(paths=("jst", "benchmarks")) -> bool | None:
    """Whether the measured code differs from the recorded commit (tracked files under ``paths``)."""
    import subprocess
    try:
        return bool(subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "status", "--porcelain",
                                    "--untracked-files=no", *paths], capture_output=True, text=True,
                                   timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None


def write(name: str, args: argparse.Namespace, results: dict, start: dict) -> Path:
    """``<out>/<name>.json`` with the command, versions, machine and ``results``; returns its path."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.orig_argv[1:]]),
              "quick": bool(args.quick),
              "note": "dry run (--quick): not a measurement" if args.quick else "measurement",
              "versions": versions(), "uncommitted_changes": uncommitted(),
              "machine": {**machine(), "load_average_at_start": start["load_average"]},
              "wall_time_s": time.time() - start["time"], **results}
    path = out / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{name}: wrote {path}")
    return path


__all__ = ["parser", "setup", "machine", "goal", "uncommitted", "write", "versions", "interleaved", "summary", "timed"]
