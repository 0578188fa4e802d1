import pytest
import torch

from jst.core.thresholds import ThresholdPolicy, reward


def test_reward_penalises_only_flops_above_the_budget():
    assert reward(0.9, 0.4, 0.5, 2.0) == 0.9
    assert abs(reward(0.9, 0.6, 0.5, 2.0) - 0.7) < 1e-12


def test_policy_learns_the_rewarded_threshold():
    policy = ThresholdPolicy(["a", "b"], lr=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        choice = policy.draw(gen)
        r = float((choice == 4).float().mean())  # reward for choosing the highest threshold
        policy.update(choice, r)
    probs = policy.probabilities()
    assert torch.all(probs[:, 4] > 0.6), probs
    assert policy.thresholds(torch.tensor([4, 0])) == {"a": 0.8, "b": 0.6}


def test_policy_state_round_trips():
    a = ThresholdPolicy(["x"])
    a.update(torch.tensor([1]), 1.0)
    a.update(torch.tensor([2]), 0.0)
    b = ThresholdPolicy(["x"])
    b.load(a.state())
    assert torch.equal(a.probabilities(), b.probabilities())
    assert float(a.baseline) == float(b.baseline)


def test_a_per_step_baseline_replaces_the_moving_average():
    policy = ThresholdPolicy(["a"])
    policy.update(torch.tensor([0]), 0.5)                        # sets the moving average to 0.5
    assert policy.update(torch.tensor([1]), 0.6, baseline=0.7) == pytest.approx(-0.1)   # the step's own
    assert policy.update(torch.tensor([1]), 0.6) == pytest.approx(0.6 - (0.9 * 0.5 + 0.1 * 0.6))


def test_entropy_starts_uniform_and_falls_as_the_policy_decides():
    import math
    policy = ThresholdPolicy(["a", "b"], lr=0.1)
    assert policy.entropy() == pytest.approx(math.log(5))
    for _ in range(50):
        policy.update(torch.tensor([4, 4]), 1.0, baseline=0.0)
    assert policy.entropy() < 0.5 * math.log(5)
