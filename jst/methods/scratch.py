"""Scratch-B (Liu et al., ICLR 2019, "Rethinking the Value of Network Pruning"): the architecture another
method found, re-initialised and trained from scratch for the same compute as the dense network.

The widths come from another run's export (``scratch_from`` = its run folder; ``model/model.json``). The
network is built at those widths, Kaiming-initialised afresh (the fan-in is the pruned one) and trained
on the whole official training set with the dense reference's schedule (coarse_lr, cosine) for
dense_epochs x (dense FLOPs / pruned FLOPs) epochs: the same number of FLOPs as training the dense network
for dense_epochs. Liu et al. cap that factor at 2 on ImageNet (``scratch_epoch_cap``; 0 = no cap).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from jst.engine.context import RunContext
from jst.engine.errors import ConfigError, JstError
from jst.engine.train import fit
from jst.methods.common import outcome
from jst.nets.flops import count
from jst.nets.models import build_for, build_pruned, kaiming_init
from jst.report.records import read_record


def source_widths(run_dir: str | Path, arch: str, dataset: str) -> dict[str, int]:
    """The per-layer widths exported by a finished run of the same arch and dataset."""
    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / "model" / "model.json").read_text())
        source_dataset = read_record(run_dir).dataset
    except (OSError, ValueError, JstError) as e:
        raise ConfigError(f"scratch_from={str(run_dir)!r} is not a finished run ({e})") from None
    if record["arch"] != arch or source_dataset != dataset:
        raise ConfigError(f"scratch_from holds a {source_dataset}/{record['arch']} run; "
                          f"this run is {dataset}/{arch}")
    return {k: int(v) for k, v in record["widths"].items()}


def run_scratch(ctx: RunContext) -> dict:
    cfg, info = ctx.cfg, ctx.splits.info
    if not cfg.scratch_from:
        raise ConfigError("method scratch needs the run whose architecture it trains: --set scratch_from=RUN_DIR")
    widths = source_widths(cfg.scratch_from, cfg.arch, cfg.dataset)
    shape = dict(num_classes=info.num_classes, in_channels=info.channels, image_size=info.image_size)
    model = build_pruned(cfg.arch, widths, **shape)
    torch.manual_seed(cfg.seed)
    kaiming_init(model)
    model = model.to(ctx.device)
    dense_flops = count(build_for(cfg.arch, info, init=False), info.input_shape)["flops"]
    pruned_flops = count(model, info.input_shape)["flops"]
    factor = dense_flops / pruned_flops
    if cfg.scratch_epoch_cap > 0:
        factor = min(factor, cfg.scratch_epoch_cap)
    epochs = max(1, round(cfg.dense_epochs * factor))
    fit(ctx, model, ctx.splits.full_train, stage="scratch", epochs=epochs, lr=cfg.coarse_lr, schedule="cosine",
        warmup=cfg.warmup_epochs)
    mechanism = {"acted": None, "reason": "Scratch-B prunes nothing itself: it trains the architecture of "
                 f"{cfg.scratch_from} from scratch; that run's record holds the pruning evidence"}
    return outcome(model, None, "none: see the source run (scratch_from)", mechanism=mechanism,
                   source=str(cfg.scratch_from),
                   epochs=epochs, epoch_factor=factor, base_epochs=cfg.dense_epochs)
