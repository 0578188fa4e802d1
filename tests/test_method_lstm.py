"""LSTM-guided pruning (Zhong et al. 2018): the controller learns from a policy-gradient step, children
are pruned by R_prune with teacher-student recovery, and the method runs end to end on real MNIST."""
import copy

import pytest
import torch

from jst.config import Config
from jst.methods.lstm import _Distill
from jst.methods.lstm_controller import Controller, capped_widths, features, pruned_widths, reach_rate, reinforce
from jst.nets.budget import BUDGET_TOLERANCE, floor_of
from jst.nets.models import build_model


@pytest.fixture(scope="module")
def lstm_run(smoke_method):
    return smoke_method("lstm", flops_target=0.5)


def test_policy_gradient_step_changes_the_decisions():
    torch.manual_seed(0)
    controller = Controller(hidden=16)
    f = features({"a": 6, "b": 16, "c": 120, "d": 84}, {"a": 6, "b": 16, "c": 120, "d": 84}, 1.0, 0.9)
    greedy = controller.probabilities(f, torch.zeros(4, dtype=torch.bool)) > 0.5
    greedy = controller.probabilities(f, greedy) > 0.5         # self-consistent greedy decisions
    wanted = ~greedy                                           # the synthetic reward favours the opposite
    before = controller.probabilities(f, wanted)
    reinforce(controller, torch.optim.Adam(controller.parameters(), lr=0.2), [(f, wanted)], [1.0])
    after = controller.probabilities(f, wanted)
    toward = torch.where(wanted, after - before, before - after)
    assert bool((toward > 0).all())                            # every layer moved toward the rewarded choice
    assert ((after > 0.5) == wanted).all()                     # and the decisions themselves changed
    reinforce(controller, torch.optim.SGD(controller.parameters(), lr=1.0), [(f, wanted)], [0.0])
    assert torch.equal(controller.probabilities(f, wanted), after)   # zero advantage: no change


def test_children_lose_r_prune_of_the_chosen_layers():
    w = {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 1}
    child = pruned_widths(w, torch.tensor([True, False, True, True]), 0.2, 1)
    assert child == {"conv1": 5, "conv2": 16, "fc1": 96, "fc2": 1}


def test_distillation_term_vanishes_for_a_copy_of_the_teacher():
    teacher = build_model("lenet5", 10, 1, 28).eval()
    student = _Distill(copy.deepcopy(teacher).eval(), teacher, 4.0)
    student.train()
    student.student.eval()           # same BN statistics as the teacher: identical outputs
    student(torch.randn(4, 1, 28, 28))
    assert abs(student.kd.item()) < 1e-6
    assert [id(p) for p in student.parameters()] == [id(p) for p in student.student.parameters()]  # teacher not trained


def test_runs_end_to_end_within_budget(lstm_run, exported_accuracy):
    r, out = lstm_run
    d = r["method_details"]
    assert r["meets_budget"] and r["budget"]["within_tolerance"]          # in [0.49, 0.5]
    assert d["split"] == {"train": 1350, "val": 150}            # the paper's 10% validation split
    assert d["controller_epochs"] >= 1 and len(d["pool"]) >= 2 and d["pool"][0]["flops_ratio"] == 1.0
    children = [e for e in d["pool"] if e["parent"] is not None]
    assert all(e["flops_ratio"] < d["pool"][e["parent"]]["flops_ratio"] for e in children)
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"]


def test_a_search_short_of_the_budget_removes_only_the_remainder(smoke_method):
    """One controller epoch at a 0.9 target: the only child stays above the budget (the controller chose a
    coarse layer it cannot cut without overshooting), so the fallback removes what is left, and says so."""
    r, _ = smoke_method("lstm", flops_target=0.9, lstm_max_epochs=1)
    d, m = r["method_details"], r["mechanism"]
    assert d["budget_fallback"] and d["selected"] != 0
    above = [e for e in d["pool"] if e["flops_ratio"] > 0.9]
    assert d["selected"] == max(above, key=lambda e: e["reward"])["id"]          # the best-reward one above it
    child, dense = d["pool"][d["selected"]]["widths"], r["dense"]["widths"]
    assert all(m["per_layer"][n]["by_controller"] == dense[n] - child[n] for n in dense)
    assert all(r["pruned"]["widths"][n] <= child[n] for n in child) and m["removed"] > m["removed_by_mechanism"]
    assert r["budget"]["within_tolerance"]


def _ratio(widths: dict[str, int]) -> float:
    """FLOPs ratio of a toy network of two layers of 10 whose FLOPs are linear in the widths."""
    return sum(widths.values()) / 20


def test_a_child_never_overshoots_the_budget():
    w = {"a": 10, "b": 10}
    both = torch.tensor([True, True])
    assert capped_widths(w, both, 0.5, 1, _ratio, 0.9) == {"a": 9, "b": 9}          # the cut stops at the budget
    assert capped_widths(w, both, 0.2, 1, _ratio, 0.5) == {"a": 8, "b": 8}          # the full R_prune fits
    coarse = {"a": 2, "b": 10}                                                      # a's filters cost 0.25 each
    assert capped_widths(coarse, both, 0.5, 1, lambda x: (5 * x["a"] + x["b"]) / 20, 0.9) == {"a": 2, "b": 8}
    assert pruned_widths(w, both, 0.95, {"a": 3, "b": 1}) == {"a": 3, "b": 1}       # never under the floor


def test_the_prune_rate_follows_the_search_length():
    dense = {"a": 1000, "b": 1000}

    def ratio(w):
        return sum(w.values()) / 2000

    assert reach_rate(Config(lstm_max_epochs=50), ratio, dense) == 0.2              # the paper's search: R = 0.2
    assert reach_rate(Config(lstm_max_epochs=4), ratio, dense) == pytest.approx(0.5, abs=0.01)   # 1 decision
    assert reach_rate(Config(lstm_max_epochs=8), ratio, dense) == pytest.approx(1 - 0.5 ** 0.5, abs=0.01)
    assert reach_rate(Config(lstm_max_epochs=4, lstm_reach=0.0), ratio, dense) == 0.2


def test_the_controller_decides_the_architecture(lstm_run):
    """Fails when the controller's decisions are not what is applied: the exported widths must be those of
    the child the controller's decisions built, not a budget fallback's."""
    r, _ = lstm_run
    d, m = r["method_details"], r["mechanism"]
    assert not d["budget_fallback"] and d["selected"] != 0
    assert r["pruned"]["widths"] == d["pool"][d["selected"]]["widths"]
    assert m["acted"] and m["mechanism_share"] == 1.0 and m["removed_by_mechanism"] > 0
    assert all(v["by_fallback"] == 0 for v in m["per_layer"].values())
    assert m["chosen_reward"] == d["pool"][d["selected"]]["reward"] and m["controller_epochs"] == d["controller_epochs"]
    assert abs(r["budget"]["relative_error"]) <= BUDGET_TOLERANCE
    dense = r["dense"]["widths"]
    assert all(w >= floor_of(dense[n], r["config"]["layer_floor"]) for n, w in r["pruned"]["widths"].items())
