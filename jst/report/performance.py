"""The benchmarks' JSON (``benchmarks/results``, written by ``python -m benchmarks.run_all``) as tables.

The Performance chapter of the book reads the committed measurements through these functions; nothing
here measures or recomputes a timing, it only reshapes what the benchmark scripts recorded.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from jst.engine.errors import JstError

BENCHMARKS = ("overhead", "data_path", "search_overhead", "speedup", "scaling", "gpu")


def load(folder: str | Path) -> dict[str, dict]:
    """Every benchmark JSON in ``folder`` by name; a missing folder or file is an error, not an empty page."""
    folder = Path(folder)
    found = {}
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        try:
            found[name] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise JstError(f"{path}: no benchmark record ({e}); "
                           f"run python -m benchmarks.run_all --out {folder}") from None
    return found


def goals(records: dict[str, dict]) -> pd.DataFrame:
    """One row per goal of every benchmark: what was measured against its threshold, and whether it held."""
    rows = [{"benchmark": name, "goal": g["goal"], "value": g["value"], "threshold": g["threshold"],
             "direction": g["direction"], "met": g["met"], "quick run": r.get("quick", False)}
            for name, r in records.items() for g in r.get("goals", [])]
    return pd.DataFrame(rows)


def targets(records: dict[str, dict]) -> pd.DataFrame:
    """Per benchmark: how many of its targets it checked and how many it reached (from ``goals``)."""
    g = goals(records)
    out = g.groupby("benchmark", sort=False).agg(checked=("met", "size"), reached=("met", "sum")).reset_index()
    return out.rename(columns={"checked": "targets checked", "reached": "targets reached"})


# what the benchmarks' keys mean, for a reader
VARIANTS = {"jst": "jst train_epoch", "jst_prepared": "jst, pre-generated batches", "bare": "bare training loop"}
LOADERS = {"jst_tensor_source": "jst in-memory loader", "torchvision_workers0": "torchvision, 0 workers",
           "torchvision_workers2": "torchvision, 2 workers"}


def machine(records: dict[str, dict]) -> pd.DataFrame:
    """Where and on what each benchmark ran (CPU, threads, 1-minute load average before and after, commit)."""
    rows = []
    for name, r in records.items():
        m = r.get("machine", {})
        rows.append({"benchmark": name, "cpu": m.get("cpu_model"), "cores": m.get("cores"),
                     "torch threads": m.get("torch_threads"), "gpu": m.get("gpu", "none"),
                     "load at start": (m.get("load_average_at_start") or [None])[0],
                     "load at end": (m.get("load_average") or [None])[0], "wall time (s)": r.get("wall_time_s"),
                     "commit": (r.get("versions", {}).get("git_commit") or "")[:7],
                     "uncommitted changes": r.get("uncommitted_changes"), "quick": r.get("quick", False)})
    return pd.DataFrame(rows)


def overhead(record: dict) -> pd.DataFrame:
    """images/s of each variant (jst's train_epoch, on pre-generated batches, the bare loop)."""
    rows = [{"variant": v, **{k: s["images_per_s"][k] for k in ("median", "q1", "q3", "min", "max")}}
            for v, s in record["variants"].items()]
    return pd.DataFrame(rows)


def data_path(record: dict) -> pd.DataFrame:
    """Per dataset and loader: seconds per batch and its share of a ResNet-20 training step."""
    rows = []
    for dataset, d in record["datasets"].items():
        step = d["seconds_per_batch"]["train_step"]["median"]
        for loader, s in d["seconds_per_batch"].items():
            if loader == "train_step":
                continue
            rows.append({"dataset": dataset, "loader": loader, "augment": d["augment"],
                         "ms per batch": 1e3 * s["median"], "share of a step": s["median"] / step,
                         "step ms": 1e3 * step, "batch size": d["batch_size"]})
    return pd.DataFrame(rows)


def search_overhead(record: dict) -> pd.DataFrame:
    """Per case: seconds of each part of the search (inclusive timings) and the share outside training."""
    rows = []
    for case, c in record["cases"].items():
        for part, seconds in c["breakdown_seconds_inclusive"].items():
            rows.append({"case": case, "part": part, "seconds": seconds, "calls": c["calls"].get(part),
                         "share of search": seconds / c["search_seconds"],
                         "outside training share": c["outside_training_share"]})
    return pd.DataFrame(rows)


def speedup(record: dict) -> pd.DataFrame:
    """One row per (arch, batch, option, pruned model): measured speed-up over dense vs the FLOPs ratio."""
    rows = []
    for arch, a in record["archs"].items():
        for batch, b in a["batches"].items():
            for key, s in b["speedups"].items():
                option, name = key.split("/")
                model = a["models"][name]
                rows.append({"arch": arch, "batch": int(batch), "option": option, "model": name,
                             "FLOPs kept": model["budget"], "channel multiple": model["channel_multiple"],
                             "FLOPs ratio": s["flops_ratio"], "speed-up": s["speedup"]["median"],
                             "speed-up q1": s["speedup"]["q1"], "speed-up q3": s["speedup"]["q3"],
                             "speed-up / FLOPs ratio": s["speedup_over_flops_ratio"],
                             "dense ms": 1e3 * b["latency_seconds"][f"{option}/dense"]["median"],
                             "pruned ms": 1e3 * b["latency_seconds"][key]["median"],
                             "goal met": s["goal"]["met"]})
    return pd.DataFrame(rows)


def op_profile(record: dict) -> pd.DataFrame:
    """Milliseconds per forward pass in each operator (eager), per arch, batch and network (speed-up's profile)."""
    rows = [{"arch": arch, "batch": int(batch), "network": net, "operator": op.removeprefix("aten::"), "ms": ms}
            for arch, a in record["archs"].items() for batch, nets in a.get("op_profile_ms", {}).items()
            for net, ops in nets.items() for op, ms in ops.items()]
    return pd.DataFrame(rows)


def scaling(record: dict) -> pd.DataFrame:
    """Seconds per coarse epoch and per search step, against depth and against data size."""
    rows = []
    for axis in ("vs_depth", "vs_size"):
        for p in record[axis]:
            for what in ("epoch", "step"):
                rows.append({"axis": axis[3:], "arch": p["arch"], "depth": int(p["arch"].removeprefix("resnet")),
                             "images": p["images"], "what": {"epoch": "coarse epoch", "step": "search step"}[what],
                             "seconds": p[what]["median"], "min": p[what]["min"], "max": p[what]["max"]})
    return pd.DataFrame(rows)


def network_name(network: str) -> str:
    """``kept0.5_x8`` -> "50% FLOPs, channels x8" (a network pruned to that budget); "dense" stays."""
    if not network.startswith("kept"):
        return network
    budget, _, multiple = network.removeprefix("kept").partition("_x")
    name = f"{float(budget):.0%} FLOPs"
    return name if multiple in ("", "1") else f"{name}, channels x{multiple}"


def three_digits(seconds: float) -> str:
    """3 significant digits and no exponent, for durations from 0.00006 s to 83.7 s."""
    return f"{seconds:.3g}" if seconds >= 1e-3 else f"{seconds:.5f}"


def data_path_shares(dp: pd.DataFrame) -> pd.DataFrame:
    """Share of a training step spent loading a batch: one row per dataset, one column per loader."""
    return dp.pivot_table(index="dataset", columns="loader", values="share of a step")


def search_seconds(so: pd.DataFrame) -> pd.DataFrame:
    """Seconds of each part of the search: one row per part, one column per case."""
    wide = so.pivot_table(index="part", columns="case", values="seconds", sort=False)
    return wide.rename(columns=lambda c: f"{c} (s)")


def by_option(sp: pd.DataFrame, values: str, unit: str) -> pd.DataFrame:
    """One row per network, batch and pruned model; one column per compile option of ``values``."""
    wide = sp.pivot_table(index=["arch", "batch", "model"], columns="option", values=values, sort=False)
    wide = wide.rename(columns=lambda o: f"{o} ({unit})").reset_index()
    return wide.assign(model=wide["model"].map(network_name)).rename(columns={"arch": "network", "model": "pruned to"})


def option_effect(sp: pd.DataFrame) -> pd.DataFrame:
    """Each option's speed-up per FLOPs ratio relative to eager execution, same case (0.1: 10% better)."""
    ratio = sp.pivot_table(index=["arch", "batch", "model"], columns="option", values="speed-up / FLOPs ratio")
    return ratio.drop(columns="eager").div(ratio["eager"], axis=0) - 1


def op_speedups(ops: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(conv ms, total ms, speed-ups): per arch and batch, milliseconds in convolutions and in all operators
    per network, and each pruned network's speed-up over dense in both, columns named for a reader."""
    def ms(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.groupby(["arch", "batch", "network"])["ms"].sum().unstack("network")
    conv, total = ms(ops[ops["operator"].str.contains("conv")]), ms(ops)
    speedups = pd.concat({what: times.rdiv(times["dense"], axis=0).drop(columns="dense")
                          for what, times in (("conv speed-up", conv), ("total speed-up", total))}, axis=1)
    speedups.columns = [f"{what}, {network_name(net)} (x)" for what, net in speedups.columns]
    return conv, total, speedups


__all__ = ["BENCHMARKS", "load", "goals", "machine", "overhead", "data_path", "search_overhead", "speedup",
           "op_profile", "scaling", "network_name", "three_digits", "data_path_shares", "search_seconds", "by_option",
           "option_effect", "op_speedups"]
