"""The reproduction chapter's tables (jst.reproduction) say what the committed run records say: means and
stds over seeds from the comparison's runs, the best cells, JST's standing and AutoPrune's claim."""
import json
import statistics
from pathlib import Path

import pytest

from jst import reproduction

RESULTS = Path(__file__).resolve().parents[1] / "results"
MNIST = RESULTS / "compare" / "mnist-lenet5-cpu"


def runs(method, target):
    return [json.loads(p.read_text()) for p in sorted(MNIST.glob(f"{method}-f{target:g}-s*/result.json"))]


def test_comparison_means_and_stds_come_from_the_runs():
    df = reproduction.comparison(MNIST, 0.5).set_index("method")
    for method in ("jst", "l1norm", "autoprune"):
        accs = [100 * r["pruned"]["test_acc"] for r in runs(method, 0.5)]
        mean, std = df.loc[method, "test acc (%)"]
        assert mean == pytest.approx(statistics.fmean(accs)) and std == pytest.approx(statistics.stdev(accs))
        assert df.loc[method, "seeds"] == len(accs) == 3


def test_best_cells_skip_the_dense_reference():
    df = reproduction.comparison(MNIST, 0.5)
    best = reproduction.best_cells(df)
    dense = df.index[df["method"] == "dense"][0]
    assert all(dense not in rows for rows in best.values())
    top = max(v[0] for m, v in zip(df["method"], df["test acc (%)"]) if m != "dense")
    assert {df.at[i, "test acc (%)"][0] for i in best["test acc (%)"]} == {top}
    assert "font-weight: bold" in reproduction.styled(df).to_html()


def test_jst_standing_names_the_best_other_method():
    r = reproduction.jst_against_baselines(MNIST, 0.5)
    df = reproduction.comparison(MNIST, 0.5)
    others = df[~df["method"].isin(["jst", "dense"])]
    assert r["best other"] == others.loc[others["test acc (%)"].map(lambda v: v[0]).idxmax(), "method"]
    assert r["verdict"] in ("JST ahead", "JST behind", "within the seed spread")
    assert reproduction.jst_against_baselines(MNIST, 0.33) is None  # no runs at that target


def test_autoprune_claim_beside_our_unstructured_run():
    df = reproduction.unstructured_claim(RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0", MNIST / "dense-f1-s0")
    assert df.loc["published", "compression (weights)"] == 310
    ours = json.loads((RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0" / "result.json").read_text())["pruned"]
    assert df.loc["ours", "FLOPs kept"] == ours["flops_ratio"] <= 0.07 + 1e-9
    assert df.loc["ours", "compression (weights)"] == ours["weight_compression_ratio"]
