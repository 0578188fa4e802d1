"""The comparison runner: every (method, seed, target) once, finished runs reused, a correct table."""
import csv
import json
import re
import statistics
import subprocess
import sys

import pytest

from jst.experiments.compare import compare, load_table, plan
from jst.report.records import mechanism_summary, read_record

METHODS = ["l1norm", "dense", "scratch"]


@pytest.fixture(scope="module")
def grid(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    rows = compare(METHODS, [0, 1], [0.5], dataset="mnist", arch="lenet5", data_root=data_root, scale="smoke",
                   out=out, overrides={"scratch_source": "l1norm", "dense_epochs": 1}, device="cpu")
    return out, rows


def test_plan_runs_scratch_after_its_source_and_dense_once_per_seed():
    runs = plan(["scratch", "dense", "l1norm"], [0], [0.5, 0.25], scratch_source="jst")
    assert runs == [("dense", 1.0, 0), ("l1norm", 0.5, 0), ("jst", 0.5, 0), ("scratch", 0.5, 0),
                    ("l1norm", 0.25, 0), ("jst", 0.25, 0), ("scratch", 0.25, 0)]


def test_runs_every_method_and_seed_into_its_folder(grid):
    out, rows = grid
    for name in ("l1norm-f0.5-s0", "l1norm-f0.5-s1", "dense-f1-s0", "dense-f1-s1", "scratch-f0.5-s0",
                 "scratch-f0.5-s1"):
        assert (out / name / "result.json").exists()
    scratch = json.loads((out / "scratch-f0.5-s1" / "result.json").read_text())
    assert scratch["config"]["scratch_from"] == str(out / "l1norm-f0.5-s1")
    assert [r["method"] for r in rows] == METHODS and all(r["flops_target"] == 0.5 for r in rows)


def test_table_mean_and_std_match_the_runs(grid):
    out, rows = grid
    for row in rows:
        results = [json.loads((out / name / "result.json").read_text()) for name in row["runs"]]
        assert row["n_seeds"] == len(results) == 2 and row["seeds"] == [0, 1]
        accs = [r["pruned"]["test_acc"] for r in results]
        assert row["test_acc_mean"] == pytest.approx(statistics.fmean(accs))
        assert row["test_acc_std"] == pytest.approx(statistics.stdev(accs))
        for key in ("flops_ratio", "params_ratio"):
            assert row[f"{key}_mean"] == pytest.approx(statistics.fmean(r["pruned"][key] for r in results))
        assert row["wall_time_s_mean"] == pytest.approx(statistics.fmean(r["wall_time_s"] for r in results))
    assert rows[0]["test_acc_std"] > 0      # two seeds really differ
    assert load_table(out) == rows
    with open(out / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["method"] for t in table] == METHODS
    by_method = {r["method"]: r for r in rows}
    assert by_method["dense"]["mechanism"] == "n/a"          # prunes nothing itself
    l1norm = [read_record(out / name) for name in by_method["l1norm"]["runs"]]
    assert by_method["l1norm"]["mechanism"] == mechanism_summary(l1norm)
    assert by_method["l1norm"]["mechanism"].endswith("/2")  # both seeds' mechanism sections are read
    assert [t["mechanism"] for t in table] == [r["mechanism"] for r in rows]
    assert float(table[0]["test_acc_mean"]) == pytest.approx(rows[0]["test_acc_mean"])


def test_finished_runs_are_reused_not_redone(grid, data_root):
    out, rows = grid
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/log.jsonl")}
    results = {p: p.read_text() for p in out.glob("*/result.json")}
    proc = subprocess.run([sys.executable, "-m", "jst", "compare", "--methods", ",".join(METHODS), "--seeds", "0,1",
                           "--flops-targets", "0.5", "--dataset", "mnist", "--arch", "lenet5", "--data-root",
                           str(data_root), "--scale", "smoke", "--device", "cpu", "--out", str(out),
                           "--set", "scratch_source=l1norm", "--set", "dense_epochs=1"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/log.jsonl")} == stamps      # nothing retrained
    assert {p: p.read_text() for p in out.glob("*/result.json")} == results
    assert load_table(out) == rows
    assert json.loads((out / "compare.json").read_text())["command"].startswith("python -m jst compare")


def test_every_method_is_in_the_run_help():
    help_text = subprocess.run([sys.executable, "-m", "jst", "run", "--help"], capture_output=True, text=True).stdout
    choices = re.search(r"--method \{([^}]*)\}", " ".join(help_text.split())).group(1).split(",")
    assert set(choices) == {"jst", "dense", "ista", "autoprune", "lstm", "l1norm", "slimming", "scratch"}


def test_unknown_method_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jst", "compare", "--methods", "jst,nope", "--dataset", "mnist",
                           "--arch", "lenet5", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "nope" in proc.stderr
