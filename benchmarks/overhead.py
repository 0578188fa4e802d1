"""Benchmark 1, framework overhead: images/s of jst's training step vs a bare PyTorch loop.

Why: every stage of JST (coarse training, each search step, fine-tuning) runs ``jst.engine.train.train_epoch``;
whatever it adds to a plain ``forward / loss / backward / step`` loop (the TensorSource's batching and
normalisation, DDP wrapping, the finiteness check, loss/accuracy bookkeeping, tqdm) is paid on every batch
of every run. Same model (copies of one initialisation), same optimizer (``jst.engine.train.make_optimizer``),
same threads, same images: the bare loop gets the very batches the TensorSource yields, generated
beforehand. A third variant, train_epoch on those pre-generated batches, separates the step's overhead
from the data preparation. Variants alternate repeat by repeat. Goal: jst / bare >= 0.97.

    python -m benchmarks.overhead --out benchmarks/results [--quick]
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from jst.engine.rng import generator
from jst.engine.sources import TensorSource
from jst.engine.train import make_optimizer, train_epoch
from jst.nets.models import build_model

from . import common


class Prepared:
    """A source that yields pre-generated batches: train_epoch without any data preparation."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]):
        self.list = batches

    def __len__(self) -> int:
        return sum(len(y) for _, y in self.list)

    def batches(self, batch_size, train, generator=None, device="cpu"):
        return iter(self.list)


def bare_epoch(model, optimizer, batches) -> None:
    """The plain PyTorch loop."""
    model.train()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--images", type=int, default=2048, help="images per timed epoch")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=11)
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.batch_size, args.repeats = 64, 32, 2
    if args.images < args.batch_size:
        p.error("--images must be at least --batch-size")
    start = common.setup(args)

    # Random CIFAR-shaped uint8 images: the step's cost does not depend on pixel values.
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (args.images,), generator=gen)
    source = TensorSource(images, labels, (0.5,) * 3, (0.25,) * 3, augment="none")
    batches = list(source.batches(args.batch_size, train=True, generator=generator(0, "overhead")))

    model = build_model(args.arch)
    models = {name: copy.deepcopy(model) for name in ("jst", "jst_prepared", "bare")}
    opts = {name: make_optimizer(m.parameters(), "sgd", 0.05) for name, m in models.items()}
    variants = {
        "jst": lambda: train_epoch(models["jst"], source, opts["jst"], batch_size=args.batch_size,
                                   generator=generator(0, "overhead"), device="cpu"),
        "jst_prepared": lambda: train_epoch(models["jst_prepared"], Prepared(batches), opts["jst_prepared"],
                                            batch_size=args.batch_size, generator=None, device="cpu"),
        "bare": lambda: bare_epoch(models["bare"], opts["bare"], batches),
    }
    times = common.interleaved(variants, args.repeats)
    seen = sum(len(y) for _, y in batches)
    per_variant = {name: {"seconds": common.summary(t), "images_per_s": common.summary([seen / s for s in t])}
                   for name, t in times.items()}
    # Ratio per repeat (A and B of the same round), then its median: robust to drifting load.
    ratios = [b / j for j, b in zip(times["jst"], times["bare"])]
    prepared = [b / j for j, b in zip(times["jst_prepared"], times["bare"])]
    results = {
        "setup": {"arch": args.arch, "images_per_epoch": seen, "batch_size": args.batch_size,
                  "repeats": args.repeats, "optimizer": "sgd lr 0.05 momentum 0.9 wd 5e-5", "augment": "none"},
        "raw_seconds": times, "variants": per_variant,
        "ratio_jst_over_bare": common.summary(ratios),
        "ratio_jst_prepared_over_bare": common.summary(prepared),
        "goals": [common.goal("jst train_epoch images/s >= 0.97 x bare loop (median of per-repeat ratios)",
                              common.summary(ratios)["median"], 0.97, higher_is_better=True)],
    }
    common.write("overhead", args, results, start)


if __name__ == "__main__":
    main()
