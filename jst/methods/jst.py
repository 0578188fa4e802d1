"""JST, the paper's method: coarse training, search-and-training (Algorithm 2), selection, fine-tuning."""
from __future__ import annotations

from jst.core.filter_weights import filter_weights, fold
from jst.core.search import build_target, coarse_train, filter_rate, search, selected_network
from jst.engine.context import RunContext
from jst.methods.common import finetune
from jst.methods.jst_mechanism import jst_mechanism
from jst.nets.flops import FlopsModel


def run_jst(ctx: RunContext) -> dict:
    """The JST method: coarse training, search, selection, fine-tuning on the whole training set."""
    cfg = ctx.cfg
    target = build_target(ctx)
    initial = {k: v.detach().cpu().clone() for k, v in filter_weights(target).items()}
    flops = FlopsModel(target, ctx.splits.info.input_shape)
    coarse_train(ctx, target)
    ctx.stop_after("coarse")
    dense = fold(target)  # the coarse-trained target network: the dense reference of this run
    state = search(ctx, target, flops)
    mechanism = jst_mechanism(ctx, target, initial, state)
    ctx.stop_after("search")
    model = selected_network(ctx, state)
    finetune(ctx, model)
    return {"model": model, "dense_model": dense, "mechanism": mechanism,
            "dense_source": "the coarse-trained target network (filter weights folded)",
            "extra": {"candidates": state["candidates"], "selected_step": state["best"]["step"],
                      "selected_val_acc": state["best"]["val_acc"],
                      "selection": state.get("selection_used", cfg.selection),
                      "filter_lr_used": filter_rate(ctx),
                      "policy_probabilities": state["policy_probabilities"],
                      "initial_filter_weights": {k: v.tolist() for k, v in initial.items()},
                      "final_filter_weights": {k: v.detach().cpu().tolist()
                                               for k, v in filter_weights(target).items()}}}
