"""The one decision rule of the reproduction: when a difference between two methods counts.

Every comparison, ablation and claim of the book is judged here, so that no table can use a looser rule
than another.
"""
from __future__ import annotations

UNDECIDED = "one seed: undecided"


def verdict(gap: float, spread: float, seeds: int, ahead: str, behind: str) -> str:
    """A mean difference counts only when it exceeds the larger of the two seed standard deviations, and one
    seed (no spread) decides nothing."""
    if seeds < 2:
        return UNDECIDED
    return ahead if gap > spread else behind if gap < -spread else "within the seed spread"


def claim_verdict(verdicts: list[str], good: str) -> str:
    """A claim's verdict from its comparisons' verdicts: the undecided (one-seed) ones are left out, and the
    claim holds only where every decided one agrees."""
    if not verdicts:
        return "not run yet"
    decided = [v for v in verdicts if v != UNDECIDED]
    if not decided:
        return "undecided (one seed)"
    if all(v == good for v in decided):
        text = "confirmed at cpu scale"
    elif any(v not in (good, "within the seed spread") for v in decided):
        text = "contradicted at cpu scale"
    else:
        text = "not confirmed: within the seed spread"
    decided_share = f" ({len(decided)} of {len(verdicts)} comparisons decided)" if len(decided) < len(verdicts) else ""
    return text + decided_share
