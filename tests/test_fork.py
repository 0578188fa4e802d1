"""A run forked from another run's first, target-free stage (JST's coarse training, Network Slimming's sparsity
training) is the run it would have been: weights byte for byte, record and log (timings and the fork's own note
aside); a source that differs in what that stage reads is not used."""
import hashlib
import json
from pathlib import Path

import pytest

from jst.config import make_config
from jst.engine import fork
from jst.engine.pipeline import run

# Every option read only after coarse training changed at once (AFTER_STAGE), at another FLOPs target.
AFTER = {"flops_target": 0.3, "perturbation": 0.0, "threshold_mode": "fixed", "fixed_threshold": 0.6,
         "use_updater": False, "selection": "at_step", "projection_both_ways": False,
         "policy_baseline": "moving_average", "filter_score": "signed", "finetune_lr": 0.02}
SMALL = {"max_train_samples": 800, "coarse_epochs": 2, "search_steps": 2, "search_epochs": [1, 1],
         "finetune_epochs": 1}
VARIES = {"wall_time_s", "seconds", "time", "resumed", "attempts", "forked_from", "command"}


def config(data_root, method="jst", **overrides):
    values = {"flops_target": 0.5, "seed": 0, **SMALL, **overrides}
    return make_config("smoke", "lenet5", method=method, dataset="mnist", data_root=str(data_root), device="cpu",
                       **values)


def outcome(out):
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in VARIES}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj
    weights = hashlib.sha256((out / "model" / "model.safetensors").read_bytes()).hexdigest()
    log = [strip(json.loads(line)) for line in (out / "log.jsonl").read_text().splitlines()]
    return weights, strip(json.loads((out / "result.json").read_text())), log


@pytest.fixture(scope="module")
def source(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("source") / "run"
    run(config(data_root), out)
    return out


def test_a_forked_slimming_run_is_the_run_it_would_have_been(data_root, tmp_path):
    """Network Slimming's sparsity training is target-free too: forked at another target, the same run."""
    src = tmp_path / "source"
    run(config(data_root, method="slimming"), src)
    cfg = config(data_root, method="slimming", flops_target=0.3, finetune_lr=0.02)
    assert run(cfg, tmp_path / "forked", fork_source=src)["forked_from"] == {"run": str(src), "stage": "sparsity"}
    run(config(data_root, method="slimming", flops_target=0.3, finetune_lr=0.02), tmp_path / "own")
    assert outcome(tmp_path / "forked") == outcome(tmp_path / "own")


def test_a_forked_run_is_the_run_it_would_have_been(data_root, source, tmp_path):
    cfg = config(data_root, **AFTER)
    assert fork.usable(source, cfg)
    forked = run(cfg, tmp_path / "forked", fork_source=source)
    assert forked["forked_from"] == {"run": str(source), "stage": "coarse"}
    own = run(config(data_root, **AFTER), tmp_path / "own")
    assert own["forked_from"] is None
    assert outcome(tmp_path / "forked") == outcome(tmp_path / "own")
    # the coarse training counts as the forked run's: its training budget and the coarse log are the run's own
    assert forked["training"] == own["training"] and forked["wall_time_s"] > 0


@pytest.mark.parametrize("changed", [{"coarse_epochs": 1}, {"filter_lambda": 0.0}, {"search_steps": 3},
                                     {"seed": 1}, {"gate_position": "before_bn"}])
def test_a_source_whose_coarse_training_differs_is_not_used(data_root, source, changed):
    cfg = config(data_root, **changed)
    assert not fork.usable(source, cfg)
    assert fork.differences(json.loads((source / "config.json").read_text()), cfg) == sorted(changed)


def test_an_unfinished_or_other_source_is_not_used_and_leaves_no_mark(data_root, source, tmp_path):
    assert not fork.usable(tmp_path / "nothing", config(data_root))
    assert not fork.usable(source, config(data_root, coarse_training=False))
    out = tmp_path / "run"
    out.mkdir()
    (out / fork.FORKED).write_text('{"run": "stale", "stage": "coarse"}')   # an earlier attempt's, cut short
    fork.start(out, config(data_root, coarse_epochs=1), source)
    assert not (out / fork.FORKED).exists() and not (out / "checkpoints").exists()


def test_a_comparison_forks_its_later_targets_from_the_first(data_root, tmp_path):
    from jst.experiments.compare import compare, fork_source_of
    assert fork_source_of("l1norm", 0.3, 0, tmp_path, 0.5) is None
    assert fork_source_of("jst", 0.5, 1, tmp_path, 0.5) is None              # the first target trains its own
    assert fork_source_of("jst", 0.3, 1, tmp_path, 0.5) == tmp_path / "jst-f0.5-s1"
    assert fork_source_of("jst", 0.5, 1, tmp_path, 0.5, "main") == tmp_path.__class__("main") / "jst-f0.5-s1"
    assert fork_source_of("slimming", 0.3, 1, tmp_path, 0.5) == tmp_path / "slimming-f0.5-s1"
    assert fork_source_of("ista", 0.3, 1, tmp_path, 0.5) is None     # its penalty stops at the target: not target-free
    out = tmp_path / "cmp"
    compare(["jst", "slimming"], [0], [0.5, 0.3], dataset="mnist", arch="lenet5", data_root=data_root,
            scale="smoke", out=out, overrides=SMALL, device="cpu")
    for method, stage in fork.STAGES.items():
        first, later = (json.loads((out / f"{method}-f{t}-s0" / "result.json").read_text()) for t in ("0.5", "0.3"))
        assert first["forked_from"] is None
        assert later["forked_from"] == {"run": str(out / f"{method}-f0.5-s0"), "stage": stage}


def test_the_search_only_ablations_fork_from_the_main_block():
    """Which protocol ablations may start from the main block's JST runs: those that change only the search."""
    from jst.experiments import grid
    main = grid.GRID_CIFAR_RESNET20

    def cfg(block):
        return make_config(block.scale, block.arch, method="jst", dataset=block.dataset, flops_target=0.5, seed=0,
                           **block.overrides)
    shared = {Path(b.out).name for b in grid.PROTOCOL_ABLATIONS
              if not fork.differences(cfg(main).to_json(), cfg(b)) and cfg(b).coarse_training}
    assert shared == {"no_perturbation", "fixed_threshold_0.6", "fixed_threshold_0.8", "no_updater",
                      "signed_filter_score", "moving_average_baseline", "selection_at_step", "projection_down_only"}


def test_the_run_command_forks_on_request_and_says_when_it_cannot(data_root, source, tmp_path, capsys):
    from jst.cli import main
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    base = ["run", "--dataset", "mnist", "--arch", "lenet5", "--data-root", str(data_root), "--scale", "smoke",
            "--device", "cpu", "--fork-from", str(source), *sets]
    assert main([*base, "--flops-target", "0.3", "--out", str(tmp_path / "forked")]) == 0
    record = json.loads((tmp_path / "forked" / "result.json").read_text())
    assert record["forked_from"] == {"run": str(source), "stage": "coarse"}
    capsys.readouterr()
    assert main([*base, "--set", "filter_lambda=0.0", "--out", str(tmp_path / "own")]) == 0
    assert "--fork-from" in capsys.readouterr().err      # not used: its coarse training differs, in one line
    assert json.loads((tmp_path / "own" / "result.json").read_text())["forked_from"] is None
