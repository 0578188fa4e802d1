"""JST with one reconstructed choice changed, against JST as specified: the ablations of the grid.

Each variant is a comparison folder of its own under the ablation root (``jst.experiments.grid.ABLATIONS``);
Scratch-B of JST's architecture, which retrains JST's own network, is read from the default comparison.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jst.report.comparisons import comparison, mean_std, runs_by_seed
from jst.report.records import RunRecord, read_records
from jst.report.verdicts import AHEAD, BEHIND, decide, interval_text

SCRATCH_B = "scratch_b"  # JST's architecture trained from scratch: the comparison's ``scratch`` row


def _variants(ablation_root: str | Path) -> list[Path]:
    """The variant folders that have a table, by name."""
    return sorted(p for p in Path(ablation_root).iterdir() if (p / "table.json").exists())


def ablations(default_folder: str | Path, ablation_root: str | Path, flops_target: float = 0.5) -> pd.DataFrame:
    """JST as specified (the comparison's jst row) against each ablation variant's folder under
    ``ablation_root``, and Scratch-B of JST's architecture, with the same columns as ``comparison``."""
    frames = []
    default = comparison(default_folder, flops_target)
    frames.append(default[default["method"] == "jst"].assign(variant="JST (as specified)"))
    for folder in _variants(ablation_root):
        frames.append(comparison(folder, flops_target).assign(variant=folder.name))
    frames.append(default[default["method"] == "scratch"].assign(variant=SCRATCH_B))
    df = pd.concat(frames, ignore_index=True)
    return df[["variant", *[c for c in df if c not in ("variant", "method")]]]


def _same_draws(a: RunRecord, b: RunRecord) -> str:
    """How many search steps of run ``b`` drew run ``a``'s thresholds (runs without a search: "-")."""
    ca, cb = (r.method_details.get("candidates", []) for r in (a, b))
    if not ca or not cb:
        return "-"
    return f"{sum(x['thresholds'] == y['thresholds'] for x, y in zip(ca, cb))}/{len(ca)}"


def ablation_outcomes(default_folder: str | Path, ablation_root: str | Path,
                      flops_target: float = 0.5) -> pd.DataFrame:
    """Each ablation variant against JST as specified on the seeds both have (a variant with fewer seeds is
    not set against JST's other seeds): the accuracy difference in points, both tests and the verdict of the
    one rule (``jst.report.verdicts.decide``), and the same-seed differences, which show the direction while the seeds
    are too few to decide; and the seeds on which the variant ended in JST's own architecture (the same
    per-layer widths: always, for Scratch-B, which retrains it)."""
    default_folder, ablation_root = Path(default_folder), Path(ablation_root)
    df = ablations(default_folder, ablation_root, flops_target)
    jst_by_seed = runs_by_seed(default_folder, df.iloc[0]["runs"])
    rows = []
    for _, v in df.iloc[1:].iterrows():
        folder = default_folder if v["variant"] == SCRATCH_B else ablation_root / v["variant"]
        by_seed = runs_by_seed(folder, v["runs"])
        seeds = sorted(set(by_seed) & set(jst_by_seed))
        if not seeds:
            continue
        ours = [100 * by_seed[s].pruned.test_acc for s in seeds]
        theirs = [100 * jst_by_seed[s].pruned.test_acc for s in seeds]
        same = [s for s in seeds if by_seed[s].pruned.widths == jst_by_seed[s].pruned.widths]
        correct = [[by_seed[s].correct() for s in seeds], [jst_by_seed[s].correct() for s in seeds]]
        paired = all(c is not None for side in correct for c in side)
        d = decide([a / 100 for a in ours], [b / 100 for b in theirs],
                   *((np.stack(correct[0]), np.stack(correct[1])) if paired else (None, None)))
        word = {AHEAD: "higher than JST", BEHIND: "lower than JST"}.get(d["verdict"], d["verdict"])
        rows.append({"variant": v["variant"], "seeds": ", ".join(map(str, seeds)),
                     "variant acc (%)": mean_std(ours)[0], "JST acc (%)": mean_std(theirs)[0],
                     "variant - JST (points)": d["difference (points)"], "tests": interval_text(d),
                     "same-seed differences (points)": ", ".join(
                         f"s{s}: {a - b:+.2f}" for s, a, b in zip(seeds, ours, theirs)),
                     "variant FLOPs kept": v["FLOPs kept"][0],
                     "JST's architecture on seeds": ", ".join(map(str, same)) or "none",
                     "search steps drawing JST's thresholds": ", ".join(
                         f"s{s}: {_same_draws(jst_by_seed[s], by_seed[s])}" for s in seeds),
                     "verdict": word})
    return pd.DataFrame(rows)


def identical_variants(ablation_root: str | Path) -> list[list[str]]:
    """Groups of ablation variants whose runs ended in the same network (per-layer widths) with the same
    test accuracy on every seed they share: e.g. two fixed thresholds that the budget projection scaled to
    the same one. Such a group is one experiment, not several."""
    prints = {folder.name: {r.seed: (sorted(r.pruned.widths.items()), r.pruned.test_acc)
                            for r in read_records(folder)}
              for folder in _variants(ablation_root)}
    groups: list[list[str]] = []
    for name, runs in prints.items():
        for g in groups:
            first = prints[g[0]]
            common = set(first) & set(runs)
            if common and all(first[s] == runs[s] for s in common):
                g.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]
