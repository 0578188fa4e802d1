"""The committed run records are what their exported networks do: each reloads and reproduces the test
accuracy its result.json reports, on the same test set, and meets its FLOPs budget."""
import json
from pathlib import Path

import pytest

from jst import data
from jst.export import load_exported
from jst.flops import count, count_sparse
from jst.train import evaluate

RUNS = sorted(p.parent for p in (Path(__file__).resolve().parents[1] / "results").rglob("result.json")
              if (p.parent / "model" / "model.json").exists())


def test_there_are_committed_runs():
    assert len(RUNS) >= 4


@pytest.mark.parametrize("run", RUNS, ids=["/".join(r.parts[-2:]) for r in RUNS])
def test_committed_model_reproduces_its_result(run, data_root):
    r = json.loads((run / "result.json").read_text())
    cfg = r["config"]
    root = data_root / Path(cfg["data_root"]).name if cfg["dataset"] == "imagefolder" else data_root
    splits = data.load(cfg["dataset"], root, seed=cfg["seed"], max_test_samples=cfg["max_test_samples"],
                       image_size=cfg["image_size"], workers=0)
    model = load_exported(run / "model")
    assert evaluate(model, splits.test, 500, "cpu")["acc"] == r["pruned"]["test_acc"]
    counter = count_sparse if r["pruned"].get("counting", "").startswith("sparse") else count  # weight pruning
    assert counter(model, tuple(r["data"]["input_shape"]))["flops"] == r["pruned"]["flops"]
    if r["method"] != "dense":  # the dense reference keeps every FLOP by definition
        assert r["meets_budget"] and r["pruned"]["flops_ratio"] <= r["flops_target"] + 1e-9
