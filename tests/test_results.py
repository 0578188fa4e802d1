"""The committed run records are what their exported networks do: each reloads, counts the FLOPs its
result.json reports, meets its budget, and reproduces the test accuracy it reports on the same test set.

Reproducing an accuracy evaluates the whole test set. That is cheap for most records, but 10,000
Fashion-MNIST images through a ResNet-20 take about ten seconds on 2 cores: its 24 records took a quarter of
the suite. Above ``EXPENSIVE_EVAL_FLOPS`` the default run therefore checks a record that saved its per-image
predictions (``predictions.safetensors``: every record of the protocol grid) on ``SAMPLE`` test images: the
network gives the saved prediction on each, the saved labels are the test set's, and the saved predictions
make the reported accuracy; an older record without predictions reproduces its accuracy for one seed (the
lowest) per folder, method and FLOPs target, and the others check their FLOPs and budget, then skip, saying
so. ``make test-records`` (``pytest tests/test_results.py --all-records``) evaluates every record in full.

The weights of large networks (VGG-16) are committed for that lowest seed only (results/README.md): the
other records of such a folder check their FLOPs and budget on their architecture (``model.json``)."""
import functools
from pathlib import Path

import pytest
import torch

from jst.engine import data
from jst.engine.train import evaluate, predict
from jst.nets.export import load_exported
from jst.nets.flops import count, count_sparse
from jst.report.records import RunRecord, read_records

RESULTS = Path(__file__).resolve().parents[1] / "results"
RECORDS = {r.folder: r for r in read_records(RESULTS, recursive=True) if (r.folder / "model" / "model.json").exists()}
RUNS = sorted(RECORDS)
IDS = [str(r.relative_to(RESULTS)) for r in RUNS]   # unique: the first grid and the protocol grid share block names
EXPENSIVE_EVAL_FLOPS = 1e11


def eval_flops(r: RunRecord) -> float:
    """FLOPs of one pass of the exported network over the run's test set."""
    return r.pruned.flops * r.data["test"]


def lowest_seed(run: Path) -> int:
    """The lowest seed among the records of this run's folder, method and FLOPs target."""
    r = RECORDS[run]
    return min(o.seed for p, o in RECORDS.items() if p.parent == run.parent
               and (o.method, o.flops_target) == (r.method, r.flops_target))


def has_weights(run: Path) -> bool:
    return (run / "model" / "model.safetensors").exists()


def test_there_are_committed_runs():
    assert len(RUNS) >= 4


def test_the_lowest_seed_of_every_method_has_its_weights():
    assert [r for r in RUNS if RECORDS[r].seed == lowest_seed(r) and not has_weights(r)] == []


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_committed_model_reproduces_its_result(run, data_root, request):
    r = RECORDS[run]
    model = load_exported(run / "model", weights=has_weights(run))
    counter = count_sparse if (r.pruned.counting or "").startswith("sparse") else count  # weight pruning
    assert counter(model, r.input_shape)["flops"] == r.pruned.flops
    if r.method != "dense":  # the dense reference keeps every FLOP by definition
        assert r.meets_budget and r.pruned.flops_ratio <= r.flops_target + 1e-9
    if not has_weights(run):
        pytest.skip(f"FLOPs and budget reproduced; the weights are not committed (results/README.md): seed "
                    f"{lowest_seed(run)} of this method reproduces its accuracy")
    expensive = eval_flops(r) > EXPENSIVE_EVAL_FLOPS and not request.config.getoption("--all-records")
    saved = _saved_predictions(run)
    if expensive and saved is None and r.seed != lowest_seed(run):
        pytest.skip(f"FLOPs and budget reproduced; the accuracy costs {eval_flops(r) / 1e12:.2f} TFLOPs: seed "
                    f"{lowest_seed(run)} of this method reproduces it, make test-records every record")
    cfg = r.config
    root = data_root / Path(cfg["data_root"]).name if cfg["dataset"] == "imagefolder" else data_root
    test = _test_split(cfg["dataset"], str(root), cfg["max_test_samples"], cfg["image_size"])
    if saved is None:
        assert evaluate(model, test, 500, "cpu")["acc"] == r.pruned.test_acc
        return
    predicted, label = saved
    assert (predicted == label).double().mean().item() == r.pruned.test_acc
    images = sample(len(test)) if expensive else torch.arange(len(test))
    ours, labels = predict(model, test.subset(images), 500, "cpu")
    assert torch.equal(labels, label[images])          # the saved labels are this test set's, in its order
    assert torch.equal(ours, predicted[images])        # and so are the saved predictions
    if hasattr(test, "labels"):                        # an in-memory split: every label, at no cost
        assert torch.equal(test.labels.long(), label)


SAMPLE = 1000


def sample(n: int) -> torch.Tensor:
    """``SAMPLE`` test images spread over the whole set (evenly spaced), the same for every record."""
    return torch.linspace(0, n - 1, min(SAMPLE, n)).round().long().unique()


def _saved_predictions(run: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(predicted, label) of the record's ``predictions.safetensors``, None for a record saved without."""
    name = RECORDS[run].raw.get("predictions")
    if not name or not (run / name).is_file():
        return None
    from safetensors.torch import load_file
    p = load_file(str(run / name))
    return p["predicted"].long(), p["label"].long()


@functools.lru_cache(maxsize=4)
def _test_split(dataset: str, root: str, max_test_samples: int | None, image_size: int | None):
    """The test split a record was measured on: it depends on these options only (not on the seed), so the
    records of one benchmark share one load."""
    return data.load(dataset, root, seed=0, max_test_samples=max_test_samples, image_size=image_size,
                     workers=0).test
