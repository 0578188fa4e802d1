"""Kill or stop real runs at random points, resume them, and demand bit-identical outcomes.

Kill points: the n-th training batch, the n-th finished epoch, or the middle of the n-th checkpoint
write (jst.engine.faults, after the temporary file is written and before it is renamed), with n drawn at
random in each quarter of the run (coarse training, the parameter and filter-weight epochs of every search step,
fine-tuning, export); the process sends itself SIGKILL, SIGTERM or SIGINT there (a third each). Plus signals
from outside at random times: a SIGKILL, and a SIGTERM then a SIGINT once the run holds its folder. A stopped
run exits with 143 (SIGTERM) or 130 (SIGINT) and says so in one line. The outcome must equal an
uninterrupted run: the exported weights byte for byte, result.json and the log's content (timings aside).
"""
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jst.engine import lock

# 800 training images: coarse 2 epochs, T = 3 (M = 2, then 1), N = 1, fine-tune 2.
# Per run: 83 batches, 12 epochs, 17 checkpoint/record writes.
OVERRIDES = ["--set", "max_train_samples=800", "--set", "coarse_epochs=2", "--set", "search_steps=3",
             "--set", "search_epochs=[2,1]", "--set", "finetune_epochs=2"]
EVENTS = {"batch": 83, "epoch": 12, "checkpoint_write": 17}
TIMING_KEYS = {"wall_time_s", "seconds", "time", "resumed", "attempts"}  # what may differ between attempts
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # same threads for every run


def command(data_root, out):
    return [sys.executable, "-m", "jst", "run", "--dataset", "mnist", "--arch", "lenet5", "--data-root",
            str(data_root), "--scale", "smoke", "--seed", "0", "--out", str(out), *OVERRIDES]


def strip_timing(obj):
    if isinstance(obj, dict):
        return {k: strip_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [strip_timing(v) for v in obj]
    return obj


def outcome(out):
    weights = hashlib.sha256((out / "model" / "model.safetensors").read_bytes()).hexdigest()
    result = strip_timing(json.loads((out / "result.json").read_text()))
    result["command"] = result["command"].replace(str(out), "<out>")  # each trial has its own folder
    log = [strip_timing(json.loads(line)) for line in (out / "log.jsonl").read_text().splitlines()]
    return weights, result, log


def run(data_root, out, crash=None):
    env = dict(ENV, JST_CRASH_AT=crash) if crash else ENV
    return subprocess.run(command(data_root, out), env=env, capture_output=True, text=True)


def check_stopped(proc, sig):
    """A SIGKILLed run dies; a stopped one exits 128 + the signal's number with a last line that says so."""
    if sig == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL, (sig, proc.returncode, proc.stderr[-2000:])
        return
    assert proc.returncode == 128 + getattr(signal, sig), (sig, proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.strip().splitlines()[-1].startswith(f"stopped by {sig} "), proc.stderr[-2000:]


def signal_from_outside(data_root, out, sig, delay):
    """SIGKILL ``delay`` s after the start (any moment, imports included); SIGTERM / SIGINT ``delay`` s after
    the run took its folder's lock (the handlers are in place by then)."""
    proc = subprocess.Popen(command(data_root, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    if sig != "SIGKILL":
        while (lock.holder(out) or {}).get("pid") != proc.pid:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.02)
    time.sleep(delay)
    proc.send_signal(getattr(signal, sig))
    _, proc.stderr = proc.communicate()
    return proc


def trial(data_root, base, i, plan):
    out = base / f"trial{i:02d}"
    stages = []
    for crash in plan:
        if isinstance(crash, tuple):
            proc = signal_from_outside(data_root, out, *crash)
            if crash[0] != "SIGKILL":  # an outside SIGKILL may land before the run starts or after it ends
                check_stopped(proc, crash[0])
        else:
            proc = run(data_root, out, crash)
            sig = crash.split(":")[2] if crash.count(":") == 2 else "SIGKILL"
            check_stopped(proc, sig)
            if crash.startswith("checkpoint_write:"):
                check_torn_write(out, sig)
        folder = out / "checkpoints"
        stages.append(sorted(p.name for p in folder.glob("*.pt")) if folder.exists() else [])
    final = run(data_root, out)
    assert final.returncode == 0, final.stderr[-2000:]
    assert temporaries(out) == [], plan  # the resumed run removed what the cut-short write left
    return out, plan, stages


def temporaries(out):
    return list(out.glob(".*.tmp")) + list((out / "checkpoints").glob(".*.tmp"))


def check_torn_write(out, sig):
    """Killed in the middle of a write: the cut-short file never took the real name (a SIGKILL leaves it as one
    temporary; a stop's handler removes it), and every checkpoint under its real name loads."""
    from jst.engine import checkpoint
    assert len(temporaries(out)) == (1 if sig == "SIGKILL" else 0), (sig, temporaries(out))
    for path in (out / "checkpoints").glob("*.pt"):
        assert isinstance(checkpoint.load(path), dict)


def stratified(rng, n_events, k):
    """One random kill point in each of k equal stretches of the run: every part of it is hit, with few runs."""
    edges = [1 + round(i * n_events / k) for i in range(k + 1)]
    return [rng.randint(lo, max(lo, hi - 1)) for lo, hi in zip(edges, edges[1:])]


@pytest.mark.two_processes  # two killed runs at a time
def test_killed_runs_resume_bit_identically(data_root, tmp_path):
    reference = tmp_path / "reference"
    t0 = time.perf_counter()
    proc = subprocess.Popen(command(data_root, reference), env=ENV, stdout=subprocess.DEVNULL)
    while lock.holder(reference) is None and proc.poll() is None:
        time.sleep(0.02)
    live = time.perf_counter()
    assert proc.wait() == 0
    duration, work = time.perf_counter() - t0, time.perf_counter() - live  # work: after the lock is taken
    expected = outcome(reference)

    rng = random.Random(20201)
    plans = [[f"{event}:{n}"] for event, n_events in EVENTS.items() for n in stratified(rng, n_events, 4)]
    for i, plan in enumerate(plans):  # each event and each quarter meets every kind of end
        plan[0] += ":" + ("SIGKILL", "SIGTERM", "SIGINT")[i % 3]
    plans[0].append(f"batch:{rng.randint(1, 40)}")            # killed twice: crash, resume, crash again
    plans[8].append(f"checkpoint_write:{rng.randint(1, 8)}")
    plans.append([("SIGKILL", rng.uniform(0.3, 1.0) * duration)])  # SIGKILL from outside, any moment
    # stopped twice from outside: each stop early enough that the resumed run is still going for the second
    plans.append([("SIGTERM", rng.uniform(0.05, 0.4) * work), ("SIGINT", rng.uniform(0.05, 0.4) * work)])
    assert len(plans) == 14

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda a: trial(data_root, tmp_path, *a), enumerate(plans)))

    seen = set()
    for out, plan, stages in results:
        got = outcome(out)
        assert got[0] == expected[0], f"weights differ after {plan}"
        assert got[1] == expected[1], f"result.json differs after {plan}"
        assert got[2] == expected[2], f"log differs after {plan}"
        seen.update(name for names in stages for name in names)
    # the kills landed in every stage: each stage had written checkpoints when some run was killed
    assert {"coarse.pt", "search.pt", "finetune.pt"} <= seen, seen
    assert any(name.startswith("search_step") for name in seen), seen  # inside a search step


def test_a_resumed_runs_wall_time_counts_the_work_its_checkpoints_kept(data_root, tmp_path):
    from jst.engine import run_folder
    out = tmp_path / "run"
    assert run(data_root, out, "epoch:6").returncode == -signal.SIGKILL  # killed during the search
    kept = run_folder.resume_point(out)[1]   # the newest checkpoint's wall time (ties on the log: the later one)
    assert kept > 0
    assert run(data_root, out).returncode == 0
    result = json.loads((out / "result.json").read_text())
    assert result["resumed"] is True and result["wall_time_s"] > kept
    first, second = result["attempts"]  # both attempts' hardware: the killed one's work was kept
    assert first["from_s"] == 0 and second["from_s"] == pytest.approx(kept, abs=0.1)
    assert all(a["hardware"]["device"] == "cpu" and a["hardware"]["cpu_threads"] >= 1 for a in (first, second))
    fresh = tmp_path / "fresh"
    assert run(data_root, fresh).returncode == 0
    record = json.loads((fresh / "result.json").read_text())
    assert record["resumed"] is False and [a["from_s"] for a in record["attempts"]] == [0]
