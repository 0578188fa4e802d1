"""Export a pruned network without pickle: ``model.safetensors`` + ``model.json`` (its architecture).

``load_exported(folder)`` rebuilds the plain network (fewer channels, ordinary batch-norms) in one call. A
folder it cannot load is a one-line ``CheckpointError`` naming what is wrong: no or unreadable
``model.json``, a field missing or out of range, widths the architecture does not have, a damaged weights
file, or weights that disagree with ``model.json`` (another architecture, other widths, input channels or
classes). ``check_input(folder, info)`` refuses data the network was not built for (``DataError``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from jst.engine import checkpoint
from jst.engine.errors import CheckpointError, DataError
from jst.nets.models import ARCHS, build_model, build_pruned
from jst.nets.prunable import widths

FORMAT = "jst-export/1"
_SIZES = ("num_classes", "in_channels", "image_size")  # model.json's positive integer fields


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
    record = read_record(folder)
    model = build_pruned(record["arch"], record["widths"], num_classes=record["num_classes"],
                         in_channels=record["in_channels"], image_size=record["image_size"])
    if weights:
        model.load_state_dict(_read_weights(folder, model, record), strict=True)
    return model.to(device).eval()


def read_record(folder) -> dict:
    """``model.json``, checked field by field against what its architecture can be, so that a bad record is
    named here rather than failing somewhere inside the network's construction."""
    folder = Path(folder)
    path = folder / "model.json"
    if not path.is_file():
        why = "no such folder" if not folder.exists() else "no model.json"
        raise CheckpointError(f"{folder}: not a loadable jst export ({why})")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise CheckpointError(f"{path}: format {found!r} is not {FORMAT}; not a loadable jst export")
    _check_fields(path, record)
    _check_widths(path, record)
    return record


def _check_fields(path: Path, record: dict) -> None:
    """Every field the network is built from: present, and of a kind and range it can be built with."""
    for key in ("arch", *_SIZES, "widths"):
        if key not in record:
            raise CheckpointError(f"{path}: field {key!r} is missing")
    if record["arch"] not in ARCHS:
        raise CheckpointError(f"{path}: arch {record['arch']!r} is not one of {', '.join(ARCHS)}")
    for key in _SIZES:
        value = record[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise CheckpointError(f"{path}: {key} must be a positive integer, got {value!r}")
    for key in ("mean", "std"):
        if key in record and (not isinstance(record[key], list) or len(record[key]) != record["in_channels"]):
            raise CheckpointError(f"{path}: {key} must list one value per input channel "
                                  f"({record['in_channels']}), got {record[key]!r}")


def _check_widths(path: Path, record: dict) -> None:
    """The widths name exactly the architecture's prunable layers, each within its dense width (the dense
    network is built on the meta device: shapes only, no memory)."""
    try:
        with torch.device("meta"):
            dense = widths(build_model(record["arch"], record["num_classes"], record["in_channels"],
                                       record["image_size"], init=False))
    except (ValueError, RuntimeError) as e:
        c, s = record["in_channels"], record["image_size"]
        raise CheckpointError(f"{path}: {record['arch']} cannot be built for {c}x{s}x{s} images "
                              f"({str(e).splitlines()[0]})") from None
    given = record["widths"]
    if not isinstance(given, dict):
        raise CheckpointError(f"{path}: widths must map layer names to channel counts, got {type(given).__name__}")
    unknown, missing = sorted(set(given) - set(dense)), sorted(set(dense) - set(given))
    if unknown or missing:
        raise CheckpointError(f"{path}: widths do not match {record['arch']}'s prunable layers (unknown: "
                              f"{', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})")
    for name, full in dense.items():
        w = given[name]
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= full:
            raise CheckpointError(f"{path}: width of {name} must be 1..{full} channels, got {w!r}")


def _read_weights(folder: Path, model: nn.Module, record: dict) -> dict[str, torch.Tensor]:
    """``model.safetensors``, readable and of the very network ``model.json`` describes."""
    path = folder / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a loadable jst export (no model.safetensors; "
                              "load_exported(..., weights=False) builds the architecture alone)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: damaged weights file, not readable safetensors "
                              f"({str(e).splitlines()[0][:160]})") from None
    _check_agreement(path, model.state_dict(), state, record)
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise CheckpointError(f"{path}: damaged weights file ({bad} holds NaN or infinite values)")
    return state


def _check_agreement(path: Path, expected: dict, state: dict, record: dict) -> None:
    """Name the first thing in which the weights disagree with ``model.json``: the network itself, or the
    shape of a tensor (its classes, input channels, a layer's width, the inputs its image size makes)."""
    arch = record["arch"]
    missing, unexpected = [k for k in expected if k not in state], [k for k in state if k not in expected]
    if missing or unexpected:
        example = f"e.g. {unexpected[0]}" if unexpected else f"none; {arch}'s {missing[0]} is missing"
        raise CheckpointError(f"{path}: model.json says {arch}, the weights are of another network "
                              f"({len(unexpected)} tensors {arch} has not, {example})")
    for key, want in expected.items():
        if state[key].shape != want.shape:
            raise CheckpointError(f"{path}: {_disagreement(key, want.shape, state[key].shape, expected, record)}")


def _disagreement(key: str, want, have, expected: dict, record: dict) -> str:
    """What one tensor's shape disagreeing with ``model.json`` means, in its terms where it can tell."""
    matrices = [k for k, v in expected.items() if v.dim() >= 2]
    head, first_linear = matrices[-1], next((k for k in matrices if expected[k].dim() == 2), None)
    c, s = record["in_channels"], record["image_size"]
    if key in (head, head.removesuffix("weight") + "bias") and have[:1] != want[:1]:
        return f"model.json says {record['num_classes']} classes, the weights hold {have[0]}"
    if key == matrices[0] and len(want) == len(have) == 4 and have[1] != want[1]:
        return f"model.json says {c} input channel{'s' * (c != 1)}, the weights take {have[1]}"
    layer = key.removesuffix(".weight")
    if layer in record["widths"] and have[:1] != want[:1]:
        return f"model.json gives {layer} {want[0]} channels, the weights hold {have[0]}"
    if key == first_linear and len(have) == 2 and have[1] != want[1]:
        return f"model.json says {c}x{s}x{s} images, which make {want[1]} inputs of {layer}; the weights take {have[1]}"
    return f"model.json and the weights disagree on {key}: {tuple(want)} from model.json, {tuple(have)} in the weights"


def check_input(folder, info, source: str | None = None) -> None:
    """Refuse data the exported network was not built for: other channels, image size or number of classes
    (a network with global pooling would run on another size, and give meaningless accuracy). ``source``
    names the data in the message (default: the dataset's name)."""
    record, source = read_record(folder), source or info.name
    c, s = record["in_channels"], record["image_size"]
    if (info.channels, info.image_size) != (c, s):
        raise DataError(f"{folder}: the model takes {c}x{s}x{s} images, {source} gives "
                        f"{info.channels}x{info.image_size}x{info.image_size}")
    if info.num_classes != record["num_classes"]:
        raise DataError(f"{folder}: the model has {record['num_classes']} classes, {source} has {info.num_classes}")


def input_stats(folder) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) used to normalise inputs of the exported network."""
    record = read_record(folder)
    return torch.tensor(record["mean"]), torch.tensor(record["std"])
