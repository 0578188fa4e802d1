"""Data-parallel training with PyTorch's own engine (torch.distributed, DDP), launched by torchrun.

``torchrun --nproc_per_node=K -m jst run ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; without them
everything here is a no-op and the run is a single process. The backend is NCCL on GPUs and gloo on
CPU. Rank 0 alone writes files; decisions drawn at random are made on rank 0 and broadcast; every
search step and stage checks (not assumes) that all ranks hold the same sub-network and parameters.
"""
from __future__ import annotations

import hashlib
import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from jst.engine.errors import ConfigError, Stopped


def launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device_name: str = "auto") -> torch.device:
    """Join the process group torchrun prepared (if any) and pick this rank's device."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    device = torch.device(f"cuda:{local_rank}") if use_cuda and launched() else None
    if launched() and not dist.is_initialized():
        if device is not None:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=30))
    return device


def resolve_device(name: str) -> torch.device:
    """The device a name asks for ("auto", "cpu", "cuda", "cuda:N"), or a one-line ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or auto")
    return device


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (a decision made once)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(values: list[float], device) -> list[float]:
    if not active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def digest(obj) -> str:
    """A hash of tensors / dicts / lists, for cross-rank consistency checks."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            h.update(x.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                     if x.numel() else b"")
            h.update(str((x.dtype, tuple(x.shape))).encode())
        elif isinstance(x, dict):
            for k in sorted(x):
                h.update(str(k).encode())
                feed(x[k])
        elif isinstance(x, (list, tuple)):
            for v in x:
                feed(v)
        else:
            h.update(repr(x).encode())
    feed(obj)
    return h.hexdigest()


def check_same(what: str, obj) -> str | None:
    """Raise unless every rank holds the same ``obj``; returns the digest (None in a single process)."""
    if not active():
        return None
    mine = digest(obj)
    everyone = [None] * world()
    dist.all_gather_object(everyone, mine)
    if len(set(everyone)) != 1:
        raise RuntimeError(f"ranks disagree on {what}: {everyone}")
    return mine


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP over the parameters that currently require grad (built per phase: the sub-network's shapes
    and the trainable set change between search steps and phases)."""
    if not active():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


@torch.no_grad()
def average_buffers(model: nn.Module) -> None:
    """Average floating buffers (BN running statistics) over the ranks: each rank's statistics saw only
    its share of the data; afterwards every rank holds the same network."""
    if not active():
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(world())


def shard(indices: torch.Tensor) -> torch.Tensor:
    """This rank's part of a global batch: the partition DistributedSampler makes (indices[rank::world]),
    applied batch by batch so that the K-process global batch is the single-process batch."""
    return indices[rank()::world()] if active() else indices


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BN (filter weights kept) becomes a SyncBatchNorm: statistics over the global batch (GPU only)."""
    from jst.nets.models.gated import GatedSyncBatchNorm, is_gated
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
            new = (GatedSyncBatchNorm(child.num_features, child.position) if is_gated(child)
                   else nn.SyncBatchNorm(child.num_features, child.eps, child.momentum))
            new.load_state_dict(child.state_dict())
            setattr(model, name, new.to(child.weight.device))
        else:
            convert_sync_batchnorm(child)
    return model


def cleanup() -> None:
    """Leave the process group, except while a stop (SIGTERM, Ctrl-C: ``Stopped``, KeyboardInterrupt) is
    on its way out: other ranks may be gone or blocked in a collective, and tearing down NCCL's
    communicators can wait on them; the process exits next and the OS frees what it held."""
    if active() and not isinstance(sys.exc_info()[1], (Stopped, KeyboardInterrupt)):
        dist.destroy_process_group()
