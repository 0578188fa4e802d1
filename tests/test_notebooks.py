"""Every notebook executes with papermill at smoke scale on real data, chained through one run folder
(the notebooks that stand alone are in test_notebooks_standalone.py, so the two files share the workers)."""
import base64
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_helpers import outputs

from jst.book import notebooks
from jst.book.run import default_run_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chain(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    params = {"dataset": "mnist", "data_root": str(data_root), "arch": "lenet5", "scale": "smoke",
              "flops_target": 0.5, "seed": 0, "device": "cpu",
              "run_dir": str(default_run_dir("mnist", "lenet5", "smoke", 0.5, 0, root / "runs")),
              "results_dirs": [str(root / "runs")]}
    return root, params


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
    nb = run_notebook(chain, "08_explorer", val_images=64, sigmas=[0.0, 0.2], thresholds=[0.6, 0.8])   # 2^4 x 2 x 2
    html = "".join(outputs(nb, "text/html"))
    assert 'class="jst-explorer"' in html and "input type=\"range\"" in html
    data = json.loads(html.split("var D = ", 1)[1].split(";\n", 1)[0])
    assert len(data["states"]) == len(data["thresholds"]) ** len(data["groups"]) * len(data["sigmas"]) * 2
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
    link, overview, run = html[0], html[1], html[-1]
    assert "lenet5" in overview and "made by these notebooks" in overview   # one row per folder of records
    assert "test accuracy" in run and "coarse-trained target" in run          # this chain's run, named for what it is
    rows = base64.b64decode(link.split("base64,", 1)[1].split('"', 1)[0]).decode().splitlines()
    assert rows[0].startswith("dataset,arch,method")
    assert len(rows) == 1 + len(list((chain[0] / "runs").rglob("result.json")))   # one row per record


def test_baselines(chain):
    nb = run_notebook(chain, "11_baselines", methods=["jst", "l1norm", "dense"], seeds=[0, 1], flops_targets=[0.5],
                      baselines_out=str(chain[0] / "baselines"))
    assert len(outputs(nb, "image/png")) == 2  # accuracy vs FLOPs with seed spread; channels per layer
    assert "l1norm" in outputs(nb, "text/html")[0]


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
