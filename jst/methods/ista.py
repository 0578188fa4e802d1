"""ISTA on batch-norm scales (Ye et al., ICLR 2018, "Rethinking the Smaller-Norm-Less-Informative
Assumption in Channel Pruning of Convolution Layers"), PAPER.md section 2.

A channel computes relu(gamma * BN(W * x) + beta). Only gamma is sparsified, by a proximal (ISTA) step
after every SGD step: gamma <- sign(gamma) * max(|gamma| - lr * rho * lambda_l, 0), which sets small
scales to exactly zero. lambda_l is the memory cost of one channel of layer l relative to the input
(``memory_costs``). A channel with gamma = 0 outputs the constant relu(beta): its constant is folded into
the next layer (``fold_constant_channels``), the channel is removed, and the smaller network is fine-tuned.
The gamma-W rescaling trick (``rescale``) scales gamma and beta by alpha and the next layer's weights by
1 / alpha before training and undoes it after (alpha = 1 from scratch, the paper's setting here).

Meeting the FLOPs budget. The network is trained from scratch with ISTA for coarse_epochs at the
paper's fixed learning rate (ista_lr), rho = ista_rho_warmup for ista_warmup_steps then ista_rho. The
network with the zero-scale channels removed is measured before every step; as soon as it meets the
budget, the proximal step stops and the zeroed scales are held at zero for the rest of the training
(stop-at-budget). If training ends above the budget, a closing step zeroes what one proximal step with
threshold c * lambda_l would zero, c the smallest value that meets the budget (a global threshold on
|gamma| / lambda_l; the surviving scales are not shrunk, fine-tuning follows), so the result is always
within budget; result.json's method_details say which of the two happened.

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
from jst.nets.budget import keep_global
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


class _Ista:
    """The proximal step after every step of fit's loop, the rho warm-up and the stop at the budget."""

    def __init__(self, ctx, model: nn.Module, flops, costs: dict[str, float], start_step: int):
        cfg = ctx.cfg
        modules = dict(model.named_modules())
        self.cfg, self.flops, self.costs, self.step = cfg, flops, costs, start_step
        self.gammas = {layer.name: modules[layer.norm].weight for layer in model.prunable_layers()}
        self.frozen: dict[str, torch.Tensor] | None = None   # zeroed scales, held at zero once within budget
        self.reached_step: int | None = None

    def ratio(self) -> float:
        w = {n: max(self.cfg.min_channels, int((g != 0).sum())) for n, g in self.gammas.items()}
        return self.flops.flops(w) / self.flops.total

    @torch.no_grad()
    def before(self, _optimizer=None) -> None:
        if self.frozen is None and self.ratio() <= self.cfg.flops_target:
            self.frozen = {n: g == 0 for n, g in self.gammas.items()}
            self.reached_step = self.step

    @torch.no_grad()
    def after(self, optimizer) -> None:
        self.step += 1
        if self.frozen is not None:
            for n, g in self.gammas.items():
                g[self.frozen[n]] = 0.0
            return
        rho = self.cfg.ista_rho_warmup if self.step <= self.cfg.ista_warmup_steps else self.cfg.ista_rho
        lr = optimizer.param_groups[0]["lr"]
        for n, g in self.gammas.items():
            proximal_step(g, lr * rho * self.costs[n])


def run_ista(ctx: RunContext) -> dict:
    cfg, info = ctx.cfg, ctx.splits.info
    model = dense_network(ctx)
    flops = flops_model(ctx, model)
    costs = memory_costs(model, info.input_shape)
    rescale(model, cfg.ista_alpha)

    saved = load_stage(ctx, "ista")
    steps_per_epoch = math.ceil(len(ctx.splits.full_train) / cfg.batch_size)
    ista = _Ista(ctx, model, flops, costs, start_step=(saved["epoch"] if saved else 0) * steps_per_epoch)
    with optimizer_hooks(pre=ista.before, post=ista.after):
        fit(ctx, model, ctx.splits.full_train, stage="ista", epochs=cfg.coarse_epochs, lr=cfg.ista_lr,
            schedule="constant")
    ista.before()
    zeroed_by_ista = sum(int((g == 0).sum()) for g in ista.gammas.values())
    closing = None
    if ista.frozen is None:  # above budget: one proximal step with the smallest sufficient multiple c
        keep, c = keep_global({n: g.detach().abs().cpu() / costs[n] for n, g in ista.gammas.items()}, flops,
                              cfg.flops_target, cfg.min_channels)
        with torch.no_grad():
            for n, g in ista.gammas.items():
                drop = torch.ones_like(g, dtype=torch.bool)
                drop[keep[n].to(g.device)] = False
                g[drop] = 0.0
        closing = {"multiple_of_lambda": c if math.isfinite(c) else None, "flops_ratio": ista.ratio()}
    rescale(model, 1.0 / cfg.ista_alpha)
    keep = fold_constant_channels(model, cfg.min_channels)
    pruned = finetune(ctx, extract(model, keep))
    return outcome(pruned, None, "none: ISTA trains a sparse network from scratch",
                   memory_costs=costs, budget_reached_at_step=ista.reached_step, ista_steps=ista.step,
                   channels_zeroed_by_ista=zeroed_by_ista, closing_proximal_step=closing)
