"""Did each run's own mechanism do its pruning? One row per record, from its ``mechanism`` section.

``python -m jst.report.mechanisms RESULTS_FOLDER`` prints the table as Markdown, then each verdict's reason
(the closing notes and the book read the same function). A record older than the section says "not
recorded", never a guess.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from jst.report.records import read_record, read_records

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
        method = f"{r.method} ({m['ablation']} ablation)" if m and m.get("ablation") else r.method
        rows.append({"run": str(r.folder.relative_to(root)), "method": method, "seed": r.seed,
                     "acted": "not recorded" if m is None else m.get("acted"),
                     "key figure": None if m is None or key is None else m.get(key),
                     "FLOPs kept": r.pruned.flops_ratio,
                     "budget error (%)": 100 * budget.get("relative_error", float("nan")),
                     "collapsed layers": len(r.raw["pruned"].get("collapsed_layers", [])),
                     "test acc (%)": 100 * r.test_acc, "commit": (r.git_commit or "unknown")[:12],
                     "reason": None if m is None else m.get("reason")})
    return pd.DataFrame(rows)


def _paired(a: list[float], b: list[float], digits: int = 1) -> str:
    """Mean of a - b in points, with Student's paired t over seeds: its 95% interval and p-value."""
    t = stats.ttest_rel(a, b)
    ci = t.confidence_interval()
    mean = 100 * (sum(a) - sum(b)) / len(a)
    return (f"{mean:+.{digits}f} points (95% interval {100 * ci.low:+.{digits}f} to {100 * ci.high:+.{digits}f}, "
            f"paired t over {len(a)} seeds: p = {t.pvalue:.2g})")


def _selection(records: list, name: str, digits: int) -> dict[str, str]:
    """JST's learned against its initial selection on Dval over seeds (per-seed gains, paired t)."""
    learned = [r.mechanism["dval_learned_selection"] for r in records]
    initial = [r.mechanism["dval_initial_selection"] for r in records]
    return {f"{name}_rank_corrs": ", ".join(f"{r.mechanism['rank_correlation_with_init']:.2f}" for r in records),
            f"{name}_dval_gains": ", ".join(f"{100 * (a - b):.{digits}f}" for a, b in zip(learned, initial)),
            f"{name}_dval_gain": _paired(learned, initial, digits),
            f"{name}_test": " / ".join(f"{100 * r.test_acc:.{digits}f}" for r in records)}


def _against_frozen(jst: list, frozen: list, name: str, digits: int) -> dict[str, str]:
    """JST's test accuracy against the frozen-filter-weight ablation's (random selection), seed by seed."""
    return {f"{name}_frozen_test": " / ".join(f"{100 * r.test_acc:.{digits}f}" for r in frozen),
            f"{name}_vs_frozen": _paired([r.test_acc for r in jst], [r.test_acc for r in frozen], digits)}


def _filter_weights(r, name: str) -> dict[str, str]:
    """How far one LeNet-5 run's filter weights moved: rank correlations, largest change, conv1's growth."""
    m = r.mechanism
    start, end = (r.method_details[f"{w}_filter_weights"]["conv1"] for w in ("initial", "final"))
    return {f"{name}_rank_corr": f"{m['rank_correlation_with_init']:.2f}",
            f"{name}_rank_corr_layers": ", ".join(f"{v:.2f} ({k})" for k, v in m["rank_correlation_per_layer"].items()),
            f"{name}_largest_change": f"{m['largest_change']:.2f}",
            f"{name}_conv1_growth": (f"{sum(abs(v) for v in start) / len(start):.2f} to "
                                     f"{sum(abs(v) for v in end) / len(end):.2f}"),
            f"{name}_overlap": f"{m['overlap_with_initial_selection']:.2f} (by chance: {m['overlap_by_chance']:.2f})",
            f"{name}_dval": f"{100 * m['dval_learned_selection']:.2f} against {100 * m['dval_initial_selection']:.2f}%",
            f"{name}_test_acc": f"{100 * r.test_acc:.2f}",
            **_projection(r, name)}


def _projection(r, name: str) -> dict[str, str]:
    """How much the budget projection sized a run's draws: the FLOPs the drawn thresholds kept before it, and
    the factor it scaled them by (above 1: the thresholds alone kept less than the budget), over the steps."""
    steps = r.method_details["candidates"]
    drawn = [c["drawn_flops_ratio"] for c in steps]
    scale = [c["threshold_scale"] for c in steps]
    return {f"{name}_drawn_flops": f"{min(drawn):.2f} to {max(drawn):.2f}",
            f"{name}_threshold_scale": f"{min(scale):.2f} to {max(scale):.2f}"}


def findings(root: str | Path) -> dict[str, str]:
    """The figures the reproduction notes quote from ``results/mechanism`` (formatted, for the book's glue):
    JST's learned against its initial selection on Dval (seeds 0-2 of the CIFAR-10 sample ResNet-20, of MNIST
    LeNet-5 and of LeNet-5 without the filter-weight regulariser) and against the frozen-filter-weight
    ablation on the test set (both benchmarks); LeNet-5's filter weights under Adam (the default there), SGD,
    and without their regulariser, and how much the budget projection sized the draws; Network Slimming's
    strength sweep on ResNet-20."""
    root = Path(root)
    r20, abl = root / "cifar10_sample-resnet20-cpu", root / "ablations" / "cifar10_sample-resnet20-cpu"
    jst = [read_record(r20 / f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    frozen = [read_record(abl / "frozen_filter_weights" / f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    lenet = [read_record(root / "mnist-lenet5-cpu" / f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    lenet_abl = root / "ablations" / "mnist-lenet5-cpu"
    lenet_frozen = [read_record(lenet_abl / "frozen_filter_weights" / f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    bare = [read_record(lenet_abl / "adam_no_filter_regularizer" / f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    out = {**_selection(jst, "jst", 1), **_selection(lenet, "lenet", 2), **_selection(bare, "lenet_no_reg", 2),
           **_projection(jst[0], "jst"),
           **_against_frozen(jst, frozen, "jst", 1), **_against_frozen(lenet, lenet_frozen, "lenet", 2)}
    for name, r in (("lenet", lenet[0]),
                    ("lenet_sgd", read_record(lenet_abl / "sgd_filter_optimizer" / "jst-f0.5-s0")),
                    ("lenet_sgd_no_reg", read_record(lenet_abl / "no_filter_regularizer" / "jst-f0.5-s0")),
                    ("lenet_no_reg", read_record(lenet_abl / "adam_no_filter_regularizer" / "jst-f0.5-s0"))):
        out.update(_filter_weights(r, name))
    sweep = []
    for folder in sorted(abl.glob("slimming_shrinkage_*"), key=lambda f: float(f.name.rsplit("_", 1)[1])):
        m = read_record(folder / "slimming-f0.5-s0").mechanism
        sweep.append(f"{folder.name.rsplit('_', 1)[1]}: {m['removed_near_zero_share']:.0%} and "
                     f"{m['kept_near_zero_share']:.0%}")
    out["slimming_sweep"] = "; ".join(sweep)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m jst.report.mechanisms RESULTS_FOLDER", file=sys.stderr)
        return 2
    table = mechanism_table(argv[0])
    print(table.drop(columns="reason").to_markdown(index=False, floatfmt=".3f"))
    print("\nReasons:\n")
    for run, reason in zip(table["run"], table["reason"]):
        print(f"- `{run}`: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
