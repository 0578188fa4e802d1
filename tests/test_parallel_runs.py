"""``--jobs``: a grid's runs side by side, each in its own process, on real MNIST. The records must equal those
of the same runs made one after another, a run must wait for the run it starts from, a failed source stops
its dependants (and nothing else), and a SIGTERM stops every running run with its checkpoints kept."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from jst.config import make_config
from jst.engine import lock
from jst.engine.errors import JstError
from jst.experiments.compare import compare
from jst.experiments.workers import Job, jobs_argument, run_all

pytestmark = pytest.mark.two_processes   # two training processes at once

METHODS, SEEDS = ["dense", "l1norm"], [0, 1]          # l1norm starts from its seed's dense run
SETS = {"share_dense": True, "holdout_val": True, "max_train_samples": 600, "dense_epochs": 2}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # same threads for every run


def fingerprint(out):
    """Per run: the exported weights' hash, test accuracy, FLOPs kept and where the run started from."""
    found = {}
    for result in sorted(out.glob("*/result.json")):
        r = json.loads(result.read_text())
        weights = hashlib.sha256((result.parent / "model" / "model.safetensors").read_bytes()).hexdigest()
        found[result.parent.name] = (weights, r["pruned"]["test_acc"], r["pruned"]["flops_ratio"],
                                     r["config"].get("dense_from", "").replace(str(out), "<out>"))
    return found


def command(data_root, out, jobs):
    sets = [a for k, v in SETS.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    return [sys.executable, "-m", "jst", "compare", "--methods", ",".join(METHODS), "--seeds", "0,1",
            "--dataset", "mnist", "--arch", "lenet5", "--data-root", str(data_root), "--scale", "smoke",
            "--out", str(out), "--jobs", str(jobs), *sets]


def test_two_at_once_equal_one_after_another_and_a_stop_keeps_the_checkpoints(data_root, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        compare(METHODS, SEEDS, [0.5], dataset="mnist", arch="lenet5", data_root=data_root, scale="smoke",
                out=tmp_path / "in_order", overrides=SETS, device="cpu")
    finally:
        torch.set_num_threads(threads)
    expected = fingerprint(tmp_path / "in_order")
    assert len(expected) == 4 and all(v[3] == "<out>/dense-f1-s" + k[-1] for k, v in expected.items()
                                      if k.startswith("l1norm"))

    out = tmp_path / "parallel"
    proc = subprocess.Popen(command(data_root, out, 2), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    while not list(out.glob("dense-f1-s*/checkpoints/*.pt")):   # a run is under way: stop the whole grid
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert list(out.glob("*/checkpoints/*.pt"))                                     # kept,
    assert all(lock.holder(folder) is None for folder in [out, *out.glob("*-s*")])   # and let go

    again = subprocess.run(command(data_root, out, 2), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert fingerprint(out) == expected
    assert json.loads((out / "table.json").read_text()) and (out / "table.csv").is_file()


def test_a_failed_source_stops_its_dependants_only(data_root, tmp_path):
    def cfg(method, **values):
        return make_config("smoke", "lenet5", method=method, dataset="mnist", data_root=str(data_root),
                           flops_target=0.5, seed=0, device="cpu", max_train_samples=300, **values)
    missing = tmp_path / "no-such-dense-run"
    jobs = [Job("l1norm-a", cfg("l1norm", dense_from=str(missing)), tmp_path / "a"),   # refused: no dense run
            Job("scratch-b", cfg("scratch", scratch_from=str(tmp_path / "a")), tmp_path / "b", needs=("l1norm-a",)),
            Job("dense-c", cfg("dense", dense_epochs=1), tmp_path / "c")]
    failures = run_all(jobs, 2)
    assert len(failures) == 2 and failures[0].startswith("l1norm-a: ") and str(missing) in failures[0]
    assert failures[1] == "scratch-b: not started, its source l1norm-a failed"
    assert not (tmp_path / "b").exists() and (tmp_path / "c" / "result.json").is_file()


def test_jobs_is_a_whole_number_of_at_least_one():
    assert jobs_argument("3") == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(Exception, match="at least 1"):
            jobs_argument(bad)


def test_a_plan_that_waits_on_nothing_is_refused(data_root, tmp_path):
    cfg = make_config("smoke", "lenet5", method="dense", dataset="mnist", data_root=str(data_root), device="cpu")
    with pytest.raises(JstError, match="waits for runs that never finish"):
        run_all([Job("b", cfg, tmp_path / "b", needs=("a",)), Job("a", cfg, tmp_path / "a", needs=("b",))], 2)
