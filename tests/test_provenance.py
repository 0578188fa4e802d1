"""Every record under results/ names a clean commit of this repository's history: a record whose code was
never committed is not a result. The one exception is the first grid (``grid.FIRST_GRID_ROOTS``), made before
this rule and being replaced by the protocol grid (results/grid); its folders go when their blocks land."""
import subprocess
from pathlib import Path

import pytest

from jst.experiments.grid import FIRST_GRID_ROOTS
from jst.report.records import read_records

REPO = Path(__file__).resolve().parents[1]
CHECKED = REPO / "results"
RECORDS = [r for r in read_records(CHECKED, recursive=True)
           if r.folder.relative_to(CHECKED).parts[0] not in FIRST_GRID_ROOTS]


def _full_history() -> bool:
    """A full clone (a shallow one, or an export without .git, cannot say whether an old commit is ours)."""
    p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--is-shallow-repository"], capture_output=True,
                       text=True)
    return p.returncode == 0 and p.stdout.strip() == "false"


def test_there_are_records_to_check():
    assert len(RECORDS) >= 20


@pytest.mark.parametrize("record", RECORDS, ids=[str(r.folder.relative_to(CHECKED)) for r in RECORDS])
def test_record_names_a_clean_commit_of_this_history(record):
    commit = record.git_commit
    assert commit, f"{record.folder}: no commit recorded"
    assert "dirty" not in commit, f"{record.folder}: made from uncommitted code ({commit})"
    assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit), commit
    if not _full_history():
        pytest.skip("a shallow clone: whether the commit is in this history cannot be checked")
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    assert known.returncode == 0, f"{record.folder}: commit {commit} is not in this repository's history"
