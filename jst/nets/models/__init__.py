"""Model registry: ``build_model(arch, ...)`` and the shape of a pruned architecture."""
from __future__ import annotations

import torch
from torch import nn

from jst.nets.models.cifar_resnet import CifarResNet
from jst.nets.models.lenet import LeNet5, LeNet300
from jst.nets.models.vgg import VGG

ARCHS = ("resnet20", "resnet32", "resnet56", "resnet110", "vgg16", "lenet5", "lenet300",
         "resnet18", "resnet34", "resnet50")
FAMILY = {"lenet5": "small", "lenet300": "small", "vgg16": "cifar", "resnet18": "imagenet",
          "resnet34": "imagenet", "resnet50": "imagenet",
          **{f"resnet{d}": "cifar" for d in (20, 32, 56, 110)}}


def build_model(arch: str, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                gate: str | None = None, init: bool = True) -> nn.Module:
    """A dense network; ``gate`` ("after_bn"/"before_bn") adds JST filter weights to its prunable layers."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHS)}")
    if arch in ("resnet20", "resnet32", "resnet56", "resnet110"):
        model = CifarResNet(int(arch[6:]), num_classes, in_channels, gate)
    elif arch == "vgg16":
        model = VGG(num_classes=num_classes, in_channels=in_channels, image_size=image_size, gate=gate)
    elif arch == "lenet5":
        model = LeNet5(num_classes, in_channels, image_size, gate)
    elif arch == "lenet300":
        model = LeNet300(num_classes, in_channels, image_size, gate)
    else:   # imported here: torchvision's models cost every process that never builds one 2-3 s
        from jst.nets.models.imagenet_resnet import ImageNetResNet
        model = ImageNetResNet(arch, num_classes, in_channels, gate)
    if init:
        kaiming_init(model)
    return model


def build_for(arch: str, info, *, gate: str | None = None, init: bool = True) -> nn.Module:
    """``build_model`` sized for a dataset: ``info`` (``jst.engine.data.DataInfo``) gives its classes,
    channels and image size."""
    return build_model(arch, info.num_classes, info.channels, info.image_size, gate=gate, init=init)


def kaiming_init(model: nn.Module) -> None:
    """PAPER.md: "all parameters ... initialized by kaiming normal in Pytorch" (its defaults)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def build_pruned(arch: str, widths: dict[str, int], **kwargs) -> nn.Module:
    """The architecture of a pruned network: the dense one, cut to ``widths`` channels per layer."""
    from jst.nets.prunable import first_k
    from jst.nets.subnetwork import extract
    return extract(build_model(arch, init=False, **kwargs), first_k(widths))


__all__ = ["ARCHS", "FAMILY", "build_for", "build_model", "build_pruned", "kaiming_init"]
