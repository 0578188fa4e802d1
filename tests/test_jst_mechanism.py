"""JST's mechanism acts and its record says so: filter weights that move away from their initialisation,
a frozen-filter-weight ablation that reports itself, choices measured alike on one target, a selection any
step can win, and a network within +-2% of the FLOPs target. Real MNIST, LeNet-5, smoke scale."""
import pytest
import torch

from jst.core.filter_weights import filter_weights
from jst.methods.evidence import bimodality, rank_correlation

# The smoke scale gives the filter weights 9 optimizer steps; at the paper's travel (filter_lr 0.001 scaled by
# the paper's steps over the run's) they reach a rank correlation of about 0.66 there, at three times it 0.41.
# The cpu preset's runs move them at the paper's travel (the closing note of issue 22 gives the figures).
MOVING = dict(filter_lr=0.003)


@pytest.fixture(scope="module")
def learned(smoke_method):
    return smoke_method("jst", **MOVING)


@pytest.fixture(scope="module")
def frozen(smoke_method):
    return smoke_method("jst", filter_training="frozen", **MOVING)


def test_filter_weights_move_away_from_their_initialisation_and_the_record_says_so(learned):
    result, _ = learned
    m = result["mechanism"]
    assert m["acted"] is True and "moved" in m["reason"]
    assert m["rank_correlation_with_init"] <= 0.5
    assert m["largest_change"] > m["initial_spread"]
    first, last = (torch.tensor(result["method_details"][k]["conv2"])
                   for k in ("initial_filter_weights", "final_filter_weights"))
    assert rank_correlation(first.abs(), last.abs()) == pytest.approx(m["rank_correlation_per_layer"]["conv2"])


def test_the_record_carries_every_figure_of_the_evidence(learned):
    m = learned[0]["mechanism"]
    for key in ("overlap_with_initial_selection", "overlap_by_chance", "dval_learned_selection",
                "dval_initial_selection", "policy_entropy_start", "policy_entropy_end", "positive_advantage_share",
                "selected_step"):
        assert key in m, key
    assert 0 <= m["overlap_with_initial_selection"] <= 1 and 0 < m["overlap_by_chance"] <= 1
    assert m["policy_entropy_start"] == pytest.approx(1.6094, abs=1e-3)   # log 5: the policy starts uniform


def test_frozen_filter_weights_stay_at_their_initialisation_and_are_labelled(frozen):
    result, _ = frozen
    m = result["mechanism"]
    assert m["acted"] is True and m["ablation"] == "frozen_filter_weights"   # the freeze held ...
    assert "frozen" in m["reason"] and "not JST's" in m["reason"]            # ... and says it is not JST
    assert m["largest_change"] == 0.0 and m["rank_correlation_with_init"] == pytest.approx(1.0)
    assert result["method_details"]["initial_filter_weights"] == result["method_details"]["final_filter_weights"]


@pytest.mark.parametrize("which", ["learned", "frozen"])
def test_jst_lands_within_two_percent_of_its_flops_target_without_collapsed_layers(which, request):
    result, _ = request.getfixturevalue(which)
    assert result["budget"]["within_tolerance"], result["budget"]
    assert result["pruned"]["flops_ratio"] <= result["flops_target"] + 1e-9
    assert result["pruned"]["collapsed_layers"] == []


def test_the_candidate_that_beat_its_own_controls_most_is_selected(learned):
    details = learned[0]["method_details"]
    assert details["selection"] == "advantage"
    candidates = details["candidates"]
    assert all("final_val_acc" in c for c in candidates)       # every candidate re-measured on the final target
    assert details["selected_step"] == max(candidates, key=lambda c: c["advantage"])["step"]


def test_final_target_selection_takes_the_best_remeasured_candidate(smoke_method):
    details = smoke_method("jst", selection="final_target", **MOVING)[0]["method_details"]
    assert details["selection"] == "final_target"
    best = max(details["candidates"], key=lambda c: c["final_val_acc"])
    assert details["selected_step"] == best["step"]


def test_each_step_is_rewarded_against_its_own_control_draws(learned):
    for c in learned[0]["method_details"]["candidates"][1:]:
        assert c["baseline"] is not None
        assert c["advantage"] == pytest.approx(c["reward"] - c["baseline"])


def test_measuring_a_choice_repeats_exactly_and_leaves_the_target_unchanged(data_root, tmp_path):
    from jst.config import make_config
    from jst.core.measure import choice_accuracy
    from jst.core.search import build_target
    from jst.engine import data
    from jst.engine.context import RunContext
    cfg = make_config("smoke", "lenet5", dataset="mnist", data_root=str(data_root), device="cpu")
    ctx = RunContext(cfg, data.load_splits(cfg), torch.device("cpu"), tmp_path, None, None, 0.0, [])
    target = build_target(ctx)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    keep = {n: torch.arange(max(1, len(a) // 2)) for n, a in filter_weights(target).items()}
    first, _ = choice_accuracy(ctx, target, keep, "test")
    again, _ = choice_accuracy(ctx, target, keep, "test")
    assert first == again
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_bimodality_separates_two_groups_from_one():
    gen = torch.Generator().manual_seed(0)
    one = torch.randn(200, generator=gen)
    two = torch.cat([torch.randn(100, generator=gen) * 0.05, 1 + torch.randn(100, generator=gen) * 0.05])
    assert bimodality(two) > 5 / 9 > bimodality(one)


def test_the_mechanism_table_reads_the_section_of_every_record(learned, frozen, tmp_path):
    from jst.report.mechanisms import main, mechanism_table
    for (result, folder), method in ((learned, "jst"), (frozen, "jst (frozen_filter_weights ablation)")):
        row = mechanism_table(folder.parent).iloc[0]
        assert row["acted"] is True or row["acted"] == True   # noqa: E712 (numpy bool)
        assert row["method"] == method
        assert row["key figure"] == pytest.approx(result["mechanism"]["rank_correlation_with_init"])
        assert abs(row["budget error (%)"]) <= 2
    assert main([str(tmp_path / "missing")]) == 2


def test_the_figures_the_notes_quote_are_the_records():
    """jst.report.mechanisms.findings (glued by the reproduction chapter, pasted by the notes) recomputed from
    the committed result.json files: per-seed gains, and the paired t-test's p-value over the seeds."""
    import json
    from pathlib import Path

    from scipy import stats

    from jst.report.mechanisms import findings
    root = Path(__file__).resolve().parents[1] / "results" / "mechanism"
    f = findings(root)

    def record(*parts):
        return json.loads((root.joinpath(*parts) / "result.json").read_text())
    jst = [record("cifar10_sample-resnet20-cpu", f"jst-f0.5-s{s}") for s in (0, 1, 2)]
    learned = [r["mechanism"]["dval_learned_selection"] for r in jst]
    initial = [r["mechanism"]["dval_initial_selection"] for r in jst]
    assert f["jst_dval_gains"] == ", ".join(f"{100 * (a - b):.1f}" for a, b in zip(learned, initial))
    assert f["jst_dval_gain"].endswith(f"p = {stats.ttest_rel(learned, initial).pvalue:.2g})")
    frozen = [record("ablations", "cifar10_sample-resnet20-cpu", "frozen_filter_weights", f"jst-f0.5-s{s}")
              for s in (0, 1, 2)]
    assert f["jst_frozen_test"] == " / ".join(f"{100 * r['pruned']['test_acc']:.1f}" for r in frozen)
    lenet = [record("mnist-lenet5-cpu", f"jst-f0.5-s{s}")["mechanism"] for s in (0, 1, 2)]
    assert f["lenet_rank_corr"] == f"{lenet[0]['rank_correlation_with_init']:.2f}"
    assert f["lenet_rank_corrs"] == ", ".join(f"{m['rank_correlation_with_init']:.2f}" for m in lenet)
    pairs = [(m["dval_learned_selection"], m["dval_initial_selection"]) for m in lenet]
    assert f["lenet_dval_gain"].endswith(f"p = {stats.ttest_rel(*zip(*pairs)).pvalue:.2g})")
    sgd = record("ablations", "mnist-lenet5-cpu", "sgd_filter_optimizer", "jst-f0.5-s0")["mechanism"]
    assert f["lenet_sgd_rank_corr"] == f"{sgd['rank_correlation_with_init']:.2f}"
    assert f["slimming_sweep"].count("%") == 2 * len(list((root / "ablations" / "cifar10_sample-resnet20-cpu")
                                                          .glob("slimming_shrinkage_*")))


def test_the_rank_correlation_is_spearmans():
    from scipy import stats
    rng = torch.Generator().manual_seed(0)
    for a, b in [(torch.randn(40, generator=rng), torch.randn(40, generator=rng)),
                 (torch.randint(0, 4, (30,), generator=rng).float(), torch.randint(0, 3, (30,), generator=rng).float()),
                 (torch.arange(10.0), -torch.arange(10.0) ** 3)]:   # ties on both sides; a perfect inverse order
        assert rank_correlation(a, b) == pytest.approx(stats.spearmanr(a.numpy(), b.numpy()).statistic, abs=1e-12)
