"""``python -m jst``: run a method (the whole pipeline or up to a stage), count FLOPs, evaluate an export.

  python -m jst run --method jst --dataset mnist --arch lenet5 --data-root ../shared/data \
      --scale cpu --flops-target 0.5 --seed 0 --out runs/mnist-lenet5
  python -m jst coarse|search ...   same arguments, stops after that stage (resumable later)
  python -m jst flops --arch resnet20 --input-shape 3 32 32
  python -m jst evaluate --model runs/mnist-lenet5/model --dataset mnist --data-root ../shared/data
  python -m jst compare --methods jst,dense,l1norm --seeds 0,1,2 --flops-targets 0.5 --dataset mnist \
      --arch lenet5 --data-root ../shared/data --scale cpu --out results/compare
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jst.engine.errors import JstError, TrainingDiverged
from jst.engine.output import out_argument

STAGES = {"coarse": "coarse", "search": "search", "run": None}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog.split()[-1]}: {message} (see --help)\n")


def _run_parser(sub, name: str, help_text: str):
    from jst.config import SCALES
    from jst.engine.data import DATASETS
    from jst.methods import METHODS
    from jst.nets.models import ARCHS
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--method", default="jst", choices=sorted(METHODS), help="pruning method (default: jst)")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--data-root", default=None, help="data folder (default: $JST_DATA_ROOT, else ../shared/data)")
    p.add_argument("--scale", default="cpu", choices=SCALES, help="preset schedule (default: cpu)")
    p.add_argument("--flops-target", type=float, default=0.5, help="fraction of the dense FLOPs to keep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", required=True, type=out_argument,
                   help="run folder (resumed if it holds an unfinished run)")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field (JSON values), e.g. --set search_steps=10")
    p.add_argument("--force", action="store_true", help="start over even if OUT holds a run")
    p.add_argument("--fork-from", default=None, metavar="RUN",
                   help="a run folder of the same method (jst, slimming) whose coarse (sparsity) training this run "
                        "may start from, when that stage is the same; the outcome is the same as without")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m jst", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub, "run", "run a method end to end: train, prune, fine-tune, export, test")
    _run_parser(sub, "coarse", "JST: coarse training of the target network only")
    _run_parser(sub, "search", "JST: coarse training and the search (no fine-tuning)")
    f = sub.add_parser("flops", help="FLOPs, parameters and prunable layers of an architecture")
    f.add_argument("--arch", required=True)
    f.add_argument("--input-shape", type=int, nargs=3, default=(3, 32, 32), metavar=("C", "H", "W"))
    f.add_argument("--num-classes", type=int, default=10)
    e = sub.add_parser("evaluate", help="test accuracy of an exported network")
    e.add_argument("--model", required=True, help="export folder (model.json + model.safetensors)")
    e.add_argument("--dataset", required=True)
    e.add_argument("--data-root", default=None)
    e.add_argument("--device", default="auto")
    _compare_parser(sub)
    return parser


def _compare_parser(sub) -> None:
    from jst.config import SCALES
    from jst.engine.data import DATASETS
    from jst.experiments.workers import jobs_argument
    from jst.nets.models import ARCHS
    c = sub.add_parser("compare", help="methods x seeds x FLOPs targets into one table (mean, std over seeds)")
    c.add_argument("--methods", required=True, help="comma-separated, e.g. jst,dense,l1norm,scratch")
    c.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    c.add_argument("--flops-targets", default="0.5", help="comma-separated FLOPs fractions (default: 0.5)")
    c.add_argument("--dataset", required=True, choices=DATASETS)
    c.add_argument("--arch", required=True, choices=ARCHS)
    c.add_argument("--data-root", default=None, help="data folder (default: $JST_DATA_ROOT, else ../shared/data)")
    c.add_argument("--scale", default="cpu", choices=SCALES)
    c.add_argument("--device", default="auto")
    c.add_argument("--out", required=True, type=out_argument,
                   help="folder of the runs and the table (finished runs are reused)")
    c.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    c.add_argument("--set-for", action="append", default=[], metavar="METHOD:FIELD=VALUE",
                   help="override a config field for one method's runs (e.g. a tuned value)")
    c.add_argument("--jobs", type=jobs_argument, default=1,
                   help="runs at once, each in its own process with its share of the cores (default 1)")
    c.add_argument("--fork-from", default=None, metavar="FOLDER",
                   help="a comparison folder whose run of the same method, target and seed may give a JST or "
                        "Network Slimming run its coarse- (sparsity-) trained network, when that stage is the same "
                        "(default: the first target's run of this folder)")


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0, 2 for bad input (one line, nothing written is touched; also a folder another
    process is writing), 3 when training diverged, 130 / 143 when stopped by SIGINT / SIGTERM (the last
    checkpoint kept; the same command resumes)."""
    import os

    from jst.engine import stopping
    from jst.engine.errors import Stopped
    args = build_parser().parse_args(argv)
    try:
        with stopping.on_signals():
            if args.command in STAGES:
                return _run(args, STAGES[args.command])
            if args.command == "flops":
                return _flops(args)
            if args.command == "compare":
                return _compare(args)
            return _evaluate(args)
    except JstError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: training diverged in {e}; the last good checkpoint is kept", file=sys.stderr)
        return 3
    except (Stopped, KeyboardInterrupt) as stop:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank stops; one says so
            print(stopping.message(stop, getattr(args, "out", None)), file=sys.stderr)
        return stopping.exit_status(stop)


def _run(args, until: str | None) -> int:
    from jst.config import make_config, parse_assignment
    from jst.engine.pipeline import run
    overrides = dict(parse_assignment(s) for s in args.set)
    cfg = make_config(args.scale, args.arch, method=args.method, dataset=args.dataset, data_root=args.data_root,
                      flops_target=args.flops_target, seed=args.seed, device=args.device,
                      download=args.download, **overrides)
    from jst.engine import distributed, fork
    if args.fork_from and not fork.usable(Path(args.fork_from), cfg):
        print(f"jst: --fork-from {args.fork_from} not used ({fork.why_not(Path(args.fork_from), cfg)}): this run "
              "trains its own", file=sys.stderr)
    try:
        result = run(cfg, args.out, force=args.force, until=until, fork_source=args.fork_from)
        main_rank = distributed.is_main()
    finally:
        distributed.cleanup()
    if main_rank:
        print(json.dumps(_summary(result), indent=2))
    return 0


def _summary(result: dict) -> dict:
    if "pruned" not in result:
        return result
    keys = ("flops", "params", "test_acc", "flops_ratio")
    return {"method": result["method"], "dataset": result["dataset"], "arch": result["arch"],
            "dense": {k: result["dense"].get(k) for k in keys[:3]},
            "pruned": {k: result["pruned"][k] for k in keys}, "meets_budget": result["meets_budget"],
            "wall_time_s": round(result["wall_time_s"], 1)}


def _compare(args) -> int:
    from jst.config import parse_assignment
    from jst.experiments.compare import compare
    from jst.methods import METHODS
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise JstError(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        targets = [float(t) for t in args.flops_targets.split(",")]
    except ValueError:
        raise JstError("--seeds takes integers and --flops-targets numbers, comma-separated") from None
    per_method: dict[str, dict] = {}
    for text in args.set_for:
        method, _, assignment = text.partition(":")
        if method not in methods or not assignment:
            raise JstError(f"--set-for expects METHOD:FIELD=VALUE for a method of --methods, got {text!r}")
        key, value = parse_assignment(assignment)
        per_method.setdefault(method, {})[key] = value
    rows = compare(methods, seeds, targets, dataset=args.dataset, arch=args.arch, data_root=args.data_root,
                   scale=args.scale, out=args.out, overrides=dict(parse_assignment(s) for s in args.set),
                   device=args.device, command=" ".join(["python", "-m", "jst", *sys.argv[1:]]),
                   method_overrides=per_method, jobs=args.jobs, fork_from=args.fork_from)
    keys = ("method", "flops_target", "n_seeds", "test_acc_mean", "test_acc_std", "flops_ratio_mean")
    print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=2))
    return 0


def _flops(args) -> int:
    from jst.nets.flops import count
    from jst.nets.models import ARCHS, build_model
    from jst.nets.prunable import widths
    if args.arch not in ARCHS:
        raise JstError(f"unknown arch {args.arch!r}; choose from {', '.join(ARCHS)}")
    c, h, w = args.input_shape
    model = build_model(args.arch, args.num_classes, c, h, init=False)
    print(json.dumps({"arch": args.arch, "input_shape": [c, h, w], **count(model, (c, h, w)),
                      "prunable_layers": widths(model)}, indent=2))
    return 0


def _evaluate(args) -> int:
    from jst.engine import data
    from jst.engine.distributed import resolve_device
    from jst.engine.train import evaluate
    from jst.nets.export import check_input, load_exported, read_record
    device = resolve_device(args.device)
    model = load_exported(args.model, device)
    root = args.data_root or data.default_data_root()
    if root is None:
        raise JstError("no data root: pass --data-root or set JST_DATA_ROOT")
    size = read_record(args.model)["image_size"] if args.dataset == "imagefolder" else None  # as it was trained
    splits = data.load(args.dataset, root, image_size=size)
    check_input(args.model, splits.info, f"{args.dataset} at {root}")
    print(json.dumps({"model": args.model, "test_acc": evaluate(model, splits.test, 512, device)["acc"]}))
    return 0
