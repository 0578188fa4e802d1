"""Which tensors belong to which filter: the one map behind extraction, masking, the updater and FLOPs.

A prunable layer is a producer (conv or linear) whose output channels can be removed, its batch-norm
(with the filter weights), and the consumers whose input channels read them. PAPER.md reconstruction
item 1 says which layers each model declares.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PrunableLayer:
    name: str                    # module path of the producer; also the layer's name everywhere
    norm: str                    # module path of its batch-norm (gated in a JST target network)
    consumers: tuple[str, ...]   # module paths whose input channels are this layer's outputs
    consumer_group: int = 1      # inputs per channel at the consumers (a flatten: H*W features per channel)


Keep = dict[str, torch.Tensor]   # layer name -> kept channel indices, ascending


def prunable_layers(model: nn.Module) -> list[PrunableLayer]:
    return model.prunable_layers()


def widths(model: nn.Module) -> dict[str, int]:
    """Channels per prunable layer (the per-layer channel counts recorded in result.json)."""
    modules = dict(model.named_modules())
    return {layer.name: out_dim(modules[layer.name]) for layer in prunable_layers(model)}


def out_dim(m: nn.Module) -> int:
    return m.out_channels if isinstance(m, nn.Conv2d) else m.out_features


def in_dim(m: nn.Module) -> int:
    return m.in_channels if isinstance(m, nn.Conv2d) else m.in_features


def tensor_index(model: nn.Module, keep: Keep) -> dict[str, dict[int, torch.Tensor]]:
    """For every state-dict entry that pruning touches: {dim: kept indices along that dim}.

    Layers missing from ``keep`` keep everything (their entries are omitted).
    """
    modules = dict(model.named_modules())
    index: dict[str, dict[int, torch.Tensor]] = {}

    def add(path: str, attr: str, dim: int, idx: torch.Tensor) -> None:
        if getattr(modules[path], attr, None) is not None:
            index.setdefault(f"{path}.{attr}", {})[dim] = idx

    for layer in prunable_layers(model):
        if layer.name not in keep:
            continue
        idx = keep[layer.name].to(torch.long)
        producer = modules[layer.name]
        if isinstance(producer, nn.Conv2d) and producer.groups != 1:
            raise ValueError(f"{layer.name}: grouped convolutions are not prunable here")
        for attr in ("weight", "bias"):
            add(layer.name, attr, 0, idx)
        for attr in ("weight", "bias", "running_mean", "running_var", "alpha"):
            add(layer.norm, attr, 0, idx)
        g = layer.consumer_group
        cidx = (idx[:, None] * g + torch.arange(g)).reshape(-1) if g > 1 else idx
        for c in layer.consumers:
            add(c, "weight", 1, cidx)
    return index


def select(t: torch.Tensor, dims: dict[int, torch.Tensor]) -> torch.Tensor:
    for dim, idx in dims.items():
        t = t.index_select(dim, idx.to(t.device))
    return t


def assign(target: torch.Tensor, dims: dict[int, torch.Tensor], value: torch.Tensor) -> None:
    """target[kept rows, kept columns] = value, in place."""
    if len(dims) == 1:
        ((dim, idx),) = dims.items()
        target.index_copy_(dim, idx.to(target.device), value)
        return
    rows, cols = dims[0].to(target.device), dims[1].to(target.device)
    target[rows[:, None], cols] = value


def full_keep(model: nn.Module) -> Keep:
    return {name: torch.arange(w) for name, w in widths(model).items()}


def first_k(w: dict[str, int]) -> Keep:
    """Keep the first k channels of each layer: how a pruned architecture is rebuilt from its widths."""
    return {name: torch.arange(k) for name, k in w.items()}


def sync_shapes(module: nn.Module) -> None:
    """Update a module's size attributes after its tensors were sliced."""
    if isinstance(module, nn.Conv2d):
        module.out_channels = module.weight.shape[0]
        module.in_channels = module.weight.shape[1] * module.groups
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = module.weight.shape[0]


__all__ = ["PrunableLayer", "Keep", "prunable_layers", "widths", "tensor_index", "select", "assign",
           "full_keep", "first_k", "sync_shapes", "in_dim", "out_dim"]
