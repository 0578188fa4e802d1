"""What the stage notebooks call: open a run folder, run a missing stage, read its records back.

A notebook names a run by its parameters (dataset, arch, scale, FLOPs target, seed, ...); ``open_run``
turns them into a ``Run`` over the run folder that ``jst.engine.pipeline.run`` writes. ``Run.ensure(stage)``
runs whatever is missing up to that stage (finished stages are resumed from their checkpoints, not
redone), so every notebook works alone and they chain through the folder. The analyses behind the
sampler and updater notebooks live here too.
"""
from __future__ import annotations

import copy
import itertools
import json
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from jst.engine import checkpoint, data
from jst.config import Config, make_config
from jst.core.filter_weights import filter_weights
from jst.nets.flops import FlopsModel
from jst.engine.pipeline import resolve_device, run as run_pipeline
from jst.nets.prunable import tensor_index, widths
from jst.engine.runlog import RunLog
from jst.core.sampler import keep_by_threshold, perturb
from jst.core.search import build_target
from jst.nets.subnetwork import extract
from jst.engine.rng import generator

STAGES = ("coarse", "search", "finetune")


def default_run_dir(dataset: str, arch: str, scale: str, flops_target: float, seed: int,
                    root: str | Path = "runs/notebooks") -> Path:
    return Path(root) / f"{dataset}-{arch}-{scale}-f{flops_target:g}-s{seed}"


def open_run(dataset: str = "mnist", data_root: str | None = None, arch: str = "lenet5", scale: str = "smoke",
             flops_target: float = 0.5, seed: int = 0, device: str = "auto", run_dir: str | None = None,
             overrides: dict | None = None) -> "Run":
    """The run these notebook parameters name (nothing is computed yet). The parameters are validated
    here, as the CLI validates its options: a bad one fails the notebook's first cell in one line."""
    from jst.engine.errors import DataError
    from jst.engine.pipeline import resolve_device, validate
    cfg = make_config(scale, arch, dataset=dataset, data_root=data_root or data.default_data_root(),
                      flops_target=flops_target, seed=seed, device=device, **(overrides or {}))
    validate(cfg)
    resolve_device(cfg.device)
    if not Path(cfg.data_root).is_dir():
        raise DataError(f"data root {cfg.data_root} does not exist")
    return Run(cfg, Path(run_dir) if run_dir else default_run_dir(dataset, arch, scale, flops_target, seed))


class Run:
    """A run folder and its configuration; a duck-typed context for ``jst.core.search.build_target``."""

    def __init__(self, cfg: Config, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = resolve_device(cfg.device)

    def ensure(self, stage: str) -> "Run":
        """Run (or resume) the pipeline up to and including ``stage`` ("coarse", "search", "finetune")."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        run_pipeline(self.cfg, self.run_dir, until=None if stage == "finetune" else stage)
        return self

    @cached_property
    def splits(self) -> data.Splits:
        c = self.cfg
        return data.load(c.dataset, c.data_root, seed=c.seed, val_fraction=c.val_fraction,
                         max_train_samples=c.max_train_samples, max_test_samples=c.max_test_samples,
                         augment=c.augment, image_size=c.image_size, download=c.download, workers=c.workers)

    def log(self, stage: str | None = None) -> pd.DataFrame:
        records = RunLog(self.run_dir / "log.jsonl").read()
        return pd.DataFrame([r for r in records if stage is None or r.get("stage") == stage])

    def result(self) -> dict | None:
        path = self.run_dir / "result.json"
        return json.loads(path.read_text()) if path.exists() else None

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
        return f"Run(scale={self.cfg.scale!r}, dataset={self.cfg.dataset!r}, arch={self.cfg.arch!r}, run_dir='{self.run_dir}')"


def architecture_table(model: nn.Module, input_shape) -> pd.DataFrame:
    """One row per prunable layer: its channels and the share of the network's FLOPs its producer computes."""
    fm = FlopsModel(model, input_shape)
    return pd.DataFrame([{"layer": name, "channels": w, "FLOPs": fm.per_module[name],
                          "share of FLOPs": fm.per_module[name] / fm.total}
                         for name, w in widths(model).items()])


def candidates_table(state: dict) -> pd.DataFrame:
    """The search candidates, one row per step, with the selected one marked."""
    df = pd.DataFrame(state["candidates"])
    best = state.get("best")
    df["selected"] = df["step"] == (best["step"] if best else -1)
    return df


def policy_frame(state: dict, layers: list[str], choices) -> pd.DataFrame:
    """Long table (step, layer, threshold, probability) of the policy after every search step."""
    rows = [{"step": t + 1, "layer": layer, "threshold": tau, "probability": float(p)}
            for t, probs in enumerate(state["policy_probabilities"])
            for layer, row in zip(layers, probs) for tau, p in zip(choices, row)]
    return pd.DataFrame(rows)


def sampler_sweep(alphas: dict[str, torch.Tensor], thresholds, sigmas, draws: int = 20, seed: int = 0,
                  min_keep: int = 1) -> pd.DataFrame:
    """What Algorithm 1 keeps, per layer, threshold and perturbation strength, over ``draws`` draws:
    the kept fraction and the overlap (Jaccard) with the unperturbed choice."""
    rows = []
    for (name, alpha), tau in itertools.product(alphas.items(), thresholds):
        plain = set(keep_by_threshold(perturb(alpha, 0.0), tau, min_keep).tolist())
        for sigma in sigmas:
            for d in range(draws if sigma > 0 else 1):
                kept = set(keep_by_threshold(perturb(alpha, sigma, generator(seed, "sweep", name, d)), tau,
                                             min_keep).tolist())
                rows.append({"layer": name, "threshold": tau, "sigma": sigma, "draw": d, "kept": len(kept),
                             "kept_fraction": len(kept) / alpha.numel(),
                             "overlap": len(kept & plain) / len(kept | plain)})
    return pd.DataFrame(rows)


def cumulative_mass(alpha: torch.Tensor) -> torch.Tensor:
    """The sampler's sorted cumulative softmax mass of one layer's filter weights."""
    return torch.cumsum(torch.sort(torch.softmax(alpha.detach().double().flatten(), 0), descending=True).values, 0)


def updater_roundtrip(target: nn.Module, keep, source, *, batches: int = 3, lr: float = 0.05,
                      batch_size: int = 64, device="cpu", seed: int = 0) -> tuple[pd.DataFrame, nn.Module]:
    """Extract a sub-network, train it briefly (parameters and filter weights), write it back into a copy
    of the target, and check the mapping both ways. Returns one row per state tensor and the updated
    target. Columns: the largest |difference| between the sub-network's tensor and the target's kept
    entries after write-back, how many entries outside the kept ones changed, and whether extracting the
    updated target again gives the sub-network back bit for bit."""
    from jst.core.updater import write_back
    import torch.nn.functional as F
    before = copy.deepcopy(target).to(device)
    sub = extract(before, keep).train()
    opt = torch.optim.SGD(sub.parameters(), lr=lr, momentum=0.9)
    for i, (x, y) in enumerate(source.batches(batch_size, train=True, generator=generator(seed, "updater"),
                                              device=device)):
        if i == batches:
            break
        opt.zero_grad()
        F.cross_entropy(sub(x), y).backward()
        opt.step()
    sub.eval()
    after = copy.deepcopy(before)
    write_back(after, sub, keep)
    again = extract(after, keep).state_dict()
    index = tensor_index(before, keep)
    rows = []
    for key, value in sub.state_dict().items():
        old, new = before.state_dict()[key], after.state_dict()[key]
        kept = torch.ones_like(old, dtype=torch.bool)
        for dim, idx in index.get(key, {}).items():
            along = torch.zeros(old.shape[dim], dtype=torch.bool, device=old.device)
            along[idx.to(old.device)] = True
            kept &= along.view([-1 if d == dim else 1 for d in range(old.dim())])
        rows.append({"tensor": key, "target shape": tuple(old.shape), "sub-network shape": tuple(value.shape),
                     "pruned": key in index,
                     "max |written - trained|": (again[key].double() - value.double()).abs().max().item(),
                     "entries changed outside kept": int(((new != old) & ~kept).sum()),
                     "bit-exact round trip": bool(torch.equal(again[key], value))})
    return pd.DataFrame(rows), after


def result_table(result: dict) -> pd.DataFrame:
    """Dense vs pruned network of one result.json: one row per measure."""
    dense, pruned = result["dense"], result["pruned"]
    rows = {"FLOPs": (dense["flops"], pruned["flops"]), "parameters": (dense["params"], pruned["params"]),
            "channels in prunable layers": (sum(dense["widths"].values()), sum(pruned["widths"].values())),
            "test accuracy": (dense.get("test_acc"), pruned["test_acc"])}
    df = pd.DataFrame.from_dict(rows, orient="index", columns=["dense", "pruned"], dtype=object)
    df["pruned / dense"] = [p / d if d else None for d, p in zip(df["dense"], df["pruned"])]
    return df


def collect_results(dirs) -> pd.DataFrame:
    """Every result.json under ``dirs`` (recursively), one row each."""
    rows = []
    for d in dirs:
        for path in sorted(Path(d).rglob("result.json")):
            r = json.loads(path.read_text())
            if "pruned" not in r:
                continue
            rows.append({"dataset": r["dataset"], "arch": r["arch"], "method": r["method"], "scale": r["scale"],
                         "seed": r["seed"], "FLOPs target": r["flops_target"],
                         "FLOPs kept": r["pruned"]["flops_ratio"], "params kept": r["pruned"]["params_ratio"],
                         "dense test acc": r["dense"].get("test_acc"), "test acc": r["pruned"]["test_acc"],
                         "meets budget": r["meets_budget"], "wall time (min)": r["wall_time_s"] / 60,
                         "record": str(path.parent)})
    return pd.DataFrame(rows)


def summary_frame(rows: list[dict]) -> pd.DataFrame:
    """Comparison rows as a flat table: nested {"mean", "std"} dicts become ``<name>_mean`` / ``<name>_std``."""
    flat = []
    for row in rows:
        out = {}
        for k, v in row.items():
            if isinstance(v, dict) and {"mean", "std"} <= set(v):
                out[f"{k}_mean"], out[f"{k}_std"] = v["mean"], v["std"]
            elif not isinstance(v, (dict, list)):
                out[k] = v
        flat.append(out)
    return pd.DataFrame(flat)


def widths_by_method(out: str | Path, flops_target: float, seed: int) -> tuple[dict[str, dict[str, int]], dict]:
    """Channels kept per layer by each method at one FLOPs target and seed, from the run folders under
    ``out``; and the dense network's widths."""
    found, dense = {}, {}
    for path in sorted(Path(out).rglob("result.json")):
        r = json.loads(path.read_text())
        if "pruned" in r and abs(r["flops_target"] - flops_target) < 1e-9 and r["seed"] == seed:
            found.setdefault(r["method"], r["pruned"]["widths"])
            dense = r["dense"]["widths"]
    return found, dense


def torchrun_command(nproc: int, jst_args: list[str]) -> list[str]:
    """``torchrun --standalone --nproc_per_node=K -m jst ...`` with this interpreter."""
    import sys
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "jst", *map(str, jst_args)]


def launch(cmd: list[str], run_dir: str | Path, *, poll: float = 5.0, echo=print) -> str:
    """Run ``cmd`` and follow its progress through the run folder's log.jsonl (one line per epoch and
    search step); returns the command's output, raises if it fails."""
    import subprocess
    import threading
    import time
    log = RunLog(Path(run_dir) / "log.jsonl")
    seen = len(log.read())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while True:
        done = proc.poll() is not None
        records = log.read()
        for r in records[seen:]:
            if r["stage"] == "consistency":
                echo(f"{'checked':>8} {r['what']}: same on all {r['ranks']} ranks")
                continue
            step = f"step {r['step']}" if "step" in r else f"epoch {r.get('epoch')}"
            metrics = ", ".join(f"{k} {r[k]:.4g}" for k in ("train_loss", "val_acc", "flops_ratio") if k in r)
            echo(f"{r['stage']:>8} {step}: {metrics}")
        seen = len(records)
        if done:
            break
        time.sleep(poll)
    reader.join()
    output = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{output[-3000:]}")
    return output
