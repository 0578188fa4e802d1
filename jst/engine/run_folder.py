"""What a run folder holds and when it may be resumed: ``config.json`` (the configuration the run started
with), ``checkpoints/`` (one per stage), ``log.jsonl``, ``model/`` and, last, ``result.json``.

A folder is resumed only by the configuration that started it (where and how it runs aside), from
checkpoints that are jst's own and of the same architecture; the newest checkpoint says how far the
log and the wall time had got.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from jst.config import Config
from jst.engine import checkpoint
from jst.engine.errors import CheckpointError, ConfigError

# Fields that say where or how a run executes, not what it computes: they may change on resume.
RUNTIME_FIELDS = ("device", "data_root", "workers", "download")


def identity(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in RUNTIME_FIELDS}


def check_resumable(out: Path, cfg: Config) -> None:
    """Refuse, before any work, to resume a run folder that another config started or whose checkpoints
    are unreadable or belong to another architecture."""
    config_path = out / "config.json"
    if config_path.exists():
        # through Config: retired fields drop, options newer than the run take their defaults
        saved = identity(Config.from_json(checkpoint.load_json(config_path)).to_json())
        current = identity(cfg.to_json())
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


def resume_point(out: Path) -> tuple[int, float, list, int | None]:
    """Log lines covered by the newest checkpoint, the wall time spent up to it, the attempts that spent
    it and the images trained on up to it ((0, 0.0, [], 0) for a new run; a checkpoint older than attempt
    records gives one unrecorded attempt, one older than the image count gives None: unknown)."""
    states = [checkpoint.load(p, mmap=True) for p in (out / "checkpoints").glob("*.pt")]
    if not states:
        return 0, 0.0, [], 0
    # Checkpoints of stages that log nothing (a search step's epochs) share a log length: the images trained
    # on, which only grow, and then the time spent tell which one came last.
    newest = max(states, key=lambda s: (int(s["log_lines"]), s.get("images_trained") or 0, s.get("elapsed_s", 0.0)))
    attempts = newest.get("attempts", [{"from_s": 0.0, "hardware": None}])
    images = newest.get("images_trained")
    return int(newest["log_lines"]), float(newest.get("elapsed_s", 0.0)), list(attempts), images


def clear(out: Path) -> None:
    for name in ("result.json", "config.json", "log.jsonl", "forked_from.json"):
        (out / name).unlink(missing_ok=True)
    for name in ("checkpoints", "model"):
        shutil.rmtree(out / name, ignore_errors=True)
