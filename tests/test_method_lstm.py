"""LSTM-guided pruning (Zhong et al. 2018): the controller learns from a policy-gradient step, children
are pruned by R_prune with teacher-student recovery, and the method runs end to end on real MNIST."""
import copy

import pytest
import torch

from jst.methods.lstm import Controller, _Distill, features, pruned_widths, reinforce
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
    assert r["meets_budget"] and 0.3 < r["pruned"]["flops_ratio"] <= 0.5 * 1.05
    assert d["split"] == {"train": 1350, "val": 150}            # the paper's 10% validation split
    assert d["controller_epochs"] >= 1 and len(d["pool"]) >= 2 and d["pool"][0]["flops_ratio"] == 1.0
    children = [e for e in d["pool"] if e["parent"] is not None]
    assert all(e["flops_ratio"] < d["pool"][e["parent"]]["flops_ratio"] for e in children)
    assert exported_accuracy(out, r) == r["pruned"]["test_acc"]


def test_selects_the_best_child_within_budget(smoke_method):
    r, _ = smoke_method("lstm", flops_target=0.9, lstm_max_epochs=1)
    d = r["method_details"]
    assert not d["budget_fallback"] and d["selected"] != 0
    inside = [e for e in d["pool"] if e["flops_ratio"] <= 0.9]
    assert d["selected"] == max(inside, key=lambda e: e["reward"])["id"]
    assert r["pruned"]["widths"] == d["pool"][d["selected"]]["widths"]
