"""The training recipe's two measured knobs (#23: the cheapest schedule that plateaus): a linear learning-rate
warm-up before the stages that train from scratch, and label smoothing of the cross-entropy."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from jst.config import make_config
from jst.engine.errors import ConfigError
from jst.engine.pipeline import run
from jst.engine.train import lr_at, train_epoch


def test_without_warmup_the_schedules_are_unchanged():
    for epoch in range(10):
        assert lr_at("cosine", 0.1, epoch, 10) == pytest.approx(0.05 * (1 + math.cos(math.pi * epoch / 10)))
        assert lr_at("step", 0.1, epoch, 10, step=4) == pytest.approx(0.1 * 0.1 ** (epoch // 4))


def test_warmup_rises_linearly_then_the_schedule_runs_over_the_epochs_left():
    lrs = [lr_at("cosine", 0.1, e, 10, warmup=3) for e in range(10)]
    assert lrs[:3] == pytest.approx([0.025, 0.05, 0.075])
    assert lrs[3:] == pytest.approx([lr_at("cosine", 0.1, e, 7) for e in range(7)])
    assert max(lrs) == lrs[3] == pytest.approx(0.1)


@pytest.mark.parametrize("field, value", [("warmup_epochs", -1), ("label_smoothing", 1.0), ("label_smoothing", -0.1)])
def test_bad_recipe_values_are_refused(field, value, data_root):
    with pytest.raises(ConfigError, match=field):
        make_config("smoke", "lenet5", dataset="mnist", data_root=str(data_root), **{field: value}).validate()


class _Batches:
    """One fixed batch of random inputs as a training source: the loss alone is under test here."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def batches(self, batch_size, train, generator, device):
        yield self.x, self.y


def test_label_smoothing_trains_on_the_smoothed_cross_entropy():
    torch.manual_seed(0)
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    losses = {}
    for smoothing in (0.0, 0.2):
        torch.manual_seed(1)
        model = torch.nn.Linear(8, 4)
        with torch.no_grad():
            expected = F.cross_entropy(model(x), y, label_smoothing=smoothing).item()
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        stats = train_epoch(model, _Batches(x, y), opt, batch_size=32, generator=torch.Generator(), device="cpu",
                            label_smoothing=smoothing)
        assert stats["loss"] == pytest.approx(expected, rel=1e-5)
        losses[smoothing] = stats["loss"]
    assert losses[0.2] != pytest.approx(losses[0.0])


def test_a_dense_run_logs_the_warmup_and_records_the_recipe(data_root, tmp_path):
    cfg = make_config("smoke", "lenet5", method="dense", dataset="mnist", data_root=str(data_root), flops_target=1.0,
                      seed=0, device="cpu", dense_epochs=4, warmup_epochs=2, label_smoothing=0.1, coarse_lr=0.03)
    result = run(cfg, tmp_path / "dense")
    lines = [json.loads(s) for s in (tmp_path / "dense" / "log.jsonl").read_text().splitlines()]
    lrs = [line["lr"] for line in lines if line.get("stage") == "dense"]
    assert lrs == pytest.approx([0.01, 0.02, 0.03, 0.015])
    assert result["config"]["warmup_epochs"] == 2 and result["config"]["label_smoothing"] == 0.1
