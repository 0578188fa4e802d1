"""The reproduction's tables, built from the committed run records of ``jst.experiments.grid``' grid.

Every cell comes from a file under ``results/``: a comparison's ``table.json`` (mean and std over seeds,
``jst.experiments.compare``), its ``latency.json`` (``jst.experiments.latency``), the runs' ``log.jsonl``, and the sensitivity
CSVs. Nothing is typed in: a block that has not run shows as missing in ``status``.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pandas as pd

from jst.experiments.compare import load_table, run_name

# what "best" means per column of a comparison table (the dense reference row is never marked)
BEST = {"test acc (%)": max, "FLOPs kept": min, "params kept": min, "speed-up b1": max, "speed-up b64": max,
        "wall time (min)": min}


def status(blocks) -> pd.DataFrame:
    """Per block of the grid: finished runs out of planned, and the command that (re)runs it."""
    from jst.experiments.grid import block_name, finished
    rows = []
    for b in blocks:
        done, total = finished(b)
        rows.append({"block": block_name(b), "finished": done, "planned": total, "command": b.command()})
    return pd.DataFrame(rows)


def _speedups(folder: Path, runs: list[str], batch: str) -> list[float]:
    path = folder / "latency.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())["runs"]
    return [record[r][batch]["speedup"]["median"] for r in runs if "speedup" in record.get(r, {}).get(batch, {})]


def compute_spent(blocks) -> pd.DataFrame:
    """Per comparison block: its finished runs' summed wall time and hardware, and what the unfinished runs
    would take at the finished ones' mean (an estimate for planning, not a measurement)."""
    from jst.experiments.grid import Block, block_name
    rows = []
    for b in blocks:
        if not isinstance(b, Block):
            continue
        planned = b.runs()
        done = [json.loads((r / "result.json").read_text()) for r in planned if (r / "result.json").exists()]
        hours = sum(r["wall_time_s"] for r in done) / 3600
        hardware = sorted({text for r in done for text in run_hardware(r)})
        rows.append({"block": block_name(b), "finished": len(done), "planned": len(planned),
                     "wall hours spent": round(hours, 2), "hardware": "; ".join(hardware),
                     "hours to finish (estimate)": round(hours / len(done) * (len(planned) - len(done)), 1) if done else None})
    return pd.DataFrame(rows)


def _mean_std(values: list[float], scale: float = 1.0) -> tuple[float, float] | None:
    if not values:
        return None
    return scale * statistics.fmean(values), scale * (statistics.stdev(values) if len(values) > 1 else 0.0)


def hardware_text(h: dict) -> str:
    """A run's recorded hardware in a few words: the GPU, or the CPU and its threads."""
    threads = h.get("cpu_threads", "?")
    return h.get("gpu") or f"{h.get('device', '?')}, {threads} thread{'' if threads == 1 else 's'}"


def run_hardware(result: dict) -> list[str]:
    """What one run ran on, attempt by attempt where it recorded them (a resumed run may have moved)."""
    attempts = result.get("attempts") or [{"hardware": result.get("hardware", {})}]
    return [hardware_text(a["hardware"]) if a["hardware"] else "not recorded" for a in attempts]


def _hardware(folder: Path, runs: list[str]) -> str:
    """What the runs ran on, as each recorded it (a wall time means little without it)."""
    seen = []
    for r in runs:
        for text in run_hardware(json.loads((folder / r / "result.json").read_text())):
            if text not in seen:
                seen.append(text)
    return "; ".join(seen)


def comparison(folder: str | Path, flops_target: float | None = None) -> pd.DataFrame:
    """One row per method (at ``flops_target``; every target when None) with (mean, std) pairs over seeds:
    test accuracy, FLOPs and parameters kept, CPU latency speed-up over dense at batch 1 and 64 (dense: 1
    by definition, when timed), wall time of the whole run and the hardware it ran on."""
    folder = Path(folder)
    rows = []
    timed = (folder / "latency.json").exists()
    for r in load_table(folder):
        if flops_target is not None and abs(r["flops_target"] - flops_target) > 1e-9:
            continue
        reference = (1.0, 0.0) if r["method"] == "dense" and timed else None
        rows.append({"method": r["method"], "FLOPs target": r["flops_target"], "seeds": r["n_seeds"],
                     "test acc (%)": (100 * r["test_acc_mean"], 100 * r["test_acc_std"]),
                     "FLOPs kept": (r["flops_ratio_mean"], r["flops_ratio_std"]),
                     "params kept": (r["params_ratio_mean"], r["params_ratio_std"]),
                     "speed-up b1": reference or _mean_std(_speedups(folder, r["runs"], "1")),
                     "speed-up b64": reference or _mean_std(_speedups(folder, r["runs"], "64")),
                     "wall time (min)": (r["wall_time_s_mean"] / 60, r["wall_time_s_std"] / 60),
                     "hardware": _hardware(folder, r["runs"]), "meets budget": r["meets_budget"], "runs": ", ".join(r["runs"])})
    return pd.DataFrame(rows)


def glue_key(comparison_name: str, flops_target: float) -> str:
    """The prefix of the values ``pasted_numbers`` glues for one comparison at one FLOPs target
    (``cifar10_sample-vgg16`` at 0.5 -> ``cifar10_sample_vgg16_f0_5``): a name the book's glue role takes."""
    return re.sub(r"\W", "_", f"{comparison_name}_f{flops_target:g}")


def pasted_numbers(comparison_name: str, folder: str | Path, flops_target: float) -> dict[str, str]:
    """The numbers the reproduction notes quote about one comparison, keyed for glue, so that prose cannot
    drift from the records: per method its mean test accuracy (``_acc``, "63.1%"), mean FLOPs kept
    (``_flops``), seed count (``_seeds``) and per-seed accuracies in seed order (``_per_seed``); and JST
    against each other method (``_jst_vs_<method>``: the mean gap, the larger seed std and ``verdict``'s
    word)."""
    folder = Path(folder)
    df = comparison(folder, flops_target)
    prefix = glue_key(comparison_name, flops_target)
    texts = {}
    for _, row in df.iterrows():
        m = row["method"]
        by_seed = _results_by_seed(folder, row["runs"])
        accs = [f"{100 * by_seed[s]['pruned']['test_acc']:.1f}%" for s in sorted(by_seed)]
        texts[f"{prefix}_{m}_acc"] = f"{row['test acc (%)'][0]:.1f}%"
        texts[f"{prefix}_{m}_flops"] = f"{row['FLOPs kept'][0]:.2f}"
        texts[f"{prefix}_{m}_seeds"] = seeds_text(int(row["seeds"]))
        texts[f"{prefix}_{m}_per_seed"] = accs[0] if len(accs) == 1 else ", ".join(accs[:-1]) + " and " + accs[-1]
        if m != "jst" and (p := pair(df, "jst", m)):
            texts[f"{prefix}_jst_vs_{m}"] = (f"{p[f'jst - {m} (points)']:+.1f} points against a larger seed std of "
                                            f"{p['larger std (points)']:.1f}, {p['verdict'].replace('jst', 'JST')}")
    return texts


def verdict(gap: float, spread: float, seeds: int, ahead: str, behind: str) -> str:
    """The one rule every comparison here uses: a mean difference counts only when it exceeds the larger
    of the two seed standard deviations, and one seed (no spread) decides nothing."""
    if seeds < 2:
        return "one seed: undecided"
    return ahead if gap > spread else behind if gap < -spread else "within the seed spread"


def pair(df: pd.DataFrame, a: str, b: str) -> dict | None:
    """Method ``a`` against method ``b`` in one comparison frame: accuracy gap in points, the larger seed
    std, and the verdict (None when either has not run)."""
    if df.empty:
        return None
    rows = {m: df[df["method"] == m] for m in (a, b)}
    if any(r.empty for r in rows.values()):
        return None
    ra, rb = rows[a].iloc[0], rows[b].iloc[0]
    gap = ra["test acc (%)"][0] - rb["test acc (%)"][0]
    spread = max(ra["test acc (%)"][1], rb["test acc (%)"][1])
    return {"seeds": int(min(ra["seeds"], rb["seeds"])), f"{a} acc (%)": ra["test acc (%)"][0],
            f"{a} FLOPs kept": ra["FLOPs kept"][0], f"{b} acc (%)": rb["test acc (%)"][0],
            f"{b} FLOPs kept": rb["FLOPs kept"][0], f"{a} - {b} (points)": gap, "larger std (points)": spread,
            "verdict": verdict(gap, spread, min(ra["seeds"], rb["seeds"]), f"{a} ahead", f"{b} ahead")}


def jst_against_baselines(folder: str | Path, flops_target: float) -> dict | None:
    """Where JST stands at one FLOPs target: its accuracy, the best pruning baseline's, the gap and whether
    it exceeds the larger of the two seed spreads; with one seed nothing is decided (None when JST has not
    run there). Scratch-B is not a baseline here: it retrains JST's own architecture (``pair`` compares it)."""
    df = comparison(folder, flops_target)
    if df.empty:
        return None
    pruned = df[df["method"] != "dense"]
    others = pruned[~pruned["method"].isin(["jst", "scratch"])]
    if "jst" not in set(pruned["method"]) or others.empty:
        return None
    best = others.loc[others["test acc (%)"].map(lambda v: v[0]).idxmax(), "method"]
    p = pair(pruned, "jst", best)
    return {"FLOPs target": flops_target, "seeds": p["seeds"], "JST acc (%)": p["jst acc (%)"],
            "JST FLOPs kept": p["jst FLOPs kept"], "best baseline": best, "its acc (%)": p[f"{best} acc (%)"],
            "its FLOPs kept": p[f"{best} FLOPs kept"], "JST - best (points)": p[f"jst - {best} (points)"],
            "larger std (points)": p["larger std (points)"],
            "verdict": p["verdict"].replace("jst ahead", "JST ahead").replace(f"{best} ahead", "JST behind")}


def finished_comparisons(blocks) -> list:
    """The method comparisons of the grid that have a table (ablations, with their own ``out``, are read by
    ``ablation_outcomes``; sensitivity blocks have no table)."""
    from jst.experiments.grid import Block
    return [b for b in blocks if isinstance(b, Block) and not b.out and (b.folder / "table.json").exists()]


def standings(blocks) -> tuple[pd.DataFrame, pd.DataFrame]:
    """JST in every finished comparison of the grid (each block, each FLOPs target): against the best
    pruning baseline (``jst_against_baselines``) and against Scratch-B of its own architecture (``pair``).
    The claims about JST are read from these two frames."""
    standing, scratch = [], []
    for b in finished_comparisons(blocks):
        for t in b.flops_targets:
            r = jst_against_baselines(b.folder, t)
            if r:
                standing.append({"comparison": b.name, **r})
            p = pair(comparison(b.folder, t), "jst", "scratch")
            if p:
                scratch.append({"comparison": f"{b.name} at {t:g}", **p})
    return pd.DataFrame(standing), pd.DataFrame(scratch)


def mean_std_text(v: tuple[float, float] | None, seeds: int, digits: int) -> str:
    """A (mean, std) pair as text: "mean ± std", the value alone for one seed (no spread, not a spread of
    zero), "not measured" for None."""
    if v is None:
        return "not measured"
    return f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}" if seeds > 1 else f"{v[0]:.{digits}f}"


def best_cells(df: pd.DataFrame) -> dict[str, set[int]]:
    """Row indices holding the best mean of each column (ties included), the dense row excluded."""
    best = {}
    for column, pick in BEST.items():
        if column not in df:
            continue
        means = {i: v[0] for i, v in df[column].items()
                 if v is not None and ("method" not in df or df.at[i, "method"] != "dense")}
        if means:
            target = pick(means.values())
            best[column] = {i for i, m in means.items() if abs(m - target) < 1e-12}
    return best


def styled(df: pd.DataFrame, digits: dict[str, int] | None = None):
    """``mean ± std`` strings with the best of each column in bold (a pandas Styler, rendered as HTML). A row
    of one seed shows its value alone: it has no spread, not a spread of zero."""
    digits = {"test acc (%)": 2, "FLOPs kept": 3, "params kept": 3, "speed-up b1": 2, "speed-up b64": 2,
              "wall time (min)": 1, **(digits or {})}
    best = best_cells(df)
    text = df.copy()
    seeds = df["seeds"] if "seeds" in df else pd.Series(2, index=df.index)
    for column, d in digits.items():
        if column in text:
            text[column] = [mean_std_text(v, n, d) for v, n in zip(df[column], seeds)]

    def bold(col):
        return ["font-weight: bold" if i in best.get(col.name, ()) else "" for i in col.index]
    return text.style.apply(bold, axis=0).hide(axis="index").set_table_styles(
        [{"selector": "td", "props": "white-space: nowrap"}])  # a "mean ± std" cell stays on one line


SCRATCH_B = "scratch_b"  # JST's architecture trained from scratch: the comparison's ``scratch`` row


def ablations(default_folder: str | Path, ablation_root: str | Path, flops_target: float = 0.5) -> pd.DataFrame:
    """JST as specified (the comparison's jst row) against each ablation variant's folder under
    ``ablation_root``, and Scratch-B of JST's architecture, with the same columns as ``comparison``."""
    frames = []
    default = comparison(default_folder, flops_target)
    frames.append(default[default["method"] == "jst"].assign(variant="JST (as specified)"))
    for folder in sorted(p for p in Path(ablation_root).iterdir() if (p / "table.json").exists()):
        frames.append(comparison(folder, flops_target).assign(variant=folder.name))
    frames.append(default[default["method"] == "scratch"].assign(variant=SCRATCH_B))
    df = pd.concat(frames, ignore_index=True)
    return df[["variant", *[c for c in df if c not in ("variant", "method")]]]


def _results_by_seed(folder: Path, runs: str) -> dict[int, dict]:
    results = [json.loads((folder / name / "result.json").read_text()) for name in runs.split(", ")]
    return {r["seed"]: r for r in results}


def _same_draws(a: dict, b: dict) -> str:
    """How many search steps of run ``b`` drew run ``a``'s thresholds (runs without a search: "-")."""
    ca, cb = (r.get("method_details", {}).get("candidates", []) for r in (a, b))
    if not ca or not cb:
        return "-"
    return f"{sum(x['thresholds'] == y['thresholds'] for x, y in zip(ca, cb))}/{len(ca)}"


def ablation_outcomes(default_folder: str | Path, ablation_root: str | Path, flops_target: float = 0.5) -> pd.DataFrame:
    """Each ablation variant against JST as specified on the seeds both have (a variant with fewer seeds is
    not set against JST's other seeds): the accuracy difference in points, the larger seed std, the verdict
    of the one rule (``verdict``), and the same-seed differences, which show the direction while the seeds
    are too few to decide; and the seeds on which the variant ended in JST's own architecture (the same
    per-layer widths: always, for Scratch-B, which retrains it)."""
    default_folder, ablation_root = Path(default_folder), Path(ablation_root)
    df = ablations(default_folder, ablation_root, flops_target)
    jst_by_seed = _results_by_seed(default_folder, df.iloc[0]["runs"])
    rows = []
    for _, v in df.iloc[1:].iterrows():
        by_seed = _results_by_seed(default_folder if v["variant"] == SCRATCH_B else ablation_root / v["variant"], v["runs"])
        seeds = sorted(set(by_seed) & set(jst_by_seed))
        if not seeds:
            continue
        ours = [100 * by_seed[s]["pruned"]["test_acc"] for s in seeds]
        theirs = [100 * jst_by_seed[s]["pruned"]["test_acc"] for s in seeds]
        same = [s for s in seeds if by_seed[s]["pruned"]["widths"] == jst_by_seed[s]["pruned"]["widths"]]
        (mean, std), (jst_mean, jst_std) = _mean_std(ours), _mean_std(theirs)
        gap, spread = mean - jst_mean, max(std, jst_std)
        rows.append({"variant": v["variant"], "seeds": ", ".join(map(str, seeds)),
                     "variant acc (%)": mean, "JST acc (%)": jst_mean,
                     "variant - JST (points)": gap, "larger std (points)": spread,
                     "same-seed differences (points)": ", ".join(f"s{s}: {a - b:+.2f}" for s, a, b in zip(seeds, ours, theirs)),
                     "variant FLOPs kept": v["FLOPs kept"][0],
                     "JST's architecture on seeds": ", ".join(map(str, same)) or "none",
                     "search steps drawing JST's thresholds": ", ".join(
                         f"s{s}: {_same_draws(jst_by_seed[s], by_seed[s])}" for s in seeds),
                     "verdict": verdict(gap, spread, len(seeds), "higher than JST", "lower than JST")})
    return pd.DataFrame(rows)


def policy_drifts(blocks) -> pd.DataFrame:
    """``policy_drift`` of every finished comparison of the grid, one row per JST run."""
    frames = [policy_drift(b.folder).assign(comparison=b.name) for b in finished_comparisons(blocks)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["comparison", "run"])
    return df[["comparison", *[c for c in df if c != "comparison"]]]


def policy_drift(folder: str | Path, method: str = "jst") -> pd.DataFrame:
    """How far the sampler's policy moved during the search, per run of ``method`` in a comparison folder:
    the largest distance of its final per-layer probabilities from the uniform policy it starts from. Near
    zero, the search drew its thresholds almost uniformly: a seeded random search ranked by Dval accuracy."""
    rows = []
    for path in sorted(Path(folder).glob(f"{method}-f*-s*/result.json")):
        r = json.loads(path.read_text())
        final = r["method_details"]["policy_probabilities"][-1]
        drift = max(abs(p - 1 / len(layer)) for layer in final for p in layer)
        rows.append({"run": path.parent.name, "search steps T": len(r["method_details"]["candidates"]),
                     "choices per layer": len(final[0]), "largest |p - uniform|": drift})
    return pd.DataFrame(rows)


def sparsity_reach(blocks) -> pd.DataFrame:
    """How far Network Slimming's L1 penalty could move a BN scale, per slimming run of the finished
    comparisons: lambda times the learning rates summed over the sparsity stage's steps (each step moves a
    scale by at most lr * lambda; momentum 0.9 can multiply that by up to 10). Scales start at 1: a reach far
    below that means the global threshold ranks channels by how the loss moved their scales, not by a
    sparsity the penalty induced. The last row is the same sum for the ``paper`` preset on the full
    CIFAR-10 (50,000 images), a schedule we did not run. The bound holds for SGD only: a run with another
    optimizer gets no reach."""
    from jst.config import make_config
    from jst.engine.runlog import RunLog
    from jst.engine.train import lr_at

    def reach(lam: float, steps: int, lrs: list[float], optimizer: str, momentum: float) -> dict:
        plain = lam * steps * sum(lrs) if optimizer == "sgd" else float("nan")
        return {"lambda": lam, "sparsity epochs": len(lrs), "steps per epoch": steps, "L1 reach": plain,
                "with momentum (at most)": plain / (1 - momentum)}
    rows = []
    for b in finished_comparisons(blocks):
        for path in sorted(Path(b.folder).glob("slimming-f*-s*/result.json")):
            r = json.loads(path.read_text())
            cfg, data = r["config"], r["data"]
            lrs = [e["lr"] for e in RunLog(path.parent / "log.jsonl").read() if e.get("stage") == "sparsity"]
            steps = (data["train"] + data["val"]) // cfg["batch_size"]     # the stage drops the last batch
            dense, kept = r["dense"]["widths"], r["pruned"]["widths"]
            rows.append({"comparison": b.name, "run": path.parent.name,
                         **reach(cfg["slimming_lambda"], steps, lrs, cfg["optimizer"], cfg["momentum"]),
                         "threshold": r["method_details"].get("threshold"),
                         "narrowest layer kept": min(kept[n] / dense[n] for n in kept),
                         "test acc (%)": 100 * r["pruned"]["test_acc"]})
    c = make_config("paper", "resnet20")
    steps = 50_000 // c.batch_size
    lrs = [lr_at("cosine", c.coarse_lr, e, c.coarse_epochs) for e in range(c.coarse_epochs)]
    rows.append({"comparison": "paper preset, full CIFAR-10 (not run)", "run": "-",
                 **reach(c.slimming_lambda, steps, lrs, c.optimizer, c.momentum)})
    return pd.DataFrame(rows)


def identical_variants(ablation_root: str | Path) -> list[list[str]]:
    """Groups of ablation variants whose runs ended in the same network (per-layer widths) with the same
    test accuracy on every seed they share: e.g. two fixed thresholds that the budget projection scaled to
    the same one. Such a group is one experiment, not several."""
    prints = {}
    for folder in sorted(p for p in Path(ablation_root).iterdir() if (p / "table.json").exists()):
        runs = [json.loads(r.read_text()) for r in folder.glob("*/result.json")]
        prints[folder.name] = {r["seed"]: (sorted(r["pruned"]["widths"].items()), r["pruned"]["test_acc"]) for r in runs}
    groups: list[list[str]] = []
    for name, runs in prints.items():
        for g in groups:
            first = prints[g[0]]
            common = set(first) & set(runs)
            if common and all(first[s] == runs[s] for s in common):
                g.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]


# The published figures we can cite (PAPER.md, book/published.md) and the closest run of ours: the
# results folder holding it (a comparison, or a single run) and the method's name there.
PUBLISHED = [
    {"method": "ista", "source": "Ye et al. 2018 (ICLR)", "setting": "CIFAR-10, ResNet-20",
     "published": "about 37% fewer parameters at about 1 point lower accuracy", "ours": "compare/cifar10_sample-resnet20-cpu"},
    {"method": "autoprune", "source": "Xiao et al. 2019 (NeurIPS), abstract", "setting": "MNIST, LeNet-5, unstructured",
     "published": "7% of FLOPs, 310x compression, no accuracy drop", "ours": "autoprune-unstructured/mnist-lenet5-s0",
     "dense": "compare/mnist-lenet5-cpu/dense-f1-s0"},  # the dense run of the same seed
    {"method": "autoprune", "source": "Xiao et al. 2019 (NeurIPS), abstract", "setting": "CIFAR-10, VGG-like",
     "published": "23% of FLOPs, 75x compression, no accuracy drop", "ours": "compare/cifar10_sample-vgg16-cpu"},
    {"method": "lstm", "source": "Zhong et al. 2018 (IJCAI)", "setting": "CIFAR-10, VGG-16",
     "published": "70.1% fewer FLOPs, accuracy comparable to the unpruned network", "ours": "compare/cifar10_sample-vgg16-cpu"},
    {"method": "lstm", "source": "Zhong et al. 2018 (IJCAI)", "setting": "CIFAR-10, ResNet-56",
     "published": "47.5% fewer FLOPs, comparable accuracy", "ours": "compare/cifar10_sample-resnet20-cpu"},
]


def published_beside_ours(results_root: str | Path) -> pd.DataFrame:
    """Each published figure beside the closest committed run of ours: FLOPs and parameters kept and the
    accuracy drop from the dense network of the same comparison (mean ± std over seeds), or "not run yet"."""
    root = Path(results_root)
    rows = []
    for p in PUBLISHED:
        row = {"method": p["method"], "source": p["source"], "published setting": p["setting"],
               "published result": p["published"], "ours": p["ours"]}
        folder = root / p["ours"]
        if (folder / "result.json").exists():  # a single run, against the dense run of its seed
            r = json.loads((folder / "result.json").read_text())["pruned"]
            d = json.loads((root / p["dense"] / "result.json").read_text())["pruned"]
            row.update({"FLOPs kept": f"{r['flops_ratio']:.3f}", "params kept": f"{r['params_ratio']:.3f}",
                        "accuracy drop (points)": f"{100 * (d['test_acc'] - r['test_acc']):.2f}", "seeds": "1"})
        elif (folder / "table.json").exists():
            df = comparison(folder, 0.5)
            mine, dense = df[df["method"] == p["method"]], df[df["method"] == "dense"]
            if mine.empty or dense.empty:
                rows.append({**row, "FLOPs kept": "not run yet"})
                continue
            m, d = mine.iloc[0], dense.iloc[0]
            drop = d["test acc (%)"][0] - m["test acc (%)"][0]
            spread = (f" (larger std {max(d['test acc (%)'][1], m['test acc (%)'][1]):.2f})"
                      if min(m["seeds"], d["seeds"]) > 1 else " (one seed: no spread)")
            row.update({"FLOPs kept": mean_std_text(m["FLOPs kept"], m["seeds"], 3),
                        "params kept": mean_std_text(m["params kept"], m["seeds"], 3),
                        "accuracy drop (points)": f"{drop:.2f}{spread}", "seeds": str(m["seeds"])})
        else:
            row["FLOPs kept"] = "not run yet"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


# The paper's claims an ablation tests: the variants that remove what the claim credits.
ABLATION_CLAIMS = [
    ("perturbation", "random perturbation of the sampler improves the result", "JST: perturbation, inspired by Monte Carlo", ["no_perturbation"]),
    ("thresholds", "learned (flexible) per-layer thresholds beat fixed ones", "JST: flexible thresholding, inspired by reinforcement learning",
     ["fixed_threshold_0.6", "fixed_threshold_0.8"]),
    ("updater", "training the sub-networks jointly (the updater writes their weights back) beats starting each fresh",
     "JST: the joint search-and-training", ["no_updater"]),
    ("coarse_training", "coarse training of the target network before the search helps", "JST: the coarse-training stage", ["no_coarse_training"]),
]


def seeds_text(n: int) -> str:
    """How many seeds a comparison rests on, in words ("1 seed", "3 seeds")."""
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _claim_verdict(verdicts: list[str], good: str) -> str:
    """A claim's verdict from its comparisons' verdicts: the undecided (one-seed) ones are left out, and
    the claim holds only where every decided one agrees."""
    if not verdicts:
        return "not run yet"
    decided = [v for v in verdicts if v != "one seed: undecided"]
    if not decided:
        return "undecided (one seed)"
    if all(v == good for v in decided):
        text = "confirmed at cpu scale"
    elif any(v not in (good, "within the seed spread") for v in decided):
        text = "contradicted at cpu scale"
    else:
        text = "not confirmed: within the seed spread"
    return text + (f" ({len(decided)} of {len(verdicts)} comparisons decided)" if len(decided) < len(verdicts) else "")


def claims(standing: pd.DataFrame, scratch: pd.DataFrame, outcomes: pd.DataFrame, autoprune: pd.DataFrame) -> pd.DataFrame:
    """The claims we can test, each with our evidence and a verdict derived from it by ``verdict``'s rule:
    JST against the best baseline and against Scratch-B of its architecture (``standings``), the ablations
    (``ablation_outcomes``), and AutoPrune's MNIST figure (``unstructured_claim``; "no drop" = within the
    dense network's seed std)."""
    rows = []
    v = list(standing["verdict"]) if len(standing) else []
    evidence = "; ".join(f"{r['comparison']} at {r['FLOPs target']:g}: JST {r['JST - best (points)']:+.3f} points against "
                         f"{r['best baseline']} (larger std {r['larger std (points)']:.3f}, {seeds_text(r['seeds'])})"
                         for _, r in standing.iterrows())
    rows.append({"key": "jst_vs_baselines", "claim": "JST beats the pruning baselines at matched FLOPs", "source": "JST (Lu et al. 2020)",
                 "our evidence": evidence or "none", "verdict": _claim_verdict(v, "JST ahead")})
    v = list(scratch["verdict"]) if len(scratch) else []
    evidence = "; ".join(f"{s['comparison']}: JST {s['jst - scratch (points)']:+.3f} points (larger std "
                         f"{s['larger std (points)']:.3f}, {seeds_text(s['seeds'])})" for _, s in scratch.iterrows())
    rows.append({"key": "jst_vs_scratch", "claim": "JST's network beats its own architecture trained from scratch for the same compute (Scratch-B)",
                 "source": "JST against Liu et al. 2019", "our evidence": evidence or "none",
                 "verdict": _claim_verdict(v, "jst ahead")})
    for key, claim, source, variants in ABLATION_CLAIMS:
        found = outcomes[outcomes["variant"].isin(variants)] if len(outcomes) else outcomes
        v = list(found["verdict"]) if len(found) else []
        evidence = "; ".join(f"{r['variant']}: {r['variant - JST (points)']:+.2f} points ({r['verdict']})" for _, r in found.iterrows())
        rows.append({"key": key, "claim": claim, "source": source, "our evidence": evidence or "not run yet",
                     "verdict": _claim_verdict(v, "lower than JST") if len(v) == len(variants) else "not run yet"})
    ours = autoprune.loc["ours"]
    dense_std = ours["dense seed std (points)"]
    met = (ours["FLOPs kept"] <= AUTOPRUNE_CLAIM["FLOPs kept"] + 1e-9 and ours["accuracy drop (points)"] <= dense_std)
    rows.append({"key": "autoprune_mnist", "claim": "LeNet-5 on MNIST at 7% of FLOPs with no accuracy drop (unstructured)",
                 "source": "AutoPrune (Xiao et al. 2019)",
                 "our evidence": f"{ours['FLOPs kept']:.3f} of FLOPs, {ours['accuracy drop (points)']:.2f} points below dense "
                                 f"(dense seed std {dense_std:.2f}); one seed",
                 "verdict": "confirmed at cpu scale" if met else "not confirmed"})
    return pd.DataFrame(rows).set_index("key")


def schedules(scale: str = "cpu") -> pd.DataFrame:
    """The schedule of each model family at ``scale`` (jst.config presets): what the budget bought."""
    from jst.config import make_config
    rows = []
    for family, arch in (("small (LeNets)", "lenet5"), ("cifar (ResNets, VGG)", "resnet20"), ("imagenet", "resnet18")):
        c = make_config(scale, arch)
        rows.append({"family": family, "training images (cap)": c.max_train_samples or "all",
                     "coarse epochs": c.coarse_epochs, "search steps T": c.search_steps,
                     "M_t (before / after switch)": f"{c.search_epochs[0]} / {c.search_epochs[1]} (switch at {c.search_switch})",
                     "filter epochs N": c.filter_epochs, "fine-tune epochs": c.finetune_epochs,
                     "dense epochs": c.dense_epochs, "batch": c.batch_size})
    return pd.DataFrame(rows)


def lr_probe(folder: str | Path) -> pd.DataFrame:
    """The learning-rate probe: each run's first training stage from scratch (``dense``, or JST's
    ``coarse``) at its ``coarse_lr``, epoch 1's loss and the last epoch's training accuracy. Training data
    only: the choice of rate looks at nothing else. A run *learns* when its last epoch's training accuracy
    is above twice chance."""
    from jst.engine.runlog import RunLog
    rows = []
    for run in sorted(Path(folder).glob("*/result.json")):
        result = json.loads(run.read_text())
        cfg = result["config"]
        stage = "dense" if cfg["method"] == "dense" else "coarse"
        epochs = [r for r in RunLog(run.parent / "log.jsonl").read() if r.get("stage") == stage]
        rows.append({"run": run.parent.name, "method": cfg["method"], "lr": cfg["coarse_lr"],
                     "stage": stage, "epochs": len(epochs), "epoch-1 train loss": epochs[0]["train_loss"],
                     "last train acc (%)": 100 * epochs[-1]["train_acc"],
                     "learns": epochs[-1]["train_acc"] > 2 / result["data"]["num_classes"]})
    return pd.DataFrame(rows).sort_values(["method", "lr"], ascending=[True, False], ignore_index=True)


def sensitivity(csv: str | Path) -> pd.DataFrame:
    """The per-layer sensitivity curves written by ``jst.experiments.grid`` (layer, fraction pruned, drop)."""
    df = pd.read_csv(csv)
    df.attrs["base_acc"] = float(df["base_acc"].iloc[0])
    return df


# Xiao et al. 2019 (NeurIPS), abstract: MNIST LeNet-5, unstructured
AUTOPRUNE_CLAIM = {"FLOPs kept": 0.07, "compression (weights)": 310.0, "accuracy drop (points)": 0.0,
                   "weights in LeNet-5": 431_080}


def unstructured_claim(run_dir: str | Path, comparison_folder: str | Path, seed: int = 0) -> pd.DataFrame:
    """AutoPrune's published MNIST/LeNet-5 figures beside our unstructured run and the dense run of the same
    seed in ``comparison_folder`` (the reference accuracy), with the dense network's seed std there: the
    size of a drop that is no drop."""
    r = json.loads((Path(run_dir) / "result.json").read_text())
    d = json.loads((Path(comparison_folder) / run_name("dense", 1.0, seed) / "result.json").read_text())
    dense = [x for x in load_table(comparison_folder) if x["method"] == "dense"]
    p = r["pruned"]
    ours = {"FLOPs kept": p["flops_ratio"], "compression (weights)": p.get("weight_compression_ratio"),
            "accuracy drop (points)": 100 * (d["pruned"]["test_acc"] - p["test_acc"]),
            "weights in LeNet-5": p.get("weights"), "test acc (%)": 100 * p["test_acc"],
            "dense test acc (%)": 100 * d["pruned"]["test_acc"],
            "dense seed std (points)": 100 * dense[0]["test_acc_std"] if dense else 0.0, "run": str(run_dir)}
    claim = {**AUTOPRUNE_CLAIM, "test acc (%)": None, "dense test acc (%)": None, "dense seed std (points)": None,
             "run": "Xiao et al. 2019, abstract"}
    return pd.DataFrame([claim, ours], index=["published", "ours"])


__all__ = ["status", "compute_spent", "comparison", "verdict", "pair", "jst_against_baselines", "standings", "run_hardware", "ablation_outcomes", "policy_drift", "sparsity_reach", "identical_variants", "PUBLISHED",
           "published_beside_ours", "ABLATION_CLAIMS", "claims", "best_cells", "mean_std_text", "styled", "ablations", "schedules", "sensitivity",
           "unstructured_claim", "AUTOPRUNE_CLAIM"]
