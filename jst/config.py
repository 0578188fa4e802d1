"""Every option of a run, with PAPER.md's defaults, and the named scales (smoke / cpu / paper).

A scale is a preset of fields chosen by the model family (LeNets on MNIST-sized data, CIFAR networks,
ImageNet ResNets); any field can be overridden afterwards (``--set field=value`` on the CLI).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from jst.engine.errors import ConfigError
from jst.presets import PRESETS, SCALES

# Fields older versions wrote that no longer exist, with the only value they ever held: a committed
# config.json that has one still loads (it is dropped); any other value is refused as unknown.
RETIRED = {"extra": {}}


@dataclass
class Config:
    # what to run
    method: str = "jst"
    dataset: str = "mnist"
    arch: str = "lenet5"
    data_root: str | None = None
    scale: str = "cpu"
    flops_target: float = 0.5          # fraction of the dense network's FLOPs to keep
    seed: int = 0
    device: str = "auto"
    download: bool = False
    # data
    val_fraction: float = 0.2          # Dval share of the official training set (PAPER: 20%)
    holdout_val: bool = False          # True: no method trains on Dval (its curves and choices stay held out);
    #                                    False: fine-tuning and the baselines train on Dtrain + Dval (PAPER)
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    image_size: int | None = None      # None: from the data
    augment: str = "auto"
    workers: int = 4
    batch_size: int = 128
    eval_batch_size: int = 512
    # network parameters' optimizer (PAPER: SGD 0.9 / wd 5e-5 on CIFAR; Adam wd 1e-5 on ImageNet)
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-5
    # the training recipe's two knobs the protocol measures (#23): both off by default
    warmup_epochs: int = 0             # linear learning-rate warm-up of every stage that trains from scratch
    label_smoothing: float = 0.0       # of every fit() stage's cross-entropy (PyTorch's label_smoothing)
    # coarse training of the target network
    coarse_epochs: int = 100
    coarse_lr: float = 0.1
    # search-and-training (Algorithm 2)
    search_steps: int = 30                         # T
    search_switch: int = 20                        # steps t <= switch use the coarse M and lr
    search_epochs: tuple[int, int] = (40, 30)      # M before / after the switch
    search_lr: tuple[float, float] = (0.05, 0.01)  # lr before / after the switch
    filter_epochs: int = 5                         # N, on Dval
    filter_lr: float = 0.001
    filter_lambda: float = 0.1                     # lambda
    filter_regularizer: str = "neg_variance"
    filter_weight_init: str = "kaiming_normal"
    filter_score: str = "magnitude"                # sampler scores: |alpha| ("magnitude") or alpha ("signed")
    filter_training: str = "joint"                 # "joint" (Dval after every coarse epoch and search step),
    #                                                "search" (search steps only) or "frozen" (never: ablation)
    filter_optimizer: str = "sgd"                  # "sgd" (the paper's, momentum as the parameters') or "adam"
    filter_lr_scaling: str = "paper_steps"         # filter_lr x (paper's filter steps / this run's), or "none"
    gate_position: str = "after_bn"
    thresholds: tuple[float, ...] = (0.6, 0.65, 0.7, 0.75, 0.8)
    threshold_mode: str = "learned"                # "learned" policy or "fixed"
    fixed_threshold: float = 0.7
    policy_lr: float = 0.1
    baseline_momentum: float = 0.9
    policy_baseline: str = "control_draws"         # per-step baseline from control draws, or "moving_average"
    control_draws: int = 2                         # control draws per step (policy_baseline="control_draws")
    recalibration_batches: int = 8                 # Dtrain batches that re-estimate BN statistics of a draw
    selection: str = "advantage"                   # best advantage over its step's controls, "final_target"
    #                                                (re-measured on the final target) or "at_step" (as drawn)
    projection_both_ways: bool = True              # the projection may raise thresholds too (then fills)
    gamma: float = 2.0
    perturbation: float = 0.05                     # sigma of the Gumbel perturbation; 0 = off
    min_channels: int = 1
    layer_floor: float = 0.1                       # threshold-based pruning keeps >= this share of a layer
    channel_multiple: int = 1
    budget_projection: bool = True
    use_updater: bool = True
    coarse_training: bool = True
    # fine-tuning of the selected network (whole official training set)
    finetune_epochs: int = 100
    finetune_lr: float = 0.01
    finetune_batch_size: int = 256
    finetune_schedule: str = "cosine"              # "cosine" or "step" (divide by 10 every finetune_step)
    finetune_step: int = 20
    budget_epochs: float = 0.0                     # >0: every method's training budget in epochs of its training
    #                                                set (the shared dense run's included); fine-tuning gets what
    #                                                is left of it (finetune_epochs is then unused)
    # the dense reference (method "dense")
    dense_epochs: int = 200
    # speed and scale-out (see jst/distributed.py): autocast, memory layout, accumulation, synced BN
    amp: str = "none"                  # "none", "bf16" or "fp16" (fp16: CUDA only, with a grad scaler)
    channels_last: bool = False
    grad_accum: int = 1                # batches per optimizer step: global batch = batch_size * grad_accum
    sync_bn: bool = False              # batch-norm statistics over all ranks (CUDA only)
    # bookkeeping
    deterministic: bool = True
    # the baselines' options (jst/methods/), prefixed by method
    # l1norm, slimming, autoprune and lstm first train the dense network for coarse_epochs at coarse_lr
    # (the compute JST spends on coarse training) and end with JST's fine-tuning (finetune_*).
    ista_rho: float = 0.005            # Ye et al.: sparsity penalty rho after the warm-up (CIFAR-10 ConvNet)
    ista_rho_warmup: float = 0.001     # rho during the warm-up
    ista_warmup_steps: int = 30000     # Ye et al.: 30k steps of warm-up
    ista_lr: float = 0.01              # Ye et al.: fixed learning rate mu_t = 0.01 during ISTA training
    ista_alpha: float = 1.0            # gamma-W rescaling factor (1.0 from scratch; {0.001..1} pre-trained)
    ista_rho_schedule: str = "scaled"  # "fixed": rho as given; "scaled": rho sized to the run (ista_shrinkage)
    ista_shrinkage: float = 20.0       # "scaled": sum of lr * rho_t * lambda_l over the run, at the mean lambda_l
    slimming_lambda: float = 1e-4      # Liu et al. 2017: L1 strength on BN scales (1e-4 for VGG)
    slimming_lambda_schedule: str = "scaled"  # "fixed": slimming_lambda; "scaled": sized to the run
    # "scaled": sum of lr_t * lambda / (1 - momentum) over the run (Liu: 0.7-6.6). At cpu scale ResNet-20's
    # scales did not separate at 1 and most kept ones were zeroed too at 3 (a run not kept); 2 acts on both
    slimming_shrinkage: float = 2.0
    autoprune_mode: str = "structured"           # "structured" (per filter) or "unstructured" (per weight)
    autoprune_lr: float = 1.5e-2                 # AutoPrune: learning rate of the auxiliary parameters
    autoprune_mu: float = 5e-2                   # AutoPrune: strength of their regulariser
    autoprune_momentum: float = 0.0              # SGD momentum of the auxiliary parameters (reconstruction)
    autoprune_ste: str = "leaky_relu"            # straight-through estimator: identity/relu/leaky_relu/softplus
    autoprune_ste_slope: float = 0.1             # leaky_relu: gradient where the mask is off (reconstruction)
    autoprune_regularizer: str = "l1_mask"       # "l1_mask" (sum of masks, via the estimator) or "l1" (sum |m|)
    autoprune_init: str = "magnitude"            # "magnitude" (|w| / layer mean) or "constant" (all 1)
    autoprune_rounds: int = 10                   # rounds of (weights on one half, aux. params on the other)
    autoprune_control: str = "two_sided"         # at the budget: "two_sided" (mirror R below it) or "stop"
    autoprune_reach: float = 0.5                 # aux lr raised so R alone moves m by 1 in this share of the steps
    lstm_prune_rate: float = 0.2                 # Zhong et al.: R_prune
    lstm_hidden: int = 32                        # controller LSTM width (reconstruction)
    lstm_lr: float = 0.05                        # controller Adam learning rate (reconstruction)
    lstm_parents: int = 5                        # Zhong et al.: the 5 best parents per controller epoch
    lstm_child_epochs: int = 30                  # Zhong et al.: teacher-student epochs (30 CIFAR, 10 MNIST)
    lstm_child_lr: float = 0.01                  # reconstruction
    lstm_kd_temperature: float = 4.0             # distillation temperature (reconstruction)
    lstm_kd_weight: float = 1.0                  # weight of the distillation term beside cross-entropy
    lstm_importance: str = "l1_norm"             # filter choice inside a layer: "l1_norm" or "bn_scale"
    lstm_gamma: float = 2.0                      # reward = val acc - gamma * (FLOPs ratio above the budget)
    lstm_patience: int = 10                      # Zhong et al.: stop after 10 epochs without a better net
    lstm_max_epochs: int = 50                    # cap on controller epochs (reconstruction)
    lstm_val_fraction: float = 0.1               # Zhong et al.: 10% of the training set validates
    lstm_retrain_lr: float = 0.001               # Zhong et al.: final retraining at fixed lr 0.001
    lstm_retrain: str = "finetune"               # "finetune" (the shared schedule) or "paper" (lstm_retrain_lr)
    lstm_reach: float = 0.5                      # prune rate raised so the budget is reachable in this share
    scratch_from: str = ""                       # run folder whose architecture Scratch-B trains
    dense_from: str = ""                         # a finished dense run of the same seed: the methods that
    #                                              prune a trained network start from it (its budget counted)
    share_dense: bool = False                    # compare: those methods start from the seed's dense run
    scratch_source: str = "jst"                  # compare: the method whose run scratch copies
    scratch_epoch_cap: float = 0.0               # cap on the epoch factor (0: none; Liu et al. use 2 on ImageNet)

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, d: dict) -> "Config":
        d = {k: v for k, v in d.items() if not (k in RETIRED and v == RETIRED[k])}
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(known)
        if unknown:
            raise ConfigError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**{k: _typed(known[k], v) for k, v in d.items()})

    def validate(self) -> None:
        """Catch bad options before any work starts: a one-line ConfigError naming the field."""
        from jst.core.filter_weights import INITS, REGULARIZERS
        from jst.engine.data import AUGMENTS, DATASETS
        from jst.methods import METHODS
        from jst.nets.models import ARCHS
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASETS)}")
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch {self.arch!r}; choose from {', '.join(ARCHS)}")
        if not 0 < self.flops_target <= 1:
            raise ConfigError(f"flops target must be in (0, 1], got {self.flops_target}")
        bad = [t for t in (*self.thresholds, self.fixed_threshold) if not 0 < t <= 1]
        if bad:
            raise ConfigError(f"thresholds must lie in (0, 1], got {bad[0]}")
        if not 0 <= self.seed < 2 ** 32:
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")
        for name in ("coarse_epochs", "search_steps", "filter_epochs", "finetune_epochs", "dense_epochs",
                     "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if any(m < 0 for m in self.search_epochs):
            raise ConfigError("search_epochs must be >= 0")
        if self.threshold_mode not in ("learned", "fixed"):
            raise ConfigError("threshold_mode must be 'learned' or 'fixed'")
        if self.gate_position not in ("after_bn", "before_bn"):
            raise ConfigError("gate_position must be 'after_bn' or 'before_bn'")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        choices = {"optimizer": ("sgd", "adam"), "filter_weight_init": INITS, "filter_regularizer": REGULARIZERS,
                   "finetune_schedule": ("cosine", "step", "constant"), "augment": AUGMENTS, "scale": SCALES,
                   "filter_score": ("magnitude", "signed"), "filter_training": ("joint", "search", "frozen"),
                   "filter_optimizer": ("sgd", "adam"), "filter_lr_scaling": ("paper_steps", "none"),
                   "policy_baseline": ("control_draws", "moving_average"),
                   "selection": ("advantage", "final_target", "at_step")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("batch_size", "eval_batch_size", "finetune_batch_size", "min_channels", "channel_multiple",
                     "finetune_step", "control_draws", "recalibration_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_train_samples", "max_test_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 2:
                raise ConfigError(f"{name} must be >= 2 or null, got {getattr(self, name)}")
        if self.image_size is not None and self.image_size < 8:
            raise ConfigError(f"image_size must be >= 8 px, got {self.image_size}")
        for name in ("coarse_lr", "finetune_lr", "filter_lr", "policy_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not all(lr > 0 for lr in self.search_lr):
            raise ConfigError(f"search_lr must be > 0, got {list(self.search_lr)}")
        for name in ("perturbation", "weight_decay", "gamma", "filter_lambda", "search_switch", "budget_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ista_rho_schedule", "slimming_lambda_schedule"):
            if getattr(self, name) not in ("fixed", "scaled"):
                raise ConfigError(f"{name} must be 'fixed' or 'scaled', got {getattr(self, name)!r}")
        for name in ("ista_shrinkage", "slimming_shrinkage"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.layer_floor < 1:
            raise ConfigError(f"layer_floor must be in [0, 1), got {self.layer_floor}")
        for name in ("autoprune_reach", "lstm_reach"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.lstm_retrain not in ("finetune", "paper"):
            raise ConfigError(f"lstm_retrain must be 'finetune' or 'paper', got {self.lstm_retrain!r}")
        if not 0 <= self.momentum < 1 or not 0 <= self.baseline_momentum < 1:
            raise ConfigError("momentum and baseline_momentum must be in [0, 1)")
        if self.data_root is None:
            raise ConfigError("no data root: pass --data-root or set JST_DATA_ROOT")

    def search_schedule(self, t: int) -> tuple[int, float]:
        """(M_t, lr_t) of search step t (1-based): the coarse-to-fine schedule."""
        i = 0 if t <= self.search_switch else 1
        return self.search_epochs[i], self.search_lr[i]


def _typed(f: dataclasses.Field, v):
    """Check ``v`` against the field's annotation (a string: annotations are postponed) and coerce
    JSON shapes (lists to tuples, ints to floats)."""
    kind = str(f.type)
    if kind.endswith(" | None"):
        if v is None:
            return None
        kind = kind[: -len(" | None")]
    ok = True
    if kind == "bool":
        ok = isinstance(v, bool)
    elif kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif kind == "float":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        v = float(v) if ok else v
    elif kind == "str":
        ok = isinstance(v, str)
    elif kind.startswith("tuple"):
        ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if ok and "int" in kind:
            ok = all(isinstance(x, int) for x in v)
        v = tuple(v) if ok else v
        if ok and "..." not in kind and len(v) != kind.count(",") + 1:
            ok = False
    elif kind == "dict":
        ok = isinstance(v, dict)
    if not ok:
        raise ConfigError(f"{f.name} must be {str(f.type)}, got {v!r}")
    return v


def family_of(arch: str) -> str:
    from jst.nets.models import FAMILY
    if arch not in FAMILY:
        raise ConfigError(f"unknown arch {arch!r}; choose from {', '.join(FAMILY)}")
    return FAMILY[arch]


def make_config(scale: str, arch: str, **overrides) -> Config:
    """Config defaults, then the scale's preset for the arch's family, then the overrides."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    values = dict(PRESETS[(scale, family_of(arch))])
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.update(scale=scale, arch=arch)
    return Config.from_json(values)


def parse_assignment(text: str) -> tuple[str, object]:
    """`field=value` from --set; the value is JSON when it parses (numbers, lists, true/null), else a string."""
    if "=" not in text:
        raise ConfigError(f"--set expects field=value, got {text!r}")
    key, raw = text.split("=", 1)
    names = {f.name for f in dataclasses.fields(Config)}
    if key not in names:
        raise ConfigError(f"--set: unknown field {key!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value
