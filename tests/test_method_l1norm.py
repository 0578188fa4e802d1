"""L1-norm filter pruning (Li et al. 2017): end to end on real MNIST, and the uniform budget search."""
import pytest
import torch

from jst.nets.budget import keep_uniform
from jst.nets.flops import FlopsModel
from jst.nets.importance import l1_norm
from jst.nets.models import build_model


@pytest.fixture(scope="module")
def l1norm_run(smoke_method):
    return smoke_method("l1norm", flops_target=0.5)


def test_runs_end_to_end_within_budget(l1norm_run):
    r, _ = l1norm_run
    assert r["method"] == "l1norm" and r["meets_budget"]
    assert r["budget"]["within_tolerance"] and r["pruned"]["flops_ratio"] <= 0.5   # within 2%, never over
    assert r["pruned"]["test_acc"] > 0.5 and r["dense"]["test_acc"] > 0.3
    assert any(r["pruned"]["widths"][k] < r["dense"]["widths"][k] for k in r["dense"]["widths"])
    m = r["mechanism"]
    assert m["acted"] and m["removed_by_mechanism"] == m["removed"] > 0
    assert all(margin >= 1 for margin in m["kept_over_removed_norm"].values())   # kept norms >= removed


def test_export_reproduces_the_reported_accuracy(l1norm_run, exported_accuracy):
    r, out = l1norm_run
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"]


def test_uniform_fraction_is_the_largest_within_budget():
    model = build_model("lenet5", 10, 1, 28)
    flops = FlopsModel(model, (1, 28, 28))
    scores = l1_norm(model)
    keep, f = keep_uniform(scores, flops, 0.3)
    assert flops.ratio(keep) <= 0.3
    for name, k in keep.items():   # the kept filters are the highest-L1 ones
        assert set(k.tolist()) == set(torch.topk(scores[name], len(k)).indices.tolist())
    bigger = {n: max(1, round(min(1.0, f + 0.02) * len(s))) for n, s in scores.items()}
    assert flops.flops(bigger) / flops.total > 0.3
