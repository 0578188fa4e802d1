"""Has a training stage plateaued? Judged on its Dval curve (``val_acc``, logged every epoch by
``jst.engine.train.fit``), never on the test set.

The rule (the grid's protocol): a stage has plateaued when its Dval accuracy gains less than
``PLATEAU_POINTS`` percentage points over the last ``PLATEAU_SHARE`` of its epochs. The gain is the
least-squares slope through the window's epochs and the one before it, times the window's length: on a small
Dval (the CIFAR-10 sample's 1,017 images: one epoch's accuracy is +-1.5 points) the two end points alone
would judge the noise, while a line through every epoch of the window averages it. With a window of two
epochs (a 10-epoch stage) the line's gain is exactly the end-point gain. Its standard error (from the
residuals) is reported beside it. A stage of one epoch has no window and is not judged.
"""
from __future__ import annotations

import math

PLATEAU_SHARE = 0.2     # the last 20% of a stage's epochs
PLATEAU_POINTS = 0.5    # gain (percentage points of Dval accuracy) under which the curve is flat
RULE = (f"Dval gain < {PLATEAU_POINTS} points over the last {PLATEAU_SHARE:.0%} of the epochs "
        "(least-squares line through the window and the epoch before it)")


def line_gain(values: list[float]) -> tuple[float, float | None]:
    """The gain from first to last point of the least-squares line through ``values`` (one per epoch), and
    its standard error (None with fewer than three points: no residual left to estimate it)."""
    n = len(values)
    x_mean, y_mean = (n - 1) / 2, sum(values) / n
    sxx = sum((x - x_mean) ** 2 for x in range(n))
    slope = sum((x - x_mean) * (y - y_mean) for x, y in enumerate(values)) / sxx
    if n < 3:
        return slope * (n - 1), None
    residual = sum((y - (y_mean + slope * (x - x_mean))) ** 2 for x, y in enumerate(values))
    return slope * (n - 1), math.sqrt(residual / (n - 2) / sxx) * (n - 1)


def plateau(val_acc: list[float], share: float = PLATEAU_SHARE, points: float = PLATEAU_POINTS) -> dict:
    """The window's gain in points (least squares, with its standard error and the plain end-point gain) and
    whether it is under ``points`` (``plateaued`` None: too short to judge)."""
    n = len(val_acc)
    window = max(1, math.ceil(share * n))
    if n <= window:
        return {"epochs": n, "window": window, "gain_points": None, "plateaued": None,
                "final_val_acc": val_acc[-1] if val_acc else None}
    gain, se = line_gain([100 * v for v in val_acc[-1 - window:]])
    return {"epochs": n, "window": window, "gain_points": gain, "gain_se_points": se,
            "endpoint_gain_points": 100 * (val_acc[-1] - val_acc[-1 - window]), "plateaued": gain < points,
            "best_val_acc": max(val_acc), "final_val_acc": val_acc[-1]}


def stages(log: list[dict]) -> dict[str, dict]:
    """``plateau`` of every stage of a run's log whose epochs carry a Dval accuracy, in the order they ran."""
    curves: dict[str, list[float]] = {}
    for line in log:
        if "epoch" in line and "val_acc" in line and isinstance(line.get("stage"), str):
            curves.setdefault(line["stage"], []).append(float(line["val_acc"]))
    return {stage: plateau(values) for stage, values in curves.items()}


def convergence(log: list[dict], final_stage: str | None = None) -> dict:
    """The record's ``convergence`` section: every stage's plateau, and the one that trained the network the
    run hands over (``final_stage``, default the last stage logged)."""
    per_stage = stages(log)
    final = final_stage if final_stage in per_stage else (list(per_stage)[-1] if per_stage else None)
    return {"rule": RULE,
            "stages": per_stage, "final_stage": final,
            "plateaued": per_stage[final]["plateaued"] if final else None}
