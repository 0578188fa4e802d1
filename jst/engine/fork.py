"""Start a run from another run's first, target-free stage (JST's coarse training, Network Slimming's sparsity
training), when nothing that stage reads differs.

Neither stage depends on the FLOPs target, nor on what comes after it (JST's search, the channel selection,
fine-tuning). A grid that runs a method at several targets, or JST ablations that change only the search, would
otherwise train the same network once per run: 60 of the main block's 100 epochs-equivalent. A fork copies the
source run's finished stage checkpoint and the log lines it covers into the new run's folder, which then resumes
from it as from its own checkpoint (resuming is bit-identical: tests/test_resume.py). The outcome is the run's
own, byte for byte (tests/test_fork.py runs both ways); its record names the source (``forked_from``), and its
training budget and wall time count the stage as the run's, as if it had trained it.

A fork is an optimisation, never a requirement: a source that is not finished, or that differs in a field the
stage reads, is not used, and the run trains its own.
"""
from __future__ import annotations

from pathlib import Path

from jst.config import Config
from jst.engine import checkpoint
from jst.engine.run_folder import identity

STAGES = {"jst": "coarse", "slimming": "sparsity"}   # each method's stage that a fork takes from its source
# Config fields read only after that stage (the FLOPs target, the search's policy and draws, selection,
# fine-tuning): a source may differ in these. Not the search's length or filter epochs: with joint filter
# training they set the filter weights' learning rate during coarse training too (jst.core.search.filter_rate).
AFTER_STAGE = frozenset({
    "flops_target", "search_switch", "search_epochs", "search_lr", "filter_score", "thresholds", "threshold_mode",
    "fixed_threshold", "policy_lr", "baseline_momentum", "policy_baseline", "control_draws",
    "recalibration_batches", "selection", "projection_both_ways", "gamma", "perturbation", "min_channels",
    "layer_floor", "channel_multiple", "budget_projection", "use_updater", "finetune_epochs", "finetune_lr",
    "finetune_batch_size", "finetune_schedule", "finetune_step", "budget_epochs",
    # compare's options for other methods, which JST never reads (an ablation block does not share dense runs)
    "share_dense", "scratch_source"})


def differences(source_config: dict, cfg: Config) -> list[str]:
    """The fields the forked stage reads in which the source's config differs from ``cfg``."""
    theirs = identity(Config.from_json(source_config).to_json())
    ours = identity(cfg.to_json())
    return sorted(k for k in set(theirs) | set(ours) if k not in AFTER_STAGE and theirs.get(k) != ours.get(k))


def why_not(source: Path, cfg: Config) -> str | None:
    """Why ``source`` cannot give ``cfg``'s run its first stage, in a few words (None: it can)."""
    stage = STAGES.get(cfg.method)
    if stage is None or (cfg.method == "jst" and not cfg.coarse_training):
        return f"{cfg.method} without a target-free first stage"
    if not (source / "result.json").is_file() or not (source / "checkpoints" / f"{stage}.pt").is_file():
        return f"{source} is not a finished run with its {stage} checkpoint"
    differ = differences(checkpoint.load_json(source / "config.json"), cfg)
    return f"its {stage} training differs in {', '.join(differ)}" if differ else None


def usable(source: Path, cfg: Config) -> bool:
    """A finished run of the same method with its stage's checkpoint, and that stage the same as ``cfg``'s."""
    return why_not(source, cfg) is None


def seed_from(source: Path, out: Path, stage: str) -> None:
    """Copy the source's stage checkpoint and the log lines it covers into ``out`` (a run not yet begun): the
    marker and the log first, the checkpoint last and atomically, so a fork cut short is no fork (the next start
    finds no checkpoint and forks again, or trains its own and drops the marker: ``start``)."""
    state = checkpoint.load(source / "checkpoints" / f"{stage}.pt", mmap=True)
    lines = (source / "log.jsonl").read_text().splitlines(keepends=True)[:int(state["log_lines"])]
    checkpoint.save_json({"run": str(source), "stage": stage}, out / FORKED)
    (out / "log.jsonl").write_text("".join(lines))
    data = (source / "checkpoints" / f"{stage}.pt").read_bytes()
    checkpoint.write_bytes(out / "checkpoints" / f"{stage}.pt", data)


def start(out: Path, cfg: Config, source: Path | None) -> None:
    """Before a run begins in ``out``: fork from ``source`` when it is usable and the run has no checkpoint
    of its own yet; a run that trains its own keeps no marker of an earlier attempt's fork."""
    if any((out / "checkpoints").glob("*.pt")):
        return
    if source is not None and usable(Path(source), cfg):
        seed_from(Path(source), out, STAGES[cfg.method])
    else:
        (out / FORKED).unlink(missing_ok=True)


def forked_from(out: Path) -> dict | None:
    """The record's ``forked_from``: the source run and stage, or None for a run that trained its own."""
    return checkpoint.load_json(out / FORKED) if (out / FORKED).is_file() else None


FORKED = "forked_from.json"   # in the run folder: the source of a forked run
