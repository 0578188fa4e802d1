"""The dense reference: the unpruned network trained on the whole official training set."""
from __future__ import annotations

import torch

from jst.engine.train import fit
from jst.nets.models import build_model


def run_dense(ctx) -> dict:
    cfg, info = ctx.cfg, ctx.splits.info
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, info.num_classes, info.channels, info.image_size).to(ctx.device)
    fit(ctx, model, ctx.splits.full_train, stage="dense", epochs=cfg.dense_epochs, lr=cfg.coarse_lr,
        schedule="cosine")
    return {"model": model, "dense_model": model, "dense_source": "this run", "extra": {}}
