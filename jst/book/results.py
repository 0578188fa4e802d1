"""Tables of finished runs for the results chapters, read through ``jst.report.records``."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.report.records import RunRecord, mechanism_summary, read_records
from jst.report.style import method_order, table


def dense_name(record: RunRecord) -> str:
    """What a record's "dense" network is: for JST the coarse-trained target network (its filter weights
    folded), for the other methods the dense network they prune; never to be confused with the dense
    baseline (``method="dense"``), trained on its own schedule."""
    return "coarse-trained target" if record.method == "jst" else "dense network"


def result_table(record: RunRecord, accuracy_ratio: bool = True) -> pd.DataFrame:
    """The unpruned network of one run against its pruned one: one row per measure, from the record. With
    ``accuracy_ratio=False`` the accuracies get no ratio (a run too short for its accuracies to mean much)."""
    dense, pruned, name = record.dense, record.pruned, dense_name(record)
    rows = {"FLOPs": (dense.flops, pruned.flops), "parameters": (dense.params, pruned.params),
            "channels in prunable layers": (sum(dense.widths.values()), sum(pruned.widths.values())),
            "test accuracy": (dense.test_acc, pruned.test_acc)}
    df = pd.DataFrame.from_dict(rows, orient="index", columns=[name, "pruned"], dtype=object)
    df[f"pruned / {name}"] = [p / d if d else None for d, p in zip(df[name], df["pruned"])]
    if not accuracy_ratio:
        df.loc["test accuracy", f"pruned / {name}"] = None
    return df


def collect_results(dirs) -> pd.DataFrame:
    """Every run record under ``dirs`` (at any depth), one row each."""
    rows = [{"dataset": r.dataset, "arch": r.arch, "method": r.method, "scale": r.scale, "seed": r.seed,
             "FLOPs target": r.flops_target, "FLOPs kept": r.pruned.flops_ratio,
             "params kept": r.pruned.params_ratio, "dense test acc": r.dense.test_acc, "test acc": r.pruned.test_acc,
             "meets budget": r.meets_budget, "wall time (min)": r.wall_time_s / 60, "record": str(r.folder)}
            for d in dirs for r in read_records(d, recursive=True)]
    return pd.DataFrame(rows)


# what each folder of records is, for a reader of the overview (the first folder under the records' root)
RECORD_KINDS = {
    "compare": "first grid (before the mechanisms were fixed)",
    "ablations": "first grid: JST ablations",
    "mechanism": "the mechanisms at work",
    "cpu": "pipeline acceptance runs",
    "lr_probe": "learning-rate probe: not a result",
    "schedule_probe": "dense schedule probes (#23): not a result",
    "autoprune-unstructured": "AutoPrune, unstructured",
}


def result_styled(record: RunRecord, accuracy_ratio: bool = True):
    """``result_table`` as the book shows it: the measure as a column, counts with thousands separators,
    accuracies and ratios to 4 digits, "-" where a ratio is left out."""
    def number(v):
        return f"{v:,}" if isinstance(v, int) else f"{v:.4f}"
    df = result_table(record, accuracy_ratio).reset_index(names="measure")
    return table(df, {c: number for c in df.columns[1:]})


def records_overview(table: pd.DataFrame) -> pd.DataFrame:
    """``collect_results`` summarised: one row per folder of records (under ``results/`` unless it says
    otherwise; its name says the data and network), with what it is, its methods (a count when there are
    many), how many runs it holds and how many of them met their FLOPs budget (seeds and targets: the CSV)."""
    folders = table["record"].map(lambda r: str(Path(r).parent))
    rows = []
    for folder, g in table.assign(folder=folders).groupby("folder", sort=True):
        archs = ", ".join(sorted(set(g["arch"])))
        kind = next((RECORD_KINDS[p] for p in Path(folder).parts if p in RECORD_KINDS),
                    f"made by these notebooks ({archs})")
        methods = method_order(g["method"])
        rows.append({"folder": folder.removeprefix("results/"), "what it is": kind,
                     "methods": ", ".join(methods) if len(methods) < 4 else f"{len(methods)} methods",
                     "runs, budget met": f"{len(g)}, {int(g['meets budget'].sum())}"})
    return pd.DataFrame(rows)


def csv_link(df: pd.DataFrame, filename: str, text: str) -> str:
    """An HTML link that downloads ``df`` as a CSV file, the data inside the link (works on a static page)."""
    import base64
    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return f'<a download="{filename}" href="data:text/csv;base64,{data}">{text}</a>'


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


# The baselines page's table: what a reader compares, narrow enough for the page (parameters, timings and
# hardware are in the reproduction and performance chapters)
PAGE_COLUMNS = ["method", "FLOPs target", "seeds", "test acc (%)", "FLOPs kept", "mechanism"]


def is_committed(out: str | Path) -> bool:
    """A comparison folder under results/: committed records, read and never re-run or rewritten."""
    return Path(out).resolve().is_relative_to(Path("results").resolve())


def comparison_intro(out: str | Path, dataset: str, arch: str, scale: str, seeds, flops_targets) -> str:
    """The sentence that says which comparison the page shows, and how far to trust it."""
    what = f"({dataset}, {arch}, `{scale}` scale; seeds {list(seeds)}; FLOPs targets {list(flops_targets)})"
    if not is_committed(out):
        return f"A comparison run here {what}."
    if Path(out).resolve().is_relative_to(Path("results/grid").resolve()):
        return f"The committed comparison `{out}` {what}: the protocol grid (the reproduction chapter says how)."
    return (f"The committed comparison `{out}` {what}: the first grid, run before the mechanisms were fixed, so "
            "read it with the caveat of the introduction.")


def baselines_table(out: str | Path, flops_targets) -> pd.DataFrame:
    """One row per method and FLOPs target, the page's columns only (the target only when there are several)."""
    from jst.report.comparisons import comparison
    rows = pd.concat([comparison(out, t) for t in flops_targets], ignore_index=True)
    columns = [c for c in PAGE_COLUMNS if c in rows and (c != "FLOPs target" or len(flops_targets) > 1)]
    rows = rows[columns]
    if "FLOPs target" in rows:
        rows = rows.assign(**{"FLOPs target": rows["FLOPs target"].map("{:g}".format)})
    return rows

