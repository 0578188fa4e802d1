"""FLOPs against hand counts, and the per-width estimator against flop_counter."""
import pytest
import torch

from jst.core.filter_weights import filter_weights, init_filter_weights
from jst.core.sampler import sample
from jst.nets.flops import FlopsModel, count
from jst.nets.models import build_model
from jst.nets.subnetwork import extract


def test_lenet5_matches_a_hand_count():
    macs = (28 * 28 * 6 * 1 * 25          # conv1 5x5, padding 2, 28x28 output
            + 10 * 10 * 16 * 6 * 25       # conv2 5x5, 10x10 output
            + 16 * 5 * 5 * 120 + 120 * 84 + 84 * 10)
    params = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10) \
        + 2 * (6 + 16 + 120 + 84)  # batch-norm affine
    c = count(build_model("lenet5", 10, 1, 28), (1, 28, 28))
    assert c["macs"] == macs == 416_520
    assert c["flops"] == 2 * macs
    assert c["params"] == params


def test_resnet20_matches_a_hand_count():
    def conv(hw, cout, cin):
        return hw * hw * cout * cin * 9
    macs = (conv(32, 16, 3)
            + 6 * conv(32, 16, 16)
            + conv(16, 32, 16) + 5 * conv(16, 32, 32)
            + conv(8, 64, 32) + 5 * conv(8, 64, 64)
            + 64 * 10)
    c = count(build_model("resnet20", 10, 3, 32), (3, 32, 32))
    assert c["macs"] == macs == 40_551_040
    assert c["params"] == 269_722   # 0.27M, He et al. 2016 Table 6


def test_filter_weights_are_not_counted_as_parameters():
    plain = count(build_model("resnet20", 10, 3, 32), (3, 32, 32))
    gated = count(build_model("resnet20", 10, 3, 32, gate="after_bn"), (3, 32, 32))
    assert plain == gated


@pytest.mark.parametrize("arch,c,size", [("lenet5", 1, 28), ("resnet20", 3, 32), ("vgg16", 1, 28), ("resnet50", 3, 64)])
def test_estimator_equals_flop_counter_on_extracted_networks(arch, c, size):
    model = build_model(arch, 10, c, size, gate="after_bn").eval()
    init_filter_weights(model, generator=torch.Generator().manual_seed(0))
    estimator = FlopsModel(model, (c, size, size))
    assert estimator.total == count(model, (c, size, size))["flops"]
    alphas = filter_weights(model)
    for seed, tau in [(0, 0.6), (1, 0.8), (2, 0.95)]:
        keep = sample(alphas, {k: tau for k in alphas}, 0.3, torch.Generator().manual_seed(seed))
        sub = extract(model, keep)
        assert estimator.flops({k: len(v) for k, v in keep.items()}) == count(sub, (c, size, size))["flops"]
