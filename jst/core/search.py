"""Search-and-training (Algorithm 2): coarse training, T search steps, selection.

One search step t (PAPER.md reconstruction item 6): the threshold policy draws a threshold per layer;
the sampler draws a sub-network from the filter weights; the sub-network is extracted, its parameters
train on Dtrain for M_t epochs at lr_t (coarse-to-fine), its filter weights on Dval for N epochs; the
policy is updated, and the updater writes the sub-network back into the target network. The target
network, the policy and the candidate pool are checkpointed after every step.

What makes the mechanism act at any run length (issue 22; each an option, see the reproduction notes):
the filter weights also train on Dval after every coarse epoch (``filter_training="joint"``) at a rate
scaled to the run's length (``filter_rate``), and the sampler ranks |alpha|; the reward is the accuracy and
FLOPs of one network, measured before the step trains it, against control draws of the same step
(``policy_baseline``); the projection lands every draw just under the budget; the selection compares each
candidate only with its own step's draws (``selection``).
"""
from __future__ import annotations

import math
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
from jst.core.measure import choice_accuracy
from jst.core.sampler import fit_to_budget, perturb_all, select
from jst.core.thresholds import ThresholdPolicy, reward
from jst.core.updater import write_back
from jst.engine import checkpoint, distributed
from jst.engine.context import Context, RunContext
from jst.engine.rng import generator, set_rng_state
from jst.engine.train import evaluate, fit, train_epoch
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


# Filter-weight optimizer steps of the paper's CIFAR schedule: T = 30 searches x N = 5 epochs x the batches
# of a 10,000-image Dval at batch 128.
PAPER_FILTER_STEPS = 30 * 5 * math.ceil(10_000 / 128)


def filter_rate(ctx: Context) -> float:
    """The filter weights' fixed learning rate. ``filter_lr_scaling="paper_steps"`` scales filter_lr by the
    paper's filter-weight steps over this run's, so that lr x steps (how far a weight can travel) is the
    paper's at any scale: at the paper's length it is filter_lr itself, on a short run proportionally more."""
    cfg = ctx.cfg
    if cfg.filter_lr_scaling == "none" or cfg.filter_training == "frozen":
        return cfg.filter_lr
    batches = math.ceil(len(ctx.splits.val) / cfg.batch_size)
    joint = cfg.filter_training == "joint" and cfg.coarse_training
    epochs = cfg.search_steps * cfg.filter_epochs + (cfg.coarse_epochs if joint else 0)
    return cfg.filter_lr * PAPER_FILTER_STEPS / max(1, epochs * batches)


def filter_optimizer(ctx: Context, alphas: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The filter weights' own optimizer (PAPER.md: SGD, as the parameters'; Adam is an option)."""
    if ctx.cfg.filter_optimizer == "adam":
        return torch.optim.Adam(alphas, lr=filter_rate(ctx))
    return torch.optim.SGD(alphas, lr=filter_rate(ctx), momentum=ctx.cfg.momentum)


def filter_epoch(ctx: Context, model: torch.nn.Module, *stream) -> None:
    """One epoch of the filter weights alone on Dval (CE + lambda * regulariser), a fresh optimizer each
    time so that nothing but the model carries state (a resumed run repeats it exactly)."""
    cfg = ctx.cfg
    set_trainable(model, params=False, alphas=True)
    _, alphas = split_parameters(model)
    train_epoch(model, ctx.splits.val, filter_optimizer(ctx, alphas), batch_size=cfg.batch_size,
                generator=generator(cfg.seed, *stream), device=ctx.device, stage=" ".join(map(str, stream)),
                extra_loss=lambda: cfg.filter_lambda * regularizer(model, cfg.filter_regularizer))
    set_trainable(model, params=True, alphas=False)


def coarse_train(ctx: RunContext, target: torch.nn.Module) -> None:
    """Train the target network's parameters on Dtrain; with ``filter_training="joint"`` its filter weights
    train on Dval after every epoch (joint search-and-training from the start: every filter, not only the
    ones a draw keeps, learns its weight), else they stay at their initialisation until the search."""
    cfg = ctx.cfg
    if not cfg.coarse_training or cfg.coarse_epochs == 0:
        return
    set_trainable(target, params=True, alphas=False)
    params, _ = split_parameters(target)
    joint = cfg.filter_training == "joint"
    fit(ctx, target, ctx.splits.train, stage="coarse", epochs=cfg.coarse_epochs, lr=cfg.coarse_lr,
        schedule="cosine", warmup=cfg.warmup_epochs, params=params, val_source=ctx.splits.val,
        after_epoch=(lambda epoch: filter_epoch(ctx, target, "coarse filters", epoch)) if joint else None)
    set_trainable(target, params=True, alphas=True)


def sampler_scores(alphas: dict[str, torch.Tensor], score: str) -> dict[str, torch.Tensor]:
    """What the sampler ranks: |alpha| (a channel's output scales with |alpha|, whatever its sign) or alpha."""
    return {n: (a.detach().abs() if score == "magnitude" else a.detach()) for n, a in alphas.items()}


def draw(ctx: Context, target, t: int, policy: ThresholdPolicy | None, flops: FlopsModel) -> dict:
    """Thresholds from the policy, then the sampler (Algorithm 1), then the budget projection; with the
    per-step baseline, ``control_draws`` more draws of the same kind. Drawn from the generator of
    (seed, step), so a resumed step draws the same sub-networks again."""
    cfg = ctx.cfg
    gen = generator(cfg.seed, "search", t)
    alphas = sampler_scores(filter_weights(target), cfg.filter_score)
    plan = {"step": t, **_draw_one(cfg, alphas, policy, flops, gen), "controls": []}
    if policy is not None and cfg.policy_baseline == "control_draws":
        plan["controls"] = [_draw_one(cfg, alphas, policy, flops, gen)["keep"] for _ in range(cfg.control_draws)]
    return plan


def _draw_one(cfg, alphas: dict[str, torch.Tensor], policy: ThresholdPolicy | None, flops: FlopsModel,
              gen: torch.Generator) -> dict:
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
                                    cfg.channel_multiple, both_ways=cfg.projection_both_ways)
    return {"choice": choice, "thresholds": taus, "keep": keep, "threshold_scale": scale,
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
    if cfg.filter_training != "frozen":
        set_trainable(sub, params=False, alphas=True)
        _, alphas = split_parameters(sub)
        fit(ctx, sub, ctx.splits.val, stage=f"search step {t} filters", epochs=cfg.filter_epochs,
            lr=filter_rate(ctx), schedule="constant", optimizer=filter_optimizer(ctx, alphas),
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
    ratio = flops.ratio(keep)
    choice_reward = baseline = None
    if plan["controls"]:   # the choice and its controls, measured alike on the same target before training
        choice_reward = reward(choice_accuracy(ctx, target, keep, t, 0)[0], ratio, cfg.flops_target, cfg.gamma)
        baseline = sum(reward(choice_accuracy(ctx, target, k, t, i + 1)[0], flops.ratio(k), cfg.flops_target,
                              cfg.gamma) for i, k in enumerate(plan["controls"])) / len(plan["controls"])
    sub = extract(target if cfg.use_updater else _fresh_source(ctx, target, t), keep)
    train_candidate(ctx, sub, t)

    val = evaluate(sub, ctx.splits.val, cfg.eval_batch_size, ctx.device, cfg.amp)
    r = choice_reward if choice_reward is not None else reward(val["acc"], ratio, cfg.flops_target, cfg.gamma)
    advantage = 0.0
    if policy is not None:
        advantage = policy.update(plan["choice"], r, baseline)
        if distributed.active():
            policy.load(distributed.broadcast(policy.state()))  # the policy update, as made on rank 0
    if cfg.use_updater:
        write_back(target, sub, keep)
    ctx.check_same(f"parameters after search step {t}", target.state_dict())
    m_t, lr_t = cfg.search_schedule(t)
    record = {"step": t, "epochs": m_t, "lr": lr_t, "thresholds": plan["thresholds"],
              "threshold_scale": plan["threshold_scale"], "drawn_flops_ratio": plan["drawn_flops_ratio"],
              "flops_ratio": ratio, "params": count_params(sub), "val_acc": val["acc"], "val_loss": val["loss"],
              "reward": r, "baseline": baseline, "advantage": advantage,
              "widths": {name: len(k) for name, k in keep.items()},
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
    state = {"step": 0, "candidates": [], "keeps": [], "best": None, "best_state": None, "best_keep": None,
             "policy_probabilities": [], "policy_entropy": [policy.entropy()] if policy is not None else []}
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
        state["keeps"].append({k: v.cpu() for k, v in keep.items()})
        if policy is not None:
            state["policy_probabilities"].append(policy.probabilities().tolist())
            state["policy_entropy"].append(policy.entropy())
        best = state["best"]
        if cfg.selection == "at_step" and record["within_budget"] and (best is None or
                                                                        record["val_acc"] > best["val_acc"]):
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
    if cfg.selection != "at_step" and state["best"] is None:
        select_on_final_target(ctx, target, state)
        ctx.save_checkpoint("search", {"target": target.state_dict(),   # the selection, for the book's readers
                                       "policy": policy.state() if policy else None, "search": state})
    if state["best"] is None:
        raise RuntimeError("no search candidate met the FLOPs budget; enable budget_projection or raise "
                           "the FLOPs target")
    return state


def select_on_final_target(ctx: Context, target: torch.nn.Module, state: dict) -> None:
    """Selection that any step can win. Every candidate's sub-network is taken from the final target and
    measured alike (``choice_accuracy``, recorded as ``final_val_acc``). ``selection="advantage"`` picks the
    candidate that beat its own step's control draws by the most (drift-free: each is compared only with
    draws of its own step; the final target favours the last steps, whose channels it trained last);
    ``final_target`` picks the best final_val_acc. Either way the selected sub-network's weights are the
    final target's."""
    cfg = ctx.cfg
    by_advantage = cfg.selection == "advantage" and all(c["baseline"] is not None for c in state["candidates"])
    state["selection_used"] = "advantage" if by_advantage else "final_target"
    best_score = None
    for record, keep in zip(state["candidates"], state["keeps"]):
        acc, sub = choice_accuracy(ctx, target, keep, "select", record["step"])
        record["final_val_acc"] = acc
        score = record["advantage"] if by_advantage else acc
        if record["within_budget"] and (best_score is None or score > best_score):
            best_score = score
            state["best"], state["best_keep"] = record, keep
            state["best_state"] = {k: v.detach().cpu().clone() for k, v in sub.state_dict().items()}


def selected_network(ctx: Context, state: dict) -> torch.nn.Module:
    """The best candidate as a plain network (filter weights folded into BN)."""
    cfg = ctx.cfg
    shell = build_for(cfg.arch, ctx.splits.info, gate=cfg.gate_position, init=False)
    sub = extract(shell, state["best_keep"])
    sub.load_state_dict(state["best_state"])
    return fold(sub).to(ctx.device)
