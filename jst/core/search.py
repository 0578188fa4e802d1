"""Search-and-training (Algorithm 2): coarse training, T search steps, best-within-budget selection.

One search step t (PAPER.md reconstruction item 6): the threshold policy draws a threshold per layer;
the sampler draws a sub-network from the filter weights; the sub-network is extracted, its parameters
train on Dtrain for M_t epochs at lr_t (coarse-to-fine), its filter weights on Dval for N epochs; it is
evaluated on Dval, the policy is updated, and the updater writes it back into the target network.
The target network, the policy and the candidate pool are checkpointed after every step.
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from jst.core.filter_weights import (
    filter_weights,
    fold,
    init_filter_weights,
    regularizer,
    set_trainable,
    split_parameters,
)
from jst.core.sampler import fit_to_budget, keep_by_threshold, perturb
from jst.core.thresholds import ThresholdPolicy, reward
from jst.core.updater import write_back
from jst.engine import checkpoint, distributed, faults
from jst.engine.rng import generator, set_rng_state
from jst.engine.train import evaluate, fit, make_optimizer, step_options, train_epoch
from jst.nets.flops import FlopsModel, count_params
from jst.nets.models import build_model, kaiming_init
from jst.nets.subnetwork import extract


def build_target(ctx) -> torch.nn.Module:
    """The target network: the dense architecture with a filter weight on every prunable filter."""
    cfg, info = ctx.cfg, ctx.splits.info
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, info.num_classes, info.channels, info.image_size, gate=cfg.gate_position)
    init_filter_weights(model, cfg.filter_weight_init, generator(cfg.seed, "filter_weights"))
    return model.to(ctx.device)


def coarse_train(ctx, target: torch.nn.Module) -> None:
    """Train the target network's parameters on Dtrain (filter weights fixed at their init)."""
    cfg = ctx.cfg
    if not cfg.coarse_training or cfg.coarse_epochs == 0:
        return
    set_trainable(target, params=True, alphas=False)
    params, _ = split_parameters(target)
    fit(ctx, target, ctx.splits.train, stage="coarse", epochs=cfg.coarse_epochs, lr=cfg.coarse_lr,
        schedule="cosine", params=params, val_source=ctx.splits.val)
    set_trainable(target, params=True, alphas=True)


def draw(ctx, target, t: int, policy: ThresholdPolicy | None, flops: FlopsModel) -> dict:
    """Thresholds from the policy, then the sampler (Algorithm 1), then the budget projection."""
    cfg = ctx.cfg
    gen = generator(cfg.seed, "search", t)
    alphas = filter_weights(target)
    if policy is not None:
        choice = policy.draw(gen)
        taus = policy.thresholds(choice)
    else:
        choice, taus = None, {name: cfg.fixed_threshold for name in alphas}
    scores = {name: perturb(a, cfg.perturbation, gen) for name, a in alphas.items()}
    keep = {name: keep_by_threshold(s, taus[name], cfg.min_channels, cfg.channel_multiple)
            for name, s in scores.items()}
    drawn_ratio, scale = flops.ratio(keep), 1.0
    if cfg.budget_projection:
        keep, scale = fit_to_budget(scores, taus, flops.ratio, cfg.flops_target, cfg.min_channels,
                                    cfg.channel_multiple)
    return {"step": t, "choice": choice, "thresholds": taus, "keep": keep, "threshold_scale": scale,
            "drawn_flops_ratio": drawn_ratio}


def _fresh_source(ctx, target, t: int) -> torch.nn.Module:
    """Ablation `use_updater=False`: a re-initialised network carrying the target's filter weights."""
    cfg, info = ctx.cfg, ctx.splits.info
    source = build_model(cfg.arch, info.num_classes, info.channels, info.image_size, gate=cfg.gate_position,
                         init=False).to(ctx.device)
    torch.manual_seed(cfg.seed * 1000 + t)
    kaiming_init(source)
    with torch.no_grad():
        for name, a in filter_weights(source).items():
            a.copy_(filter_weights(target)[name])
    return source


def train_candidate(ctx, sub: torch.nn.Module, plan: dict, resume: dict | None) -> None:
    """M_t epochs of parameters on Dtrain, then N epochs of filter weights on Dval (CE + lambda * reg).
    Checkpointed after every epoch (``search_step``), so a crash inside a step costs at most one epoch."""
    cfg, t = ctx.cfg, plan["step"]
    m_t, lr_t = cfg.search_schedule(t)
    phases = [("params", m_t, lr_t), ("filters", cfg.filter_epochs, cfg.filter_lr)]
    done = (resume["phase"], resume["epoch"]) if resume else ("params", 0)
    for phase, epochs, lr in phases:
        if done[0] == "filters" and phase == "params":
            continue
        start = done[1] if phase == done[0] else 0
        set_trainable(sub, params=phase == "params", alphas=phase == "filters")
        params, alphas = split_parameters(sub)
        if phase == "params":
            opt = make_optimizer(params, cfg.optimizer, lr, cfg.momentum, cfg.weight_decay)
            source, extra = ctx.splits.train, None
        else:
            opt = torch.optim.SGD(alphas, lr=lr, momentum=cfg.momentum)
            source = ctx.splits.val
            extra = lambda: cfg.filter_lambda * regularizer(sub, cfg.filter_regularizer)  # noqa: E731
        if resume and phase == resume["phase"] and start > 0:
            opt.load_state_dict(resume["optimizer"])
        for e in range(start, epochs):
            train_epoch(sub, source, opt, batch_size=cfg.batch_size, device=ctx.device, extra_loss=extra,
                        generator=generator(cfg.seed, "search", t, phase, e),
                        stage=f"search step {t} {phase} epoch {e + 1}/{epochs}", **step_options(cfg))
            ctx.save_checkpoint("search_step", {"plan": _storable(plan), "phase": phase, "epoch": e + 1,
                                                "sub": sub.state_dict(), "optimizer": opt.state_dict()})
            faults.point("epoch")
    set_trainable(sub, params=True, alphas=True)


def _storable(plan: dict) -> dict:
    return {**plan, "choice": plan["choice"] if plan["choice"] is not None else torch.empty(0, dtype=torch.long)}


def _loaded(plan: dict) -> dict:
    return {**plan, "choice": plan["choice"] if plan["choice"].numel() else None}


def search_step(ctx, target, t: int, policy: ThresholdPolicy | None, flops: FlopsModel) -> tuple[dict, torch.nn.Module, dict]:
    """Run (or finish) search step t; returns (candidate record, trained sub-network, kept indices)."""
    cfg = ctx.cfg
    path = ctx.checkpoint_path("search_step")
    resume = checkpoint.load(path) if path.exists() else None
    if resume is not None and resume["plan"]["step"] != t:
        resume = None  # left over from a finished step
    plan = _loaded(resume["plan"]) if resume else draw(ctx, target, t, policy, flops)
    plan = distributed.broadcast(plan)  # drawn once (rank 0), the same sub-network everywhere
    ctx.check_same(f"search step {t} sub-network", plan["keep"])
    keep = plan["keep"]
    sub = extract(target if cfg.use_updater else _fresh_source(ctx, target, t), keep)
    if resume:
        checkpoint.restore(sub, resume["sub"], path)
        set_rng_state(resume["rng"])
    train_candidate(ctx, sub, plan, resume)

    val = evaluate(sub, ctx.splits.val, cfg.eval_batch_size, ctx.device, cfg.amp)
    ratio = flops.ratio(keep)
    r = reward(val["acc"], plan["drawn_flops_ratio"], cfg.flops_target, cfg.gamma)
    advantage = 0.0
    if policy is not None:
        advantage = policy.update(plan["choice"], r)
        if distributed.active():
            policy.load(distributed.broadcast(policy.state()))  # the policy update, as made on rank 0
    if cfg.use_updater:
        write_back(target, sub, keep)
    ctx.check_same(f"parameters after search step {t}", target.state_dict())
    m_t, lr_t = cfg.search_schedule(t)
    record = {"step": t, "epochs": m_t, "lr": lr_t, "thresholds": plan["thresholds"],
              "threshold_scale": plan["threshold_scale"], "drawn_flops_ratio": plan["drawn_flops_ratio"],
              "flops_ratio": ratio, "params": count_params(sub), "val_acc": val["acc"], "val_loss": val["loss"],
              "reward": r, "advantage": advantage, "widths": {name: len(k) for name, k in keep.items()},
              "within_budget": ratio <= cfg.flops_target + 1e-9}
    return record, sub, keep


def search(ctx, target: torch.nn.Module, flops: FlopsModel) -> dict:
    """All T search steps, resumable; returns the search state with the best candidate."""
    cfg = ctx.cfg
    layers = [layer.name for layer in target.prunable_layers()]
    policy = None
    if cfg.threshold_mode == "learned":
        policy = ThresholdPolicy(layers, cfg.thresholds, cfg.policy_lr, cfg.baseline_momentum)
    path = ctx.checkpoint_path("search")
    state = {"step": 0, "candidates": [], "best": None, "best_state": None, "best_keep": None,
             "policy_probabilities": []}
    if path.exists():
        saved = checkpoint.load(path)
        checkpoint.restore(target, saved["target"], path)
        if policy is not None:
            policy.load(saved["policy"])
        set_rng_state(saved["rng"])
        state = saved["search"]
    bar = tqdm(range(state["step"] + 1, cfg.search_steps + 1), initial=state["step"], total=cfg.search_steps,
               desc="search", disable=None)
    for t in bar:
        t0 = time.perf_counter()
        record, sub, keep = search_step(ctx, target, t, policy, flops)
        record["seconds"] = time.perf_counter() - t0
        state["candidates"].append(record)
        if policy is not None:
            state["policy_probabilities"].append(policy.probabilities().tolist())
        best = state["best"]
        if record["within_budget"] and (best is None or record["val_acc"] > best["val_acc"]):
            state["best"] = record
            state["best_state"] = {k: v.detach().cpu().clone() for k, v in sub.state_dict().items()}
            state["best_keep"] = {k: v.cpu() for k, v in keep.items()}
        state["step"] = t
        ctx.log({"stage": "search", **{k: v for k, v in record.items() if k != "widths"}})
        ctx.save_checkpoint("search", {"target": target.state_dict(),
                                       "policy": policy.state() if policy else None, "search": state})
        ctx.checkpoint_path("search_step").unlink(missing_ok=True)
        bar.set_postfix(val_acc=f"{record['val_acc']:.3f}", flops=f"{record['flops_ratio']:.2f}")
    if state["best"] is None:
        raise RuntimeError("no search candidate met the FLOPs budget; enable budget_projection or raise "
                           "the FLOPs target")
    return state


def selected_network(ctx, state: dict) -> torch.nn.Module:
    """The best candidate as a plain network (filter weights folded into BN)."""
    cfg, info = ctx.cfg, ctx.splits.info
    shell = build_model(cfg.arch, info.num_classes, info.channels, info.image_size, gate=cfg.gate_position,
                        init=False)
    sub = extract(shell, state["best_keep"])
    sub.load_state_dict(state["best_state"])
    return fold(sub).to(ctx.device)
