"""Epoch loops shared by every stage and method: train, evaluate, and a resumable ``fit``.

Randomness is derived, not carried: each epoch's shuffling and augmentation come from a generator
seeded by (run seed, stage, epoch), so a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from jst.engine import checkpoint, distributed, faults
from jst.engine.errors import TrainingDiverged
from jst.engine.rng import generator, set_rng_state

if TYPE_CHECKING:
    from jst.engine.context import RunContext


# Images trained on (every rank's share summed) by this process's current run: the run's measured training
# budget. The pipeline restores it from the newest checkpoint on resume and every checkpoint carries it, so
# a resumed run counts what an uninterrupted one would. Evaluation passes are not training and don't count.
TRAINED = {"images": 0}


def make_optimizer(params: Iterable[nn.Parameter], kind: str, lr: float, momentum: float = 0.9,
                   weight_decay: float = 5e-5) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be sgd or adam, got {kind!r}")


def lr_at(schedule: str, base: float, epoch: int, total: int, step: int = 20, warmup: int = 0) -> float:
    """Learning rate of 0-based ``epoch``: cosine (per epoch), step (/10 every ``step``) or constant. With
    ``warmup`` epochs it first rises linearly (base/(warmup+1), ..., base*warmup/(warmup+1)) and the schedule
    then runs over the epochs left, from ``base``."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    epoch, total = epoch - warmup, total - warmup
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / max(total, 1)))
    if schedule == "step":
        return base * 0.1 ** (epoch // step)
    if schedule == "constant":
        return base
    raise ValueError(f"unknown schedule {schedule!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def step_options(cfg) -> dict:
    """The speed options and the loss's label smoothing of a config, as train_epoch's keywords."""
    return {"amp": cfg.amp, "accum": cfg.grad_accum, "channels_last": cfg.channels_last, "sync_bn": cfg.sync_bn,
            "label_smoothing": cfg.label_smoothing}


def _autocast(device, amp: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)


def train_epoch(model: nn.Module, source, optimizer: torch.optim.Optimizer, *, batch_size: int,
                generator: torch.Generator, device, stage: str = "train",
                extra_loss: Callable[[], torch.Tensor] | None = None, amp: str = "none", accum: int = 1,
                channels_last: bool = False, sync_bn: bool = False, label_smoothing: float = 0.0) -> dict:
    """One pass over ``source`` (this rank's share, under DDP); ``extra_loss`` (a regulariser) is added to
    every batch's loss. ``accum`` batches make one optimizer step; ``amp`` is "bf16"/"fp16" autocast.
    ``label_smoothing`` smooths the cross-entropy's targets (the logged loss is that smoothed loss)."""
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if sync_bn and distributed.active():
        distributed.convert_sync_batchnorm(model)
    net = distributed.wrap(model, torch.device(device))
    scaler = torch.amp.GradScaler(enabled=amp == "fp16")
    total_loss, correct, seen, pending = 0.0, 0, 0, 0
    batches = source.batches(batch_size, train=True, generator=generator, device=device)
    bar = tqdm(batches, total=math.ceil(len(source) / batch_size), desc=stage, leave=False,
               disable=None if distributed.is_main() else True)
    for step, (x, y) in enumerate(bar):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        pending += 1
        sync = pending == accum
        with (net.no_sync() if not sync and net is not model else contextlib.nullcontext()):
            with _autocast(device, amp):
                out = net(x)
                loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)
                objective = loss + extra_loss() if extra_loss is not None else loss
            if not torch.isfinite(objective):
                raise TrainingDiverged(f"{stage}: loss is {objective.item()} at batch {step + 1}")
            if pending == 1:
                # Gradients are cleared right before the window's first backward, not after the step, as
                # the bare loop of benchmarks/overhead.py does: on CPU the post-step clear was the gap
                # between the two in a profile; the arithmetic is the same.
                optimizer.zero_grad(set_to_none=True)
            scaler.scale(objective / accum).backward()
        if sync:
            scaler.step(optimizer)
            scaler.update()
            pending = 0
        n = y.numel()
        total_loss += loss.item() * n
        correct += (out.argmax(1) == y).sum().item()
        seen += n
        faults.point("batch")
    if pending:  # a last, incomplete accumulation
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)  # no stale gradients leave the epoch
    distributed.average_buffers(model)
    total_loss, correct, seen = distributed.all_reduce_sum([total_loss, correct, seen], device)
    TRAINED["images"] += int(seen)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "n": int(seen)}


@torch.inference_mode()
def evaluate(model: nn.Module, source, batch_size: int, device, amp: str = "none") -> dict:
    """Loss and accuracy over every sample exactly once (eval mode; ranks split the set, sums reduced)."""
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in source.batches(batch_size, train=False, device=device):
        with _autocast(device, amp):
            out = model(x)
        total_loss += F.cross_entropy(out.float(), y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        seen += y.numel()
    model.train(was_training)
    total_loss, correct, seen = distributed.all_reduce_sum([total_loss, correct, seen], device)
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "n": int(seen)}


@torch.inference_mode()
def predict(model: nn.Module, source, batch_size: int, device, amp: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, label) of every sample in order, on one process: the per-image record that paired
    tests between methods resample."""
    was_training = model.training
    model.eval()
    predicted, labels = [], []
    for x, y in source.batches(batch_size, train=False, device=device):
        with _autocast(device, amp):
            predicted.append(model(x).argmax(1).cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(predicted), torch.cat(labels)


def fit(ctx: RunContext, model: nn.Module, source, *, stage: str, epochs: int, lr: float,
        schedule: str = "cosine", warmup: int = 0, batch_size: int | None = None,
        params: list[nn.Parameter] | None = None,
        optimizer: torch.optim.Optimizer | None = None, extra_loss: Callable[[], torch.Tensor] | None = None,
        val_source=None, checkpoint_as: str | None = None, stream: tuple = (), record: bool = True,
        after_epoch: Callable[[int], None] | None = None) -> nn.Module:
    """Train ``model`` for ``epochs``, checkpointing after every epoch (as ``checkpoint_as``, default
    ``stage``); resumes if that checkpoint exists. The optimizer is the config's over ``params`` unless one
    is given; each epoch's batches come from the generator (seed, *stream or stage, epoch). ``record``
    logs a line per epoch and checks, under torchrun, that every rank ends with the same parameters.
    ``after_epoch(epoch)`` runs after each epoch's training, before its checkpoint (JST trains its filter
    weights on Dval there during coarse training); it must keep its state in the model. A recorded stage
    logs its accuracy on ``val_source`` (default Dval) every epoch: the curve convergence is judged on.
    ``warmup``: epochs of linear learning-rate warm-up before ``schedule`` (the stages that train from
    scratch pass ``cfg.warmup_epochs``).
    Returns the trained model (also left in ``model``)."""
    cfg = ctx.cfg
    batch_size = batch_size or cfg.batch_size
    if optimizer is None:
        params = params if params is not None else list(model.parameters())
        optimizer = make_optimizer(params, cfg.optimizer, lr, cfg.momentum, cfg.weight_decay)
    name = checkpoint_as or stage
    path = ctx.checkpoint_path(name)
    start = 0
    if path.exists():
        state = checkpoint.load(path)
        checkpoint.restore(model, state["model"], path)
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        start = state["epoch"]
    bar = tqdm(range(start, epochs), initial=start, total=epochs, desc=stage,
               disable=None if distributed.is_main() else True)
    for epoch in bar:
        t0 = time.perf_counter()
        set_lr(optimizer, lr_at(schedule, lr, epoch, epochs, cfg.finetune_step, warmup))
        stats = train_epoch(model, source, optimizer, batch_size=batch_size, device=ctx.device,
                            stage=f"{stage} epoch {epoch + 1}", extra_loss=extra_loss,
                            generator=generator(cfg.seed, *(stream or (stage,)), epoch), **step_options(cfg))
        if after_epoch is not None:
            after_epoch(epoch)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.3f}")
        if record:
            line = {"stage": stage, "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": stats["loss"], "train_acc": stats["acc"]}
            held_out = val_source if val_source is not None else ctx.splits.val
            line["val_acc"] = evaluate(model, held_out, cfg.eval_batch_size, ctx.device, cfg.amp)["acc"]
            line["seconds"] = time.perf_counter() - t0
            ctx.log(line)
        ctx.save_checkpoint(name, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "epoch": epoch + 1})
        faults.point("epoch")
    if record:
        ctx.check_same(f"parameters after {stage}", model.state_dict())
    return model
