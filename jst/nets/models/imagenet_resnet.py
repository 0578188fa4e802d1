"""torchvision's ResNet-18/34/50 with JST filter weights on the inner convs of every block.

Basic blocks: conv1 is prunable (read by conv2). Bottlenecks: conv1 (read by conv2) and conv2 (read
by conv3). Block outputs keep their width, so shortcuts and downsample branches are untouched.
"""
from __future__ import annotations

import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

from jst.nets.models.gated import GatedBatchNorm2d
from jst.nets.prunable import PrunableLayer

_BUILDERS = {"resnet18": torchvision.models.resnet18, "resnet34": torchvision.models.resnet34,
             "resnet50": torchvision.models.resnet50}


def _blocks(model: nn.Module):
    for i in (1, 2, 3, 4):
        for j, block in enumerate(getattr(model, f"layer{i}")):
            yield f"layer{i}.{j}", block


def _inner(block: nn.Module) -> list[tuple[str, str, str]]:
    """(producer, norm, consumer) names inside a block."""
    pairs = [("conv1", "bn1", "conv2")]
    if isinstance(block, Bottleneck):
        pairs.append(("conv2", "bn2", "conv3"))
    return pairs


class ImageNetResNet(nn.Module):
    def __init__(self, arch: str, num_classes: int = 1000, in_channels: int = 3, gate: str | None = None):
        super().__init__()
        net = _BUILDERS[arch](weights=None, num_classes=num_classes)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        if gate:
            for _, block in _blocks(net):
                for _, norm, _ in _inner(block):
                    setattr(block, norm, GatedBatchNorm2d(getattr(block, norm).num_features, gate))
        self.net = net

    def forward(self, x):
        return self.net(x)

    def prunable_layers(self) -> list[PrunableLayer]:
        return [PrunableLayer(f"net.{b}.{p}", f"net.{b}.{n}", (f"net.{b}.{c}",))
                for b, block in _blocks(self.net) for p, n, c in _inner(block)]
