"""The comparison runner: methods x seeds x FLOPs targets on one dataset and architecture, one tidy table.

Each run goes to ``OUT/<method>-f<target>-s<seed>/`` through ``jst.engine.pipeline.run``, so a finished run
(one with result.json) is read back, never redone, and an unfinished one resumes from its checkpoints.
``dense`` does not depend on the target: it runs once per seed (``dense-f1-s<seed>``) and its row is
repeated for every target, so each target's rows are a complete table. ``scratch`` trains the
architecture of another method's run (``scratch_source``, default jst) of the same seed and target,
which runs first (also when it is not in the list; then it has no row of its own).

``OUT/table.csv`` and ``OUT/table.json`` hold one row per (method, FLOPs target): the mean and the sample
standard deviation (n - 1; 0 for one seed) over seeds of test accuracy, FLOPs kept, params kept and wall
time, with the number of seeds. ``OUT/compare.json`` records what was asked for.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

from jst.config import make_config
from jst.engine import checkpoint, lock
from jst.engine.errors import ConfigError, JstError
from jst.report.records import is_record, mechanism_summary, read_record

METRICS = {"test_acc": ("pruned", "test_acc"), "flops_ratio": ("pruned", "flops_ratio"),
           "params_ratio": ("pruned", "params_ratio"), "wall_time_s": ("wall_time_s",)}
COLUMNS = ["method", "flops_target", "n_seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")),
           "meets_budget", "mechanism", "dataset", "arch", "scale", "seeds", "runs", "not_counted"]


def run_name(method: str, target: float, seed: int) -> str:
    return f"{method}-f{target:g}-s{seed}"


def _target_of(method: str, target: float) -> float:
    return 1.0 if method == "dense" else target


def plan(methods: list[str], seeds: list[int], flops_targets: list[float],
         scratch_source: str = "jst", share_dense: bool = False) -> list[tuple[str, float, int]]:
    """(method, target, seed) in the order they run: a scratch run after the run it copies; dense once
    per seed, first when the others start from it (``share_dense``)."""
    order = [m for m in methods if m != "scratch"]
    if share_dense:
        order = ["dense", *[m for m in order if m != "dense"]]
    if "scratch" in methods:
        if scratch_source == "scratch":
            raise ConfigError("scratch_source cannot be scratch")
        if scratch_source not in order:
            order.append(scratch_source)
        order.append("scratch")
    runs: list[tuple[str, float, int]] = []
    for target in flops_targets:
        for seed in seeds:
            for method in order:
                key = (method, _target_of(method, target), seed)
                if key not in runs:
                    runs.append(key)
    return runs


def complete_targets(out, methods, seeds, flops_targets, share_dense: bool = False) -> list[float]:
    """The FLOPs targets under ``out`` whose every run has finished (the seeds' dense runs and Scratch-B's
    included): what a comparison under way can already report."""
    def finished(t: float) -> bool:
        runs = plan(list(methods), list(seeds), [t], share_dense=share_dense)
        return all(is_record(Path(out) / run_name(m, target, s)) for m, target, s in runs)
    return [t for t in flops_targets if finished(t)]


def compare(methods, seeds, flops_targets, *, dataset: str, arch: str, data_root, scale: str, out,
            overrides: dict | None = None, device: str = "auto", command: str | None = None,
            method_overrides: dict[str, dict] | None = None, jobs: int = 1, fork_from=None) -> list[dict]:
    """Run every (method, seed, target) not yet finished, then write and return the table's rows.
    ``overrides`` apply to every run, ``method_overrides[method]`` to that method's runs (tuned values).
    ``command`` (the CLI line) is recorded in compare.json. ``jobs`` runs that many at once, each in its own
    process (``jst.experiments.workers``). One process at a time writes a comparison folder: a second one
    started on it is refused (each run also locks its own folder). A JST or Network Slimming run may start from
    the coarse (sparsity) network of its method's run of its seed at the first target (or in ``fork_from``, a
    folder of another block's runs at its target) when that stage is the same (``jst.engine.fork``: the
    outcome is the same)."""
    methods, seeds, flops_targets = list(methods), [int(s) for s in seeds], [float(t) for t in flops_targets]
    with lock.hold(out):
        return _compare(methods, seeds, flops_targets, dataset=dataset, arch=arch, data_root=data_root,
                        scale=scale, out=Path(out), overrides=dict(overrides or {}), device=device, command=command,
                        method_overrides={m: dict(v) for m, v in (method_overrides or {}).items()}, jobs=jobs,
                        fork_from=fork_from)


def config_for(method: str, target: float, seed: int, *, dataset: str, arch: str, data_root, scale: str, out: Path,
               overrides: dict, method_overrides: dict, device: str = "auto", extra: dict | None = None):
    """The configuration of one run of a comparison in ``out``: the overrides, the method's own, ``extra``
    (a tuning trial's); Scratch-B copies its source's run of the seed and target; with ``share_dense`` the
    methods that prune a trained network start from the seed's dense run."""
    from jst.methods.shared_dense import SHARED_BY
    values = {**overrides, **method_overrides.get(method, {}), **(extra or {})}
    if method == "scratch":
        values["scratch_from"] = str(out / run_name(overrides.get("scratch_source", "jst"), target, seed))
    if values.get("share_dense") and method in SHARED_BY:
        values["dense_from"] = str(out / run_name("dense", 1.0, seed))
    return make_config(scale, arch, method=method, dataset=dataset, data_root=str(data_root) if data_root else None,
                       flops_target=target, seed=seed, device=device, **values)


def sources(method: str, target: float, seed: int, overrides: dict) -> tuple[str, ...]:
    """The runs a run starts from: Scratch-B its source's run, a shared-dense method its seed's dense run."""
    from jst.methods.shared_dense import SHARED_BY
    if method == "scratch":
        return (run_name(overrides.get("scratch_source", "jst"), target, seed),)
    if overrides.get("share_dense") and method in SHARED_BY:
        return (run_name("dense", 1.0, seed),)
    return ()


def fork_source_of(method: str, target: float, seed: int, out: Path, first: float, fork_from=None) -> Path | None:
    """The run whose first, target-free stage a run may take (``jst.engine.fork`` decides whether it can): the
    run of its method, target and seed in ``fork_from``, else its seed's run at the block's first target."""
    from jst.engine.fork import STAGES
    if method not in STAGES:
        return None
    if fork_from:
        return Path(fork_from) / run_name(method, target, seed)
    return None if target == first else out / run_name(method, first, seed)


def _compare(methods, seeds, flops_targets, *, dataset, arch, data_root, scale, out: Path, overrides: dict,
             device, command, method_overrides: dict, jobs: int = 1, fork_from=None) -> list[dict]:
    from jst.experiments.workers import Job, run_all
    scratch_source = overrides.get("scratch_source", "jst")
    share = bool(overrides.get("share_dense"))
    save_request(out, methods, seeds, flops_targets, dataset=dataset, arch=arch, scale=scale, overrides=overrides,
                 command=command, method_overrides=method_overrides)
    work = [Job(run_name(method, target, seed),
                config_for(method, target, seed, dataset=dataset, arch=arch, data_root=data_root, scale=scale,
                           out=out, overrides=overrides, method_overrides=method_overrides, device=device),
                out / run_name(method, target, seed), sources(method, target, seed, overrides),
                fork_source_of(method, target, seed, out, flops_targets[0], fork_from))
            for method, target, seed in plan(methods, seeds, flops_targets, scratch_source, share_dense=share)]
    failures = run_all(work, jobs)   # one failed run does not stop the grid; reported below
    rows = table(out, methods, seeds, flops_targets)
    if failures:
        raise JstError("some runs failed (the table has the others):\n  " + "\n  ".join(failures))
    return rows


def save_request(out, methods, seeds, flops_targets, *, dataset: str, arch: str, scale: str, overrides: dict,
                 command: str | None, method_overrides: dict | None = None) -> None:
    """compare.json: what the table was asked to hold, and the command that (re)makes it."""
    checkpoint.save_json({"methods": list(methods), "seeds": [int(s) for s in seeds],
                          "flops_targets": [float(t) for t in flops_targets], "dataset": dataset, "arch": arch,
                          "scale": scale, "overrides": overrides, "method_overrides": method_overrides or {},
                          "command": command}, Path(out) / "compare.json")


def table(out, methods, seeds, flops_targets) -> list[dict]:
    """Aggregate the finished runs under ``out`` into rows (``rows``); writes table.csv and table.json."""
    out = Path(out)
    found = rows(out, methods, seeds, flops_targets)
    checkpoint.save_json(found, out / "table.json")
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in found:
            writer.writerow({k: (";".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()})
    return found


def rows(out, methods, seeds, flops_targets, counted=None) -> list[dict]:
    """One row per method and FLOPs target with finished runs under ``out``: mean and std over its seeds of
    every metric, and which runs they are; writes nothing (a block under way is read this way). With
    ``counted`` (a record -> bool, e.g. ``jst.report.protocol.counted``) only the runs it accepts enter the
    statistics; the others are named in ``not_counted`` (a method none of whose runs counts: ``n_seeds`` 0)."""
    out = Path(out)
    rows = []
    for target in flops_targets:
        for method in methods:
            names = [run_name(method, _target_of(method, target), s) for s in seeds]
            finished = [read_record(out / n) for n in names if is_record(out / n)]
            if not finished:
                continue
            records = [r for r in finished if counted is None or counted(r)]
            row = {"method": method, "flops_target": target, "n_seeds": len(records),
                   "not_counted": [r.name for r in finished if r not in records]}
            if records:
                for metric, path in METRICS.items():
                    values = [_get(r.raw, path) for r in records]   # checked finite, named by its path in the record
                    row[f"{metric}_mean"] = statistics.fmean(values)
                    row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
                row["meets_budget"] = all(r.meets_budget for r in records)  # each run against its own target
            row["mechanism"] = mechanism_summary(finished)  # a fallback's runs are labelled, never the method
            row.update(dataset=finished[0].dataset, arch=finished[0].arch, scale=finished[0].scale,
                       seeds=[r.seed for r in records], runs=[r.name for r in records])
            rows.append(row)
    return rows


def load_table(out) -> list[dict]:
    """The rows of a comparison written by ``compare``."""
    path = Path(out) / "table.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise JstError(f"{path}: no comparison table ({e})") from None


def _get(result: dict, path: tuple[str, ...]) -> float:
    value = result
    for key in path:
        value = value[key]
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JstError(f"result of {result.get('method')} seed {result.get('seed')}: {'.'.join(path)} is {value!r}")
    return float(value)
