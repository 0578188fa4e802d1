"""Benchmark 5, scaling: time per epoch and per search step vs depth and vs dataset size.

Why: to know what a larger run will cost before starting it. Each point is a real run of the pipeline
(``jst.engine.pipeline.run(cfg, until="search")``, ``cpu`` preset of the CIFAR family on the CIFAR-10 sample,
with a few coarse epochs and search steps), timed by the run's own log: a coarse epoch's ``seconds``
(training on Dtrain plus the Dval evaluation) and a search step's ``seconds`` (M_t parameter epochs, N
filter-weight epochs, evaluation and the step's overhead). Depth: ResNet-20/56/110 at a fixed size;
size: ResNet-20 at 1k, 2k and 4k images (80% Dtrain, 20% Dval). Writes JSON and ``scaling.png``.

    python -m benchmarks.scaling --out benchmarks/results [--quick]
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from jst.config import make_config
from jst.engine.pipeline import run
from jst.engine.runlog import RunLog

from . import common


def point(arch: str, images: int, args) -> dict:
    """One run; the seconds of its coarse epochs and search steps."""
    cfg = make_config("cpu", arch, dataset="imagefolder", data_root=str(Path(args.data_root) / "cifar10-sample"),
                      max_train_samples=images, coarse_epochs=args.epochs, search_steps=args.steps,
                      flops_target=0.5, seed=0, device="cpu")
    with tempfile.TemporaryDirectory() as out:
        run(cfg, out, until="search")
        log = RunLog(Path(out) / "log.jsonl").read()
    epochs = [r["seconds"] for r in log if r.get("stage") == "coarse"]
    steps = [r["seconds"] for r in log if r.get("stage") == "search"]
    return {"arch": arch, "images": images, "search_epochs_per_step": cfg.search_schedule(1)[0],
            "filter_epochs": cfg.filter_epochs, "epoch_seconds": epochs, "step_seconds": steps,
            "epoch": common.summary(epochs), "step": common.summary(steps)}


def plot(depth: list[dict], size: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, points, key, label in ((axes[0], depth, "arch", "depth (ResNet-d)"),
                                   (axes[1], size, "images", "training images (Dtrain + Dval)")):
        x = [int(p["arch"][6:]) if key == "arch" else p["images"] for p in points]
        for what, name in (("epoch", "coarse epoch"), ("step", "search step")):
            med = [p[what]["median"] for p in points]
            err = [[m - p[what]["min"] for m, p in zip(med, points)], [p[what]["max"] - m for m, p in zip(med, points)]]
            ax.errorbar(x, med, yerr=err, marker="o", capsize=3, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds (median, min-max)")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_title(f"vs depth, {depth[0]['images']} images")
    axes[1].set_title(f"vs data size, {size[0]['arch']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--depths", nargs="+", default=["resnet20", "resnet56", "resnet110"])
    p.add_argument("--depth-images", type=int, default=2000)
    p.add_argument("--sizes", nargs="+", type=int, default=[1000, 2000, 4000])
    p.add_argument("--epochs", type=int, default=3, help="coarse epochs per run (samples of epoch time)")
    p.add_argument("--steps", type=int, default=2, help="search steps per run (samples of step time)")
    args = p.parse_args(argv)
    if args.quick:
        args.depth_images, args.sizes, args.epochs, args.steps = 100, [100, 200], 1, 1
    start = common.setup(args)
    cache: dict[tuple[str, int], dict] = {}

    def get(arch, images):
        if (arch, images) not in cache:
            cache[(arch, images)] = point(arch, images, args)
        return cache[(arch, images)]
    depth = [get(arch, args.depth_images) for arch in args.depths]
    size = [get(args.depths[0], n) for n in args.sizes]
    png = Path(args.out) / "scaling.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(depth, size, png)
    common.write("scaling", args, {"vs_depth": depth, "vs_size": size, "plot": png.name}, start)


if __name__ == "__main__":
    main()
