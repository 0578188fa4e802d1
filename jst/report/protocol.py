"""The grid's protocol, checked on a record: what a run must show before it may be compared (#23).

- made from a committed, clean tree (``versions.git_commit`` without ``+dirty``);
- its FLOPs within +-2% of its target (``budget.within_tolerance``; dense and Scratch-B: n/a);
- the stage that trained the network it hands over plateaued on Dval (``RunRecord.convergence``: today's
  rule on its logged curve);
- its own mechanism did the pruning (``mechanism.acted``; an ablation: its switch held);
- its training budget measured, and its per-image test predictions saved.
``problems`` lists what a record lacks; an empty list means it may be compared. Two of them are the method's own
outcome, not a fault of the set-up (``shortfalls``: the FLOPs budget missed, the mechanism not acting): such a
run is committed and shown, but not counted as the method (``counted``); the rest (``setup_problems``) must
never reach a committed record.
"""
from __future__ import annotations

from jst.report.records import RunRecord

REFERENCES = ("dense", "scratch")   # not pruning methods: no FLOPs target or mechanism of their own


def problems(record: RunRecord) -> list[str]:
    return setup_problems(record) + shortfalls(record)


def counted(record: RunRecord) -> bool:
    """Whether a run counts as its method in a comparison: it meets the whole protocol."""
    return not problems(record)


def shortfalls(record: RunRecord) -> list[str]:
    """What the method itself did not achieve in this run: its FLOPs target, or pruning by its own mechanism."""
    found = []
    if record.method in REFERENCES:
        return found
    if not (record.raw.get("budget") or {}).get("within_tolerance"):
        found.append(f"FLOPs {record.pruned.flops_ratio:.3f} not within 2% of its target {record.flops_target:g}")
    mechanism = record.mechanism or {}
    if mechanism.get("acted") is not True:
        found.append(f"its mechanism did not act ({mechanism.get('reason', 'no mechanism section')})")
    return found


def setup_problems(record: RunRecord) -> list[str]:
    """What the run lacks through the set-up, not the method: provenance, convergence, bookkeeping."""
    raw, found = record.raw, []
    commit = record.git_commit or ""
    if len(commit) != 40 or "dirty" in commit:
        found.append(f"not from a clean commit ({commit or 'none recorded'})")
    convergence = record.convergence
    if convergence.get("plateaued") is not True:
        stage = convergence.get("final_stage")
        gain = ((convergence.get("stages") or {}).get(stage) or {}).get("gain_points")
        found.append(f"{stage or 'no stage'} did not plateau on Dval"
                     + (f" (gained {gain:.2f} points over its last 20%)" if gain is not None else ""))
    training = raw.get("training") or {}
    if not isinstance(training.get("total_images"), int):
        found.append("no measured training budget")
    if not raw.get("predictions") or not (record.folder / raw["predictions"]).is_file():
        found.append("no per-image test predictions")
    if not (raw.get("data") or {}).get("val_held_out"):
        found.append("Dval was not held out from training")
    return found
