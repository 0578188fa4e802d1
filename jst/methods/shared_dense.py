"""One converged dense network per seed, shared (``dense_from``) by every method that prunes a trained network
(L1-norm, AutoPrune, LSTM): they differ only in how they prune it, and each carries the cost of training it
in its training budget. Network Slimming and ISTA train their sparsity from scratch, as their papers do.

``dense_from`` names a finished ``dense`` run folder; it must be of the run's dataset, architecture, seed and
data options, so that its Dval is the run's Dval and it never trained on it unless the run does too.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from jst.engine import checkpoint
from jst.engine.errors import CheckpointError, ConfigError, JstError

SHARED_BY = ("l1norm", "autoprune", "lstm")
# what the dense run must share with the run that starts from it
SAME = ("dataset", "arch", "seed", "val_fraction", "holdout_val", "max_train_samples", "image_size", "augment")


def dense_record(cfg) -> dict:
    """The dense run's record, checked against ``cfg`` (one line naming what disagrees)."""
    folder = Path(cfg.dense_from)
    try:
        record = checkpoint.load_json(folder / "result.json")
    except JstError:
        raise ConfigError(f"dense_from: {folder} is not a finished run (no readable result.json)") from None
    if record.get("method") != "dense":
        raise ConfigError(f"dense_from: {folder} is a {record.get('method')!r} run, not a dense one")
    theirs = record.get("config", {})
    differ = [k for k in SAME if theirs.get(k) != getattr(cfg, k)]
    if differ:
        raise ConfigError(f"dense_from: {folder} differs from this run in {', '.join(differ)}")
    if cfg.method not in SHARED_BY:
        raise ConfigError(f"dense_from: {cfg.method} does not start from a trained dense network "
                          f"(only {', '.join(SHARED_BY)} do)")
    if cfg.method == "lstm" and not cfg.holdout_val:
        raise ConfigError("dense_from: lstm validates its children on a split the dense network trained on; "
                          "set holdout_val=true (then lstm validates on Dval)")
    images = record.get("training", {}).get("images")
    if not isinstance(images, int):
        raise ConfigError(f"dense_from: {folder} has no measured training budget (a record from an older version)")
    return record


def load_dense(cfg, model: nn.Module) -> nn.Module:
    """Copy the dense run's exported weights into ``model`` (its gates, if any, stay as they are)."""
    from jst.nets.export import load_exported
    dense = load_exported(Path(cfg.dense_from) / "model", "cpu")
    missing, unexpected = model.load_state_dict(dense.state_dict(), strict=False)
    foreign = list(unexpected) + [k for k in missing if not k.endswith(".alpha")]
    if foreign:
        raise CheckpointError(f"dense_from: {cfg.dense_from} does not fit this network ({foreign[0]})")
    return model


def dense_images(cfg) -> int:
    """Images the shared dense run trained on (0 without one): part of the run's training budget."""
    return dense_record(cfg)["training"]["images"] if cfg.dense_from else 0
