"""What the baselines share: the dense network and its training, fine-tuning, and meeting a FLOPs budget.

Every method here trains on the official training set (``splits.full_train``) and never looks at the test
set; LSTM-guided pruning and AutoPrune split that set their own way (see their modules). Budgets are met
with ``jst.nets.flops.FlopsModel``, which gives the exact FLOPs of any per-layer widths in microseconds, so a
bisection over a uniform keep fraction or over a global score threshold costs nothing.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from jst.engine import checkpoint
from jst.engine.errors import ConfigError
from jst.engine.train import fit
from jst.nets.flops import FlopsModel
from jst.nets.importance import keep_top
from jst.nets.models import build_model
from jst.nets.prunable import Keep


def dense_network(ctx, gate: str | None = None) -> nn.Module:
    """The dense architecture, Kaiming-initialised from the run seed, on the run's device."""
    cfg, info = ctx.cfg, ctx.splits.info
    torch.manual_seed(cfg.seed)
    return build_model(cfg.arch, info.num_classes, info.channels, info.image_size, gate=gate).to(ctx.device)


def pretrain(ctx, model: nn.Module, source=None, stage: str = "pretrain", params=None) -> nn.Module:
    """Train the dense network before pruning: coarse_epochs at coarse_lr, cosine (JST's coarse compute)."""
    cfg = ctx.cfg
    return fit(ctx, model, source if source is not None else ctx.splits.full_train, stage=stage,
               epochs=cfg.coarse_epochs, lr=cfg.coarse_lr, schedule="cosine", params=params)


def finetune(ctx, model: nn.Module, source=None, stage: str = "finetune", params=None) -> nn.Module:
    """JST's fine-tuning schedule on the whole official training set, so methods differ only in what they
    hand to it."""
    cfg = ctx.cfg
    return fit(ctx, model, source if source is not None else ctx.splits.full_train, stage=stage,
               epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, schedule=cfg.finetune_schedule,
               batch_size=cfg.finetune_batch_size, params=params)


def flops_model(ctx, model: nn.Module) -> FlopsModel:
    return FlopsModel(model, ctx.splits.info.input_shape)


def keep_uniform(scores: dict[str, torch.Tensor], flops: FlopsModel, budget: float,
                 min_keep: int = 1, iterations: int = 40) -> tuple[Keep, float]:
    """The same keep fraction f in every layer (the highest-scoring round(f * width) filters), f the largest
    (by bisection) whose network keeps at most ``budget`` of the dense FLOPs. Returns (keep, f)."""
    def keep_at(f: float) -> Keep:
        return {n: keep_top(s, max(min_keep, round(f * len(s)))) for n, s in scores.items()}

    best, lo, hi = keep_at(1.0), 0.0, 1.0
    if flops.ratio(best) <= budget:
        return best, 1.0
    best = keep_at(0.0)
    if flops.ratio(best) > budget:
        raise ConfigError(f"FLOPs budget {budget} is below what the architecture allows")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        candidate = keep_at(mid)
        if flops.ratio(candidate) <= budget:
            lo, best = mid, candidate
        else:
            hi = mid
    return best, lo


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


@contextmanager
def optimizer_hooks(pre=None, post=None):
    """Run ``pre(optimizer)`` before and ``post(optimizer)`` after every optimizer step taken inside the
    block: how a method adds a sub-gradient (slimming) or a proximal step (ISTA) to ``jst.engine.train.fit``'s
    loop without a loop of its own."""
    def hook(fn):
        def call(optimizer, args, kwargs) -> None:
            fn(optimizer)   # returns None: torch would read a value as replacement arguments
        return call

    handles = []
    if pre is not None:
        handles.append(register_optimizer_step_pre_hook(hook(pre)))
    if post is not None:
        handles.append(register_optimizer_step_post_hook(hook(post)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def load_stage(ctx, stage: str) -> dict | None:
    path = ctx.checkpoint_path(stage)
    return checkpoint.load(path) if path.exists() else None


def outcome(model: nn.Module, dense: nn.Module | None, dense_source: str, **extra) -> dict:
    return {"model": model, "dense_model": dense, "dense_source": dense_source, "extra": extra}
