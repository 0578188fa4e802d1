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
threshold stops one channel short of it. The ``mechanism`` section says whether the penalty separated the
scales (Sarle's bimodality coefficient, and the removed scales near zero next to the kept ones), i.e.
whether the threshold fell in a gap the penalty made or cut through scales of one kind: live ones (the
penalty too weak) or, when most kept scales are near zero as well, dead ones (too strong).
"""
from __future__ import annotations

import math

import torch

from jst.engine.context import RunContext
from jst.engine.train import lr_at
from jst.methods.common import dense_network, finetune, flops_model, optimizer_hooks, outcome, pretrain
from jst.methods.evidence import bimodality, verdict
from jst.methods.ista import fill, planned_steps
from jst.nets.budget import keep_global
from jst.nets.importance import bn_scale
from jst.nets.subnetwork import extract

SEPARATED = 0.1   # separated: the removed scales' median is under this share of the kept ones'
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
    lr_sum = per_epoch * sum(lr_at("cosine", cfg.coarse_lr, e, cfg.coarse_epochs) for e in range(cfg.coarse_epochs))
    return cfg.slimming_shrinkage * (1 - cfg.momentum) / lr_sum if lr_sum > 0 else cfg.slimming_lambda


def separation(scores: dict[str, torch.Tensor], keep) -> dict:
    """The mechanism section: do the scales fall in two groups, and does the threshold lie between them?"""
    removed, kept = [], []
    per_layer = {}
    for n, s in scores.items():
        mask = torch.zeros(len(s), dtype=torch.bool)
        mask[keep[n]] = True
        kept.append(s[mask])
        removed.append(s[~mask])
        per_layer[n] = {"bimodality": bimodality(s), "kept": int(mask.sum()), "width": len(s)}
    kept, removed, every = torch.cat(kept), torch.cat(removed), torch.cat(list(scores.values()))
    b = bimodality(every)
    gap = float(removed.median() / kept.median()) if len(removed) and kept.median() > 0 else None
    dead_kept = float((kept < NEAR_ZERO).float().mean())
    separated = len(removed) > 0 and b > 5 / 9 and gap is not None and gap < SEPARATED
    acted = separated and dead_kept < LIVE
    reason = (f"|gamma| bimodality {b:.2f} ({'above' if b > 5 / 9 else 'not above'} a uniform's 5/9), median "
              f"removed / median kept scale {gap if gap is None else round(gap, 4)} (separated when under "
              f"{SEPARATED}) and {dead_kept:.0%} of the kept scales near zero (live when under {LIVE:.0%}): "
              + ("the threshold fell in a gap the L1 penalty made" if acted else
                 "the penalty zeroed more channels than the budget removes; the threshold chose among dead ones"
                 if separated else "the penalty did not separate the scales; the threshold chose among live ones"))
    return verdict(acted, reason, bimodality=b, median_ratio_removed_to_kept=gap, removed=len(removed),
                   near_zero=NEAR_ZERO, near_zero_share=float((every < NEAR_ZERO).float().mean()),
                   removed_near_zero_share=float((removed < NEAR_ZERO).float().mean()) if len(removed) else None,
                   kept_near_zero_share=dead_kept,
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
        pretrain(ctx, model, stage="sparsity")
    scores, flops = bn_scale(model), flops_model(ctx, model)
    keep, threshold = keep_global(scores, flops, cfg.flops_target, cfg.min_channels, floor=cfg.layer_floor)
    kept = {n: set(k.tolist()) for n, k in keep.items()}
    order = sorted(((float(s[i]), n, i) for n, s in scores.items() for i in range(len(s)) if i not in kept[n]),
                   reverse=True)
    filled = fill({n: len(k) for n, k in kept.items()}, [(n, i) for _, n, i in order], flops, cfg.flops_target)
    for n, i in filled:
        kept[n].add(i)
    keep = {n: torch.tensor(sorted(k), dtype=torch.long) for n, k in kept.items()}
    mechanism = separation(scores, keep)
    pruned = finetune(ctx, extract(model, keep))
    return outcome(pruned, model, "the sparsity-trained dense network (before channel removal)", mechanism=mechanism,
                   threshold=threshold if math.isfinite(threshold) else None, l1_lambda=lam,
                   lambda_schedule=cfg.slimming_lambda_schedule, filled_below_threshold=len(filled))
