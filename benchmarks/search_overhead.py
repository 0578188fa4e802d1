"""Benchmark 3, search overhead: the share of JST's search wall time spent outside training.

Why: a search step trains a sub-network (M epochs on Dtrain, N on Dval) and evaluates it; everything
else (the threshold policy, the sampler and its budget projection with FLOPs counting, extraction, the
updater, checkpoints, consistency checks, logging) is overhead that should stay small beside training.
The real search runs (``jst.engine.pipeline.run(cfg, until="search")`` at ``cpu`` scale); this script wraps,
inside this process only, the functions a search calls with timers: ``search`` (the total),
``train_epoch`` (through ``jst.engine.train.fit``) and ``evaluate`` (training and evaluation), and for the
breakdown ``draw``, ``extract``,
``write_back``, ``FlopsModel.ratio``, ``ThresholdPolicy.update`` and ``RunContext.save_checkpoint``.
Breakdown times are inclusive (``draw`` contains FLOPs counting of the budget projection). The coarse
stage runs first (the search needs it) and is not counted. Goal: outside training <= 2% of search time.

    python -m benchmarks.search_overhead --out benchmarks/results [--quick]
"""
from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import jst.core.search
import jst.engine.train
from jst.config import make_config
from jst.core.thresholds import ThresholdPolicy
from jst.engine.context import RunContext
from jst.engine.pipeline import run
from jst.nets.flops import FlopsModel

from . import common

CASES = {"cifar10_sample-resnet20": ("imagefolder", "cifar10-sample", "resnet20"),
         "mnist-lenet5": ("mnist", "", "lenet5")}
TRAINING = ("train_epoch", "evaluate")
TIMED = [(jst.core.search, "search"), (jst.engine.train, "train_epoch"), (jst.core.search, "evaluate"),
         (jst.core.search, "draw"), (jst.core.search, "extract"), (jst.core.search, "write_back"),
         (FlopsModel, "ratio"), (ThresholdPolicy, "update"), (RunContext, "save_checkpoint"),
         (RunContext, "check_same")]


@contextmanager
def timers():
    """Wrap every (owner, name) of TIMED with a timer for the duration of the block; yields the totals.
    Only calls made inside ``search`` are counted (the coarse stage also checkpoints and counts FLOPs)."""
    seconds, calls, originals, inside = defaultdict(float), defaultdict(int), [], [0]

    def wrap(owner, name):
        fn = getattr(owner, name)

        def timed(*args, **kwargs):
            if name != "search" and not inside[0]:
                return fn(*args, **kwargs)
            inside[0] += name == "search"
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - t0
                calls[name] += 1
                inside[0] -= name == "search"
        originals.append((owner, name, fn))
        setattr(owner, name, timed)

    for owner, name in TIMED:
        wrap(owner, name)
    try:
        yield seconds, calls
    finally:
        for owner, name, fn in reversed(originals):
            setattr(owner, name, fn)


def measure(case: str, args) -> dict:
    dataset, folder, arch = CASES[case]
    root = str(Path(args.data_root) / folder) if folder else args.data_root
    cfg = make_config(args.scale, arch, dataset=dataset, data_root=root, flops_target=0.5, seed=0, device="cpu")
    with tempfile.TemporaryDirectory() as out, timers() as (seconds, calls):
        t0 = time.perf_counter()
        run(cfg, out, until="search")
        run_seconds = time.perf_counter() - t0
    total = seconds["search"]
    training = sum(seconds[k] for k in TRAINING)
    share = (total - training) / total
    return {"dataset": dataset, "data_root": root, "arch": arch, "scale": args.scale,
            "config": cfg.to_json(), "run_seconds_until_search": run_seconds, "search_seconds": total,
            "training_and_evaluation_seconds": training, "outside_training_seconds": total - training,
            "outside_training_share": share,
            "breakdown_seconds_inclusive": dict(seconds), "calls": dict(calls),
            "goal": common.goal(f"{case}: search time outside training <= 2% at {args.scale} scale", share, 0.02,
                                higher_is_better=False)}


def main(argv=None) -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--scale", default="cpu", choices=("smoke", "cpu"))
    args = p.parse_args(argv)
    if args.quick:
        args.scale = "smoke"
    start = common.setup(args)
    results = {case: measure(case, args) for case in args.cases}
    common.write("search_overhead", args, {"cases": results, "goals": [r["goal"] for r in results.values()]},
                 start)


if __name__ == "__main__":
    main()
