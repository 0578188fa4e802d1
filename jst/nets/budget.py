"""Meeting a FLOPs budget: the largest setting of a per-layer keep rule whose network fits.

``jst.nets.flops.FlopsModel`` gives the exact FLOPs of any per-layer widths in microseconds, so a bisection
over a rule's one free number costs nothing. JST's budget projection scales its thresholds this way
(``jst.core.sampler.fit_to_budget``); L1-norm and the LSTM's fallback keep one fraction of every layer
(``keep_uniform``); Slimming, ISTA and AutoPrune keep the filters above one global score (``keep_global``).
"""
from __future__ import annotations

from typing import Callable

import torch

from jst.engine.errors import ConfigError
from jst.nets.flops import FlopsModel
from jst.nets.importance import keep_top
from jst.nets.prunable import Keep


def largest_fitting(keep_at: Callable[[float], Keep], ratio: Callable[[Keep], float], budget: float,
                    iterations: int = 40) -> tuple[Keep, float]:
    """The largest s in [0, 1] (by bisection) whose ``keep_at(s)`` keeps at most ``budget`` of the dense
    FLOPs; s = 1 when everything fits. Returns (keep, s)."""
    keep = keep_at(1.0)
    if ratio(keep) <= budget:
        return keep, 1.0
    lo, hi, best = 0.0, 1.0, keep_at(0.0)
    if ratio(best) > budget:
        raise ConfigError(f"FLOPs budget {budget} is below what the architecture allows")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        candidate = keep_at(mid)
        if ratio(candidate) <= budget:
            lo, best = mid, candidate
        else:
            hi = mid
    return best, lo


def keep_uniform(scores: dict[str, torch.Tensor], flops: FlopsModel, budget: float,
                 min_keep: int = 1, iterations: int = 40) -> tuple[Keep, float]:
    """The same keep fraction f in every layer (the highest-scoring round(f * width) filters), f the largest
    (by bisection) whose network keeps at most ``budget`` of the dense FLOPs. Returns (keep, f)."""
    def keep_at(f: float) -> Keep:
        return {n: keep_top(s, max(min_keep, round(f * len(s)))) for n, s in scores.items()}

    return largest_fitting(keep_at, flops.ratio, budget, iterations)


def keep_global(scores: dict[str, torch.Tensor], flops: FlopsModel, budget: float,
                min_keep: int = 1) -> tuple[Keep, float]:
    """One threshold t for all layers: keep the filters scoring above t (at least ``min_keep`` per layer),
    t the smallest such that the network keeps at most ``budget`` of the dense FLOPs. Returns (keep, t);
    t = -inf when everything fits."""
    def keep_above(t: float) -> Keep:
        return {n: keep_top(s, max(min_keep, int((s > t).sum()))) for n, s in scores.items()}

    candidates = [float("-inf")] + torch.cat([s.flatten().double() for s in scores.values()]).unique().tolist()
    if flops.ratio(keep_above(candidates[-1])) > budget:
        raise ConfigError(f"FLOPs budget {budget} is below what the architecture allows")
    lo, hi = 0, len(candidates) - 1          # the answer lies in [lo, hi]; candidates[hi] always fits
    while lo < hi:
        mid = (lo + hi) // 2
        if flops.ratio(keep_above(candidates[mid])) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return keep_above(candidates[lo]), candidates[lo]
