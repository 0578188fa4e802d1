"""Folding filter weights into BN and the pickle-free export."""
import pytest
import torch

from jst.core.filter_weights import filter_weights, fold, init_filter_weights
from jst.core.sampler import sample
from jst.engine.data import DataInfo
from jst.engine.errors import CheckpointError
from jst.nets.export import load_exported, save_exported
from jst.nets.models import build_model
from jst.nets.models.gated import is_gated
from jst.nets.subnetwork import extract, mask


def _trained_like(arch, c, size, gate):
    model = build_model(arch, 10, c, size, gate=gate)
    init_filter_weights(model, generator=torch.Generator().manual_seed(1))
    model.train()
    with torch.no_grad():
        for _ in range(3):  # populate BN running statistics
            model(torch.randn(16, c, size, size))
    return model.eval()


@pytest.mark.parametrize("gate", ["after_bn", "before_bn"])
@pytest.mark.parametrize("arch,c,size", [("lenet5", 1, 28), ("resnet20", 3, 32), ("vgg16", 3, 32), ("resnet50", 3, 32)])
def test_folding_is_exact(arch, c, size, gate):
    model = _trained_like(arch, c, size, gate)
    plain = fold(model).eval()
    assert not any(is_gated(m) for m in plain.modules())
    assert not any(n.endswith(".alpha") for n, _ in plain.named_parameters())
    x = torch.randn(8, c, size, size)
    torch.testing.assert_close(plain(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch,c,size",
                         [("lenet5", 1, 28), ("resnet20", 3, 32), ("lenet300", 1, 28), ("resnet18", 3, 32)])
def test_exported_network_equals_the_masked_gated_network(tmp_path, arch, c, size):
    target = _trained_like(arch, c, size, "after_bn")
    alphas = filter_weights(target)
    keep = sample(alphas, {k: 0.7 for k in alphas}, 0.05, torch.Generator().manual_seed(0))
    info = DataInfo("test", c, size, 10, (0.5,) * c, (0.25,) * c, [str(i) for i in range(10)])
    save_exported(fold(extract(target, keep)), tmp_path, arch=arch, info=info)
    exported = load_exported(tmp_path)
    x = torch.randn(8, c, size, size)
    torch.testing.assert_close(exported(x), mask(target, keep).eval()(x), rtol=1e-5, atol=1e-5)
    assert {p.name for p in tmp_path.iterdir()} == {"model.json", "model.safetensors"}


def test_export_refuses_a_network_with_filter_weights(tmp_path):
    model = build_model("lenet5", 10, 1, 28, gate="after_bn")
    info = DataInfo("test", 1, 28, 10, (0.5,), (0.25,), [])
    with pytest.raises(ValueError):
        save_exported(model, tmp_path, arch="lenet5", info=info)


def test_the_architecture_loads_from_model_json_alone(tmp_path):
    target = _trained_like("resnet20", 3, 32, "after_bn")
    alphas = filter_weights(target)
    keep = sample(alphas, {k: 0.7 for k in alphas}, 0.05, torch.Generator().manual_seed(0))
    info = DataInfo("test", 3, 32, 10, (0.5,) * 3, (0.25,) * 3, [str(i) for i in range(10)])
    save_exported(fold(extract(target, keep)), tmp_path, arch="resnet20", info=info)
    trained = load_exported(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    shape_only = load_exported(tmp_path, weights=False)
    assert [(n, p.shape) for n, p in shape_only.named_parameters()] == \
        [(n, p.shape) for n, p in trained.named_parameters()]
    with pytest.raises(CheckpointError):  # the trained network needs its weights
        load_exported(tmp_path)
