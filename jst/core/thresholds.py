"""Flexible thresholding: a learned per-layer threshold policy (PAPER.md reconstruction item 4).

Each layer has a categorical distribution over the threshold set {0.6, ..., 0.8}; a search step draws
one threshold per layer, and REINFORCE with a moving-average baseline raises the probability of the
choices whose sub-network earned more reward (validation accuracy, minus gamma times the FLOPs above
the budget).
"""
from __future__ import annotations

import torch
from torch import nn

THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8)


def reward(val_acc: float, flops_ratio: float, budget: float, gamma: float = 2.0) -> float:
    """Validation accuracy (0-1) minus gamma * (FLOPs ratio above the budget)."""
    return val_acc - gamma * max(0.0, flops_ratio - budget)


class ThresholdPolicy(nn.Module):
    def __init__(self, layers: list[str], choices=THRESHOLDS, lr: float = 0.1, baseline_momentum: float = 0.9):
        super().__init__()
        self.layers, self.choices = list(layers), tuple(choices)
        self.logits = nn.Parameter(torch.zeros(len(self.layers), len(self.choices)))
        self.register_buffer("baseline", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.momentum = baseline_momentum
        self.optimizer = torch.optim.Adam([self.logits], lr=lr)

    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.logits.detach(), 1)

    def draw(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One choice index per layer."""
        return torch.multinomial(self.probabilities(), 1, generator=generator).squeeze(1)

    def thresholds(self, choice: torch.Tensor) -> dict[str, float]:
        return {name: self.choices[int(c)] for name, c in zip(self.layers, choice)}

    def entropy(self) -> float:
        """Mean per-layer entropy of the threshold distributions (nats; log 5 = 1.609 when uniform)."""
        p = self.probabilities()
        return float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())

    def update(self, choice: torch.Tensor, r: float, baseline: float | None = None) -> float:
        """One REINFORCE step; returns the advantage used. ``baseline``: this step's own baseline (the mean
        reward of control draws measured the same way), else the moving average of past rewards."""
        if int(self.updates) == 0:
            self.baseline.fill_(r)  # first reward sets the baseline: no spurious first push
        advantage = r - (float(self.baseline) if baseline is None else baseline)
        log_prob = torch.log_softmax(self.logits, 1).gather(1, choice[:, None]).sum()
        self.optimizer.zero_grad()
        (-advantage * log_prob).backward()
        self.optimizer.step()
        self.baseline.mul_(self.momentum).add_((1 - self.momentum) * r)
        self.updates += 1
        return advantage

    def state(self) -> dict:
        return {"module": self.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load(self, state: dict) -> None:
        self.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
