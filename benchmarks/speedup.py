"""Benchmark 4, real speed-up: CPU latency of pruned networks vs their dense network.

Why: pruning papers report FLOPs ratios and call them speed-ups; a pruned network is worth what it gains
in real time. For ResNet-20, ResNet-56 and VGG-16 at 50% and 25% FLOPs kept, the widths come from JST's
sampler (``jst.core.sampler.perturb`` + ``fit_to_budget`` at the config's fixed threshold) on a randomly
initialised target network, so they have JST's uneven per-layer shape; ``jst.nets.models.build_pruned`` builds
the exported architecture. Measured, not assumed: channel counts rounded to multiples of 8
(``channel_multiple``), batch-norm folded into the convs (``torch.fx`` fuse), channels_last, and
torch.compile (a failure is recorded, not hidden). Every
model/option of one architecture and batch size is timed interleaved, after warm-up, many repeats;
median and IQR. Speed-up = dense latency / pruned latency with the same option; goal: speed-up >= 0.9 x
the FLOPs ratio (dense FLOPs / pruned FLOPs, counted on the built networks).

    python -m benchmarks.speedup --out benchmarks/results [--quick]
"""
from __future__ import annotations

import copy
import time

import torch
from torch.fx.experimental.optimization import fuse

from jst.config import make_config
from jst.core.filter_weights import filter_weights, init_filter_weights
from jst.core.sampler import fit_to_budget, perturb
from jst.engine.rng import generator
from jst.nets.flops import FlopsModel, count
from jst.nets.models import build_model, build_pruned
from jst.nets.prunable import widths as widths_of

from . import common

SHAPE = (3, 32, 32)
# Many models share the same block code: without a higher limit dynamo stops compiling after 8 of them and
# silently runs eager; failing instead makes a compile problem a recorded failure.
torch._dynamo.config.recompile_limit = 1024
torch._dynamo.config.accumulated_recompile_limit = 8192
torch._dynamo.config.fail_on_recompile_limit_hit = True
PROFILED_OPS = 8  # the most expensive operators kept by name in the per-operator profile; the rest is "other"


def jst_widths(arch: str, budget: float, multiple: int, seed: int = 0) -> dict[str, int]:
    """Per-layer widths JST's sampler and budget projection draw from a randomly initialised target."""
    cfg = make_config("cpu", arch, seed=seed)
    target = build_model(arch, gate=cfg.gate_position)
    init_filter_weights(target, cfg.filter_weight_init, generator(seed, "filter_weights"))
    flops = FlopsModel(target, SHAPE)
    gen = generator(seed, "speedup", arch)
    scores = {n: perturb(a, cfg.perturbation, gen) for n, a in filter_weights(target).items()}
    taus = {n: cfg.fixed_threshold for n in scores}
    keep, _ = fit_to_budget(scores, taus, flops.ratio, budget, cfg.min_channels, multiple)
    return {n: len(k) for n, k in keep.items()}


def prepare(model: torch.nn.Module, option: str, batch: int):
    """(forward function, compile seconds or None) of ``model`` under ``option``; raises if it fails."""
    model = copy.deepcopy(model).eval()
    x = torch.randn(batch, *SHAPE)
    if option == "fuse_bn":  # batch-norm folded into the preceding conv (torch.fx): fewer, cheaper ops
        model = fuse(model)
    if option in ("channels_last", "compile_channels_last"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    compile_seconds = None
    if option.startswith("compile"):
        model = torch.compile(model, dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(x)
        compile_seconds = time.perf_counter() - t0

    def forward():
        with torch.inference_mode():
            model(x)
    return forward, compile_seconds


def op_profile(model: torch.nn.Module, batch: int, repeats: int) -> dict[str, float]:
    """Milliseconds per forward pass spent in each operator (self CPU time, eager): where the time goes
    that pruning channels does or does not remove."""
    from torch.profiler import ProfilerActivity, profile
    forward, _ = prepare(model, "eager", batch)
    forward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            forward()
    ms = sorted(((e.key, e.self_cpu_time_total / repeats / 1e3) for e in prof.key_averages()), key=lambda kv: -kv[1])
    top = dict(ms[:PROFILED_OPS])
    top["other"] = sum(v for _, v in ms[PROFILED_OPS:])
    return top


def measure_arch(arch: str, args) -> dict:
    dense = build_model(arch).eval()
    dense_flops = count(dense, SHAPE)["flops"]
    models = {"dense": {"model": dense, "flops": dense_flops}}
    failures = {}
    for budget in args.budgets:
        for multiple in args.multiples:
            try:
                widths = jst_widths(arch, budget, multiple)
            except ValueError as e:  # e.g. 25% of ResNet-20's FLOPs with every layer a multiple of 8
                failures[f"kept{budget:g}_x{multiple}"] = f"infeasible: {e}"
                continue
            net = build_pruned(arch, widths).eval()
            models[f"kept{budget:g}_x{multiple}"] = {"model": net, "flops": count(net, SHAPE)["flops"],
                                                      "budget": budget, "channel_multiple": multiple,
                                                      "widths": widths_of(net)}
    by_batch = {}
    for batch in args.batch_sizes:
        variants, compile_seconds = {}, {}
        for option in args.options:
            for name, m in models.items():
                try:
                    key = f"{option}/{name}"
                    variants[key], compile_seconds[key] = prepare(m["model"], option, batch)
                except Exception as e:  # noqa: BLE001 - torch.compile may fail on a machine: record it
                    failures[f"{option}/{name}/batch{batch}"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        repeats = args.repeats_b1 if batch == 1 else args.repeats
        times = common.interleaved(variants, repeats, warmup=args.warmup)
        latency = {k: common.summary(v) for k, v in times.items()}
        speedups = {}
        for key in times:
            option, name = key.split("/")
            base = f"{option}/dense"
            if name == "dense" or base not in times:
                continue
            flops_ratio = dense_flops / models[name]["flops"]
            paired = common.summary([d / p for d, p in zip(times[base], times[key])])
            speedups[key] = {"speedup": paired, "flops_ratio": flops_ratio,
                             "speedup_over_flops_ratio": paired["median"] / flops_ratio,
                             "goal": common.goal(f"{arch} batch {batch} {key}: speed-up >= 0.9 x FLOPs ratio",
                                                 paired["median"] / flops_ratio, 0.9, higher_is_better=True)}
        by_batch[str(batch)] = {"repeats": repeats, "raw_seconds": times, "latency_seconds": latency,
                                "compile_seconds": {k: v for k, v in compile_seconds.items() if v is not None},
                                "speedups": speedups}
    profiles = {str(batch): {name: op_profile(models[name]["model"], batch, args.profile_repeats)
                             for name in models if name == "dense" or name.endswith("_x1")}
                for batch in args.batch_sizes}
    return {"dense_flops": dense_flops, "op_profile_ms": profiles,
            "models": {k: {kk: vv for kk, vv in v.items() if kk != "model"} for k, v in models.items()},
            "batches": by_batch, "failures": failures}


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet56", "vgg16"])
    p.add_argument("--budgets", nargs="+", type=float, default=[0.5, 0.25], help="FLOPs fractions kept")
    p.add_argument("--multiples", nargs="+", type=int, default=[1, 8], help="channel_multiple values")
    p.add_argument("--options", nargs="+", default=["eager", "fuse_bn", "channels_last", "compile"],
                   choices=["eager", "fuse_bn", "channels_last", "compile", "compile_channels_last"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 64])
    p.add_argument("--repeats", type=int, default=15, help="timed repeats at batch > 1")
    p.add_argument("--repeats-b1", type=int, default=100, help="timed repeats at batch 1")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--profile-repeats", type=int, default=10, help="forward passes per operator profile")
    args = p.parse_args(argv)
    if args.quick:
        args.archs, args.budgets, args.batch_sizes = ["resnet20"], [0.5], [1, 4]
        args.repeats, args.repeats_b1, args.warmup, args.profile_repeats = 2, 3, 1, 1
    start = common.setup(args)
    results = {arch: measure_arch(arch, args) for arch in args.archs}
    goals = [s["goal"] for r in results.values() for b in r["batches"].values() for s in b["speedups"].values()]
    common.write("speedup", args, {"archs": results, "goals": goals,
                                   "goals_met": f"{sum(g['met'] for g in goals)} of {len(goals)}"}, start)


if __name__ == "__main__":
    main()
