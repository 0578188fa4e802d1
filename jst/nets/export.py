"""Export a pruned network without pickle: ``model.safetensors`` + ``model.json`` (its architecture).

``load_exported(folder)`` rebuilds the plain network (fewer channels, ordinary batch-norms) in one call.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from jst.engine import checkpoint
from jst.engine.errors import CheckpointError
from jst.nets.models import build_pruned
from jst.nets.prunable import widths

FORMAT = "jst-export/1"


def save_exported(model: nn.Module, folder, *, arch: str, info) -> dict:
    """Write the plain network in ``folder``; returns its architecture record."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(n.endswith(".alpha") for n, _ in model.named_parameters()):
        raise ValueError("export a folded network (jst.core.filter_weights.fold) without filter weights")
    arch_record = {"format": FORMAT, "arch": arch, "num_classes": info.num_classes, "in_channels": info.channels,
                   "image_size": info.image_size, "mean": list(info.mean), "std": list(info.std),
                   "widths": widths(model)}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / ".model.safetensors.tmp"
    save_file(state, str(tmp))
    tmp.replace(folder / "model.safetensors")
    checkpoint.save_json(arch_record, folder / "model.json")
    return arch_record


def load_exported(folder, device="cpu", weights: bool = True) -> nn.Module:
    """The exported network, in eval mode; ``weights=False`` builds its architecture only (untrained), which
    is all that FLOPs and latency depend on, and needs only ``model.json``."""
    folder = Path(folder)
    try:
        record = json.loads((folder / "model.json").read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"format {record.get('format')!r} is not {FORMAT}")
        model = build_pruned(record["arch"], record["widths"], num_classes=record["num_classes"],
                             in_channels=record["in_channels"], image_size=record["image_size"])
        if weights:
            model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder}: not a loadable jst export ({str(e).splitlines()[0][:200]})") from None
    return model.to(device).eval()


def input_stats(folder) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) used to normalise inputs of the exported network."""
    record = json.loads((Path(folder) / "model.json").read_text())
    return torch.tensor(record["mean"]), torch.tensor(record["std"])
