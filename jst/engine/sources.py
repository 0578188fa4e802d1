"""Where batches come from: an in-memory split augmented a whole batch at a time on the device
(``TensorSource``), or a split streamed from disk through a DataLoader (``StreamSource``, ImageNet).

Both yield this rank's share of every global batch under torchrun, so a training loop never needs to
know how many processes there are.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from jst.engine.errors import DataError


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
        try:
            for x, y in loader:
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        except DataError as e:  # a damaged image, named by the loader (in a worker, under its traceback)
            raise DataError(_own_message(e)) from None


def _own_message(error: DataError) -> str:
    """The loader's one-line message: a DataLoader worker's error arrives as "Caught DataError in DataLoader
    worker process N. Original Traceback ...", whose last line is ``jst.engine.errors.DataError: <message>``."""
    last = str(error).rstrip().splitlines()[-1] if str(error).strip() else "unreadable image"
    return last.removeprefix(f"{DataError.__module__}.{DataError.__qualname__}: ")


class _Transformed(torch.utils.data.Dataset):
    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        image, label = self.dataset[i]
        return self.transform(image), label
