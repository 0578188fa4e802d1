"""Every notebook executes with papermill at smoke scale on real data, chained through one run folder;
the search notebook also runs on the CIFAR-10 sample as an ImageFolder (3 channels, 32 px)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jst.book import notebooks
from jst.book.run import default_run_dir

REPO = Path(__file__).resolve().parents[1]


def outputs(nb, kind):
    """Every output of the notebook holding mime type ``kind`` (or stream text for "stream")."""
    found = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if kind == "stream" and o.output_type == "stream":
                found.append(o.text)
            elif kind in o.get("data", {}):
                found.append(o.data[kind])
    return found


@pytest.fixture(scope="module")
def chain(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    params = {"dataset": "mnist", "data_root": str(data_root), "arch": "lenet5", "scale": "smoke",
              "flops_target": 0.5, "seed": 0, "device": "cpu",
              "run_dir": str(default_run_dir("mnist", "lenet5", "smoke", 0.5, 0, root / "runs")),
              "results_dirs": [str(root / "runs")]}
    return root, params


@pytest.fixture(scope="module")
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


def run_notebook(chain, name, **extra):
    root, params = chain
    path = notebooks.execute(name, root / "out", notebooks.parameters_for(name, {**params, **extra}))
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata["papermill"]["parameters"]["scale"] == "smoke"
    return nb


def test_coarse_training(chain):
    nb = run_notebook(chain, "01_coarse_training")
    assert len(outputs(nb, "image/png")) == 1
    assert "conv2" in outputs(nb, "text/html")[-1]  # the architecture table
    assert not any("widget-view" in key for c in nb.cells for o in c.get("outputs", []) for key in o.get("data", {}))


def test_sampler(chain):
    nb = run_notebook(chain, "02_sampler", draws=3)
    assert len(outputs(nb, "image/png")) == 3


def test_updater_is_exact(chain):
    nb = run_notebook(chain, "03_updater")
    assert any("bit-exact round trip and untouched remainder: True" in t for t in outputs(nb, "stream"))


def test_thresholds(chain):
    nb = run_notebook(chain, "04_thresholds")
    assert len(outputs(nb, "image/png")) == 1  # the policy's probabilities per layer


def test_search(chain):
    nb = run_notebook(chain, "05_search")
    assert len(outputs(nb, "image/png")) == 3
    glued = {k.split("/")[-1] for c in nb.cells for o in c.get("outputs", []) for k in o.get("data", {})
             if k.startswith("application/papermill.record")}
    assert glued  # the numbers the text quotes come from the run (myst-nb glue)


def test_finetune_export(chain):
    nb = run_notebook(chain, "06_finetune_export")
    assert any("reloaded export: test accuracy" in t for t in outputs(nb, "stream"))
    assert len(outputs(nb, "image/png")) == 2


def test_sensitivity(chain):
    nb = run_notebook(chain, "07_sensitivity")
    assert len(outputs(nb, "image/png")) == 1
    assert "accuracy drop" in outputs(nb, "text/html")[-1]


def test_explorer(chain):
    nb = run_notebook(chain, "08_explorer")
    html = "".join(outputs(nb, "text/html"))
    assert 'class="jst-explorer"' in html and "input type=\"range\"" in html
    data = json.loads(html.split("var D = ", 1)[1].split(";\n", 1)[0])
    assert len(data["states"]) == len(data["thresholds"]) ** len(data["groups"]) * len(data["sigmas"])
    assert len({tuple(v) for v in data["states"].values()}) > 1  # the controls change the sub-network
    assert "widgets" not in nb.metadata


@pytest.mark.two_processes
def test_imagenet_launcher(chain, tiny_grey_folder):
    """torchrun with two (gloo) processes on a small ImageFolder in ImageNet's layout (a small network keeps
    it quick: the launcher, the progress it follows and the cross-rank checks are under test here, the
    ImageNet ResNets in test_distributed.py)."""
    nb = run_notebook(chain, "09_imagenet_multigpu", imagenet_root=str(tiny_grey_folder),
                      imagenet_arch="resnet20", nproc=2)
    streams = outputs(nb, "stream")
    assert any("torch.distributed.run" in t or "torchrun" in t for t in streams)
    assert any("search step 2" in t for t in streams)  # progress followed from log.jsonl
    assert any("cross-rank checks over 2 processes" in t for t in streams)
    assert len(outputs(nb, "image/png")) == 1


def test_results_table(chain):
    nb = run_notebook(chain, "10_results")
    html = outputs(nb, "text/html")
    assert "lenet5" in html[0] and "test accuracy" in html[-1]  # all records; this chain's run


def test_baselines(chain):
    nb = run_notebook(chain, "11_baselines", methods=["jst", "l1norm", "dense"], seeds=[0, 1], flops_targets=[0.5],
                      baselines_out=str(chain[0] / "baselines"))
    assert len(outputs(nb, "image/png")) == 2  # accuracy vs FLOPs with seed spread; channels per layer
    assert "l1norm" in outputs(nb, "text/html")[0]


@pytest.mark.parametrize("dataset", ["cifar10-sample", "mnist", "tiny-grey"])
def test_search_notebook_on_other_data(data_root, tiny_grey_folder, tmp_path, dataset):
    """The search notebook alone (it runs coarse training itself): on the CIFAR-10 sample as an RGB
    ImageFolder (32 px), on MNIST (1 channel), and on a grey 8 px, 3-class ImageFolder."""
    roots = {"cifar10-sample": data_root / "cifar10-sample", "mnist": data_root, "tiny-grey": tiny_grey_folder}
    params = {"dataset": "mnist" if dataset == "mnist" else "imagefolder", "data_root": str(roots[dataset]),
              "arch": "lenet5" if dataset == "mnist" else "resnet20", "scale": "smoke", "device": "cpu",
              "run_dir": str(tmp_path / "run"), "overrides": {"max_train_samples": 300, "max_test_samples": 100}}
    nb = nbformat.read(str(notebooks.execute("05_search", tmp_path, params)), as_version=4)
    assert len(outputs(nb, "image/png")) == 3
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"] == params["dataset"] and config["data_root"] == params["data_root"]


def test_runner_cli_writes_executed_notebooks(chain, data_root, tmp_path):
    run_dir = chain[1]["run_dir"]  # the chain's finished run: nothing to train again
    proc = subprocess.run([sys.executable, "-m", "jst.book.notebooks", "--scale", "smoke", "--only", "10_results",
                           "--data-root", str(data_root), "--run-root", str(tmp_path / "runs"), "--device", "cpu",
                           "-p", f"run_dir={run_dir}", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=notebooks.REPO)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(str(tmp_path / "out" / "10_results.ipynb"), as_version=4)
    params = nb.metadata["papermill"]["parameters"]
    assert params["run_dir"] == run_dir and params["results_dirs"][1] == str(tmp_path / "runs")


def test_every_notebook_declares_the_common_parameters():
    for name in notebooks.NOTEBOOKS:
        names = notebooks.parameter_names(notebooks.SOURCE / f"{name}.ipynb")
        if name in notebooks.RECORD_CHAPTERS:  # renders committed records: their folder is its parameter
            assert names == {notebooks.RECORD_CHAPTERS[name]}, name
        else:
            assert {"dataset", "data_root", "arch", "scale", "flops_target", "seed", "device", "run_dir"} <= names, name
        nb = nbformat.read(str(notebooks.SOURCE / f"{name}.ipynb"), as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first_code.metadata.get("tags", []), name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name}: commit sources clean"


def test_performance_chapter_renders_the_committed_benchmarks(tmp_path):
    path = notebooks.execute("13_performance", tmp_path, {"benchmarks_dir": "benchmarks/results"})
    nb = nbformat.read(str(path), as_version=4)
    assert len(outputs(nb, "image/png")) == 7  # overhead, data path, search, speed-up, 2 op profiles, scaling
    assert not any("WARNING" in t for t in outputs(nb, "stream"))  # committed figures are measurements
    assert any("measured:" in t for t in outputs(nb, "stream"))  # the GPU section says what it had


def test_reproduction_chapter_renders_the_committed_records(tmp_path):
    path = notebooks.execute("12_reproduction", tmp_path, {"results_root": "results"})
    nb = nbformat.read(str(path), as_version=4)
    html = "\n".join(outputs(nb, "text/html"))
    assert "mnist-lenet5" in html and "font-weight: bold" in html  # a comparison table with its best marked
    assert "± " in html
    assert len(outputs(nb, "image/png")) >= 1  # at least one accuracy-vs-FLOPs figure
    # every verdict the reproduction notes paste from this chapter is glued here
    glued = {o.metadata["scrapbook"]["name"] for c in nb.cells for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    notes = (REPO / "book" / "reproduction_notes.md").read_text()
    pasted = set(re.findall(r"12_reproduction\.ipynb::([\w.]+):s`", notes))
    assert len(pasted) == 36 and pasted <= glued
