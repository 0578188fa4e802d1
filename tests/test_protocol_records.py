"""Every committed record of the protocol grid (results/grid) may be compared: clean commit, FLOPs within
+-2%, plateaued on Dval, its own mechanism acting, budget measured, predictions saved, Dval held out; and the
runs of one block had the same training budget. The rule itself is tested on made-up records."""
import json
import shutil
from pathlib import Path

import pytest

from jst.report.protocol import problems
from jst.report.records import read_record, read_records

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "results" / "grid"
RECORDS = read_records(GRID, recursive=True) if GRID.is_dir() else []
# a block's tuning trials may fail the protocol (a trial whose mechanism did not act is simply not chosen);
# the runs the grid compares may not
COMPARED = [r for r in RECORDS if "tuning" not in r.folder.relative_to(GRID).parts]


@pytest.mark.parametrize("record", COMPARED, ids=[str(r.folder.relative_to(GRID)) for r in COMPARED])
def test_a_protocol_record_may_be_compared(record):
    assert problems(record) == []


def test_the_runs_of_a_block_had_the_same_budget():
    blocks = {}
    for r in RECORDS:
        if r.method not in ("dense", "scratch") and "tuning" not in r.folder.parts:
            blocks.setdefault(r.folder.parent, []).append(r.raw["training"]["epochs_equivalent"])
    for folder, budgets in blocks.items():
        assert max(budgets) - min(budgets) <= 1.0 + 1e-9, folder


def test_the_rule_names_what_a_record_lacks(smoke_method, tmp_path):
    result, out = smoke_method("l1norm", holdout_val=True)
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints"))
    raw = json.loads((copy / "result.json").read_text())
    raw["versions"]["git_commit"] = "0" * 40
    raw["convergence"]["plateaued"] = True
    (copy / "result.json").write_text(json.dumps(raw))
    assert problems(read_record(copy)) == []                       # a good record has nothing to say
    raw["versions"]["git_commit"] = "0" * 40 + "+dirty"
    raw["budget"]["within_tolerance"] = False
    raw["convergence"]["plateaued"] = False
    raw["mechanism"]["acted"] = False
    raw["data"]["val_held_out"] = False
    (copy / "result.json").write_text(json.dumps(raw))
    (copy / "predictions.safetensors").unlink()
    found = " | ".join(problems(read_record(copy)))
    for words in ("clean commit", "not within 2%", "did not plateau", "mechanism did not act",
                  "no per-image test predictions", "not held out"):
        assert words in found
