"""Datasets, the Dtrain/Dval split, and batch loaders.

``load(name, root, ...)`` returns ``Splits``: Dtrain and Dval (80/20 of the official training set,
seeded), the whole official training set (for fine-tuning) and the test set (used once, for the final
report). Datasets that fit in memory (MNIST, Fashion-MNIST, CIFAR, small ImageFolders) are held as
uint8 tensors and augmented a whole batch at a time; large ImageFolders (ImageNet) stream through a
torch DataLoader with torchvision's standard transforms.
ImageFolders are read and checked by ``jst.engine.imagefolder``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jst.engine.errors import DataError
from jst.engine.sources import StreamSource, TensorSource

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder")
AUGMENTS = ("auto", "none", "crop", "crop_flip")

_STATS = {  # per-channel mean/std of the official training sets
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_FETCH = "torchvision.datasets.{}(root, download=True) or --download fetches it"
HOW_TO_GET = {
    "mnist": "expected <root>/MNIST/raw/train-images-idx3-ubyte etc.; " + _FETCH.format("MNIST"),
    "fashion_mnist": "expected <root>/FashionMNIST/raw/...; " + _FETCH.format("FashionMNIST"),
    "cifar10": "expected <root>/cifar-10-batches-py; " + _FETCH.format("CIFAR10"),
    "cifar100": "expected <root>/cifar-100-python; " + _FETCH.format("CIFAR100"),
    "imagefolder": "expected <root>/train/<class>/<image> and <root>/val/<class>/... (or test/), the ImageNet layout",
}


def default_data_root() -> str | None:
    """$JST_DATA_ROOT, else ../shared/data beside the checkout when present."""
    env = os.environ.get("JST_DATA_ROOT")
    if env:
        return env
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    return str(shared) if shared.is_dir() else None


@dataclass
class DataInfo:
    name: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


@dataclass
class Splits:
    info: DataInfo
    train: TensorSource | StreamSource       # Dtrain: search-time parameter training
    val: TensorSource | StreamSource         # Dval: filter weights, policy reward, model selection
    full_train: TensorSource | StreamSource  # Dtrain + Dval (Dtrain alone with holdout_val): fine-tuning
    test: TensorSource | StreamSource        # the final report only


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of range(n) into (train, val) index tensors."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def load(name: str, root: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2,
         max_train_samples: int | None = None, max_test_samples: int | None = None,
         augment: str = "auto", image_size: int | None = None, download: bool = False,
         workers: int = 4, holdout_val: bool = False) -> Splits:
    """Dtrain and Dval split from the official training set by ``seed``; ``full_train`` (what fine-tuning and
    the baselines train on) is Dtrain + Dval, or Dtrain alone with ``holdout_val``."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if augment not in AUGMENTS:
        raise DataError(f"unknown augmentation {augment!r}; choose from {', '.join(AUGMENTS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist ({HOW_TO_GET[name]})")
    if name == "imagefolder":
        from jst.engine.imagefolder import load_imagefolder  # it builds this module's DataInfo
        train, test, info = load_imagefolder(root, augment, image_size, workers)
    else:
        train, test, info = _torchvision(name, root, augment, download)
    train = _cap(train, max_train_samples, seed)
    test = _cap(test, max_test_samples, 0)  # one fixed test subset, whatever the run's seed
    tr, va = split_indices(len(train), val_fraction, seed)
    dtrain = train.subset(tr)
    return Splits(info, dtrain, train.subset(va, augment="none"), dtrain if holdout_val else train,
                  test.subset(torch.arange(len(test)), augment="none"))


def load_splits(cfg) -> Splits:
    """The splits a run's configuration names (every data option of ``jst.config.Config``)."""
    return load(cfg.dataset, cfg.data_root, seed=cfg.seed, val_fraction=cfg.val_fraction,
                max_train_samples=cfg.max_train_samples, max_test_samples=cfg.max_test_samples,
                augment=cfg.augment, image_size=cfg.image_size, download=cfg.download, workers=cfg.workers,
                holdout_val=cfg.holdout_val)


def _cap(source, limit: int | None, seed: int):
    """A seeded random subset of ``limit`` samples (class folders are sorted: a prefix would be one class)."""
    if limit is None or limit >= len(source):
        return source
    perm = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed + 7919))
    return source.subset(perm[:limit].sort().values)


def _torchvision(name: str, root: Path, augment: str, download: bool):
    import torchvision.datasets as tvd
    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST,
           "cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100}[name]
    try:
        train, test = cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError, IndexError) as e:  # malformed files
        raise DataError(f"{name} not found or unreadable under {root} ({HOW_TO_GET[name]}): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    mean, std = _STATS[name]
    if augment == "auto":
        augment = "crop_flip" if name.startswith("cifar") else "none"
    sources = []
    for ds in (train, test):
        data = torch.as_tensor(np.asarray(ds.data))
        images = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
        labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
        sources.append(TensorSource(images.contiguous(), labels, mean, std, augment))
    info = DataInfo(name, sources[0].images.shape[1], sources[0].images.shape[2], len(train.classes),
                    mean, std, list(train.classes))
    return sources[0], sources[1], info
