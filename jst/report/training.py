"""How the grid's runs were trained: the schedules the presets set, the learning-rate probe that chose
the VGG-16 block's rate, the schedule probes that look for the cheapest dense schedule that plateaus, and the
fine-tuning probes that size a block's budget."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.config import make_config
from jst.engine.runlog import RunLog
from jst.report.records import read_records


def schedules(scale: str = "cpu") -> pd.DataFrame:
    """The schedule of each model family at ``scale`` (jst.config presets): what the budget bought."""
    rows = []
    for family, arch in (("small (LeNets)", "lenet5"), ("cifar (ResNets, VGG)", "resnet20"), ("imagenet", "resnet18")):
        c = make_config(scale, arch)
        switch = f"{c.search_epochs[0]} / {c.search_epochs[1]} (switch at {c.search_switch})"
        rows.append({"family": family, "training images (cap)": c.max_train_samples or "all",
                     "coarse epochs": c.coarse_epochs, "search steps T": c.search_steps,
                     "M_t (before / after switch)": switch,
                     "filter epochs N": c.filter_epochs, "fine-tune epochs": c.finetune_epochs,
                     "dense epochs": c.dense_epochs, "batch": c.batch_size})
    return pd.DataFrame(rows)


def lr_probe(folder: str | Path) -> pd.DataFrame:
    """The learning-rate probe: each run's first training stage from scratch (``dense``, or JST's
    ``coarse``) at its ``coarse_lr``, epoch 1's loss and the last epoch's training accuracy. Training data
    only: the choice of rate looks at nothing else. A run *learns* when its last epoch's training accuracy
    is above twice chance."""
    rows = []
    for r in read_records(folder):
        cfg = r.config
        stage = "dense" if cfg["method"] == "dense" else "coarse"
        epochs = [e for e in RunLog(r.folder / "log.jsonl").read() if e.get("stage") == stage]
        rows.append({"run": r.name, "method": cfg["method"], "lr": cfg["coarse_lr"],
                     "stage": stage, "epochs": len(epochs), "epoch-1 train loss": epochs[0]["train_loss"],
                     "last train acc (%)": 100 * epochs[-1]["train_acc"],
                     "learns": epochs[-1]["train_acc"] > 2 / r.data["num_classes"]})
    return pd.DataFrame(rows).sort_values(["method", "lr"], ascending=[True, False], ignore_index=True)


def schedule_probe(folder: str | Path) -> pd.DataFrame:
    """The schedule probes (#23: the cheapest schedule per benchmark whose dense network plateaus on Dval) under
    ``folder`` (one benchmark's folder, or the root of several): each dense run's benchmark and recipe, the
    minutes it took, and its Dval curve judged by ``jst.engine.convergence``. Dval only: the test accuracy is
    not read, as the schedule is chosen here."""
    rows = []
    for r in read_records(folder, recursive=True):
        cfg, stage = r.config, r.convergence["stages"]["dense"]
        rows.append({"benchmark": r.folder.parent.name, "run": r.name, "epochs": cfg["dense_epochs"],
                     "batch": cfg["batch_size"], "lr": cfg["coarse_lr"],
                     "warm-up epochs": cfg.get("warmup_epochs", 0), "label smoothing": cfg.get("label_smoothing", 0.0),
                     "training images": r.data["train"], "wall minutes": r.wall_time_s / 60,
                     "Dval gain, last 20% (points)": stage["gain_points"], "± (s.e.)": stage["gain_se_points"],
                     "plateaued": stage["plateaued"], "final Dval acc (%)": 100 * stage["final_val_acc"]})
    return pd.DataFrame(rows).sort_values(["benchmark", "epochs", "batch", "run"], ignore_index=True)


def finetune_probe(folder: str | Path) -> pd.DataFrame:
    """The fine-tuning probes (``results/finetune_probe``): one run at several training budgets, each judged by
    the plateau rule on its final stage's Dval curve, so that a block's budget leaves fine-tuning enough epochs
    to be judged. Dval only, as for the schedule probes."""
    rows = []
    for r in read_records(folder, recursive=True):
        c = r.convergence
        stage = c["stages"][c["final_stage"]]
        rows.append({"benchmark": r.folder.parent.name, "run": r.name, "method": r.method,
                     "budget (epochs)": r.config["budget_epochs"], "fine-tuning epochs": stage["epochs"],
                     "Dval gain, last 20% (points)": stage["gain_points"], "± (s.e.)": stage["gain_se_points"],
                     "plateaued": stage["plateaued"], "final Dval acc (%)": 100 * stage["final_val_acc"],
                     "started from": (r.raw.get("forked_from") or {}).get("run", "-")})
    return pd.DataFrame(rows).sort_values(["benchmark", "budget (epochs)"], ignore_index=True)
