"""How far the grid has got: finished runs per block, the compute they took and the machines they ran on."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.experiments.grid import Block, block_name, finished
from jst.report.hardware import run_hardware
from jst.report.records import is_record, read_record, read_records


def status(blocks, results_root: str | Path, data_root: str | Path) -> pd.DataFrame:
    """Per block of the grid: finished runs out of planned, and the command that (re)runs it (naming
    ``data_root`` as its data folder)."""
    rows = []
    for b in blocks:
        done, total = finished(b, results_root)
        rows.append({"block": block_name(b), "finished": done, "planned": total,
                     "command": b.command(results_root, data_root)})
    return pd.DataFrame(rows)


def compute_spent(blocks, results_root: str | Path) -> pd.DataFrame:
    """Per comparison block: its finished runs' summed wall time and hardware, and what the unfinished runs
    would take at the finished ones' mean (an estimate for planning, not a measurement)."""
    rows = []
    for b in blocks:
        if not isinstance(b, Block):
            continue
        planned = b.runs(results_root)
        done = [read_record(r) for r in planned if is_record(r)]
        hours = sum(r.wall_time_s for r in done) / 3600
        hardware = sorted({text for r in done for text in run_hardware(r.hardware, r.attempts)})
        to_finish = round(hours / len(done) * (len(planned) - len(done)), 1) if done else None
        rows.append({"block": block_name(b), "finished": len(done), "planned": len(planned),
                     "wall hours spent": round(hours, 2), "hardware": "; ".join(hardware),
                     "hours to finish (estimate)": to_finish})
    return pd.DataFrame(rows)


def seconds_per_epoch(dataset: str, arch: str, results_root: str | Path,
                      batch_size: int | None = None) -> tuple[float, str] | None:
    """Measured seconds per epoch of one training image set (seconds per image x the image count), from the
    newest dense run of ``dataset`` (a dataset, or an ImageFolder's folder name: ``RunRecord.benchmark``) and
    ``arch`` under ``results_root`` whose log times its epochs (trained at ``batch_size``, when given: a
    CPU's speed per image depends on it): (seconds per image, the run it was read from); None when no such
    run exists."""
    import json
    import statistics
    best = None
    for record in read_records(results_root, recursive=True):
        if record.method != "dense" or record.benchmark != dataset or record.arch != arch:
            continue
        if batch_size is not None and record.config.get("batch_size") != batch_size:
            continue
        log = record.folder / "log.jsonl"
        if not log.exists():
            continue
        times = [json.loads(line).get("seconds") for line in log.read_text().splitlines()]
        times = [t for t in times if t]
        images = record.data.get("train", 0) if record.data.get("val_held_out") else \
            record.data.get("train", 0) + record.data.get("val", 0)
        if times and images:
            stamp = record.folder.stat().st_mtime
            if best is None or stamp > best[0]:
                best = (stamp, statistics.median(times) / images, str(record.folder))
    return None if best is None else (best[1], best[2])


def compute_plan(blocks, results_root: str | Path, measured_root: str | Path | None = None) -> pd.DataFrame:
    """CPU time a protocol block needs, from measured speeds: its runs (the grid, its tuning trials beyond the
    chosen one, the shared dense runs, Scratch-B at dense_epochs x its FLOPs factor), each for the epochs it
    trains itself, at the seconds per image measured on this machine (``seconds_per_epoch``), times the
    overhead its finished runs measured beyond their epochs (search, evaluations), where any has finished."""
    from jst.experiments.compare import plan
    from jst.experiments.tuning import TRIALS
    from jst.methods.shared_dense import SHARED_BY
    rows = []
    for b in blocks:
        if not isinstance(b, Block):
            continue
        o = b.overrides
        speed = seconds_per_epoch(b.data or b.dataset, b.arch, measured_root or results_root, o.get("batch_size"))
        runs = plan(list(b.methods), list(b.seeds), list(b.flops_targets), share_dense=b.share_dense)
        trials = sum(len(TRIALS[m]) - 1 for m in b.methods if m in TRIALS) if b.tuned else 0
        epochs = 0.0
        for method, target, _ in runs:
            if method == "dense":
                epochs += o.get("dense_epochs", 0)
            elif method == "scratch":
                epochs += o.get("dense_epochs", 0) / target
            else:
                epochs += o.get("budget_epochs", 0) - (o.get("dense_epochs", 0) if method in SHARED_BY else 0)
                if forks(b, method, target):
                    epochs -= o.get("coarse_epochs", 0)   # its coarse (sparsity) network comes from another run
        per_run = epochs / max(1, sum(m not in ("dense", "scratch") for m, _, _ in runs))
        epochs += trials * per_run
        row = {"block": block_name(b), "runs": len(runs) + trials, "epochs trained": round(epochs)}
        if speed is None:
            row.update({"CPU hours (planned)": None, "speed measured on": "no run of this benchmark yet"})
        else:
            size = _training_images(b, speed[1])
            factor = _overhead(b, results_root, speed[0])
            row.update({"CPU hours (planned)": round(epochs * size * speed[0] * (factor or 1.0) / 3600, 1),
                        "overhead factor": factor, "speed measured on": speed[1]})
        rows.append(row)
    return pd.DataFrame(rows)


def forks(b: Block, method: str, target: float, blocks=None) -> bool:
    """Whether a run of ``method`` in block ``b`` at ``target`` takes its first, target-free stage from another
    run (``jst.engine.fork``): a later target of its block, or an ablation whose stage is its main block's
    (``tuned_by``, looked up in ``blocks``, default the protocol grid)."""
    from jst.config import make_config
    from jst.engine import fork
    from jst.experiments.grid import PROTOCOL_GRID

    def config(block: Block, t: float):
        return make_config(block.scale, block.arch, method=method, dataset=block.dataset, flops_target=t, seed=0,
                           **block.overrides)
    if method not in fork.STAGES or (method == "jst" and not config(b, target).coarse_training):
        return False
    if target != b.flops_targets[0]:
        return True
    main = next((m for m in (blocks or PROTOCOL_GRID)
                 if isinstance(m, Block) and b.tuned_by and str(m.relative) == b.tuned_by), None)
    return main is not None and not fork.differences(config(main, target).to_json(), config(b, target))


def _overhead(b: Block, results_root, per_image: float) -> float | None:
    """Wall time of the block's finished runs over what their trained images take at ``per_image`` seconds:
    the search, the evaluations and the controller beyond plain epochs (None before any run finished)."""
    done = [read_record(p) for p in b.runs(results_root) if is_record(p)]
    images = sum((r.raw.get("training") or {}).get("images") or 0 for r in done)
    return round(sum(r.wall_time_s for r in done) / (images * per_image), 2) if images else None


def _training_images(b: Block, measured_run: str) -> int:
    """Images in one epoch of the block's training set (Dtrain when Dval is held out), read from the run the
    speed was measured on when it used the same data options."""
    record = read_record(measured_run)
    train, val = record.data.get("train", 0), record.data.get("val", 0)
    held_out = b.overrides.get("holdout_val", False)
    return train if held_out else train + val
