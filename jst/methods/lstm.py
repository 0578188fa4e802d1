"""LSTM-guided pruning (Zhong et al., IJCAI 2018, "Where to Prune: Using LSTM to Guide End-to-end
Pruning"), PAPER.md section 4.

An LSTM controller reads a parent network layer by layer and decides, for each layer, whether to prune
R_prune of its filters; the filters removed are the least important by a channel-importance criterion
(``jst.nets.importance``, L1 norm by default). The child inherits the parent's remaining weights and
recovers by teacher-student training from its parent (cross-entropy plus a distillation term). Its reward
is validation accuracy with a complexity term; the controller learns by REINFORCE, each child's advantage
being its reward minus its parent's. Every controller epoch takes the (up to) 5 networks with the largest
rewards found so far as parents (the pre-trained network in the first epoch); the search stops when no
better network has appeared for lstm_patience epochs (10 in the paper) or after lstm_max_epochs. The chosen
network is retrained on train + validation: by default with the fine-tuning schedule every method shares
(``common.finetune``), or at the paper's fixed lr 0.001 (``lstm_retrain="paper"``, lstm_retrain_lr).

Data: as in the paper, a seeded 10% of the official training set validates (lstm_val_fraction), the other
90% trains the dense network and the children; this method does not use the run's 80/20 Dtrain/Dval, unless
Dval is held out from every method (``holdout_val``): then Dval validates and Dtrain trains.

Reconstruction choices (named options): the controller's input per layer is (the parent's width of that
layer / the dense width, the layer's position, the parent's FLOPs ratio, the parent's reward, the previous
layer's decision), through one linear embedding into an LSTM cell of lstm_hidden units and a linear head
giving the probability of pruning; one Adam step per controller epoch on the epoch's children, at
lstm_lr = 0.05 (large for a controller, so that the few dozen updates of a short search move the policy).
The complexity term is JST's (``jst.core.thresholds.reward``): reward = val acc - lstm_gamma * (FLOPs ratio
above the budget), so children are pushed to the FLOPs budget and, within it, ranked by accuracy.
Distillation: Hinton's soft targets at temperature lstm_kd_temperature, weight lstm_kd_weight.

Reaching the budget at the run's length: with the paper's R_prune = 0.2 a lineage needs about three
decisions per layer to halve ResNet-20's FLOPs, more than a few controller epochs give (at the cpu scale
no CIFAR or Fashion-MNIST search reached the budget). R_prune is therefore the paper's 0.2 or, when larger,
the rate with which a lineage pruning each layer with probability 1/2 reaches the budget within lstm_reach
(0.5) of lstm_max_epochs (``reach_rate``). A child never overshoots the budget: when its decided cut would
go below it, the decided layers lose filters one at a time, evenly, until it meets the budget
(``capped_widths``); no layer goes under layer_floor of its dense width. The network chosen is the
best-reward one within [budget * (1 - 2%), budget]; only if none is, the best-reward network above the
budget loses the remainder the same way, spread over all layers, by filter importance (the fallback).
result.json's ``mechanism`` counts per layer the filters the controller's decisions removed and the ones
the fallback removed, with the chosen child's reward and the controller epochs run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jst.core.thresholds import reward
from jst.engine import data
from jst.engine.context import RunContext
from jst.engine.errors import ConfigError
from jst.engine.rng import generator
from jst.engine.train import evaluate, fit, make_optimizer, train_epoch
from jst.methods.common import (
    dense_network,
    dense_source,
    finetune,
    finetune_epochs,
    flops_model,
    load_stage,
    outcome,
    pretrain,
)
from jst.methods.evidence import from_shares
from jst.methods.lstm_controller import Controller, capped_widths, features, reach_rate, reinforce
from jst.nets.budget import BUDGET_TOLERANCE, floor_of
from jst.nets.importance import bn_scale, keep_top, l1_norm
from jst.nets.models import build_pruned
from jst.nets.prunable import widths as layer_widths
from jst.nets.subnetwork import extract

IMPORTANCE = {"l1_norm": l1_norm, "bn_scale": bn_scale}


class _Distill(nn.Module):
    """The student, with the teacher's soft targets computed on the same batch (teacher not a submodule,
    so the optimizer and train()/eval() see only the student)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float):
        super().__init__()
        self.student, self.temperature = student, temperature
        object.__setattr__(self, "teacher", teacher.eval())
        self.kd = torch.zeros(())

    def forward(self, x):
        out = self.student(x)
        if self.training:
            with torch.no_grad():
                target = F.softmax(self.teacher(x) / self.temperature, 1)
            self.kd = F.kl_div(F.log_softmax(out / self.temperature, 1), target,
                               reduction="batchmean") * self.temperature ** 2
        return out


def teacher_student(ctx: RunContext, student: nn.Module, teacher: nn.Module, source, tag) -> None:
    cfg = ctx.cfg
    wrapped = _Distill(student, teacher, cfg.lstm_kd_temperature)
    opt = make_optimizer(student.parameters(), cfg.optimizer, cfg.lstm_child_lr, cfg.momentum, cfg.weight_decay)
    for e in range(cfg.lstm_child_epochs):
        train_epoch(wrapped, source, opt, batch_size=cfg.batch_size, device=ctx.device,
                    generator=generator(cfg.seed, "lstm", *tag, e), stage=f"lstm child {tag} epoch {e + 1}",
                    extra_loss=lambda: cfg.lstm_kd_weight * wrapped.kd)


class _Search:
    """The controller, the pool of networks found, and one controller epoch."""

    def __init__(self, ctx, dense: nn.Module, train_src, val_src):
        cfg, info = ctx.cfg, ctx.splits.info
        if cfg.lstm_importance not in IMPORTANCE:
            raise ConfigError(f"lstm_importance must be one of {', '.join(IMPORTANCE)}")
        if not 0 < cfg.lstm_prune_rate < 1:
            raise ConfigError("lstm_prune_rate must be in (0, 1)")
        self.ctx, self.cfg, self.train_src, self.val_src = ctx, cfg, train_src, val_src
        self.flops = flops_model(ctx, dense)
        self.shape = dict(num_classes=info.num_classes, in_channels=info.channels, image_size=info.image_size)
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            self.controller = Controller(cfg.lstm_hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=cfg.lstm_lr)
        self.floors = {n: floor_of(w, cfg.layer_floor, cfg.min_channels) for n, w in self.flops.dense_widths.items()}
        self.rate = reach_rate(cfg, self.ratio, self.flops.dense_widths)
        self.pool: list[dict] = []
        self.epoch, self.best_reward, self.since_better = 0, float("-inf"), 0
        saved = load_stage(ctx, "lstm")
        if saved is not None:
            self.controller.load_state_dict(saved["controller"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.pool, self.epoch = saved["pool"], saved["epoch"]
            self.best_reward, self.since_better = saved["best_reward"], saved["since_better"]
        else:  # the first epoch's parent: the pre-trained network
            self.best_reward = self.add(dense, parent=None)["reward"]

    def ratio(self, widths: dict[str, int]) -> float:
        return self.flops.flops(widths) / self.flops.total

    def network(self, entry: dict) -> nn.Module:
        net = build_pruned(self.cfg.arch, entry["widths"], **self.shape)
        net.load_state_dict(entry["state"])
        return net.to(self.ctx.device)

    def add(self, net: nn.Module, parent: int | None) -> dict:
        widths = layer_widths(net)
        acc = evaluate(net, self.val_src, self.cfg.eval_batch_size, self.ctx.device)["acc"]
        ratio = self.ratio(widths)
        epoch = 0 if parent is None else self.epoch + 1      # the controller epoch that made it (1-based)
        entry = {"id": len(self.pool), "parent": parent, "epoch": epoch, "widths": widths, "val_acc": acc,
                 "flops_ratio": ratio, "reward": reward(acc, ratio, self.cfg.flops_target, self.cfg.lstm_gamma),
                 "state": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
        self.pool.append(entry)
        return entry

    def parents(self) -> list[dict]:
        ranked = sorted(self.pool, key=lambda e: (-e["reward"], e["id"]))
        return ranked[:self.cfg.lstm_parents]

    def best_within_budget(self) -> dict | None:
        """The best-reward network within the budget's band [target * (1 - BUDGET_TOLERANCE), target]."""
        target = self.cfg.flops_target
        inside = [e for e in self.pool if target * (1 - BUDGET_TOLERANCE) - 1e-9 <= e["flops_ratio"] <= target + 1e-9]
        return max(inside, key=lambda e: (e["reward"], -e["id"])) if inside else None

    def chosen(self) -> dict:
        """The network the run ends with: the best within the band, else the best-reward one above it."""
        above = [e for e in self.pool if e["flops_ratio"] > self.cfg.flops_target + 1e-9]
        return self.best_within_budget() or max(above, key=lambda e: (e["reward"], -e["id"]))

    def controller_epoch(self) -> None:
        cfg = self.cfg
        gen = generator(cfg.seed, "lstm", self.epoch, "decisions")
        samples, advantages, rewards = [], [], []
        for parent in self.parents():
            f = features(parent["widths"], self.flops.dense_widths, parent["flops_ratio"], parent["reward"])
            decisions = self.controller.sample(f, gen)
            widths = capped_widths(parent["widths"], decisions, self.rate, self.floors, self.ratio, cfg.flops_target)
            record = {"stage": "lstm", "epoch": self.epoch + 1, "parent": parent["id"],
                      "decisions": decisions.int().tolist()}
            if widths == parent["widths"]:          # nothing pruned: the child is its parent, advantage 0
                samples.append((f, decisions))
                advantages.append(0.0)
                self.ctx.log({**record, "child": None})
                continue
            teacher = self.network(parent)
            scores = IMPORTANCE[cfg.lstm_importance](teacher)
            keep = {n: keep_top(scores[n], w) for n, w in widths.items()}
            student = extract(teacher, keep)
            teacher_student(self.ctx, student, teacher, self.train_src, (self.epoch, parent["id"]))
            child = self.add(student, parent["id"])
            samples.append((f, decisions))
            advantages.append(child["reward"] - parent["reward"])   # the parent's reward is the baseline
            rewards.append(child["reward"])
            self.ctx.log({**record, "child": child["id"], "widths": widths, "val_acc": child["val_acc"],
                          "flops_ratio": child["flops_ratio"], "reward": child["reward"],
                          "advantage": advantages[-1]})
        reinforce(self.controller, self.optimizer, samples, advantages)
        self.epoch += 1
        if rewards and max(rewards) > self.best_reward + 1e-12:
            self.best_reward, self.since_better = max(rewards), 0
        else:
            self.since_better += 1
        self._forget_weights()
        self.ctx.save_checkpoint("lstm", {"controller": self.controller.state_dict(),
                                      "optimizer": self.optimizer.state_dict(), "pool": self.pool,
                                      "epoch": self.epoch, "best_reward": self.best_reward,
                                      "since_better": self.since_better})

    def _forget_weights(self) -> None:
        """Keep weights only for the possible parents and the best network within the budget."""
        needed = {e["id"] for e in self.parents()} | {self.chosen()["id"]}
        for e in self.pool:
            if e["id"] not in needed:
                e["state"] = None

    def done(self) -> bool:
        return self.epoch >= self.cfg.lstm_max_epochs or self.since_better >= self.cfg.lstm_patience


def evidence(dense: dict[str, int], child: dict[str, int], final: dict[str, int], **figures) -> dict:
    """Per layer, the filters removed by the controller's decisions (dense -> chosen child) and by the
    budget fallback (chosen child -> final network)."""
    per_layer = {n: {"by_controller": dense[n] - child[n], "by_fallback": child[n] - final[n]} for n in dense}
    by_controller = sum(v["by_controller"] for v in per_layer.values())
    removed = sum(dense[n] - final[n] for n in dense)
    return from_shares("the controller", by_controller, removed, per_layer=per_layer, **figures)


def run_lstm(ctx: RunContext) -> dict:
    cfg = ctx.cfg
    full = ctx.splits.full_train
    if cfg.holdout_val:    # Dval is held out from every method: the children are validated on it
        train_src, val_src = full, ctx.splits.val
    else:                  # Zhong et al.: 10% of the training set validates
        train_idx, val_idx = data.split_indices(len(full), cfg.lstm_val_fraction, cfg.seed)
        train_src, val_src = full.subset(train_idx), full.subset(val_idx, augment="none")
    dense = pretrain(ctx, dense_network(ctx), source=train_src)
    search = _Search(ctx, dense, train_src, val_src)
    while not search.done():
        search.controller_epoch()

    chosen = search.chosen()
    model = search.network(chosen)
    widths = chosen["widths"]
    fallback = chosen["flops_ratio"] > cfg.flops_target + 1e-9
    if fallback:   # the search never reached the budget: remove only the remainder, spread over the layers
        every = torch.ones(len(widths), dtype=torch.bool)
        widths = capped_widths(widths, every, 1.0, search.floors, search.ratio, cfg.flops_target)
        scores = IMPORTANCE[cfg.lstm_importance](model)
        model = extract(model, {n: keep_top(scores[n], w) for n, w in widths.items()})
    mechanism = evidence(search.flops.dense_widths, chosen["widths"], widths, chosen_child=chosen["id"],
                         chosen_reward=chosen["reward"], chosen_val_acc=chosen["val_acc"],
                         chosen_flops_ratio=chosen["flops_ratio"], controller_epochs=search.epoch,
                         prune_rate=search.rate)
    if cfg.lstm_retrain == "paper":   # Zhong et al.: constant lr 0.001 on train + validation
        fit(ctx, model, full, stage="finetune", epochs=finetune_epochs(ctx), lr=cfg.lstm_retrain_lr,
            schedule="constant", batch_size=cfg.finetune_batch_size)
    else:
        finetune(ctx, model)
    pool = [{k: v for k, v in e.items() if k != "state"} for e in search.pool]
    source = dense_source(cfg, "the dense network pre-trained on the training split (coarse_epochs)")
    return outcome(model, dense, source,
                   mechanism=mechanism, pool=pool, selected=chosen["id"], budget_fallback=fallback,
                   prune_rate=search.rate, controller_epochs=search.epoch,
                   stopped_early=search.epoch < cfg.lstm_max_epochs,
                   split={"train": len(train_src), "val": len(val_src)})
