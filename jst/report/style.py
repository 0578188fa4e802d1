"""How the book shows a comparison table: "mean ± std" cells, the best of each column in bold."""
from __future__ import annotations

import pandas as pd

from jst.report.prose import mean_std_text

# what "best" means per column of a comparison table (the dense reference row is never marked)
BEST = {"test acc (%)": max, "FLOPs kept": min, "params kept": min, "speed-up b1": max, "speed-up b64": max,
        "wall time (min)": min}
DIGITS = {"test acc (%)": 2, "FLOPs kept": 3, "params kept": 3, "speed-up b1": 2, "speed-up b64": 2,
          "wall time (min)": 1}


def best_cells(df: pd.DataFrame) -> dict[str, set[int]]:
    """Row indices holding the best mean of each column (ties included), the dense row excluded."""
    best = {}
    for column, pick in BEST.items():
        if column not in df:
            continue
        means = {i: v[0] for i, v in df[column].items()
                 if v is not None and ("method" not in df or df.at[i, "method"] != "dense")}
        if means:
            target = pick(means.values())
            best[column] = {i for i, m in means.items() if abs(m - target) < 1e-12}
    return best


def styled(df: pd.DataFrame, digits: dict[str, int] | None = None):
    """``mean ± std`` strings with the best of each column in bold (a pandas Styler, rendered as HTML). A row
    of one seed shows its value alone: it has no spread, not a spread of zero."""
    digits = {**DIGITS, **(digits or {})}
    best = best_cells(df)
    text = df.copy()
    seeds = df["seeds"] if "seeds" in df else pd.Series(2, index=df.index)
    for column, d in digits.items():
        if column in text:
            text[column] = [mean_std_text(v, n, d) for v, n in zip(df[column], seeds)]

    def bold(col):
        return ["font-weight: bold" if i in best.get(col.name, ()) else "" for i in col.index]
    return text.style.apply(bold, axis=0).hide(axis="index").set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap"}])  # a "mean ± std" cell stays on one line
