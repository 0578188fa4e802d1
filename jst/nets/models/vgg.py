"""VGG-16 with batch-norm for small images (the CIFAR variant: 13 convs, one linear classifier).

Max-pools that would shrink the feature map below 1 px are dropped, so 28 px (MNIST) inputs work.
Every conv is prunable; the last one feeds the classifier after global average pooling.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jst.nets.models.gated import norm2d
from jst.nets.prunable import PrunableLayer

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, cfg=VGG16, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 gate: str | None = None):
        super().__init__()
        layers, c, size, self._convs = [], in_channels, image_size, []
        for v in cfg:
            if v == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            i = len(layers)
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), norm2d(v, gate), nn.ReLU(inplace=True)]
            self._convs.append((f"features.{i}", f"features.{i + 1}"))
            c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))

    def prunable_layers(self) -> list[PrunableLayer]:
        nxt = [conv for conv, _ in self._convs[1:]] + ["classifier"]
        return [PrunableLayer(conv, bn, (consumer,)) for (conv, bn), consumer in zip(self._convs, nxt)]
