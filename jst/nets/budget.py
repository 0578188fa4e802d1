"""Meeting a FLOPs budget: the largest setting of a per-layer keep rule whose network fits.

``jst.nets.flops.FlopsModel`` gives the exact FLOPs of any per-layer widths in microseconds, so a bisection
over a rule's one free number costs nothing. JST's budget projection scales its thresholds this way
(``jst.core.sampler.fit_to_budget``); L1-norm keeps one fraction of every layer
(``keep_uniform``); Slimming, ISTA and AutoPrune keep the filters above one global score (``keep_global``), with
a per-layer floor (``floor_of``); ``top_up`` lands a keep just under the budget. ``budget_report`` and
``collapsed`` are what every record says about the budget and its layers.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from jst.engine.errors import ConfigError
from jst.nets.flops import FlopsModel
from jst.nets.importance import keep_top
from jst.nets.prunable import Keep

BUDGET_TOLERANCE = 0.02     # a method "meets" its FLOPs target when it lands within +-2% of it
COLLAPSE_FRACTION = 0.1     # a pruned layer keeping under 10% of its filters has collapsed


def floor_of(width: int, floor: float = 0.0, min_keep: int = 1) -> int:
    """The fewest filters a layer of ``width`` may keep: ``min_keep``, or ``floor`` of its width."""
    return min(width, max(min_keep, math.ceil(floor * width - 1e-9)))


def collapsed(pruned_widths: dict[str, int], dense_widths: dict[str, int],
              fraction: float = COLLAPSE_FRACTION) -> list[str]:
    """The layers that kept fewer than ``fraction`` of their dense filters (and fewer than the dense width)."""
    return [n for n, w in pruned_widths.items()
            if n in dense_widths and w < dense_widths[n] and w < fraction * dense_widths[n]]


def budget_report(achieved: float, target: float, tolerance: float = BUDGET_TOLERANCE) -> dict:
    """How close a pruned network's FLOPs ratio landed to its target (relative error)."""
    error = achieved / target - 1
    return {"target": target, "achieved": achieved, "relative_error": error,
            "within_tolerance": abs(error) <= tolerance + 1e-12, "tolerance": tolerance}


def largest_fitting(keep_at: Callable[[float], Keep], ratio: Callable[[Keep], float], budget: float,
                    iterations: int = 40, upper: float = 1.0) -> tuple[Keep, float]:
    """The largest s in [0, upper] (by bisection) whose ``keep_at(s)`` keeps at most ``budget`` of the dense
    FLOPs; s = upper when everything fits. Returns (keep, s)."""
    keep = keep_at(upper)
    if ratio(keep) <= budget:
        return keep, upper
    lo, hi, best = 0.0, upper, keep_at(0.0)
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
                 min_keep: int = 1, iterations: int = 40, floor: float = 0.0) -> tuple[Keep, float]:
    """The same keep fraction f in every layer (the highest-scoring round(f * width) filters), f the largest
    (by bisection) whose network keeps at most ``budget`` of the dense FLOPs. Returns (keep, f)."""
    def keep_at(f: float) -> Keep:
        return {n: keep_top(s, max(floor_of(len(s), floor, min_keep), round(f * len(s))))
                for n, s in scores.items()}

    return largest_fitting(keep_at, flops.ratio, budget, iterations)


def keep_global(scores: dict[str, torch.Tensor], flops: FlopsModel, budget: float,
                min_keep: int = 1, floor: float = 0.0) -> tuple[Keep, float]:
    """One threshold t for all layers: keep the filters scoring above t (at least ``min_keep``, and at least
    ``floor`` of the layer's filters, per layer), t the smallest such that the network keeps at most
    ``budget`` of the dense FLOPs. Returns (keep, t); t = -inf when everything fits."""
    def keep_above(t: float) -> Keep:
        return {n: keep_top(s, max(floor_of(len(s), floor, min_keep), int((s > t).sum())))
                for n, s in scores.items()}

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


def top_up(scores: dict[str, torch.Tensor], keep: Keep, ratio: Callable[[Keep], float], budget: float,
           minimum: dict[str, int] | None = None, max_swaps: int = 32) -> Keep:
    """Bring a keep that fits the budget up to just under it, for networks whose filters are coarse (one of
    LeNet-5's 16 conv2 filters is 4% of its FLOPs): add the remaining filter with the best score relative to
    its layer's mean while one fits; then, while it brings the network closer to the budget, drop the
    lowest-scoring kept filter of one layer (never under ``minimum``) and add again without it."""
    rel = {n: s.double() / s.double().abs().mean().clamp_min(1e-12) for n, s in scores.items()}
    minimum = minimum or {}

    def grow(keep: Keep, banned: tuple[str, int] | None = None) -> Keep:
        while True:
            best = None
            for name, k in keep.items():
                free = torch.ones(len(rel[name]), dtype=torch.bool)
                free[k] = False
                if banned is not None and banned[0] == name:
                    free[banned[1]] = False
                if not free.any():
                    continue
                i = int(torch.where(free, rel[name], torch.tensor(-torch.inf, dtype=torch.double)).argmax())
                trial = {**keep, name: torch.sort(torch.cat([k, torch.tensor([i])])).values}
                if ratio(trial) <= budget and (best is None or rel[name][i] > best[0]):
                    best = (rel[name][i], trial)
            if best is None:
                return keep
            keep = best[1]

    keep = grow({n: torch.sort(k.to(torch.long)).values for n, k in keep.items()})
    for _ in range(max_swaps):
        current, best = ratio(keep), None
        for name, k in keep.items():
            if len(k) <= minimum.get(name, 1):
                continue
            drop = int(k[rel[name][k].argmin()])
            trial = grow({**keep, name: k[k != drop]}, banned=(name, drop))
            if current < ratio(trial) <= budget and (best is None or ratio(trial) > ratio(best)):
                best = trial
        if best is None:
            return keep
        keep = best
    return keep


def fill_in_order(widths: dict[str, int], order: list, flops, budget: float) -> list:
    """Greedily add the channels of ``order`` (``(layer, index)``, best first) whose addition keeps the
    network within ``budget``; returns those added (``widths`` is updated). Unlike ``top_up`` (scores relative to
    each layer, with swaps), the order here is the method's own, across layers. A threshold stops one channel
    short of the budget, and one LeNet-5 conv1 channel is ~14% of its FLOPs: this lands within a channel
    of the smallest kind instead."""
    added = []
    for name, i in order:
        widths[name] += 1
        if flops.flops(widths) / flops.total <= budget:
            added.append((name, i))
        else:
            widths[name] -= 1
    return added
