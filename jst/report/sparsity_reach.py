"""How far Network Slimming's L1 penalty could move a BN scale: a bound from the recorded schedule.

Each step of the sparsity stage moves a scale by at most lr * lambda (momentum 0.9 can multiply that by up
to 10). Scales start at 1: a reach far below that means the global threshold ranks channels by how the loss
moved their scales, not by a sparsity the penalty induced.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.config import make_config
from jst.engine.runlog import RunLog
from jst.engine.train import lr_at
from jst.report.comparisons import finished_comparisons
from jst.report.records import read_records


def reach(lam: float, steps: int, lrs: list[float], optimizer: str, momentum: float) -> dict:
    """lambda times the learning rates summed over the stage's steps (``lrs``: one per epoch); SGD only, the
    bound does not hold for another optimizer (NaN)."""
    plain = lam * steps * sum(lrs) if optimizer == "sgd" else float("nan")
    return {"lambda": lam, "sparsity epochs": len(lrs), "steps per epoch": steps, "L1 reach": plain,
            "with momentum (at most)": plain / (1 - momentum)}


def sparsity_reach(blocks, results_root: str | Path) -> pd.DataFrame:
    """The reach of every slimming run of the finished comparisons; the last row is the same sum for the
    ``paper`` preset on the full CIFAR-10 (50,000 images), a schedule we did not run. The lambda is the one
    the run used (``l1_lambda``: scaled to the run's length since issue 22), else the config's."""
    rows = []
    for b in finished_comparisons(blocks, results_root):
        for r in read_records(b.folder(results_root), "slimming-f*-s*"):
            cfg = r.config
            lrs = [e["lr"] for e in RunLog(r.folder / "log.jsonl").read() if e.get("stage") == "sparsity"]
            steps = (r.data["train"] + r.data["val"]) // cfg["batch_size"]     # the stage drops the last batch
            dense, kept = r.dense.widths, r.pruned.widths
            rows.append({"comparison": b.name, "run": r.name,
                         **reach(r.method_details.get("l1_lambda", cfg["slimming_lambda"]), steps, lrs,
                                 cfg["optimizer"], cfg["momentum"]),
                         "threshold": r.method_details.get("threshold"),
                         "narrowest layer kept": min(kept[n] / dense[n] for n in kept),
                         "test acc (%)": 100 * r.pruned.test_acc})
    c = make_config("paper", "resnet20")
    steps = 50_000 // c.batch_size
    lrs = [lr_at("cosine", c.coarse_lr, e, c.coarse_epochs) for e in range(c.coarse_epochs)]
    rows.append({"comparison": "paper preset, full CIFAR-10 (not run)", "run": "-",
                 **reach(c.slimming_lambda, steps, lrs, c.optimizer, c.momentum)})
    return pd.DataFrame(rows)
