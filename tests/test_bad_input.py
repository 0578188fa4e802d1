"""Every bad input: a one-line message naming the problem, exit status 2, nothing already written touched."""
import shutil

import numpy as np
import pytest
import torch
from cli_helpers import call, snapshot
from PIL import Image

from jst.cli import main


def base(root, out, dataset="mnist", arch="lenet5"):
    return ["run", "--dataset", dataset, "--arch", arch, "--data-root", root, "--scale", "smoke", "--out", out]


@pytest.fixture(scope="module")
def workspace(data_root, tmp_path_factory):
    """A started run (coarse stage done) and a few malformed data folders."""
    ws = tmp_path_factory.mktemp("bad")
    assert main([str(a) for a in ["coarse", *base(data_root, ws / "run")[1:]]]) == 0
    assert main([str(a) for a in ["coarse", *base(data_root, ws / "other", arch="lenet300")[1:]]]) == 0
    (ws / "empty").mkdir()
    (ws / "garbage" / "MNIST" / "raw").mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (ws / "garbage" / "MNIST" / "raw" / name).write_bytes(b"not an idx file")
    (ws / "no_train" / "val" / "a").mkdir(parents=True)
    (ws / "no_test" / "train" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(ws / "no_test" / "train" / "a" / "0.png")
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (ws / "tiny" / split / cls).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(ws / "tiny" / split / cls / "0.png")
    return ws


FRESH_CASES = [  # (id, extra arguments or a replacement of the base, expected words in the message)
    ("unknown dataset", ["--dataset", "svhn"], "invalid choice: 'svhn'"),
    ("unknown arch", ["--arch", "resnet7"], "invalid choice: 'resnet7'"),
    ("unknown method", ["--method", "magic"], "invalid choice: 'magic'"),
    ("unknown scale", ["--scale", "huge"], "invalid choice: 'huge'"),
    ("flops not a number", ["--flops-target", "half"], "invalid float value"),
    ("seed not an integer", ["--seed", "1.5"], "invalid int value"),
    ("threshold above 1", ["--set", "thresholds=[0.6,1.2]"], "thresholds must lie in (0, 1], got 1.2"),
    ("threshold zero", ["--set", "thresholds=[0,0.7]"], "thresholds must lie in (0, 1], got 0"),
    ("fixed threshold above 1", ["--set", "fixed_threshold=1.5"], "got 1.5"),
    ("flops target zero", ["--flops-target", "0"], "flops target must be in (0, 1]"),
    ("flops target above one", ["--flops-target", "1.5"], "flops target must be in (0, 1]"),
    ("flops target negative", ["--flops-target", "-0.2"], "flops target must be in (0, 1]"),
    ("flops target below the floor", ["--flops-target", "0.01"], "below what lenet5 allows"),
    ("negative coarse epochs", ["--set", "coarse_epochs=-1"], "coarse_epochs must be >= 0"),
    ("negative search steps", ["--set", "search_steps=-2"], "search_steps must be >= 0"),
    ("negative fine-tune epochs", ["--set", "finetune_epochs=-1"], "finetune_epochs must be >= 0"),
    ("negative search epochs", ["--set", "search_epochs=[-1,1]"], "search_epochs must be >= 0"),
    ("search epochs of wrong length", ["--set", "search_epochs=[1,1,1]"], "search_epochs must be"),
    ("negative seed", ["--seed", "-1"], "seed must be in [0, 2**32)"),
    ("seed too large", ["--seed", str(2 ** 32)], "seed must be in [0, 2**32)"),
    ("missing cuda device", ["--device", "cuda:3"], "cuda:3"),
    ("unknown device type", ["--device", "tpu"], "tpu"),
    ("malformed device", ["--device", "gpu0"], "gpu0"),
    ("unknown --set field", ["--set", "warp_speed=9"], "unknown field 'warp_speed'"),
    ("--set without =", ["--set", "coarse_epochs"], "--set expects field=value"),
    ("--set of the wrong type", ["--set", "coarse_epochs=abc"], "coarse_epochs must be int"),
    ("unknown optimizer", ["--set", "optimizer=rmsprop"], "optimizer must be one of"),
    ("val fraction out of range", ["--set", "val_fraction=1.5"], "val_fraction must be in (0, 1)"),
    ("zero batch size", ["--set", "batch_size=0"], "batch_size must be >= 1"),
    ("negative perturbation", ["--set", "perturbation=-0.1"], "perturbation must be >= 0"),
    ("image size below 8", ["--set", "image_size=4"], "image_size must be >= 8"),
    ("unknown gate position", ["--set", "gate_position=inside"], "gate_position"),
    ("unknown threshold mode", ["--set", "threshold_mode=random"], "threshold_mode"),
    ("zero learning rate", ["--set", "coarse_lr=0"], "coarse_lr must be > 0"),
]


@pytest.mark.parametrize("name,extra,expected", FRESH_CASES, ids=[c[0] for c in FRESH_CASES])
def test_bad_option(workspace, data_root, capsys, name, extra, expected):
    out = workspace / "fresh"
    before = snapshot(workspace)
    code, err = call(base(data_root, out) + extra, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert not out.exists() and snapshot(workspace) == before


DATA_CASES = [
    ("missing data root", "nowhere", "mnist", "does not exist"),
    ("empty data root", "empty", "mnist", "mnist not found or unreadable"),
    ("malformed MNIST files", "garbage", "mnist", "mnist not found or unreadable"),
    ("ImageFolder without train/", "no_train", "imagefolder", "is not an ImageFolder dataset"),
    ("ImageFolder without val/ or test/", "no_test", "imagefolder", "is not an ImageFolder dataset"),
    ("ImageFolder of 4 px images", "tiny", "imagefolder", "too small"),
]


@pytest.mark.parametrize("name,folder,dataset,expected", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_root(workspace, capsys, name, folder, dataset, expected):
    out = workspace / "fresh"
    before = snapshot(workspace)
    code, err = call(base(workspace / folder, out, dataset), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert expected in err and str(workspace / folder) in err, err
    assert "expected" in err or "small" in err  # says what the layout should be
    assert not out.exists() and snapshot(workspace) == before


def _copy_run(workspace, name):
    target = workspace / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(workspace / "run", target)
    return target


def _pickled_object_checkpoint(path):
    torch.save({"model": {}, "payload": Image.new("L", (2, 2)), "log_lines": 0, "arch": "lenet5"}, path)


RESUME_CASES = [
    ("resume with a different config", None, ["--set", "coarse_lr=0.05"], "different config (coarse_lr)"),
    ("checkpoint from another architecture", "other_arch", [], "checkpoint of arch 'lenet300'"),
    ("corrupted checkpoint", "truncate", [], "not a valid jst checkpoint"),
    ("checkpoint holding a pickled object", "pickle", [], "not a valid jst checkpoint"),
    ("checkpoint without jst fields", "foreign", [], "not a jst checkpoint"),
]


@pytest.mark.parametrize("name,damage,extra,expected", RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_bad_run_folder(workspace, data_root, capsys, name, damage, extra, expected):
    run_dir = _copy_run(workspace, name.replace(" ", "_"))
    ckpt = run_dir / "checkpoints" / "coarse.pt"
    if damage == "other_arch":
        shutil.copy(workspace / "other" / "checkpoints" / "coarse.pt", ckpt)
    elif damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif damage == "pickle":
        _pickled_object_checkpoint(ckpt)
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, ckpt)
    before = snapshot(run_dir)
    code, err = call(base(data_root, run_dir) + extra, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert expected in err, err
    assert snapshot(run_dir) == before


def test_evaluate_refuses_a_folder_that_is_not_an_export(workspace, data_root, capsys):
    code, err = call(["evaluate", "--model", workspace / "run", "--dataset", "mnist", "--data-root", data_root], capsys)
    assert code == 2 and "not a loadable jst export" in err and err.count("\n") == 1


def test_divergence_names_the_stage_and_keeps_the_last_good_checkpoint(workspace, data_root, capsys):
    run_dir = _copy_run(workspace, "diverge")
    (run_dir / "config.json").unlink()  # a new config (huge search lr) for the copied coarse stage
    coarse = (run_dir / "checkpoints" / "coarse.pt").read_bytes()
    code, err = call(base(data_root, run_dir) + ["--set", "search_lr=[1e30,1e30]"], capsys)
    assert code == 3, err
    assert "search step 1 params epoch 1" in err and "nan" in err.lower() and err.count("\n") == 1
    assert (run_dir / "checkpoints" / "coarse.pt").read_bytes() == coarse
    assert not (run_dir / "result.json").exists()


def test_a_run_from_an_older_version_resumes_when_new_options_keep_their_defaults(workspace, data_root, capsys):
    import json
    run_dir = _copy_run(workspace, "older")
    config = json.loads((run_dir / "config.json").read_text())
    del config["amp"], config["sync_bn"]  # options this run's version did not have yet
    (run_dir / "config.json").write_text(json.dumps(config))
    code, err = call(base(data_root, run_dir), capsys)
    assert code == 0, err
    code, err = call(base(data_root, run_dir) + ["--set", "amp=bf16"], capsys)  # a new option changed: refused
    assert code == 2 and "different config (amp)" in err


@pytest.mark.parametrize("params,expected", [
    ({"flops_target": 1.5}, "flops target must be in (0, 1]"),
    ({"seed": -3}, "seed must be in"),
    ({"overrides": {"thresholds": [0.6, 2.0]}}, "thresholds must lie in (0, 1]"),
    ({"device": "cuda:5"}, "cuda:5"),
    ({"arch": "resnet7"}, "unknown arch"),
    ({"data_root": "/nowhere/at/all"}, "/nowhere/at/all"),
], ids=["flops", "seed", "thresholds", "device", "arch", "data_root"])
def test_notebook_parameters_are_validated_before_any_work(params, expected, tmp_path):
    from jst.book.run import open_run
    from jst.engine.errors import JstError
    with pytest.raises(JstError) as e:
        open_run(**{"run_dir": str(tmp_path / "nb"), **params})
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "nb").exists()
