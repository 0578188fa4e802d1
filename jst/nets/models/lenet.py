"""LeNet-5 and LeNet-300-100, with batch-norm on every prunable layer.

Batch-norm is our addition (PAPER.md reconstruction item 2 puts the filter weight after BN, and Ye 2018
and Network Slimming prune BN scales): every method then sees the same network.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jst.nets.models.gated import norm1d, norm2d
from jst.nets.prunable import PrunableLayer


class LeNet5(nn.Module):
    """conv 6@5x5 (padding 2) - pool - conv 16@5x5 - pool - fc 120 - fc 84 - classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28, gate: str | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.bn1 = norm2d(6, gate)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = norm2d(16, gate)
        self.spatial = (image_size // 2 - 4) // 2
        if self.spatial < 1:
            raise ValueError(f"LeNet-5 needs images of at least 12 px, got {image_size}")
        self.fc1 = nn.Linear(16 * self.spatial ** 2, 120)
        self.bn3 = norm1d(120, gate)
        self.fc2 = nn.Linear(120, 84)
        self.bn4 = norm1d(84, gate)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.fc1(torch.flatten(x, 1))))
        x = F.relu(self.bn4(self.fc2(x)))
        return self.fc3(x)

    def prunable_layers(self) -> list[PrunableLayer]:
        return [PrunableLayer("conv1", "bn1", ("conv2",)),
                PrunableLayer("conv2", "bn2", ("fc1",), self.spatial ** 2),
                PrunableLayer("fc1", "bn3", ("fc2",)),
                PrunableLayer("fc2", "bn4", ("fc3",))]


class LeNet300(nn.Module):
    """LeNet-300-100: two hidden fully connected layers of 300 and 100 units."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28, gate: str | None = None):
        super().__init__()
        self.fc1 = nn.Linear(in_channels * image_size ** 2, 300)
        self.bn1 = norm1d(300, gate)
        self.fc2 = nn.Linear(300, 100)
        self.bn2 = norm1d(100, gate)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.fc1(torch.flatten(x, 1))))
        return self.fc3(F.relu(self.bn2(self.fc2(x))))

    def prunable_layers(self) -> list[PrunableLayer]:
        return [PrunableLayer("fc1", "bn1", ("fc2",)), PrunableLayer("fc2", "bn2", ("fc3",))]
