"""One colour per method for the whole book (jst.report.style), whichever methods a figure shows; JST always
highlighted; Pareto plots whose axes separate the methods, error bars inside [0, 1]."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from jst.methods import METHODS  # noqa: E402
from jst.report import plots, style  # noqa: E402


def test_every_method_has_its_own_colour_whatever_a_figure_shows():
    assert set(METHODS) <= set(style.METHOD_COLORS)
    assert len(set(style.METHOD_COLORS.values())) == len(style.METHOD_COLORS)   # no two methods share one
    everything = plots.method_colors(METHODS)
    for subset in (["jst"], ["lstm", "jst"], ["jst", "dense", "slimming"], ["autoprune", "scratch", "jst"]):
        assert plots.method_colors(subset) == {m: everything[m] for m in style.method_order(subset)}
    assert plots.method_colors(["jst", "l1norm"])["jst"] == plots.method_colors(["ista", "jst"])["jst"] == "#d62728"


def test_an_unknown_method_gets_a_stable_colour_of_its_own():
    colour = style.method_color("my_new_method")
    assert colour == style.method_color("my_new_method") and colour in style.FALLBACK_COLORS
    assert colour not in style.METHOD_COLORS.values()
    assert style.method_order(["zeta", "jst", "alpha", "dense"]) == ["jst", "dense", "alpha", "zeta"]


def test_jst_is_highlighted():
    jst, other = style.method_style("jst"), style.method_style("l1norm")
    assert jst["linewidth"] > other["linewidth"] and jst["zorder"] > other["zorder"]
    assert jst["markeredgecolor"] == "black"


def frame():
    rows = [("dense", 1.0, 0.0, 0.99, 0.004), ("jst", 0.42, 0.03, 0.985, 0.01), ("jst", 0.21, 0.03, 0.98, 0.01),
            ("l1norm", 0.49, 0.0, 0.97, 0.02), ("slimming", 0.24, 0.001, 0.85, 0.2)]
    return pd.DataFrame(rows, columns=["method", "flops_ratio_mean", "flops_ratio_std", "test_acc_mean",
                                       "test_acc_std"])


def test_pareto_draws_dense_as_a_reference_line_and_separates_the_pruned_methods():
    ax = plots.pareto(frame(), x="flops_ratio_mean", y="test_acc_mean", xerr="flops_ratio_std",
                      yerr="test_acc_std").axes[0]
    low, high = ax.get_xlim()
    assert high < 0.6 and low > 0.1            # the range of the pruned points, not 0 .. 1.0
    dense = [line for line in ax.get_lines() if line.get_label().startswith("dense")]
    assert len(dense) == 1 and np.allclose(dense[0].get_ydata(), 0.99)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["dense (FLOPs 1.0)", "jst", "l1norm", "slimming"]
    containers = {c.get_label(): c for c in ax.containers}
    assert set(containers) == {"jst", "l1norm", "slimming"}
    for label, c in containers.items():
        assert to_hex(c.lines[0].get_color()) == style.method_color(label)
    assert containers["jst"].lines[0].get_zorder() > containers["l1norm"].lines[0].get_zorder()
    for c in containers.values():   # every error bar inside [0, 1]
        for bars in c.lines[2]:
            for segment in bars.get_segments():
                ys = np.asarray(segment)[:, 1]
                if np.ptp(ys) > 0:   # a vertical (accuracy) bar
                    assert ys.min() >= 0.0 and ys.max() <= 1.0 + 1e-12
    assert ax.get_ylim()[1] <= 1.0 + 0.01


def test_kept_channels_colours_by_the_book_palette():
    fig = plots.kept_channels({"lstm": {"c1": 3}, "jst": {"c1": 4}}, {"c1": 6})
    jst_bars, lstm_bars = fig.axes[0].containers
    assert to_hex(jst_bars[0].get_facecolor()) == style.method_color("jst")
    assert to_hex(lstm_bars[0].get_facecolor()) == style.method_color("lstm")
    assert to_hex(jst_bars[0].get_edgecolor()) == "#000000"


def test_per_layer_panels_wrap_two_to_a_row():
    """Four layers side by side shrank to ~130 px tall on a page: per-layer figures put two panels in a row."""
    g = torch.Generator().manual_seed(0)
    before = {f"conv{i}": torch.randn(16, generator=g) for i in range(4)}
    after = {n: v + 0.1 * torch.randn(16, generator=g) for n, v in before.items()}
    width, height = plots.filter_weight_distributions(before, after).get_size_inches()
    assert width / height <= 2.2
