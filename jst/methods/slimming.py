"""Network Slimming (Liu et al., ICCV 2017): L1 sparsity on batch-norm scales, one global threshold.

Training adds lambda * sign(gamma) to the gradient of every prunable layer's BN scale (the sub-gradient
of lambda * |gamma|, exactly as the authors' code does between backward and step); channels whose |gamma|
falls below one threshold shared by all layers are removed (``jst.nets.importance.bn_scale``), then the
network is fine-tuned.

The strength. Liu et al.'s lambda = 1e-4 acts over 160 CIFAR epochs; over a cpu-scale run of 10-15 epochs
the same lambda moves a scale by a few hundredths and the scales never separate. With
``slimming_lambda_schedule="scaled"`` (the default) lambda is sized to the run: the L1 term alone would
move an unopposed scale by ``slimming_shrinkage`` over the run, sum_t lr_t * lambda / (1 - momentum) (the
steady drift of SGD with momentum). "fixed" uses ``slimming_lambda`` as given.

Liu et al. set the threshold as a percentile of all scales (e.g. prune 70% of channels). Here the
threshold is the lowest one whose network meets the FLOPs budget (every layer keeping at least
``layer_floor`` of its channels), so the method lands on the same budget as every other; the removed
channels with the largest scales are then given back while the network stays within budget, since a
threshold stops one channel short of it. The ``mechanism`` section says whether the penalty chose the
removed channels: the share of them whose scale it drove to near zero (acted: at least half, as for every
method's mechanism share), unless most kept scales are near zero too (too strong a penalty: the threshold
then chose among dead channels). Sarle's bimodality coefficient and the median removed / kept scale are
reported beside it; the coefficient reads a spike at zero beside a spread of live scales as unimodal
(0.52 on ResNet-20 with 96% of the removed scales and none of the kept near zero), so it does not decide.
"""
from __future__ import annotations

import math

import torch

from jst.engine.context import RunContext
from jst.engine.train import fit, lr_at
from jst.methods.common import dense_network, finetune, flops_model, optimizer_hooks, outcome
from jst.methods.evidence import bimodality, from_shares, verdict
from jst.methods.ista import planned_steps
from jst.nets.budget import fill_in_order, keep_global
from jst.nets.importance import bn_scale
from jst.nets.subnetwork import extract

NEAR_ZERO = 1e-2  # a scale under this (they start at 1) has been driven to zero by the penalty
LIVE = 0.5        # over-penalised: at least this share of the kept scales is near zero too


def bn_scales(model) -> list[torch.nn.Parameter]:
    modules = dict(model.named_modules())
    return [modules[layer.norm].weight for layer in model.prunable_layers()]


def l1_strength(ctx: RunContext) -> float:
    """lambda: ``slimming_lambda`` ("fixed"), or the one whose unopposed drift over the run,
    sum_t lr_t * lambda / (1 - momentum), is ``slimming_shrinkage`` ("scaled")."""
    cfg = ctx.cfg
    if cfg.slimming_lambda_schedule == "fixed":
        return cfg.slimming_lambda
    per_epoch = planned_steps(ctx) / max(1, cfg.coarse_epochs)
    lr_sum = per_epoch * sum(lr_at("cosine", cfg.coarse_lr, e, cfg.coarse_epochs, warmup=cfg.warmup_epochs)
                             for e in range(cfg.coarse_epochs))
    return cfg.slimming_shrinkage * (1 - cfg.momentum) / lr_sum if lr_sum > 0 else cfg.slimming_lambda


def separation(scores: dict[str, torch.Tensor], keep) -> dict:
    """The mechanism section: did the L1 penalty choose the removed channels? A removed channel was chosen
    by the penalty when the penalty drove its scale to near zero (they start at 1): at least ``MOSTLY`` of the
    removed must be, and under ``LIVE`` of the kept (else the penalty zeroed more than the budget removes and
    the threshold chose among dead channels). Bimodality and the median gap are reported beside it."""
    removed, kept = [], []
    per_layer = {}
    for n, s in scores.items():
        mask = torch.zeros(len(s), dtype=torch.bool)
        mask[keep[n]] = True
        kept.append(s[mask])
        removed.append(s[~mask])
        per_layer[n] = {"bimodality": bimodality(s), "kept": int(mask.sum()), "width": len(s)}
    kept, removed, every = torch.cat(kept), torch.cat(removed), torch.cat(list(scores.values()))
    zeroed = int((removed < NEAR_ZERO).sum())
    dead_kept = float((kept < NEAR_ZERO).float().mean())
    result = from_shares("the L1 penalty (scale driven under 0.01)", zeroed, len(removed))
    acted = result["acted"] and dead_kept < LIVE
    reason = result["reason"] + f"; {dead_kept:.0%} of the kept scales are near zero too" + (
        "" if dead_kept < LIVE else ": the penalty zeroed more than the budget removes, the threshold chose among "
                                    "dead channels")
    gap = float(removed.median() / kept.median()) if len(removed) and kept.median() > 0 else None
    return verdict(acted, reason, removed_by_mechanism=zeroed, removed=len(removed),
                   mechanism_share=result["mechanism_share"], kept_near_zero_share=dead_kept,
                   bimodality=bimodality(every), median_ratio_removed_to_kept=gap, near_zero=NEAR_ZERO,
                   near_zero_share=float((every < NEAR_ZERO).float().mean()),
                   removed_near_zero_share=result["mechanism_share"] if len(removed) else None,
                   largest_removed=float(removed.max()) if len(removed) else None,
                   smallest_kept=float(kept.min()), per_layer=per_layer)


def run_slimming(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    model = dense_network(ctx)
    scales = bn_scales(model)
    lam = l1_strength(ctx)

    @torch.no_grad()
    def l1_subgradient(_optimizer) -> None:
        for g in scales:
            if g.grad is not None:
                g.grad.add_(lam * torch.sign(g))

    with optimizer_hooks(pre=l1_subgradient):
        # from scratch, as Liu et al. train with the penalty (never from the shared dense network)
        fit(ctx, model, ctx.splits.full_train, stage="sparsity", epochs=cfg.coarse_epochs, lr=cfg.coarse_lr,
            schedule="cosine", warmup=cfg.warmup_epochs)
    scores, flops = bn_scale(model), flops_model(ctx, model)
    keep, threshold = keep_global(scores, flops, cfg.flops_target, cfg.min_channels, floor=cfg.layer_floor)
    kept = {n: set(k.tolist()) for n, k in keep.items()}
    order = sorted(((float(s[i]), n, i) for n, s in scores.items() for i in range(len(s)) if i not in kept[n]),
                   reverse=True)
    filled = fill_in_order({n: len(k) for n, k in kept.items()}, [(n, i) for _, n, i in order], flops, cfg.flops_target)
    for n, i in filled:
        kept[n].add(i)
    keep = {n: torch.tensor(sorted(k), dtype=torch.long) for n, k in kept.items()}
    mechanism = separation(scores, keep)
    pruned = finetune(ctx, extract(model, keep))
    return outcome(pruned, model, "the sparsity-trained dense network (before channel removal)", mechanism=mechanism,
                   threshold=threshold if math.isfinite(threshold) else None, l1_lambda=lam,
                   lambda_schedule=cfg.slimming_lambda_schedule, filled_below_threshold=len(filled))
