"""Extract a physically smaller sub-network from kept channel indices (or mask them in place).

Extraction slices every tensor the index map names (producer rows, norm entries and filter weights,
consumer columns) and copies everything else, so the sub-network starts from the target's parameters.
Masking keeps the shapes and sets the dropped filters' filter weights to 0: with the filter weight after
batch-norm it computes what extraction computes, without a copy per sub-network.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from jst.nets.prunable import Keep, select, sync_shapes, tensor_index


@torch.no_grad()
def extract(target: nn.Module, keep: Keep) -> nn.Module:
    """A deep copy of ``target`` that has only the kept channels of each prunable layer."""
    sub = copy.deepcopy(target)
    modules = dict(sub.named_modules())
    touched = set()
    for key, dims in tensor_index(sub, keep).items():
        path, attr = key.rsplit(".", 1)
        module = modules[path]
        old = getattr(module, attr)
        new = select(old.detach(), dims).clone()
        if isinstance(old, nn.Parameter):
            setattr(module, attr, nn.Parameter(new, requires_grad=old.requires_grad))
        else:
            module.register_buffer(attr, new)
        touched.add(path)
    for path in touched:
        sync_shapes(modules[path])
    return sub


def masking_is_exact(model: nn.Module) -> bool:
    """Whether masking computes what extraction computes: every filter weight sits after batch-norm (before
    it, a zeroed filter still passes the norm's bias on)."""
    modules = dict(model.named_modules())
    return all(getattr(modules[layer.norm], "position", None) == "after_bn" for layer in model.prunable_layers())


@contextmanager
def masked(model: nn.Module, keep: Keep) -> Iterator[nn.Module]:
    """``model`` itself with its dropped filters' filter weights at 0, restored on exit: the cheap way to try
    many sub-networks of one target (the threshold explorer's)."""
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        _zero_dropped(model, keep, saved)
        yield model
    finally:
        with torch.no_grad():
            for alpha, old in saved:
                alpha.copy_(old)


def mask(target: nn.Module, keep: Keep) -> nn.Module:
    """A copy of ``target`` whose dropped filters have filter weight 0 (same shapes)."""
    copied = copy.deepcopy(target)
    _zero_dropped(copied, keep, [])
    return copied


@torch.no_grad()
def _zero_dropped(model: nn.Module, keep: Keep, saved: list) -> None:
    """Set the filter weights of the filters ``keep`` drops to 0, saving each layer's old values first."""
    modules = dict(model.named_modules())
    for layer in model.prunable_layers():
        if layer.name in keep:
            alpha = modules[layer.norm].alpha
            saved.append((alpha, alpha.detach().clone()))
            drop = torch.ones_like(alpha, dtype=torch.bool)
            drop[keep[layer.name].to(alpha.device)] = False
            alpha[drop] = 0.0
