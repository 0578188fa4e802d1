"""One run of one method: validate, load data, run the method, export, report the test set once.

The run folder holds ``config.json`` (what the run was started with), ``checkpoints/`` (one per stage,
resumed from automatically), ``log.jsonl`` (one line per epoch and search step), ``model/`` (the export)
and, last, ``result.json``.
"""
from __future__ import annotations

import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from safetensors.torch import save_file

from jst.config import Config
from jst.engine import checkpoint, data, distributed, fork, lock, provenance, run_folder
from jst.engine.context import RunContext, StopAfterStage
from jst.engine.convergence import convergence
from jst.engine.errors import ConfigError, JstError, Stopped
from jst.engine.runlog import RunLog
from jst.engine.train import TRAINED, evaluate, predict
from jst.engine.training_budget import training_budget
from jst.methods.shared_dense import dense_images, dense_record
from jst.nets.budget import budget_report, collapsed
from jst.nets.export import load_exported, save_exported
from jst.nets.flops import FlopsModel, count
from jst.nets.models import build_for
from jst.nets.prunable import widths

PREDICTIONS = "predictions.safetensors"   # every test image's predicted class and label, in test-set order


def run(cfg: Config, out: str | Path, *, force: bool = False, until: str | None = None,
        fork_source: str | Path | None = None) -> dict:
    """Run (or resume) ``cfg`` in folder ``out``; returns result.json's content. One process at a time
    writes a run folder: a run started on a folder that another live process holds is refused at once
    (a finished folder is read back without the lock). A stop (``Stopped``, KeyboardInterrupt) leaves
    with its ``run_dir`` set, for the message that says what was kept."""
    if cfg.data_root is None:
        cfg.data_root = data.default_data_root()
    cfg.validate()
    device = distributed.init(cfg.device) or distributed.resolve_device(cfg.device)
    check_distributed(cfg, device)
    out = Path(out)
    if not force and (out / "result.json").exists():
        run_folder.check_resumable(out, cfg)
        return checkpoint.load_json(out / "result.json")  # finished: reused, never overwritten without --force
    try:
        with one_writer(out):
            return _run(cfg, out, device, force, until, fork_source)
    except (Stopped, KeyboardInterrupt) as stop:
        if getattr(stop, "run_dir", None) is None:
            stop.run_dir = out
        raise


@contextmanager
def one_writer(out: Path):
    """Rank 0 holds the folder's lock (the other ranks write nothing); when another process holds it
    (or the lock file cannot be made), every rank is refused alike."""
    with ExitStack() as held:
        refusal = None
        if distributed.is_main():
            try:
                held.enter_context(lock.hold(out))
            except JstError as e:
                refusal = e
        refusal = distributed.broadcast(refusal)
        if refusal is not None:
            raise refusal
        yield


def _run(cfg: Config, out: Path, device: torch.device, force: bool, until: str | None,
         fork_source: str | Path | None = None) -> dict:
    from jst.methods import METHODS
    result_path = out / "result.json"
    config_path = out / "config.json"
    if not force:
        run_folder.check_resumable(out, cfg)
        if result_path.exists():
            return checkpoint.load_json(result_path)  # finished: reused, never overwritten without --force
    splits = data.load_splits(cfg)
    check_budget(cfg, splits.info)
    if cfg.dense_from:
        dense_record(cfg)   # refused before any work: not a dense run of this seed and data
    if distributed.is_main():
        if force and out.exists():
            run_folder.clear(out)
        out.mkdir(parents=True, exist_ok=True)
        if not config_path.exists():
            checkpoint.save_json(cfg.to_json(), config_path)
        for stale in [*out.glob(".*.tmp"), *(out / "checkpoints").glob(".*.tmp")]:
            stale.unlink()  # writes a killed run never finished
        fork.start(out, cfg, fork_source)   # another run's first stage, when it is this run's (jst.engine.fork)
    distributed.barrier()
    _set_determinism(cfg)
    runlog = RunLog(out / "log.jsonl")
    log_lines, elapsed, kept, images = run_folder.resume_point(out)
    TRAINED["images"] = images or 0   # None: a checkpoint from before the count; the budget is unknown
    if distributed.is_main():
        runlog.truncate(log_lines)
    started = time.time() - elapsed  # a resumed run's wall time includes the work its checkpoint kept
    attempts = [*kept, {"from_s": round(elapsed, 1), "hardware": provenance.hardware(device)}]
    ctx = RunContext(cfg, splits, device, out, runlog, until, started, attempts)
    try:
        outcome = METHODS[cfg.method](ctx)
    except StopAfterStage as stop:
        return {"run_dir": str(out), "stopped_after": str(stop), "checkpoints": sorted(
            p.name for p in (out / "checkpoints").glob("*.pt"))}
    model = outcome["model"].eval()
    if distributed.is_main():
        save_exported(model.cpu(), out / "model", arch=cfg.arch, info=splits.info)
    distributed.barrier()
    exported = load_exported(out / "model", device)

    # The test set, once, at the end: the exported network and the dense reference.
    shape = splits.info.input_shape
    dense_arch = build_for(cfg.arch, splits.info, init=False)
    dense = {**count(dense_arch, shape), "widths": widths(dense_arch), "source": outcome["dense_source"]}
    if outcome["dense_model"] is not None:
        dense["test_acc"] = evaluate(outcome["dense_model"].to(device), splits.test, cfg.eval_batch_size, device,
                                     cfg.amp)["acc"]
    counter = outcome.get("count", count)  # a method that prunes weights, not channels, counts sparse FLOPs
    pruned = {**counter(exported, shape), "widths": widths(exported),
              "test_acc": _test_accuracy(exported, splits, cfg, device, out)}
    pruned["flops_ratio"] = pruned["flops"] / dense["flops"]
    pruned["params_ratio"] = pruned["params"] / dense["params"]
    pruned["compression_ratio"] = dense["params"] / pruned["params"]
    pruned["collapsed_layers"] = collapsed(pruned["widths"], dense["widths"])
    result = {
        "method": cfg.method, "dataset": cfg.dataset, "arch": cfg.arch, "seed": cfg.seed, "scale": cfg.scale,
        "flops_target": cfg.flops_target, "dense": dense, "pruned": pruned,
        "meets_budget": pruned["flops_ratio"] <= cfg.flops_target + 1e-9,
        "budget": budget_report(pruned["flops_ratio"], cfg.flops_target),
        "mechanism": outcome.get("mechanism") or {"acted": None, "reason": "this method prunes nothing itself"},
        "convergence": convergence(runlog.read()),
        "training": training_budget(None if images is None else TRAINED["images"], len(splits.full_train),
                                    dense_images(cfg), cfg.dense_from),
        "predictions": PREDICTIONS if distributed.world() == 1 else None,
        "data": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "val_held_out": cfg.holdout_val,
                 "input_shape": list(shape), "num_classes": splits.info.num_classes},
        "wall_time_s": time.time() - started, "resumed": log_lines > 0, "attempts": attempts,
        "forked_from": fork.forked_from(out),   # the run whose first stage (coarse, sparsity) this one started from
        "versions": provenance.versions(),
        "hardware": {**provenance.hardware(device), "processes": distributed.world()},
        "command": _command(),
        "config": cfg.to_json(), "method_details": outcome["extra"],
    }
    if distributed.is_main():
        checkpoint.save_json(result, result_path)
    distributed.barrier()
    return result


def _test_accuracy(model, splits, cfg: Config, device, out: Path) -> float:
    """Accuracy on the test set; on one process also every image's prediction, saved beside the record
    (``PREDICTIONS``) for the paired tests between methods. Under torchrun each rank evaluates its share."""
    if distributed.world() > 1:
        return evaluate(model, splits.test, cfg.eval_batch_size, device, cfg.amp)["acc"]
    predicted, labels = predict(model, splits.test, cfg.eval_batch_size, device, cfg.amp)
    save_file({"predicted": predicted.to(torch.int32), "label": labels.to(torch.int32)}, str(out / PREDICTIONS))
    return float((predicted == labels).double().mean())


def check_distributed(cfg: Config, device: torch.device) -> None:
    """Options that need CUDA or a batch the ranks can share."""
    if cfg.sync_bn and device.type != "cuda":
        raise ConfigError("sync_bn needs CUDA (torch's SyncBatchNorm does not run on CPU)")
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp=fp16 needs CUDA; use bf16 on CPU")
    if cfg.amp not in ("none", "bf16", "fp16"):
        raise ConfigError(f"amp must be one of none, bf16, fp16, got {cfg.amp!r}")
    if cfg.grad_accum < 1:
        raise ConfigError(f"grad_accum must be >= 1, got {cfg.grad_accum}")
    k = distributed.world()
    for name in ("batch_size", "finetune_batch_size"):
        if getattr(cfg, name) % k:
            raise ConfigError(f"{name} {getattr(cfg, name)} is not divisible by the {k} processes")


def check_budget(cfg: Config, info: data.DataInfo) -> None:
    if cfg.method in ("dense",) or (cfg.method == "autoprune" and cfg.autoprune_mode == "unstructured"):
        return  # no channel floor: dense prunes nothing, unstructured AutoPrune prunes weights
    model = build_for(cfg.arch, info, init=False)
    floor = FlopsModel(model, info.input_shape).minimum_ratio(cfg.min_channels)
    if cfg.flops_target < floor:
        raise ConfigError(f"flops target {cfg.flops_target} is below what {cfg.arch} allows "
                          f"({floor:.4f} with {cfg.min_channels} channel(s) per prunable layer)")


def _set_determinism(cfg: Config) -> None:
    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _command() -> str | None:
    """The command line, when the run was started as ``python -m jst ...``."""
    if not sys.argv[0].endswith("jst/__main__.py"):
        return None
    return " ".join([Path(sys.executable).name, "-m", "jst", *sys.argv[1:]])
