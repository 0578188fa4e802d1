"""Benchmark 2, data path: jst's in-memory uint8 loader vs torchvision's DataLoader, as a share of a step.

Why: on 2 CPU cores every millisecond spent preparing a batch is taken from training. jst keeps datasets
that fit in memory as uint8 tensors and augments a whole batch at once (``TensorSource.batches``:
RandomCrop with padding size/8 + horizontal flip as one gather); the reference is torchvision's
DataLoader with per-image transforms (RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
Normalize on PIL images held in memory, as ``torchvision.datasets.CIFAR10`` does), with 0 and 2 workers.
Real data: the CIFAR-10 sample and MNIST / Fashion-MNIST, each with jst's default augmentation
(crop+flip for CIFAR, none for the MNISTs). Each loader's time per batch is divided by the time of one
ResNet-20 training step on a batch of the same shape, all measured interleaved. Goal (jst's loader):
data time <= 5% of step time.

Loaders are timed alone, so the fraction is the time a loop would wait if nothing overlapped; with
workers > 0 part of it overlaps training in a real run, but on 2 cores the workers compete with the
training threads for the same cores.

    python -m benchmarks.data_path --out benchmarks/results [--quick]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

from jst.engine import data
from jst.engine.rng import generator
from jst.engine.sources import TensorSource
from jst.engine.train import make_optimizer
from jst.nets.models import build_model

from . import common

DATASETS = {"cifar10_sample": ("imagefolder", "cifar10-sample"), "mnist": ("mnist", ""),
            "fashion_mnist": ("fashion_mnist", "")}


class InMemoryPIL(torch.utils.data.Dataset):
    """uint8 images held in memory, turned into PIL images per item: torchvision's CIFAR10 / MNIST."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).squeeze(-1).numpy()  # HWC (HW for grey), as torchvision holds them
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(np.ascontiguousarray(self.images[i]))), self.labels[i]


def reference_transform(source: TensorSource) -> T.Compose:
    """torchvision's per-image equivalent of the source's augmentation and normalisation."""
    size = source.images.shape[2]
    augment = [T.RandomCrop(size, padding=max(1, size // 8))] if source.augment != "none" else []
    augment += [T.RandomHorizontalFlip()] if source.augment == "crop_flip" else []
    normalize = T.Normalize(source.mean.flatten().tolist(), source.std.flatten().tolist())
    return T.Compose([*augment, T.ToTensor(), normalize])


def measure(name: str, source: TensorSource, args) -> dict:
    batch, n_batches = args.batch_size, len(source) // args.batch_size
    dataset = InMemoryPIL(source.images, source.labels, reference_transform(source))
    info_channels, size = source.images.shape[1], source.images.shape[2]
    model = build_model("resnet20", 10, info_channels, size)
    opt = make_optimizer(model.parameters(), "sgd", 0.05)
    x0, y0 = next(source.batches(batch, train=True, generator=generator(0, "step")))

    def jst_loader():
        for _ in source.batches(batch, train=True, generator=generator(0, name)):
            pass

    def torchvision_loader(workers):
        def run():
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True,
                                                 num_workers=workers)
            for _ in loader:
                pass
        return run

    def train_steps():
        model.train()
        for _ in range(args.steps):
            loss = F.cross_entropy(model(x0), y0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    variants = {"jst_tensor_source": jst_loader, "train_step": train_steps,
                **{f"torchvision_workers{w}": torchvision_loader(w) for w in args.workers}}
    times = common.interleaved(variants, args.repeats)
    per_batch = {k: [t / (args.steps if k == "train_step" else n_batches) for t in v] for k, v in times.items()}
    fractions = {k: common.summary([d / s for d, s in zip(v, per_batch["train_step"])])
                 for k, v in per_batch.items() if k != "train_step"}
    return {"images": len(source), "shape": list(source.images.shape[1:]), "augment": source.augment,
            "batch_size": batch, "batches_per_epoch": n_batches, "train_steps_per_repeat": args.steps,
            "raw_seconds": times, "seconds_per_batch": {k: common.summary(v) for k, v in per_batch.items()},
            "data_time_over_step_time": fractions,
            "goal": common.goal(f"{name}: jst loader time per batch <= 5% of a ResNet-20 step",
                                fractions["jst_tensor_source"]["median"], 0.05, higher_is_better=False)}


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--images", type=int, default=4096, help="images per timed epoch of each loader")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=4, help="ResNet-20 training steps per timed repeat")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.batch_size, args.steps, args.repeats = 128, 32, 1, 2
    if args.images < args.batch_size:
        p.error("--images must be at least --batch-size")
    start = common.setup(args)
    results = {}
    for name in args.datasets:
        kind, folder = DATASETS[name]
        splits = data.load(kind, Path(args.data_root) / folder if folder else args.data_root, seed=0,
                           max_train_samples=args.images)
        results[name] = measure(name, splits.full_train, args)
    common.write("data_path", args, {"datasets": results, "goals": [r["goal"] for r in results.values()]}, start)


if __name__ == "__main__":
    main()
