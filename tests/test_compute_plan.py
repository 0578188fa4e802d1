"""The compute plan of the protocol grid: runs and epochs counted from the blocks, CPU time from a speed
measured on this machine (a dense run's per-epoch log)."""
import pytest

from jst.experiments import grid
from jst.experiments.compare import plan
from jst.experiments.tuning import TRIALS
from jst.report.progress import compute_plan, seconds_per_epoch


@pytest.fixture(scope="module")
def dense_run(data_root, tmp_path_factory):
    from jst.config import make_config
    from jst.engine.pipeline import run
    root = tmp_path_factory.mktemp("speed")
    cfg = make_config("smoke", "lenet5", method="dense", dataset="mnist", data_root=str(data_root), flops_target=1.0,
                      seed=0, device="cpu", holdout_val=True)
    return run(cfg, root / "dense"), root


def test_speed_is_read_from_a_dense_runs_epoch_times(dense_run):
    import json
    result, root = dense_run
    per_image, source = seconds_per_epoch("mnist", "lenet5", root)
    times = sorted(json.loads(line)["seconds"] for line in (root / "dense" / "log.jsonl").read_text().splitlines())
    median = (times[0] + times[1]) / 2 if len(times) == 2 else times[len(times) // 2]
    assert source == str(root / "dense") and per_image == pytest.approx(median / result["data"]["train"])
    assert seconds_per_epoch("mnist", "resnet20", root) is None


def test_the_plan_counts_every_run_and_the_epochs_each_trains(dense_run):
    _, root = dense_run
    b = grid.GRID_MNIST_LENET5
    row = compute_plan([b], root).iloc[0]
    runs = plan(list(b.methods), list(b.seeds), list(b.flops_targets), share_dense=True)
    assert row["runs"] == len(runs) + sum(len(TRIALS[m]) - 1 for m in b.methods if m in TRIALS)
    o = b.overrides
    dense = sum(o["dense_epochs"] for m, _, _ in runs if m == "dense")
    assert dense == 3 * o["dense_epochs"] and row["epochs trained"] > dense
    assert row["CPU hours (planned)"] > 0 and row["overhead factor"] is None     # no run of the block finished


def test_an_image_folders_speed_is_read_from_its_own_folders_dense_run_at_the_blocks_batch(data_root, tmp_path):
    """The CIFAR-10 sample block (``Block.data``) is timed by a dense run on that folder, at its batch size."""
    from jst.config import make_config
    from jst.engine.pipeline import run
    folder = data_root / "cifar10-sample"
    cfg = make_config("smoke", "resnet20", method="dense", dataset="imagefolder", data_root=str(folder),
                      flops_target=1.0, seed=0, device="cpu", holdout_val=True, batch_size=32, dense_epochs=1,
                      max_train_samples=200, max_test_samples=100)
    run(cfg, tmp_path / "dense")
    per_image, source = seconds_per_epoch("cifar10-sample", "resnet20", tmp_path, batch_size=32)
    assert source == str(tmp_path / "dense") and per_image > 0
    assert seconds_per_epoch("cifar10-sample", "resnet20", tmp_path, batch_size=128) is None   # another batch
    assert seconds_per_epoch("imagefolder-elsewhere", "resnet20", tmp_path) is None            # another folder
    b = grid.GRID_CIFAR_RESNET20
    row = compute_plan([b], tmp_path).iloc[0]
    assert row["speed measured on"] == source and row["CPU hours (planned)"] > 0


def test_forked_runs_are_planned_without_the_stage_they_take_from_another():
    from jst.report.progress import forks
    main = grid.GRID_CIFAR_RESNET20
    assert not forks(main, "jst", main.flops_targets[0])          # the first target trains its own
    assert all(forks(main, m, t) for t in main.flops_targets[1:] for m in ("jst", "slimming"))
    assert not any(forks(main, m, t) for t in main.flops_targets for m in ("ista", "l1norm", "autoprune", "lstm"))
    ablations = {b.out.rsplit("/", 1)[-1]: b for b in grid.PROTOCOL_ABLATIONS}
    assert forks(ablations["no_updater"], "jst", 0.5)            # changes the search only
    assert not forks(ablations["unscaled_filter_lr"], "jst", 0.5)   # changes coarse training
    assert not forks(ablations["no_coarse_training"], "jst", 0.5)
    plan_ = compute_plan([ablations["no_updater"], ablations["unscaled_filter_lr"]], "no-results")
    budget, coarse = main.overrides["budget_epochs"], main.overrides["coarse_epochs"]
    assert list(plan_["epochs trained"]) == [3 * (budget - coarse), 3 * budget]
