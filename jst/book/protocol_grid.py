"""The reproduction chapter's protocol grid, block by block, from its committed records: the dense network's
plateau evidence, each method at each FLOPs target, JST against every method by the one rule, and (for a
block with several targets) accuracy against FLOPs kept. Each block's verdict is glued as
``protocol_<block>`` for the pages that quote it."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from myst_nb import glue

from jst.book.results import summary_frame
from jst.experiments.compare import load_table
from jst.experiments.grid import Block, finished
from jst.report import plots, protocol_summary
from jst.report.style import table


def glue_key(block: Block) -> str:
    return f"protocol_{block.name.replace('-', '_')}"


def show(blocks, results: Path, data_root) -> None:
    """Display every comparison block of ``blocks`` (a block not run yet: its command) and glue its verdict."""
    for b in blocks:
        if not isinstance(b, Block):
            continue
        folder = b.folder(results)
        if not (folder / "table.json").exists():
            done, total = finished(b, results)
            trials = len(list(folder.glob("tuning/*/result.json")))
            state = (f"Under way: {done} of its {total} runs and {trials} tuning trials are finished; the same "
                     "command continues it" if done or trials else "Not run yet")
            display(Markdown(f"### {b.name}\n\n{state}: `{b.command(results, data_root)}`"))
            glue(glue_key(b), "under way" if done or trials else "not run yet", display=False)
            continue
        display(Markdown(f"### {b.name}\n\nThe dense network of each seed, shared by the methods that prune a "
                         f"trained one (`{folder}`):"))
        display(table(protocol_summary.dense_evidence(folder)))
        for t in b.flops_targets:
            display(Markdown(f"At {t:g} of the dense FLOPs: each method (budget in epochs-equivalent; the tuned "
                             "value; how many of its runs meet the protocol, its own mechanism acting included), "
                             "then JST against each method and Scratch-B against dense:"))
            display(table(protocol_summary.methods_table(folder, t).drop(columns="mechanism")))
            display(table(protocol_summary.jst_against_others(folder, t)))
        if len(b.flops_targets) > 1:
            fig = plots.pareto(summary_frame(load_table(folder)), x="flops_ratio_mean", y="test_acc_mean",
                               xerr="flops_ratio_std", yerr="test_acc_std")
            fig.axes[0].set_title(f"{b.name}: accuracy vs FLOPs kept (bars: std over seeds)")
            display(fig)
            plt.close(fig)   # shown here, beside its block, not again at the cell's end
        glue(glue_key(b), protocol_summary.verdict_sentence(folder, b.flops_targets[0]), display=False)
