"""The threshold explorer, the sensitivity analysis and the notebooks' helpers (run folder, analyses, results
tables), on a small target network, real MNIST digits and the committed run records."""
from pathlib import Path

import torch

from jst.book.analyses import updater_roundtrip
from jst.book.explorer import Explorer, group_layers
from jst.book.results import collect_results, result_table, widths_by_method
from jst.book.run import open_run
from jst.core.filter_weights import filter_weights, fold, init_filter_weights
from jst.engine.context import Context
from jst.engine.data import Splits, load
from jst.experiments.sensitivity import ranking, sensitivity
from jst.nets.flops import count_params
from jst.nets.models import build_model
from jst.nets.prunable import widths
from jst.nets.subnetwork import extract, mask, masked
from jst.report.records import read_record

COMPARE = Path(__file__).resolve().parents[1] / "results" / "compare" / "mnist-lenet5-cpu"


class Batches:
    """A minimal data source (what jst.engine.train.evaluate and the updater check iterate)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def batches(self, batch_size, train=False, generator=None, device="cpu"):
        for i in range(0, len(self.y), batch_size):
            yield self.x[i:i + batch_size].to(device), self.y[i:i + batch_size].to(device)


def target(seed=0):
    torch.manual_seed(seed)
    model = build_model("lenet5", 10, 1, 28, gate="after_bn")
    init_filter_weights(model, "kaiming_normal", torch.Generator().manual_seed(seed))
    return model.eval()


def batch(n=64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_explorer_measures_the_extracted_subnetwork():
    model, (x, y) = target(), batch()
    ex = Explorer(model, (x, y), (1, 28, 28))
    for values, sigma in (([0.6, 0.7, 0.8, 0.75], 0.0), ([0.8, 0.6, 0.65, 0.7], 0.2)):
        taus = ex.layer_taus(values)
        m = ex.measure(taus, sigma)
        sub = extract(model, ex.keep(taus, sigma)).eval()
        with torch.no_grad():
            acc = (sub(x).argmax(1) == y).float().mean().item()
        assert abs(m["acc"] - acc) < 1e-6
        assert m["params"] == count_params(sub)
        assert m["widths"] == {k: len(v) for k, v in ex.keep(taus, sigma).items()}
    assert torch.equal(filter_weights(model)["conv1"], filter_weights(target())["conv1"])  # restored


def test_in_place_masking_copy_masking_and_extraction_agree_on_real_data(data_root):
    """The explorer's in-place masking computes the logits ``mask`` computes (bit for bit) and ``extract``
    computes (to rounding), on real MNIST digits, and leaves the target as it was."""
    splits = load("mnist", data_root, max_train_samples=300, max_test_samples=100)
    x, y = next(splits.val.batches(32, train=False))
    model = target()
    ex = Explorer(model, (x, y), splits.info.input_shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for values, sigma in (([0.6, 0.7, 0.8, 0.75], 0.0), ([0.8, 0.6, 0.65, 0.7], 0.2)):
        taus = ex.layer_taus(values)
        keep = ex.keep(taus, sigma)
        with torch.no_grad():
            with masked(model, keep) as m:
                in_place = m(x)
            copied, extracted = mask(model, keep).eval()(x), extract(model, keep).eval()(x)
        assert torch.equal(in_place, copied)
        torch.testing.assert_close(extracted, in_place, rtol=1e-5, atol=1e-5)
        assert ex.measure(taus, sigma)["acc"] == (in_place.argmax(1) == y).float().mean().item()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_explorer_grid_and_static_page():
    ex = Explorer(target(), batch(), (1, 28, 28), thresholds=(0.6, 0.7, 0.8), sigmas=(0.0, 0.3), budget=0.5)
    assert list(ex.groups) == ["conv1", "conv2", "fc1", "fc2"]   # one control per prunable layer of LeNet-5
    grid = ex.grid()
    assert len(grid) == 3 ** len(ex.groups) * 2 * 2   # x 2: with and without the budget projection
    low, high = grid["0,0,0,0|0|0"], grid["2,2,2,2|0|0"]
    assert low[1] < high[1] and low[2] < high[2]  # higher thresholds keep more FLOPs and parameters
    for state in ("0,0,0,0|0|1", "2,1,0,1|1|1"):   # projected: every draw lands within 2% under the budget
        assert 0.5 * 0.98 <= grid[state][1] <= 0.5
    html = ex.static_html()
    assert html.count('type="range"') == len(ex.groups) + 1 and "http" not in html.replace("http://www.w3.org", "")
    assert '"budget":0.5' in html and "one standard error" in html and 'class": "budget"' in html
    assert html.count('data-project="1"') == 1


def test_the_summary_marks_the_budget_and_the_noise_of_the_accuracy():
    from jst.book.explorer import _summary, standard_error
    m = {"flops_ratio": 0.55, "params": 1000, "params_ratio": 0.5, "acc": 0.9}
    assert "<b>over</b> the budget of 50%" in _summary(m, 256, 0.5)
    assert "within the budget of 60%" in _summary(m, 256, 0.6)
    assert abs(standard_error(0.9, 256) - 0.01875) < 1e-12   # sqrt(0.9 x 0.1 / 256): 1.9 points on 256 images
    assert "&plusmn; 1.9% (one standard error)" in _summary(m, 256, None)


def test_live_widget_reacts_to_its_sliders():
    ex = Explorer(target(), batch(), (1, 28, 28))
    ui = ex.widget()
    sliders, text = ui.children[0].children[0].children, ui.children[1]
    before = text.value
    sliders[0].value = ex.thresholds[0]
    assert text.value != before


def test_slider_groups():
    assert list(group_layers(["a", "b"])) == ["a", "b"]
    stages = group_layers([f"layer{i}.{j}.conv1" for i in (1, 2, 3) for j in range(3)])
    assert list(stages) == ["layer1", "layer2", "layer3"]
    chunks = group_layers([f"features.{i}" for i in range(13)])
    assert len(chunks) == 4 and sum(len(v) for v in chunks.values()) == 13
    assert list(group_layers(["conv1", "conv2", "fc1", "fc2"])) == ["conv1", "conv2", "fc1", "fc2"]


def test_sensitivity_prunes_one_layer_at_a_time():
    model, (x, y) = fold(target()), batch(128)
    df = sensitivity(model, Batches(x, y), fractions=(0.5, 0.9))
    assert set(df["layer"]) == {"conv1", "conv2", "fc1", "fc2"} and len(df) == 8
    row = df[(df.layer == "fc1") & (df["fraction pruned"] == 0.9)].iloc[0]
    assert row["filters kept"] == 12 and row["filters"] == 120
    assert (df["accuracy drop"] == df.attrs["base_acc"] - df["val_acc"]).all()
    assert list(ranking(df, 0.5)["fraction pruned"].unique()) == [0.5]


def test_updater_roundtrip_is_bit_exact():
    model, (x, y) = target(), batch(128)
    keep = {"conv1": torch.tensor([0, 2, 5]), "conv2": torch.arange(0, 16, 2), "fc1": torch.arange(60),
            "fc2": torch.arange(84)}
    checks, updated = updater_roundtrip(model.train(), keep, Batches(x, y), batches=2)
    assert checks["bit-exact round trip"].all() and (checks["entries changed outside kept"] == 0).all()
    assert checks["pruned"].any() and (~checks["pruned"]).any()
    assert not torch.equal(updated.conv1.weight, model.conv1.weight)  # training changed the kept rows
    assert torch.equal(updated.conv1.weight[1], model.conv1.weight[1])  # a dropped filter is untouched


def test_a_notebook_run_is_a_context(data_root, tmp_path):
    run = open_run("mnist", str(data_root), device="cpu", run_dir=str(tmp_path / "run"),
                   overrides={"max_train_samples": 200, "max_test_samples": 100})
    ctx: Context = run
    assert isinstance(ctx.splits, Splits) and ctx.device == torch.device("cpu")
    assert run.layers() == ["conv1", "conv2", "fc1", "fc2"] and run.result() is None
    assert widths(run.target("init")) == run.flops.dense_widths


def test_results_tables_read_the_committed_records():
    record = read_record(COMPARE / "jst-f0.5-s0")
    table = collect_results([COMPARE])
    assert len(table) == len(list(COMPARE.glob("*/result.json")))
    row = table[table["record"] == str(record.folder)].iloc[0]
    assert row["test acc"] == record.pruned.test_acc and row["FLOPs kept"] == record.pruned.flops_ratio
    dense_vs_pruned = result_table(record)
    assert dense_vs_pruned.loc["FLOPs", "pruned"] == record.pruned.flops
    assert dense_vs_pruned.loc["test accuracy", "coarse-trained target"] == record.dense.test_acc  # JST's "dense"
    assert list(result_table(read_record(COMPARE / "l1norm-f0.5-s0")).columns)[0] == "dense network"
    kept, dense = widths_by_method(COMPARE, 0.5, 0)
    assert kept["jst"] == record.pruned.widths and dense == record.dense.widths and "dense" not in kept
