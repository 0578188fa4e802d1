"""Network Slimming (Liu et al. 2017): L1 sub-gradient on BN scales, global threshold, end to end."""
import pytest
import torch

from jst.methods.common import optimizer_hooks
from jst.nets.budget import keep_global
from jst.nets.flops import FlopsModel
from jst.nets.models import build_model


@pytest.fixture(scope="module")
def slimming_run(smoke_method):
    return smoke_method("slimming", flops_target=0.5)


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
