"""Pruning methods. Each is ``run(ctx) -> {"model", "dense_model", "dense_source", "extra"}``.

``model`` is the final plain network (fine-tuned, ready to export); ``dense_model`` the dense reference
the run produced (or None); ``extra`` goes into result.json under ``method_details``. A method that prunes
weights rather than channels may add ``count`` (``jst.flops.count_sparse``) to be measured by.
"""
from __future__ import annotations

from ..search import run_jst
from .autoprune import run_autoprune
from .dense import run_dense
from .ista import run_ista
from .l1norm import run_l1norm
from .lstm import run_lstm
from .scratch import run_scratch
from .slimming import run_slimming

METHODS = {"jst": run_jst, "dense": run_dense, "ista": run_ista, "autoprune": run_autoprune, "lstm": run_lstm,
           "l1norm": run_l1norm, "slimming": run_slimming, "scratch": run_scratch}
