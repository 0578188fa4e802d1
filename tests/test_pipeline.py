"""The whole pipeline through the CLI, at smoke scale on real MNIST."""
import json
import subprocess
import sys

import pytest

from jst.engine import data
from jst.engine.train import evaluate
from jst.nets.export import load_exported


def jst(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "jst", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def common(data_root, out, *extra):
    return ["--dataset", "mnist", "--arch", "lenet5", "--data-root", data_root, "--scale", "smoke",
            "--flops-target", "0.5", "--seed", "0", "--out", out, *extra]


@pytest.fixture(scope="module")
def smoke_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mnist-lenet5"
    jst("run", "--method", "jst", *common(data_root, out))
    return out


def test_result_json_reports_dense_and_pruned_networks(smoke_run):
    r = json.loads((smoke_run / "result.json").read_text())
    for key in ("method", "dataset", "arch", "seed", "scale", "wall_time_s", "versions"):
        assert key in r
    for block in ("dense", "pruned"):
        assert {"flops", "params", "test_acc", "widths"} <= set(r[block])
    assert r["dense"]["flops"] == 833_040
    assert r["pruned"]["flops"] <= 0.5 * r["dense"]["flops"] and r["meets_budget"]
    assert set(r["pruned"]["widths"]) == {"conv1", "conv2", "fc1", "fc2"}
    assert r["versions"]["torch"].startswith("2.14.1")
    assert len(r["method_details"]["candidates"]) == r["config"]["search_steps"]
    log = [json.loads(line) for line in (smoke_run / "log.jsonl").read_text().splitlines()]
    assert {rec["stage"] for rec in log} == {"coarse", "search", "finetune"}


def test_exported_model_reproduces_the_reported_test_accuracy(smoke_run):
    r = json.loads((smoke_run / "result.json").read_text())
    model = load_exported(smoke_run / "model")
    splits = data.load("mnist", r["config"]["data_root"], seed=r["seed"],
                       max_train_samples=r["config"]["max_train_samples"],
                       max_test_samples=r["config"]["max_test_samples"])
    acc = evaluate(model, splits.test, 256, "cpu")["acc"]
    assert acc == r["pruned"]["test_acc"]
    assert r["pruned"]["test_acc"] > 0.5  # far above chance even at smoke scale


def test_finished_run_is_reused_not_redone(smoke_run, data_root):
    before = (smoke_run / "result.json").read_text()
    jst("run", "--method", "jst", *common(data_root, smoke_run))
    assert (smoke_run / "result.json").read_text() == before


def test_stage_commands_resume_into_the_whole_pipeline(data_root, tmp_path):
    out = tmp_path / "staged"
    first = json.loads(jst("coarse", *common(data_root, out)).stdout)
    assert first["stopped_after"] == "coarse" and first["checkpoints"] == ["coarse.pt"]
    jst("run", *common(data_root, out))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [rec["stage"] for rec in log].count("coarse") == 1  # coarse training was not repeated
    assert json.loads((out / "result.json").read_text())["meets_budget"]


def test_a_different_config_is_refused(data_root, tmp_path):
    out = tmp_path / "r"
    jst("coarse", *common(data_root, out))
    proc = jst("run", *common(data_root, out, "--set", "coarse_lr=0.05"), check=False)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and "coarse_lr" in proc.stderr


def test_dense_method_runs(data_root, tmp_path):
    jst("run", "--method", "dense", *common(data_root, tmp_path / "d"))
    r = json.loads((tmp_path / "d" / "result.json").read_text())
    assert r["pruned"]["flops"] == r["dense"]["flops"] and r["dense"]["test_acc"] == r["pruned"]["test_acc"]


def test_speed_options_run_on_cpu(data_root, tmp_path):
    """bf16 autocast, channels_last and gradient accumulation go through the whole pipeline."""
    out = tmp_path / "fast"
    jst("run", *common(data_root, out, "--set", "amp=bf16", "--set", "channels_last=true", "--set", "grad_accum=2"))
    r = json.loads((out / "result.json").read_text())
    assert r["meets_budget"] and r["config"]["amp"] == "bf16" and r["pruned"]["test_acc"] > 0.3
