"""Network Slimming (Liu et al. 2017): L1 sub-gradient on BN scales sized to the run, global threshold, the
evidence that the scales separated, end to end on real MNIST."""
from types import SimpleNamespace

import pytest
import torch

from jst.config import make_config
from jst.engine.train import lr_at
from jst.methods.common import optimizer_hooks
from jst.methods.slimming import l1_strength, separation
from jst.nets.budget import BUDGET_TOLERANCE, floor_of, keep_global
from jst.nets.flops import FlopsModel
from jst.nets.models import build_model

# A smoke run is one epoch of ~23 steps: too few for any lambda to separate the scales without wrecking
# the network. A few more epochs of the same 1,500 images let the penalty act (a few seconds).
SEPARATING = dict(coarse_epochs=4)


@pytest.fixture(scope="module")
def slimming_run(smoke_method):
    return smoke_method("slimming", flops_target=0.5, **SEPARATING)


def test_runs_end_to_end_within_budget(slimming_run, exported_accuracy):
    r, out = slimming_run
    # one LeNet-5 conv1 channel is ~14% of its FLOPs
    assert r["meets_budget"] and 0.3 < r["pruned"]["flops_ratio"] <= 0.5 * 1.05
    assert r["dense"]["source"].startswith("the sparsity-trained")
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"] > 0.5


def test_sparsity_hook_adds_the_l1_subgradient():
    gamma = torch.nn.Parameter(torch.tensor([0.5, -0.5, 0.2]))
    opt = torch.optim.SGD([gamma], lr=0.1)
    lam = 0.01
    with optimizer_hooks(pre=lambda o: gamma.grad.add_(lam * torch.sign(gamma))):
        gamma.grad = torch.zeros(3)
        opt.step()
    assert torch.allclose(gamma, torch.tensor([0.5 - 0.001, -0.5 + 0.001, 0.2 - 0.001]))
    gamma.grad = torch.zeros(3)
    opt.step()                                    # outside the block: no hook any more
    assert torch.allclose(gamma, torch.tensor([0.499, -0.499, 0.199]))


def test_global_threshold_is_the_lowest_within_budget():
    model = build_model("lenet5", 10, 1, 28)
    flops = FlopsModel(model, (1, 28, 28))
    g = torch.Generator().manual_seed(0)
    scores = {n: torch.rand(w, generator=g) for n, w in flops.dense_widths.items()}
    keep, t = keep_global(scores, flops, 0.4)
    assert flops.ratio(keep) <= 0.4
    for n, k in keep.items():
        assert bool((scores[n][k] > t).all()) or len(k) == 1
    lower = max(v for s in scores.values() for v in s.tolist() if v < t)   # one more channel kept
    more = {n: int((s > lower - 1e-12).sum()) for n, s in scores.items()}
    assert flops.flops({n: max(1, w) for n, w in more.items()}) / flops.total > 0.4


def test_scaled_lambda_reaches_the_stated_drift():
    cfg = make_config("cpu", "lenet5", slimming_shrinkage=2.0, coarse_epochs=5, batch_size=100)
    ctx = SimpleNamespace(cfg=cfg, splits=SimpleNamespace(full_train=range(1000)))      # 10 steps an epoch
    lam = l1_strength(ctx)
    drift = sum(10 * lr_at("cosine", cfg.coarse_lr, e, 5) for e in range(5)) * lam / (1 - cfg.momentum)
    assert drift == pytest.approx(2.0)
    cfg.slimming_lambda_schedule = "fixed"
    assert l1_strength(ctx) == cfg.slimming_lambda


def test_separation_tells_two_groups_from_one():
    g = torch.Generator().manual_seed(0)
    live, dead = 0.5 + torch.rand(60, generator=g), 1e-3 * torch.rand(40, generator=g)
    two = {"a": torch.cat([live[:30], dead[:20]]), "b": torch.cat([live[30:], dead[20:]])}
    keep = {n: torch.arange(30) for n in two}
    m = separation(two, keep)
    assert m["acted"] and m["bimodality"] > 5 / 9 and m["median_ratio_removed_to_kept"] < 0.01
    assert m["removed_near_zero_share"] == 1.0
    one = {"a": torch.rand(50, generator=g), "b": torch.rand(50, generator=g)}
    keep = {n: torch.topk(s, 25).indices for n, s in one.items()}
    assert not separation(one, keep)["acted"]
    # too strong: most channels were zeroed, so the threshold picks among dead scales (kept ones near zero too)
    # (zeroed scales spread over orders of magnitude, as a run's do: 1e-6 to 1e-2)
    dead = {"a": torch.cat([live[:10], 10 ** (-6 + 4 * torch.rand(40, generator=g))])}
    m = separation(dead, {"a": torch.topk(dead["a"], 30).indices})
    assert m["bimodality"] > 5 / 9 and m["kept_near_zero_share"] > 0.5 and not m["acted"]
    assert "dead channels" in m["reason"]
    # a spike at zero beside a spread of live scales: the penalty chose the removed ones, however unimodal
    # Sarle's coefficient reads it
    spike = {"a": torch.cat([0.02 + 1.5 * torch.rand(46, generator=g), 10 ** (-6 + 4 * torch.rand(54, generator=g))])}
    m = separation(spike, {"a": torch.arange(46)})
    assert m["acted"] and m["mechanism_share"] == 1.0 and m["kept_near_zero_share"] == 0.0


def test_the_penalty_separates_the_scales_and_the_run_meets_the_budget(slimming_run):
    """The L1 penalty sized to the run drives the removed channels' scales to near zero: the threshold
    falls in a gap, the run lands within +-2% of the target and no layer goes under its floor."""
    r, _ = slimming_run
    m = r["mechanism"]
    assert m["acted"] and m["mechanism_share"] >= 0.5 and m["kept_near_zero_share"] < 0.5
    assert m["median_ratio_removed_to_kept"] < 0.1
    assert abs(r["budget"]["relative_error"]) <= BUDGET_TOLERANCE
    for name, width in r["dense"]["widths"].items():
        assert r["pruned"]["widths"][name] >= floor_of(width, r["config"]["layer_floor"], 1)
