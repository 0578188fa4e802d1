"""The plateau rule on Dval curves, and the ``convergence`` section every run record carries (real MNIST)."""
import pytest

from jst.engine.convergence import convergence, line_gain, plateau


def test_a_curve_still_rising_in_its_last_fifth_has_not_plateaued():
    rising = [0.5 + 0.01 * e for e in range(20)]              # +1 point per epoch: 4 points over the last 4
    p = plateau(rising)
    assert p["window"] == 4 and p["gain_points"] == pytest.approx(4.0) and p["plateaued"] is False


def test_a_flat_or_falling_end_has_plateaued():
    flat = [0.5, 0.8, 0.9, 0.95, 0.96, 0.962, 0.963, 0.963, 0.962, 0.964]
    assert plateau(flat)["plateaued"] is True                     # 0.964 - 0.963 = 0.1 point over 2 epochs
    assert plateau([0.9, 0.95, 0.97, 0.96, 0.95])["plateaued"] is True


def test_the_gain_is_the_least_squares_lines_so_one_noisy_epoch_does_not_decide():
    assert line_gain([1.0, 2.0, 4.0])[0] == pytest.approx(3.0)    # three points: the line's gain is end - start
    short = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.96, 0.97, 0.975, 0.98]
    assert plateau(short)["gain_points"] == pytest.approx(plateau(short)["endpoint_gain_points"])
    # flat around 63% with +-0.7-point epoch noise, the window opening low and closing high: the end points
    # alone see +1.4 points
    noisy = [0.3 + 0.01 * e for e in range(23)] + [0.622, 0.636, 0.632, 0.634, 0.624, 0.626, 0.636]
    p = plateau(noisy)
    assert p["window"] == 6 and p["endpoint_gain_points"] == pytest.approx(1.4)
    assert p["gain_points"] < 0.5 and p["plateaued"] is True
    assert p["gain_se_points"] > 0                                  # the residuals' spread, reported beside it
    rising = [0.50 + 0.004 * e + (0.008 if e % 2 else -0.008) for e in range(30)]   # +0.4/epoch under the noise
    p = plateau(rising)
    assert p["gain_points"] == pytest.approx(0.4 * p["window"], abs=1.0) and p["plateaued"] is False


def test_a_record_is_judged_by_todays_rule_on_its_logged_curve(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from jst.report.records import read_record
    run = next(Path("results/grid").glob("*/dense-f1-s0"))
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "model"))
    raw = json.loads((copy / "result.json").read_text())
    raw["convergence"]["plateaued"] = False                        # a stale saved verdict
    (copy / "result.json").write_text(json.dumps(raw))
    record = read_record(copy)
    assert record.convergence["plateaued"] is True and "least-squares" in record.convergence["rule"]
    (copy / "log.jsonl").unlink()
    assert read_record(copy).convergence["plateaued"] is False      # no log: the section the run saved


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
