"""L1-norm filter pruning (Li et al., ICLR 2017, "Pruning Filters for Efficient ConvNets").

Train the dense network, drop in every prunable layer the filters with the smallest sum of absolute
weights (``jst.nets.importance.l1_norm``), fine-tune the smaller network.

Li et al. chose a pruning ratio per layer by hand from a sensitivity analysis. That choice cannot be
recovered for our networks and budgets, so the reconstruction prunes every layer by the same fraction,
the largest keep fraction whose network meets the FLOPs budget (bisection on ``FlopsModel``), then tops the
network up to just under the budget with the filters of largest norm relative to their layer's mean
(``jst.nets.budget.top_up``), so that it lands within 2% of the target like every method.
"""
from __future__ import annotations

import torch

from jst.engine.context import RunContext
from jst.methods.common import dense_network, dense_source, finetune, flops_model, outcome, pretrain
from jst.methods.evidence import from_shares
from jst.nets.budget import floor_of, keep_uniform, top_up
from jst.nets.importance import l1_norm
from jst.nets.subnetwork import extract


def run_l1norm(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    dense = pretrain(ctx, dense_network(ctx))
    norms = l1_norm(dense)
    flops = flops_model(ctx, dense)
    keep, fraction = keep_uniform(norms, flops, cfg.flops_target, cfg.min_channels, floor=cfg.layer_floor)
    # one fraction for every layer stops a whole filter of the coarsest layer short of the budget (LeNet-5:
    # 2.5% under); the filters with the largest norms relative to their layer's fill the rest
    keep = top_up(norms, keep, flops.ratio, cfg.flops_target,
                  minimum={n: floor_of(len(s), cfg.layer_floor, cfg.min_channels) for n, s in norms.items()})
    model = finetune(ctx, extract(dense, keep))
    return outcome(model, dense, dense_source(cfg, "the dense network trained before pruning (coarse_epochs)"),
                   mechanism=l1_evidence(norms, keep, fraction), keep_fraction=fraction)


def l1_evidence(norms: dict, keep: dict, fraction: float) -> dict:
    """The L1 criterion removes every filter (there is no fallback); the figure shows it ranked them: the
    smallest kept norm over the largest removed one, per layer (at least 1 by construction)."""
    removed, margins = 0, {}
    for name, n in norms.items():
        kept = torch.zeros(len(n), dtype=torch.bool)
        kept[keep[name]] = True
        removed += int((~kept).sum())
        if (~kept).any():
            margins[name] = float(n[kept].min() / n[~kept].max().clamp_min(1e-12))
    return from_shares("the L1-norm criterion", removed, removed, keep_fraction=fraction,
                       kept_over_removed_norm=margins)
