"""Pruning methods. Each is ``run(ctx) -> {"model", "dense_model", "dense_source", "extra"}``.

``model`` is the final plain network (fine-tuned, ready to export); ``dense_model`` the dense reference
the run produced (or None); ``extra`` goes into result.json under ``method_details``.
"""
from __future__ import annotations

from ..search import run_jst
from .dense import run_dense

METHODS = {"jst": run_jst, "dense": run_dense}
