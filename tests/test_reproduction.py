"""The reproduction chapter's tables (jst.report) say what the committed run records say: means and stds over
seeds from the comparison's runs, the best cells, JST's standing and AutoPrune's claim."""
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jst.engine.runlog import RunLog
from jst.experiments import grid
from jst.report.ablations import SCRATCH_B, ablation_outcomes, ablations, identical_variants
from jst.report.claims import claims
from jst.report.comparisons import comparison, finished_comparisons, jst_against_baselines, pair, standings
from jst.report.hardware import run_hardware
from jst.report.literature import PUBLISHED, published_beside_ours, unstructured_claim
from jst.report.policy_drift import policy_drift, policy_drifts
from jst.report.progress import compute_spent
from jst.report.prose import glue_key, pasted_numbers
from jst.report.records import is_record, read_record, read_records
from jst.report.sparsity_reach import sparsity_reach
from jst.report.style import best_cells, styled
from jst.report.training import lr_probe, schedule_probe
from jst.report.verdicts import NOT_DISTINGUISHABLE, decide

RESULTS = Path(__file__).resolve().parents[1] / "results"
MNIST = RESULTS / "compare" / "mnist-lenet5-cpu"


def runs(method, target):
    return read_records(MNIST, f"{method}-f{target:g}-s*")


def test_comparison_means_and_stds_come_from_the_runs():
    df = comparison(MNIST, 0.5).set_index("method")
    for method in ("jst", "l1norm", "autoprune"):
        accs = [100 * r.pruned.test_acc for r in runs(method, 0.5)]
        mean, std = df.loc[method, "test acc (%)"]
        assert mean == pytest.approx(statistics.fmean(accs)) and std == pytest.approx(statistics.stdev(accs))
        assert df.loc[method, "seeds"] == len(accs) == 3


def test_best_cells_skip_the_dense_reference():
    df = comparison(MNIST, 0.5)
    best = best_cells(df)
    dense = df.index[df["method"] == "dense"][0]
    assert all(dense not in rows for rows in best.values())
    top = max(v[0] for m, v in zip(df["method"], df["test acc (%)"]) if m != "dense")
    assert {df.at[i, "test acc (%)"][0] for i in best["test acc (%)"]} == {top}
    assert "font-weight: bold" in styled(df).to_html()


def test_a_one_seed_row_shows_its_value_without_a_spread():
    df = comparison(MNIST, 0.5)
    df.loc[0, "seeds"] = 1
    text = styled(df).data
    mean, std = df.at[0, "test acc (%)"]
    assert text.at[0, "test acc (%)"] == f"{mean:.2f}"                # not "± 0.00": one seed has no spread
    assert text.at[1, "test acc (%)"] == "{:.2f} ± {:.2f}".format(*df.at[1, "test acc (%)"])


def test_jst_standing_names_the_best_pruning_baseline():
    r = jst_against_baselines(MNIST, 0.5)
    df = comparison(MNIST, 0.5)
    others = df[~df["method"].isin(["jst", "dense", "scratch"])]  # Scratch-B is JST's own architecture
    assert r["best baseline"] == others.loc[others["test acc (%)"].map(lambda v: v[0]).idxmax(), "method"]
    assert r["verdict"] in ("JST ahead", "JST behind", "not distinguishable at this sample size")
    assert jst_against_baselines(MNIST, 0.33) is None  # no runs at that target


def test_the_numbers_the_notes_quote_are_read_from_the_runs():
    texts = pasted_numbers("mnist-lenet5", MNIST, 0.25)
    assert glue_key("mnist-lenet5", 0.25) == "mnist_lenet5_f0_25"
    accs = [100 * r.pruned.test_acc for r in runs("slimming", 0.25)]       # seeds 0, 1, 2 in order
    assert texts["mnist_lenet5_f0_25_slimming_acc"] == f"{statistics.fmean(accs):.1f}%"
    assert texts["mnist_lenet5_f0_25_slimming_per_seed"] == f"{accs[0]:.1f}%, {accs[1]:.1f}% and {accs[2]:.1f}%"
    assert texts["mnist_lenet5_f0_25_slimming_seeds"] == "3 seeds"
    jst = [100 * r.pruned.test_acc for r in runs("jst", 0.25)]
    gap = statistics.fmean(jst) - statistics.fmean(accs)
    p = stats.ttest_ind(jst, accs, equal_var=False).pvalue
    quoted = texts["mnist_lenet5_f0_25_jst_vs_slimming"]
    assert quoted.startswith(f"{gap:+.2f} points; seeds: 95% interval ") and f"Welch p = {p:.2g}" in quoted
    assert "mnist_lenet5_f0_25_jst_vs_jst" not in texts
    assert not any(k.startswith("mnist_lenet5_f0_5_") for k in texts)  # one FLOPs target at a time


def test_autoprune_claim_beside_our_unstructured_run():
    df = unstructured_claim(RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0", MNIST)
    assert df.loc["published", "compression (weights)"] == 310
    ours = read_record(RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0").pruned
    assert df.loc["ours", "FLOPs kept"] == ours.flops_ratio <= 0.07 + 1e-9
    assert df.loc["ours", "compression (weights)"] == ours.weight_compression_ratio


def test_one_verdict_rule():
    # Welch over seeds decides; a 0.06-point gap on 3 seeds is not a verdict, a steady 2-point one is
    assert decide([0.990, 0.991, 0.989], [0.9905, 0.9902, 0.9898])["verdict"] == NOT_DISTINGUISHABLE
    assert decide([0.93, 0.931, 0.929], [0.91, 0.911, 0.909])["verdict"] == "ahead"
    assert decide([0.91, 0.911, 0.909], [0.93, 0.931, 0.929])["verdict"] == "behind"
    assert decide([0.95], [0.90])["verdict"] == "one seed: undecided"
    d = decide([0.93, 0.931, 0.929], [0.91, 0.911, 0.909])
    assert d["welch p"] == pytest.approx(stats.ttest_ind([0.93, 0.931, 0.929], [0.91, 0.911, 0.909],
                                                         equal_var=False).pvalue)


def test_the_paired_image_test_must_agree_before_a_gap_counts():
    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.9
    same = np.stack([truth, truth, truth])
    # seeds say "ahead" but the test images show the very same predictions: no verdict
    d = decide([0.93, 0.931, 0.929], [0.91, 0.911, 0.909], same, same)
    assert d["images p"] == 1.0 and d["verdict"] == NOT_DISTINGUISHABLE
    better = same.copy()
    better[:, np.flatnonzero(~truth)[:60]] = True          # 60 more images right on every seed: 3 points
    d = decide([0.93, 0.931, 0.929], [0.90, 0.901, 0.899], better, same)
    assert d["verdict"] == "ahead" and d["images p"] < 0.01
    assert d["images 95% interval (points)"][0] > 1.5 and d["difference (points)"] == pytest.approx(3.0)


def test_holms_adjustment_steps_down_the_ranked_p_values():
    from jst.report.significance import holm
    # ranked 0.005 x 4, 0.01 x 3, 0.03 x 2, 0.04 x 1, each at least the one before it (step-down)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]    # capped; a gap stays
    assert holm([0.049]) == [pytest.approx(0.049)]                                     # a family of one


def test_holms_correction_only_takes_verdicts_away():
    from jst.experiments.compare import rows
    from jst.report.protocol_summary import jst_against_others
    folder = RESULTS / "grid" / "mnist-lenet5-cpu"
    full = jst_against_others(folder, 0.5, rows(folder, grid.ALL_METHODS, [0, 1, 2], [0.5]))
    jst, check = full.iloc[:-1], full.iloc[-1]
    assert ((jst["verdict, Holm-adjusted"] == jst["verdict"])
            | (jst["verdict, Holm-adjusted"] == NOT_DISTINGUISHABLE)).all()
    assert check["comparison"] == "scratch vs dense" and check["verdict, Holm-adjusted"] == "-"
    one = jst_against_others(folder, 0.5, rows(folder, grid.ALL_METHODS, [0], [0.5]))   # one seed each
    assert (one.iloc[:-1]["verdict, Holm-adjusted"] == "one seed: undecided").all()


def test_the_sign_flip_test_is_scipys_paired_permutation_test():
    from jst.report.significance import sign_flip_p
    rng = np.random.default_rng(1)
    for shift in (0.0, 0.03, 0.08):                        # none, borderline, clear
        d = (rng.random(400) < 0.5 + shift).astype(float) - (rng.random(400) < 0.5).astype(float)
        a, b = np.clip(d, 0, 1), np.clip(-d, 0, 1)           # two 0/1 samples whose paired difference is d
        scipy_p = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                         permutation_type="samples", n_resamples=20000,
                                         rng=np.random.default_rng(2)).pvalue
        ours = sign_flip_p(d, 20000, np.random.default_rng(3))
        assert ours == pytest.approx(scipy_p, abs=0.03)      # two Monte Carlo estimates of one p-value (3 s.e.)
    assert sign_flip_p(np.ones(50), 999, np.random.default_rng(0)) == pytest.approx(2 / 1000)   # nothing beats it


def test_jst_against_scratch_is_read_from_the_table():
    df = comparison(MNIST, 0.5)
    p = pair(df, "jst", "scratch")
    jst = statistics.fmean(100 * r.pruned.test_acc for r in runs("jst", 0.5))
    scratch = statistics.fmean(100 * r.pruned.test_acc for r in runs("scratch", 0.5))
    assert p["jst - scratch (points)"] == pytest.approx(jst - scratch)
    assert pair(df, "jst", "no-such-method") is None


def test_standings_cover_every_finished_comparison_but_not_the_ablations():
    standing, scratch = standings(grid.BLOCKS, RESULTS)
    finished = [b for b in grid.BLOCKS if isinstance(b, grid.Block) and not b.out
                and (b.folder(RESULTS) / "table.json").exists()]
    assert set(standing["comparison"]) <= {b.name for b in finished} and "mnist-lenet5" in set(standing["comparison"])
    row = standing[(standing["comparison"] == "mnist-lenet5") & (standing["FLOPs target"] == 0.5)].iloc[0]
    assert row.to_dict() == {"comparison": "mnist-lenet5", **jst_against_baselines(MNIST, 0.5)}
    mnist = scratch[scratch["comparison"] == "mnist-lenet5 at 0.5"].iloc[0]
    assert mnist["verdict"] == pair(comparison(MNIST, 0.5), "jst", "scratch")["verdict"]


def test_claims_follow_the_rule_and_leave_undecided_comparisons_out():
    standing = pd.DataFrame([
        {"comparison": "a", "FLOPs target": 0.5, "seeds": 3, "JST - best (points)": -0.3, "best baseline": "l1norm",
         "tests": "-0.30 points; seeds: p = 0.01", "verdict": "JST behind"},
        {"comparison": "b", "FLOPs target": 0.5, "seeds": 1, "JST - best (points)": 2.0, "best baseline": "l1norm",
         "tests": "+2.00 points", "verdict": "one seed: undecided"}])
    autoprune = unstructured_claim(RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0", MNIST)
    outcomes = pd.DataFrame([{"variant": v, "variant - JST (points)": gap, "verdict": word} for v, gap, word in
                             (("no_perturbation", -1.0, "lower than JST"),
                              ("fixed_threshold_0.6", 1.0, "higher than JST"),
                              ("fixed_threshold_0.8", -1.0, "lower than JST"))])
    table = claims(standing, pd.DataFrame(), outcomes, autoprune)
    assert "-0.30 points; seeds: p = 0.01 (3 seeds)" in table.loc["jst_vs_baselines", "our evidence"]
    assert "+2.00 points (1 seed)" in table.loc["jst_vs_baselines", "our evidence"]
    c = table["verdict"]
    assert c["jst_vs_baselines"] == "contradicted at cpu scale (1 of 2 comparisons decided)"
    assert c["jst_vs_scratch"] == "not run yet"
    assert c["perturbation"] == "confirmed at cpu scale"
    assert c["thresholds"] == "contradicted at cpu scale"  # one fixed threshold did better
    assert c["updater"] == "not run yet"
    drop = autoprune.loc["ours", "accuracy drop (points)"]
    dense_std = comparison(MNIST, 0.5).set_index("method").loc["dense", "test acc (%)"][1]
    assert autoprune.loc["ours", "dense seed std (points)"] == pytest.approx(dense_std)
    assert c["autoprune_mnist"] == ("not confirmed" if drop > dense_std else "confirmed at cpu scale")


def test_published_figures_sit_beside_our_closest_runs():
    df = published_beside_ours(RESULTS)
    assert len(df) == len(PUBLISHED)
    for row, p in zip(df.to_dict("records"), PUBLISHED):
        folder = RESULTS / p["ours"]
        if not is_record(folder) and not (folder / "table.json").exists():
            assert row["FLOPs kept"] == "not run yet"
    unstructured = df[df["ours"] == "autoprune-unstructured/mnist-lenet5-s0"].iloc[0]
    ours = read_record(RESULTS / "autoprune-unstructured" / "mnist-lenet5-s0").pruned
    assert unstructured["FLOPs kept"] == f"{ours.flops_ratio:.3f}"
    for row in df[df["ours"].str.startswith("compare/") & (df["FLOPs kept"] != "not run yet")].to_dict("records"):
        several = int(row["seeds"]) > 1          # a spread is shown only where there are seeds to spread
        assert ("±" in row["FLOPs kept"]) == several and ("larger std" in row["accuracy drop (points)"]) == several


def test_comparison_names_the_hardware_each_run_recorded():
    df = comparison(MNIST, 0.5).set_index("method")
    recorded = read_record(MNIST / "jst-f0.5-s0").hardware
    assert f"{recorded['device']}, {recorded['cpu_threads']} threads" in df.loc["jst", "hardware"]


def test_compute_spent_sums_the_recorded_wall_times():
    df = compute_spent(grid.BLOCKS, RESULTS).set_index("block")
    block = grid.BLOCKS[0]
    done = [read_record(r) for r in block.runs(RESULTS) if is_record(r)]
    assert df.loc[block.name, "finished"] == len(done) > 0
    assert df.loc[block.name, "wall hours spent"] == pytest.approx(sum(r.wall_time_s for r in done) / 3600, abs=0.01)


def test_ablation_outcomes_pair_each_variant_with_jst_seed_by_seed(tmp_path):
    import shutil

    from jst.experiments.compare import table
    cifar = RESULTS / "compare" / "cifar10_sample-resnet20-cpu"
    variant = tmp_path / "same_as_jst"  # a variant whose run is JST's own: every difference must be zero
    (variant / "jst-f0.5-s0").mkdir(parents=True)
    shutil.copy(cifar / "jst-f0.5-s0" / "result.json", variant / "jst-f0.5-s0" / "result.json")
    table(variant, ["jst"], [0], [0.5])
    df = ablation_outcomes(cifar, tmp_path).set_index("variant")
    assert set(df.index) == {"same_as_jst", SCRATCH_B}
    assert df.loc["same_as_jst", "variant - JST (points)"] == 0.0
    assert df.loc["same_as_jst", "same-seed differences (points)"] == "s0: +0.00"
    assert df.loc["same_as_jst", "verdict"] == "one seed: undecided"
    assert df.loc["same_as_jst", "JST's architecture on seeds"] == "0"
    steps = len(read_record(cifar / "jst-f0.5-s0").method_details["candidates"])
    assert df.loc["same_as_jst", "search steps drawing JST's thresholds"] == f"s0: {steps}/{steps}"
    assert df.loc[SCRATCH_B, "JST's architecture on seeds"] == df.loc[SCRATCH_B, "seeds"]
    assert "font-weight: bold" in styled(ablations(cifar, tmp_path)).to_html()
    scratch = pair(comparison(cifar, 0.5), "scratch", "jst")
    assert df.loc[SCRATCH_B, "variant - JST (points)"] == pytest.approx(scratch["scratch - jst (points)"])


def test_a_variant_with_other_widths_is_not_jsts_architecture(tmp_path):
    from jst.experiments.compare import table
    cifar = RESULTS / "compare" / "cifar10_sample-resnet20-cpu"
    record = json.loads((cifar / "jst-f0.5-s0" / "result.json").read_text())
    first = next(iter(record["pruned"]["widths"]))
    record["pruned"]["widths"][first] += 1
    (tmp_path / "wider" / "jst-f0.5-s0").mkdir(parents=True)
    (tmp_path / "wider" / "jst-f0.5-s0" / "result.json").write_text(json.dumps(record))
    table(tmp_path / "wider", ["jst"], [0], [0.5])
    df = ablation_outcomes(cifar, tmp_path).set_index("variant")
    assert df.loc["wider", "JST's architecture on seeds"] == "none"


def test_identical_variants_are_found_by_their_networks(tmp_path):
    import shutil

    from jst.experiments.compare import table
    cifar = RESULTS / "compare" / "cifar10_sample-resnet20-cpu"
    for name, source in (("a", "jst"), ("b", "jst"), ("c", "l1norm")):
        (tmp_path / name / "jst-f0.5-s0").mkdir(parents=True)
        shutil.copy(cifar / f"{source}-f0.5-s0" / "result.json", tmp_path / name / "jst-f0.5-s0" / "result.json")
        table(tmp_path / name, ["jst"], [0], [0.5])
    assert identical_variants(tmp_path) == [["a", "b"]]


def test_the_committed_fixed_threshold_variants_ended_in_one_network():
    """The reproduction notes explain why: the budget projection scales any uniform threshold that draws
    over the budget to the same one. Each candidate's threshold x scale is that one threshold."""
    root = RESULTS / "ablations" / "cifar10_sample-resnet20-cpu"
    assert ["fixed_threshold_0.6", "fixed_threshold_0.8"] in identical_variants(root)
    for seed_run in (root / "fixed_threshold_0.6").glob("jst-f0.5-s*"):
        if not (root / "fixed_threshold_0.8" / seed_run.name).exists():
            continue  # a seed only one of them has run
        low = read_record(seed_run).method_details["candidates"]
        high = read_record(root / "fixed_threshold_0.8" / seed_run.name).method_details["candidates"]
        for a, b in zip(low, high):
            layer = next(iter(a["thresholds"]))
            drawn = a["thresholds"][layer] * a["threshold_scale"]
            assert drawn == pytest.approx(b["thresholds"][layer] * b["threshold_scale"], rel=1e-3)


def test_a_runs_hardware_is_read_attempt_by_attempt():
    cpu = {"device": "cpu", "cpu_threads": 2}
    moved = [{"from_s": 0, "hardware": {"device": "cuda", "gpu": "NVIDIA H100"}}, {"from_s": 90.0, "hardware": cpu}]
    assert run_hardware(cpu, moved) == ["NVIDIA H100", "cpu, 2 threads"]
    older = [{"from_s": 0, "hardware": None}, {"from_s": 5.0, "hardware": cpu}]
    assert run_hardware(cpu, older) == ["not recorded", "cpu, 2 threads"]  # resumed from a pre-attempts checkpoint
    assert run_hardware(cpu) == ["cpu, 2 threads"]  # a record from before attempts
    assert run_hardware({}) == ["not recorded"]


def test_policy_drift_is_the_final_policys_distance_from_uniform():
    cifar = RESULTS / "compare" / "cifar10_sample-resnet20-cpu"
    df = policy_drift(cifar).set_index("run")
    assert set(df.index) == {p.parent.name for p in cifar.glob("jst-f0.5-s*/result.json")}
    details = read_record(cifar / "jst-f0.5-s0").method_details
    final = details["policy_probabilities"][-1]
    drift = max(abs(p - 1 / len(layer)) for layer in final for p in layer)
    assert df.loc["jst-f0.5-s0", "largest |p - uniform|"] == drift > 0
    assert df.loc["jst-f0.5-s0", "search steps T"] == len(details["candidates"])


def test_policy_drifts_read_every_finished_comparison():
    finished = finished_comparisons(grid.BLOCKS, RESULTS)
    assert finished and all(not b.out and (b.folder(RESULTS) / "table.json").exists() for b in finished)
    assert not any(b.name.startswith("ablation-") for b in finished)
    df = policy_drifts(grid.BLOCKS, RESULTS)
    cifar = df[df["comparison"] == grid.CIFAR_RESNET20.name].set_index("run")
    assert cifar.drop(columns="comparison").equals(policy_drift(grid.CIFAR_RESNET20.folder(RESULTS)).set_index("run"))
    assert list(df.columns)[0] == "comparison"


def test_the_vgg16_block_trains_at_the_largest_probed_rate_at_which_the_dense_network_learns():
    probe = lr_probe(RESULTS / "lr_probe" / "cifar10_sample-vgg16-cpu")
    dense = probe[probe["method"] == "dense"].set_index("lr")
    assert not dense.loc[0.1, "learns"] and dense.loc[0.1, "last train acc (%)"] < 15   # PAPER.md's rate collapsed
    assert probe[probe["method"] == "jst"]["learns"].all()                              # JST's network trained at 0.1
    assert grid.CIFAR_VGG16.overrides["coarse_lr"] == max(dense.index[dense["learns"]])


def test_the_schedule_probes_judge_each_dense_curve_by_the_plateau_rule():
    folder = RESULTS / "schedule_probe"
    probe = schedule_probe(folder)
    assert set(probe["benchmark"]) == {"cifar10_sample-resnet20", "fashion_mnist-resnet20"}
    assert (probe.groupby("benchmark").size() >= 2).all()
    train = {"cifar10_sample-resnet20": 4068, "fashion_mnist-resnet20": 8000}   # Dval held out of each
    for r in read_records(folder, recursive=True):
        assert r.method == "dense" and r.data["val_held_out"] and r.data["train"] == train[r.folder.parent.name]
        curve = [e for e in RunLog(r.folder / "log.jsonl").read() if e.get("stage") == "dense"]
        assert len(curve) == r.config["dense_epochs"] and all("val_acc" in e for e in curve)
    assert (probe["plateaued"] == (probe["Dval gain, last 20% (points)"] < 0.5)).all()


def test_sparsity_reach_sums_the_l1_steps_of_slimmings_sparsity_stage(data_root):
    from jst.engine.train import lr_at
    df = sparsity_reach(grid.BLOCKS, RESULTS)
    cifar = df[df["comparison"] == grid.CIFAR_RESNET20.name].set_index("run")
    folder = grid.CIFAR_RESNET20.folder(RESULTS)
    assert set(cifar.index) == {r.name for r in read_records(folder, "slimming-f*-s*")}
    r = read_record(folder / "slimming-f0.5-s0")
    cfg = r.config
    images = sum(1 for p in (data_root / "cifar10-sample" / "train").rglob("*") if p.is_file())
    steps = images // cfg["batch_size"]    # the whole CIFAR-10 sample training set, full batches only
    expected = cfg["slimming_lambda"] * steps * sum(lr_at("cosine", cfg["coarse_lr"], e, cfg["coarse_epochs"])
                                                    for e in range(cfg["coarse_epochs"]))
    row = cifar.loc["slimming-f0.5-s0"]
    assert row["L1 reach"] == pytest.approx(expected) and row["with momentum (at most)"] == pytest.approx(10 * expected)
    assert row["threshold"] == r.method_details["threshold"] and row["sparsity epochs"] == cfg["coarse_epochs"]
    paper = df.iloc[-1]
    assert paper["comparison"].startswith("paper preset") and paper["steps per epoch"] == 50_000 // 128
    assert paper["L1 reach"] > 50 * row["L1 reach"]      # ten times the epochs on ten times the images


def test_the_finetuning_probes_judge_each_final_stage_and_size_the_main_blocks_budget():
    from jst.experiments import grid
    from jst.report.training import finetune_probe
    probe = finetune_probe(RESULTS / "finetune_probe")
    assert list(probe["budget (epochs)"]) == sorted(probe["budget (epochs)"]) and len(probe) >= 2
    for _, row in probe.iterrows():   # each row is its record's final stage, judged by the one rule
        assert row["plateaued"] == (row["Dval gain, last 20% (points)"] < 0.5)
    cheapest = probe[probe["plateaued"] == True]["budget (epochs)"].min()   # noqa: E712 (numpy bool)
    assert grid.GRID_CIFAR_RESNET20.overrides["budget_epochs"] == cheapest
