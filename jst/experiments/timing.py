"""Timing done right, in one place: warm-up, many repeats, variants interleaved, median and spread.

Used by the benchmarks (``benchmarks/``) and by the reproduction's latency column (``jst.experiments.latency``).
Ratios are measured side by side: ``interleaved`` alternates the variants repeat by repeat (flipping the
order every repeat), so a change of machine load hits all of them alike.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable


def summary(values: list[float]) -> dict:
    """Median and spread (interquartile range, min, max) of raw measurements."""
    values = sorted(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"n": len(values), "median": statistics.median(values), "q1": q1, "q3": q3, "iqr": q3 - q1,
            "min": values[0], "max": values[-1]}


def timed(fn: Callable[[], object], sync: Callable[[], None] | None = None) -> float:
    """Seconds one call of ``fn`` takes (``sync`` waits for an accelerator before reading the clock)."""
    if sync:
        sync()
    t0 = time.perf_counter()
    fn()
    if sync:
        sync()
    return time.perf_counter() - t0


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                sync: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Seconds per call of every variant, alternating A, B, A, B, ... (the order flips every repeat so
    neither variant always runs first); ``warmup`` untimed rounds first."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(timed(variants[name], sync))
    return times
