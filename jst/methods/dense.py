"""The dense reference: the unpruned network trained on the whole official training set."""
from __future__ import annotations

from jst.engine.context import RunContext
from jst.engine.train import fit
from jst.methods.common import dense_network, outcome


def run_dense(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    model = dense_network(ctx)
    fit(ctx, model, ctx.splits.full_train, stage="dense", epochs=cfg.dense_epochs, lr=cfg.coarse_lr,
        schedule="cosine", warmup=cfg.warmup_epochs)
    return outcome(model, model, "this run")
