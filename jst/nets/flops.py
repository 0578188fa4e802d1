"""FLOPs and parameters, counted by torch.utils.flop_counter.

FLOPs here are flop_counter's: 2 per multiply-accumulate of convolutions and matrix products
(bias adds, batch-norm, activations and pooling are not counted). ``macs`` = flops / 2.

Search steps need FLOPs for many candidate widths; ``FlopsModel`` decomposes the dense count per
conv/linear once, and each module's FLOPs scale with (kept inputs / inputs) * (kept outputs / outputs):
exact for convolutions and linear layers (a test checks it against flop_counter).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from jst.nets.prunable import Keep, widths


def count_params(model: nn.Module) -> int:
    """Network parameters (filter weights excluded: they are folded away at export)."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.endswith(".alpha"))


@torch.no_grad()
def _per_module_flops(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with FlopCounterMode(display=False, depth=None) as counter:
            model(torch.zeros((1,) + tuple(input_shape), device=device))
    finally:
        model.train(was_training)
    root = type(model).__name__
    leaves = {name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    per_module = {}
    for key, ops in counter.get_flop_counts().items():
        name = key[len(root) + 1:] if key.startswith(root + ".") else None
        if name in leaves:
            per_module[name] = int(sum(ops.values()))
    return int(counter.get_total_flops()), per_module


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """{'flops', 'macs', 'params'} for one image of ``input_shape`` (C, H, W)."""
    flops, _ = _per_module_flops(model, input_shape)
    return {"flops": flops, "macs": flops // 2, "params": count_params(model)}


class FlopsModel:
    """FLOPs of any sub-network of a dense model, from its per-layer widths."""

    def __init__(self, dense: nn.Module, input_shape: tuple[int, ...]):
        self.total, self.per_module = _per_module_flops(dense, input_shape)
        self.dense_widths = widths(dense)
        modules = dict(dense.named_modules())
        self.out_layer: dict[str, str] = {}
        self.in_layer: dict[str, str] = {}
        for layer in dense.prunable_layers():
            self.out_layer[layer.name] = layer.name
            for c in layer.consumers:
                self.in_layer[c] = layer.name
        unexplained = self.total - sum(self.per_module.values())
        if unexplained < 0 or any(not isinstance(modules[m], (nn.Conv2d, nn.Linear)) for m in self.per_module):
            raise RuntimeError("FLOPs decomposition failed")  # pragma: no cover - guards model changes
        self.other = unexplained  # FLOPs outside convs/linears (e.g. attention); unscaled

    def flops(self, kept_widths: dict[str, int]) -> int:
        total = float(self.other)
        for name, f in self.per_module.items():
            scale = 1.0
            if name in self.out_layer:
                layer = self.out_layer[name]
                scale *= kept_widths.get(layer, self.dense_widths[layer]) / self.dense_widths[layer]
            if name in self.in_layer:
                layer = self.in_layer[name]
                scale *= kept_widths.get(layer, self.dense_widths[layer]) / self.dense_widths[layer]
            total += f * scale
        return int(round(total))

    def ratio(self, keep: Keep) -> float:
        return self.flops({k: len(v) for k, v in keep.items()}) / self.total

    def minimum_ratio(self, min_keep: int = 1) -> float:
        """The smallest FLOPs fraction reachable by pruning (every prunable layer at ``min_keep``)."""
        return self.flops({k: min(min_keep, w) for k, w in self.dense_widths.items()}) / self.total


@torch.no_grad()
def output_positions(model: nn.Module, input_shape: tuple[int, ...], names: list[str]) -> dict[str, int]:
    """Positions per output channel of the named modules for one image (H_out * W_out; 1 for linear)."""
    modules = dict(model.named_modules())
    positions: dict[str, int] = {}

    def recorder(name: str):
        def hook(module, inputs, out):
            positions[name] = out[0, 0].numel()
        return hook
    hooks = [modules[n].register_forward_hook(recorder(n)) for n in names]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros((1,) + tuple(input_shape), device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return positions


def flops_per_weight(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """FLOPs each single weight of every conv/linear costs: 2 per output position it is applied at."""
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return {n: 2 * p for n, p in output_positions(model, input_shape, names).items()}


def count_sparse(model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    """Sparse counts of a weight-pruned network (same shapes as the dense one, zeros where pruned):
    FLOPs = 2 * nonzero conv/linear weights * the output positions each is applied at (what a sparse
    kernel would compute; equals ``count`` on a dense network), params = nonzero parameters."""
    modules = dict(model.named_modules())
    cost = flops_per_weight(model, input_shape)
    flops = sum(int((modules[n].weight != 0).sum()) * c for n, c in cost.items())
    weights = sum(modules[n].weight.numel() for n in cost)
    nonzero_weights = sum(int((modules[n].weight != 0).sum()) for n in cost)
    params = sum(int((p != 0).sum()) for n, p in model.named_parameters() if not n.endswith(".alpha"))
    return {"flops": flops, "macs": flops // 2, "params": params, "weights": weights,
            "nonzero_weights": nonzero_weights, "weight_compression_ratio": weights / max(nonzero_weights, 1),
            "counting": "sparse: FLOPs = 2 x nonzero conv/linear weights x output positions; params = nonzero"}
