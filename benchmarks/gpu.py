"""Benchmark 6, GPU: ResNet-56 training throughput with the data held on the GPU, and the projected wall
time of the paper-scale CIFAR-10 JST schedule.

Why: the paper-scale schedule (PAPER.md; ``jst.config.make_config("paper", "resnet56")``) is coarse
training, T searches of M_t parameter epochs on Dtrain (40k images) and N filter-weight epochs on Dval
(10k), then fine-tuning on all 50k; our moonshot is all of it in <= 1 GPU-hour, which needs >= 20,000
training images/s on one H100. Measured with jst's own ``train_epoch`` on a ``TensorSource`` whose uint8
images live on the GPU (augmented there), in variants fp32, bf16 autocast, + channels_last,
+ torch.compile, interleaved; evaluation throughput with ``jst.engine.train.evaluate``. The projection counts
every image the schedule trains and evaluates on at the dense network's measured rates: an upper bound,
since search candidates and the fine-tuned network are smaller. Random CIFAR-shaped data (throughput does
not depend on pixel values; CIFAR-10 itself is not on these machines).

Without a CUDA device it writes a JSON that says so and measures nothing. ``--device cpu`` runs the same
measurement on the CPU (to check the script; its figures say nothing about a GPU).

    python -m benchmarks.gpu --out benchmarks/results [--quick]
"""
from __future__ import annotations

import copy

import torch

from jst.config import make_config
from jst.engine.rng import generator
from jst.engine.sources import TensorSource
from jst.engine.train import evaluate, make_optimizer, train_epoch
from jst.nets.models import build_model

from . import common

VARIANTS = {"fp32": dict(amp="none", channels_last=False, compile=False),
            "bf16": dict(amp="bf16", channels_last=False, compile=False),
            "bf16_channels_last": dict(amp="bf16", channels_last=True, compile=False),
            "bf16_channels_last_compile": dict(amp="bf16", channels_last=True, compile=True)}


def schedule_images(cfg, total_train: int = 50000) -> dict:
    """Training and evaluation images of the whole JST schedule of ``cfg`` (CIFAR-10: 50k training images)."""
    val = int(round(total_train * cfg.val_fraction))
    train = total_train - val
    search_train = sum(cfg.search_schedule(t)[0] for t in range(1, cfg.search_steps + 1)) * train
    return {"dtrain": train, "dval": val,
            "train": cfg.coarse_epochs * train + search_train + cfg.search_steps * cfg.filter_epochs * val
            + cfg.finetune_epochs * total_train,
            "eval": cfg.coarse_epochs * val + cfg.search_steps * val + 2 * 10000,  # + the test set, twice
            "formula": "coarse_epochs*Dtrain + sum_t M_t*Dtrain + T*N*Dval + finetune_epochs*50k (train); "
                       "coarse_epochs*Dval + T*Dval + 2*10k test (eval)"}


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--images", type=int, default=40000, help="images per timed epoch (Dtrain's size)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the paper config's batch size")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    start = common.setup(args)
    cfg = make_config("paper", "resnet56")
    images = schedule_images(cfg)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        common.write("gpu", args, {"gpu_available": False, "measured": False,
                                   "reason": "no CUDA device (torch.cuda.is_available() is False): nothing measured",
                                   "schedule_images": images, "goals": []}, start)
        return
    if args.quick:
        args.images, args.repeats = 256, 1
    batch = args.batch_size or cfg.batch_size
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=gen).to(device)
    y = torch.randint(0, 10, (args.images,), generator=gen).to(device)
    source = TensorSource(x, y, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), augment="crop_flip")
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    base = build_model("resnet56").to(device)
    runners, compile_error = {}, None
    for name in args.variants:
        v = VARIANTS[name]
        model = copy.deepcopy(base)
        opt = make_optimizer(model.parameters(), "sgd", cfg.coarse_lr, cfg.momentum, cfg.weight_decay)
        net = torch.compile(model) if v["compile"] else model
        runners[name] = (lambda net=net, opt=opt, v=v: train_epoch(
            net, source, opt, batch_size=batch, generator=generator(0, "gpu"), device=device, amp=v["amp"],
            channels_last=v["channels_last"]))
        if v["compile"]:
            try:
                runners[name]()  # compiles; a failure is recorded and the variant dropped
            except Exception as e:  # noqa: BLE001
                compile_error = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                del runners[name]
    times = common.interleaved(runners, args.repeats, warmup=1, sync=sync)
    seen = (args.images // batch) * batch
    throughput = {k: common.summary([seen / s for s in t]) for k, t in times.items()}
    best = max(throughput, key=lambda k: throughput[k]["median"])
    eval_model = copy.deepcopy(base)
    eval_times = common.interleaved({"eval": lambda: evaluate(eval_model, source, cfg.eval_batch_size, device,
                                                              VARIANTS[best]["amp"])}, args.repeats, sync=sync)
    eval_ips = common.summary([args.images / s for s in eval_times["eval"]])
    train_ips = throughput[best]["median"]
    hours = (images["train"] / train_ips + images["eval"] / eval_ips["median"]) / 3600
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else "cpu (a check of the script, not a GPU figure)")
    results = {"gpu_available": device.type == "cuda", "measured": True, "device": where,
               "setup": {"arch": "resnet56", "images_per_epoch": seen, "batch_size": batch, "repeats": args.repeats,
                         "augment": "crop_flip on the device"},
               "raw_seconds": times, "train_images_per_s": throughput, "compile_error": compile_error,
               "best_variant": best, "eval_images_per_s": eval_ips, "schedule_images": images,
               "projected_paper_schedule_hours": hours,
               "goals": [common.goal(f"ResNet-56 training >= 20,000 images/s ({best}, {where})", train_ips, 20000,
                                     True),
                         common.goal("projected paper-scale CIFAR-10 JST schedule <= 1 GPU-hour", hours, 1.0, False)]}
    common.write("gpu", args, results, start)


if __name__ == "__main__":
    main()
