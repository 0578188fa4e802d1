"""Extract a physically smaller sub-network from kept channel indices (or mask them in place).

Extraction slices every tensor the index map names (producer rows, norm entries and filter weights,
consumer columns) and copies everything else, so the sub-network starts from the target's parameters.
"""
from __future__ import annotations

import copy

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


@torch.no_grad()
def mask(target: nn.Module, keep: Keep) -> nn.Module:
    """A copy of ``target`` whose dropped filters have filter weight 0 (same shapes).

    With the gate after BN this computes exactly what ``extract`` computes; it is the cheap way to
    try a sub-network (the threshold explorer uses it).
    """
    masked = copy.deepcopy(target)
    modules = dict(masked.named_modules())
    for layer in masked.prunable_layers():
        if layer.name in keep:
            alpha = modules[layer.norm].alpha
            drop = torch.ones_like(alpha, dtype=torch.bool)
            drop[keep[layer.name].to(alpha.device)] = False
            alpha[drop] = 0.0
    return masked
