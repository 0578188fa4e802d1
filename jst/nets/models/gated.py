"""Batch-norm with JST filter weights: y = alpha * BN(x) (or BN(alpha * x)).

The filter weight ``alpha`` is a parameter of the norm module, one per filter, named ``*.alpha`` so
that it can be kept apart from the network's parameters (own optimizer, own objective on Dval).
PAPER.md reconstruction item 2: after BN by default; ``before_bn`` is the authors'-code variant.
"""
from __future__ import annotations

import torch
from torch import nn

GATE_POSITIONS = ("after_bn", "before_bn")


class _Gated:
    position: str
    alpha: nn.Parameter

    def _init_gate(self, position: str) -> None:
        if position not in GATE_POSITIONS:
            raise ValueError(f"gate position must be one of {GATE_POSITIONS}, got {position!r}")
        self.position = position
        self.alpha = nn.Parameter(torch.ones(self.num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha.view((1, -1) + (1,) * (x.dim() - 2))
        if self.position == "after_bn":
            return super().forward(x) * a
        return super().forward(x * a)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", gate={self.position}"


class GatedBatchNorm2d(_Gated, nn.BatchNorm2d):
    def __init__(self, num_features: int, position: str = "after_bn"):
        super().__init__(num_features)
        self._init_gate(position)


class GatedBatchNorm1d(_Gated, nn.BatchNorm1d):
    def __init__(self, num_features: int, position: str = "after_bn"):
        super().__init__(num_features)
        self._init_gate(position)


def norm2d(channels: int, gate: str | None) -> nn.BatchNorm2d:
    """The norm of a prunable conv: gated when the model carries filter weights."""
    return GatedBatchNorm2d(channels, gate) if gate else nn.BatchNorm2d(channels)


def norm1d(features: int, gate: str | None) -> nn.BatchNorm1d:
    return GatedBatchNorm1d(features, gate) if gate else nn.BatchNorm1d(features)


def is_gated(module: nn.Module) -> bool:
    return isinstance(module, _Gated)


class GatedSyncBatchNorm(_Gated, nn.SyncBatchNorm):
    """Gated BN whose statistics span all ranks (``sync_bn``; GPU only)."""

    def __init__(self, num_features: int, position: str = "after_bn"):
        super().__init__(num_features)
        self._init_gate(position)
