"""Damaged or mismatched files: images, exported models, output folders. Each is taken as documented or
refused with a one-line message naming the file, folder or field, exit status 2, nothing written touched."""
import json
import os
import shutil
import warnings

import numpy as np
import pytest
import torch
from cli_helpers import call, snapshot
from PIL import Image
from safetensors.torch import load_file, save_file

from jst.cli import main
from jst.engine import data, output
from jst.engine.data import DataInfo
from jst.engine.errors import CheckpointError, DataError, JstError
from jst.nets.export import check_input, load_exported, save_exported
from jst.nets.models import build_model

CLASSES = ("airplane", "bird", "cat")






def one_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def sample(data_root, tmp_path_factory):
    """A tiny real ImageFolder: 3 CIFAR-10 classes, 6 train and 3 test images each (32x32 RGB PNG)."""
    root = tmp_path_factory.mktemp("sample") / "tiny"
    for split, n in (("train", 6), ("test", 3)):
        for cls in CLASSES:
            (root / split / cls).mkdir(parents=True)
            for path in sorted((data_root / "cifar10-sample" / split / cls).iterdir())[:n]:
                shutil.copy(path, root / split / cls / path.name)
    return root


@pytest.fixture
def tiny(sample, tmp_path):
    """A fresh copy of the sample, to damage."""
    return shutil.copytree(sample, tmp_path / "tiny")


def images(root, split="train", cls="bird"):
    return sorted((root / split / cls).iterdir())


def export(folder, arch="lenet5", classes=10, channels=1, size=28):
    info = DataInfo("test", channels, size, classes, (0.5,) * channels, (0.25,) * channels, [])
    save_exported(build_model(arch, classes, channels, size).eval(), folder, arch=arch, info=info)
    return folder


# --- images -------------------------------------------------------------------------------------------

DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:200]),
    "garbage": lambda p: p.write_bytes(b"\x89PNG but not really" * 20),
    "empty file": lambda p: p.write_bytes(b""),
    "text named .png": lambda p: p.write_text("a,b,c\n1,2,3\n"),
}


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_image_is_named_before_any_training(tiny, split, damage):
    victim = images(tiny, split)[1]
    DAMAGE[damage](victim)
    with pytest.raises(DataError) as e:
        data.load("imagefolder", tiny)
    msg = str(e.value)
    assert msg.startswith(f"{victim}: ") and "\n" not in msg, msg
    assert ("damaged image" if damage == "truncated" else "not an image") in msg


def test_a_damaged_first_image_is_named_too(tiny):
    victim = images(tiny, "train", CLASSES[0])[0]  # read first, for the dataset's mode and size
    DAMAGE["truncated"](victim)
    with pytest.raises(DataError, match="damaged image") as e:
        data.load("imagefolder", tiny)
    assert str(e.value).startswith(str(victim))


def test_the_cli_refuses_a_damaged_image_in_one_line_and_touches_nothing(tiny, tmp_path, capsys):
    victim = images(tiny)[2]
    DAMAGE["truncated"](victim)
    before = snapshot(tiny)
    out = tmp_path / "out"
    code, err = call(["run", "--dataset", "imagefolder", "--arch", "lenet5", "--data-root", tiny, "--scale",
                      "smoke", "--out", out], capsys)
    assert code == 2 and one_line(err) and str(victim) in err, err
    assert snapshot(tiny) == before
    assert not (out / "config.json").exists() and not (out / "checkpoints").exists()


def test_an_empty_class_folder_is_named(tiny):
    for p in images(tiny, "train", "bird"):
        p.unlink()
    (tiny / "train" / "bird" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError) as e:
        data.load("imagefolder", tiny)
    assert str(e.value).startswith(f"{tiny / 'train' / 'bird'} holds no images (.png") and "\n" not in str(e.value)


def test_a_single_class_is_refused(tiny):
    for split in ("train", "test"):
        for cls in CLASSES[1:]:
            shutil.rmtree(tiny / split / cls)
    with pytest.raises(DataError) as e:
        data.load("imagefolder", tiny)
    assert str(e.value) == f"{tiny / 'train'} has a single class folder (airplane); classification needs two at least"


def test_a_split_without_class_folders_is_named(tiny):
    shutil.rmtree(tiny / "test")
    (tiny / "test").mkdir()
    shutil.copy(images(tiny)[0], tiny / "test" / "loose.png")  # images directly in test/, no class folders
    with pytest.raises(DataError, match="has no class folders") as e:
        data.load("imagefolder", tiny)
    assert str(e.value).startswith(str(tiny / "test"))


def test_splits_with_different_classes_say_which(tiny):
    (tiny / "test" / "cat").rename(tiny / "test" / "dog")
    with pytest.raises(DataError) as e:
        data.load("imagefolder", tiny)
    assert "only in train/: cat; only in test/: dog" in str(e.value) and str(tiny) in str(e.value)


def _sample_index(root, path):
    """Position of ``path`` in the split's samples (ImageFolder: sorted classes, sorted file names)."""
    return sorted(root.joinpath("train").rglob("*.png")).index(path)


def test_mixed_modes_become_rgb_when_any_image_is_in_colour(tiny):
    paths = images(tiny, "train", "cat")
    originals = [Image.open(p).convert("RGB") for p in paths]
    grey = originals[0].convert("L")
    grey.save(paths[0])
    originals[1].convert("RGBA").save(paths[1])
    originals[2].convert("P").save(paths[2])
    transparent = originals[3].convert("P")
    transparent.save(paths[3], transparency=0)  # PIL would warn converting it straight to RGB
    originals[4].convert("L").convert("LA").save(paths[4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from PIL either
        s = data.load("imagefolder", tiny)
    assert s.info.input_shape == (3, 32, 32) and len(s.full_train) == 18
    pixels = s.full_train.images
    grey_rgb = pixels[_sample_index(tiny, paths[0])]
    assert all(torch.equal(grey_rgb[c], torch.from_numpy(np.array(grey))) for c in range(3))  # R = G = B = L
    rgba = pixels[_sample_index(tiny, paths[1])]  # alpha dropped, colour kept
    assert torch.equal(rgba, torch.from_numpy(np.array(originals[1])).permute(2, 0, 1))


def test_grey_modes_stay_grey_and_16_bit_is_scaled(tiny):
    for p in sorted(tiny.rglob("*.png")):
        Image.open(p).convert("L").save(p)
    paths = images(tiny, "train", "bird")
    grey = np.array(Image.open(paths[0]))
    Image.fromarray(grey.astype(np.uint16) * 257).save(paths[0])  # 16-bit grey: 8-bit v becomes 257 v
    Image.open(paths[1]).convert("LA").save(paths[1])
    Image.open(paths[2]).convert("1").save(paths[2])
    assert Image.open(paths[0]).mode == "I;16"
    s = data.load("imagefolder", tiny)
    assert s.info.input_shape == (1, 32, 32)
    assert torch.equal(s.full_train.images[_sample_index(tiny, paths[0]), 0], torch.from_numpy(grey))
    assert set(s.full_train.images[_sample_index(tiny, paths[2])].unique().tolist()) <= {0, 255}


def test_mixed_sizes_are_resized_to_the_most_common(tiny):
    first = images(tiny, "train", CLASSES[0])[0]  # the very first image is not the most common size
    Image.open(first).resize((40, 40)).save(first)
    odd = images(tiny, "train", "cat")[3]
    Image.open(odd).resize((48, 40)).save(odd)
    s = data.load("imagefolder", tiny)
    assert s.info.input_shape == (3, 32, 32)
    expected = np.array(Image.open(odd).convert("RGB").resize((32, 32), Image.BILINEAR))
    assert torch.equal(s.full_train.images[_sample_index(tiny, odd)], torch.from_numpy(expected).permute(2, 0, 1))


def test_a_streamed_dataset_names_a_damaged_image_from_a_loader_worker(tiny):
    for p in sorted(tiny.rglob("*.png")):
        Image.open(p).resize((72, 72)).save(p)  # above SMALL_IMAGE_MAX: streamed from disk
    victim = images(tiny)[4]
    DAMAGE["truncated"](victim)
    s = data.load("imagefolder", tiny, image_size=32, workers=1)
    assert type(s.full_train).__name__ == "StreamSource"
    with pytest.raises(DataError) as e:
        for _ in s.full_train.batches(6, train=False):
            pass
    assert str(e.value) == f"{victim}: damaged image (image file is truncated); remove or replace it"


# --- exported models -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_export(tmp_path_factory):
    return export(tmp_path_factory.mktemp("export") / "model")


@pytest.fixture
def model_dir(good_export, tmp_path):
    return shutil.copytree(good_export, tmp_path / "model")


def _edit_json(folder, **changes):
    record = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**record, **changes}))


def test_evaluate_names_a_truncated_weights_file_and_touches_nothing(model_dir, data_root, capsys):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    before = snapshot(model_dir)
    code, err = call(["evaluate", "--model", model_dir, "--dataset", "mnist", "--data-root", data_root], capsys)
    assert code == 2 and one_line(err), err
    assert f"{weights}: damaged weights file, not readable safetensors" in err
    assert snapshot(model_dir) == before


def _nan_in(folder):
    state = load_file(str(folder / "model.safetensors"))
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    save_file(state, str(folder / "model.safetensors"))


def _drop_field(folder, key):
    record = json.loads((folder / "model.json").read_text())
    del record[key]
    (folder / "model.json").write_text(json.dumps(record))


def _weights_of(folder, **kw):
    source = export(folder.parent / "other", **kw)
    shutil.copy(source / "model.safetensors", folder / "model.safetensors")


MODEL_CASES = [  # (id, damage, expected message after "<folder>/<file>: ")
    ("garbage weights", lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64),
     "model.safetensors: damaged weights file, not readable safetensors"),
    ("NaN in the weights", lambda d: _nan_in(d), "model.safetensors: damaged weights file (conv1.weight holds NaN"),
    ("classes disagree", lambda d: _edit_json(d, num_classes=7),
     "model.safetensors: model.json says 7 classes, the weights hold 10"),
    ("weights of another class count", lambda d: _weights_of(d, classes=7),
     "model.safetensors: model.json says 10 classes, the weights hold 7"),
    ("channels disagree", lambda d: _weights_of(d, channels=3),
     "model.safetensors: model.json says 1 input channel, the weights take 3"),
    ("widths disagree", lambda d: _edit_json(d, widths={"conv1": 4, "conv2": 16, "fc1": 120, "fc2": 84}),
     "model.safetensors: model.json gives conv1 4 channels, the weights hold 6"),
    ("image size disagrees", lambda d: _edit_json(d, image_size=32),
     "model.safetensors: model.json says 1x32x32 images, which make 576 inputs of fc1; the weights take 400"),
    ("weights of another architecture", lambda d: _weights_of(d, arch="lenet300"),
     "model.safetensors: model.json says lenet5, the weights are of another network"),
    ("no weights file", lambda d: (d / "model.safetensors").unlink(),
     ": not a loadable jst export (no model.safetensors"),
    ("model.json not JSON", lambda d: (d / "model.json").write_text("{'arch': lenet5"),
     "model.json: not readable JSON"),
    ("model.json without widths", lambda d: _drop_field(d, "widths"), "model.json: field 'widths' is missing"),
    ("unknown arch", lambda d: _edit_json(d, arch="resnet7"), "model.json: arch 'resnet7' is not one of"),
    ("width above the dense one", lambda d: _edit_json(d, widths={"conv1": 60, "conv2": 16, "fc1": 120, "fc2": 84}),
     "model.json: width of conv1 must be 1..6 channels, got 60"),
    ("widths of another network", lambda d: _edit_json(d, widths={"fc1": 300, "fc2": 100}),
     "model.json: widths do not match lenet5's prunable layers (unknown: none; missing: conv1, conv2)"),
    ("classes not a number", lambda d: _edit_json(d, num_classes="10"),
     "model.json: num_classes must be a positive integer, got '10'"),
    ("images too small for the arch", lambda d: _edit_json(d, image_size=4),
     "model.json: lenet5 cannot be built for 1x4x4 images"),
]


@pytest.mark.parametrize("name,damage,expected", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_a_bad_export_is_named_in_one_line(model_dir, name, damage, expected):
    damage(model_dir)
    before = snapshot(model_dir)
    with pytest.raises(CheckpointError) as e:
        load_exported(model_dir)
    msg = str(e.value)
    assert msg.startswith(f"{model_dir}{expected}" if expected.startswith(":") else f"{model_dir}/{expected}"), msg
    assert "\n" not in msg and snapshot(model_dir) == before


def test_evaluate_refuses_a_dataset_of_other_images(data_root, tmp_path, capsys):
    model = export(tmp_path / "rgb", channels=3, size=32)
    code, err = call(["evaluate", "--model", model, "--dataset", "mnist", "--data-root", data_root], capsys)
    assert code == 2 and one_line(err), err
    assert f"{model}: the model takes 3x32x32 images, mnist at {data_root} gives 1x28x28" in err


def test_evaluate_refuses_a_dataset_of_other_channels_or_classes(sample, tmp_path, capsys):
    grey = export(tmp_path / "grey", channels=1, size=32, classes=3)
    code, err = call(["evaluate", "--model", grey, "--dataset", "imagefolder", "--data-root", sample], capsys)
    assert code == 2 and one_line(err), err
    assert "the model takes 1x32x32 images, imagefolder at" in err and "gives 3x32x32" in err
    ten = export(tmp_path / "ten", channels=3, size=32, classes=10)
    code, err = call(["evaluate", "--model", ten, "--dataset", "imagefolder", "--data-root", sample], capsys)
    assert code == 2 and one_line(err) and f"{ten}: the model has 10 classes, imagefolder at {sample} has 3" in err


def test_evaluate_reads_an_imagefolder_at_the_model_s_image_size(sample, tmp_path, capsys):
    model = export(tmp_path / "m", channels=3, size=24, classes=3)  # trained with --set image_size=24
    code = main(["evaluate", "--model", str(model), "--dataset", "imagefolder", "--data-root", str(sample),
                 "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert 0 <= json.loads(captured.out)["test_acc"] <= 1


def test_notebook_code_gets_the_same_check(good_export):
    with pytest.raises(DataError, match="the model takes 1x28x28 images, cifar10 gives 3x32x32"):
        check_input(good_export, DataInfo("cifar10", 3, 32, 10, (0.5,) * 3, (0.25,) * 3, []))


# --- output folders ------------------------------------------------------------------------------------

def _command(kind, data_root, out):
    if kind == "compare":
        return ["compare", "--methods", "dense", "--dataset", "mnist", "--arch", "lenet5", "--data-root", data_root,
                "--scale", "smoke", "--out", out]
    return [kind, "--dataset", "mnist", "--arch", "lenet5", "--data-root", data_root, "--scale", "smoke", "--out", out]


@pytest.mark.parametrize("kind", ["run", "coarse", "search", "compare"])
def test_out_that_is_a_file_is_refused_untouched(kind, data_root, tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("precious\n")
    code, err = call(_command(kind, data_root, out), capsys)
    assert code == 2 and one_line(err), err
    assert f"argument --out: {out} is a file, not a folder" in err
    assert out.read_text() == "precious\n" and sorted(tmp_path.iterdir()) == [out]


def test_out_below_a_file_is_refused_untouched(data_root, tmp_path, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where a folder should be\n")
    code, err = call(_command("run", data_root, blocker / "mnist" / "run1"), capsys)
    assert code == 2 and one_line(err), err
    assert f"cannot be created: {blocker} is a file, not a folder" in err
    assert blocker.read_text() == "a file where a folder should be\n" and sorted(tmp_path.iterdir()) == [blocker]


@pytest.mark.parametrize("kind", ["run", "compare"])
def test_out_in_a_read_only_folder_is_refused_untouched(kind, data_root, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root ignores permission bits: simulate what os.access says elsewhere
        real = os.access
        monkeypatch.setattr(output.os, "access", lambda p, mode: False if str(p) == str(locked) else real(p, mode))
    try:
        code, err = call(_command(kind, data_root, locked / "new"), capsys)
        assert code == 2 and one_line(err), err
        assert f"{locked / 'new'} cannot be written (its parent {locked} is not writable)" in err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_a_notebook_run_dir_that_is_a_file_is_refused(data_root, tmp_path):
    from jst.book.run import open_run
    target = tmp_path / "nb"
    target.write_text("keep me")
    with pytest.raises(JstError, match="is a file, not a folder"):
        open_run(data_root=str(data_root), run_dir=str(target))
    assert target.read_text() == "keep me"
