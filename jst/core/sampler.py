"""The sampler (Algorithm 1): draw a compact sub-network from the filter weights.

Per layer: perturb the filter weights with Gumbel noise (random perturbation, sigma = 0 turns it off),
take p = softmax, sort descending, keep the fewest filters whose cumulative mass reaches the layer's
threshold tau. PAPER.md reconstruction item 3.
"""
from __future__ import annotations

import math

import torch

from jst.nets.budget import largest_fitting, top_up
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


def perturb_all(alphas: dict[str, torch.Tensor], sigma: float, generator: torch.Generator | None = None
                ) -> dict[str, torch.Tensor]:
    """Every layer's perturbed scores, drawn layer after layer from one generator."""
    return {name: perturb(a, sigma, generator) for name, a in alphas.items()}


def select(scores: dict[str, torch.Tensor], taus: dict[str, float], min_keep: int = 1, multiple: int = 1) -> Keep:
    """Each layer's kept filters at its threshold (no randomness: the scores are already perturbed)."""
    return {name: keep_by_threshold(s, taus[name], min_keep, multiple) for name, s in scores.items()}


def sample(alphas: dict[str, torch.Tensor], taus: dict[str, float], sigma: float = 0.05,
           generator: torch.Generator | None = None, min_keep: int = 1, multiple: int = 1) -> Keep:
    """One draw of Algorithm 1 over all layers."""
    return select(perturb_all(alphas, sigma, generator), taus, min_keep, multiple)


def fit_to_budget(scores: dict[str, torch.Tensor], taus: dict[str, float], flops_ratio, budget: float,
                  min_keep: int = 1, multiple: int = 1, iterations: int = 40, both_ways: bool = True
                  ) -> tuple[Keep, float]:
    """Budget projection: scale every layer's threshold by one factor s, the largest (by bisection) whose
    sub-network keeps at most ``budget`` of the dense FLOPs, then add the best remaining filters one at a time
    while they fit (``fill``), so the network lands just under the budget instead of a whole threshold step
    below it. ``both_ways`` lets s exceed 1 (thresholds raised up to 1) when the draw is under the budget and
    fills; off, s <= 1 and no fill, as in the first reconstruction. The same perturbed scores are reused.
    Returns (keep, s)."""
    upper = 1.0 / min(taus.values()) if both_ways else 1.0

    def keep_at(s: float) -> Keep:
        return select(scores, {n: min(max(taus[n] * s, 1e-9), 1.0) for n in scores}, min_keep, multiple)

    keep, scale = largest_fitting(keep_at, flops_ratio, budget, iterations, upper)
    return (fill(scores, keep, flops_ratio, budget, min_keep) if both_ways and multiple == 1 else keep), scale


def fill(scores: dict[str, torch.Tensor], keep: Keep, flops_ratio, budget: float, min_keep: int = 1) -> Keep:
    """Land just under the budget: ``jst.nets.budget.top_up`` by sampling probability (softmax of the scores),
    adding the most probable remaining filters, then swapping while it brings the network closer."""
    probs = {n: torch.softmax(s.double(), 0) for n, s in scores.items()}
    return top_up(probs, keep, flops_ratio, budget, minimum={n: min_keep for n in scores})
