"""The grid's protocol, checked on a record: what a run must show before it may be compared (#23).

- made from a committed, clean tree (``versions.git_commit`` without ``+dirty``);
- its FLOPs within +-2% of its target (``budget.within_tolerance``; dense and Scratch-B: n/a);
- the stage that trained the network it hands over plateaued on Dval (``RunRecord.convergence``: today's
  rule on its logged curve);
- its own mechanism did the pruning (``mechanism.acted``; an ablation: its switch held);
- its training budget measured, and its per-image test predictions saved.
``problems`` lists what a record lacks; an empty list means it may be compared.
"""
from __future__ import annotations

from jst.report.records import RunRecord

REFERENCES = ("dense", "scratch")   # not pruning methods: no FLOPs target or mechanism of their own


def problems(record: RunRecord) -> list[str]:
    raw, found = record.raw, []
    commit = record.git_commit or ""
    if len(commit) != 40 or "dirty" in commit:
        found.append(f"not from a clean commit ({commit or 'none recorded'})")
    if record.method not in REFERENCES and not (raw.get("budget") or {}).get("within_tolerance"):
        found.append(f"FLOPs {record.pruned.flops_ratio:.3f} not within 2% of its target {record.flops_target:g}")
    convergence = record.convergence
    if convergence.get("plateaued") is not True:
        stage = convergence.get("final_stage")
        gain = ((convergence.get("stages") or {}).get(stage) or {}).get("gain_points")
        found.append(f"{stage or 'no stage'} did not plateau on Dval"
                     + (f" (gained {gain:.2f} points over its last 20%)" if gain is not None else ""))
    acted = (record.mechanism or {}).get("acted")
    if record.method not in REFERENCES and acted is not True:
        found.append(f"its mechanism did not act ({(record.mechanism or {}).get('reason', 'no mechanism section')})")
    training = raw.get("training") or {}
    if not isinstance(training.get("total_images"), int):
        found.append("no measured training budget")
    if not raw.get("predictions") or not (record.folder / raw["predictions"]).is_file():
        found.append("no per-image test predictions")
    if not (raw.get("data") or {}).get("val_held_out"):
        found.append("Dval was not held out from training")
    return found
