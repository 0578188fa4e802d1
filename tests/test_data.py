"""Datasets on real files: the Dtrain/Dval split, ImageFolder inference, augmentation, errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from jst.engine import data, sources
from jst.engine.errors import DataError


def test_mnist_split_is_80_20_disjoint_and_seeded(data_root):
    a = data.load("mnist", data_root, seed=3)
    b = data.load("mnist", data_root, seed=3)
    c = data.load("mnist", data_root, seed=4)
    assert (len(a.train), len(a.val), len(a.full_train), len(a.test)) == (48_000, 12_000, 60_000, 10_000)
    assert a.info.input_shape == (1, 28, 28) and a.info.num_classes == 10
    assert torch.equal(a.val.labels, b.val.labels) and torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.images, c.val.images)
    tr, va = data.split_indices(60_000, 0.2, 3)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0 and len(tr) + len(va) == 60_000


def test_fashion_mnist_loads_real_images(data_root):
    s = data.load("fashion_mnist", data_root, max_train_samples=1000, max_test_samples=100)
    x, y = next(s.test.batches(100, train=False))
    assert x.shape == (100, 1, 28, 28) and y.max() <= 9
    assert abs(x.mean().item()) < 0.3  # normalised with the dataset's statistics
    assert s.info.classes[0] == "T-shirt/top"


def test_imagefolder_takes_shape_and_classes_from_the_data(data_root):
    s = data.load("imagefolder", data_root / "cifar10-sample")
    assert s.info.input_shape == (3, 32, 32) and s.info.num_classes == 10
    assert (len(s.full_train), len(s.test)) == (5085, 1017)
    assert s.info.classes[:3] == ["airplane", "automobile", "bird"]


def test_generated_grey_imagefolder_with_three_classes(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 4)):
        for cls in ("a", "b", "c"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8), "L").save(
                    tmp_path / split / cls / f"{i}.png")
    s = data.load("imagefolder", tmp_path)
    assert s.info.input_shape == (1, 12, 12) and s.info.num_classes == 3
    assert len(s.full_train) == 30 and len(s.test) == 12


def test_crop_flip_matches_torchvision_semantics():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8)
    out = sources.augment_batch(x, "crop", torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    # every crop is a window of the zero-padded image: the nonzero pixels are a shifted copy
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(3) for dx in range(3))


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imagefolder"])
def test_missing_root_is_one_line_naming_the_path(tmp_path, name):
    with pytest.raises(DataError) as e:
        data.load(name, tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "\n" not in msg and "expected" in msg


def test_malformed_root_is_a_data_error(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"garbage")
    with pytest.raises(DataError) as e:
        data.load("mnist", tmp_path)
    assert str(tmp_path) in str(e.value)


@pytest.mark.parametrize("name,folder,key", [("cifar10", "cifar-10-batches-py", "labels"),
                                              ("cifar100", "cifar-100-python", "fine_labels")])
def test_cifar_loaders_convert_torchvision_arrays(tmp_path, monkeypatch, name, folder, key):
    """The full CIFAR files cannot be fetched here; write tiny files in their pickle format and skip only
    torchvision's MD5 check, so that our conversion (HWC uint8 -> NCHW, labels, stats) is exercised."""
    import pickle

    import torchvision.datasets as tvd
    cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
    import torchvision.datasets.cifar as tv_cifar
    monkeypatch.setattr(cls, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    rng = np.random.default_rng(0)
    base = tmp_path / folder
    base.mkdir()
    n_classes = 10 if name == "cifar10" else 100
    for fname, _ in cls.train_list + cls.test_list:
        images = rng.integers(0, 255, (20, 3 * 32 * 32), dtype=np.uint8)
        with open(base / fname, "wb") as f:
            pickle.dump({"data": images, key: rng.integers(0, n_classes, 20).tolist()}, f)
    meta_key = cls.meta["key"]
    with open(base / cls.meta["filename"], "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(n_classes)]}, f)
    s = data.load(name, tmp_path)
    assert s.info.input_shape == (3, 32, 32) and s.info.num_classes == n_classes
    assert len(s.full_train) == 20 * len(cls.train_list) and len(s.test) == 20
    first = pickle.load(open(base / cls.train_list[0][0], "rb"))["data"][0].reshape(3, 32, 32)
    assert torch.equal(s.full_train.images[0], torch.from_numpy(first))
    assert s.train.augment == "crop_flip" and s.val.augment == "none"
