"""The reproduction's experiment grid (jst.experiments.grid): every block's printed command is a valid
`python -m jst compare` line whose configs validate, and a block runs end to end (comparison, latency,
sensitivity) on real MNIST at smoke scale."""
import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from jst.cli import build_parser
from jst.config import make_config, parse_assignment
from jst.experiments import grid
from jst.experiments.compare import plan


@pytest.mark.parametrize("block", [b for b in [*grid.BLOCKS, *grid.PROTOCOL_GRID] if isinstance(b, grid.Block)],
                         ids=lambda b: f"{b.relative}")
def test_block_command_is_a_valid_compare_line(block):
    argv = shlex.split(block.command(grid.RESULTS_ROOT, grid.COMMAND_DATA_ROOT))[3:]  # drop "python -m jst"
    args = build_parser().parse_args(argv)
    overrides = dict(parse_assignment(s) for s in args.set)
    assert overrides == block.overrides  # the printed command runs what the block runs
    for method, target, seed in plan(args.methods.split(","), [int(s) for s in args.seeds.split(",")],
                                     [float(t) for t in args.flops_targets.split(",")]):
        make_config(args.scale, args.arch, method=method, dataset=args.dataset, data_root=args.data_root,
                    flops_target=target, seed=seed, **overrides).validate()
    assert args.out == str(block.folder(grid.RESULTS_ROOT))
    # an ablation may take its coarse networks from the block it is tuned by (jst.engine.fork)
    assert args.fork_from == (str(Path(grid.RESULTS_ROOT) / block.tuned_by) if block.tuned_by else None)


def test_a_command_names_the_roots_it_is_given(tmp_path):
    block = grid.CIFAR_RESNET20
    args = build_parser().parse_args(shlex.split(block.command(tmp_path / "r", tmp_path / "d"))[3:])
    assert args.out == str(tmp_path / "r" / block.relative) and args.data_root == str(tmp_path / "d" / block.data)
    sens = next(b for b in grid.BLOCKS if isinstance(b, grid.Sensitivity))
    only = f"python -m jst.experiments --first-grid --only {grid.block_name(sens)}"   # a first-grid block
    assert sens.command(grid.RESULTS_ROOT, grid.COMMAND_DATA_ROOT) == only   # the defaults go without saying
    named = f"{only} --results-root {tmp_path / 'r'} --data-root {tmp_path / 'd'}"
    assert sens.command(tmp_path / "r", tmp_path / "d") == named


@pytest.mark.parametrize("flag, blocks", [([], grid.PROTOCOL_GRID), (["--first-grid"], grid.BLOCKS)],
                         ids=["protocol grid", "first grid"])
def test_block_names_are_unique_and_listed(capsys, flag, blocks):
    names = [grid.block_name(b) for b in blocks]
    assert len(names) == len(set(names))
    assert grid.main(["--list", *flag]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names)
    assert all(str(b.folder(grid.RESULTS_ROOT)) in out for b in blocks if isinstance(b, grid.Block))
    for b in blocks:  # a sensitivity block's command names a block that exists
        if isinstance(b, grid.Sensitivity):
            assert b.command(grid.RESULTS_ROOT, grid.COMMAND_DATA_ROOT).split("--only ")[1] in names


def test_block_runs_comparison_latency_and_sensitivity(data_root, tmp_path):
    block = grid.Block("mnist-lenet5", "mnist", "lenet5", methods=("jst", "dense"), seeds=(0,), scale="smoke")
    block.run(tmp_path, data_root, "cpu")
    assert grid.finished(block, tmp_path) == (2, 2)
    folder = block.folder(tmp_path)
    assert folder == tmp_path / "compare" / "mnist-lenet5-smoke"
    rows = json.loads((folder / "table.json").read_text())
    assert {r["method"] for r in rows} == {"jst", "dense"}
    latency = json.loads((folder / "latency.json").read_text())
    jst = latency["runs"]["jst-f0.5-s0"]
    assert set(jst) == {"1", "64"} and jst["64"]["speedup"]["median"] > 0
    assert latency["trained_weights"] == {"jst-f0.5-s0": True, "dense-f1-s0": True}
    assert "speedup" not in latency["runs"]["dense-f1-s0"]["64"]

    sens = grid.Sensitivity("mnist-lenet5", block)
    sens.run(tmp_path, data_root, "cpu")
    df = pd.read_csv(sens.csv(tmp_path))
    assert set(df["layer"]) == {"conv1", "conv2", "fc1", "fc2"}
    assert len(df) == 4 * 9 and df["val_acc"].between(0, 1).all()
    assert (df["accuracy drop"] == df["base_acc"] - df["val_acc"]).all()
    assert grid.finished(sens, tmp_path) == (1, 1)


    # a wider block over the same folder (one more seed, not run): --tables reports the finished runs only
    wider = grid.Block("mnist-lenet5", "mnist", "lenet5", methods=("jst", "dense"), seeds=(0, 1), scale="smoke")
    (folder / "table.json").unlink()
    assert grid.main(["--tables", "--results-root", str(tmp_path)], blocks=[wider]) == 0
    assert {(r["method"], r["n_seeds"]) for r in json.loads((folder / "table.json").read_text())} == \
        {("jst", 1), ("dense", 1)}
    recorded = json.loads((folder / "compare.json").read_text())["command"]
    assert recorded == wider.command(tmp_path, grid.COMMAND_DATA_ROOT)
    assert grid.finished(wider, tmp_path) == (2, 4)  # nothing was started


def test_bad_data_root_is_one_line_error(tmp_path, capsys):
    assert grid.main(["--data-root", str(tmp_path / "missing"), "--only", "mnist-lenet5"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
