"""What a stage notebook opens: a run folder named by the notebook's parameters, its stages run on demand.

A notebook names a run by its parameters (dataset, arch, scale, FLOPs target, seed, ...); ``open_run``
turns them into a ``Run`` over the run folder that ``jst.engine.pipeline.run`` writes. ``Run.ensure(stage)``
runs whatever is missing up to that stage (finished stages are resumed from their checkpoints, not
redone), so every notebook works alone and they chain through the folder.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from jst.config import Config, make_config
from jst.core.filter_weights import filter_weights
from jst.core.search import build_target
from jst.engine import checkpoint, data
from jst.engine.distributed import resolve_device
from jst.engine.errors import DataError
from jst.engine.output import check_output_folder
from jst.engine.pipeline import run as run_pipeline
from jst.engine.runlog import RunLog
from jst.nets.flops import FlopsModel
from jst.report.records import RunRecord, is_record, read_record

STAGES = ("coarse", "search", "finetune")


def default_run_dir(dataset: str, arch: str, scale: str, flops_target: float, seed: int,
                    root: str | Path = "runs/notebooks") -> Path:
    return Path(root) / f"{dataset}-{arch}-{scale}-f{flops_target:g}-s{seed}"


def open_run(dataset: str = "mnist", data_root: str | None = None, arch: str = "lenet5", scale: str = "smoke",
             flops_target: float = 0.5, seed: int = 0, device: str = "auto", run_dir: str | None = None,
             overrides: dict | None = None) -> Run:
    """The run these notebook parameters name (nothing is computed yet). The parameters are validated
    here, as the CLI validates its options: a bad one fails the notebook's first cell in one line."""
    cfg = make_config(scale, arch, dataset=dataset, data_root=data_root or data.default_data_root(),
                      flops_target=flops_target, seed=seed, device=device, **(overrides or {}))
    cfg.validate()
    resolve_device(cfg.device)
    if not Path(cfg.data_root).is_dir():
        raise DataError(f"data root {cfg.data_root} does not exist")
    run_dir = Path(run_dir) if run_dir else default_run_dir(dataset, arch, scale, flops_target, seed)
    return Run(cfg, check_output_folder(run_dir))


class Run:
    """A run folder and its configuration: a ``jst.engine.context.Context`` the stages' builders take."""

    def __init__(self, cfg: Config, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = resolve_device(cfg.device)

    def ensure(self, stage: str) -> Run:
        """Run (or resume) the pipeline up to and including ``stage`` ("coarse", "search", "finetune")."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        run_pipeline(self.cfg, self.run_dir, until=None if stage == "finetune" else stage)
        return self

    @cached_property
    def splits(self) -> data.Splits:
        return data.load_splits(self.cfg)

    def log(self, stage: str | None = None) -> pd.DataFrame:
        records = RunLog(self.run_dir / "log.jsonl").read()
        return pd.DataFrame([r for r in records if stage is None or r.get("stage") == stage])

    def result(self) -> RunRecord | None:
        """The finished run's record (None before the run has finished)."""
        return read_record(self.run_dir) if is_record(self.run_dir) else None

    def target(self, stage: str = "search") -> nn.Module:
        """The target network (with filter weights) as it was at the end of ``stage``: "init" (before
        coarse training), "coarse" or "search"."""
        model = build_target(self)
        if stage == "init":
            return model.eval()
        path = self.run_dir / "checkpoints" / f"{stage}.pt"
        if stage == "coarse" and not path.exists() and not (self.cfg.coarse_training and self.cfg.coarse_epochs):
            return model.eval()  # no coarse training configured: the initial network is the coarse one
        if not path.exists():
            raise FileNotFoundError(f"{path} missing: run.ensure({stage!r}) first")
        saved = checkpoint.load(path)
        model.load_state_dict(saved["model"] if stage == "coarse" else saved["target"])
        return model.eval()

    def search_state(self) -> dict:
        """The search's records: candidates, policy probabilities per step, the selected step."""
        return checkpoint.load(self.run_dir / "checkpoints" / "search.pt")["search"]

    @cached_property
    def flops(self) -> FlopsModel:
        return FlopsModel(build_target(self), self.splits.info.input_shape)

    def layers(self) -> list[str]:
        return [layer.name for layer in build_target(self).prunable_layers()]

    def filter_weights(self, stage: str = "search") -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in filter_weights(self.target(stage)).items()}

    def val_batch(self, n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` Dval images (normalised) and labels."""
        x, y = next(self.splits.val.batches(n, train=False))
        return x, y

    def _repr_markdown_(self) -> str:
        c = self.cfg
        return (f"**Run at `{c.scale}` scale**: dataset `{c.dataset}`, arch `{c.arch}`, FLOPs target "
                f"{c.flops_target:g}, seed {c.seed}, device `{self.device}`; run folder `{self.run_dir}`")

    def __repr__(self) -> str:
        c = self.cfg
        return f"Run(scale={c.scale!r}, dataset={c.dataset!r}, arch={c.arch!r}, run_dir='{self.run_dir}')"
