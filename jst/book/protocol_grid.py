"""The reproduction chapter's protocol grid, block by block, from its committed records: the dense network's
plateau evidence, each method at each FLOPs target, JST against every method by the one rule, and (for a
block with several targets) accuracy against FLOPs kept. A block under way shows the targets whose runs have
all finished. Each block's verdict is glued as ``protocol_<block>`` for the pages that quote it."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from myst_nb import glue

from jst.book.results import summary_frame
from jst.experiments.compare import load_table
from jst.experiments.compare import rows as compare_rows
from jst.experiments.grid import Block, finished, is_ablation
from jst.report import plots, protocol_summary
from jst.report.style import table


def glue_key(block: Block) -> str:
    return f"protocol_{block.name.replace('-', '_')}"


def show(blocks, results: Path, data_root) -> None:
    """Display every comparison block of ``blocks`` and glue its verdict: a finished block from its table; a
    block under way from the FLOPs targets whose runs have all finished (the rest: how far it has got and
    the command that continues it); a block not run yet: its command."""
    for b in blocks:
        if not isinstance(b, Block) or is_ablation(b):
            continue
        folder = b.folder(results)
        rows, targets, note = None, list(b.flops_targets), ""
        if not (folder / "table.json").exists():
            done, total = finished(b, results)
            trials = len(list(folder.glob("tuning/*/result.json")))
            targets = b.complete_targets(results)
            state = (f"Under way: {done} of its {total} runs and {trials} tuning trials are finished; the same "
                     "command continues it" if done or trials else "Not run yet")
            if not targets:
                display(Markdown(f"### {b.name}\n\n{state}: `{b.command(results, data_root)}`"))
                glue(glue_key(b), "under way" if done or trials else "not run yet", display=False)
                continue
            rows = compare_rows(folder, b.methods, b.seeds, targets)
            shown = ", ".join(f"{t:g}" for t in targets)
            note = (f"{state}: `{b.command(results, data_root)}`. Every run at FLOPs {shown} has finished; "
                    "those targets are shown here. ")
        display(Markdown(f"### {b.name}\n\n{note}The dense network of each seed, shared by the methods that "
                         f"prune a trained one (`{folder}`):"))
        display(table(protocol_summary.dense_evidence(folder)))
        for t in targets:
            display(Markdown(f"At {t:g} of the dense FLOPs: each method (budget in epochs-equivalent; the tuned "
                             "value; how many of its runs meet the protocol, its own mechanism acting included), "
                             "then JST against each method and Scratch-B against dense:"))
            display(table(protocol_summary.methods_table(folder, t, rows).drop(columns="mechanism")))
            display(table(protocol_summary.jst_against_others(folder, t, rows)))
        if len(targets) > 1:
            fig = plots.pareto(summary_frame(load_table(folder) if rows is None else rows), x="flops_ratio_mean",
                               y="test_acc_mean", xerr="flops_ratio_std", yerr="test_acc_std")
            fig.axes[0].set_title(f"{b.name}: accuracy vs FLOPs kept (bars: std over seeds)")
            display(fig)
            plt.close(fig)   # shown here, beside its block, not again at the cell's end
        first = b.flops_targets[0]
        if first not in targets:
            glue(glue_key(b), "under way", display=False)
            continue
        verdict = protocol_summary.verdict_sentence(folder, first, rows)
        if rows is not None:
            verdict += f" (at FLOPs {first:g}; the block's other targets are under way)"
        glue(glue_key(b), verdict, display=False)
    ablations = [b for b in blocks if is_ablation(b)]
    if ablations:
        done = [finished(b, results) for b in ablations]
        display(Markdown(f"### The ablations on the main block\n\nJST with one reconstructed choice changed, "
                         f"{len(ablations)} variants: {sum(d for d, _ in done)} of their {sum(t for _, t in done)} "
                         "runs are finished (`python -m jst.experiments --list` names each block's command)."))
