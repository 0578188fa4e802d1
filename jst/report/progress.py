"""How far the grid has got: finished runs per block, the compute they took and the machines they ran on."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.experiments.grid import Block, block_name, finished
from jst.report.hardware import run_hardware
from jst.report.records import is_record, read_record


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
