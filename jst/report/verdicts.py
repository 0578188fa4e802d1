"""The one decision rule of the reproduction: when a difference between two methods counts.

Every comparison, ablation and claim of the book is judged here, so that no table can use a looser rule
than another. Method A is **ahead** of B when Welch's t over seeds gives p < 0.05 *and* the paired test
over test images (where both sides saved their predictions) agrees in direction with p < 0.05
(``jst.report.significance``); **behind** the other way round; otherwise the two are **not
distinguishable at this sample size**. One seed a side decides nothing.
"""
from __future__ import annotations

import numpy as np

from jst.report.significance import paired_images, significant, welch

AHEAD, BEHIND = "ahead", "behind"
NOT_DISTINGUISHABLE = "not distinguishable at this sample size"
UNDECIDED = "one seed: undecided"


def decide(a: list[float], b: list[float], correct_a: np.ndarray | None = None,
           correct_b: np.ndarray | None = None) -> dict:
    """A against B from their per-seed accuracies (fractions) and, when both are given, their per-image
    correctness (seeds x images): both tests, in points, and the verdict word."""
    w = welch(a, b)
    images = paired_images(correct_a, correct_b) if correct_a is not None and correct_b is not None else None
    if min(len(a), len(b)) < 2:
        word = UNDECIDED
    else:
        direction = np.sign(w["difference"])
        agree = images is None or (significant(images["p"]) and np.sign(images["difference"]) == direction)
        word = (AHEAD if direction > 0 else BEHIND) if significant(w["p"]) and agree else NOT_DISTINGUISHABLE
    points = lambda v: None if v is None else 100 * v  # noqa: E731
    out = {"difference (points)": points(w["difference"]), "welch p": w["p"],
           "welch 95% interval (points)": None if w["low"] is None else (points(w["low"]), points(w["high"])),
           "images p": None, "images 95% interval (points)": None, "verdict": word}
    if images is not None:
        out.update({"images p": images["p"],
                    "images 95% interval (points)": (points(images["low"]), points(images["high"]))})
    return out


def interval_text(d: dict) -> str:
    """One line for a table cell: the difference, both intervals and p-values."""
    text = f"{d['difference (points)']:+.2f} points"
    if d["welch p"] is not None:
        lo, hi = d["welch 95% interval (points)"]
        text += f"; seeds: 95% interval {lo:+.2f} to {hi:+.2f}, Welch p = {d['welch p']:.2g}"
    if d["images p"] is not None:
        lo, hi = d["images 95% interval (points)"]
        text += f"; test images: {lo:+.2f} to {hi:+.2f}, p = {d['images p']:.2g}"
    return text


def claim_verdict(verdicts: list[str], good: str) -> str:
    """A claim's verdict from its comparisons' verdict words (``good``: the word that supports it): the
    undecided (one-seed) ones are left out; the claim is confirmed where every decided comparison supports
    it, contradicted where one goes the other way, else not distinguishable."""
    if not verdicts:
        return "not run yet"
    decided = [v for v in verdicts if v != UNDECIDED]
    if not decided:
        return "undecided (one seed)"
    if all(v == good for v in decided):
        text = "confirmed at cpu scale"
    elif any(v not in (good, NOT_DISTINGUISHABLE) for v in decided):
        text = "contradicted at cpu scale"
    else:
        text = f"{NOT_DISTINGUISHABLE}"
    decided_share = f" ({len(decided)} of {len(verdicts)} comparisons decided)" if len(decided) < len(verdicts) else ""
    return text + decided_share
