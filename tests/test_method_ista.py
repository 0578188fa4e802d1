"""ISTA on BN scales (Ye et al. 2018): proximal step, memory-cost penalty, gamma-W rescaling, folding of
constant channels, the penalty sized to the run, and the method end to end on real MNIST (the proximal step
reaching the budget itself, and the paper's fixed rho falling back on the closing step)."""
import copy

import pytest
import torch

from jst.config import make_config
from jst.methods.ista import fold_constant_channels, memory_costs, proximal_step, rescale, rho_scale
from jst.nets.budget import BUDGET_TOLERANCE, fill_in_order, floor_of
from jst.nets.flops import FlopsModel
from jst.nets.models import build_model
from jst.nets.subnetwork import extract


@pytest.fixture(scope="module")
def ista_run(smoke_method):
    return smoke_method("ista", flops_target=0.5)


@pytest.fixture(scope="module")
def ista_fc_run(data_root, tmp_path_factory):
    """ISTA at smoke scale on LeNet-300-100: its channels are small, so the penalty can land within +-2% of
    the target (LeNet-5's conv2 channels are ~4% of its FLOPs each, and the penalty takes them first)."""
    from jst.engine.pipeline import run
    cfg = make_config("smoke", "lenet300", method="ista", dataset="mnist", data_root=str(data_root),
                      flops_target=0.5, seed=0, device="cpu")
    out = tmp_path_factory.mktemp("ista_fc") / "run"
    return run(cfg, out), out


def test_proximal_step_zeroes_small_scales_exactly():
    g = torch.tensor([0.5, -0.03, 0.01, -0.8, 0.05])
    proximal_step(g, 0.05)
    assert g.tolist()[1:3] == [0.0, 0.0] and g[4].item() == 0.0          # |gamma| <= threshold: exactly 0
    assert torch.allclose(g[[0, 3]], torch.tensor([0.45, -0.75]))        # the others shrink toward 0


def test_memory_cost_of_lenet5_channels():
    costs = memory_costs(build_model("lenet5", 10, 1, 28), (1, 28, 28))
    assert costs["conv1"] == pytest.approx((28 * 28 + 5 * 5 * 1 + 5 * 5 * 16) / 784)
    assert costs["conv2"] == pytest.approx((10 * 10 + 5 * 5 * 6 + 25 * 120) / 784)   # fc1 reads 5x5 per channel
    assert costs["fc1"] == pytest.approx((1 + 400 + 84) / 784)


def _random_lenet(seed=0):
    torch.manual_seed(seed)
    model = build_model("lenet5", 10, 1, 28)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.weight.normal_()
                m.bias.normal_()
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.bias.normal_(0, 0.1)
    return model.eval()


def test_gamma_w_rescaling_keeps_the_function():
    model = _random_lenet()
    x = torch.randn(8, 1, 28, 28)
    before = model(x)
    rescale(model, 0.01)
    assert torch.allclose(model(x), before, atol=1e-4)


@torch.no_grad()
def test_folding_constant_channels_keeps_outputs_without_padding():
    """LeNet-5's consumers read without zero padding (conv2 of conv1, fc1 of conv2 through the flatten,
    fc2 of fc1): removing zero-scale channels after folding their constant must not change outputs."""
    model = _random_lenet(1)
    modules = dict(model.named_modules())
    for norm, dead in (("bn1", [0, 3]), ("bn2", [1, 2, 7, 15]), ("bn3", list(range(0, 120, 3))), ("bn4", [5])):
        modules[norm].weight[dead] = 0.0
    x = torch.randn(16, 1, 28, 28)
    before = model(x)
    folded = copy.deepcopy(model)
    keep = fold_constant_channels(folded)
    small = extract(folded, keep).eval()
    assert [len(k) for k in keep.values()] == [4, 12, 80, 83]
    assert (small(x) - before).abs().max().item() < 1e-5
    naive = extract(model, keep).eval()                 # removing without folding does change them
    assert (naive(x) - before).abs().max().item() > 1e-3


def test_runs_end_to_end_within_budget(ista_run, exported_accuracy):
    r, out = ista_run
    d = r["method_details"]
    assert r["meets_budget"] and 0.3 < r["pruned"]["flops_ratio"] <= 0.5 * 1.05
    assert d["ista_steps"] > 0 and r["dense"]["source"].startswith("none")
    assert (d["budget_reached_at_step"] is None) != (d["closing_proximal_step"] is None)
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"]


def test_a_strong_fixed_penalty_reaches_the_budget_during_training(smoke_method):
    r, _ = smoke_method("ista", flops_target=0.5, ista_rho_schedule="fixed", ista_rho_warmup=2.0, ista_rho=2.0)
    d = r["method_details"]
    assert d["budget_reached_at_step"] is not None and d["closing_proximal_step"] is None
    assert 0 < d["budget_reached_at_step"] < d["ista_steps"] and d["channels_zeroed_by_ista"] > 0
    assert r["meets_budget"]


def test_scaled_rho_reaches_the_stated_total_shrinkage():
    cfg = make_config("cpu", "lenet5", ista_shrinkage=5.0, ista_warmup_steps=100)
    costs = {"a": 1.0, "b": 3.0}
    scale = rho_scale(cfg, 1000, costs)
    total = cfg.ista_lr * scale * (cfg.ista_rho_warmup * 100 + cfg.ista_rho * 900) * 2.0   # mean lambda_l = 2
    assert total == pytest.approx(5.0)
    cfg.ista_rho_schedule = "fixed"
    assert rho_scale(cfg, 1000, costs) == 1.0


def test_fill_adds_the_best_channels_that_still_fit():
    """A channel too costly for what is left of the budget is skipped, cheaper ones after it still go in."""
    flops = FlopsModel(build_model("lenet5", 10, 1, 28), (1, 28, 28))
    widths = {"conv1": 5, "conv2": 8, "fc1": 120, "fc2": 84}
    budget = flops.flops(widths) / flops.total
    widths["fc1"] = 60
    order = [("conv1", 5)] + [("fc1", i) for i in range(60, 120)] + [("conv2", 8)]
    added = fill_in_order(widths, order, flops, budget)
    assert added == order[1:61] and widths["fc1"] == 120 and flops.flops(widths) / flops.total == budget


@pytest.mark.parametrize("which", ["ista_run", "ista_fc_run"])
def test_the_proximal_step_alone_reaches_the_budget(which, request):
    """The default (rho sized to the run): the penalty zeroes the channels and stops at the budget; the
    closing step removes nothing and no layer goes under its floor. LeNet-300-100 lands within +-2% of the
    target; LeNet-5 at most the target (its penalty zeroes only conv2 channels here, ~4% of the FLOPs each)."""
    r, _ = request.getfixturevalue(which)
    m, d = r["mechanism"], r["method_details"]
    assert m["acted"] and m["removed_by_mechanism"] > 0 and m["mechanism_share"] == 1.0
    assert d["closing_proximal_step"] is None and d["budget_reached_at_step"] is not None
    assert sum(v["removed_by_closing"] for v in m["per_layer"].values()) == 0
    assert r["meets_budget"]
    if which == "ista_fc_run":
        assert abs(r["budget"]["relative_error"]) <= BUDGET_TOLERANCE and r["budget"]["within_tolerance"]
    for name, width in r["dense"]["widths"].items():
        assert r["pruned"]["widths"][name] >= floor_of(width, r["config"]["layer_floor"], 1)
        assert m["per_layer"][name]["kept"] == r["pruned"]["widths"][name]


def test_the_papers_fixed_rho_is_too_weak_for_a_short_run_and_says_so(smoke_method):
    """The paper's rho over a smoke run's few dozen steps zeroes nothing: the closing step does the pruning,
    and the mechanism section labels the run a fallback."""
    r, _ = smoke_method("ista", flops_target=0.5, ista_rho_schedule="fixed")
    m = r["mechanism"]
    assert not m["acted"] and m["removed_by_mechanism"] == 0 and m["removed"] > 0
    assert r["method_details"]["closing_proximal_step"] is not None and r["meets_budget"]
