"""L1-norm filter pruning (Li et al., ICLR 2017, "Pruning Filters for Efficient ConvNets").

Train the dense network, drop in every prunable layer the filters with the smallest sum of absolute
weights (``jst.nets.importance.l1_norm``), fine-tune the smaller network.

Li et al. chose a pruning ratio per layer by hand from a sensitivity analysis. That choice cannot be
recovered for our networks and budgets, so the reconstruction prunes every layer by the same fraction,
the largest keep fraction whose network meets the FLOPs budget (bisection on ``FlopsModel``).
"""
from __future__ import annotations

from jst.engine.context import RunContext
from jst.methods.common import dense_network, finetune, flops_model, outcome, pretrain
from jst.nets.budget import keep_uniform
from jst.nets.importance import l1_norm
from jst.nets.subnetwork import extract


def run_l1norm(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    dense = pretrain(ctx, dense_network(ctx))
    keep, fraction = keep_uniform(l1_norm(dense), flops_model(ctx, dense), cfg.flops_target, cfg.min_channels)
    model = finetune(ctx, extract(dense, keep))
    return outcome(model, dense, "the dense network trained before pruning (coarse_epochs)",
                   keep_fraction=fraction)
