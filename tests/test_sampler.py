import math

import pytest
import torch

from jst.core.sampler import fit_to_budget, keep_by_threshold, perturb, sample
from jst.engine.errors import ConfigError


def test_cumulative_threshold_on_hand_made_weights():
    # softmax(log p) = p: probabilities 0.4, 0.3, 0.2, 0.1 on filters 2, 0, 3, 1
    scores = torch.log(torch.tensor([0.3, 0.1, 0.4, 0.2]))
    assert keep_by_threshold(scores, 0.4).tolist() == [2]          # 0.4 reaches 0.4
    assert keep_by_threshold(scores, 0.41).tolist() == [0, 2]      # 0.4 + 0.3
    assert keep_by_threshold(scores, 0.7).tolist() == [0, 2]
    assert keep_by_threshold(scores, 0.71).tolist() == [0, 2, 3]   # + 0.2
    assert keep_by_threshold(scores, 1.0).tolist() == [0, 1, 2, 3]


def test_uniform_weights_keep_the_threshold_fraction():
    scores = torch.zeros(20)
    for tau in (0.6, 0.65, 0.7, 0.75, 0.8):
        assert len(keep_by_threshold(scores, tau)) == math.ceil(tau * 20 - 1e-9)


def test_minimum_and_hardware_multiple():
    scores = torch.tensor([10.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert len(keep_by_threshold(scores, 0.6)) == 1
    assert len(keep_by_threshold(scores, 0.6, min_keep=3)) == 3
    assert len(keep_by_threshold(scores, 0.6, multiple=4)) == 4
    with pytest.raises(ValueError):
        keep_by_threshold(scores, 0.0)


def test_perturbation_off_is_deterministic():
    alpha = torch.randn(64)
    a = perturb(alpha, 0.0, torch.Generator().manual_seed(1))
    b = perturb(alpha, 0.0, torch.Generator().manual_seed(2))
    assert torch.equal(a, alpha) and torch.equal(b, alpha)
    alphas, taus = {"l": alpha}, {"l": 0.7}
    assert torch.equal(sample(alphas, taus, 0.0, torch.Generator().manual_seed(1))["l"],
                       sample(alphas, taus, 0.0, torch.Generator().manual_seed(2))["l"])


def test_perturbation_on_changes_the_draw_and_is_seeded():
    alphas, taus = {"l": torch.zeros(64)}, {"l": 0.5}
    draws = [sample(alphas, taus, 0.5, torch.Generator().manual_seed(s))["l"] for s in range(5)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    again = sample(alphas, taus, 0.5, torch.Generator().manual_seed(0))["l"]
    assert torch.equal(draws[0], again)


def test_budget_projection_meets_the_budget_with_the_largest_scale():
    scores = {"a": torch.zeros(10), "b": torch.zeros(10)}
    taus = {"a": 0.8, "b": 0.8}
    def ratio(keep):
        return (len(keep["a"]) * len(keep["b"])) / 100  # a product, like conv FLOPs
    keep, scale = fit_to_budget(scores, taus, ratio, 0.25, both_ways=False)
    assert ratio(keep) <= 0.25
    assert len(keep["a"]) == len(keep["b"]) == 5 and scale == pytest.approx(0.625, abs=1e-6)  # 0.8 s <= 0.5
    with pytest.raises(ConfigError, match="below what the architecture allows"):
        fit_to_budget(scores, taus, ratio, 0.001)


def test_budget_projection_raises_thresholds_and_fills_up_to_the_budget():
    scores = {"a": torch.zeros(10), "b": torch.zeros(10)}
    taus = {"a": 0.8, "b": 0.8}
    def ratio(keep):
        return (len(keep["a"]) * len(keep["b"])) / 100
    keep, scale = fit_to_budget(scores, taus, ratio, 0.9, both_ways=False)
    assert scale == 1.0 and ratio(keep) == pytest.approx(0.64)  # down only: the 8 x 8 draw is kept, 29% under
    keep, scale = fit_to_budget(scores, taus, ratio, 0.9)
    assert scale > 1.0 and ratio(keep) == pytest.approx(0.9)    # both ways, then filled: exactly the budget
    keep, _ = fit_to_budget(scores, taus, ratio, 0.26)
    assert ratio(keep) == pytest.approx(0.25)                   # 5 x 5; no single filter more fits


def test_fill_adds_the_most_probable_filters_first():
    from jst.core.sampler import fill
    scores = {"a": torch.tensor([0.0, 3.0, 1.0, 2.0])}
    keep = fill(scores, {"a": torch.tensor([1])}, lambda k: len(k["a"]) / 4, 0.75)
    assert keep["a"].tolist() == [1, 2, 3]


def test_importance_keep_top_orders_indices():
    from jst.nets.importance import keep_fraction, keep_top
    assert keep_top(torch.tensor([0.1, 5.0, 0.3, 2.0]), 2).tolist() == [1, 3]
    assert keep_top(torch.tensor([0.1, 5.0]), 0).tolist() == [1]  # never empties a layer
    keep = keep_fraction({"a": torch.arange(10.0), "b": torch.arange(4.0)}, {"a": 0.3})
    assert keep["a"].tolist() == [7, 8, 9] and keep["b"].tolist() == [0, 1, 2, 3]
