"""One run of one method: validate, load data, run the method, export, report the test set once.

The run folder holds ``config.json`` (what the run was started with), ``checkpoints/`` (one per stage,
resumed from automatically), ``log.jsonl`` (one line per epoch and search step), ``model/`` (the export)
and, last, ``result.json``.
"""
from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__, checkpoint, data
from .config import Config
from .errors import ConfigError, JstError
from .export import load_exported, save_exported
from .flops import FlopsModel, count
from .models import build_model
from .prunable import widths
from .runlog import RunLog
from .train import evaluate


class StopAfterStage(Exception):
    pass


@dataclass
class RunContext:
    cfg: Config
    splits: data.Splits
    device: torch.device
    run_dir: Path
    runlog: RunLog
    until: str | None = None   # stop after this stage ("coarse", "search"); None runs everything

    def stop_after(self, stage: str) -> None:
        if self.until == stage:
            raise StopAfterStage(stage)

    def checkpoint_path(self, stage: str) -> Path:
        return self.run_dir / "checkpoints" / f"{stage}.pt"

    def log(self, record: dict) -> None:
        self.runlog.write(record)


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
    from .methods import METHODS
    from .models import ARCHS
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {', '.join(METHODS)}")
    if cfg.dataset not in data.DATASETS:
        raise ConfigError(f"unknown dataset {cfg.dataset!r}; choose from {', '.join(data.DATASETS)}")
    if cfg.arch not in ARCHS:
        raise ConfigError(f"unknown arch {cfg.arch!r}; choose from {', '.join(ARCHS)}")
    if not 0 < cfg.flops_target <= 1:
        raise ConfigError(f"flops target must be in (0, 1], got {cfg.flops_target}")
    if not all(0 < t <= 1 for t in (*cfg.thresholds, cfg.fixed_threshold)):
        raise ConfigError("thresholds must lie in (0, 1]")
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
        raise ConfigError("val_fraction must be in (0, 1)")
    if cfg.data_root is None:
        raise ConfigError("no data root: pass --data-root or set JST_DATA_ROOT")


def run(cfg: Config, out: str | Path, *, force: bool = False, until: str | None = None) -> dict:
    """Run (or resume) ``cfg`` in folder ``out``; returns result.json's content."""
    from .methods import METHODS
    if cfg.data_root is None:
        cfg.data_root = data.default_data_root()
    validate(cfg)
    device = resolve_device(cfg.device)
    out = Path(out)
    result_path = out / "result.json"
    if result_path.exists() and not force:
        return _read_json(result_path)
    config_path = out / "config.json"
    if config_path.exists() and not force:
        saved = _read_json(config_path)
        if saved != cfg.to_json():
            diff = sorted(k for k in set(saved) | set(cfg.to_json()) if saved.get(k) != cfg.to_json().get(k))
            raise ConfigError(f"{out} holds a run started with a different config ({', '.join(diff)}); "
                              "use another --out or --force to start over")
    splits = data.load(cfg.dataset, cfg.data_root, seed=cfg.seed, val_fraction=cfg.val_fraction,
                       max_train_samples=cfg.max_train_samples, max_test_samples=cfg.max_test_samples,
                       augment=cfg.augment, image_size=cfg.image_size, download=cfg.download,
                       workers=cfg.workers)
    check_budget(cfg, splits.info)
    if force and out.exists():
        _clear_run(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.save_json(cfg.to_json(), config_path)
    _set_determinism(cfg)

    ctx = RunContext(cfg, splits, device, out, RunLog(out / "log.jsonl"), until)
    started = time.time()
    try:
        outcome = METHODS[cfg.method](ctx)
    except StopAfterStage as stop:
        return {"run_dir": str(out), "stopped_after": str(stop), "checkpoints": sorted(
            p.name for p in (out / "checkpoints").glob("*.pt"))}
    model = outcome["model"].eval()
    save_exported(model.cpu(), out / "model", arch=cfg.arch, info=splits.info)
    exported = load_exported(out / "model", device)

    # The test set, once, at the end: the exported network and the dense reference.
    shape = splits.info.input_shape
    dense_arch = build_model(cfg.arch, splits.info.num_classes, splits.info.channels, splits.info.image_size,
                             init=False)
    dense = {**count(dense_arch, shape), "widths": widths(dense_arch), "source": outcome["dense_source"]}
    if outcome["dense_model"] is not None:
        dense["test_acc"] = evaluate(outcome["dense_model"].to(device), splits.test, cfg.eval_batch_size, device)["acc"]
    counter = outcome.get("count", count)  # a method that prunes weights, not channels, counts sparse FLOPs
    pruned = {**counter(exported, shape), "widths": widths(exported),
              "test_acc": evaluate(exported, splits.test, cfg.eval_batch_size, device)["acc"]}
    pruned["flops_ratio"] = pruned["flops"] / dense["flops"]
    pruned["params_ratio"] = pruned["params"] / dense["params"]
    pruned["compression_ratio"] = dense["params"] / pruned["params"]
    result = {
        "method": cfg.method, "dataset": cfg.dataset, "arch": cfg.arch, "seed": cfg.seed, "scale": cfg.scale,
        "flops_target": cfg.flops_target, "dense": dense, "pruned": pruned,
        "meets_budget": pruned["flops_ratio"] <= cfg.flops_target + 1e-9,
        "data": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "input_shape": list(shape), "num_classes": splits.info.num_classes},
        "wall_time_s": time.time() - started,
        "versions": versions(), "hardware": hardware(device),
        "command": " ".join([Path(sys.executable).name, "-m", "jst", *sys.argv[1:]]) if sys.argv[0].endswith("jst/__main__.py") else None,
        "config": cfg.to_json(), "method_details": outcome["extra"],
    }
    checkpoint.save_json(result, result_path)
    return result


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
    return {"jst": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


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
