"""ISTA on batch-norm scales (Ye et al., ICLR 2018, "Rethinking the Smaller-Norm-Less-Informative
Assumption in Channel Pruning of Convolution Layers"), PAPER.md section 2.

A channel computes relu(gamma * BN(W * x) + beta). Only gamma is sparsified, by a proximal (ISTA) step
after every SGD step: gamma <- sign(gamma) * max(|gamma| - lr * rho * lambda_l, 0), which sets small
scales to exactly zero. lambda_l is the memory cost of one channel of layer l relative to the input
(``memory_costs``). A channel with gamma = 0 outputs the constant relu(beta): its constant is folded into
the next layer (``fold_constant_channels``), the channel is removed, and the smaller network is fine-tuned.
The gamma-W rescaling trick (``rescale``) scales gamma and beta by alpha and the next layer's weights by
1 / alpha before training and undoes it after (alpha = 1 from scratch, the paper's setting here).

The strength of the penalty. Ye et al.'s rho (ista_rho_warmup for ista_warmup_steps, then ista_rho, at
ista_lr) shrinks a scale by lr * rho * lambda_l per step: over a cpu-scale run (400 to 7,000 steps) that
adds up to a few hundredths, far from driving |gamma| ~ 1 to zero, and the proximal step zeroed nothing.
With ``ista_rho_schedule="scaled"`` (the default) the paper's schedule keeps its shape (ista_rho_warmup for
the warm-up, then ista_rho) but is multiplied by the factor that makes sum over the run of lr * rho_t *
lambda_l equal ``ista_shrinkage`` for a layer of mean cost (``rho_scale``); "fixed" runs the paper's
values as given. result.json's method_details give the factor and the rho used.

Meeting the FLOPs budget. The network is trained from scratch with ISTA for coarse_epochs at the fixed
learning rate ista_lr. The proximal step never touches a layer's ``floor_of(width, layer_floor,
min_channels)`` largest scales, so no layer goes under its floor. The network with the zero-scale channels
removed is measured after every step; as soon as it meets the budget, the channels that step zeroed
beyond what the budget needs are given back (most recently zeroed first, at their value before the
step: ``_Ista.revive``, which keeps the FLOPs within a small channel of the target), the proximal step
stops and the zeroed scales are held at zero for the rest of the training (stop-at-budget). If training
ends above the budget, a closing step zeroes what one proximal step with threshold c * lambda_l would zero,
c the smallest value that meets the budget (a global threshold on |gamma| / lambda_l with the same floor;
the surviving scales are not shrunk, fine-tuning follows), then gives back channels the same way, so the
result is always within budget. result.json's ``mechanism`` counts the channels the proximal step zeroed
against those the closing step removed (``jst.methods.evidence.from_shares``), overall and per layer.

Folding is exact when the next layer reads the constant channel without zero padding (LeNet-5's conv2
and the fully connected layers): then the channel adds the same constant to every output position and
that constant moves into the next layer's bias or, where it has none, out of its BN running mean (exact
in eval mode; in training mode BN removes a constant shift by itself). Behind a padded convolution
(VGG, ResNets) border positions see zeros instead of the constant, so folding is approximate there; the
fine-tuning that follows absorbs the difference. The constant is relu(beta) because in every network
of ``jst.nets.models`` a prunable layer's BN is followed by ReLU (then pooling or flattening, which keep a
constant constant). Weight decay (weight_decay) also acts on gamma, as ``jst.engine.train.fit`` applies it to
every parameter.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jst.engine.context import RunContext
from jst.engine.train import fit
from jst.methods.common import dense_network, finetune, flops_model, load_stage, optimizer_hooks, outcome
from jst.methods.evidence import from_shares
from jst.nets.budget import fill_in_order, floor_of, keep_global
from jst.nets.flops import output_positions
from jst.nets.importance import keep_top
from jst.nets.prunable import Keep, in_dim
from jst.nets.subnetwork import extract


def memory_costs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    """lambda_l = (H_out * W_out + k_h * k_w * c_in + sum over the next layers of k_h * k_w * c_out) /
    (I_h * I_w): one channel's activation map, its filter, and what the next layers spend reading it."""
    modules = dict(model.named_modules())
    layers = model.prunable_layers()
    spatial = output_positions(model, input_shape, [layer.name for layer in layers])
    image = input_shape[1] * input_shape[2]
    costs = {}
    for layer in layers:
        filt = modules[layer.name].weight[0].numel()
        reads = sum(modules[c].weight.numel() // in_dim(modules[c]) * layer.consumer_group for c in layer.consumers)
        costs[layer.name] = (spatial[layer.name] + filt + reads) / image
    return costs


@torch.no_grad()
def proximal_step(gamma: torch.Tensor, threshold: float | torch.Tensor) -> None:
    """gamma <- sign(gamma) * max(|gamma| - threshold, 0), in place: scales below threshold become 0."""
    gamma.copy_(torch.sign(gamma) * torch.clamp(gamma.abs() - threshold, min=0))


@torch.no_grad()
def rescale(model: nn.Module, alpha: float) -> None:
    """gamma-W rescaling: gamma and beta times alpha, the next layers' weights on that channel over alpha.
    relu(alpha * z) = alpha * relu(z), so the network computes the same function."""
    if alpha == 1.0:
        return
    modules = dict(model.named_modules())
    for layer in model.prunable_layers():
        bn = modules[layer.norm]
        bn.weight.mul_(alpha)
        bn.bias.mul_(alpha)
        for c in layer.consumers:
            modules[c].weight.div_(alpha)


def norm_after(model: nn.Module, consumer: str) -> nn.modules.batchnorm._BatchNorm:
    """The batch-norm that directly follows a consumer without bias (its own prunable norm, else the
    ``convN`` -> ``bnN`` sibling of the residual blocks)."""
    modules = dict(model.named_modules())
    own = {layer.name: layer.norm for layer in model.prunable_layers()}
    if consumer in own:
        return modules[own[consumer]]
    parent, _, leaf = consumer.rpartition(".")
    if leaf.startswith("conv"):
        sibling = f"{parent}.bn{leaf[4:]}" if parent else f"bn{leaf[4:]}"
        if isinstance(modules.get(sibling), nn.modules.batchnorm._BatchNorm):
            return modules[sibling]
    raise ValueError(f"{consumer}: no bias and no batch-norm after it to fold a constant into")


@torch.no_grad()
def fold_constant_channels(model: nn.Module, min_keep: int = 1) -> Keep:
    """Fold every zero-scale channel's constant relu(beta) into its consumers and return the channels to
    keep (the nonzero-scale ones, at least ``min_keep`` per layer); ``extract(model, keep)`` then removes
    the others. In place on ``model``."""
    modules = dict(model.named_modules())
    keep: Keep = {}
    for layer in model.prunable_layers():
        bn = modules[layer.norm]
        k = keep_top(bn.weight.abs(), max(min_keep, int((bn.weight != 0).sum())))
        removed = torch.ones_like(bn.weight, dtype=torch.bool)
        removed[k] = False
        constant = F.relu(bn.bias) * removed
        for name in layer.consumers:
            c = modules[name]
            w = c.weight
            if isinstance(c, nn.Conv2d):
                if c.groups != 1:
                    raise ValueError(f"{name}: grouped convolutions are not foldable here")
                per_channel = w.sum((2, 3))
            else:
                per_channel = w.view(w.shape[0], -1, layer.consumer_group).sum(2)
            offset = per_channel @ constant
            if c.bias is not None:
                c.bias.add_(offset)
            else:
                norm_after(model, name).running_mean.sub_(offset)
        keep[layer.name] = k
    return keep


def planned_steps(ctx: RunContext) -> int:
    """Optimizer steps of the sparse phase: coarse_epochs passes over the official training set."""
    cfg = ctx.cfg
    batches = math.ceil(len(ctx.splits.full_train) / cfg.batch_size)
    return cfg.coarse_epochs * max(1, math.ceil(batches / cfg.grad_accum))


def rho_scale(cfg, steps: int, costs: dict[str, float]) -> float:
    """The factor on the paper's rho schedule (warm-up rho, then rho). "fixed": 1. "scaled": the factor that
    makes sum over the run of lr * rho_t * lambda_l reach ``ista_shrinkage`` for a layer of mean cost, so the
    penalty can drive scales of ~1 to zero within the run whatever its length (the paper's 30k warm-up steps
    alone outlast a cpu-scale run)."""
    if cfg.ista_rho_schedule == "fixed":
        return 1.0
    warm = min(cfg.ista_warmup_steps, steps)
    paper = cfg.ista_lr * (cfg.ista_rho_warmup * warm + cfg.ista_rho * (steps - warm))
    return cfg.ista_shrinkage / (paper * sum(costs.values()) / len(costs)) if paper > 0 else 1.0


class _Ista:
    """The proximal step after every step of fit's loop (never on a layer's ``floor`` largest scales), the
    rho warm-up, and the stop at the budget."""

    def __init__(self, ctx, model: nn.Module, flops, costs: dict[str, float], start_step: int, scale: float):
        cfg = ctx.cfg
        modules = dict(model.named_modules())
        self.cfg, self.flops, self.costs, self.step, self.scale = cfg, flops, costs, start_step, scale
        self.gammas = {layer.name: modules[layer.norm].weight for layer in model.prunable_layers()}
        self.floors = {n: floor_of(len(g), cfg.layer_floor, cfg.min_channels) for n, g in self.gammas.items()}
        self.frozen: dict[str, torch.Tensor] | None = None   # zeroed scales, held at zero once within budget
        self.reached_step: int | None = None
        self.revived = 0
        self.last = {n: torch.zeros_like(g) for n, g in self.gammas.items()}          # |gamma| when zeroed
        self.zeroed_at = {n: torch.full_like(g, -1.0) for n, g in self.gammas.items()}  # step it was zeroed

    def widths(self) -> dict[str, int]:
        return {n: max(self.cfg.min_channels, int((g != 0).sum())) for n, g in self.gammas.items()}

    def ratio(self) -> float:
        return self.flops.flops(self.widths()) / self.flops.total

    def freeze(self) -> None:
        self.frozen = {n: g == 0 for n, g in self.gammas.items()}
        self.reached_step = self.step

    @torch.no_grad()
    def before(self, _optimizer=None) -> None:
        if self.frozen is None and self.ratio() <= self.cfg.flops_target:   # at the start, or on resuming
            self.freeze()

    @torch.no_grad()
    def revive(self) -> None:
        """The step that crossed the budget may have zeroed more than the budget needs: give back the
        channels zeroed last (most recent step first, then the largest |gamma| / lambda_l), at the
        value they had before the step, while the network stays within budget."""
        order = sorted(((float(self.zeroed_at[n][i]), abs(float(self.last[n][i])) / self.costs[n], n, i)
                        for n, g in self.gammas.items() for i in (g == 0).nonzero().flatten().tolist()),
                       reverse=True)
        for n, i in fill_in_order(self.widths(), [(n, i) for *_, n, i in order], self.flops, self.cfg.flops_target):
            self.gammas[n][i] = self.last[n][i]
            self.revived += 1

    @torch.no_grad()
    def close(self) -> float:
        """Training ended above budget: zero what one more proximal step with threshold c * lambda_l
        would, c the smallest that meets the budget (one global threshold on |gamma| / lambda_l, each layer
        keeping its floor; the surviving scales are not shrunk), then ``revive`` (the closing step's
        largest first). Returns c."""
        cfg = self.cfg
        scores = {n: g.abs().cpu() / self.costs[n] for n, g in self.gammas.items()}
        keep, c = keep_global(scores, self.flops, cfg.flops_target, cfg.min_channels, floor=cfg.layer_floor)
        self.step += 1
        for n, g in self.gammas.items():
            drop = torch.ones_like(g, dtype=torch.bool)
            drop[keep[n].to(g.device)] = False
            drop &= g != 0
            self.last[n][drop] = g[drop]
            self.zeroed_at[n][drop] = float(self.step)
            g[drop] = 0.0
        self.revive()
        self.step -= 1
        return c

    @torch.no_grad()
    def after(self, optimizer) -> None:
        self.step += 1
        if self.frozen is not None:
            for n, g in self.gammas.items():
                g[self.frozen[n]] = 0.0
            return
        warm = self.step <= self.cfg.ista_warmup_steps
        rho = self.scale * (self.cfg.ista_rho_warmup if warm else self.cfg.ista_rho)
        lr = optimizer.param_groups[0]["lr"]
        for n, g in self.gammas.items():
            free = torch.ones_like(g, dtype=torch.bool)
            free[keep_top(g.abs(), self.floors[n]).to(g.device)] = False       # the floor's largest scales
            old = g.clone()
            shrunk = g.clone()
            proximal_step(shrunk, lr * rho * self.costs[n])
            g[free] = shrunk[free]
            newly = (old != 0) & (g == 0)
            self.last[n][newly] = old[newly]
            self.zeroed_at[n][newly] = float(self.step)
        if self.ratio() <= self.cfg.flops_target:
            self.revive()
            self.freeze()


def run_ista(ctx: RunContext) -> dict:
    cfg, info = ctx.cfg, ctx.splits.info
    model = dense_network(ctx)
    flops = flops_model(ctx, model)
    costs = memory_costs(model, info.input_shape)
    rescale(model, cfg.ista_alpha)

    saved = load_stage(ctx, "ista")
    steps = planned_steps(ctx)
    scale = rho_scale(cfg, steps, costs)
    done = (saved["epoch"] if saved else 0) * steps // max(1, cfg.coarse_epochs)
    ista = _Ista(ctx, model, flops, costs, start_step=done, scale=scale)
    with optimizer_hooks(pre=ista.before, post=ista.after):
        fit(ctx, model, ctx.splits.full_train, stage="ista", epochs=cfg.coarse_epochs, lr=cfg.ista_lr,
            schedule="constant")
    ista.before()
    closing = None
    if ista.frozen is None:  # above budget: the closing step
        c = ista.close()
        closing = {"multiple_of_lambda": c if math.isfinite(c) else None, "flops_ratio": ista.ratio()}
    end = ista.step + 1      # the closing step's mark in zeroed_at
    by_prox = {n: int(((g == 0) & (ista.zeroed_at[n] < end)).sum()) for n, g in ista.gammas.items()}
    by_closing = {n: int(((g == 0) & (ista.zeroed_at[n] == end)).sum()) for n, g in ista.gammas.items()}
    rescale(model, 1.0 / cfg.ista_alpha)
    keep = fold_constant_channels(model, cfg.min_channels)
    per_layer = {n: {"width": len(g), "zeroed_by_prox": by_prox[n], "removed_by_closing": by_closing[n],
                     "kept": len(keep[n]), "floor": ista.floors[n]} for n, g in ista.gammas.items()}
    removed = sum(len(g) - len(keep[n]) for n, g in ista.gammas.items())
    mechanism = from_shares("the proximal step", min(sum(by_prox.values()), removed), removed,
                            budget_reached_at_step=ista.reached_step, ista_steps=ista.step, per_layer=per_layer)
    pruned = finetune(ctx, extract(model, keep))
    return outcome(pruned, None, "none: ISTA trains a sparse network from scratch", mechanism=mechanism,
                   memory_costs=costs, budget_reached_at_step=ista.reached_step, ista_steps=ista.step,
                   channels_zeroed_by_ista=sum(by_prox.values()), closing_proximal_step=closing,
                   rho_schedule=cfg.ista_rho_schedule, rho_scale=scale, rho=scale * cfg.ista_rho,
                   planned_steps=steps, revived_at_budget=ista.revived)
