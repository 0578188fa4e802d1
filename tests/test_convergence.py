"""The plateau rule on Dval curves, and the ``convergence`` section every run record carries (real MNIST)."""
import pytest

from jst.engine.convergence import convergence, plateau


def test_a_curve_still_rising_in_its_last_fifth_has_not_plateaued():
    rising = [0.5 + 0.01 * e for e in range(20)]              # +1 point per epoch: 4 points over the last 4
    p = plateau(rising)
    assert p["window"] == 4 and p["gain_points"] == pytest.approx(4.0) and p["plateaued"] is False


def test_a_flat_or_falling_end_has_plateaued():
    flat = [0.5, 0.8, 0.9, 0.95, 0.96, 0.962, 0.963, 0.963, 0.962, 0.964]
    assert plateau(flat)["plateaued"] is True                     # 0.964 - 0.963 = 0.1 point over 2 epochs
    assert plateau([0.9, 0.95, 0.97, 0.96, 0.95])["plateaued"] is True


def test_one_epoch_is_not_judged():
    assert plateau([0.9])["plateaued"] is None


def test_the_record_judges_the_stage_that_trained_the_handed_over_network():
    log = [{"stage": "pretrain", "epoch": e, "val_acc": 0.1 * e} for e in range(1, 6)]
    log += [{"stage": "search", "step": 1}]                       # lines without a Dval epoch are not curves
    log += [{"stage": "finetune", "epoch": e, "val_acc": 0.9} for e in range(1, 6)]
    c = convergence(log)
    assert list(c["stages"]) == ["pretrain", "finetune"] and c["final_stage"] == "finetune" and c["plateaued"]
    assert c["stages"]["pretrain"]["plateaued"] is False


@pytest.mark.parametrize("method, stages", [("dense", ["dense"]), ("jst", ["coarse", "finetune"]),
                                            ("slimming", ["sparsity", "finetune"])])
def test_every_stage_logs_dval_every_epoch(smoke_method, method, stages):
    import json
    result, out = smoke_method(method, flops_target=1.0 if method == "dense" else 0.5)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for stage in stages:
        epochs = [line for line in log if line.get("stage") == stage and "epoch" in line]
        assert epochs and all(0 <= line["val_acc"] <= 1 for line in epochs)
        assert result["convergence"]["stages"][stage]["epochs"] == len(epochs)
    assert result["convergence"]["final_stage"] == stages[-1]
