"""The multi-GPU chapter's helpers (jst.book.launch): the torchrun command, and the ImageNet stand-in that makes
a machine without ImageNet take ImageNet's data path (streamed from disk through its transforms)."""
import sys

from PIL import Image

from jst.book.launch import imagenet_stand_in, torchrun_command
from jst.engine.data import load
from jst.engine.sources import StreamSource


def test_torchrun_command_runs_jst_under_this_interpreter():
    cmd = torchrun_command(4, ["run", "--seed", 0])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in cmd and cmd[-4:] == ["jst", "run", "--seed", "0"]


def test_the_stand_in_is_streamed_through_the_imagenet_transforms(data_root, tmp_path):
    out = imagenet_stand_in(data_root / "cifar10-sample", tmp_path / "stand-in", size=80, per_class=(2, 1))
    classes = sorted(p.name for p in (out / "train").iterdir())
    assert len(classes) == 10 and sorted(p.name for p in (out / "val").iterdir()) == classes
    assert sum(1 for _ in (out / "train").rglob("*.png")) == 20 and sum(1 for _ in (out / "val").rglob("*.png")) == 10
    with Image.open(next((out / "train" / classes[0]).iterdir())) as im:
        assert im.size == (80, 80) and im.mode == "RGB"
    splits = load("imagefolder", out, image_size=64, workers=0)
    assert isinstance(splits.full_train, StreamSource) and splits.info.input_shape == (3, 64, 64)
    x, _ = next(splits.test.batches(4, train=False))
    assert tuple(x.shape) == (4, 3, 64, 64)            # resized and centre-cropped to 64 px
    made = (out / "train" / classes[0]).stat().st_mtime_ns
    assert imagenet_stand_in(data_root / "cifar10-sample", out) == out   # made once: not rewritten
    assert (out / "train" / classes[0]).stat().st_mtime_ns == made
