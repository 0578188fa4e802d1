"""How far JST's sampler policy moved during the search: near zero, the search drew its thresholds almost
uniformly, a seeded random search ranked by Dval accuracy."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jst.report.comparisons import finished_comparisons
from jst.report.records import read_records


def policy_drift(folder: str | Path, method: str = "jst") -> pd.DataFrame:
    """Per run of ``method`` in a comparison folder: the largest distance of its final per-layer
    probabilities from the uniform policy it starts from."""
    rows = []
    for r in read_records(folder, f"{method}-f*-s*"):
        final = r.method_details["policy_probabilities"][-1]
        drift = max(abs(p - 1 / len(layer)) for layer in final for p in layer)
        rows.append({"run": r.name, "search steps T": len(r.method_details["candidates"]),
                     "choices per layer": len(final[0]), "largest |p - uniform|": drift})
    return pd.DataFrame(rows)


def policy_drifts(blocks, results_root: str | Path) -> pd.DataFrame:
    """``policy_drift`` of every finished comparison of the grid, one row per JST run."""
    frames = [policy_drift(b.folder(results_root)).assign(comparison=b.name)
              for b in finished_comparisons(blocks, results_root)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["comparison", "run"])
    return df[["comparison", *[c for c in df if c != "comparison"]]]
