"""Extraction, masking and the updater."""
import pytest
import torch

from jst.core.filter_weights import filter_weights, init_filter_weights
from jst.core.sampler import sample
from jst.core.updater import write_back
from jst.nets.models import build_model
from jst.nets.prunable import full_keep, widths
from jst.nets.subnetwork import extract, mask, masked, masking_is_exact

ARCHS = [("lenet5", 1, 28), ("lenet300", 1, 28), ("resnet20", 3, 32), ("vgg16", 3, 32), ("resnet18", 3, 32),
         ("resnet50", 3, 32)]


def _target(arch, c, size, gate="after_bn"):
    model = build_model(arch, 10, c, size, gate=gate)
    init_filter_weights(model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return model.eval()


def _keep(model, seed=0, tau=0.7):
    alphas = filter_weights(model)
    return sample(alphas, {k: tau for k in alphas}, 0.05, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch,c,size", ARCHS)
def test_keeping_every_filter_computes_the_target(arch, c, size):
    model = _target(arch, c, size)
    sub = extract(model, full_keep(model)).eval()
    x = torch.randn(4, c, size, size)
    assert torch.equal(sub(x), model(x))


@pytest.mark.parametrize("arch,c,size", ARCHS)
def test_extraction_is_physically_smaller_and_equals_the_masked_target(arch, c, size):
    model = _target(arch, c, size)
    keep = _keep(model)
    sub = extract(model, keep).eval()
    assert widths(sub) == {k: len(v) for k, v in keep.items()}
    assert sum(p.numel() for p in sub.parameters()) < sum(p.numel() for p in model.parameters())
    x = torch.randn(4, c, size, size)
    torch.testing.assert_close(sub(x), mask(model, keep).eval()(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch,c,size", ARCHS)
def test_write_back_then_extract_round_trips(arch, c, size):
    target = _target(arch, c, size)
    keep = _keep(target, seed=3)
    sub = extract(target, keep)
    with torch.no_grad():  # "train" the sub-network: every tensor changes
        for t in sub.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    write_back(target, sub, keep)
    again = extract(target, keep)
    for k, v in sub.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k
    # entries of dropped filters are untouched
    for layer in target.prunable_layers():
        key = f"{layer.norm}.alpha"
        dropped = torch.ones(before[key].numel(), dtype=torch.bool)
        dropped[keep[layer.name]] = False
        assert torch.equal(target.state_dict()[key][dropped], before[key][dropped])


def test_mask_zeroes_only_dropped_filter_weights():
    model = _target("resnet20", 3, 32)
    keep = _keep(model)
    masked = mask(model, keep)
    for name, alpha in filter_weights(masked).items():
        kept = torch.zeros_like(alpha, dtype=torch.bool)
        kept[keep[name]] = True
        assert torch.all(alpha[~kept] == 0)
        assert torch.equal(alpha[kept], filter_weights(model)[name][kept])


@pytest.mark.parametrize("arch,c,size", ARCHS)
def test_masking_in_place_computes_the_masked_copy_and_restores_the_target(arch, c, size):
    model = _target(arch, c, size)
    keep = _keep(model, seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, c, size, size)
    with torch.no_grad(), masked(model, keep) as m:
        in_place = m(x)
    assert torch.equal(in_place, mask(model, keep).eval()(x))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_masking_restores_the_target_when_the_body_fails():
    model = _target("lenet5", 1, 28)
    before = {k: v.clone() for k, v in filter_weights(model).items()}
    with pytest.raises(RuntimeError), masked(model, _keep(model)):
        raise RuntimeError
    assert all(torch.equal(v, before[k]) for k, v in filter_weights(model).items())


def test_masking_is_exact_only_with_the_filter_weight_after_batch_norm():
    assert masking_is_exact(_target("resnet20", 3, 32))
    assert not masking_is_exact(_target("resnet20", 3, 32, gate="before_bn"))
