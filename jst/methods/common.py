"""What the baselines share: the dense network and its training, fine-tuning, and meeting a FLOPs budget.

Every method here trains on the official training set (``splits.full_train``) and never looks at the test
set; LSTM-guided pruning and AutoPrune split that set their own way (see their modules). Budgets are met
by ``jst.nets.budget`` (a uniform keep fraction or one global score threshold).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from jst.engine import checkpoint
from jst.engine.context import RunContext
from jst.engine.errors import ConfigError
from jst.engine.train import TRAINED, fit
from jst.methods.shared_dense import dense_images, load_dense
from jst.nets.flops import FlopsModel
from jst.nets.models import build_for


def dense_network(ctx: RunContext, gate: str | None = None) -> nn.Module:
    """The dense architecture, Kaiming-initialised from the run seed, on the run's device."""
    torch.manual_seed(ctx.cfg.seed)
    return build_for(ctx.cfg.arch, ctx.splits.info, gate=gate).to(ctx.device)


def pretrain(ctx: RunContext, model: nn.Module, source=None, stage: str = "pretrain", params=None) -> nn.Module:
    """The trained dense network a method prunes: the shared dense run's (``dense_from``), else trained here
    for coarse_epochs at coarse_lr, cosine (JST's coarse compute)."""
    cfg = ctx.cfg
    if cfg.dense_from:
        return load_dense(cfg, model).to(ctx.device)
    return fit(ctx, model, source if source is not None else ctx.splits.full_train, stage=stage,
               epochs=cfg.coarse_epochs, lr=cfg.coarse_lr, schedule="cosine", warmup=cfg.warmup_epochs, params=params)


def dense_source(cfg, own: str) -> str:
    """What a record says its dense reference is: the shared dense run, or the method's own ``own``."""
    return f"the shared dense run {cfg.dense_from} (dense_epochs)" if cfg.dense_from else own


def finetune(ctx: RunContext, model: nn.Module, source=None, stage: str = "finetune", params=None) -> nn.Module:
    """JST's fine-tuning schedule on the whole official training set, so methods differ only in what they
    hand to it; for ``finetune_epochs(ctx)`` epochs."""
    cfg = ctx.cfg
    return fit(ctx, model, source if source is not None else ctx.splits.full_train, stage=stage,
               epochs=finetune_epochs(ctx), lr=cfg.finetune_lr, schedule=cfg.finetune_schedule,
               batch_size=cfg.finetune_batch_size, params=params)


def finetune_epochs(ctx: RunContext) -> int:
    """``finetune_epochs``; or, with a training budget (``budget_epochs``), what is left of it when
    fine-tuning starts (measured: the images trained on so far, the shared dense run's included), so every
    method trains for the same budget. Decided once and kept in a checkpoint: a resumed run keeps it."""
    cfg = ctx.cfg
    if not cfg.budget_epochs:
        return cfg.finetune_epochs
    saved = load_stage(ctx, "finetune_plan")
    if saved is not None:
        return int(saved["epochs"])
    size = len(ctx.splits.full_train)
    spent = TRAINED["images"] + dense_images(cfg)
    epochs = round(cfg.budget_epochs - spent / size)
    if epochs < 1:
        raise ConfigError(f"budget_epochs {cfg.budget_epochs:g} leaves no fine-tuning: {cfg.method} had spent "
                          f"{spent / size:.1f} epochs before it")
    ctx.save_checkpoint("finetune_plan", {"epochs": epochs, "spent_images": spent})
    ctx.log({"stage": "finetune_plan", "epochs": epochs, "spent_epochs": spent / size})
    return epochs


def flops_model(ctx: RunContext, model: nn.Module) -> FlopsModel:
    return FlopsModel(model, ctx.splits.info.input_shape)


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


def load_stage(ctx: RunContext, stage: str) -> dict | None:
    path = ctx.checkpoint_path(stage)
    return checkpoint.load(path) if path.exists() else None


def outcome(model: nn.Module, dense: nn.Module | None, dense_source: str, mechanism: dict | None = None,
            **extra) -> dict:
    """What a method hands back to the pipeline. ``mechanism`` is the evidence that the method's own
    mechanism did the pruning: at least ``acted`` (bool) and ``reason`` (str); it becomes result.json's
    ``mechanism`` section (see ``jst.methods.evidence``)."""
    return {"model": model, "dense_model": dense, "dense_source": dense_source, "extra": extra,
            "mechanism": mechanism}
