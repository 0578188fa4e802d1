"""Randomness of a run, in one place: generators derived from (seed, stage, step, epoch, ...) and the global
RNG states a checkpoint carries.

Derived generators make a resumed run draw exactly what an uninterrupted one would: no stream depends
on how many numbers an earlier stage consumed. The global states (torch, numpy, Python) cover whatever
library code draws from them.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def generator(seed: int, *stream) -> torch.Generator:
    """A torch.Generator seeded from the run seed and a stream name, e.g. ("coarse", epoch)."""
    digest = hashlib.sha256(repr((seed,) + stream).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def rng_state() -> dict:
    """Global RNG states of torch, numpy and python, as tensors and lists (weights_only-loadable)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": version, "internal": list(internal), "gauss": py_gauss}}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
