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
from jst.core.sampler import fit_to_budget, perturb_all, select
from jst.core.thresholds import ThresholdPolicy, reward
from jst.core.updater import write_back
from jst.engine import checkpoint, distributed
from jst.engine.context import Context, RunContext
from jst.engine.rng import generator, set_rng_state
from jst.engine.train import evaluate, fit
from jst.nets.flops import FlopsModel, count_params
from jst.nets.models import build_for, kaiming_init
from jst.nets.subnetwork import extract


def build_target(ctx: Context) -> torch.nn.Module:
    """The target network: the dense architecture with a filter weight on every prunable filter."""
    cfg = ctx.cfg
    torch.manual_seed(cfg.seed)
    model = build_for(cfg.arch, ctx.splits.info, gate=cfg.gate_position)
    init_filter_weights(model, cfg.filter_weight_init, generator(cfg.seed, "filter_weights"))
    return model.to(ctx.device)


def coarse_train(ctx: RunContext, target: torch.nn.Module) -> None:
    """Train the target network's parameters on Dtrain (filter weights fixed at their init)."""
    cfg = ctx.cfg
    if not cfg.coarse_training or cfg.coarse_epochs == 0:
        return
    set_trainable(target, params=True, alphas=False)
    params, _ = split_parameters(target)
    fit(ctx, target, ctx.splits.train, stage="coarse", epochs=cfg.coarse_epochs, lr=cfg.coarse_lr,
        schedule="cosine", params=params, val_source=ctx.splits.val)
    set_trainable(target, params=True, alphas=True)


def draw(ctx: Context, target, t: int, policy: ThresholdPolicy | None, flops: FlopsModel) -> dict:
    """Thresholds from the policy, then the sampler (Algorithm 1), then the budget projection. Drawn from
    the generator of (seed, step), so a resumed step draws the same sub-network again."""
    cfg = ctx.cfg
    gen = generator(cfg.seed, "search", t)
    alphas = filter_weights(target)
    if policy is not None:
        choice = policy.draw(gen)
        taus = policy.thresholds(choice)
    else:
        choice, taus = None, {name: cfg.fixed_threshold for name in alphas}
    scores = perturb_all(alphas, cfg.perturbation, gen)
    keep = select(scores, taus, cfg.min_channels, cfg.channel_multiple)
    drawn_ratio, scale = flops.ratio(keep), 1.0
    if cfg.budget_projection:
        keep, scale = fit_to_budget(scores, taus, flops.ratio, cfg.flops_target, cfg.min_channels,
                                    cfg.channel_multiple)
    return {"step": t, "choice": choice, "thresholds": taus, "keep": keep, "threshold_scale": scale,
            "drawn_flops_ratio": drawn_ratio}


def _fresh_source(ctx: Context, target, t: int) -> torch.nn.Module:
    """Ablation `use_updater=False`: a re-initialised network carrying the target's filter weights."""
    cfg = ctx.cfg
    source = build_for(cfg.arch, ctx.splits.info, gate=cfg.gate_position, init=False).to(ctx.device)
    torch.manual_seed(cfg.seed * 1000 + t)
    kaiming_init(source)
    with torch.no_grad():
        for name, a in filter_weights(source).items():
            a.copy_(filter_weights(target)[name])
    return source


def _step_checkpoint(t: int, phase: str) -> str:
    return f"search_step{t}_{phase}"


def train_candidate(ctx: RunContext, sub: torch.nn.Module, t: int) -> None:
    """M_t epochs of parameters on Dtrain, then N epochs of filter weights on Dval (CE + lambda * reg).
    Each phase checkpoints after every epoch, so a crash inside a step costs at most one epoch."""
    cfg = ctx.cfg
    m_t, lr_t = cfg.search_schedule(t)
    set_trainable(sub, params=True, alphas=False)
    params, _ = split_parameters(sub)
    fit(ctx, sub, ctx.splits.train, stage=f"search step {t} params", epochs=m_t, lr=lr_t, schedule="constant",
        params=params, checkpoint_as=_step_checkpoint(t, "params"), stream=("search", t, "params"), record=False)
    set_trainable(sub, params=False, alphas=True)
    _, alphas = split_parameters(sub)
    fit(ctx, sub, ctx.splits.val, stage=f"search step {t} filters", epochs=cfg.filter_epochs, lr=cfg.filter_lr,
        schedule="constant", optimizer=torch.optim.SGD(alphas, lr=cfg.filter_lr, momentum=cfg.momentum),
        extra_loss=lambda: cfg.filter_lambda * regularizer(sub, cfg.filter_regularizer),
        checkpoint_as=_step_checkpoint(t, "filters"), stream=("search", t, "filters"), record=False)
    set_trainable(sub, params=True, alphas=True)


def search_step(ctx: RunContext, target, t: int, policy: ThresholdPolicy | None, flops: FlopsModel
                ) -> tuple[dict, torch.nn.Module, dict]:
    """Run (or finish) search step t; returns (candidate record, trained sub-network, kept indices)."""
    cfg = ctx.cfg
    plan = distributed.broadcast(draw(ctx, target, t, policy, flops))  # rank 0's draw, everywhere
    ctx.check_same(f"search step {t} sub-network", plan["keep"])
    keep = plan["keep"]
    sub = extract(target if cfg.use_updater else _fresh_source(ctx, target, t), keep)
    train_candidate(ctx, sub, t)

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


def search(ctx: RunContext, target: torch.nn.Module, flops: FlopsModel) -> dict:
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
        for phase in ("params", "filters"):
            ctx.checkpoint_path(_step_checkpoint(t, phase)).unlink(missing_ok=True)
        bar.set_postfix(val_acc=f"{record['val_acc']:.3f}", flops=f"{record['flops_ratio']:.2f}")
    if state["best"] is None:
        raise RuntimeError("no search candidate met the FLOPs budget; enable budget_projection or raise "
                           "the FLOPs target")
    return state


def selected_network(ctx: Context, state: dict) -> torch.nn.Module:
    """The best candidate as a plain network (filter weights folded into BN)."""
    cfg = ctx.cfg
    shell = build_for(cfg.arch, ctx.splits.info, gate=cfg.gate_position, init=False)
    sub = extract(shell, state["best_keep"])
    sub.load_state_dict(state["best_state"])
    return fold(sub).to(ctx.device)
