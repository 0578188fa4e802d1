"""One run of one method: validate, load data, run the method, export, report the test set once.

The run folder holds ``config.json`` (what the run was started with), ``checkpoints/`` (one per stage,
resumed from automatically), ``log.jsonl`` (one line per epoch and search step), ``model/`` (the export)
and, last, ``result.json``.
"""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

from jst import __version__
from jst.config import SCALES, Config
from jst.engine import checkpoint, data, distributed
from jst.engine.context import RunContext, StopAfterStage
from jst.engine.errors import CheckpointError, ConfigError, JstError
from jst.engine.runlog import RunLog
from jst.engine.train import evaluate
from jst.nets.export import load_exported, save_exported
from jst.nets.flops import FlopsModel, count
from jst.nets.models import build_model
from jst.nets.prunable import widths


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or auto")
    return device


def validate(cfg: Config) -> None:
    """Catch bad options before any work starts."""
    from jst.methods import METHODS
    from jst.nets.models import ARCHS
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {', '.join(METHODS)}")
    if cfg.dataset not in data.DATASETS:
        raise ConfigError(f"unknown dataset {cfg.dataset!r}; choose from {', '.join(data.DATASETS)}")
    if cfg.arch not in ARCHS:
        raise ConfigError(f"unknown arch {cfg.arch!r}; choose from {', '.join(ARCHS)}")
    if not 0 < cfg.flops_target <= 1:
        raise ConfigError(f"flops target must be in (0, 1], got {cfg.flops_target}")
    bad = [t for t in (*cfg.thresholds, cfg.fixed_threshold) if not 0 < t <= 1]
    if bad:
        raise ConfigError(f"thresholds must lie in (0, 1], got {bad[0]}")
    if not 0 <= cfg.seed < 2 ** 32:
        raise ConfigError(f"seed must be in [0, 2**32), got {cfg.seed}")
    for name in ("coarse_epochs", "search_steps", "filter_epochs", "finetune_epochs", "dense_epochs"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if any(m < 0 for m in cfg.search_epochs):
        raise ConfigError("search_epochs must be >= 0")
    if cfg.threshold_mode not in ("learned", "fixed"):
        raise ConfigError("threshold_mode must be 'learned' or 'fixed'")
    if cfg.gate_position not in ("after_bn", "before_bn"):
        raise ConfigError("gate_position must be 'after_bn' or 'before_bn'")
    if not 0 < cfg.val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {cfg.val_fraction}")
    from jst.core.filter_weights import INITS, REGULARIZERS
    from jst.engine.data import AUGMENTS
    choices = {"optimizer": ("sgd", "adam"), "filter_weight_init": INITS, "filter_regularizer": REGULARIZERS,
               "finetune_schedule": ("cosine", "step", "constant"), "augment": AUGMENTS, "scale": SCALES}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}")
    for name in ("batch_size", "eval_batch_size", "finetune_batch_size", "min_channels", "channel_multiple",
                 "finetune_step"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("max_train_samples", "max_test_samples"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 2:
            raise ConfigError(f"{name} must be >= 2 or null, got {getattr(cfg, name)}")
    if cfg.image_size is not None and cfg.image_size < 8:
        raise ConfigError(f"image_size must be >= 8 px, got {cfg.image_size}")
    for name in ("coarse_lr", "finetune_lr", "filter_lr", "policy_lr"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(cfg, name)}")
    if not all(lr > 0 for lr in cfg.search_lr):
        raise ConfigError(f"search_lr must be > 0, got {list(cfg.search_lr)}")
    for name in ("perturbation", "weight_decay", "gamma", "filter_lambda", "search_switch"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if not 0 <= cfg.momentum < 1 or not 0 <= cfg.baseline_momentum < 1:
        raise ConfigError("momentum and baseline_momentum must be in [0, 1)")
    if cfg.data_root is None:
        raise ConfigError("no data root: pass --data-root or set JST_DATA_ROOT")


def run(cfg: Config, out: str | Path, *, force: bool = False, until: str | None = None) -> dict:
    """Run (or resume) ``cfg`` in folder ``out``; returns result.json's content."""
    from jst.methods import METHODS
    if cfg.data_root is None:
        cfg.data_root = data.default_data_root()
    validate(cfg)
    device = distributed.init(cfg.device) or resolve_device(cfg.device)
    check_distributed(cfg, device)
    out = Path(out)
    result_path = out / "result.json"
    config_path = out / "config.json"
    if not force:
        _check_resumable(out, cfg)
        if result_path.exists():
            return _read_json(result_path)  # finished: reused, never overwritten without --force
    splits = data.load(cfg.dataset, cfg.data_root, seed=cfg.seed, val_fraction=cfg.val_fraction,
                       max_train_samples=cfg.max_train_samples, max_test_samples=cfg.max_test_samples,
                       augment=cfg.augment, image_size=cfg.image_size, download=cfg.download,
                       workers=cfg.workers)
    check_budget(cfg, splits.info)
    if distributed.is_main():
        if force and out.exists():
            _clear_run(out)
        out.mkdir(parents=True, exist_ok=True)
        if not config_path.exists():
            checkpoint.save_json(cfg.to_json(), config_path)
        for stale in [*out.glob(".*.tmp"), *(out / "checkpoints").glob(".*.tmp")]:
            stale.unlink()  # writes a killed run never finished
    distributed.barrier()
    _set_determinism(cfg)
    runlog = RunLog(out / "log.jsonl")
    log_lines, elapsed, kept = _resume_point(out)
    if distributed.is_main():
        runlog.truncate(log_lines)
    started = time.time() - elapsed  # a resumed run's wall time includes the work its checkpoint kept
    attempts = [*kept, {"from_s": round(elapsed, 1), "hardware": hardware(device)}]
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
    dense_arch = build_model(cfg.arch, splits.info.num_classes, splits.info.channels, splits.info.image_size,
                             init=False)
    dense = {**count(dense_arch, shape), "widths": widths(dense_arch), "source": outcome["dense_source"]}
    if outcome["dense_model"] is not None:
        dense["test_acc"] = evaluate(outcome["dense_model"].to(device), splits.test, cfg.eval_batch_size, device,
                                     cfg.amp)["acc"]
    counter = outcome.get("count", count)  # a method that prunes weights, not channels, counts sparse FLOPs
    pruned = {**counter(exported, shape), "widths": widths(exported),
              "test_acc": evaluate(exported, splits.test, cfg.eval_batch_size, device, cfg.amp)["acc"]}
    pruned["flops_ratio"] = pruned["flops"] / dense["flops"]
    pruned["params_ratio"] = pruned["params"] / dense["params"]
    pruned["compression_ratio"] = dense["params"] / pruned["params"]
    result = {
        "method": cfg.method, "dataset": cfg.dataset, "arch": cfg.arch, "seed": cfg.seed, "scale": cfg.scale,
        "flops_target": cfg.flops_target, "dense": dense, "pruned": pruned,
        "meets_budget": pruned["flops_ratio"] <= cfg.flops_target + 1e-9,
        "data": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "input_shape": list(shape), "num_classes": splits.info.num_classes},
        "wall_time_s": time.time() - started, "resumed": log_lines > 0, "attempts": attempts,
        "versions": versions(), "hardware": {**hardware(device), "processes": distributed.world()},
        "command": " ".join([Path(sys.executable).name, "-m", "jst", *sys.argv[1:]]) if sys.argv[0].endswith("jst/__main__.py") else None,
        "config": cfg.to_json(), "method_details": outcome["extra"],
    }
    if distributed.is_main():
        checkpoint.save_json(result, result_path)
    distributed.barrier()
    return result


# Fields that say where or how a run executes, not what it computes: they may change on resume.
RUNTIME_FIELDS = ("device", "data_root", "workers", "download")


def _identity(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in RUNTIME_FIELDS}


def _check_resumable(out: Path, cfg: Config) -> None:
    """Refuse, before any work, to resume a run folder that another config started or whose checkpoints
    are unreadable or belong to another architecture."""
    config_path = out / "config.json"
    if config_path.exists():
        saved, current = _identity(_read_json(config_path)), _identity(cfg.to_json())
        defaults = Config().to_json()
        for k in set(current) - set(saved):  # an option newer than the run: fine while at its default
            if current[k] == defaults[k]:
                del current[k]
        if saved != current:
            diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
            raise ConfigError(f"{out} holds a run started with a different config ({', '.join(diff)}); "
                              "use another --out or --force to start over")
    for path in sorted((out / "checkpoints").glob("*.pt")):
        state = checkpoint.load(path, mmap=True)
        if not isinstance(state, dict) or "log_lines" not in state:
            raise CheckpointError(f"{path}: not a jst checkpoint (missing fields)")
        if state.get("arch") != cfg.arch:
            raise CheckpointError(f"{path}: checkpoint of arch {state.get('arch')!r}, this run is {cfg.arch!r}")


def _resume_point(out: Path) -> tuple[int, float, list]:
    """Log lines covered by the newest checkpoint, the wall time spent up to it and the attempts that spent
    it ((0, 0.0, []) for a new run; a checkpoint older than attempt records gives one unrecorded attempt)."""
    states = [checkpoint.load(p, mmap=True) for p in (out / "checkpoints").glob("*.pt")]
    if not states:
        return 0, 0.0, []
    newest = max(states, key=lambda s: int(s["log_lines"]))
    attempts = newest.get("attempts", [{"from_s": 0.0, "hardware": None}])
    return int(newest["log_lines"]), float(newest.get("elapsed_s", 0.0)), list(attempts)


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
    model = build_model(cfg.arch, info.num_classes, info.channels, info.image_size, init=False)
    floor = FlopsModel(model, info.input_shape).minimum_ratio(cfg.min_channels)
    if cfg.flops_target < floor:
        raise ConfigError(f"flops target {cfg.flops_target} is below what {cfg.arch} allows "
                          f"({floor:.4f} with {cfg.min_channels} channel(s) per prunable layer)")


def versions() -> dict:
    import numpy
    import torchvision
    return {"jst": __version__, "git_commit": _git_commit(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def _git_commit() -> str | None:
    """The commit of the code that ran (with "+dirty" if it had uncommitted changes), for provenance."""
    import subprocess
    repo = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "jst"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def hardware(device: torch.device) -> dict:
    info = {"device": str(device), "platform": platform.platform(), "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _set_determinism(cfg: Config) -> None:
    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _read_json(path: Path) -> dict:
    import json
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise JstError(f"{path}: unreadable ({e})") from None


def _clear_run(out: Path) -> None:
    import shutil
    for name in ("result.json", "config.json", "log.jsonl"):
        (out / name).unlink(missing_ok=True)
    for name in ("checkpoints", "model"):
        shutil.rmtree(out / name, ignore_errors=True)
