"""Did JST's own mechanism choose the sub-network? The evidence for result.json's ``mechanism`` section.

JST's choice of filters is only as good as its filter weights: if they end where their random
initialisation put them, the sampler picks filters at random. So the section measures how far the filter
weights moved (rank correlation with their initialisation, per layer and overall), whether the selected
sub-network differs from the one the initial filter weights give at the same widths and which of the two
does better on Dval (both taken from the final target, measured alike), how the threshold policy changed,
how the advantages were signed, and which step was selected.
"""
from __future__ import annotations

import torch

from jst.core.filter_weights import filter_weights
from jst.core.measure import choice_accuracy
from jst.core.search import sampler_scores
from jst.engine.context import Context
from jst.methods.evidence import rank_correlation, verdict
from jst.nets.importance import keep_top

MOVED = 0.5   # filter weights whose rank correlation with their initialisation is at most this have moved


def jst_mechanism(ctx: Context, target: torch.nn.Module, initial: dict[str, torch.Tensor], state: dict) -> dict:
    cfg = ctx.cfg
    final = sampler_scores(filter_weights(target), cfg.filter_score)
    start = sampler_scores(initial, cfg.filter_score)
    widths = {n: len(a) for n, a in final.items()}
    per_layer = {n: rank_correlation(final[n], start[n]) for n in final}
    overall = sum(per_layer[n] * widths[n] for n in final) / sum(widths.values())

    chosen = state["best_keep"]
    from_initial = {n: keep_top(start[n], len(k)) for n, k in chosen.items()}
    shared = sum(len(set(chosen[n].tolist()) & set(from_initial[n].tolist())) for n in chosen)
    kept = sum(len(k) for k in chosen.values())
    chance = sum(len(k) ** 2 / widths[n] for n, k in chosen.items()) / kept   # random picks of these widths
    learned_acc, _ = choice_accuracy(ctx, target, chosen, "evidence", "learned")
    initial_acc, _ = choice_accuracy(ctx, target, from_initial, "evidence", "initial")

    candidates = state["candidates"]
    advantages = [c["advantage"] for c in candidates[1:]]   # the first update has no baseline to beat
    entropy = state.get("policy_entropy") or [None]
    change = max(float((filter_weights(target)[n].detach().cpu() - initial[n]).abs().max()) for n in final)
    if cfg.filter_training == "frozen":
        acted, reason = _frozen_held(change)
    else:
        acted = overall <= MOVED
        reason = (f"the filter weights' rank correlation with their initialisation is {overall:.2f} "
                  f"({'at most' if acted else 'above'} {MOVED}): they {'moved' if acted else 'did not move enough'}")
    return verdict(
        acted, reason, ablation="frozen_filter_weights" if cfg.filter_training == "frozen" else None,
        rank_correlation_with_init=overall, rank_correlation_per_layer=per_layer,
        largest_change=change,
        initial_spread=float(torch.cat([a.flatten() for a in initial.values()]).std()),
        overlap_with_initial_selection=shared / kept, overlap_by_chance=chance,
        dval_learned_selection=learned_acc, dval_initial_selection=initial_acc,
        policy_entropy_start=entropy[0], policy_entropy_end=entropy[-1],
        positive_advantage_share=(sum(a > 0 for a in advantages) / len(advantages)) if advantages else None,
        selected_step=state["best"]["step"], steps=len(candidates),
        filter_training=cfg.filter_training, filter_score=cfg.filter_score)


def _frozen_held(change: float) -> tuple[bool, str]:
    """The frozen-filter-weight ablation's own mechanism is the freeze: it acted when no filter weight
    changed, so the sampler ranked the random initial weights (the control that JST's learned selection is
    compared with); its ``ablation`` field keeps it from being read as JST's mechanism."""
    held = change == 0.0
    return held, ("ablation: the filter weights were frozen at their initialisation "
                  + ("(no weight changed): the selection is the random one the ablation asks for, not JST's"
                     if held else f"but one changed by {change:.3g}: the freeze did not hold"))
