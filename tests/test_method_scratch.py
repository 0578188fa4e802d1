"""Scratch-B (Liu et al. 2019): another run's architecture, re-initialised, trained for the dense compute."""
import pytest
import torch
from safetensors.torch import load_file

from jst.config import make_config
from jst.engine.errors import ConfigError
from jst.engine.pipeline import run


@pytest.fixture(scope="module")
def source_and_scratch(smoke_method):
    source, source_dir = smoke_method("l1norm", flops_target=0.5)
    r, out = smoke_method("scratch", flops_target=0.5, scratch_from=str(source_dir))
    return source, source_dir, r, out


def test_trains_the_source_architecture_for_the_dense_compute(source_and_scratch, exported_accuracy):
    source, source_dir, r, out = source_and_scratch
    d = r["method_details"]
    assert r["pruned"]["widths"] == source["pruned"]["widths"] and r["meets_budget"]
    assert r["pruned"]["flops"] == source["pruned"]["flops"]
    factor = r["dense"]["flops"] / r["pruned"]["flops"]
    assert d["epoch_factor"] == pytest.approx(factor) and d["epochs"] == round(r["config"]["dense_epochs"] * factor)
    log = [line for line in (out / "log.jsonl").read_text().splitlines() if '"scratch"' in line]
    assert len(log) == d["epochs"]
    mine = load_file(str(out / "model/model.safetensors"))
    theirs = load_file(str(source_dir / "model/model.safetensors"))
    assert not torch.equal(mine["conv2.weight"], theirs["conv2.weight"])   # re-initialised, not copied
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"] > 0.5


def test_epoch_cap(source_and_scratch, smoke_method):
    _, source_dir, _, _ = source_and_scratch
    r, _ = smoke_method("scratch", flops_target=0.5, scratch_from=str(source_dir), scratch_epoch_cap=1.0,
                        dense_epochs=1)
    assert r["method_details"]["epochs"] == 1 and r["method_details"]["epoch_factor"] == 1.0


def test_needs_a_finished_source_run(data_root, tmp_path):
    for source in ("", str(tmp_path / "nothing")):
        cfg = make_config("smoke", "lenet5", method="scratch", dataset="mnist", data_root=str(data_root),
                          device="cpu", scratch_from=source)
        with pytest.raises(ConfigError, match="scratch_from"):
            run(cfg, tmp_path / "out")
