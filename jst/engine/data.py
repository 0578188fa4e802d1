"""Datasets, the Dtrain/Dval split, and batch loaders.

``load(name, root, ...)`` returns ``Splits``: Dtrain and Dval (80/20 of the official training set,
seeded), the whole official training set (for fine-tuning) and the test set (used once, for the final
report). Datasets that fit in memory (MNIST, Fashion-MNIST, CIFAR, small ImageFolders) are held as
uint8 tensors and augmented a whole batch at a time; large ImageFolders (ImageNet) stream through a
torch DataLoader with torchvision's standard transforms.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jst.engine.errors import DataError

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder")
AUGMENTS = ("auto", "none", "crop", "crop_flip")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
SMALL_IMAGE_MAX = 64          # ImageFolders of images up to this size are loaded into memory
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

_STATS = {  # per-channel mean/std of the official training sets
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_HOW_TO_GET = {
    "mnist": "expected <root>/MNIST/raw/train-images-idx3-ubyte etc.; torchvision.datasets.MNIST(root, download=True) or --download fetches it",
    "fashion_mnist": "expected <root>/FashionMNIST/raw/...; torchvision.datasets.FashionMNIST(root, download=True) or --download fetches it",
    "cifar10": "expected <root>/cifar-10-batches-py; torchvision.datasets.CIFAR10(root, download=True) or --download fetches it",
    "cifar100": "expected <root>/cifar-100-python; torchvision.datasets.CIFAR100(root, download=True) or --download fetches it",
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


class TensorSource:
    """An in-memory split: uint8 images (N, C, H, W) and int64 labels; batches are augmented on the device."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, augment: str = "none"):
        self.images, self.labels = images, labels
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: torch.Tensor, augment: str | None = None) -> "TensorSource":
        return TensorSource(self.images[idx], self.labels[idx], self.mean.flatten().tolist(),
                            self.std.flatten().tolist(), self.augment if augment is None else augment)

    def batches(self, batch_size: int, train: bool, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu"):
        """Global batches of ``batch_size`` (this rank's share under torchrun). Training shuffles with
        ``generator`` and skips a last batch too small for batch-norm on every rank."""
        from jst.engine.distributed import shard, world
        n = len(self)
        order = torch.randperm(n, generator=generator) if train else torch.arange(n)
        mean, std = self.mean.to(device), self.std.to(device)
        augment = train and self.augment != "none"
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if train and len(idx) < 2 * world():
                break
            params = draw_augmentation(len(idx), self.images.shape[2], self.augment, generator) if augment else None
            local = shard(torch.arange(len(idx)))
            if len(local) == 0:
                continue
            x = self.images[idx[local]].to(device, non_blocking=True)
            if params is not None:
                x = apply_augmentation(x, *(p[local] for p in params))
            x = (x.float().div_(255) - mean) / std
            yield x, self.labels[idx[local]].to(device, non_blocking=True)


def draw_augmentation(n: int, size: int, kind: str, generator: torch.Generator | None = None):
    """Crop offsets (with padding size/8) and flip decisions for a batch of n images."""
    pad = max(1, size // 8)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5 if kind == "crop_flip" else torch.zeros(n, dtype=torch.bool)
    return oy, ox, flip


def apply_augmentation(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """torchvision's RandomCrop(size, padding=size/8) + RandomHorizontalFlip on a uint8 batch, at once:
    one gather from the padded batch, a flip being a crop read right to left (cheaper on CPU than advanced
    indexing over four index tensors; the loader's cost is measured by benchmarks/data_path.py)."""
    n, c, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    oy, ox, flip = oy.to(x.device), ox.to(x.device), flip.to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.view(n, c, -1).gather(2, index).view(n, c, h, w)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw and apply the augmentation of one batch."""
    return apply_augmentation(x, *draw_augmentation(x.shape[0], x.shape[2], kind, generator))


class StreamSource:
    """A split read from disk through a torch DataLoader (large ImageFolders such as ImageNet)."""

    def __init__(self, dataset, train_transform, eval_transform, augment: str, workers: int = 4):
        self.dataset, self.augment, self.workers = dataset, augment, workers
        self.train_transform, self.eval_transform = train_transform, eval_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def subset(self, idx: torch.Tensor, augment: str | None = None) -> "StreamSource":
        sub = torch.utils.data.Subset(self.dataset, idx.tolist())
        return StreamSource(sub, self.train_transform, self.eval_transform,
                            self.augment if augment is None else augment, self.workers)

    def batches(self, batch_size: int, train: bool, generator: torch.Generator | None = None, device="cpu"):
        """Training: torch's DistributedSampler (seeded from ``generator``) over the ranks, batch_size //
        world images per rank. Evaluation: every image once, ranks taking indices[rank::world], no padding."""
        from torch.utils.data import DataLoader, DistributedSampler, Subset

        from jst.engine.distributed import rank, world
        transform = self.train_transform if (train and self.augment != "none") else self.eval_transform
        data = _Transformed(self.dataset, transform)
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 0
        if train:
            sampler = DistributedSampler(data, num_replicas=world(), rank=rank(), shuffle=True, seed=seed,
                                         drop_last=True)
        else:
            sampler, data = None, Subset(data, range(rank(), len(data), world()))
        loader = DataLoader(data, batch_size=max(1, batch_size // world()), sampler=sampler, drop_last=train,
                            num_workers=self.workers, pin_memory=str(device).startswith("cuda"),
                            generator=torch.Generator().manual_seed(seed + rank()), persistent_workers=False)
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


class _Transformed(torch.utils.data.Dataset):
    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        image, label = self.dataset[i]
        return self.transform(image), label


@dataclass
class Splits:
    info: DataInfo
    train: TensorSource | StreamSource       # Dtrain: search-time parameter training
    val: TensorSource | StreamSource         # Dval: filter weights, policy reward, model selection
    full_train: TensorSource | StreamSource  # Dtrain + Dval: fine-tuning
    test: TensorSource | StreamSource        # the final report only


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of range(n) into (train, val) index tensors."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def load(name: str, root: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.2,
         max_train_samples: int | None = None, max_test_samples: int | None = None,
         augment: str = "auto", image_size: int | None = None, download: bool = False,
         workers: int = 4) -> Splits:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if augment not in AUGMENTS:
        raise DataError(f"unknown augmentation {augment!r}; choose from {', '.join(AUGMENTS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist ({_HOW_TO_GET[name]})")
    if name == "imagefolder":
        train, test, info = _imagefolder(root, augment, image_size, workers)
    else:
        train, test, info = _torchvision(name, root, augment, download)
    train = _cap(train, max_train_samples, seed)
    test = _cap(test, max_test_samples, 0)  # one fixed test subset, whatever the run's seed
    tr, va = split_indices(len(train), val_fraction, seed)
    return Splits(info, train.subset(tr), train.subset(va, augment="none"), train,
                  test.subset(torch.arange(len(test)), augment="none"))


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
        raise DataError(f"{name} not found or unreadable under {root} ({_HOW_TO_GET[name]}): "
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


def _imagefolder(root: Path, augment: str, image_size: int | None, workers: int):
    import torchvision.datasets as tvd
    from PIL import Image
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"{root} is not an ImageFolder dataset ({_HOW_TO_GET['imagefolder']})")
    try:
        train = tvd.ImageFolder(str(root / "train"), loader=_open_image)
        test = tvd.ImageFolder(str(test_dir), loader=_open_image)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"{root}: {str(e).splitlines()[0]} ({_HOW_TO_GET['imagefolder']})") from None
    if train.classes != test.classes:
        raise DataError(f"{root}: train/ and {test_dir.name}/ have different classes")
    with Image.open(train.samples[0][0]) as first:
        channels = 1 if first.mode in ("L", "1", "I", "I;16", "F") else 3
        native = min(first.size)
    size = image_size or native
    if size < 8:
        raise DataError(f"{root}: images of {size} px are too small (at least 8 px)")
    if native <= SMALL_IMAGE_MAX and size <= SMALL_IMAGE_MAX:
        if augment == "auto":
            augment = "crop_flip"
        tr_img, tr_lab = _decode_all(train, channels, size)
        te_img, te_lab = _decode_all(test, channels, size)
        flat = tr_img.float().div_(255).transpose(0, 1).reshape(channels, -1)
        mean, std = tuple(flat.mean(1).tolist()), tuple(flat.std(1).tolist())
        sources = (TensorSource(tr_img, tr_lab, mean, std, augment), TensorSource(te_img, te_lab, mean, std, augment))
    else:
        import torchvision.transforms as T
        size = image_size or 224
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
        norm = [T.ToTensor(), T.Normalize(mean, std)]
        to_mode = T.Lambda(lambda im: im.convert("RGB" if channels == 3 else "L"))
        train_tf = T.Compose([to_mode, T.RandomResizedCrop(size), T.RandomHorizontalFlip(), *norm])
        eval_tf = T.Compose([to_mode, T.Resize(int(size * 256 / 224)), T.CenterCrop(size), *norm])
        aug = "crop_flip" if augment == "auto" else augment
        sources = (StreamSource(train, train_tf, eval_tf, aug, workers), StreamSource(test, train_tf, eval_tf, aug, workers))
    info = DataInfo("imagefolder", channels, size, len(train.classes), mean, std, list(train.classes))
    return sources[0], sources[1], info


def _open_image(path: str):
    from PIL import Image
    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()
    return image


def _decode_all(folder, channels: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image
    mode = "L" if channels == 1 else "RGB"
    images = np.empty((len(folder.samples), size, size, channels), dtype=np.uint8)
    for i, (path, _) in enumerate(folder.samples):
        with Image.open(path) as im:
            im = im.convert(mode)
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            images[i] = np.asarray(im).reshape(size, size, channels)
    labels = torch.tensor([label for _, label in folder.samples], dtype=torch.long)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels
