"""The notebooks that need no chained run folder: the search notebook on other data (the CIFAR-10 sample as an
RGB ImageFolder, MNIST, a grey 8 px ImageFolder), the parameters every notebook declares, and the two
chapters that render committed records and benchmarks."""
import json
import re
from pathlib import Path

import nbformat
import pytest
from notebook_helpers import outputs

from jst.book import notebooks

REPO = Path(__file__).resolve().parents[1]


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
        setup = [c for c in nb.cells if c.cell_type == "code"][1]   # imports and the run: hidden behind a toggle
        assert "hide-input" in setup.metadata.get("tags", []), name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name}: commit sources clean"


def test_the_book_shows_the_parameters_a_page_ran_with_once():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('scale = "smoke"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('# Parameters\nscale = "cpu"\n', metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("run = 1")])
    nb.metadata["papermill"] = {"parameters": {"scale": "cpu", "seed": 0}}
    for _ in range(2):   # idempotent: a re-processed notebook still shows one line
        notebooks.show_parameters_once(nb)
    assert [("remove-cell" in c.metadata.get("tags", [])) for c in nb.cells] == [True, True, False, False]
    ran = [c for c in nb.cells if "ran-with" in c.metadata.get("tags", [])]
    assert len(ran) == 1 and ran[0].source == "*Ran with* `scale = 'cpu'` &middot; `seed = 0`"
    defaults = nbformat.v4.new_notebook(cells=[   # nothing injected: the cell's own values, without comments
        nbformat.v4.new_code_cell('folder = "results"   # where\nn = 3', metadata={"tags": ["parameters"]})])
    notebooks.show_parameters_once(defaults)
    assert defaults.cells[1].source == '*Ran with* `folder = "results"` &middot; `n = 3`'


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
    assert len(pasted) == 68 and pasted <= glued
