"""The claims we can test, each with our evidence and a verdict derived from it by the one rule
(``jst.report.verdicts``)."""
from __future__ import annotations

import pandas as pd

from jst.report.literature import AUTOPRUNE_CLAIM
from jst.report.prose import seeds_text
from jst.report.verdicts import claim_verdict

# The paper's claims an ablation tests: the variants that remove what the claim credits.
ABLATION_CLAIMS = [
    ("perturbation", "random perturbation of the sampler improves the result",
     "JST: perturbation, inspired by Monte Carlo", ["no_perturbation"]),
    ("thresholds", "learned (flexible) per-layer thresholds beat fixed ones",
     "JST: flexible thresholding, inspired by reinforcement learning", ["fixed_threshold_0.6", "fixed_threshold_0.8"]),
    ("updater", "training the sub-networks jointly (the updater writes their weights back) beats starting each fresh",
     "JST: the joint search-and-training", ["no_updater"]),
    ("coarse_training", "coarse training of the target network before the search helps",
     "JST: the coarse-training stage", ["no_coarse_training"]),
]


def _verdicts(df: pd.DataFrame) -> list[str]:
    return list(df["verdict"]) if len(df) else []


def _against_baselines(standing: pd.DataFrame) -> dict:
    evidence = "; ".join(f"{r['comparison']} at {r['FLOPs target']:g}: JST against {r['best baseline']}: "
                         f"{r['tests']} ({seeds_text(r['seeds'])})" for _, r in standing.iterrows())
    return {"key": "jst_vs_baselines", "claim": "JST beats the pruning baselines at matched FLOPs",
            "source": "JST (Lu et al. 2020)", "our evidence": evidence or "none",
            "verdict": claim_verdict(_verdicts(standing), "JST ahead")}


def _against_scratch(scratch: pd.DataFrame) -> dict:
    evidence = "; ".join(f"{s['comparison']}: JST against Scratch-B: {s['tests']} ({seeds_text(s['seeds'])})"
                         for _, s in scratch.iterrows())
    return {"key": "jst_vs_scratch",
            "claim": "JST's network beats its own architecture trained from scratch for the same compute (Scratch-B)",
            "source": "JST against Liu et al. 2019", "our evidence": evidence or "none",
            "verdict": claim_verdict(_verdicts(scratch), "jst ahead")}


def _ablation(outcomes: pd.DataFrame, key: str, claim: str, source: str, variants: list[str]) -> dict:
    found = outcomes[outcomes["variant"].isin(variants)] if len(outcomes) else outcomes
    v = _verdicts(found)
    evidence = "; ".join(f"{r['variant']}: {r['variant - JST (points)']:+.2f} points ({r['verdict']})"
                         for _, r in found.iterrows())
    return {"key": key, "claim": claim, "source": source, "our evidence": evidence or "not run yet",
            "verdict": claim_verdict(v, "lower than JST") if len(v) == len(variants) else "not run yet"}


def _autoprune_mnist(autoprune: pd.DataFrame) -> dict:
    """"No drop" = within the dense network's seed std."""
    ours = autoprune.loc["ours"]
    dense_std = ours["dense seed std (points)"]
    met = ours["FLOPs kept"] <= AUTOPRUNE_CLAIM["FLOPs kept"] + 1e-9 and ours["accuracy drop (points)"] <= dense_std
    return {"key": "autoprune_mnist", "claim": "LeNet-5 on MNIST at 7% of FLOPs with no accuracy drop (unstructured)",
            "source": "AutoPrune (Xiao et al. 2019)",
            "our evidence": f"{ours['FLOPs kept']:.3f} of FLOPs, {ours['accuracy drop (points)']:.2f} points below "
                            f"dense (dense seed std {dense_std:.2f}); one seed",
            "verdict": "confirmed at cpu scale" if met else "not confirmed"}


def claims(standing: pd.DataFrame, scratch: pd.DataFrame, outcomes: pd.DataFrame,
           autoprune: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: JST against the best baseline and against Scratch-B of its architecture
    (``jst.report.comparisons.standings``), the ablations (``jst.report.ablations.ablation_outcomes``), and
    AutoPrune's MNIST figure (``jst.report.literature.unstructured_claim``)."""
    rows = [_against_baselines(standing), _against_scratch(scratch),
            *[_ablation(outcomes, *c) for c in ABLATION_CLAIMS], _autoprune_mnist(autoprune)]
    return pd.DataFrame(rows).set_index("key")
