"""The two tests every comparison of methods is decided with (``jst.report.verdicts``).

- **Welch's t over seeds** (``scipy.stats.ttest_ind``, unequal variances): the seeds are the replication
  unit, so this asks whether the gap would survive new training runs. It needs two seeds a side.
- **A paired test over test images**: every run saves its per-image predictions (``predictions.safetensors``);
  per image, each method's correctness is averaged over its seeds and the two are paired. The mean
  difference gets a bootstrap 95% interval (``scipy.stats.bootstrap``) and a sign-flip permutation p-value
  (``sign_flip_p``: ``scipy.stats.permutation_test``'s paired test, computed as one matrix product per batch
  of resamples: scipy draws a permutation per image pair; on 10,000 images with 2,000 resamples, one thread,
  side by side: 3.0 s for scipy's, 0.55 s here;
  tests/test_reproduction.py checks the two agree). It asks whether the gap is more than the test set's
  sampling noise for these trained networks; it says nothing about new training runs.
"""
from __future__ import annotations

import math

import numpy as np

RESAMPLES = 2000
ALPHA = 0.05


def welch(a: list[float], b: list[float]) -> dict:
    """Mean of a - b, Welch's 95% interval and two-sided p-value (None where a side has one value, or
    neither side varies)."""
    from scipy import stats
    diff = float(np.mean(a) - np.mean(b))
    out = {"difference": diff, "n": (len(a), len(b)), "p": None, "low": None, "high": None}
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return out
    t = stats.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.95)
    return {**out, "p": float(t.pvalue), "low": float(ci.low), "high": float(ci.high)}


def paired_images(correct_a: np.ndarray, correct_b: np.ndarray, seed: int = 0) -> dict:
    """``correct_*``: (seeds, images) booleans of each method's runs on the same test images in the same
    order. The mean per-image difference of seed-averaged correctness, its bootstrap 95% interval and the
    sign-flip permutation p-value."""
    from scipy import stats
    a = np.asarray(correct_a, dtype=float).reshape(-1, np.shape(correct_a)[-1]).mean(0)
    b = np.asarray(correct_b, dtype=float).reshape(-1, np.shape(correct_b)[-1]).mean(0)
    if a.shape != b.shape:
        raise ValueError(f"the runs were tested on different test sets ({a.size} and {b.size} images)")
    d = a - b
    diff = float(d.mean())
    if not np.any(d):
        return {"difference": 0.0, "low": 0.0, "high": 0.0, "p": 1.0, "images": int(d.size)}
    rng = np.random.default_rng(seed)
    ci = stats.bootstrap((d,), np.mean, n_resamples=RESAMPLES, confidence_level=0.95, method="percentile",
                         rng=rng, batch=100).confidence_interval
    return {"difference": diff, "low": float(ci.low), "high": float(ci.high), "p": sign_flip_p(d, RESAMPLES, rng),
            "images": int(d.size)}


def sign_flip_p(d: np.ndarray, resamples: int, rng: np.random.Generator, batch: int = 200) -> float:
    """Two-sided p-value of mean(d) under the paired null (each pair's difference as likely negative as
    positive), from ``resamples`` random sign flips: as ``scipy.stats.permutation_test`` with
    ``permutation_type="samples"`` computes it (the +1 of a randomised test, twice the smaller tail)."""
    d = np.asarray(d, dtype=float)
    observed = d.mean()
    null = np.concatenate([(rng.integers(0, 2, size=(min(batch, resamples - i), d.size)) * 2 - 1) @ d / d.size
                           for i in range(0, resamples, batch)])
    eps = 1e-14 * max(1.0, abs(observed))   # scipy's tolerance for ties with the observed value
    less = (np.count_nonzero(null <= observed + eps) + 1) / (resamples + 1)
    greater = (np.count_nonzero(null >= observed - eps) + 1) / (resamples + 1)
    return float(min(1.0, 2 * min(less, greater)))


def significant(p: float | None) -> bool:
    return p is not None and not math.isnan(p) and p < ALPHA


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None stays None): a family of k comparisons
    each at p < 0.05 would call about 0.05 k of them by chance; the adjusted ones keep the whole family's
    chance of any false call under 0.05."""
    ranked = sorted((p, i) for i, p in enumerate(pvalues) if p is not None and not math.isnan(p))
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - rank) * p))
        out[i] = running
    return out
