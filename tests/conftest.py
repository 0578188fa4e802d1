"""Shared fixtures. Real data comes from $JST_DATA_ROOT or ../shared/data; in CI (CI=true) a missing
data root fails the tests instead of skipping them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from jst.engine.data import default_data_root

# Files whose tests share nothing (no module fixture): pytest-xdist may spread their tests over the workers.
# Every other file's tests stay together on one worker (``--dist loadgroup``), so a module fixture that starts
# runs (a grid, a notebook chain, the built book) is computed once, and tests that chain stay in order.
SPREAD_FILES = {"test_results.py"}


def pytest_configure(config):
    config.addinivalue_line("markers", "two_processes: starts two training processes at once (torchrun, "
                                       "parallel kills); run apart from pytest-xdist's workers")
    # One thread, however pytest is started: under xdist two workers' thread pools would fight over two cores,
    # and a run's numbers depend on its thread count (the smoke-scale mechanism checks pass at one thread, the
    # count every record's test and CI use); so for the processes a test starts (runs, notebook kernels) too.
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook, which names each test's group from this marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name not in SPREAD_FILES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


def pytest_collection_finish(session):
    """Under ``--dist loadgroup`` a file's tests must carry its group in their id (xdist appends it); without it
    they spread over the workers and every module fixture is built once per worker (pytest 9 broke this
    for xdist 3.8: hence pytest<9 in pyproject.toml)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and getattr(session.config.option, "loadgroup", False):
        lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if lost:
            raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} tests by file (e.g. {lost[0]})")


def pytest_addoption(parser):
    parser.addoption("--all-records", action="store_true",
                     help="reproduce the test accuracy of every committed run record (test_results.py); by "
                          "default the expensive ones are reproduced at one seed per method")


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


# --- the methods: run one at smoke scale and check its export
@pytest.fixture(scope="session")
def smoke_method(data_root, tmp_path_factory):
    """``smoke_method(method, flops_target=0.5, **overrides)`` runs a method end to end in-process on real
    MNIST with LeNet-5 at smoke scale; returns (result.json content, run folder)."""
    from jst.config import make_config
    from jst.engine.pipeline import run

    def run_method(method, flops_target=0.5, **overrides):
        cfg = make_config("smoke", "lenet5", method=method, dataset="mnist", data_root=str(data_root),
                          flops_target=flops_target, seed=0, device="cpu", **overrides)
        out = tmp_path_factory.mktemp(method) / "run"
        return run(cfg, out), out
    return run_method


@pytest.fixture(scope="session")
def exported_accuracy():
    """``exported_accuracy(run_dir, result)``: test accuracy of the run's export, reloaded from disk."""
    from jst.engine import data
    from jst.engine.train import evaluate
    from jst.nets.export import load_exported

    def accuracy(run_dir, result):
        c = result["config"]
        splits = data.load(c["dataset"], c["data_root"], seed=c["seed"], max_train_samples=c["max_train_samples"],
                           max_test_samples=c["max_test_samples"])
        return evaluate(load_exported(Path(run_dir) / "model"), splits.test, 256, "cpu")["acc"]
    return accuracy


@pytest.fixture(scope="session")
def tiny_grey_folder(data_root, tmp_path_factory):
    """An ImageFolder of real MNIST digits 0-2 shrunk to 8 px: 1 channel, 3 classes, the smallest size."""
    from PIL import Image
    from torchvision.datasets import MNIST
    root = tmp_path_factory.mktemp("tiny")
    for split, train, per_class in (("train", True, 60), ("val", False, 20)):
        ds, counts = MNIST(str(data_root), train=train), {0: 0, 1: 0, 2: 0}
        for image, label in ((ds.data[i], int(ds.targets[i])) for i in range(len(ds))):
            if label in counts and counts[label] < per_class:
                (root / split / f"digit{label}").mkdir(parents=True, exist_ok=True)
                path = root / split / f"digit{label}" / f"{counts[label]}.png"
                Image.fromarray(image.numpy()).resize((8, 8)).save(path)
                counts[label] += 1
            if all(c == per_class for c in counts.values()):
                break
    return root
