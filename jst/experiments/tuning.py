"""Fair tuning: every method's key hyper-parameter chosen on Dval, with the same number of trials for every
method, before a block's grid runs.

Each trial is one run of the block's protocol (Dval held out, the shared dense network, the equal training
budget) at seed 0 and the block's first FLOPs target, under ``<block>/tuning/``. A method's chosen trial is
the one whose final network is most accurate on Dval among the trials that met the FLOPs budget (+-2%) and
whose own mechanism did the pruning; ties go to the earlier trial (the first one is the preset's value).
The choice is written to ``<block>/tuning.json``; the grid then runs each method with its chosen values, and
reuses the chosen trial as its seed-0 run (the same configuration: ``run_folder.check_resumable`` checks).
The test set plays no part: its accuracy of a trial is never read here.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from jst.engine import checkpoint
from jst.engine.errors import JstError

TUNING = "tuning.json"

# Three trials per method, each over the method's own key hyper-parameter; the preset's value first.
# L1-norm's one choice in the paper (per-layer ratios from a sensitivity analysis) is fixed to a uniform
# fraction by the reconstruction, so its trials are over its fine-tuning learning rate.
TRIALS: dict[str, list[dict]] = {
    "jst": [{"filter_lambda": v} for v in (0.1, 0.01, 0.0)],
    "l1norm": [{"finetune_lr": v} for v in (0.01, 0.005, 0.02)],
    "slimming": [{"slimming_shrinkage": v} for v in (2.0, 1.0, 4.0)],
    "ista": [{"ista_shrinkage": v} for v in (20.0, 10.0, 40.0)],
    "autoprune": [{"autoprune_mu": v} for v in (0.05, 0.02, 0.1)],
    "lstm": [{"lstm_prune_rate": v} for v in (0.2, 0.1, 0.3)],
}
UNTUNED = ("dense", "scratch")   # the references: dense is the converged schedule; Scratch-B copies JST's network


def trial_name(method: str, k: int) -> str:
    return f"{method}-trial{k}"


def dval_of(result: dict) -> float | None:
    """Dval accuracy of the network a run handed over: the last epoch of its final training stage."""
    c = result.get("convergence") or {}
    stage = (c.get("stages") or {}).get(c.get("final_stage"))
    return None if stage is None else stage.get("final_val_acc")


def eligible(result: dict) -> bool:
    """A trial may be chosen when it met its FLOPs budget and its mechanism acted (or it prunes nothing)."""
    mechanism = result.get("mechanism") or {}
    return bool(result.get("budget", {}).get("within_tolerance", True)) and mechanism.get("acted") is not False


def choose(trials: list[dict]) -> int | None:
    """Index of the chosen trial (``trials``: records in trial order); None when none is eligible."""
    scored = [(dval_of(r), -k) for k, r in enumerate(trials) if eligible(r) and dval_of(r) is not None]
    return -max(scored)[1] if scored else None


def job(block, folder: Path, method: str, target: float, seed: int, data_root: Path, device: str,
        extra: dict | None = None, out: Path | None = None):
    """One run of the block's protocol (``extra``: a trial's values), into ``out`` (default: the grid's folder
    for it), as a ``jst.experiments.workers.Job``."""
    from jst.experiments.compare import config_for, run_name, sources
    from jst.experiments.workers import Job
    cfg = config_for(method, target, seed, dataset=block.dataset, arch=block.arch, data_root=data_root,
                     scale=block.scale, out=folder, overrides=dict(block.overrides), method_overrides={},
                     device=device, extra=extra)
    out = out or folder / run_name(method, target, seed)
    return Job(out.name, cfg, out, sources(method, target, seed, dict(block.overrides)))


def tune(block, results_root, data_root: Path, device: str, jobs: int = 1) -> dict:
    """Run every method's trials of ``block`` not yet finished (``jobs`` at once), choose, and write
    ``tuning.json``."""
    from jst.experiments.workers import run_all
    from jst.report.records import RECORD
    folder = block.folder(results_root)
    target, seed = block.flops_targets[0], 0
    work = [job(block, folder, "dense", 1.0, seed, data_root, device)] if "dense" in block.methods \
        or block.share_dense else []
    trials = {m: [(folder / "tuning" / trial_name(m, k), trial) for k, trial in enumerate(TRIALS[m])]
              for m in block.methods if m in TRIALS}
    work += [job(block, folder, m, target, seed, data_root, device, extra=trial, out=out)
             for m, runs in trials.items() for out, trial in runs]
    failures = run_all(work, jobs)
    if failures:
        raise JstError("some tuning runs failed:\n  " + "\n  ".join(failures))
    chosen: dict[str, dict] = {}
    for method, runs in trials.items():
        records = [(checkpoint.load_json(out / RECORD), out, trial) for out, trial in runs]
        best = choose([r for r, _, _ in records])
        note = None
        if best is None:   # the grid keeps the preset's value; its runs' records will say the mechanism failed
            best, note = 0, "no trial met its budget with its own mechanism acting: the preset's value is kept"
        chosen[method] = {"values": records[best][2], "trial": records[best][1].name, "note": note,
                          "trials": [{"values": t, "run": o.name, "dval_acc": dval_of(r), "eligible": eligible(r)}
                                     for r, o, t in records]}
    summary = {"rule": "highest Dval accuracy of the final network among the trials within the FLOPs budget "
                       "whose mechanism acted; ties to the earlier trial",
               "seed": seed, "flops_target": target, "trials_per_method": len(next(iter(TRIALS.values()))),
               "methods": chosen}
    checkpoint.save_json(summary, folder / TUNING)
    return summary


def chosen_values(folder: Path) -> dict[str, dict]:
    """The tuned values per method of a block folder ({} before tuning)."""
    path = Path(folder) / TUNING
    if not path.exists():
        return {}
    return {m: c["values"] for m, c in checkpoint.load_json(path)["methods"].items()}


def reuse_chosen_trials(folder: Path, run_name) -> None:
    """Copy each method's chosen trial into the grid as its seed-0 run (the same configuration), unless the
    grid has it already."""
    path = Path(folder) / TUNING
    if not path.exists():
        return
    summary = checkpoint.load_json(path)
    for method, c in summary["methods"].items():
        dest = Path(folder) / run_name(method, summary["flops_target"], summary["seed"])
        source = Path(folder) / "tuning" / c["trial"]
        if not dest.exists() and (source / "result.json").exists():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".lock"))
