"""The LSTM-guided pruning's controller and its decisions (Zhong et al. 2018; ``jst.methods.lstm`` runs the
search): the policy that reads a parent layer by layer, its REINFORCE step, its input features, and how a
child's widths follow from the decisions (R_prune per decided layer, capped at the FLOPs budget)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from jst.nets.budget import BUDGET_TOLERANCE

FEATURES = 5   # per layer: width / dense width, position, parent FLOPs ratio, parent reward, previous decision


class Controller(nn.Module):
    """Reads a parent architecture layer by layer; outputs per layer the probability of pruning it."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.embed = nn.Linear(FEATURES, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def _run(self, features: torch.Tensor, decisions: torch.Tensor | None, generator=None):
        h = c = torch.zeros(1, self.cell.hidden_size)
        previous = torch.zeros(())
        taken, log_prob, probs = [], torch.zeros(()), []
        for i in range(len(features)):
            x = torch.cat([features[i], previous.view(1)])
            h, c = self.cell(torch.tanh(self.embed(x[None])), (h, c))
            logit = self.head(h)[0, 0]
            p = torch.sigmoid(logit)
            d = decisions[i].float() if decisions is not None else torch.bernoulli(p.detach(), generator=generator)
            log_prob = log_prob - F.binary_cross_entropy_with_logits(logit, d)
            taken.append(d)
            probs.append(p)
            previous = d
        return torch.stack(taken).bool(), log_prob, torch.stack(probs)

    def sample(self, features: torch.Tensor, generator=None) -> torch.Tensor:
        """Per-layer prune decisions drawn from the policy (one Bernoulli per layer, in order)."""
        with torch.no_grad():
            return self._run(features, None, generator)[0]

    def log_prob(self, features: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        return self._run(features, decisions)[1]

    @torch.no_grad()
    def probabilities(self, features: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """P(prune layer l | the given earlier decisions)."""
        return self._run(features, decisions)[2]


def reinforce(controller: Controller, optimizer: torch.optim.Optimizer,
              samples: list[tuple[torch.Tensor, torch.Tensor]], advantages: list[float]) -> None:
    """One policy-gradient step: raise the log-probability of decisions whose advantage is positive."""
    if not samples:
        return
    loss = -sum(a * controller.log_prob(f, d) for (f, d), a in zip(samples, advantages)) / len(samples)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def features(widths: dict[str, int], dense_widths: dict[str, int], flops_ratio: float,
             parent_reward: float) -> torch.Tensor:
    """The controller's input for one parent, one row per layer (the previous decision is added as it runs)."""
    n = len(widths)
    return torch.tensor([[widths[k] / dense_widths[k], i / max(n - 1, 1), flops_ratio, parent_reward]
                         for i, k in enumerate(widths)], dtype=torch.float32)


def pruned_widths(widths: dict[str, int], decisions: torch.Tensor, rate: float,
                  min_keep: int | dict[str, int]) -> dict[str, int]:
    """Remove ``rate`` of the filters (at least one) of every layer decided, never below ``min_keep`` (one
    number, or per layer: the layer floor of its dense width)."""
    out = {}
    for (name, w), d in zip(widths.items(), decisions.tolist()):
        floor = min_keep[name] if isinstance(min_keep, dict) else min_keep
        out[name] = max(floor, min(w - 1, round(w * (1 - rate)))) if d and w > floor else w
    return out


def capped_widths(widths: dict[str, int], decisions: torch.Tensor, rate: float, min_keep,
                  ratio: Callable[[dict[str, int]], float], budget: float) -> dict[str, int]:
    """The decided layers lose ``rate`` of their filters, unless that would take the network below the FLOPs
    budget: then they lose one filter at a time, always from the decided layer cut least so far (relative to
    its width), skipping a cut that would land under the budget's band, until the network meets the budget.
    The controller decides where to prune; a step never overshoots the budget."""
    full = pruned_widths(widths, decisions, rate, min_keep)
    if ratio(full) >= budget:
        return full
    low = budget * (1 - BUDGET_TOLERANCE)
    out, open_ = dict(widths), {n for n in widths if full[n] < widths[n]}
    while open_ and ratio(out) > budget:
        n = max(open_, key=lambda k: (out[k] / widths[k], k))
        trial = {**out, n: out[n] - 1}
        if ratio(trial) < low:            # this layer's filters are too coarse for what is left
            open_.discard(n)
            continue
        out = trial
        if out[n] == full[n]:
            open_.discard(n)
    return out


def reach_rate(cfg, ratio: Callable[[dict[str, int]], float], dense_widths: dict[str, int]) -> float:
    """R_prune, raised (never lowered) for a search too short for the paper's 0.2 (at most 0.9).

    f is the keep fraction that, in every layer, meets the budget; a layer pruned with probability 1/2 per
    controller epoch is decided about (lstm_reach * lstm_max_epochs) / 2 times along a lineage of children,
    so R = 1 - f ** (1 / that) lets the lineage reach the budget within lstm_reach of the epochs."""
    if cfg.lstm_reach <= 0:
        return cfg.lstm_prune_rate
    lo, hi = 0.0, 1.0                    # f, by bisection
    for _ in range(30):
        mid = (lo + hi) / 2
        w = {n: max(1, round(mid * d)) for n, d in dense_widths.items()}
        lo, hi = (mid, hi) if ratio(w) <= cfg.flops_target else (lo, mid)
    f = lo
    decisions = cfg.lstm_reach * cfg.lstm_max_epochs / 2
    return min(0.9, max(cfg.lstm_prune_rate, 1 - f ** (1 / decisions)))
