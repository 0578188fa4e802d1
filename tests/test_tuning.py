"""Fair tuning and the protocol block: every method gets the same number of Dval trials, the most accurate
eligible trial is chosen without reading the test set, the grid runs with the chosen values, and the
methods that prune a trained network share the seed's dense run (real MNIST, smoke scale)."""
import json
import shlex

import pytest

from jst.cli import build_parser
from jst.experiments import grid
from jst.experiments.tuning import TRIALS, choose, dval_of
from jst.methods.shared_dense import SHARED_BY

PROTOCOL = {"holdout_val": True, "share_dense": True, "budget_epochs": 8.0}


@pytest.fixture(scope="module")
def block(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    b = grid.Block("mnist-lenet5", "mnist", "lenet5", methods=("dense", "l1norm", "slimming"),
                   seeds=(0, 1), scale="smoke", overrides=PROTOCOL, out="grid/mnist-lenet5-smoke", tuned=True)
    b.run(root, data_root, "cpu")
    return b, root


def test_every_method_has_the_same_number_of_trials_and_the_best_on_dval_is_chosen(block):
    b, root = block
    summary = json.loads((b.folder(root) / "tuning.json").read_text())
    assert set(summary["methods"]) == {"l1norm", "slimming"}     # dense is the reference: not tuned
    for method, c in summary["methods"].items():
        assert [t["values"] for t in c["trials"]] == TRIALS[method]
        if not any(t["eligible"] for t in c["trials"]):   # e.g. slimming's penalty cannot act in one smoke epoch
            assert method != "l1norm" and c["trial"] == f"{method}-trial0" and "preset" in c["note"]
            continue
        best = max(t["dval_acc"] for t in c["trials"] if t["eligible"])
        assert next(t for t in c["trials"] if t["run"] == c["trial"])["dval_acc"] == best


def test_the_grid_runs_each_method_with_its_chosen_values(block):
    b, root = block
    folder = b.folder(root)
    chosen = {m: c["values"] for m, c in json.loads((folder / "tuning.json").read_text())["methods"].items()}
    for method, values in chosen.items():
        for seed in (0, 1):
            config = json.loads((folder / f"{method}-f0.5-s{seed}" / "config.json").read_text())
            assert all(config[k] == v for k, v in values.items())
            shared = str(folder / f"dense-f1-s{seed}") if method in SHARED_BY else ""   # slimming: from scratch
            assert config["dense_from"] == shared
    request = json.loads((folder / "compare.json").read_text())
    assert request["method_overrides"] == chosen
    argv = shlex.split(request["command"])[3:]
    assert sorted(build_parser().parse_args(argv).set_for) == sorted(
        f"{m}:{k}={json.dumps(v)}" for m, values in chosen.items() for k, v in values.items())


def test_the_chosen_trial_is_the_grids_seed_zero_run(block):
    b, root = block
    folder = b.folder(root)
    for method, c in json.loads((folder / "tuning.json").read_text())["methods"].items():
        trial = json.loads((folder / "tuning" / c["trial"] / "result.json").read_text())
        grid_run = json.loads((folder / f"{method}-f0.5-s0" / "result.json").read_text())
        assert grid_run["pruned"] == trial["pruned"] and grid_run["config"] == trial["config"]


def test_every_run_of_the_block_lands_on_the_same_budget(block):
    b, root = block
    rows = json.loads((b.folder(root) / "table.json").read_text())
    for r in rows:
        for name in r["runs"]:
            t = json.loads((b.folder(root) / name / "result.json").read_text())["training"]
            if r["method"] != "dense":
                assert abs(t["epochs_equivalent"] - PROTOCOL["budget_epochs"]) <= 0.5 + 1e-9


def test_choice_ignores_ineligible_trials_and_breaks_ties_to_the_first():
    def rec(acc, acted=True, within=True):
        return {"convergence": {"final_stage": "finetune", "stages": {"finetune": {"final_val_acc": acc}}},
                "mechanism": {"acted": acted}, "budget": {"within_tolerance": within}}
    assert choose([rec(0.9), rec(0.95, acted=False), rec(0.93, within=False), rec(0.91)]) == 3
    assert choose([rec(0.9), rec(0.9)]) == 0
    assert choose([rec(0.9, acted=False)]) is None
    assert dval_of(rec(0.9)) == 0.9


def test_the_block_summary_reads_its_records(block):
    from jst.report.protocol_summary import (
        dense_evidence,
        jst_against_others,
        markdown,
        methods_table,
        verdict_sentence,
    )
    b, root = block
    folder = b.folder(root)
    dense = dense_evidence(folder)
    assert list(dense["run"]) == ["dense-f1-s0", "dense-f1-s1"] and (dense["epochs"] == 2).all()
    table = methods_table(folder, 0.5).set_index("method")
    assert table.loc["l1norm", "budget (epochs)"] == "8.0" and table.loc["dense", "tuned"] == "-"
    chosen = json.loads((folder / "tuning.json").read_text())["methods"]["l1norm"]["values"]
    assert table.loc["l1norm", "tuned"] == ", ".join(f"{k}={v}" for k, v in chosen.items())
    versus = jst_against_others(folder, 0.5)       # JST is not in this block: only Scratch-B's check, absent too
    assert versus.empty and verdict_sentence(folder, 0.5) == "JST has not run here yet"
    assert "### FLOPs target 0.5" in markdown(folder)


def test_the_summary_command_reads_a_block_or_the_grid_root(block, capsys, tmp_path):
    from jst.report.protocol_summary import main
    b, root = block
    assert main([str(root / "grid")]) == 0 and "## mnist-lenet5-smoke" in capsys.readouterr().out
    assert main([str(b.folder(root))]) == 0 and "### FLOPs target 0.5" in capsys.readouterr().out
    assert main([str(tmp_path)]) == 2 and capsys.readouterr().err.count("\n") == 1


def test_sensitivity_of_the_converged_dense_network(block, data_root):
    import pandas as pd
    b, root = block
    sens = grid.Sensitivity("mnist-lenet5-smoke", b, network="dense")
    sens.run(root, data_root, "cpu")
    df = pd.read_csv(sens.csv(root))
    assert sens.csv(root) == root / "grid" / "sensitivity" / "mnist-lenet5-smoke.csv"
    assert set(df["layer"]) == {"conv1", "conv2", "fc1", "fc2"} and df["run"].iloc[0].endswith("dense-f1-s0")
    dense = json.loads((b.folder(root) / "dense-f1-s0" / "result.json").read_text())
    # the unpruned network on the held-out Dval is the dense run's last Dval measurement
    assert df["base_acc"].iloc[0] == pytest.approx(dense["convergence"]["stages"]["dense"]["final_val_acc"])
    assert "--first-grid" not in sens.command(root, data_root)


def test_a_block_under_way_reports_the_targets_whose_runs_have_all_finished(block, tmp_path, monkeypatch):
    """Before a block's table exists, the book shows each FLOPs target whose every run has finished, read from
    the records alike, and glues its verdict as partial; an unfinished target is not shown."""
    import shutil

    from jst.book import protocol_grid
    from jst.experiments.compare import rows
    from jst.report.protocol_summary import methods_table
    b, root = block
    finished_table = methods_table(b.folder(root), 0.5)
    under_way = grid.Block(b.name, b.dataset, b.arch, methods=b.methods, seeds=b.seeds, flops_targets=(0.5, 0.25),
                           scale=b.scale, overrides=b.overrides, out=b.out, tuned=True)
    folder = under_way.folder(tmp_path)
    shutil.copytree(b.folder(root), folder)
    (folder / "table.json").unlink()
    assert under_way.complete_targets(tmp_path) == [0.5]
    (folder / "l1norm-f0.5-s1" / "result.json").unlink()                       # one run of the target unfinished
    assert under_way.complete_targets(tmp_path) == []
    shutil.copy(b.folder(root) / "l1norm-f0.5-s1" / "result.json", folder / "l1norm-f0.5-s1" / "result.json")
    partial = rows(folder, under_way.methods, under_way.seeds, [0.5])
    assert methods_table(folder, 0.5, partial).equals(finished_table)
    glued, shown = {}, []
    monkeypatch.setattr(protocol_grid, "glue", lambda key, value, display: glued.update({key: value}))
    monkeypatch.setattr(protocol_grid, "display", shown.append)
    protocol_grid.show([under_way], tmp_path, "data")
    text = " ".join(s.data for s in shown if isinstance(s, protocol_grid.Markdown))
    assert "At 0.5 of the dense FLOPs" in text and "At 0.25" not in text and "Under way" in text
    assert glued[protocol_grid.glue_key(under_way)].endswith("(at FLOPs 0.5; the block's other targets are under way)")
    from jst.report.protocol_summary import markdown
    text = markdown(folder)                                     # the command line's summary reads it alike
    assert "(under way" in text and "### FLOPs target 0.5" in text and text.count("### FLOPs target") == 1
    assert not (folder / "table.json").exists()                                 # reading writes nothing


def test_an_ablation_block_takes_the_main_blocks_tuned_values_and_waits_for_them(block, tmp_path, data_root):
    from jst.engine.errors import JstError
    b, root = block
    chosen = json.loads((b.folder(root) / "tuning.json").read_text())["methods"]
    variant = grid.Block(f"{b.name}-variant", b.dataset, b.arch, methods=("l1norm",), seeds=(0,), scale=b.scale,
                         overrides={"holdout_val": True}, out="grid/ablations/x/variant", tuned_by=str(b.relative))
    assert variant.method_overrides(root) == {"l1norm": chosen["l1norm"]["values"]}   # its own methods only
    assert "--set-for l1norm:" in variant.command(root, data_root)
    with pytest.raises(JstError, match="tuning has not run"):
        variant.run(tmp_path, data_root, "cpu")                    # no main block under this root: refused
    assert not variant.folder(tmp_path).exists()
    assert grid.is_ablation(variant) and grid.block_name(variant) == "ablation-variant"
    main = grid.GRID_CIFAR_RESNET20
    for a in grid.PROTOCOL_ABLATIONS:   # the protocol's ablations: the main block's protocol, JST alone
        assert a.methods == ("jst",) and a.tuned_by == str(main.relative) and not a.share_dense
        assert all(a.overrides[k] == v for k, v in main.overrides.items() if k != "share_dense")


def test_a_run_that_does_not_count_is_named_and_left_out_of_its_methods_statistics(block):
    from jst.experiments.compare import rows
    from jst.report.comparisons import comparison
    from jst.report.protocol_summary import methods_table
    b, root = block
    folder = b.folder(root)
    one_out = rows(folder, b.methods, b.seeds, [0.5], counted=lambda r: r.name != "l1norm-f0.5-s1")
    row = next(r for r in one_out if r["method"] == "l1norm")
    assert row["n_seeds"] == 1 and row["runs"] == ["l1norm-f0.5-s0"] and row["not_counted"] == ["l1norm-f0.5-s1"]
    kept = json.loads((folder / "l1norm-f0.5-s0" / "result.json").read_text())["pruned"]["test_acc"]
    assert row["test_acc_mean"] == kept
    none = rows(folder, b.methods, b.seeds, [0.5], counted=lambda r: r.method != "l1norm")
    assert "l1norm" not in set(comparison(folder, 0.5, none)["method"])          # nothing of it to compare
    table = methods_table(folder, 0.5, none).set_index("method")
    assert table.loc["l1norm", "seeds"] == 0 and table.loc["l1norm", "protocol met"] == "0/2"
    assert "l1norm-f0.5-s0" in table.loc["l1norm", "not counted"]
