"""jst's batch augmentation draws the same crops and flips as torchvision's per-image transforms.

On real CIFAR-10-sample images: every output of torchvision's RandomCrop(32, padding=4) +
RandomHorizontalFlip, and every output of ``jst.engine.sources.augment_batch``, is identified as one of the 162
windows (9 x 9 offsets of the zero-padded image, flipped or not) that ``apply_augmentation`` produces;
the offsets' histograms of the two agree (two-sample chi-square) and each is uniform, and both flip half
the time. Seeds are fixed, so the test is deterministic.
"""
from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms as T

from jst.engine import data, sources

DRAWS = 3000


def chi2_sf_even(x: float, df: int) -> float:
    """P(chi2_df >= x) for even df (closed form; no scipy needed)."""
    half = x / 2
    return math.exp(-half) * sum(half ** i / math.factorial(i) for i in range(df // 2))


def two_sample_chi2(a: torch.Tensor, b: torch.Tensor) -> float:
    """p-value that counts ``a`` and ``b`` (same totals) come from one distribution."""
    stat = float((((a - b) ** 2) / (a + b).clamp(min=1)).sum())
    return chi2_sf_even(stat, len(a) - 1)


@pytest.fixture(scope="module")
def image(data_root) -> torch.Tensor:
    """A real CIFAR-10-sample image whose 162 windows are all distinct (so each output is identifiable)."""
    splits = data.load("imagefolder", data_root / "cifar10-sample", seed=0)
    for img in splits.full_train.images[:20]:
        if len({w.numpy().tobytes() for w in windows(img).values()}) == 162:
            return img
    pytest.fail("no CIFAR-10-sample image with 162 distinct windows among the first 20")


def windows(img: torch.Tensor) -> dict[tuple[int, int, bool], torch.Tensor]:
    """Every (offset y, offset x, flip) and its output, by jst's apply_augmentation."""
    keys = [(oy, ox, f) for oy in range(9) for ox in range(9) for f in (False, True)]
    oy, ox, flip = (torch.tensor(v) for v in zip(*keys))
    out = sources.apply_augmentation(img.expand(len(keys), -1, -1, -1), oy, ox, flip)
    return dict(zip(keys, out))


def identify(outputs, table) -> list[tuple[int, int, bool]]:
    lookup = {v.numpy().tobytes(): k for k, v in table.items()}
    found = [lookup.get(o.numpy().tobytes()) for o in outputs]
    assert None not in found, "an augmented image is not a window of the zero-padded image"
    return found


def test_windows_are_crops_of_the_zero_padded_image(image):
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    for (oy, ox, flip), out in windows(image).items():
        crop = padded[:, oy:oy + 32, ox:ox + 32]
        assert torch.equal(out, crop.flip(2) if flip else crop)


def test_crop_and_flip_statistics_match_torchvision(image):
    table = windows(image)
    torch.manual_seed(0)
    reference = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    theirs = identify([reference(image) for _ in range(DRAWS)], table)
    ours = identify(sources.augment_batch(image.expand(DRAWS, -1, -1, -1), "crop_flip",
                                       torch.Generator().manual_seed(1)), table)
    for axis in (0, 1):
        a = torch.bincount(torch.tensor([k[axis] for k in ours]), minlength=9).double()
        b = torch.bincount(torch.tensor([k[axis] for k in theirs]), minlength=9).double()
        assert two_sample_chi2(a, b) > 1e-3, (axis, a, b)
        uniform = torch.full((9,), DRAWS / 9, dtype=torch.double)
        assert chi2_sf_even(float(((a - uniform) ** 2 / uniform).sum()), 8) > 1e-3, a
        assert chi2_sf_even(float(((b - uniform) ** 2 / uniform).sum()), 8) > 1e-3, b
    sigma = math.sqrt(0.25 / DRAWS)
    for draws in (ours, theirs):
        rate = sum(k[2] for k in draws) / DRAWS
        assert abs(rate - 0.5) < 4 * sigma, rate
