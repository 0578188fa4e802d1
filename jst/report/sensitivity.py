"""The per-layer sensitivity curves the grid's sensitivity blocks wrote (``jst.experiments.grid``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_sensitivity(csv: str | Path) -> pd.DataFrame:
    """Layer, fraction pruned and accuracy drop per row; the unpruned accuracy in ``attrs["base_acc"]``."""
    df = pd.read_csv(csv)
    df.attrs["base_acc"] = float(df["base_acc"].iloc[0])
    return df
