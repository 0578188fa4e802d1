"""The reproduction's tables, built from the committed run records of ``jst.experiments``' grid.

Every cell comes from a file under ``results/``: a comparison's ``table.json`` (mean and std over seeds,
``jst.compare``), its ``latency.json`` (``jst.latency``), the runs' ``log.jsonl``, and the sensitivity
CSVs. Nothing is typed in: a block that has not run shows as missing in ``status``.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd

from .compare import load_table

# what "best" means per column of a comparison table (the dense reference row is never marked)
BEST = {"test acc (%)": max, "FLOPs kept": min, "params kept": min, "speed-up b1": max, "speed-up b64": max,
        "wall time (min)": min}


def status(blocks) -> pd.DataFrame:
    """Per block of the grid: finished runs out of planned, and the command that (re)runs it."""
    from .experiments import block_name, finished
    rows = []
    for b in blocks:
        done, total = finished(b)
        rows.append({"block": block_name(b), "finished": done, "planned": total, "command": b.command()})
    return pd.DataFrame(rows)


def _speedups(folder: Path, runs: list[str], batch: str) -> list[float]:
    path = folder / "latency.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())["runs"]
    return [record[r][batch]["speedup"]["median"] for r in runs if "speedup" in record.get(r, {}).get(batch, {})]


def _mean_std(values: list[float], scale: float = 1.0) -> tuple[float, float] | None:
    if not values:
        return None
    return scale * statistics.fmean(values), scale * (statistics.stdev(values) if len(values) > 1 else 0.0)


def comparison(folder: str | Path, flops_target: float | None = None) -> pd.DataFrame:
    """One row per method (at ``flops_target``; every target when None) with (mean, std) pairs over seeds:
    test accuracy, FLOPs and parameters kept, CPU latency speed-up over dense at batch 1 and 64 (dense: 1
    by definition, when timed), wall time."""
    folder = Path(folder)
    rows = []
    timed = (folder / "latency.json").exists()
    for r in load_table(folder):
        if flops_target is not None and abs(r["flops_target"] - flops_target) > 1e-9:
            continue
        reference = (1.0, 0.0) if r["method"] == "dense" and timed else None
        rows.append({"method": r["method"], "FLOPs target": r["flops_target"], "seeds": r["n_seeds"],
                     "test acc (%)": (100 * r["test_acc_mean"], 100 * r["test_acc_std"]),
                     "FLOPs kept": (r["flops_ratio_mean"], r["flops_ratio_std"]),
                     "params kept": (r["params_ratio_mean"], r["params_ratio_std"]),
                     "speed-up b1": reference or _mean_std(_speedups(folder, r["runs"], "1")),
                     "speed-up b64": reference or _mean_std(_speedups(folder, r["runs"], "64")),
                     "wall time (min)": (r["wall_time_s_mean"] / 60, r["wall_time_s_std"] / 60),
                     "meets budget": r["meets_budget"], "runs": ", ".join(r["runs"])})
    return pd.DataFrame(rows)


def jst_against_baselines(folder: str | Path, flops_target: float) -> dict | None:
    """Where JST stands at one FLOPs target: its accuracy, the best other pruned method's, the gap and
    whether it exceeds the larger of the two seed spreads; with one seed nothing is decided (None when
    JST has not run there)."""
    df = comparison(folder, flops_target)
    if df.empty:
        return None
    pruned = df[df["method"] != "dense"]
    if "jst" not in set(pruned["method"]) or len(pruned) < 2:
        return None
    jst = pruned[pruned["method"] == "jst"].iloc[0]
    others = pruned[pruned["method"] != "jst"]
    best = others.loc[others["test acc (%)"].map(lambda v: v[0]).idxmax()]
    gap = jst["test acc (%)"][0] - best["test acc (%)"][0]
    spread = max(jst["test acc (%)"][1], best["test acc (%)"][1])
    return {"FLOPs target": flops_target, "seeds": int(jst["seeds"]), "JST acc (%)": jst["test acc (%)"][0],
            "JST FLOPs kept": jst["FLOPs kept"][0], "best other": best["method"],
            "its acc (%)": best["test acc (%)"][0], "its FLOPs kept": best["FLOPs kept"][0],
            "JST - best (points)": gap, "larger std (points)": spread,
            "verdict": ("one seed: undecided" if min(jst["seeds"], best["seeds"]) < 2 else
                        "JST ahead" if gap > spread else "JST behind" if gap < -spread else "within the seed spread")}


def best_cells(df: pd.DataFrame) -> dict[str, set[int]]:
    """Row indices holding the best mean of each column (ties included), the dense row excluded."""
    best = {}
    for column, pick in BEST.items():
        if column not in df:
            continue
        means = {i: v[0] for i, v in df[column].items() if v is not None and df.at[i, "method"] != "dense"}
        if means:
            target = pick(means.values())
            best[column] = {i for i, m in means.items() if abs(m - target) < 1e-12}
    return best


def styled(df: pd.DataFrame, digits: dict[str, int] | None = None):
    """``mean ± std`` strings with the best of each column in bold (a pandas Styler, rendered as HTML)."""
    digits = {"test acc (%)": 2, "FLOPs kept": 3, "params kept": 3, "speed-up b1": 2, "speed-up b64": 2,
              "wall time (min)": 1, **(digits or {})}
    best = best_cells(df)
    text = df.copy()
    for column, d in digits.items():
        if column in text:
            text[column] = [f"{v[0]:.{d}f} ± {v[1]:.{d}f}" if v is not None else "not measured" for v in df[column]]

    def bold(col):
        return ["font-weight: bold" if i in best.get(col.name, ()) else "" for i in col.index]
    return text.style.apply(bold, axis=0).hide(axis="index")


def ablations(default_folder: str | Path, ablation_root: str | Path, flops_target: float = 0.5) -> pd.DataFrame:
    """JST as specified (the comparison's jst row) against each ablation variant's folder under
    ``ablation_root``, with the same columns as ``comparison``."""
    frames = []
    default = comparison(default_folder, flops_target)
    frames.append(default[default["method"] == "jst"].assign(variant="JST (as specified)"))
    for folder in sorted(p for p in Path(ablation_root).iterdir() if (p / "table.json").exists()):
        frames.append(comparison(folder, flops_target).assign(variant=folder.name))
    df = pd.concat(frames, ignore_index=True)
    return df[["variant", *[c for c in df if c not in ("variant", "method")]]]


def schedules(scale: str = "cpu") -> pd.DataFrame:
    """The schedule of each model family at ``scale`` (jst.config presets): what the budget bought."""
    from .config import make_config
    rows = []
    for family, arch in (("small (LeNets)", "lenet5"), ("cifar (ResNets, VGG)", "resnet20"), ("imagenet", "resnet18")):
        c = make_config(scale, arch)
        rows.append({"family": family, "training images (cap)": c.max_train_samples or "all",
                     "coarse epochs": c.coarse_epochs, "search steps T": c.search_steps,
                     "M_t (before / after switch)": f"{c.search_epochs[0]} / {c.search_epochs[1]} (switch at {c.search_switch})",
                     "filter epochs N": c.filter_epochs, "fine-tune epochs": c.finetune_epochs,
                     "dense epochs": c.dense_epochs, "batch": c.batch_size})
    return pd.DataFrame(rows)


def sensitivity(csv: str | Path) -> pd.DataFrame:
    """The per-layer sensitivity curves written by ``jst.experiments`` (layer, fraction pruned, drop)."""
    df = pd.read_csv(csv)
    df.attrs["base_acc"] = float(df["base_acc"].iloc[0])
    return df


# Xiao et al. 2019 (NeurIPS), abstract: MNIST LeNet-5, unstructured
AUTOPRUNE_CLAIM = {"FLOPs kept": 0.07, "compression (weights)": 310.0, "accuracy drop (points)": 0.0,
                   "weights in LeNet-5": 431_080}


def unstructured_claim(run_dir: str | Path, dense_dir: str | Path) -> pd.DataFrame:
    """AutoPrune's published MNIST/LeNet-5 figures beside our unstructured run and the dense run of the
    same seed (the reference accuracy)."""
    r = json.loads((Path(run_dir) / "result.json").read_text())
    d = json.loads((Path(dense_dir) / "result.json").read_text())
    p = r["pruned"]
    ours = {"FLOPs kept": p["flops_ratio"], "compression (weights)": p.get("weight_compression_ratio"),
            "accuracy drop (points)": 100 * (d["pruned"]["test_acc"] - p["test_acc"]),
            "weights in LeNet-5": p.get("weights"), "test acc (%)": 100 * p["test_acc"],
            "dense test acc (%)": 100 * d["pruned"]["test_acc"], "run": str(run_dir)}
    claim = {**AUTOPRUNE_CLAIM, "test acc (%)": None, "dense test acc (%)": None,
             "run": "Xiao et al. 2019, abstract"}
    return pd.DataFrame([claim, ours], index=["published", "ours"])


__all__ = ["status", "comparison", "jst_against_baselines", "best_cells", "styled", "ablations", "schedules", "sensitivity",
           "unstructured_claim", "AUTOPRUNE_CLAIM"]
