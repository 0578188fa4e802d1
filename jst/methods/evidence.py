"""The evidence that a method's own mechanism did the pruning: result.json's ``mechanism`` section.

A method that prunes hands the pipeline ``verdict(acted, reason, **figures)``. ``acted`` is decided by
what did the pruning: when the filters removed by the method's mechanism (the penalty, the masks, the
controller, the learned filter weights) are fewer than ``MOSTLY`` of all removed filters, the rest came from
a fallback (a closing threshold, a uniform budget rule) and the run is labelled so everywhere.
"""
from __future__ import annotations

import numpy as np
import torch

MOSTLY = 0.5   # the mechanism must account for at least half of the removed filters


def verdict(acted: bool, reason: str, **figures) -> dict:
    """The ``mechanism`` section: ``acted``, a one-line ``reason``, and the figures behind it."""
    return {"acted": bool(acted), "reason": reason, **figures}


def share(by_mechanism: int, removed: int) -> float:
    """The share of the removed filters that the mechanism removed (1.0 when nothing was removed)."""
    return 1.0 if removed == 0 else by_mechanism / removed


def from_shares(name: str, by_mechanism: int, removed: int, **figures) -> dict:
    """The verdict of a method whose mechanism removes filters and whose fallback removes the rest."""
    s = share(by_mechanism, removed)
    acted = removed > 0 and s >= MOSTLY
    reason = (f"{name} removed {by_mechanism} of the {removed} removed filters ({s:.0%})"
              + ("" if acted else "; the rest came from the fallback, so the run is labelled a fallback"))
    return verdict(acted, reason, removed_by_mechanism=by_mechanism, removed=removed, mechanism_share=s, **figures)


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two score vectors (1.0 when either is constant and they are equal)."""
    a, b = a.detach().double().flatten().cpu().numpy(), b.detach().double().flatten().cpu().numpy()
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 1.0 if (a == b).all() else 0.0
    return float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their mean rank (``scipy.stats.rankdata``'s default, which
    tests/test_jst_mechanism.py checks against: importing scipy.stats would cost every JST run 1.5 s)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends + 1) / 2)[inverse]


def bimodality(scores: torch.Tensor) -> float:
    """Sarle's bimodality coefficient (skew^2 + 1) / kurtosis: above 5/9 (a uniform's) suggests two groups,
    the separation Network Slimming's L1 penalty should produce in the BN scales."""
    x = scores.detach().double().flatten().cpu().numpy()
    n = len(x)
    if n < 4 or x.std() == 0:
        return 0.0
    from scipy import stats
    g, k = stats.skew(x, bias=False), stats.kurtosis(x, bias=False)
    return float((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))
