"""The benchmark scripts run (as dry runs: --quick, tiny sizes) and write the JSON the Performance
chapter reads (jst.report.performance); the figures themselves are measured by `python -m benchmarks.run_all`,
never in a test."""
import json
import subprocess
import sys

import pytest

from jst.report import performance


def bench(name, out, *args):
    subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--out", str(out), "--quick", *args], check=True)
    return json.loads((out / f"{name}.json").read_text())


def test_overhead_records_every_variant_and_its_goal(tmp_path):
    record = bench("overhead", tmp_path)
    assert record["quick"] and record["note"].startswith("dry run")
    frame = performance.overhead(record)
    assert set(frame["variant"]) == {"jst", "jst_prepared", "bare"} and (frame["median"] > 0).all()
    assert record["goals"][0]["threshold"] == 0.97


def test_speedup_times_pruned_networks_against_dense(tmp_path):
    record = bench("speedup", tmp_path, "--options", "eager", "fuse_bn")
    frame = performance.speedup(record)
    assert set(frame["option"]) == {"eager", "fuse_bn"}
    assert (frame["FLOPs ratio"] > 1.5).all()  # a 50% budget roughly halves the counted FLOPs
    assert not record["archs"]["resnet20"]["failures"]


def test_gpu_benchmark_says_when_nothing_was_measured(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark measures instead")
    record = bench("gpu", tmp_path)
    assert record["measured"] is False and "no CUDA device" in record["reason"]
    assert record["schedule_images"]["train"] > 0


def test_missing_record_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="no benchmark record"):
        performance.load(tmp_path)
