"""Per-layer pruning sensitivity: the classic curves of Li et al. (2017).

Each prunable layer alone loses a fraction of its filters (the lowest by L1 norm, ``jst.nets.importance``),
every other layer stays whole, nothing is retrained, and the network is evaluated on Dval (never on the
test set). The accuracy drop against the fraction pruned tells which layers tolerate pruning.
"""
from __future__ import annotations

import pandas as pd
from torch import nn

from jst.engine.train import evaluate
from jst.nets.importance import keep_fraction, l1_norm
from jst.nets.subnetwork import extract

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sensitivity(model: nn.Module, source, *, fractions=FRACTIONS, criterion=l1_norm, batch_size: int = 512,
                device="cpu") -> pd.DataFrame:
    """One row per (layer, fraction pruned): filters kept, accuracy on ``source`` and the drop from the
    unpruned network's accuracy (``attrs['base_acc']``)."""
    model = model.to(device).eval()
    base = evaluate(model, source, batch_size, device)["acc"]
    scores = criterion(model)
    rows = []
    for layer, s in scores.items():
        for f in fractions:
            keep = keep_fraction({layer: s}, {layer: 1 - f})
            acc = evaluate(extract(model, keep), source, batch_size, device)["acc"]
            rows.append({"layer": layer, "fraction pruned": f, "filters kept": len(keep[layer]),
                         "filters": len(s), "val_acc": acc, "accuracy drop": base - acc})
    df = pd.DataFrame(rows)
    df.attrs["base_acc"] = base
    return df


def ranking(df: pd.DataFrame, at: float = 0.5) -> pd.DataFrame:
    """Layers ordered from most to least sensitive by the drop at fraction ``at`` (nearest measured)."""
    nearest = df.loc[(df["fraction pruned"] - at).abs() == (df["fraction pruned"] - at).abs().min()]
    return nearest.sort_values("accuracy drop", ascending=False)[["layer", "fraction pruned", "filters kept",
                                                                  "filters", "accuracy drop"]]
