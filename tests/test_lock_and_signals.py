"""One writer per run folder, and clean stops, on real smoke runs (MNIST, LeNet-5).

A run that is reliably live is one paused by the fault hook (``JST_CRASH_AT=epoch:1:pause``: it sleeps
right after its first epoch's checkpoint, holding its folder). Against it: a second CLI run, a notebook's
``Run.ensure`` and a second comparison are refused in one line naming its PID and nothing in the folder
changes; a lock left by a SIGKILLed process is taken over; SIGTERM / SIGINT stop it with 143 / 130 and one
line, the last checkpoint kept and the run resumable.
"""
import json
import os
import signal
import subprocess
import sys

import pytest
from cli_helpers import snapshot

from jst.engine import lock
from jst.engine.errors import FolderInUse

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PAUSE = "epoch:1:pause"  # after coarse training's one epoch (smoke scale): coarse.pt is written


def run_args(data_root, out, *extra):
    return ["run", "--dataset", "mnist", "--arch", "lenet5", "--data-root", str(data_root), "--scale", "smoke",
            "--out", str(out), *extra]


def compare_args(data_root, out):
    return ["compare", "--methods", "jst", "--dataset", "mnist", "--arch", "lenet5", "--data-root", str(data_root),
            "--scale", "smoke", "--out", str(out)]


def jst(args, crash=None):
    env = dict(ENV, JST_CRASH_AT=crash) if crash else ENV
    return subprocess.run([sys.executable, "-m", "jst", *args], env=env, capture_output=True, text=True)


def start_paused(args, crash=PAUSE):
    """A ``python -m jst`` process paused at ``crash``, holding its folder."""
    proc = subprocess.Popen([sys.executable, "-m", "jst", *args], env=dict(ENV, JST_CRASH_AT=crash),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("jst.faults: paused at"):
            return proc
    raise AssertionError(f"exited with {proc.wait()} before pausing: {''.join(seen)[-2000:]}")


def stop(proc, sig=signal.SIGTERM):
    """Signal a paused process; its exit status and the rest of its stderr."""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def refused(proc, pid, out):
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert f"{out} is in use by process {pid} (" in err and " -m jst " in err, err  # its PID and command


@pytest.fixture(scope="module")
def live(data_root, tmp_path_factory):
    """A run paused after its first checkpoint: (process, run folder). Tests only look at it."""
    out = tmp_path_factory.mktemp("live") / "run"
    proc = start_paused(run_args(data_root, out))
    yield proc, out
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_a_second_run_on_a_live_folder_is_refused(live, data_root):
    proc, out = live
    before = snapshot(out)
    assert lock.holder(out)["pid"] == proc.pid
    for extra in ([], ["--force", "--seed", "1"]):  # the same command, and one that would start over
        refused(jst(run_args(data_root, out, *extra)), proc.pid, out)
        assert snapshot(out) == before
    assert proc.poll() is None  # the live run goes on


def test_a_notebook_is_refused_by_a_live_cli_run(live, data_root):
    from jst.book.run import open_run
    proc, out = live
    before = snapshot(out)
    run = open_run("mnist", str(data_root), "lenet5", "smoke", 0.5, 0, "cpu", str(out))
    with pytest.raises(FolderInUse, match=f"is in use by process {proc.pid} "):
        run.ensure("coarse")
    assert snapshot(out) == before


def test_the_grid_refuses_a_block_another_process_writes(tmp_path, data_root, capsys):
    from jst.experiments import grid
    block = grid.Block("mnist-lenet5", "mnist", "lenet5", methods=("dense",), seeds=(0,), scale="smoke")
    folder = block.folder(tmp_path)
    with lock.hold(folder):
        before = snapshot(folder)
        code = grid.main(["--results-root", str(tmp_path), "--data-root", str(data_root)], blocks=[block])
        assert snapshot(folder) == before
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"in use by process {os.getpid()}" in err, err
    assert not folder.exists()  # the lock made the folder for itself and took it away


def test_the_lock_itself(tmp_path):
    folder = tmp_path / "new" / "run"
    with lock.hold(folder):
        assert lock.holder(folder)["pid"] == os.getpid()
        with pytest.raises(FolderInUse, match=f"{folder} is in use by process {os.getpid()} "), lock.hold(folder):
            pass  # a second hold in the same process is refused: flock belongs to the open file
        with pytest.raises(FolderInUse):
            lock.ensure_free(folder)
    assert not (tmp_path / "new").exists()  # made for the lock, empty again: removed
    folder.mkdir(parents=True)
    (folder / ".lock").write_text("not json")  # a lock file no live process holds
    lock.ensure_free(folder)
    with lock.hold(folder):
        assert lock.holder(folder)["pid"] == os.getpid()
    assert folder.is_dir() and not list(folder.iterdir())


def test_a_lock_left_by_a_killed_process_is_taken_over(data_root, tmp_path):
    out = tmp_path / "run"
    proc = start_paused(run_args(data_root, out))
    code, _ = stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert lock.holder(out)["pid"] == proc.pid  # the file stays; the kernel dropped the flock
    again = jst(run_args(data_root, out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "result.json").exists() and not (out / ".lock").exists()


def test_two_compares_on_one_folder(data_root, tmp_path):
    out = tmp_path / "compare"
    first = start_paused(compare_args(data_root, out))
    try:
        before = snapshot(out)
        refused(jst(compare_args(data_root, out)), first.pid, out)
        assert snapshot(out) == before
    finally:
        code, err = stop(first)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == (f"stopped by SIGTERM after coarse in {out / 'jst-f0.5-s0'}; the last "
                                            "checkpoint is kept: run the same command to resume")
    assert not (out / ".lock").exists() and not (out / "jst-f0.5-s0" / ".lock").exists()


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stop_keeps_the_last_checkpoint_and_the_run_resumes(data_root, tmp_path, sig, status):
    out = tmp_path / "run"
    proc = start_paused(run_args(data_root, out), "epoch:2:pause")  # inside the first search step
    kept = snapshot(out / "checkpoints")
    code, err = stop(proc, sig)
    assert code == status, err
    assert err.strip().splitlines()[-1] == (f"stopped by {sig.name} after search_step1_params; the last "
                                            "checkpoint is kept: run the same command to resume")
    assert snapshot(out / "checkpoints") == kept
    assert not (out / ".lock").exists()
    again = jst(run_args(data_root, out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "result.json").read_text())["resumed"] is True


@pytest.mark.parametrize("crash,status,line", [
    ("checkpoint_write:3:SIGTERM", 143,
     "stopped by SIGTERM after coarse; the last checkpoint is kept: run the same command to resume"),
    ("batch:1:SIGINT", 130, "stopped by SIGINT before the first checkpoint: run the same command to start again"),
], ids=["mid-write", "before-any-checkpoint"])
def test_a_stop_anywhere_says_what_is_kept(data_root, tmp_path, crash, status, line):
    out = tmp_path / "run"
    proc = jst(run_args(data_root, out), crash)
    assert proc.returncode == status and proc.stderr.strip().splitlines()[-1] == line, proc.stderr[-2000:]
    # the write the stop cut short was removed, not left as a temporary file; what was written is whole
    assert not list(out.rglob("*.tmp")) and not (out / ".lock").exists()
    from jst.engine import checkpoint
    for path in (out / "checkpoints").glob("*.pt"):
        assert isinstance(checkpoint.load(path), dict)
