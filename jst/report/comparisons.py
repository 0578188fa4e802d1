"""A comparison folder of the grid as a table of methods, and JST's standing against the others.

Every cell comes from a file under the results root: the comparison's ``table.json`` (mean and std over
seeds, ``jst.experiments.compare``), its ``latency.json`` (``jst.experiments.latency``) and its runs' records.
Nothing is typed in: a method that has not run is missing, not filled in.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from jst.engine.checkpoint import load_json
from jst.experiments.compare import load_table
from jst.experiments.grid import Block
from jst.report.hardware import run_hardware
from jst.report.records import RunRecord, mechanism_summary, read_record
from jst.report.verdicts import AHEAD, BEHIND, decide, interval_text


def mean_std(values: list[float], scale: float = 1.0) -> tuple[float, float] | None:
    """(mean, sample std) of per-seed values; the std of one seed is 0 (None for no values)."""
    if not values:
        return None
    return scale * statistics.fmean(values), scale * (statistics.stdev(values) if len(values) > 1 else 0.0)


def runs_by_seed(folder: str | Path, runs: str) -> dict[int, RunRecord]:
    """The records a comparison row names in its ``runs`` cell ("jst-f0.5-s0, jst-f0.5-s1"), by seed."""
    records = [read_record(Path(folder) / name) for name in runs.split(", ")]
    return {r.seed: r for r in records}


def _speedups(folder: Path, runs: list[str], batch: str) -> list[float]:
    path = folder / "latency.json"
    if not path.exists():
        return []
    timed = load_json(path)["runs"]
    return [timed[r][batch]["speedup"]["median"] for r in runs if "speedup" in timed.get(r, {}).get(batch, {})]


def _hardware(folder: Path, runs: list[str]) -> str:
    """What the runs ran on, as each recorded it, each machine once."""
    seen = []
    for name in runs:
        r = read_record(folder / name)
        for text in run_hardware(r.hardware, r.attempts):
            if text not in seen:
                seen.append(text)
    return "; ".join(seen)


def mechanism_label(folder: Path, runs: list[str]) -> str:
    """``records.mechanism_summary`` of the named runs of a comparison folder."""
    return mechanism_summary([read_record(folder / name) for name in runs])


def comparison(folder: str | Path, flops_target: float | None = None, rows: list[dict] | None = None) -> pd.DataFrame:
    """One row per method (at ``flops_target``; every target when None) of the folder's ``table.json`` (or of
    ``rows``, ``jst.experiments.compare.rows`` of a block under way) with (mean, std) pairs over seeds:
    test accuracy, FLOPs and parameters kept, CPU latency speed-up over dense at batch 1 and 64 (dense: 1
    by definition, when timed), wall time of the whole run, the hardware it ran on, whether the method's own
    mechanism did the pruning (``mechanism_label``; of ``rows``: over every finished run, counted or not), and
    the runs not counted (``rows`` made with a ``counted`` filter)."""
    folder = Path(folder)
    out = []
    timed = (folder / "latency.json").exists()
    for r in load_table(folder) if rows is None else rows:
        if flops_target is not None and abs(r["flops_target"] - flops_target) > 1e-9 or not r["n_seeds"]:
            continue   # (a method none of whose runs counted has no row to compare)
        reference = (1.0, 0.0) if r["method"] == "dense" and timed else None
        out.append({"method": r["method"], "FLOPs target": r["flops_target"], "seeds": r["n_seeds"],
                    "test acc (%)": (100 * r["test_acc_mean"], 100 * r["test_acc_std"]),
                    "FLOPs kept": (r["flops_ratio_mean"], r["flops_ratio_std"]),
                    "params kept": (r["params_ratio_mean"], r["params_ratio_std"]),
                    "speed-up b1": reference or mean_std(_speedups(folder, r["runs"], "1")),
                    "speed-up b64": reference or mean_std(_speedups(folder, r["runs"], "64")),
                    "wall time (min)": (r["wall_time_s_mean"] / 60, r["wall_time_s_std"] / 60),
                    "hardware": _hardware(folder, r["runs"]), "meets budget": r["meets_budget"],
                    "mechanism": mechanism_label(folder, r["runs"]) if rows is None else r["mechanism"],
                    "runs": ", ".join(r["runs"]), "not counted": ", ".join(r.get("not_counted", []))})
    df = pd.DataFrame(out)
    df.attrs["folder"] = str(folder)   # where ``pair`` reads the runs' records and predictions
    return df


def pair(df: pd.DataFrame, a: str, b: str) -> dict | None:
    """Method ``a`` against method ``b`` in one comparison frame (``comparison``), decided by the one rule
    (``jst.report.verdicts.decide``) on their per-seed test accuracies and per-image predictions: the gap in
    points, both tests, and the verdict (None when either has not run)."""
    if df.empty:
        return None
    rows = {m: df[df["method"] == m] for m in (a, b)}
    if any(r.empty for r in rows.values()):
        return None
    ra, rb = rows[a].iloc[0], rows[b].iloc[0]
    folder = Path(df.attrs["folder"])
    runs = {m: list(runs_by_seed(folder, rows[m].iloc[0]["runs"]).values()) for m in (a, b)}
    accs = {m: [r.test_acc for r in runs[m]] for m in (a, b)}
    correct = {m: [r.correct() for r in runs[m]] for m in (a, b)}
    have = all(c is not None for m in (a, b) for c in correct[m])
    d = decide(accs[a], accs[b], *((np.stack(correct[a]), np.stack(correct[b])) if have else (None, None)))
    word = {AHEAD: f"{a} ahead", BEHIND: f"{b} ahead"}.get(d["verdict"], d["verdict"])
    return {"seeds": int(min(ra["seeds"], rb["seeds"])), f"{a} acc (%)": ra["test acc (%)"][0],
            f"{a} FLOPs kept": ra["FLOPs kept"][0], f"{b} acc (%)": rb["test acc (%)"][0],
            f"{b} FLOPs kept": rb["FLOPs kept"][0], f"{a} - {b} (points)": d["difference (points)"],
            "welch p": d["welch p"], "images p": d["images p"], "tests": interval_text(d), "verdict": word}


def jst_against_baselines(folder: str | Path, flops_target: float) -> dict | None:
    """Where JST stands at one FLOPs target: its accuracy, the best pruning baseline's, the gap and whether
    it counts by the one rule (``pair``); with one seed nothing is decided (None when JST has not run
    there). Scratch-B is not a baseline here: it retrains JST's own architecture (``pair`` compares it)."""
    df = comparison(folder, flops_target)
    if df.empty:
        return None
    pruned = df[df["method"] != "dense"]
    others = pruned[~pruned["method"].isin(["jst", "scratch"])]
    if "jst" not in set(pruned["method"]) or others.empty:
        return None
    best = others.loc[others["test acc (%)"].map(lambda v: v[0]).idxmax(), "method"]
    p = pair(pruned, "jst", best)
    return {"FLOPs target": flops_target, "seeds": p["seeds"], "JST acc (%)": p["jst acc (%)"],
            "JST FLOPs kept": p["jst FLOPs kept"], "best baseline": best, "its acc (%)": p[f"{best} acc (%)"],
            "its FLOPs kept": p[f"{best} FLOPs kept"], "JST - best (points)": p[f"jst - {best} (points)"],
            "welch p": p["welch p"], "images p": p["images p"], "tests": p["tests"],
            "verdict": p["verdict"].replace("jst ahead", "JST ahead").replace(f"{best} ahead", "JST behind")}


def finished_comparisons(blocks, results_root: str | Path) -> list[Block]:
    """The method comparisons of the grid that have a table under ``results_root`` (ablations, with their
    own ``out``, are read by ``jst.report.ablations``; sensitivity blocks have no table)."""
    return [b for b in blocks if isinstance(b, Block) and not b.out
            and (b.folder(results_root) / "table.json").exists()]


def standings(blocks, results_root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """JST in every finished comparison of the grid (each block, each FLOPs target): against the best
    pruning baseline (``jst_against_baselines``) and against Scratch-B of its own architecture (``pair``).
    The claims about JST are read from these two frames."""
    standing, scratch = [], []
    for b in finished_comparisons(blocks, results_root):
        folder = b.folder(results_root)
        for t in b.flops_targets:
            r = jst_against_baselines(folder, t)
            if r:
                standing.append({"comparison": b.name, **r})
            p = pair(comparison(folder, t), "jst", "scratch")
            if p:
                scratch.append({"comparison": f"{b.name} at {t:g}", **p})
    return pd.DataFrame(standing), pd.DataFrame(scratch)
