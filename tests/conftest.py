"""Shared fixtures. Real data comes from $JST_DATA_ROOT or ../shared/data; in CI (CI=true) a missing
data root fails the tests instead of skipping them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from jst.data import default_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = default_data_root()
    if root is None or not (Path(root) / "MNIST").is_dir():
        message = f"real data not found (JST_DATA_ROOT={os.environ.get('JST_DATA_ROOT')!r}, ../shared/data)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(root)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
