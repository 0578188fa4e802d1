"""The book's pipeline figure (book/_static/pipeline.svg): JST from the target network to the export.

  python -m jst.book.pipeline_figure            # rewrites book/_static/pipeline.svg
  python -m jst.book.pipeline_figure --out F    # writes F instead

The SVG keeps its text as text (``svg.fonttype: none``: searchable, sharp at any zoom) and is byte-identical
from one run to the next with the same matplotlib (no date, a fixed id salt), so the committed file can be
checked against the script (tests/test_book.py). It is drawn 7.9 in wide (758 px) with body text of 9.5 pt
(12.7 px), so that the text stays above 11 px where the page shows it narrower (663 px in a 1280 px window
with both sidebars); ``draw`` refuses text that overflows its box.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "book" / "_static" / "pipeline.svg"
WIDTH, HEIGHT = 7.9, 4.95         # inches
COLS = [0.79 + 1.57 * i for i in range(5)]    # box centres, left to right
ROWS = {1: 3.45, 2: 2.05, 3: 0.55}            # box centres, top to bottom
BOX_W, BOX_H = 1.44, 0.92
BODY, TITLE = 9.5, 10            # font sizes (pt)

# colour per group (light fills, dark edges; Okabe-Ito hues)
PREPARE = ("#dceefa", "#0072b2")
SEARCH = ("#fde9cc", "#b86e00")
OUTPUT = ("#d9f2e8", "#00795a")

# (key, column, row, title, body lines, group): the stages, in the order of the method
STAGES = [
    ("coarse", 0, 1, "Coarse training", ["Θ on Dtrain;", "α on Dval after", "every epoch"], PREPARE),
    ("target", 1, 1, "Target network", ["dense; a filter", "weight α on", "every filter"], PREPARE),
    ("policy", 2, 1, "Thresholds", ["a policy draws", "one τ per layer", "in {0.6, …, 0.8}"], SEARCH),
    ("sampler", 3, 1, "Sampler", ["ranks noisy |α|,", "keeps mass τ,", "fits budget B"], SEARCH),
    ("extraction", 4, 1, "Extraction", ["copies the kept", "filters into a", "smaller network"], SEARCH),
    ("params", 4, 2, "Parameters Θ", ["on Dtrain,", "for Mₜ epochs"], SEARCH),
    ("filters", 3, 2, "Filter weights", ["α on Dval,", "for N epochs"], SEARCH),
    ("updater", 2, 2, "Updater", ["writes Θ and α", "back into the", "kept filters"], SEARCH),
    ("candidates", 1, 3, "Candidates", ["one per search", "step, T in all"], OUTPUT),
    ("selection", 2, 3, "Selection", ["best advantage", "over its step's", "control draws"], OUTPUT),
    ("finetune", 3, 3, "Fine-tuning", ["on the whole", "training set"], OUTPUT),
    ("export", 4, 3, "Export", ["model.safetensors", "+ model.json"], OUTPUT),
]
TITLES = [s[3] for s in STAGES]


def _box(ax, x: float, y: float, title: str, lines: list[str], colours: tuple[str, str]) -> list:
    fill, edge = colours
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, linewidth=1.2,
                                boxstyle="round,pad=0,rounding_size=0.08", facecolor=fill, edgecolor=edge))
    height = 0.25 + 0.18 * len(lines)   # title and body, centred in the box as one block
    top = y + height / 2
    texts = [ax.text(x, top - 0.1, title, ha="center", va="center", fontsize=TITLE, fontweight="bold",
                     color="#1a1a1a")]
    for i, line in enumerate(lines):
        texts.append(ax.text(x, top - 0.25 - 0.18 * i - 0.09, line, ha="center", va="center", fontsize=BODY,
                             color="#1a1a1a"))
    return texts


def _arrow(ax, start, end, colour="#333333", style="-|>", connection="arc3", dashed=False, width=1.3):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, linewidth=width, color=colour,
                                 connectionstyle=connection, linestyle=(0, (4, 2.5)) if dashed else "-",
                                 shrinkA=0, shrinkB=0))


def draw() -> plt.Figure:
    fig = plt.figure(figsize=(WIDTH, HEIGHT))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(0, HEIGHT)
    ax.set_axis_off()
    half_w, half_h = BOX_W / 2, BOX_H / 2

    # the search loop's frame: what repeats for t = 1 ... T
    left, right = COLS[2] - half_w - 0.08, COLS[4] + half_w + 0.08
    bottom, top = ROWS[2] - half_h - 0.08, ROWS[1] + half_h + 0.66
    ax.add_patch(FancyBboxPatch((left, bottom), right - left, top - bottom, linewidth=1.0, linestyle=(0, (2, 2)),
                                boxstyle="round,pad=0,rounding_size=0.12", facecolor="#fffaf2", edgecolor=SEARCH[1]))
    ax.text(right, bottom - 0.06, "one search step t, repeated for t = 1, …, T", ha="right", va="top",
            fontsize=BODY, fontstyle="italic", color=SEARCH[1])

    texts = []
    for _, col, row, title, lines, colours in STAGES:
        texts += _box(ax, COLS[col], ROWS[row], title, lines, colours)
    _check_fit(fig, texts)

    def right_of(col, row):
        return COLS[col] + half_w, ROWS[row]

    def left_of(col, row):
        return COLS[col] - half_w, ROWS[row]

    # row 1, left to right; down into the training; row 2, right to left
    for col in range(4):
        _arrow(ax, right_of(col, 1), left_of(col + 1, 1))
    _arrow(ax, (COLS[4], ROWS[1] - half_h), (COLS[4], ROWS[2] + half_h))
    for col in (4, 3):
        _arrow(ax, left_of(col, 2), right_of(col - 1, 2))
    # the updater writes back into the target (up) and keeps the step's candidate (down)
    ux, uy = left_of(2, 2)
    _arrow(ax, (ux, uy + 0.16), (COLS[1] + 0.22, ROWS[1] - half_h), connection="angle,angleA=180,angleB=90,rad=0")
    ax.text(COLS[1] + 0.14, uy + 0.42, "write back", ha="right", va="center", fontsize=BODY, color="#333333")
    _arrow(ax, (ux, uy - 0.16), (COLS[1] - 0.22, ROWS[3] + half_h), connection="angle,angleA=180,angleB=-90,rad=0")
    ax.text(COLS[1] - 0.3, uy - 0.42, "keep", ha="right", va="center", fontsize=BODY, color="#333333")
    # the reward: measured on the drawn sub-network before training, against the step's control draws
    _arrow(ax, (COLS[4] - 0.3, ROWS[1] + half_h), (COLS[2] + 0.3, ROWS[1] + half_h), dashed=True,
           colour=SEARCH[1], connection="arc3,rad=0.12")
    ax.text((COLS[2] + COLS[4]) / 2, ROWS[1] + half_h + 0.2, "reward on Dval before training, against\n"
            "K control draws of the step: an Adam step", ha="center", va="bottom", fontsize=BODY,
            color=SEARCH[1], linespacing=1.3)
    # row 3, left to right
    for col in (1, 2, 3):
        _arrow(ax, right_of(col, 3), left_of(col + 1, 3))
    # the data, in the free corner
    ax.text(COLS[0] - half_w, ROWS[2] + 0.3, "Dtrain: 80% of the\ntraining set\nDval: the other 20%\ntest set: "
            "once, at\nthe very end", ha="left", va="center", fontsize=BODY, color="#444444", linespacing=1.35)
    return fig


def _check_fit(fig: plt.Figure, texts: list) -> None:
    """Every line of a box inside its box, with a margin (the figure is only as good as its text)."""
    renderer = fig.canvas.get_renderer()
    for text in texts:
        width = text.get_window_extent(renderer).width / fig.dpi
        if width > BOX_W - 0.08:
            raise ValueError(f"{text.get_text()!r} is {width:.2f} in wide, its box {BOX_W} in: shorten it")


def write(path: Path = OUT) -> Path:
    """Draw the figure into ``path`` (SVG), reproducibly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "jst-pipeline", "font.family": "sans-serif",
                         "font.sans-serif": ["DejaVu Sans", "Verdana", "Arial", "Helvetica"]}):
        fig = draw()
        fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jst.book.pipeline_figure", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"SVG to write (default: {OUT})")
    print(write(p.parse_args(argv).out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
