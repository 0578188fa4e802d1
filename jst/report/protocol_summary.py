"""What a block of the protocol grid found, read from its records only: the dense network with its plateau
evidence, each method's accuracy at its achieved FLOPs and training budget, the tuned values, and JST against
every other method by the one rule (``jst.report.verdicts``); Scratch-B against dense checks that the dense
network was trained long enough.

  python -m jst.report.protocol_summary results/grid/mnist-lenet5-cpu     # one block, as markdown
  python -m jst.report.protocol_summary results/grid                      # every block (under way: its
                                                                          # targets whose runs all finished)
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pandas as pd

from jst.experiments.tuning import chosen_values
from jst.report.comparisons import comparison, pair, runs_by_seed
from jst.report.protocol import counted, problems, shortfalls
from jst.report.significance import holm, significant
from jst.report.verdicts import NOT_DISTINGUISHABLE


def dense_evidence(folder: Path) -> pd.DataFrame:
    """Each seed's shared dense run: epochs, Dval gain over its last 20% (points), plateaued, test accuracy."""
    rows = []
    for run in sorted(Path(folder).glob("dense-f1-s*")):
        if not (run / "result.json").exists():
            continue
        from jst.report.records import read_record
        r = read_record(run)
        c = r.convergence
        stage = c["stages"][c["final_stage"]]
        rows.append({"run": run.name, "epochs": stage["epochs"], "Dval gain, last 20% (points)": stage["gain_points"],
                     "± (s.e.)": stage.get("gain_se_points"),
                     "plateaued": c["plateaued"], "Dval acc (%)": 100 * stage["final_val_acc"],
                     "test acc (%)": 100 * r.test_acc})
    return pd.DataFrame(rows)


def methods_table(folder: Path, flops_target: float, rows: list[dict] | None = None) -> pd.DataFrame:
    """One row per method at ``flops_target`` (of the block's table, or of ``rows``: ``comparison``): seeds
    counted, test accuracy and FLOPs kept over them (mean +- std), training budget (epochs-equivalent), the
    tuned values, the mechanism (over every finished run), and the runs that meet the protocol out of those
    finished, naming the ones not counted as the method (its FLOPs missed or its mechanism not acting)."""
    df = comparison(folder, flops_target, rows)
    tuned = chosen_values(folder)
    out = []
    for _, row in df.iterrows():
        records = list(runs_by_seed(folder, row["runs"]).values())
        budgets = [r.raw.get("training", {}).get("epochs_equivalent") for r in records]
        missed = [n for n in row.get("not counted", "").split(", ") if n]
        out.append({"method": row["method"], "seeds": row["seeds"],
                    "test acc (%)": "{:.2f} ± {:.2f}".format(*row["test acc (%)"]),
                    "FLOPs kept": "{:.3f} ± {:.3f}".format(*row["FLOPs kept"]),
                    "budget (epochs)": f"{statistics.fmean(budgets):.1f}" if None not in budgets else "unknown",
                    "tuned": ", ".join(f"{k}={v}" for k, v in tuned.get(row["method"], {}).items()) or "-",
                    "mechanism": row["mechanism"],
                    "protocol met": f"{sum(not problems(r) for r in records)}/{len(records) + len(missed)}",
                    "not counted": _not_counted(folder, missed)})
    for r in rows or []:      # a method none of whose runs counted: shown, with nothing to average
        if abs(r["flops_target"] - flops_target) < 1e-9 and not r["n_seeds"]:
            out.append({"method": r["method"], "seeds": 0, "test acc (%)": "-", "FLOPs kept": "-",
                        "budget (epochs)": "-", "tuned": ", ".join(f"{k}={v}" for k, v in
                                                                 tuned.get(r["method"], {}).items()) or "-",
                        "mechanism": r["mechanism"], "protocol met": f"0/{len(r['not_counted'])}",
                        "not counted": _not_counted(folder, r["not_counted"])})
    return pd.DataFrame(out)


def _not_counted(folder: Path, names: list[str]) -> str:
    """Each run not counted, with what it missed (``jst.report.protocol.shortfalls``)."""
    from jst.report.records import read_record
    return "; ".join(f"{n}: {', '.join(shortfalls(read_record(Path(folder) / n)))}" for n in names) or "-"


def jst_against_others(folder: Path, flops_target: float, rows: list[dict] | None = None) -> pd.DataFrame:
    """JST against every other method at ``flops_target``, and Scratch-B against dense (the undertraining
    check), each decided by the one rule; and JST's verdicts again with both tests' p-values adjusted by
    Holm's method over JST's comparisons (the family the block tests at once)."""
    df = comparison(folder, flops_target, rows)
    if df.empty:                                    # no method has a run that counts
        return pd.DataFrame()
    wanted = [("jst", m) for m in df["method"] if m != "jst"] + [("scratch", "dense")]
    pairs = [(a, b, p) for a, b in wanted if (p := pair(df, a, b))]
    family = [p for a, _, p in pairs if a == "jst"]
    adjusted = {id(p): ps for p, ps in zip(family, zip(holm([p["welch p"] for p in family]),
                                                       holm([p["images p"] for p in family])))}
    out = []
    for a, b, p in pairs:
        row = {"comparison": f"{a} vs {b}", "seeds": p["seeds"], "tests": p["tests"], "verdict": p["verdict"],
               "verdict, Holm-adjusted": "-"}       # Scratch-B against dense: a check, not one of JST's family
        if id(p) in adjusted:
            welch_p, images_p = adjusted[id(p)]
            kept = significant(welch_p) and (p["images p"] is None or significant(images_p))
            decided = p["verdict"].endswith(" ahead")          # the correction can only take a verdict away
            row["verdict, Holm-adjusted"] = NOT_DISTINGUISHABLE if decided and not kept else p["verdict"]
        out.append(row)
    return pd.DataFrame(out)


def verdict_sentence(folder: str | Path, flops_target: float, rows: list[dict] | None = None,
                     versus: pd.DataFrame | None = None) -> str:
    """JST's standing in one block at one FLOPs target, in words, from ``jst_against_others`` (the methods named
    as the book names them); ``versus``: its table when the caller has it (its paired tests are not cheap)."""
    from jst.report.style import METHOD_NAMES
    df = jst_against_others(Path(folder), flops_target, rows) if versus is None else versus
    if df.empty:
        return "JST has not run here yet"
    jst = df[df["comparison"].str.startswith("jst vs ")]
    seeds = {int(n) for n in jst["seeds"]}

    def standing(column: str) -> list[str]:
        groups: dict[str, list[str]] = {"ahead of": [], "behind": [], "not distinguishable from": []}
        for _, r in jst.iterrows():
            other = r["comparison"].removeprefix("jst vs ")
            key = ("ahead of" if r[column] == "jst ahead" else "behind" if r[column] == f"{other} ahead"
                   else "not distinguishable from")
            groups[key].append(METHOD_NAMES.get(other, other))
        return [f"{k} {_listed(v)}" for k, v in groups.items() if v]

    parts, corrected = standing("verdict"), standing("verdict, Holm-adjusted")
    holm_text = f"; with Holm's correction over its {len(jst)} comparisons, {'; '.join(corrected)}" \
        if corrected != parts else ""
    scratch = df[df["comparison"] == "scratch vs dense"]
    words = {"scratch ahead": "ahead (the dense network may be undertrained)", "dense ahead": "behind"}
    word = scratch.iloc[0]["verdict"] if len(scratch) else None
    check = f"; Scratch-B against the dense network: {words.get(word, word)}" if word else ""
    n = f"{min(seeds)} seeds" if seeds else "no seeds"
    return f"JST is {'; '.join(parts)} ({n}, both tests{holm_text}){check}" if parts else "JST has not run here yet"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def block_rows(folder: str | Path) -> tuple[list[dict], list[float]]:
    """(rows, FLOPs targets) of a block folder (its ``compare.json``), read from its records: the targets whose
    runs have all finished (every target, once the block is), each method's statistics over the runs that meet
    the protocol (``jst.report.protocol.counted``; the others are named, ``jst.experiments.compare.rows``)."""
    from jst.engine.checkpoint import load_json
    from jst.experiments.compare import complete_targets, rows
    folder = Path(folder)
    request = load_json(folder / "compare.json")
    done = complete_targets(folder, request["methods"], request["seeds"], request["flops_targets"],
                            bool(request["overrides"].get("share_dense")))
    return rows(folder, request["methods"], request["seeds"], done, counted=counted), done


def markdown(folder: str | Path) -> str:
    folder = Path(folder)
    found, targets = block_rows(folder)
    title = f"## {folder.name}" if (folder / "table.json").is_file() else \
        f"## {folder.name} (under way: the FLOPs targets whose runs have all finished)"
    parts = [title, "", "Dense network (shared by the methods that prune a trained one):", "",
             dense_evidence(folder).to_markdown(index=False, floatfmt=".2f")]
    for t in targets:
        parts += ["", f"### FLOPs target {t:g}", "", methods_table(folder, t, found).to_markdown(index=False), "",
                  jst_against_others(folder, t, found).to_markdown(index=False)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if len(argv) == 1 else None
    blocks = [] if folder is None else [folder] if (folder / "compare.json").is_file() else \
        sorted(p.parent for p in folder.glob("*/compare.json"))
    if not blocks:
        print("usage: python -m jst.report.protocol_summary FOLDER (a block folder with compare.json, or the grid "
              "root holding such folders)", file=sys.stderr)
        return 2
    print("\n\n".join(markdown(b) for b in blocks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
