"""A run whose pruning came from a fallback is labelled so in the book's tables and plots, never shown as
the method (records.mechanism_summary, plots.pareto, plots.kept_channels)."""
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from jst.report import plots  # noqa: E402
from jst.report.records import is_fallback, mechanism_summary, read_record  # noqa: E402

LSTM = read_record(Path(__file__).parents[1] / "results" / "mechanism" / "mnist-lenet5-cpu" / "lstm-f0.5-s0")


def record(acted, **section):
    """The committed LSTM record with its mechanism verdict set to ``acted`` ("missing": an old record)."""
    raw = {k: v for k, v in LSTM.raw.items() if k != "mechanism"}
    if acted != "missing":
        raw["mechanism"] = {**LSTM.mechanism, "acted": acted, **section}
    return dataclasses.replace(LSTM, raw=raw)


def test_summary_counts_the_runs_that_fell_back():
    assert mechanism_summary([record(True), record(True)]) == "acted 2/2"
    assert mechanism_summary([record(True), record(False), record(False)]) == "fallback 2/3"
    assert mechanism_summary([record(None)]) == "n/a"
    frozen = record(True, ablation="frozen_filter_weights")   # an ablation whose switch held is not the method
    assert mechanism_summary([frozen, frozen]) == "ablation held 2/2"
    assert mechanism_summary([frozen, record(False, ablation="frozen_filter_weights")]) == "fallback 1/2"
    assert mechanism_summary([record(True), record("missing")]) == "not recorded"
    assert is_fallback("fallback 1/3") and not is_fallback("acted 3/3") and not is_fallback(None)


def test_pareto_draws_a_fallback_hollow_and_says_so():
    df = pd.DataFrame({"method": ["jst", "lstm"], "flops_ratio": [0.5, 0.5], "test_acc": [0.9, 0.8],
                       "mechanism": ["acted 3/3", "fallback 2/3"]})
    ax = plots.pareto(df).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["jst", "lstm (fallback 2/3: not the method)"]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}   # errorbar: (data line, caps, bars)
    assert lines["lstm (fallback 2/3: not the method)"].get_markerfacecolor() == "none"
    assert lines["jst"].get_markerfacecolor() != "none"


def test_kept_channels_hatches_a_fallback():
    widths = {"jst": {"conv1": 3, "conv2": 8}, "lstm": {"conv1": 4, "conv2": 6}}
    fig = plots.kept_channels(widths, {"conv1": 6, "conv2": 16}, mechanism={"jst": "acted 1/1", "lstm": "fallback 1/1"})
    ax = fig.axes[0]
    jst_bars, lstm_bars = ax.containers
    assert all(bar.get_hatch() == "//" for bar in lstm_bars) and not any(bar.get_hatch() for bar in jst_bars)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["jst", "lstm (fallback 1/1: not the method)"]
