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
from jst.experiments.grid import Block, finished, is_ablation
from jst.report import plots, protocol_summary
from jst.report.style import table


def glue_key(block: Block) -> str:
    return f"protocol_{block.name.replace('-', '_')}"


def show(blocks, results: Path, data_root) -> None:
    """Display every comparison block of ``blocks`` and glue its verdict, from its records
    (``protocol_summary.block_rows``: each method over its runs that meet the protocol, the others named): a
    block under way shows the FLOPs targets whose runs have all finished, with how far it has got and the
    command that continues it; a block not run yet: its command."""
    for b in blocks:
        if not isinstance(b, Block) or is_ablation(b):
            continue
        folder = b.folder(results)
        done, total = finished(b, results)
        trials = len(list(folder.glob("tuning/*/result.json")))
        rows, targets = protocol_summary.block_rows(folder) if (folder / "compare.json").is_file() else ([], [])
        state = (f"Under way: {done} of its {total} runs and {trials} tuning trials are finished; the same "
                 f"command continues it: `{b.command(results, data_root)}`" if done or trials else
                 f"Not run yet: `{b.command(results, data_root)}`")
        if not targets:
            display(Markdown(f"### {b.name}\n\n{state}"))
            glue(glue_key(b), "under way" if done or trials else "not run yet", display=False)
            continue
        complete = done == total
        note = "" if complete else \
            f"{state}. Every run at FLOPs {', '.join(f'{t:g}' for t in targets)} has finished; shown here. "
        display(Markdown(f"### {b.name}\n\n{note}The dense network of each seed, shared by the methods that "
                         f"prune a trained one (`{folder}`):"))
        display(table(protocol_summary.dense_evidence(folder)))
        versus = {}
        for t in targets:
            versus[t] = protocol_summary.jst_against_others(folder, t, rows)
            display(Markdown(f"At {t:g} of the dense FLOPs: each method over its runs that meet the protocol "
                             "(budget in epochs-equivalent; the tuned value; how many of its runs meet the "
                             "protocol, and those that do not, which are not counted as the method), then JST "
                             "against each method and Scratch-B against dense:"))
            display(table(protocol_summary.methods_table(folder, t, rows).drop(columns="mechanism")))
            display(table(versus[t]))
        if len(targets) > 1:
            fig = plots.pareto(summary_frame([r for r in rows if r["n_seeds"]]), x="flops_ratio_mean",
                               y="test_acc_mean", xerr="flops_ratio_std", yerr="test_acc_std")
            fig.axes[0].set_title(f"{b.name}: accuracy vs FLOPs kept (bars: std over seeds)")
            display(fig)
            plt.close(fig)   # shown here, beside its block, not again at the cell's end
        first = b.flops_targets[0]
        if first not in targets:
            glue(glue_key(b), "under way", display=False)
            continue
        verdict = protocol_summary.verdict_sentence(folder, first, rows, versus[first])
        if not complete:
            verdict += f" (at FLOPs {first:g}; the block's other targets are under way)"
        glue(glue_key(b), verdict, display=False)
    ablations = [b for b in blocks if is_ablation(b)]
    if ablations:
        done = [finished(b, results) for b in ablations]
        display(Markdown(f"### The ablations on the main block\n\nJST with one reconstructed choice changed, "
                         f"{len(ablations)} variants: {sum(d for d, _ in done)} of their {sum(t for _, t in done)} "
                         "runs are finished (`python -m jst.experiments --list` names each block's command)."))
