"""Tables of finished runs for the results chapters, read through ``jst.report.records``."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.report.records import RunRecord, mechanism_summary, read_records


def result_table(record: RunRecord) -> pd.DataFrame:
    """Dense vs pruned network of one run: one row per measure."""
    dense, pruned = record.dense, record.pruned
    rows = {"FLOPs": (dense.flops, pruned.flops), "parameters": (dense.params, pruned.params),
            "channels in prunable layers": (sum(dense.widths.values()), sum(pruned.widths.values())),
            "test accuracy": (dense.test_acc, pruned.test_acc)}
    df = pd.DataFrame.from_dict(rows, orient="index", columns=["dense", "pruned"], dtype=object)
    df["pruned / dense"] = [p / d if d else None for d, p in zip(df["dense"], df["pruned"])]
    return df


def collect_results(dirs) -> pd.DataFrame:
    """Every run record under ``dirs`` (at any depth), one row each."""
    rows = [{"dataset": r.dataset, "arch": r.arch, "method": r.method, "scale": r.scale, "seed": r.seed,
             "FLOPs target": r.flops_target, "FLOPs kept": r.pruned.flops_ratio,
             "params kept": r.pruned.params_ratio, "dense test acc": r.dense.test_acc, "test acc": r.pruned.test_acc,
             "meets budget": r.meets_budget, "wall time (min)": r.wall_time_s / 60, "record": str(r.folder)}
            for d in dirs for r in read_records(d, recursive=True)]
    return pd.DataFrame(rows)


def summary_frame(rows: list[dict]) -> pd.DataFrame:
    """Comparison rows as a flat table: nested {"mean", "std"} dicts become ``<name>_mean`` / ``<name>_std``."""
    flat = []
    for row in rows:
        out = {}
        for k, v in row.items():
            if isinstance(v, dict) and {"mean", "std"} <= set(v):
                out[f"{k}_mean"], out[f"{k}_std"] = v["mean"], v["std"]
            elif not isinstance(v, (dict, list)):
                out[k] = v
        flat.append(out)
    return pd.DataFrame(flat)


def _records_at(out: str | Path, flops_target: float, seed: int) -> list[RunRecord]:
    return [r for r in read_records(out, recursive=True)
            if abs(r.flops_target - flops_target) < 1e-9 and r.seed == seed]


def widths_by_method(out: str | Path, flops_target: float, seed: int) -> tuple[dict[str, dict[str, int]], dict]:
    """Channels kept per layer by each method at one FLOPs target and seed, from the run folders under
    ``out``; and the dense network's widths."""
    found, dense = {}, {}
    for r in _records_at(out, flops_target, seed):
        found.setdefault(r.method, r.pruned.widths)
        dense = r.dense.widths
    return found, dense


def mechanism_by_method(out: str | Path, flops_target: float, seed: int) -> dict[str, str]:
    """Method -> ``mechanism_summary`` of its run at one FLOPs target and seed (for ``plots.kept_channels``)."""
    found = {}
    for r in _records_at(out, flops_target, seed):
        found.setdefault(r.method, mechanism_summary([r]))
    return found
