"""Pruning methods. Each is ``run(ctx) -> {"model", "dense_model", "dense_source", "extra"}``.

``model`` is the final plain network (fine-tuned, ready to export); ``dense_model`` the dense reference
the run produced (or None); ``extra`` goes into result.json under ``method_details``. A method that prunes
weights rather than channels may add ``count`` (``jst.nets.flops.count_sparse``) to be measured by.
"""
from __future__ import annotations

from jst.methods.autoprune import run_autoprune
from jst.methods.dense import run_dense
from jst.methods.ista import run_ista
from jst.methods.jst import run_jst
from jst.methods.l1norm import run_l1norm
from jst.methods.lstm import run_lstm
from jst.methods.scratch import run_scratch
from jst.methods.slimming import run_slimming

METHODS = {"jst": run_jst, "dense": run_dense, "ista": run_ista, "autoprune": run_autoprune, "lstm": run_lstm,
           "l1norm": run_l1norm, "slimming": run_slimming, "scratch": run_scratch}
