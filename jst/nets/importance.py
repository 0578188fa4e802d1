"""Channel-importance criteria, shared by the baselines and the sensitivity analysis.

Each returns {layer name: one score per filter}; ``keep_top`` turns scores into kept indices.
"""
from __future__ import annotations

import torch
from torch import nn

from jst.nets.prunable import Keep


@torch.no_grad()
def l1_norm(model: nn.Module) -> dict[str, torch.Tensor]:
    """Sum of absolute producer weights per filter (Li et al. 2017)."""
    modules = dict(model.named_modules())
    return {layer.name: modules[layer.name].weight.detach().abs().flatten(1).sum(1).cpu()
            for layer in model.prunable_layers()}


@torch.no_grad()
def bn_scale(model: nn.Module) -> dict[str, torch.Tensor]:
    """|gamma| of the layer's batch-norm (Network Slimming, Liu et al. 2017)."""
    modules = dict(model.named_modules())
    return {layer.name: modules[layer.norm].weight.detach().abs().cpu() for layer in model.prunable_layers()}


def keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (ascending) of the k highest scores (at least one)."""
    k = max(1, min(int(k), len(scores)))
    return torch.sort(torch.topk(scores, k, sorted=False).indices).values


def keep_fraction(scores: dict[str, torch.Tensor], fractions: dict[str, float]) -> Keep:
    """Per layer, keep round(fraction * width) highest-scoring filters (layers not named keep all)."""
    return {name: keep_top(s, round(fractions.get(name, 1.0) * len(s))) for name, s in scores.items()}
