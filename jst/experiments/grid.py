"""The reproduction's experiment grid: every comparison, ablation and sensitivity curve of the book.

  python -m jst.experiments --list                       # the blocks, their runs, and which are finished
  python -m jst.experiments                              # run everything not yet finished, block by block
  python -m jst.experiments --first-grid --tables        # the first grid (superseded), e.g. its tables
  python -m jst.experiments --only cifar10_sample-resnet20 ablation-no_perturbation
  python -m jst.experiments --tables                     # rewrite the tables from the finished runs only

Each block is a ``jst.experiments.compare`` grid (methods x seeds x FLOPs targets on one dataset/arch) written
under the results root (``--results-root``, default ``results/``); finished runs (with result.json) are
reused and an interrupted run resumes from its checkpoints, so the command continues across sessions. An
ablation is JST with one reconstructed choice changed (``overrides``), one comparison folder per variant. A
sensitivity block evaluates the coarse-trained target of a finished JST run (its checkpoint) and writes
``<results root>/sensitivity/<name>.csv``. A block knows its folder relative to the results root; every
path is made from the root it is given.

The blocks are listed in the order they run: cheapest and most important first, so a machine with less
time still finishes whole blocks.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jst.engine import lock, stopping
from jst.engine.errors import FolderInUse, JstError, Stopped
from jst.experiments.compare import compare, complete_targets, plan, run_name, save_request, table
from jst.experiments.workers import jobs_argument
from jst.report.records import is_record

# The first grid's folders under the results root: made before the protocol (#23; 73 of its records name
# uncommitted code), read by the book until the protocol grid (GRID_ROOT) replaces them, then removed.
FIRST_GRID_ROOTS = ("compare", "ablations", "lr_probe", "cpu")
GRID_ROOT = "grid"
RESULTS_ROOT = "results"        # the committed records, relative to the checkout: the default --results-root
COMMAND_DATA_ROOT = "../shared/data"  # the data folder the printed commands name: the documented layout
ALL_METHODS = ("jst", "dense", "l1norm", "slimming", "ista", "autoprune", "lstm", "scratch")
SCALE = "cpu"


@dataclass(frozen=True)
class Block:
    """One comparison grid: ``python -m jst compare`` with these arguments, into ``out``."""
    name: str
    dataset: str
    arch: str
    data: str = ""                      # sub-folder of the data root (an ImageFolder), "" for torchvision sets
    methods: tuple[str, ...] = ALL_METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    flops_targets: tuple[float, ...] = (0.5,)
    overrides: dict = field(default_factory=dict)
    out: str = ""                       # folder under the results root; "" for compare/<name>-<scale>
    scale: str = SCALE
    tuned: bool = False                 # each method's key hyper-parameter chosen on Dval first (tuning.py)
    tuned_by: str = ""                  # or: the block folder (under the results root) whose choice it takes

    @property
    def share_dense(self) -> bool:
        return bool(self.overrides.get("share_dense"))

    @property
    def relative(self) -> Path:
        """The block's folder relative to the results root."""
        return Path(self.out or f"compare/{self.name}-{self.scale}")

    def folder(self, results_root: str | Path) -> Path:
        return Path(results_root) / self.relative

    def runs(self, results_root: str | Path) -> list[Path]:
        return [self.folder(results_root) / run_name(m, t, s) for m, t, s in
                plan(list(self.methods), list(self.seeds), list(self.flops_targets))]

    def complete_targets(self, results_root: str | Path) -> list[float]:
        """The FLOPs targets whose every run has finished (the seeds' dense runs and Scratch-B's included): what a
        block under way can already report."""
        return complete_targets(self.folder(results_root), self.methods, self.seeds, self.flops_targets,
                                self.share_dense)

    def method_overrides(self, results_root: str | Path) -> dict[str, dict]:
        """The tuned values per method ({} for a block that is not tuned, or not yet); a block ``tuned_by``
        another takes that block's values for its own methods."""
        from jst.experiments.tuning import chosen_values
        if self.tuned_by:
            chosen = chosen_values(Path(results_root) / self.tuned_by)
            return {m: v for m, v in chosen.items() if m in self.methods}
        return chosen_values(self.folder(results_root)) if self.tuned else {}

    def command(self, results_root: str | Path, data_root: str | Path) -> str:
        """The ``python -m jst compare`` line that runs this block with these roots (a tuned block: with the
        values its tuning chose, once it has)."""
        text = lambda v: v if isinstance(v, str) else json.dumps(v)  # noqa: E731
        sets = "".join(f" --set {k}={text(v)}" for k, v in self.overrides.items())
        sets += "".join(f" --set-for {m}:{k}={text(v)}" for m, values in self.method_overrides(results_root).items()
                        for k, v in values.items())
        data = Path(data_root) / self.data if self.data else Path(data_root)
        return (f"python -m jst compare --methods {','.join(self.methods)} --seeds {','.join(map(str, self.seeds))}"
                f" --flops-targets {','.join(f'{t:g}' for t in self.flops_targets)} --dataset {self.dataset}"
                f" --arch {self.arch} --data-root {data} --scale {self.scale}{sets}{self._fork_from(results_root)}"
                f" --out {self.folder(results_root)}")

    def _fork_from(self, results_root) -> str:
        """An ablation may take its coarse networks from the block it is tuned by (where its coarse training is
        that block's: ``jst.engine.fork``)."""
        return f" --fork-from {Path(results_root) / self.tuned_by}" if self.tuned_by else ""

    def tabulate(self, results_root: str | Path, data_root: str | Path) -> None:
        """Rewrite compare.json and the table from the finished runs, starting none: a block part-way through
        reports what it has, each row with its number of seeds."""
        folder = self.folder(results_root)
        save_request(folder, self.methods, self.seeds, self.flops_targets, dataset=self.dataset, arch=self.arch,
                     scale=self.scale, overrides=dict(self.overrides), command=self.command(results_root, data_root),
                     method_overrides=self.method_overrides(results_root))
        table(folder, list(self.methods), list(self.seeds), list(self.flops_targets))

    def run(self, results_root: str | Path, data_root: Path, device: str, command: str | None = None,
            jobs: int = 1) -> None:
        """The grid (``jobs`` runs at once), then the CPU latency of every exported network against its dense
        one (jst.experiments.latency). ``command`` is recorded in compare.json (default: this block's
        command naming ``data_root``)."""
        from jst.experiments.latency import measure
        from jst.experiments.tuning import reuse_chosen_trials, tune
        folder = self.folder(results_root)
        root = data_root / self.data if self.data else data_root
        if self.tuned_by and not (Path(results_root) / self.tuned_by / "tuning.json").exists():
            raise JstError(f"{self.name}: takes its tuned values from {Path(results_root) / self.tuned_by}, whose "
                           "tuning has not run; run that block first")
        if self.tuned:
            with lock.hold(folder):
                tune(self, results_root, root, device, jobs)
            reuse_chosen_trials(folder, run_name)
            command = self.command(results_root, data_root)   # now with the chosen values
        compare(self.methods, self.seeds, self.flops_targets, dataset=self.dataset, arch=self.arch, data_root=root,
                scale=self.scale, out=folder, overrides=dict(self.overrides) or None, device=device,
                command=command or self.command(results_root, data_root),
                method_overrides=self.method_overrides(results_root), jobs=jobs,
                fork_from=Path(results_root) / self.tuned_by if self.tuned_by else None)
        if "dense" in self.methods:
            measure(folder)


@dataclass(frozen=True)
class Sensitivity:
    """Per-layer sensitivity on Dval, no retraining: of the coarse-trained target of a finished JST run (the
    first grid), or, with ``network="dense"``, of the block's converged dense network of seed 0 (the
    protocol grid: its ``dense-f1-s0`` run)."""
    name: str
    source: Block                       # the block whose seed-0 run provides the network
    network: str = "coarse"             # "coarse": JST's coarse-trained target; "dense": the shared dense run

    def csv(self, results_root: str | Path) -> Path:
        folder = "sensitivity" if self.network == "coarse" else f"{GRID_ROOT}/sensitivity"
        return Path(results_root) / folder / f"{self.name}.csv"

    def runs(self, results_root: str | Path) -> list[Path]:
        return [self.csv(results_root)]

    def command(self, results_root: str | Path, data_root: str | Path) -> str:
        """The ``python -m jst.experiments`` line that runs this block; a root is named where it is not the
        command's default."""
        roots = "" if Path(results_root) == Path(RESULTS_ROOT) else f" --results-root {results_root}"
        roots += "" if Path(data_root) == Path(COMMAND_DATA_ROOT) else f" --data-root {data_root}"
        first = " --first-grid" if self.network == "coarse" else ""
        return f"python -m jst.experiments{first} --only sensitivity-{self.name}{roots}"

    def run(self, results_root: str | Path, data_root: Path, device: str) -> None:
        from jst.experiments import sensitivity
        b = self.source
        root = data_root / b.data if b.data else data_root
        model, splits, batch, run_dir = (self._dense if self.network == "dense" else self._coarse)(
            results_root, root, device)
        from jst.engine.distributed import resolve_device
        df = sensitivity.sensitivity(model, splits.val, batch_size=batch, device=resolve_device(device))
        df["dataset"], df["arch"], df["run"] = b.dataset if not b.data else b.data, b.arch, str(run_dir)
        df["base_acc"] = df.attrs.get("base_acc")
        csv = self.csv(results_root)
        csv.parent.mkdir(parents=True, exist_ok=True)
        tmp = csv.with_suffix(".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(csv)

    def _coarse(self, results_root, root: Path, device: str):
        from jst.book.run import open_run
        from jst.core.filter_weights import fold
        b = self.source
        run_dir = b.folder(results_root) / run_name("jst", b.flops_targets[0], b.seeds[0])
        run = open_run(b.dataset, str(root), b.arch, b.scale, b.flops_targets[0], b.seeds[0], device,
                       str(run_dir), dict(b.overrides))
        if not (run_dir / "checkpoints" / "coarse.pt").exists():
            run.ensure("coarse")  # the committed record has no checkpoints: train (or resume) the coarse stage
        return fold(run.target("coarse")), run.splits, run.cfg.eval_batch_size, run_dir

    def _dense(self, results_root, root: Path, device: str):
        """The seed-0 dense run of the block (it must have finished) and the Dval of its own configuration."""
        from jst.config import Config
        from jst.engine import data
        from jst.engine.errors import JstError
        from jst.nets.export import load_exported
        run_dir = self.source.folder(results_root) / run_name("dense", 1.0, self.source.seeds[0])
        if not is_record(run_dir):
            raise JstError(f"sensitivity-{self.name}: {run_dir} has not finished; run block {self.source.name} first")
        cfg = Config.from_json(json.loads((run_dir / "config.json").read_text()))
        cfg.data_root = str(root)
        return load_exported(run_dir / "model", "cpu"), data.load_splits(cfg), cfg.eval_batch_size, run_dir


def _cifar(arch: str, **kw) -> Block:
    return Block(f"cifar10_sample-{arch}", "imagefolder", arch, data="cifar10-sample", **kw)


MNIST_LENET5 = Block("mnist-lenet5", "mnist", "lenet5", flops_targets=(0.5, 0.25))
FMNIST_RESNET20 = Block("fashion_mnist-resnet20", "fashion_mnist", "resnet20")
CIFAR_RESNET20 = _cifar("resnet20")
# VGG-16 trains from scratch at lr 0.01, every method: at PAPER.md's 0.1 the dense network collapsed to
# chance in its first epoch and never recovered (results/lr_probe; the reproduction chapter).
CIFAR_VGG16 = _cifar("vgg16", overrides={"coarse_lr": 0.01})
# JST with one reconstructed choice changed (PAPER.md); Scratch-B of JST's architecture is in CIFAR_RESNET20.
ABLATIONS = {"no_perturbation": {"perturbation": 0.0},
             "fixed_threshold_0.6": {"threshold_mode": "fixed", "fixed_threshold": 0.6},
             "fixed_threshold_0.8": {"threshold_mode": "fixed", "fixed_threshold": 0.8},
             "filter_weight_before_bn": {"gate_position": "before_bn"},
             "no_updater": {"use_updater": False},
             "no_coarse_training": {"coarse_training": False},
             # the choices that make the filter weights learn and the search measure its choices (issue 22)
             "frozen_filter_weights": {"filter_training": "frozen"},
             "filter_weights_search_only": {"filter_training": "search"},
             "signed_filter_score": {"filter_score": "signed"},
             "unscaled_filter_lr": {"filter_lr_scaling": "none"},
             "moving_average_baseline": {"policy_baseline": "moving_average"},
             "selection_at_step": {"selection": "at_step"},
             "projection_down_only": {"projection_both_ways": False}}
BLOCKS: list[Block | Sensitivity] = [
    MNIST_LENET5,
    Block("mnist-lenet300", "mnist", "lenet300"),
    FMNIST_RESNET20,
    Sensitivity("fashion_mnist-resnet20", FMNIST_RESNET20),
    CIFAR_RESNET20,
    Sensitivity("cifar10_sample-resnet20", CIFAR_RESNET20),
    *[_cifar("resnet20", methods=("jst",), overrides=o, out=f"ablations/cifar10_sample-resnet20-{SCALE}/{name}")
      for name, o in ABLATIONS.items()],
    CIFAR_VGG16,
]



def protocol(dense_epochs: int, budget_epochs: float, **extra) -> dict:
    """The protocol's overrides (#23): Dval held out from every method's training, one dense network per seed
    shared by the methods that prune a trained one (trained ``dense_epochs``: the cheapest schedule measured
    to plateau on Dval), and an equal training budget of ``budget_epochs`` per method."""
    return {"holdout_val": True, "share_dense": True, "dense_epochs": dense_epochs, "budget_epochs": budget_epochs,
            **extra}


def _grid(name: str, dataset: str, arch: str, overrides: dict, data: str = "", **kw) -> Block:
    return Block(name, dataset, arch, data=data, overrides=overrides, out=f"{GRID_ROOT}/{name}-{SCALE}", tuned=True,
                 **kw)


# The protocol grid, most informative per CPU-hour first. Budgets (the measurements: the reproduction
# chapter's compute plan): LeNet-5's dense Dval curve is flat (+0.03 points over its last 20%) after 10
# epochs; JST spends 48 epochs-equivalent before fine-tuning (coarse 15, search 27, filter weights 6) and
# LSTM up to 34 (dense 10, 8 controller epochs x 3 parents), so a budget of 60 leaves each >= 12 to fine-tune.
GRID_MNIST_LENET5 = _grid("mnist-lenet5", "mnist", "lenet5", protocol(10, 60.0, lstm_parents=3),
                          flops_targets=(0.5, 0.25, 0.1))
# LeNet-300-100's dense Dval curve is flat after 10 epochs too (+0.05 points over its last 20%); the same
# LeNet preset, so the same budget.
GRID_MNIST_LENET300 = _grid("mnist-lenet300", "mnist", "lenet300", protocol(10, 60.0, lstm_parents=3))
# The main block: ResNet-20 on the CIFAR-10 sample (4,068 Dtrain images, Dval's 1,017 held out). Its dense Dval
# curve plateaus after 60 epochs at batch 32, lr 0.05, 2 warm-up epochs and label smoothing 0.1 (+0.09 +- 0.32
# points over its last 20%); 40 epochs with the same recipe still gained 0.84 and 40 without it 1.40
# (results/schedule_probe). Every method trains its network as long before it prunes: the shared dense run,
# and coarse_epochs = 60 for the networks trained from scratch with the method's own training (JST's coarse
# training, Slimming's and ISTA's sparsity stages). Budget 120: JST spends 75 epochs-equivalent on coarse training
# (its filter weights train on Dval after every epoch) and 11.5 on the search, so a budget of 100 left it 14
# fine-tuning epochs, a 3-epoch window whose gain (+0.65 +- 0.73 points) the plateau rule cannot judge; at 120 it
# fine-tunes 34 epochs (-0.25 +- 0.61, plateaued), at 140 54 (-0.22 +- 0.36), no more accurate on Dval
# (results/finetune_probe: trial 0's coarse training and search, fine-tuned at each budget). Every method then has
# the same 60 epochs-equivalent after its 60 (LSTM's controller spends up to 24 of them); fine-tuning keeps the
# recipe's batch of 32. FLOPs 0.5 first (every method, 3 seeds), then the Pareto targets 0.7 and 0.3.
CIFAR_RECIPE = {"batch_size": 32, "coarse_lr": 0.05, "warmup_epochs": 2, "label_smoothing": 0.1,
                "coarse_epochs": 60, "finetune_batch_size": 32}
GRID_CIFAR_RESNET20 = _grid("cifar10_sample-resnet20", "imagefolder", "resnet20",
                            protocol(60, 120.0, **CIFAR_RECIPE), data="cifar10-sample", flops_targets=(0.5, 0.7, 0.3))
# Fashion-MNIST with ResNet-20 (the cpu preset's 10,000 training images: 8,000 Dtrain, 2,000 Dval held out; the
# full 10,000-image test set): its dense Dval curve plateaus after 20 epochs with the main block's recipe (+0.16 +-
# 0.15 points over its last 20%; 30 epochs: +0.13 +- 0.17, results/schedule_probe). The same rule: every method
# trains 20 epochs before it prunes and has the same 40 epochs-equivalent to prune and fine-tune (budget 60).
FASHION_RECIPE = {**CIFAR_RECIPE, "coarse_epochs": 20}
GRID_FMNIST_RESNET20 = _grid("fashion_mnist-resnet20", "fashion_mnist", "resnet20",
                             protocol(20, 60.0, **FASHION_RECIPE))
# The ablations on the main block (block 5): JST alone with one reconstructed choice changed, its protocol and
# tuned values otherwise; "frozen_filter_weights" is the random-selection variant. JST starts from no dense run.
PROTOCOL_ABLATIONS = [
    Block(f"{GRID_CIFAR_RESNET20.name}-{name}", "imagefolder", "resnet20", data="cifar10-sample", methods=("jst",),
          overrides={**{k: v for k, v in GRID_CIFAR_RESNET20.overrides.items() if k != "share_dense"}, **o},
          out=f"{GRID_ROOT}/ablations/{GRID_CIFAR_RESNET20.relative.name}/{name}",
          tuned_by=str(GRID_CIFAR_RESNET20.relative))
    for name, o in ABLATIONS.items()]
PROTOCOL_GRID: list[Block | Sensitivity] = [
    GRID_MNIST_LENET5, GRID_MNIST_LENET300, GRID_CIFAR_RESNET20,
    Sensitivity("cifar10_sample-resnet20", GRID_CIFAR_RESNET20, network="dense"), GRID_FMNIST_RESNET20,
    Sensitivity("fashion_mnist-resnet20", GRID_FMNIST_RESNET20, network="dense"), *PROTOCOL_ABLATIONS]


def is_ablation(b: Block | Sensitivity) -> bool:
    return isinstance(b, Block) and "ablations/" in b.out


def block_name(b: Block | Sensitivity) -> str:
    if isinstance(b, Sensitivity):
        return f"sensitivity-{b.name}"
    return f"ablation-{Path(b.out).name}" if is_ablation(b) else b.name


def finished(b: Block | Sensitivity, results_root: str | Path) -> tuple[int, int]:
    """(finished runs, runs) of a block under ``results_root``."""
    runs = b.runs(results_root)
    done = sum(p.exists() if isinstance(b, Sensitivity) else is_record(p) for p in runs)
    return done, len(runs)


def main(argv: list[str] | None = None, blocks: list[Block | Sensitivity] | None = None) -> int:
    """``python -m jst.experiments`` over ``blocks`` (default: the protocol grid, ``PROTOCOL_GRID``; with
    ``--first-grid``, the first grid's ``BLOCKS``)."""
    from jst.engine.data import default_data_root
    first = argv is not None and "--first-grid" in argv or argv is None and "--first-grid" in sys.argv[1:]
    grid = blocks if blocks is not None else BLOCKS if first else PROTOCOL_GRID
    p = argparse.ArgumentParser(prog="python -m jst.experiments", description=__doc__.splitlines()[0])
    p.add_argument("--first-grid", action="store_true",
                   help="the first grid's blocks (superseded by the protocol grid; the book reads them until it lands)")
    names = [block_name(b) for b in grid]
    p.add_argument("--only", nargs="+", choices=names, metavar="BLOCK", help=f"run only these ({', '.join(names)})")
    p.add_argument("--list", action="store_true", help="list the blocks and how many runs are finished")
    p.add_argument("--tables", action="store_true",
                   help="rewrite the tables of the blocks that have finished runs, from those runs; starts none")
    p.add_argument("--results-root", default=RESULTS_ROOT,
                   help=f"folder the blocks write under (default: {RESULTS_ROOT})")
    p.add_argument("--data-root", default=None, help=f"default: $JST_DATA_ROOT, else {COMMAND_DATA_ROOT}")
    p.add_argument("--device", default="auto")
    p.add_argument("--jobs", type=jobs_argument, default=1,
                   help="runs at once, each in its own process with its share of the cores (default 1)")
    args = p.parse_args(argv)
    blocks = [b for b in grid if not args.only or block_name(b) in args.only]
    results = args.results_root
    shown = args.data_root or COMMAND_DATA_ROOT   # the data root the printed and recorded commands name
    if args.list:
        for b in blocks:
            done, total = finished(b, results)
            print(f"{block_name(b):48s} {done:3d}/{total:<3d} {b.command(results, shown)}")
        return 0
    if args.tables:
        for b in blocks:
            done, total = finished(b, results)
            if isinstance(b, Block) and done:
                b.tabulate(results, shown)
                print(f"[jst.experiments] {block_name(b)}: table of {done}/{total} runs -> {b.folder(results)}")
        return 0
    data_root = Path(args.data_root or default_data_root() or COMMAND_DATA_ROOT)
    if not data_root.is_dir():
        print(f"error: data root {data_root} does not exist", file=sys.stderr)
        return 2
    try:
        with stopping.on_signals():
            for b in blocks:  # a block another process is writing: refused before any block starts
                if isinstance(b, Block):
                    lock.ensure_free(b.folder(results))
            return _run_blocks(blocks, results, shown, data_root, args.device, args.jobs)
    except FolderInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as stop:
        print(stopping.message(stop), file=sys.stderr)
        return stopping.exit_status(stop)


def _run_blocks(blocks, results, shown, data_root: Path, device: str, jobs: int = 1) -> int:
    failed = []
    for b in blocks:
        t0 = time.time()
        command = b.command(results, shown)
        print(f"[jst.experiments] {block_name(b)}: {command}", flush=True)
        try:
            if isinstance(b, Block):
                b.run(results, data_root, device, command, jobs)
            else:
                b.run(results, data_root, device)
        except FolderInUse:
            raise
        except JstError as e:  # a failed block does not stop the others; listed at the end
            failed.append(f"{block_name(b)}: {e}")
        done, total = finished(b, results)
        print(f"[jst.experiments] {block_name(b)}: {done}/{total} finished ({time.time() - t0:.0f} s)", flush=True)
    if failed:
        print("error: some blocks failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


__all__ = ["Block", "Sensitivity", "BLOCKS", "PROTOCOL_GRID", "PROTOCOL_ABLATIONS", "ABLATIONS", "finished",
           "block_name", "is_ablation", "protocol"]

if __name__ == "__main__":
    sys.exit(main())
