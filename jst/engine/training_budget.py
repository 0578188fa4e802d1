"""A run's training budget, measured: the images it trained on (``jst.engine.train.TRAINED``) plus those of
the dense run it started from (``dense_from``, ``jst.methods.shared_dense``), in epochs of its training set,
so that methods are compared at equal budgets."""
from __future__ import annotations


def training_budget(images: int | None, epoch_size: int, inherited: int = 0, dense_from: str = "") -> dict:
    """The record's ``training`` section; ``images`` None when a checkpoint from before the count hid part
    of the run's work (then the totals are unknown, not guessed)."""
    total = None if images is None else images + inherited
    return {"images": images, "dense_from": dense_from or None, "dense_images": inherited,
            "total_images": total, "epoch_size": epoch_size,
            "epochs_equivalent": None if total is None else total / epoch_size}
