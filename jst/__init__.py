"""JST: joint search-and-training for network pruning (Lu et al., IJCAI 2020), reproduced in PyTorch.

The public API, by room (each name is imported on first use, so ``python -m jst`` starts fast):

- the method (``jst.core``): ``sample`` (Algorithm 1), ``ThresholdPolicy``, ``write_back`` (the updater),
  ``search`` (Algorithm 2's steps), ``filter_weights``, ``fold``;
- networks (``jst.nets``): ``build_model``, ``build_for``, ``extract``, ``count`` (FLOPs), ``FlopsModel``,
  ``save_exported`` / ``load_exported``;
- running (``jst.engine``, ``jst.methods``): ``Config``, ``make_config``, ``run``, ``load_splits``, ``evaluate``,
  ``METHODS``.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "sample": "jst.core.sampler", "ThresholdPolicy": "jst.core.thresholds", "write_back": "jst.core.updater",
    "search": "jst.core.search", "filter_weights": "jst.core.filter_weights", "fold": "jst.core.filter_weights",
    "build_model": "jst.nets.models", "build_for": "jst.nets.models", "extract": "jst.nets.subnetwork",
    "count": "jst.nets.flops", "FlopsModel": "jst.nets.flops", "save_exported": "jst.nets.export",
    "load_exported": "jst.nets.export", "Config": "jst.config", "make_config": "jst.config",
    "run": "jst.engine.pipeline", "load_splits": "jst.engine.data", "evaluate": "jst.engine.train",
    "METHODS": "jst.methods",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jst' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
