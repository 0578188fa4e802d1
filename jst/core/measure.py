"""Measuring a choice, not the training that follows it: a sub-network extracted from the target network,
its batch-norm statistics re-estimated on a few Dtrain batches, evaluated on Dval.

Every draw of one search step is measured this way from the same target, so their accuracies differ only
by the channels and widths chosen; the policy's per-step baseline (control draws), the final selection
among candidates and the learned-vs-initial filter-weight comparison all use it.
"""
from __future__ import annotations

import torch
from torch import nn

from jst.engine import distributed
from jst.engine.context import Context
from jst.engine.rng import generator
from jst.engine.train import evaluate
from jst.nets.prunable import Keep
from jst.nets.subnetwork import extract


@torch.no_grad()
def recalibrate(model: nn.Module, source, batches: int, gen: torch.Generator, batch_size: int, device) -> None:
    """Re-estimate every batch-norm's running statistics as the plain average over ``batches`` batches:
    removing channels changes what the next layers see, and stale statistics would measure that instead."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None   # cumulative average
    was_training = model.training
    model.train()
    for i, (x, _) in enumerate(source.batches(batch_size, train=True, generator=gen, device=device)):
        if i == batches:
            break
        model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    distributed.average_buffers(model)   # under torchrun each rank saw its own shard: one estimate for all
    model.train(was_training)


def choice_accuracy(ctx: Context, target: nn.Module, keep: Keep, *tag) -> tuple[float, nn.Module]:
    """Dval accuracy of the sub-network ``keep`` of ``target`` (recalibrated; ``target`` is not changed).
    ``tag`` names the recalibration batches' generator, so a resumed run measures the same value."""
    cfg = ctx.cfg
    sub = extract(target, keep)
    recalibrate(sub, ctx.splits.train, cfg.recalibration_batches, generator(cfg.seed, "recalibrate", *tag),
                cfg.batch_size, ctx.device)
    return evaluate(sub, ctx.splits.val, cfg.eval_batch_size, ctx.device, cfg.amp)["acc"], sub
