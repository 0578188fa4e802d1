"""AutoPrune's step mask h(m) = [m > 0] and the straight-through estimators that give m a gradient.

The step function has no useful derivative; the estimator pretends it is a smooth stand-in (identity,
ReLU, leaky ReLU, softplus). Under the leaky one a unit that is off still receives gradient, so pruning
can be undone. The same estimator carries the regulariser R(m) (the sum of the masks) that pushes m toward
the FLOPs budget during AutoPrune's rounds (``jst.methods.autoprune``): with "relu" a unit, once off, gets
no gradient from R either, so only the leaky and smooth ones let the budget control bring units back.
"""
from __future__ import annotations

import torch
from torch import nn

ESTIMATORS = ("identity", "relu", "leaky_relu", "softplus")


def ste_derivative(kind: str, m: torch.Tensor, slope: float = 0.1) -> torch.Tensor:
    """dh/dm as the estimator pretends: the derivative of a smooth stand-in for the step function."""
    if kind == "identity":
        return torch.ones_like(m)
    if kind == "relu":                       # no gradient once off: pruning cannot be undone
        return (m > 0).to(m.dtype)
    if kind == "leaky_relu":                 # a small gradient where off: pruned units can recover
        return torch.where(m > 0, torch.ones_like(m), torch.full_like(m, slope))
    if kind == "softplus":
        return torch.sigmoid(m)
    raise ValueError(f"autoprune_ste must be one of {ESTIMATORS}, got {kind!r}")


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, m, kind, slope):
        ctx.save_for_backward(m)
        ctx.kind, ctx.slope = kind, slope
        return (m > 0).to(m.dtype)

    @staticmethod
    def backward(ctx, grad):
        (m,) = ctx.saved_tensors
        return grad * ste_derivative(ctx.kind, m, ctx.slope), None, None


def step_mask(m: torch.Tensor, kind: str = "leaky_relu", slope: float = 0.1) -> torch.Tensor:
    """h(m) = 1 where m > 0 else 0, with the straight-through gradient of ``kind``."""
    return _Step.apply(m, kind, slope)


class StepGate(nn.Module):
    """Parametrization of a filter gate (a gated BN's alpha): the stored tensor is m, alpha = h(m)."""

    def __init__(self, kind: str, slope: float):
        super().__init__()
        self.kind, self.slope = kind, slope

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return step_mask(m, self.kind, self.slope)


class WeightMask(nn.Module):
    """Parametrization of a weight: weight = w * h(m), one auxiliary parameter m per weight."""

    def __init__(self, m: torch.Tensor, kind: str, slope: float):
        super().__init__()
        self.m = nn.Parameter(m.clone())
        self.kind, self.slope = kind, slope

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * step_mask(self.m, self.kind, self.slope)
