"""Did each run's own mechanism do its pruning? One row per record, from its ``mechanism`` section.

``python -m jst.report.mechanisms RESULTS_FOLDER`` prints the table as Markdown (the closing notes and the
book read the same function). A record older than the section says "not recorded", never a guess.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from jst.report.records import read_records

# The figure that shows each method's mechanism at work, from its section.
KEY_FIGURES = {
    "jst": ("rank_correlation_with_init", "rank correlation of the filter weights with their initialisation"),
    "ista": ("mechanism_share", "share of removed filters zeroed by the proximal step"),
    "autoprune": ("mechanism_share", "share of removed filters whose mask flipped in the rounds"),
    "lstm": ("mechanism_share", "share of removed filters removed by the controller's decisions"),
    "l1norm": ("mechanism_share", "share of removed filters chosen by the L1 criterion"),
    "slimming": ("removed_near_zero_share", "share of removed channels whose scale the L1 penalty drove under 0.01"),
}


def mechanism_table(root: str | Path) -> pd.DataFrame:
    rows = []
    for r in read_records(root, recursive=True):
        m = r.mechanism
        key, _ = KEY_FIGURES.get(r.method, (None, None))
        budget = r.raw.get("budget") or {}
        rows.append({"run": str(r.folder.relative_to(root)), "method": r.method, "seed": r.seed,
                     "acted": "not recorded" if m is None else m.get("acted"),
                     "key figure": None if m is None or key is None else m.get(key),
                     "FLOPs kept": r.pruned.flops_ratio,
                     "budget error (%)": 100 * budget.get("relative_error", float("nan")),
                     "collapsed layers": len(r.raw["pruned"].get("collapsed_layers", [])),
                     "test acc (%)": 100 * r.test_acc, "commit": (r.git_commit or "unknown")[:12],
                     "reason": None if m is None else m.get("reason")})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m jst.report.mechanisms RESULTS_FOLDER", file=sys.stderr)
        return 2
    print(mechanism_table(argv[0]).to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
