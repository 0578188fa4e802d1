"""The stage notebooks' analyses of one run: the architecture, the sampler, the updater and the search, as
tables the notebooks show and plot."""
from __future__ import annotations

import copy
import itertools

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from jst.core.sampler import keep_by_threshold, perturb
from jst.core.updater import write_back
from jst.engine.rng import generator
from jst.nets.flops import FlopsModel
from jst.nets.prunable import tensor_index, widths
from jst.nets.subnetwork import extract


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
        rows.append({"tensor": key, "target shape": tuple(old.shape), "sub-network shape": tuple(value.shape),
                     "pruned": key in index,
                     "max |written - trained|": (again[key].double() - value.double()).abs().max().item(),
                     "entries changed outside kept": int(((new != old) & ~_kept(old, index.get(key, {}))).sum()),
                     "bit-exact round trip": bool(torch.equal(again[key], value))})
    return pd.DataFrame(rows), after


def _kept(tensor: torch.Tensor, dims: dict) -> torch.Tensor:
    """Boolean mask of ``tensor``'s entries that the index map's kept indices per dimension select."""
    kept = torch.ones_like(tensor, dtype=torch.bool)
    for dim, idx in dims.items():
        along = torch.zeros(tensor.shape[dim], dtype=torch.bool, device=tensor.device)
        along[idx.to(tensor.device)] = True
        kept &= along.view([-1 if d == dim else 1 for d in range(tensor.dim())])
    return kept
