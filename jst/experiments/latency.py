"""Measured CPU latency of every exported network of a comparison folder against its dense network.

Pruning papers report FLOPs ratios; the reproduction's tables also show what the pruned networks gain in
real time. For each seed, the exported networks of every method (``<method>-f<target>-s<seed>/model``)
and the dense network of that seed (``dense-f1-s<seed>/model``) are timed interleaved in one process
(``jst.experiments.timing``), eval mode, ``torch.inference_mode``, after warm-up; speed-up = dense median latency /
pruned median latency. The figures, with the machine and its load average, go to
``<folder>/latency.json``; the command is ``python -m jst.experiments.latency <folder>``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

from jst.engine import checkpoint
from jst.engine.errors import JstError
from jst.experiments.timing import interleaved, summary
from jst.nets.export import load_exported
from jst.report.records import read_record


def _forward(model: torch.nn.Module, x: torch.Tensor):
    def call():
        with torch.inference_mode():
            model(x)
    return call


def measure(folder: str | Path, batch_sizes=(1, 64), repeats: int = 30, warmup: int = 3) -> dict:
    """Latency of every run in ``folder`` with an exported model, per batch size, and its speed-up over
    the dense run of the same seed; written to ``folder/latency.json`` and returned."""
    folder = Path(folder)
    runs = sorted(p for p in folder.iterdir() if (p / "model" / "model.json").exists()) if folder.is_dir() else []
    if not runs:
        raise JstError(f"{folder}: no exported runs (<run>/model/model.json) to time")
    by_seed: dict[str, list[Path]] = {}
    for run in runs:
        by_seed.setdefault(run.name.rsplit("-s", 1)[1], []).append(run)
    record = {"folder": str(folder), "batch_sizes": list(batch_sizes), "repeats": repeats, "warmup": warmup,
              "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(), "load_average_at_start": list(os.getloadavg())},
              "trained_weights": {}, "runs": {}}
    for seed, seed_runs in sorted(by_seed.items()):
        dense = folder / f"dense-f1-s{seed}"
        # a record whose weights are not committed (results/README.md) is timed as its architecture: the
        # same layers and shapes, untrained weights
        trained = {r.name: (r / "model" / "model.safetensors").exists() for r in seed_runs}
        models = {r.name: load_exported(r / "model", weights=trained[r.name]) for r in seed_runs}
        record["trained_weights"].update(trained)
        shape = read_record(seed_runs[0]).input_shape
        for batch in batch_sizes:
            x = torch.randn(batch, *shape)
            times = interleaved({name: _forward(m, x) for name, m in models.items()}, repeats, warmup=warmup)
            for name, t in times.items():
                entry = record["runs"].setdefault(name, {})
                entry[str(batch)] = {"latency_s": summary(t)}
                if dense.name in times and name != dense.name:
                    entry[str(batch)]["speedup"] = summary([d / p for d, p in zip(times[dense.name], t)])
    record["machine"]["load_average_at_end"] = list(os.getloadavg())
    checkpoint.save_json(record, folder / "latency.json")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jst.experiments.latency", description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="comparison folders (python -m jst compare --out ...)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args(argv)
    try:
        for folder in args.folders:
            record = measure(folder, args.batch_sizes, args.repeats)
            print(f"{folder}: {len(record['runs'])} networks timed -> {Path(folder) / 'latency.json'}")
    except JstError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
