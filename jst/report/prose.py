"""The numbers the book's prose quotes, as text made from the records, so that prose cannot drift from them.

The reproduction notes paste these values through the book's glue role (``glue_key`` names them); the
tables use the same spellings for a (mean, std) pair and a seed count.
"""
from __future__ import annotations

import re
from pathlib import Path

from jst.report.comparisons import comparison, pair, runs_by_seed


def seeds_text(n: int) -> str:
    """How many seeds a comparison rests on, in words ("1 seed", "3 seeds")."""
    return f"{n} seed" if n == 1 else f"{n} seeds"


def mean_std_text(v: tuple[float, float] | None, seeds: int, digits: int) -> str:
    """A (mean, std) pair as text: "mean ± std", the value alone for one seed (no spread, not a spread of
    zero), "not measured" for None."""
    if v is None:
        return "not measured"
    return f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}" if seeds > 1 else f"{v[0]:.{digits}f}"


def glue_key(comparison_name: str, flops_target: float) -> str:
    """The prefix of the values ``pasted_numbers`` glues for one comparison at one FLOPs target
    (``cifar10_sample-vgg16`` at 0.5 -> ``cifar10_sample_vgg16_f0_5``): a name the book's glue role takes."""
    return re.sub(r"\W", "_", f"{comparison_name}_f{flops_target:g}")


def _listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pasted_numbers(comparison_name: str, folder: str | Path, flops_target: float) -> dict[str, str]:
    """The numbers the reproduction notes quote about one comparison, keyed for glue: per method its mean
    test accuracy (``_acc``, "63.1%"), mean FLOPs kept (``_flops``), seed count (``_seeds``) and per-seed
    accuracies in seed order (``_per_seed``); and JST against each other method (``_jst_vs_<method>``: the
    mean gap, both tests and the verdict's word)."""
    df = comparison(folder, flops_target)
    prefix = glue_key(comparison_name, flops_target)
    texts = {}
    for _, row in df.iterrows():
        m = row["method"]
        by_seed = runs_by_seed(folder, row["runs"])
        texts[f"{prefix}_{m}_acc"] = f"{row['test acc (%)'][0]:.1f}%"
        texts[f"{prefix}_{m}_flops"] = f"{row['FLOPs kept'][0]:.2f}"
        texts[f"{prefix}_{m}_seeds"] = seeds_text(int(row["seeds"]))
        texts[f"{prefix}_{m}_per_seed"] = _listed([f"{100 * by_seed[s].pruned.test_acc:.1f}%" for s in sorted(by_seed)])
        if m != "jst" and (p := pair(df, "jst", m)):
            texts[f"{prefix}_jst_vs_{m}"] = f"{p['tests']}: {p['verdict'].replace('jst', 'JST')}"
    return texts
