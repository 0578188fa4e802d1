"""Every committed record of the protocol grid (results/grid) is from a clean commit, plateaued on Dval, with its
budget measured, predictions saved and Dval held out; a run whose method missed its FLOPs (+-2%) or whose own
mechanism did not act is shown but not counted as the method; the runs of one block had the same training
budget. The rule itself is tested on made-up records."""
import json
import shutil
from pathlib import Path

import pytest

from jst.report.protocol import counted, problems, setup_problems, shortfalls
from jst.report.protocol_summary import block_rows
from jst.report.records import read_record, read_records

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "results" / "grid"
RECORDS = read_records(GRID, recursive=True) if GRID.is_dir() else []
# a block's tuning trials may fail the protocol (a trial whose mechanism did not act is simply not chosen);
# the runs the grid compares may not
COMPARED = [r for r in RECORDS if "tuning" not in r.folder.relative_to(GRID).parts]


@pytest.mark.parametrize("record", COMPARED, ids=[str(r.folder.relative_to(GRID)) for r in COMPARED])
def test_a_protocol_record_has_no_fault_of_the_set_up(record):
    """Provenance, convergence and bookkeeping are ours to get right: no committed record may lack them. What
    the method itself fell short of (its FLOPs target, its mechanism acting) is its result: shown, not counted."""
    assert setup_problems(record) == []


@pytest.mark.parametrize("folder", sorted(p.parent for p in GRID.glob("*/compare.json")), ids=lambda p: p.name)
def test_a_block_counts_only_the_runs_that_meet_the_protocol(folder):
    rows, _ = block_rows(folder)
    assert rows
    for row in rows:
        assert all(counted(read_record(folder / name)) for name in row["runs"])
        assert all(shortfalls(read_record(folder / name)) for name in row["not_counted"])
        assert row["n_seeds"] == len(row["runs"])


def test_the_runs_of_a_block_had_the_same_budget():
    blocks = {}
    for r in RECORDS:
        if r.method not in ("dense", "scratch") and "tuning" not in r.folder.parts:
            blocks.setdefault(r.folder.parent, []).append(r.raw["training"]["epochs_equivalent"])
    for folder, budgets in blocks.items():
        assert max(budgets) - min(budgets) <= 1.0 + 1e-9, folder


def set_final_curve(run, stage, acc, epochs=10):
    """Replace the Dval curve of ``stage`` in the run's log by ``epochs`` epochs, epoch e at ``acc(e)``."""
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    lines = [line for line in lines if not (line.get("stage") == stage and "val_acc" in line)]
    lines += [{"stage": stage, "epoch": e, "val_acc": acc(e)} for e in range(1, epochs + 1)]
    (run / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_rule_names_what_a_record_lacks(smoke_method, tmp_path):
    result, out = smoke_method("l1norm", holdout_val=True)
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints"))
    raw = json.loads((copy / "result.json").read_text())
    raw["versions"]["git_commit"] = "0" * 40
    final = raw["convergence"]["final_stage"]
    set_final_curve(copy, final, lambda e: 0.9)                    # flat: plateaued by the rule, judged on the log
    (copy / "result.json").write_text(json.dumps(raw))
    assert problems(read_record(copy)) == []                       # a good record has nothing to say
    raw["versions"]["git_commit"] = "0" * 40 + "+dirty"
    raw["budget"]["within_tolerance"] = False
    set_final_curve(copy, final, lambda e: 0.5 + 0.05 * e)         # still rising by 5 points an epoch
    raw["mechanism"]["acted"] = False
    raw["data"]["val_held_out"] = False
    (copy / "result.json").write_text(json.dumps(raw))
    (copy / "predictions.safetensors").unlink()
    found = " | ".join(problems(read_record(copy)))
    for words in ("clean commit", "not within 2%", "did not plateau", "mechanism did not act",
                  "no per-image test predictions", "not held out"):
        assert words in found
