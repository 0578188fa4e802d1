"""AutoPrune (Xiao, Wang & Rajasekaran, NeurIPS 2019): prune by training auxiliary parameters, not weights.

Every prunable unit carries an auxiliary parameter m; the unit is on when m > 0 (a step mask h(m)).
Weights and auxiliary parameters train in alternation on the two halves of a seeded 1:1 split of the
official training set (the paper's 1:1 split): a pass over one half updates the weights through the
masked network (m fixed), a pass over the other updates m (weights fixed) on cross-entropy plus
mu * R(m). h has no useful derivative, so m's gradient goes through a straight-through estimator
(``ESTIMATORS``; the paper compared several and found a leaky-ReLU-like one best, the default here).
Because pruning only masks, a pruned weight keeps its value, and its m still receives gradient under the
leaky estimator: when the loss wants it back, m crosses zero again and the weight returns (recoverable
pruning; result.json counts the recoveries of every round).

Two forms (``autoprune_mode``):
- ``structured`` (default): one m per filter of every prunable layer, acting as a gate after the filter's
  batch-norm (the channel outputs zero when off, so removing it is exact); the result is extracted into a
  physically smaller network like every other method's.
- ``unstructured``: one m per weight of every conv and linear layer (the paper's LeNet-5 setting: 7% FLOPs,
  310x compression). The export keeps the dense shapes with zeros; result.json counts FLOPs as sparse
  FLOPs (``jst.nets.flops.count_sparse``: 2 x nonzero weights x output positions) and params as nonzero
  parameters, and reports the compression ratio (dense params / nonzero params) and the weight
  compression ratio (conv/linear weights / nonzero ones).

Reconstruction choices (the paper's text is not available here; each a named option): the estimators'
exact forms (``autoprune_ste``, ``autoprune_ste_slope`` = 0.1 for the leaky one); R(m) = the sum of the
masks, differentiated through the estimator (``autoprune_regularizer="l1_mask"``; "l1" = sum |m|); m
initialised from the pre-trained magnitudes, |w| / the layer's mean (per filter: its L1 norm / the
layer's mean) (``autoprune_init``); m trained by plain SGD (``autoprune_momentum`` = 0: momentum carries m
far past the budget) with mu = 5e-2; the weights at finetune_lr; one round = one pass over each half
(``autoprune_rounds``).

The auxiliary learning rate follows the run's length (``autoprune_reach``, ``aux_lr``): m starts near 1 and
R moves it by lr * mu a step, so at the paper's lr 1.5e-2 a unit needs ~1,300 auxiliary steps before it can
turn off, more than a short run has (the cpu scale's CIFAR rounds take ~100: no mask moved there). The lr is
the paper's or, when larger, the one with which R alone carries m from 1 to 0 in autoprune_reach (0.5) of
the rounds' auxiliary steps; the paper's own schedules keep the paper's lr. result.json gives the lr used.

Meeting the FLOPs budget (``autoprune_control``): the regulariser pushes m down while the current mask's
FLOPs (structured: FLOPs of the kept widths; unstructured: sparse FLOPs) are above the budget and, by
default ("two_sided"), pushes it up with the same strength while below, so the mask tracks the budget
and units pruned too early come back ("stop": no regulariser below the budget). After the last round a
projection fixes the remainder: one global threshold on m brings the mask within [budget * (1 - 2%),
budget] (switching off the smallest m when above, back on the largest off ones when too far below), and in
the structured form every layer keeps at least layer_floor of its filters. The mask is then frozen and the
network fine-tuned on the whole training set (JST's fine-tuning schedule). result.json's ``mechanism``
counts, per layer, the units the masks turned off during the rounds and the ones the projection removed
(or restored); the run is labelled a fallback when the projection removed most of them.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.utils.parametrize as parametrize
from torch import nn

from jst.core.filter_weights import fold, split_parameters
from jst.engine import data
from jst.engine.context import RunContext
from jst.engine.errors import ConfigError
from jst.engine.rng import generator
from jst.engine.train import make_optimizer, train_epoch
from jst.methods.autoprune_ste import ESTIMATORS, StepGate, WeightMask, step_mask
from jst.methods.common import dense_network, dense_source, finetune, flops_model, load_stage, outcome, pretrain
from jst.methods.evidence import from_shares
from jst.nets.budget import BUDGET_TOLERANCE, floor_of, keep_global, top_up
from jst.nets.flops import count_sparse, flops_per_weight
from jst.nets.importance import keep_top, l1_norm
from jst.nets.subnetwork import extract

MODES = ("structured", "unstructured")


def _magnitude(scores: torch.Tensor) -> torch.Tensor:
    return scores / scores.mean().clamp_min(1e-12)


class AuxiliaryParameters:
    """The auxiliary parameters of a network, attached as parametrizations, and what they decide."""

    def __init__(self, model: nn.Module, cfg, input_shape, flops=None):
        if cfg.autoprune_mode not in MODES:
            raise ConfigError(f"autoprune_mode must be one of {MODES}, got {cfg.autoprune_mode!r}")
        if cfg.autoprune_ste not in ESTIMATORS:
            raise ConfigError(f"autoprune_ste must be one of {ESTIMATORS}, got {cfg.autoprune_ste!r}")
        if cfg.autoprune_init not in ("magnitude", "constant"):
            raise ConfigError("autoprune_init must be 'magnitude' or 'constant'")
        if cfg.autoprune_regularizer not in ("l1_mask", "l1"):
            raise ConfigError("autoprune_regularizer must be 'l1_mask' or 'l1'")
        if cfg.autoprune_control not in ("two_sided", "stop"):
            raise ConfigError("autoprune_control must be 'two_sided' or 'stop'")
        self.model, self.cfg, self.flops = model, cfg, flops
        self.structured = cfg.autoprune_mode == "structured"
        kind, slope = cfg.autoprune_ste, cfg.autoprune_ste_slope
        modules = dict(model.named_modules())
        self.aux: dict[str, nn.Parameter] = {}
        with torch.no_grad():
            if self.structured:
                scores = l1_norm(model)
                for layer in model.prunable_layers():
                    bn = modules[layer.norm]
                    bn.alpha.copy_(self._init(scores[layer.name]).to(bn.alpha.device))
                    parametrize.register_parametrization(bn, "alpha", StepGate(kind, slope))
                    self.aux[layer.name] = bn.parametrizations.alpha.original
            else:
                self.cost = flops_per_weight(model, input_shape)
                self.total_cost = sum(modules[n].weight.numel() * c for n, c in self.cost.items())
                for name in self.cost:
                    w = modules[name].weight
                    parametrize.register_parametrization(modules[name], "weight",
                                                         WeightMask(self._init(w.detach().abs()), kind, slope))
                    self.aux[name] = modules[name].parametrizations.weight[0].m

    def _init(self, magnitudes: torch.Tensor) -> torch.Tensor:
        return _magnitude(magnitudes) if self.cfg.autoprune_init == "magnitude" else torch.ones_like(magnitudes)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.aux.values())

    def weights(self) -> list[nn.Parameter]:
        """The network's own parameters (for structured, also without the gates)."""
        ids = {id(p) for p in self.aux.values()}
        params = split_parameters(self.model)[0] if self.structured else list(self.model.parameters())
        return [p for p in params if id(p) not in ids]

    def masks(self) -> dict[str, torch.Tensor]:
        return {n: (m.detach() > 0) for n, m in self.aux.items()}

    def ratio(self) -> float:
        """FLOPs kept by the current mask: structured, of the kept widths; unstructured, sparse FLOPs."""
        masks = self.masks()
        if self.structured:
            w = {n: max(self.cfg.min_channels, int(k.sum())) for n, k in masks.items()}
            return self.flops.flops(w) / self.flops.total
        return sum(int(k.sum()) * self.cost[n] for n, k in masks.items()) / self.total_cost

    def regularizer(self, push: float = 1.0) -> torch.Tensor:
        """R(m), minimised to prune (push = 1); with push = -1, its mirror, which revives units."""
        cfg = self.cfg
        if cfg.autoprune_regularizer == "l1":
            terms = [m.abs().sum() if push > 0 else -m.sum() for m in self.aux.values()]
        else:
            terms = [push * step_mask(m, cfg.autoprune_ste, cfg.autoprune_ste_slope).sum() for m in self.aux.values()]
        return torch.stack(terms).sum()

    @torch.no_grad()
    def project(self, budget: float) -> bool:
        """Bring the mask within [budget * (1 - BUDGET_TOLERANCE), budget] by one global threshold on m: the
        units with the smallest m go off when above it, the off units with the largest m come back on when
        too far below (structured: and every layer keeps at least layer_floor of its filters, the best by
        m). Only the remainder the rounds left changes. Returns whether the mask changed."""
        low = budget * (1 - BUDGET_TOLERANCE)
        if self.structured:
            scores = {n: v.detach().cpu() for n, v in self.aux.items()}
            keep = {n: keep_top(v, max(floor_of(len(v), self.cfg.layer_floor, self.cfg.min_channels),
                                        int((v > 0).sum()))) for n, v in scores.items()}
            if not low <= self.flops.ratio(keep) <= budget:
                keep, _ = keep_global(scores, self.flops, budget, self.cfg.min_channels, self.cfg.layer_floor)
                # a threshold can stop one coarse unit short (a LeNet-5 conv1 filter is ~14% of its FLOPs):
                # the best off units come back on, with swaps, as for L1-norm and the sampler
                keep = top_up(scores, keep, self.flops.ratio, budget,
                              minimum={n: floor_of(len(v), self.cfg.layer_floor, self.cfg.min_channels)
                                       for n, v in scores.items()})
            if all(torch.equal(keep[n].to(k.device), torch.nonzero(k).flatten()) for n, k in self.masks().items()):
                return False
            on = {n: torch.zeros_like(v, dtype=torch.bool) for n, v in self.aux.items()}
            for n, k in keep.items():
                on[n][k.to(on[n].device)] = True
        else:
            if low <= self.ratio() <= budget:
                return False
            names = list(self.aux)
            m = torch.cat([self.aux[n].detach().flatten() for n in names])
            cost = torch.cat([torch.full((self.aux[n].numel(),), float(self.cost[n]), device=m.device)
                              for n in names])
            order = torch.argsort(m, descending=True, stable=True)
            fits = torch.cumsum(cost[order], 0) <= budget * self.total_cost
            kept = torch.zeros_like(m, dtype=torch.bool)
            kept[order[fits]] = True
            on, start = {}, 0
            for n in names:
                on[n] = kept[start:start + self.aux[n].numel()].view_as(self.aux[n])
                start += self.aux[n].numel()
        for n, m in self.aux.items():
            m.copy_(torch.where(on[n], m.clamp(min=1e-6), m.clamp(max=-1e-6)))
        return True

    @torch.no_grad()
    def remove(self) -> None:
        """Drop the parametrizations, leaving the masked values (gates 0/1, weights with zeros)."""
        modules = dict(self.model.named_modules())
        norms = {layer.name: layer.norm for layer in self.model.prunable_layers()}
        for name in self.aux:
            if self.structured:
                parametrize.remove_parametrizations(modules[norms[name]], "alpha", leave_parametrized=True)
            else:
                parametrize.remove_parametrizations(modules[name], "weight", leave_parametrized=True)


def aux_lr(cfg, aux_samples: int) -> float:
    """The auxiliary parameters' learning rate: the paper's autoprune_lr, raised for a run too short for it.

    m starts at 1 on average (magnitude init) and the regulariser moves it by lr * mu per step, so with the
    paper's lr it takes 1 / (lr * mu) ~ 1,300 steps before a typical unit can turn off: more than a short
    run's rounds take. The lr is raised (never lowered) until the regulariser alone could carry m from 1
    to 0 in autoprune_reach of the rounds' auxiliary steps, leaving the rest to settle at the budget."""
    steps = cfg.autoprune_rounds * math.ceil(aux_samples / cfg.batch_size)
    if cfg.autoprune_reach <= 0:
        return cfg.autoprune_lr
    return max(cfg.autoprune_lr, 1.0 / (cfg.autoprune_mu * cfg.autoprune_reach * steps))


def autoprune_rounds(ctx: RunContext, aux: AuxiliaryParameters, weight_half, aux_half) -> list[dict]:
    """Alternate weight and auxiliary-parameter passes for autoprune_rounds rounds (resumable)."""
    cfg, model = ctx.cfg, aux.model
    w_opt = make_optimizer(aux.weights(), cfg.optimizer, cfg.finetune_lr, cfg.momentum, cfg.weight_decay)
    m_opt = make_optimizer(aux.parameters(), "sgd", aux_lr(cfg, len(aux_half)), cfg.autoprune_momentum, 0.0)
    history, start = [], 0
    saved = load_stage(ctx, "autoprune")
    if saved is not None:
        model.load_state_dict(saved["model"])
        w_opt.load_state_dict(saved["w_opt"])
        m_opt.load_state_dict(saved["m_opt"])
        history, start = saved["history"], saved["round"]
    active = {"steps": 0, "on": 0}

    def regularizer() -> torch.Tensor:
        active["steps"] += 1
        if aux.ratio() > cfg.flops_target:
            active["on"] += 1
            return cfg.autoprune_mu * aux.regularizer()
        if cfg.autoprune_control == "two_sided":
            return cfg.autoprune_mu * aux.regularizer(push=-1.0)
        return torch.zeros((), device=ctx.device)

    for r in range(start, cfg.autoprune_rounds):
        before = aux.masks()
        for p in aux.parameters():
            p.requires_grad_(False)
        w_stats = train_epoch(model, weight_half, w_opt, batch_size=cfg.batch_size, device=ctx.device,
                              generator=generator(cfg.seed, "autoprune", r, "weights"),
                              stage=f"autoprune {r + 1} weights")
        for p in aux.parameters():
            p.requires_grad_(True)
        for p in aux.weights():
            p.requires_grad_(False)
        active.update(steps=0, on=0)
        m_stats = train_epoch(model, aux_half, m_opt, batch_size=cfg.batch_size, device=ctx.device,
                              generator=generator(cfg.seed, "autoprune", r, "aux"),
                              stage=f"autoprune {r + 1} aux", extra_loss=regularizer)
        for p in aux.weights():
            p.requires_grad_(True)
        after = aux.masks()
        record = {"stage": "autoprune", "round": r + 1, "flops_ratio": aux.ratio(),
                  "weights_train_acc": w_stats["acc"], "aux_train_loss": m_stats["loss"],
                  "above_budget": active["on"] / max(active["steps"], 1),
                  "units_on": int(sum(k.sum() for k in after.values())),
                  "pruned": int(sum((before[n] & ~after[n]).sum() for n in after)),
                  "recovered": int(sum((~before[n] & after[n]).sum() for n in after))}
        history.append(record)
        ctx.log(record)
        ctx.save_checkpoint("autoprune", {"model": model.state_dict(), "w_opt": w_opt.state_dict(),
                                      "m_opt": m_opt.state_dict(), "round": r + 1, "history": history})
    return history


def evidence(after_rounds: dict[str, torch.Tensor], final: dict[str, torch.Tensor], **figures) -> dict:
    """Who removed the units that end up off: the masks during the rounds, or the closing projection."""
    per_layer = {n: {"off_after_rounds": int((~after_rounds[n]).sum()), "removed": int((~final[n]).sum()),
                     "by_masks": int((~after_rounds[n] & ~final[n]).sum()),
                     "by_projection": int((after_rounds[n] & ~final[n]).sum()),
                     "restored_by_projection": int((~after_rounds[n] & final[n]).sum())} for n in final}
    by_masks = sum(v["by_masks"] for v in per_layer.values())
    removed = sum(v["removed"] for v in per_layer.values())
    return from_shares("the masks", by_masks, removed, per_layer=per_layer,
                       flipped_in_rounds=sum(v["off_after_rounds"] for v in per_layer.values()),
                       removed_by_projection=removed - by_masks, **figures)


def run_autoprune(ctx: RunContext) -> dict:
    cfg, info = ctx.cfg, ctx.splits.info
    structured = cfg.autoprune_mode == "structured"
    model = dense_network(ctx, gate="after_bn" if structured else None)
    pretrain(ctx, model, params=split_parameters(model)[0])
    dense = fold(model) if structured else copy.deepcopy(model)
    aux = AuxiliaryParameters(model, cfg, info.input_shape, flops_model(ctx, dense))

    full = ctx.splits.full_train
    weight_idx, aux_idx = data.split_indices(len(full), 0.5, cfg.seed)
    history = autoprune_rounds(ctx, aux, full.subset(weight_idx), full.subset(aux_idx))
    searched_ratio, after_rounds = aux.ratio(), aux.masks()
    projected = aux.project(cfg.flops_target)
    details = {"mode": cfg.autoprune_mode, "rounds": history, "ratio_after_rounds": searched_ratio,
               "projected_to_budget": projected, "aux_lr": aux_lr(cfg, len(aux_idx)),
               "recovered_total": sum(h["recovered"] for h in history)}
    mechanism = evidence(after_rounds, aux.masks(), ratio_after_rounds=searched_ratio,
                         unit="filter" if structured else "weight")
    source = dense_source(cfg, "the dense network trained before pruning (coarse_epochs)")
    if structured:
        keep = {n: torch.nonzero(k).flatten().cpu() for n, k in aux.masks().items()}
        aux.remove()
        pruned = finetune(ctx, fold(extract(model, keep)))
        return outcome(pruned, dense, source, mechanism=mechanism, **details)
    for p in aux.parameters():
        p.requires_grad_(False)
    finetune(ctx, model, params=aux.weights())
    aux.remove()
    return {**outcome(model, dense, source, mechanism=mechanism, **details), "count": count_sparse}
