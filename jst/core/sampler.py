"""The sampler (Algorithm 1): draw a compact sub-network from the filter weights.

Per layer: perturb the filter weights with Gumbel noise (random perturbation, sigma = 0 turns it off),
take p = softmax, sort descending, keep the fewest filters whose cumulative mass reaches the layer's
threshold tau. PAPER.md reconstruction item 3.
"""
from __future__ import annotations

import math

import torch

from jst.nets.prunable import Keep


def perturb(alpha: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """alpha + sigma * Gumbel(0, 1) noise."""
    alpha = alpha.detach().float().cpu()
    if sigma == 0:
        return alpha.clone()
    u = torch.rand(alpha.shape, generator=generator).clamp_(1e-12, 1 - 1e-12)
    return alpha - sigma * torch.log(-torch.log(u))


def keep_by_threshold(scores: torch.Tensor, tau: float, min_keep: int = 1, multiple: int = 1) -> torch.Tensor:
    """Indices (ascending) of the fewest filters whose softmax mass reaches ``tau``."""
    if not 0 < tau <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {tau}")
    p = torch.softmax(scores.double(), 0)
    order = torch.argsort(p, descending=True, stable=True)
    cumulative = torch.cumsum(p[order], 0)
    k = int(torch.searchsorted(cumulative, torch.tensor([tau], dtype=cumulative.dtype) - 1e-12)) + 1
    k = max(k, min_keep)
    k = min(math.ceil(k / multiple) * multiple, len(p))
    return torch.sort(order[:k]).values


def sample(alphas: dict[str, torch.Tensor], taus: dict[str, float], sigma: float = 0.05,
           generator: torch.Generator | None = None, min_keep: int = 1, multiple: int = 1) -> Keep:
    """One draw of Algorithm 1 over all layers."""
    return {name: keep_by_threshold(perturb(a, sigma, generator), taus[name], min_keep, multiple)
            for name, a in alphas.items()}


def fit_to_budget(scores: dict[str, torch.Tensor], taus: dict[str, float], flops_ratio, budget: float,
                  min_keep: int = 1, multiple: int = 1, iterations: int = 40) -> tuple[Keep, float]:
    """Budget projection: scale every layer's threshold by one factor s in (0, 1], the largest (by
    bisection) whose sub-network keeps at most ``budget`` of the dense FLOPs. The same perturbed scores
    are reused, so only the thresholds move. Returns (keep, s)."""
    def keep_at(s: float) -> Keep:
        return {n: keep_by_threshold(v, max(taus[n] * s, 1e-9), min_keep, multiple) for n, v in scores.items()}

    keep = keep_at(1.0)
    if flops_ratio(keep) <= budget:
        return keep, 1.0
    lo, hi, best = 0.0, 1.0, keep_at(0.0)
    if flops_ratio(best) > budget:
        raise ValueError(f"FLOPs budget {budget} is below what the architecture allows")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        candidate = keep_at(mid)
        if flops_ratio(candidate) <= budget:
            lo, best = mid, candidate
        else:
            hi = mid
    return best, lo
