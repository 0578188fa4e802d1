"""The published figures we can cite (PAPER.md, book/published.md), each beside the closest run of ours.

The published values are typed in here, once, with their source; everything beside them is read from the
records.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.experiments.compare import load_table, run_name
from jst.report.comparisons import comparison
from jst.report.prose import mean_std_text
from jst.report.records import is_record, read_record

# ``ours``: the results folder holding the closest run (a comparison, or a single run) and the method's name
# there; a single run names the dense run of its seed (``dense``)
PUBLISHED = [
    {"method": "ista", "source": "Ye et al. 2018 (ICLR)", "setting": "CIFAR-10, ResNet-20",
     "published": "about 37% fewer parameters at about 1 point lower accuracy",
     "ours": "compare/cifar10_sample-resnet20-cpu"},
    {"method": "autoprune", "source": "Xiao et al. 2019 (NeurIPS), abstract", "setting": "MNIST, LeNet-5, unstructured",
     "published": "7% of FLOPs, 310x compression, no accuracy drop", "ours": "autoprune-unstructured/mnist-lenet5-s0",
     "dense": "compare/mnist-lenet5-cpu/dense-f1-s0"},
    {"method": "autoprune", "source": "Xiao et al. 2019 (NeurIPS), abstract", "setting": "CIFAR-10, VGG-like",
     "published": "23% of FLOPs, 75x compression, no accuracy drop", "ours": "compare/cifar10_sample-vgg16-cpu"},
    {"method": "lstm", "source": "Zhong et al. 2018 (IJCAI)", "setting": "CIFAR-10, VGG-16",
     "published": "70.1% fewer FLOPs, accuracy comparable to the unpruned network",
     "ours": "compare/cifar10_sample-vgg16-cpu"},
    {"method": "lstm", "source": "Zhong et al. 2018 (IJCAI)", "setting": "CIFAR-10, ResNet-56",
     "published": "47.5% fewer FLOPs, comparable accuracy", "ours": "compare/cifar10_sample-resnet20-cpu"},
]

# Xiao et al. 2019 (NeurIPS), abstract: MNIST LeNet-5, unstructured
AUTOPRUNE_CLAIM = {"FLOPs kept": 0.07, "compression (weights)": 310.0, "accuracy drop (points)": 0.0,
                   "weights in LeNet-5": 431_080}


def _beside_comparison(folder: Path, method: str) -> dict | None:
    """A method of a comparison at FLOPs target 0.5: what it kept and its accuracy drop from the dense row
    (None when either has not run)."""
    df = comparison(folder, 0.5)
    mine, dense = df[df["method"] == method], df[df["method"] == "dense"]
    if mine.empty or dense.empty:
        return None
    m, d = mine.iloc[0], dense.iloc[0]
    drop = d["test acc (%)"][0] - m["test acc (%)"][0]
    spread = (f" (larger std {max(d['test acc (%)'][1], m['test acc (%)'][1]):.2f})"
              if min(m["seeds"], d["seeds"]) > 1 else " (one seed: no spread)")
    return {"FLOPs kept": mean_std_text(m["FLOPs kept"], m["seeds"], 3),
            "params kept": mean_std_text(m["params kept"], m["seeds"], 3),
            "accuracy drop (points)": f"{drop:.2f}{spread}", "seeds": str(m["seeds"])}


def published_beside_ours(results_root: str | Path) -> pd.DataFrame:
    """Each published figure beside the closest committed run of ours: FLOPs and parameters kept and the
    accuracy drop from the dense network of the same comparison (mean ± std over seeds), or "not run yet"."""
    root = Path(results_root)
    rows = []
    for p in PUBLISHED:
        row = {"method": p["method"], "source": p["source"], "published setting": p["setting"],
               "published result": p["published"], "ours": p["ours"]}
        folder = root / p["ours"]
        if is_record(folder):  # a single run, against the dense run of its seed
            r, d = read_record(folder).pruned, read_record(root / p["dense"]).pruned
            row.update({"FLOPs kept": f"{r.flops_ratio:.3f}", "params kept": f"{r.params_ratio:.3f}",
                        "accuracy drop (points)": f"{100 * (d.test_acc - r.test_acc):.2f}", "seeds": "1"})
        elif (folder / "table.json").exists():
            row.update(_beside_comparison(folder, p["method"]) or {"FLOPs kept": "not run yet"})
        else:
            row["FLOPs kept"] = "not run yet"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def unstructured_claim(run_dir: str | Path, comparison_folder: str | Path, seed: int = 0) -> pd.DataFrame:
    """AutoPrune's published MNIST/LeNet-5 figures beside our unstructured run and the dense run of the same
    seed in ``comparison_folder`` (the reference accuracy), with the dense network's seed std there: the
    size of a drop that is no drop."""
    p = read_record(run_dir).pruned
    d = read_record(Path(comparison_folder) / run_name("dense", 1.0, seed)).pruned
    dense = [x for x in load_table(comparison_folder) if x["method"] == "dense"]
    ours = {"FLOPs kept": p.flops_ratio, "compression (weights)": p.weight_compression_ratio,
            "accuracy drop (points)": 100 * (d.test_acc - p.test_acc),
            "weights in LeNet-5": p.weights, "test acc (%)": 100 * p.test_acc,
            "dense test acc (%)": 100 * d.test_acc,
            "dense seed std (points)": 100 * dense[0]["test_acc_std"] if dense else 0.0, "run": str(run_dir)}
    claim = {**AUTOPRUNE_CLAIM, "test acc (%)": None, "dense test acc (%)": None, "dense seed std (points)": None,
             "run": "Xiao et al. 2019, abstract"}
    return pd.DataFrame([claim, ours], index=["published", "ours"])
