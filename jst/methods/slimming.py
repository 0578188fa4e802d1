"""Network Slimming (Liu et al., ICCV 2017): L1 sparsity on batch-norm scales, one global threshold.

Training adds lambda * sign(gamma) to the gradient of every prunable layer's BN scale (the sub-gradient
of lambda * |gamma|, exactly as the authors' code does between backward and step); channels whose |gamma|
falls below one threshold shared by all layers are removed (``jst.nets.importance.bn_scale``), then the
network is fine-tuned.

Liu et al. set the threshold as a percentile of all scales (e.g. prune 70% of channels). Here the
threshold is the lowest one whose network meets the FLOPs budget, so the method lands on the same
budget as every other.
"""
from __future__ import annotations

import math

import torch

from jst.engine.context import RunContext
from jst.methods.common import dense_network, finetune, flops_model, optimizer_hooks, outcome, pretrain
from jst.nets.budget import keep_global
from jst.nets.importance import bn_scale
from jst.nets.subnetwork import extract


def bn_scales(model) -> list[torch.nn.Parameter]:
    modules = dict(model.named_modules())
    return [modules[layer.norm].weight for layer in model.prunable_layers()]


def run_slimming(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    model = dense_network(ctx)
    scales = bn_scales(model)

    @torch.no_grad()
    def l1_subgradient(_optimizer) -> None:
        for g in scales:
            if g.grad is not None:
                g.grad.add_(cfg.slimming_lambda * torch.sign(g))

    with optimizer_hooks(pre=l1_subgradient):
        pretrain(ctx, model, stage="sparsity")
    keep, threshold = keep_global(bn_scale(model), flops_model(ctx, model), cfg.flops_target, cfg.min_channels)
    pruned = finetune(ctx, extract(model, keep))
    return outcome(pruned, model, "the sparsity-trained dense network (before channel removal)",
                   threshold=threshold if math.isfinite(threshold) else None)
