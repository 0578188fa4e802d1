"""CIFAR ResNet-20/32/56/110 (He et al. 2016, section 4.2): 3 stages of 16/32/64 channels, 6n+2 layers.

Shortcuts are option A (identity, zero-padded channels, stride by subsampling), as in the paper, so
block outputs have no parameters to prune; the first conv of each block is prunable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jst.nets.models.gated import norm2d
from jst.nets.prunable import PrunableLayer


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, gate: str | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm2d(planes, gate)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.pad = stride, planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, gate: str | None = None):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1, gate))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def prunable_layers(self) -> list[PrunableLayer]:
        return [PrunableLayer(f"layer{i}.{j}.conv1", f"layer{i}.{j}.bn1", (f"layer{i}.{j}.conv2",))
                for i in (1, 2, 3) for j in range(len(getattr(self, f"layer{i}")))]
