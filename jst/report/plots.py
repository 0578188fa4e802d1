"""The book's figures (seaborn / matplotlib). Each function takes records (DataFrames, dicts) and returns
a matplotlib Figure; none computes anything the run records do not hold."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from jst.report.performance import network_name
from jst.report.records import is_fallback
from jst.report.style import method_color, method_order, method_style

sns.set_theme(style="whitegrid", context="notebook")


def _wrap(n: int, max_cols: int = 2) -> int:
    """Panels per row: two, so that a figure of per-layer panels stays legible at the page's width."""
    return min(n, max_cols)


def training_curves(log: pd.DataFrame, title: str = "") -> plt.Figure:
    """Loss and accuracy per epoch for every epoch-based stage in ``log`` (coarse, finetune, dense)."""
    epochs = log[log["epoch"].notna()] if "epoch" in log else log.iloc[0:0]
    metrics = [m for m in ("train_loss", "train_acc", "val_acc") if m in epochs and epochs[m].notna().any()]
    long = epochs.melt(id_vars=["stage", "epoch"], value_vars=metrics, var_name="metric").dropna()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    sns.lineplot(long[long.metric == "train_loss"], x="epoch", y="value", hue="stage", marker="o", ax=axes[0])
    axes[0].set(ylabel="training loss", title="loss")
    sns.lineplot(long[long.metric != "train_loss"], x="epoch", y="value", hue="stage", style="metric",
                 marker="o", ax=axes[1])
    axes[1].set(ylabel="accuracy", title="accuracy (train: running, val: Dval)")
    for ax in axes:   # legends beside the axes, never over the curves
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cumulative_mass(masses: dict[str, np.ndarray], thresholds) -> plt.Figure:
    """Sorted cumulative softmax mass of each layer's filter weights, with the threshold set."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, m in masses.items():
        ax.plot(np.arange(1, len(m) + 1) / len(m), m, label=name)
    for tau in thresholds:
        ax.axhline(tau, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="fraction of filters kept (sorted by probability)", ylabel="cumulative softmax mass",
           title="where each threshold cuts")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig


def sampler_sweep(df: pd.DataFrame) -> plt.Figure:
    """Fraction of each layer's filters kept, per threshold, one line per perturbation strength (band:
    5th-95th percentile over draws)."""
    layers = list(dict.fromkeys(df["layer"]))
    g = sns.relplot(df, x="threshold", y="kept_fraction", hue="sigma", col="layer", col_wrap=_wrap(len(layers)),
                    kind="line", marker="o", palette="viridis", errorbar=("pi", 90), height=2.6, aspect=1.2,
                    col_order=layers)
    g.set_titles("{col_name}")
    g.set_axis_labels("threshold", "fraction of filters kept")
    g.figure.suptitle("size of the drawn layer, per perturbation strength sigma", y=1.02)
    return g.figure


def perturbation_overlap(df: pd.DataFrame) -> plt.Figure:
    """How much of the unperturbed choice survives the perturbation (Jaccard overlap), per layer."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.lineplot(df, x="sigma", y="overlap", hue="layer", marker="o", ax=ax, errorbar=("pi", 90))
    ax.set(xlabel="perturbation sigma", ylabel="Jaccard overlap with sigma = 0",
           title="how much the perturbation changes what is kept")
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def policy_probabilities(df: pd.DataFrame) -> plt.Figure:
    """The threshold policy's probabilities per layer over search steps (one panel per layer)."""
    layers = list(dict.fromkeys(df["layer"]))
    cols = _wrap(len(layers))
    g = sns.relplot(df, x="step", y="probability", hue="threshold", col="layer", col_wrap=cols, kind="line",
                    marker="o", palette="viridis", height=2.6, aspect=1.2, col_order=layers,
                    facet_kws={"sharey": True})
    g.set_titles("{col_name}")
    for ax in g.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    g.figure.suptitle("threshold policy: probability of each threshold after every search step", y=1.02)
    return g.figure


def candidates(df: pd.DataFrame, budget: float) -> plt.Figure:
    """Every search candidate's Dval accuracy against its FLOPs ratio, coloured by step; the budget and the
    selected candidate marked."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.scatterplot(df, x="flops_ratio", y="val_acc", hue="step", palette="viridis", s=70, ax=axes[0])
    sel = df[df["selected"]]
    axes[0].scatter(sel["flops_ratio"], sel["val_acc"], marker="*", s=300, facecolor="none", edgecolor="red",
                    label="selected")
    axes[0].axvline(budget, color="red", ls="--", lw=1, label="FLOPs budget")
    axes[0].set(xlabel="FLOPs kept (fraction of dense)", ylabel="Dval accuracy", title="candidates")
    axes[0].legend(fontsize="x-small")
    axes[1].plot(df["step"], df["val_acc"], marker="o", label="Dval accuracy")
    axes[1].plot(df["step"], df["reward"], marker="s", label="reward")
    axes[1].plot(df["step"], df["flops_ratio"], marker="^", label="FLOPs kept")
    axes[1].set(xlabel="search step t", title="over the search")
    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def widths_over_steps(widths: pd.DataFrame, dense: dict[str, int]) -> plt.Figure:
    """Kept fraction of each layer (rows) at every search step (columns)."""
    frac = widths[list(dense)].div(pd.Series(dense)).T
    fig, ax = plt.subplots(figsize=(min(2 + 0.6 * frac.shape[1], 12), 0.45 * len(dense) + 1.5))
    sns.heatmap(frac, annot=widths[list(dense)].T, fmt="d", cmap="Blues", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "fraction kept"})
    ax.set(xlabel="search step", ylabel="", title="channels kept per layer (numbers: channels)")
    fig.tight_layout()
    return fig


def filter_weight_distributions(before: dict, after: dict) -> plt.Figure:
    """Each layer's filter weights before the search (after coarse training) and after the last step."""
    rows = [{"layer": name, "when": when, "filter weight": float(v)}
            for when, weights in (("before search", before), ("after search", after))
            for name, w in weights.items() for v in np.asarray(w).ravel()]
    df = pd.DataFrame(rows)
    layers = list(before)
    g = sns.displot(df, x="filter weight", hue="when", col="layer", col_wrap=_wrap(len(layers)), kind="hist",
                    element="step", stat="density", common_norm=False, common_bins=False, height=2.6,
                    aspect=1.2, col_order=layers, facet_kws={"sharex": False, "sharey": False})
    g.set_titles("{col_name}")
    g.figure.suptitle("filter weights per layer, before and after the search", y=1.02)
    return g.figure


def sensitivity_curves(df: pd.DataFrame) -> plt.Figure:
    """Accuracy drop when each layer alone loses a fraction of its filters (no retraining)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(df, x="fraction pruned", y="val_acc", hue="layer", marker="o", ax=ax)
    ax.axhline(df.attrs.get("base_acc", np.nan), color="black", ls="--", lw=1, label="unpruned")
    ax.set(xlabel="fraction of the layer's filters pruned (lowest L1 norm first)", ylabel="Dval accuracy",
           title="per-layer sensitivity, no retraining")
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def method_colors(methods) -> dict[str, str]:
    """One colour per method, the same in every figure of the book whichever methods a figure shows
    (``jst.report.style.METHOD_COLORS``; a stable fallback colour for a name outside jst.methods)."""
    return {m: method_color(m) for m in method_order(methods)}


def legend_name(method: str, mechanism: str | None = None) -> str:
    """A method's name in a legend; runs whose pruning came from a fallback say so, never shown as the method."""
    return f"{method} ({mechanism}: not the method)" if is_fallback(mechanism) else method


def kept_channels(widths: dict[str, dict[str, int]], dense: dict[str, int], title: str = "",
                  mechanism: dict[str, str] | None = None) -> plt.Figure:
    """Fraction of each layer's channels kept by each method (bars side by side; 1 = the dense width).
    ``mechanism`` (method -> ``records.mechanism_summary``): a fallback's bars are hatched and labelled."""
    mechanism = mechanism or {}
    rows = [{"method": m, "layer": layer, "fraction kept": c / dense[layer], "channels": c}
            for m, w in widths.items() for layer, c in w.items()]
    df = pd.DataFrame(rows)
    layers = list(dense)
    colors = method_colors(widths)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(layers) * len(widths) + 2), 3.8))
    sns.barplot(df, x="layer", y="fraction kept", hue="method", order=layers, hue_order=list(colors),
                palette=colors, saturation=1, ax=ax)   # the exact book colours (no desaturation)
    for method, bars in zip(colors, ax.containers):
        if method == "jst":   # the method of the book: dark-edged, like its line in every other figure
            for bar in bars:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.2)
        if is_fallback(mechanism.get(method)):
            for bar in bars:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set(xlabel="", ylim=(0, 1.08), title=title or "channels kept per layer (fraction of the dense width)")
    ax.tick_params(axis="x", rotation=45 if len(layers) > 6 else 0)
    handles, names = ax.get_legend_handles_labels()
    for handle, name in zip(handles, names):
        if is_fallback(mechanism.get(name)):
            handle.set_hatch("//")
            handle.set_alpha(0.5)
    ax.legend(handles, [legend_name(n, mechanism.get(n)) for n in names], fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def pareto(df: pd.DataFrame, x: str = "flops_ratio", y: str = "test_acc", xerr: str | None = None,
           yerr: str | None = None) -> plt.Figure:
    """Accuracy against FLOPs kept for every pruning method, error bars = seed spread (std), clipped to the
    accuracy's range [0, 1] (or [0, 100] for percentages). The dense network is a horizontal reference line
    with its seed band, not a point at FLOPs 1.0, and the axes' ranges are set by the pruned points' means
    (x: with their FLOPs spread; y: with the dense band), so the methods stay apart; a longer error bar is cut
    at the axis. JST is drawn thicker, dark-edged and on top. Where ``df`` has a ``mechanism`` column, a
    method whose runs fell back is drawn hollow and dashed, and its legend says so."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    points = df.drop_duplicates(["method", x, y]).sort_values(x)
    top = 100.0 if points[y].max() > 1.0 else 1.0
    dense, pruned = points[points["method"] == "dense"], points[points["method"] != "dense"]
    dense_spread = dense[yerr].fillna(0.0) if yerr else 0.0
    if len(dense):
        level = float(dense[y].mean())
        spread = float(dense[yerr].mean()) if yerr and dense[yerr].notna().any() else 0.0
        ax.axhline(level, color=method_color("dense"), lw=1.5, ls="-.", zorder=1, label="dense (FLOPs 1.0)")
        if spread:
            ax.axhspan(max(level - spread, 0.0), min(level + spread, top), color=method_color("dense"), alpha=0.12,
                       lw=0, zorder=0)
    for method in method_order(pruned["method"]):
        part = pruned[pruned["method"] == method]
        labels = part["mechanism"].tolist() if "mechanism" in part else []
        fell_back = next((m for m in labels if is_fallback(m)), None)
        style = method_style(method)
        bars = None
        if yerr:
            spread = part[yerr].fillna(0.0)
            bars = [np.minimum(spread, part[y]), np.minimum(spread, top - part[y])]   # clipped to [0, top]
        ax.errorbar(part[x], part[y], xerr=part[xerr] if xerr else None, yerr=bars, marker="o", capsize=3,
                    label=legend_name(method, fell_back), ls="--" if fell_back else "-",
                    mfc="none" if fell_back else style["color"], **style)
    if len(pruned):
        low = (pruned[x] - (pruned[xerr].fillna(0) if xerr else 0)).min()
        high = (pruned[x] + (pruned[xerr].fillna(0) if xerr else 0)).max()
        pad = max(0.08 * (high - low), 0.02)
        ax.set_xlim(max(low - pad, 0.0), high + pad)
        # the y range holds every mean and the dense band; an error bar longer than that is cut at the axis
        # (one method's wide seed spread would otherwise squeeze all the others into a line)
        ys = pd.concat([pruned[y], dense[y] - dense_spread, dense[y] + dense_spread])
        ypad = max(0.08 * (ys.max() - ys.min()), 0.002 * top)
        ax.set_ylim(max(ys.min() - ypad, 0.0), min(ys.max() + ypad, top * 1.005))
    ax.set(xlabel="FLOPs kept (fraction of dense)", ylabel="test accuracy",
           title="accuracy vs FLOPs kept (bars: std over seeds)")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


# --- the Performance chapter (frames from jst.report.performance) ---------------------------------------------

def overhead_bars(df: pd.DataFrame) -> plt.Figure:
    """Training images/s of jst's step and of the bare loop (median, bars: min-max over repeats)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(df["variant"], df["median"], xerr=[df["median"] - df["min"], df["max"] - df["median"]], capsize=3,
            color=sns.color_palette("tab10", len(df)))
    ax.set(xlabel="training images/s (median; bars: min-max)", title="framework overhead (ResNet-20)")
    fig.tight_layout()
    return fig


def data_path_shares(df: pd.DataFrame) -> plt.Figure:
    """Data time per batch as a share of a ResNet-20 training step, per loader and dataset; 5% target line."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(df, x="dataset", y="share of a step", hue="loader", ax=ax)
    ax.axhline(0.05, color="black", ls="--", lw=1, label="target: 5%")
    ax.set(yscale="log", ylabel="data time / step time (log)", title="data path: loader time per batch")
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def search_breakdown(df: pd.DataFrame) -> plt.Figure:
    """Seconds per part of the search (inclusive: train_epoch contains nothing else; search contains all)."""
    parts = df[df["part"] != "search"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(parts, x="seconds", y="part", hue="case", ax=ax)
    ax.set(xscale="log", xlabel="seconds in the whole search (log)", ylabel="", title="where the search's time goes")
    ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def speedup_vs_flops(df: pd.DataFrame) -> plt.Figure:
    """Measured latency speed-up against the FLOPs ratio, per batch size; the target line 0.9 x FLOPs ratio."""
    batches = sorted(df["batch"].unique())
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 4), squeeze=False)
    top = max(df["FLOPs ratio"].max(), df["speed-up"].max()) * 1.1
    for ax, batch in zip(axes[0], batches):
        part = df[df["batch"] == batch]
        sns.scatterplot(part, x="FLOPs ratio", y="speed-up", hue="arch", style="option", s=70, ax=ax)
        line = np.linspace(1, top, 10)
        ax.plot(line, line, color="grey", lw=1, label="speed-up = FLOPs ratio")
        ax.plot(line, 0.9 * line, color="black", ls="--", lw=1, label="target: 0.9 x FLOPs ratio")
        ax.axhline(1, color="grey", ls=":", lw=1)
        ax.set(xlim=(1, top), ylim=(0, top), title=f"CPU latency, batch {batch}",
               xlabel="FLOPs ratio (dense / pruned)", ylabel="measured speed-up (dense / pruned latency)")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def scaling_curves(df: pd.DataFrame) -> plt.Figure:
    """Seconds per coarse epoch and per search step against depth and against training-set size."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, axis, x, label in ((axes[0], "depth", "depth", "ResNet depth"),
                               (axes[1], "size", "images", "images (Dtrain + Dval)")):
        part = df[df["axis"] == axis]
        for what, p in part.groupby("what"):
            p = p.sort_values(x)
            ax.errorbar(p[x], p["seconds"], yerr=[p["seconds"] - p["min"], p["max"] - p["seconds"]], marker="o",
                        capsize=3, label=what)
        ax.set(xlabel=label, ylabel="seconds (median; bars: min-max)", xticks=sorted(part[x].unique()))
        ax.legend()
    axes[0].set_title("vs depth")
    axes[1].set_title("vs data size (ResNet-20)")
    fig.tight_layout()
    return fig


def op_profile_bars(df: pd.DataFrame, batch: int) -> plt.Figure:
    """Per network, milliseconds of one forward pass by operator (stacked): what pruning channels removes. One
    row of horizontal bars per architecture, stacked vertically, so the figure stays legible at the page's width."""
    part = df[df["batch"] == batch]
    archs = list(dict.fromkeys(part["arch"]))
    nets = list(dict.fromkeys(part["network"]))
    fig, axes = plt.subplots(len(archs), 1, figsize=(8, 0.9 + (0.45 * len(nets) + 0.7) * len(archs)), squeeze=False)
    ops = part.groupby("operator")["ms"].sum().sort_values(ascending=False).index
    colors = dict(zip(ops, sns.color_palette("tab20", len(ops))))
    for ax, arch in zip(axes[:, 0], archs):
        table = part[part["arch"] == arch].pivot_table(index="network", columns="operator", values="ms", fill_value=0)
        table = table.reindex([n for n in nets if n in table.index][::-1])
        table = table[[o for o in ops if o in table]]
        table.index = [network_name(n) for n in table.index]
        table.plot.barh(stacked=True, ax=ax, color=[colors[o] for o in table.columns], legend=False, width=0.7)
        ax.set(title=f"{arch}, batch {batch}", ylabel="", xlabel="")
    axes[-1, 0].set_xlabel("ms per forward pass (eager)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[o]) for o in ops]
    fig.legend(handles, ops, fontsize="x-small", loc="center right")
    fig.tight_layout(rect=(0, 0, 0.78, 1))
    return fig
