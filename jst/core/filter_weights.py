"""Filter weights: one learnable weight (alpha) per prunable filter, apart from the parameters.

They live in the gated batch-norms (``*.alpha``); this module separates them from the network's
parameters, initialises them, regularises them and folds them into a plain network for export.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from jst.nets.models.gated import is_gated

INITS = ("kaiming_normal", "ones")
REGULARIZERS = ("neg_variance", "entropy", "none")


def filter_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Layer name -> its filter weights, in the model's prunable-layer order."""
    modules = dict(model.named_modules())
    return {layer.name: modules[layer.norm].alpha for layer in model.prunable_layers()}


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(network parameters, filter weights): each gets its own optimizer."""
    params, alphas = [], []
    for name, p in model.named_parameters():
        (alphas if name.endswith(".alpha") else params).append(p)
    return params, alphas


@torch.no_grad()
def init_filter_weights(model: nn.Module, scheme: str = "kaiming_normal", generator=None) -> None:
    """PAPER.md: weights initialised by Kaiming normal "in PyTorch". ``kaiming_normal_`` refuses 1-D
    tensors; a filter weight that broadcasts over a feature map is a (1, C, 1, 1) tensor, whose fan-in
    is C, so alpha ~ N(0, 2 / C). ``ones`` starts every gate open (uniform sampling probabilities)."""
    if scheme not in INITS:
        raise ValueError(f"filter_weight_init must be one of {INITS}")
    for alpha in filter_weights(model).values():
        if scheme == "ones":
            alpha.fill_(1.0)
        else:
            alpha.copy_(torch.randn(alpha.shape, generator=generator) * (2.0 / alpha.numel()) ** 0.5)


def regularizer(model: nn.Module, kind: str = "neg_variance") -> torch.Tensor:
    """Makes each layer's filter weights more decisive (PAPER.md item 5); averaged over layers."""
    alphas = list(filter_weights(model).values())
    if kind == "none" or not alphas:
        return torch.zeros(())
    if kind == "neg_variance":
        terms = [-a.var(unbiased=False) for a in alphas]
    elif kind == "entropy":
        terms = [-(torch.softmax(a, 0) * torch.log_softmax(a, 0)).sum() for a in alphas]
    else:
        raise ValueError(f"filter-weight regularizer must be one of {REGULARIZERS}")
    return torch.stack(terms).mean()


def set_trainable(model: nn.Module, params: bool, alphas: bool) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(alphas if name.endswith(".alpha") else params)


@torch.no_grad()
def fold(model: nn.Module) -> nn.Module:
    """A plain copy: every gated batch-norm becomes an nn.BatchNorm with alpha folded in exactly.

    After BN: alpha * (g * xhat + b) = (alpha g) * xhat + alpha b.  Before BN: BN(alpha * conv(x)) =
    BN(conv'(x)) with the producer's weight and bias scaled by alpha.
    """
    plain = copy.deepcopy(model)
    modules = dict(plain.named_modules())
    for layer in plain.prunable_layers():
        gated = modules[layer.norm]
        if not is_gated(gated):
            continue
        a = gated.alpha.detach()
        bn = (nn.BatchNorm2d if isinstance(gated, nn.BatchNorm2d) else nn.BatchNorm1d)(
            gated.num_features, eps=gated.eps, momentum=gated.momentum)
        bn.load_state_dict({k: v for k, v in gated.state_dict().items() if k != "alpha"})
        if gated.position == "after_bn":
            bn.weight.mul_(a)
            bn.bias.mul_(a)
        else:
            producer = modules[layer.name]
            producer.weight.mul_(a.view((-1,) + (1,) * (producer.weight.dim() - 1)))
            if producer.bias is not None:
                producer.bias.mul_(a)
        parent, _, attr = layer.norm.rpartition(".")
        setattr(modules[parent] if parent else plain, attr, bn)
    return plain
