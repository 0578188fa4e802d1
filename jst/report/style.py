"""How the book shows its results: one colour (and line) per method in every figure, and comparison tables
with "mean ± std" cells, the best of each column in bold."""
from __future__ import annotations

import zlib

import pandas as pd

from jst.report.prose import mean_std_text

# --- figures: one colour per method for the whole book ----------------------------------------------------------

# every method of jst.methods, in the order legends list them; JST keeps its red everywhere and is highlighted
METHOD_COLORS = {
    "jst": "#d62728",        # red
    "dense": "#4d4d4d",      # dark grey: the unpruned reference
    "scratch": "#ff7f0e",    # orange: JST's architecture retrained from scratch (Scratch-B)
    "l1norm": "#1f77b4",     # blue
    "slimming": "#2ca02c",   # green
    "ista": "#9467bd",       # purple
    "autoprune": "#8c564b",  # brown
    "lstm": "#17becf",       # cyan
}
# how sentences of the book name each method
METHOD_NAMES = {"jst": "JST", "dense": "the dense network", "scratch": "Scratch-B", "l1norm": "L1-norm",
                "slimming": "Network Slimming", "ista": "ISTA", "autoprune": "AutoPrune", "lstm": "the LSTM"}
# a name outside jst.methods gets one of these, the same one in every figure (chosen by a hash of the name)
FALLBACK_COLORS = ("#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94")
HIGHLIGHT = "jst"


def method_color(method: str) -> str:
    """The colour of ``method`` in every figure of the book (a stable fallback colour for an unknown name)."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return FALLBACK_COLORS[zlib.crc32(str(method).encode()) % len(FALLBACK_COLORS)]


def method_order(methods) -> list[str]:
    """The distinct names in ``methods``: those of jst.methods in METHOD_COLORS' order, then the others sorted."""
    names = set(methods)
    return [m for m in METHOD_COLORS if m in names] + sorted(str(m) for m in names - set(METHOD_COLORS))


def method_style(method: str) -> dict:
    """Matplotlib keywords for a method's line and markers: its colour; JST thicker, dark-edged, drawn on top."""
    color = method_color(method)
    if method == HIGHLIGHT:
        return {"color": color, "linewidth": 2.8, "markersize": 8, "markeredgecolor": "black",
                "markeredgewidth": 1.2, "zorder": 5}
    return {"color": color, "linewidth": 1.5, "markersize": 6, "markeredgecolor": color, "markeredgewidth": 1.0,
            "zorder": 3}


# --- tables ---------------------------------------------------------------------------------------------------

# what "best" means per column of a comparison table (the dense reference row is never marked): only the accuracy;
# the lowest FLOPs or wall time is no "best" (a method that keeps fewer FLOPs than asked did not do better)
BEST = {"test acc (%)": max}
DIGITS = {"test acc (%)": 2, "FLOPs kept": 3, "params kept": 3, "speed-up b1": 2, "speed-up b64": 2,
          "wall time (min)": 1}


# cells apart from their neighbours (a "mean ± std" cell is otherwise flush with the next)
CELL_PADDING = {"selector": "td, th", "props": "padding: 0.2em 0.7em"}

# the header a reader sees for a column of the book's tables (the frames keep their short names; display only)
HEADERS = {
    "test acc (%)": "test accuracy (%)", "FLOPs kept": "FLOPs kept (fraction of dense)",
    "params kept": "parameters kept (fraction of dense)", "speed-up b1": "CPU speed-up, batch 1 (x)",
    "speed-up b64": "CPU speed-up, batch 64 (x)", "finished": "runs finished", "planned": "runs planned",
    "wall hours spent": "wall time spent (h)", "hours to finish (estimate)": "wall time to finish (h, estimate)",
    "lr": "learning rate", "learns": "learns (last train acc > 2 x chance)", "epochs": "epochs",
    "JST acc (%)": "JST test accuracy (%)", "JST FLOPs kept": "JST FLOPs kept (fraction)",
    "its acc (%)": "its test accuracy (%)", "its FLOPs kept": "its FLOPs kept (fraction)",
    "variant acc (%)": "variant test accuracy (%)", "variant FLOPs kept": "variant FLOPs kept (fraction)",
    "FLOPs target": "FLOPs target (fraction)", "meets budget": "meets the FLOPs budget",
}


def header(column) -> str:
    """The header a reader sees for ``column`` (HEADERS, else the column's own name)."""
    return HEADERS.get(column, str(column))


def table(df: pd.DataFrame, formats: dict | None = None, precision: int = 2, na_rep: str = "-"):
    """A plain table of the book: no index, human headers with units (HEADERS), floats at ``precision`` digits
    unless ``formats`` (column -> format) says otherwise; a pandas Styler, rendered as HTML."""
    styler = df.style.hide(axis="index").format(precision=precision, na_rep=na_rep)
    formats = {k: v for k, v in (formats or {}).items() if k in df}
    if formats:   # only these columns (a dict with subset=None would reset every other column's precision)
        styler = styler.format(formats, na_rep=na_rep, subset=list(formats))
    return styler.format_index(header, axis="columns").set_table_styles([CELL_PADDING])


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
    return text.style.apply(bold, axis=0).hide(axis="index").format_index(header, axis="columns").set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap"}, CELL_PADDING])  # a "mean ± std" cell on one line
