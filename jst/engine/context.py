"""The run context: what every stage and method is handed (the configuration, the data splits, the device,
and for a real run its folder, log and checkpoints).

``Context`` is the part a stage needs to *build* things (the target network, a dense network, FLOPs
counts): the pipeline's ``RunContext`` and the notebooks' ``jst.book.run.Run`` both provide it.
``RunContext`` adds what a stage needs to *run*: logging, checkpointing, stopping after a stage.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from jst.config import Config
from jst.engine import checkpoint, distributed
from jst.engine.data import Splits
from jst.engine.rng import rng_state
from jst.engine.runlog import RunLog
from jst.engine.train import TRAINED


class Context(Protocol):
    """A configuration, its data splits and the device it runs on."""
    cfg: Config
    device: torch.device

    @property
    def splits(self) -> Splits: ...


class StopAfterStage(Exception):
    pass


@dataclass
class RunContext:
    """A run in progress: a ``Context`` with a run folder, its log and its checkpoints."""
    cfg: Config
    splits: Splits
    device: torch.device
    run_dir: Path
    runlog: RunLog
    until: str | None = None   # stop after this stage ("coarse", "search"); None runs everything
    started: float = 0.0       # time.time() at the run's start, earlier attempts' kept work included
    attempts: list = field(default_factory=list)  # hardware of each attempt whose work the run keeps

    def stop_after(self, stage: str) -> None:
        if self.until == stage:
            raise StopAfterStage(stage)

    def checkpoint_path(self, stage: str) -> Path:
        return self.run_dir / "checkpoints" / f"{stage}.pt"

    def log(self, record: dict) -> None:
        if distributed.is_main():
            self.runlog.write(record)

    def save_checkpoint(self, stage: str, state: dict) -> None:
        """Atomically save a stage's state with what every checkpoint carries: the arch, the global RNG
        states, the log's length (a resumed run cuts the log back to it), the wall time spent so far (a
        resumed run's wall time counts it), the attempts that did that work and the images trained on so
        far (the run's training budget). Rank 0 alone writes."""
        if distributed.is_main():
            checkpoint.save({**state, "arch": self.cfg.arch, "rng": rng_state(),
                             "log_lines": self.runlog.lines, "elapsed_s": time.time() - self.started,
                             "attempts": self.attempts, "images_trained": TRAINED["images"]},
                            self.checkpoint_path(stage))

    def check_same(self, what: str, obj) -> None:
        """Under torchrun: verify that every rank holds the same ``obj`` and log the check."""
        digest = distributed.check_same(what, obj)
        if digest is not None:
            self.log({"stage": "consistency", "what": what, "ranks": distributed.world(), "digest": digest})
