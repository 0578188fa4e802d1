"""The measured training budget, the shared dense network and the equal-budget fine-tuning, on real MNIST
at smoke scale: a dense run shared by L1-norm, AutoPrune and LSTM, each landing on the same budget."""
import pytest

from jst.config import make_config
from jst.engine.errors import ConfigError
from jst.engine.pipeline import run
from jst.engine.train import TRAINED

BUDGET = 8.0


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("budget")

    def go(method, out, **overrides):
        cfg = make_config("smoke", "lenet5", method=method, dataset="mnist", data_root=str(data_root),
                          flops_target=1.0 if method == "dense" else 0.5, seed=0, device="cpu",
                          holdout_val=True, **overrides)
        return run(cfg, root / out)
    dense = go("dense", "dense")
    shared = {m: go(m, m, dense_from=str(root / "dense"), budget_epochs=BUDGET)
              for m in ("l1norm", "autoprune", "lstm")}
    jst = go("jst", "jst", budget_epochs=BUDGET)
    return {"dense": dense, **shared, "jst": jst, "root": root, "go": go}


def test_the_dense_budget_is_the_images_it_trained_on(runs):
    d = runs["dense"]
    size = d["data"]["train"]                       # Dval held out: the training set is Dtrain
    assert d["data"]["val_held_out"] is True and d["training"]["epoch_size"] == size
    cfg = d["config"]
    batch, rest = cfg["batch_size"], size % cfg["batch_size"]
    per_epoch = size // batch * batch + (rest if rest >= 2 else 0)     # a last batch under 2 images is skipped
    assert d["training"]["images"] == cfg["dense_epochs"] * per_epoch
    assert d["training"]["dense_images"] == 0


@pytest.mark.parametrize("method", ["l1norm", "autoprune", "lstm", "jst"])
def test_every_method_lands_on_the_same_budget(runs, method):
    r = runs[method]
    t = r["training"]
    if method != "jst":   # starts from the shared dense network and carries its cost
        assert t["dense_from"].endswith("dense") and t["dense_images"] == runs["dense"]["training"]["images"]
        assert "shared dense run" in r["dense"]["source"]
    assert abs(t["epochs_equivalent"] - BUDGET) <= 0.5 + 1e-9    # fine-tuning took what was left, to the epoch
    assert t["total_images"] == t["images"] + t["dense_images"]


def test_the_pruners_start_from_the_shared_dense_weights(runs):
    # L1-norm's dense reference is the shared network itself: the same test accuracy, to the last image
    assert runs["l1norm"]["dense"]["test_acc"] == runs["dense"]["pruned"]["test_acc"]


def test_lstm_validates_on_the_held_out_dval(runs):
    split = runs["lstm"]["method_details"]["split"]
    assert split == {"train": runs["dense"]["data"]["train"], "val": runs["dense"]["data"]["val"]}


@pytest.mark.parametrize("bad, message", [
    (dict(method="slimming"), "slimming does not start from a trained dense network"),
    (dict(method="l1norm", seed=1), "differs from this run in seed"),
    (dict(method="l1norm", holdout_val=False), "differs from this run in holdout_val"),
    (dict(method="l1norm", dense_from="l1norm"), "is a 'l1norm' run, not a dense one"),
    (dict(method="l1norm", dense_from="nowhere"), "is not a finished run"),
])
def test_a_wrong_dense_run_is_refused_before_any_work(runs, data_root, tmp_path, bad, message):
    bad = dict(bad)
    source = runs["root"] / bad.pop("dense_from", "dense")
    cfg = make_config("smoke", "lenet5", dataset="mnist", data_root=str(data_root), flops_target=0.5, device="cpu",
                      holdout_val=bad.pop("holdout_val", True), dense_from=str(source), **bad)
    with pytest.raises(ConfigError, match=message):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()          # refused before the folder was made


def test_a_budget_too_small_for_the_method_is_one_line(runs, data_root, tmp_path):
    cfg = make_config("smoke", "lenet5", method="l1norm", dataset="mnist", data_root=str(data_root),
                      flops_target=0.5, device="cpu", holdout_val=True, dense_from=str(runs["root"] / "dense"),
                      budget_epochs=2.0)
    with pytest.raises(ConfigError, match="leaves no fine-tuning"):
        run(cfg, tmp_path / "run")


def test_the_count_survives_a_resume(runs, data_root, tmp_path):
    """A run stopped after its coarse stage and resumed counts what the uninterrupted one did."""
    cfg = make_config("smoke", "lenet5", method="jst", dataset="mnist", data_root=str(data_root),
                      flops_target=0.5, seed=0, device="cpu", holdout_val=True, budget_epochs=BUDGET)
    run(cfg, tmp_path / "r", until="coarse")
    TRAINED["images"] = 12345                      # whatever the process counted before must not leak in
    resumed = run(cfg, tmp_path / "r")
    assert resumed["resumed"] and resumed["training"] == runs["jst"]["training"]
    assert resumed["pruned"]["test_acc"] == runs["jst"]["pruned"]["test_acc"]


@pytest.mark.parametrize("later", ["a", "b"])
def test_the_newest_of_checkpoints_sharing_a_log_length_is_the_one_with_more_images(tmp_path, later):
    """A search step's epochs log nothing: its checkpoints share the log length, and the count of the last one
    written must be the one a resumed run starts from, whatever order the files are listed in."""
    from jst.engine import checkpoint, run_folder
    earlier = "b" if later == "a" else "a"
    for name, lines, images, elapsed in ((earlier, 3, 640, 1.0), (later, 3, 1280, 2.0), ("c", 2, 320, 0.5)):
        checkpoint.save({"log_lines": lines, "elapsed_s": elapsed, "images_trained": images, "arch": "lenet5",
                         "attempts": []}, tmp_path / "checkpoints" / f"{name}.pt")
    assert run_folder.resume_point(tmp_path)[3] == 1280
