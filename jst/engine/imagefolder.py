"""Reading an ImageFolder (the ImageNet layout), checked before any training.

An ImageFolder (``train/<class>/<image>`` and ``val/`` or ``test/``) is checked before any training, and
what it holds is either taken as follows or refused with a one-line ``DataError`` naming the file or folder:

- layout: every class folder must hold an image (.png, .jpg, ...; an empty one would be a class never
  shown), there must be two classes at least, and the same ones in both splits;
- damaged files: an image PIL cannot read (truncated, garbage, not an image) is refused by name. A small
  dataset is decoded whole before training, so it is found then; a streamed one when its batch is loaded
  (an up-front check of every file would cost a minute or more per start on ImageNet and still miss
  truncated JPEGs, which only decoding finds);
- mixed modes: every image becomes RGB when any is in colour (RGB, RGBA, palette "P", CMYK, ...) and grey
  "L" otherwise; alpha is dropped, as torchvision's loader drops it, and 16-bit grey is scaled to 8 bits.
  A streamed dataset decides from the first image of each class;
- mixed sizes: a small dataset is resized (bilinear) to the most common size of its training images,
  squared to the shorter side, unless ``image_size`` is given; a streamed one is resized and cropped by
  torchvision's transforms anyway.
"""
from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import torch

from jst.engine.data import HOW_TO_GET, DataInfo
from jst.engine.errors import DataError
from jst.engine.sources import StreamSource, TensorSource

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")  # PIL modes without colour
SMALL_IMAGE_MAX = 64          # ImageFolders of images up to this size are loaded into memory
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_imagefolder(root: Path, augment: str, image_size: int | None, workers: int):
    """(train source, test source, DataInfo) of the ImageFolder at ``root``: held in memory when its images
    are small, streamed through torchvision's ImageNet transforms otherwise."""
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"{root} is not an ImageFolder dataset ({HOW_TO_GET['imagefolder']})")
    train, test = _folder(root / "train"), _folder(test_dir)
    _check_classes(root, train, test, test_dir.name)
    first = [_header(path) for path in _first_of_each_class(train)]
    native = _most_common(min(im_size) for _, im_size in first)
    if native <= SMALL_IMAGE_MAX and (image_size or native) <= SMALL_IMAGE_MAX:
        return _in_memory(root, train, test, "crop_flip" if augment == "auto" else augment, image_size)
    channels = 1 if all(mode in GREY_MODES for mode, _ in first) else 3
    return _streamed(train, test, channels, "crop_flip" if augment == "auto" else augment, image_size, workers)


def _check_classes(root: Path, train, test, test_name: str) -> None:
    """Two classes at least, and the same ones in both splits."""
    if len(train.classes) < 2:
        raise DataError(f"{root / 'train'} has a single class folder ({train.classes[0]}); "
                        "classification needs two at least")
    if train.classes != test.classes:
        only_train = ", ".join(sorted(set(train.classes) - set(test.classes))) or "none"
        only_test = ", ".join(sorted(set(test.classes) - set(train.classes))) or "none"
        raise DataError(f"{root}: train/ and {test_name}/ have different classes (only in train/: {only_train}; "
                        f"only in {test_name}/: {only_test})")


def _in_memory(root: Path, train, test, augment: str, image_size: int | None):
    """A small ImageFolder decoded whole into uint8 tensors; its mode and size are chosen from every image."""
    tr_img, tr_lab = _decode_all(train)
    te_img, te_lab = _decode_all(test)
    channels = 3 if any(a.ndim == 3 for a in (*tr_img, *te_img)) else 1
    size = image_size or _most_common(min(a.shape[:2]) for a in tr_img)
    if size < 8:
        raise DataError(f"{root}: images of {size} px are too small (at least 8 px)")
    tr_img, te_img = _stack(tr_img, channels, size), _stack(te_img, channels, size)
    flat = tr_img.float().div_(255).transpose(0, 1).reshape(channels, -1)
    mean, std = tuple(flat.mean(1).tolist()), tuple(flat.std(1).tolist())
    info = DataInfo("imagefolder", channels, size, len(train.classes), mean, std, list(train.classes))
    return TensorSource(tr_img, tr_lab, mean, std, augment), TensorSource(te_img, te_lab, mean, std, augment), info


def _streamed(train, test, channels: int, augment: str, image_size: int | None, workers: int):
    """A large ImageFolder read from disk with torchvision's standard ImageNet transforms."""
    import torchvision.transforms as T
    size = image_size or 224
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
    norm = [T.ToTensor(), T.Normalize(mean, std)]
    to_mode = T.Lambda(partial(_to_mode, mode="RGB" if channels == 3 else "L"))
    train_tf = T.Compose([to_mode, T.RandomResizedCrop(size), T.RandomHorizontalFlip(), *norm])
    eval_tf = T.Compose([to_mode, T.Resize(int(size * 256 / 224)), T.CenterCrop(size), *norm])
    info = DataInfo("imagefolder", channels, size, len(train.classes), mean, std, list(train.classes))
    return (StreamSource(train, train_tf, eval_tf, augment, workers),
            StreamSource(test, train_tf, eval_tf, augment, workers), info)


def _folder(split: Path):
    """torchvision's ImageFolder of one split, refusing a split without class folders and an empty class
    folder by name (torchvision's own refusal names neither the split nor the folder)."""
    import torchvision.datasets as tvd
    try:
        folder = tvd.ImageFolder(str(split), loader=_open_image, allow_empty=True)
    except FileNotFoundError:
        raise DataError(f"{split} has no class folders ({HOW_TO_GET['imagefolder']})") from None
    counts = Counter(label for _, label in folder.samples)
    empty = [name for i, name in enumerate(folder.classes) if counts[i] == 0]
    if empty:
        others = f" (and {len(empty) - 1} more class folders)" if len(empty) > 1 else ""
        raise DataError(f"{split / empty[0]}{others} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                        "add images or remove the folder")
    return folder


def _first_of_each_class(folder) -> list[str]:
    """One image path per class: enough to choose in-memory or streamed loading, and a streamed dataset's mode."""
    firsts: dict[int, str] = {}
    for path, label in folder.samples:
        firsts.setdefault(label, path)
    return list(firsts.values())


def _most_common(values):
    return Counter(values).most_common(1)[0][0]


def _unreadable(path, error: Exception) -> DataError:
    """The one-line error for an image PIL cannot read, naming the file (PIL raises many unrelated types)."""
    from PIL import UnidentifiedImageError
    if isinstance(error, UnidentifiedImageError):
        return DataError(f"{path}: not an image (PIL cannot identify its format); remove or replace it")
    reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
    return DataError(f"{path}: damaged image ({reason}); remove or replace it")


def _header(path: str) -> tuple[str, tuple[int, int]]:
    """Mode and size of an image, from its header only."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            return image.mode, image.size
    except Exception as e:  # PIL fails on a damaged file in many unrelated types
        raise _unreadable(path, e) from None


def _open_image(path: str):
    """The loader of both splits: the decoded image, or a DataError naming a file that cannot be decoded."""
    from PIL import Image
    try:
        with open(path, "rb") as f:
            image = Image.open(f)
            image.load()
    except Exception as e:  # PIL fails on a damaged file in many unrelated types
        raise _unreadable(path, e) from None
    return image


def _to_mode(image, mode: str):
    """``image`` in grey "L" or "RGB": alpha dropped as torchvision's loader drops it (a palette's transparency
    too, which PIL would warn about) and 16-bit grey scaled to 8 bits (PIL's own conversion clips it)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode.startswith("I;16"):
        image = image.convert("I").point(lambda v: v * (1 / 256))
    return image.convert(mode)


def _decode_all(folder) -> tuple[list[np.ndarray], torch.Tensor]:
    """Every image of ``folder`` decoded, grey ones as (H, W) and colour ones as (H, W, 3) uint8 arrays, so
    that the mode and size can be chosen from all of them; a damaged file is a DataError naming it."""
    arrays = []
    for path, _ in folder.samples:
        image = _open_image(path)
        arrays.append(np.asarray(_to_mode(image, "L" if image.mode in GREY_MODES else "RGB")))
    labels = torch.tensor([label for _, label in folder.samples], dtype=torch.long)
    return arrays, labels


def _stack(arrays: list[np.ndarray], channels: int, size: int) -> torch.Tensor:
    """(N, C, size, size) uint8: each image resized (bilinear) where its size differs, and a grey one copied
    into R, G and B where the dataset is in colour (as PIL converts L to RGB)."""
    from PIL import Image
    images = np.empty((len(arrays), size, size, channels), dtype=np.uint8)
    for i, a in enumerate(arrays):
        if a.shape[:2] != (size, size):
            a = np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))
        a = a.reshape(size, size, -1)
        images[i] = a if a.shape[2] == channels else np.repeat(a, channels, axis=2)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
