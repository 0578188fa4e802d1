"""Re-run the stage notebooks with papermill and write the executed copies where the book renders them.

  python -m jst.book.notebooks --scale cpu --dataset mnist --arch lenet5          # every notebook, in order
  python -m jst.book.notebooks --scale smoke --only 05_search --out /tmp/nb      # one, elsewhere
  python -m jst.book.notebooks --scale smoke -p search_steps=3                    # any notebook parameter (JSON)

Every notebook gets the same run folder, so they chain: each reads what an earlier one wrote, or runs
the missing stage itself. The kernel runs in the repository root with the repository on PYTHONPATH,
so ``import jst`` finds this checkout's package whatever is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "notebooks"
BOOK = REPO / "book" / "notebooks"
NOTEBOOKS = ("01_coarse_training", "02_sampler", "03_updater", "04_thresholds", "05_search",
             "06_finetune_export", "07_sensitivity", "08_explorer", "09_imagenet_multigpu", "10_results",
             "11_baselines", "12_reproduction", "13_performance")
# chapters that render committed records (results/, benchmarks/results/) rather than run a stage: their only
# parameter is the records' folder
RECORD_CHAPTERS = {"12_reproduction": "results_root", "13_performance": "benchmarks_dir"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def parameter_names(path: Path) -> set[str]:
    import papermill
    return set(papermill.inspect_notebook(str(path)))


def execute(name: str, out_dir: Path, parameters: dict, *, kernel: str = "python3", log_output: bool = False) -> Path:
    """Execute notebook ``name`` with the parameters it declares; returns the executed notebook's path."""
    import nbformat
    import papermill
    src = SOURCE / f"{name}.ipynb"
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / f"{name}.ipynb"
    known = parameter_names(src)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    papermill.execute_notebook(str(src), str(dst), parameters={k: v for k, v in parameters.items() if k in known},
                               kernel_name=kernel, cwd=str(REPO), progress_bar=False, log_output=log_output)
    nb = nbformat.read(str(dst), as_version=4)
    # Widgets (progress bars, the live explorer) need a kernel; the book shows kernel-free outputs only.
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
    show_parameters_once(nb)
    nbformat.write(nb, str(dst))
    return dst


def show_parameters_once(nb) -> None:
    """The book shows the parameters a page ran with in one compact line, instead of the notebook's default
    parameters cell followed by papermill's injected one (both stay in the file, for Jupyter)."""
    import nbformat
    if any("ran-with" in c.metadata.get("tags", []) for c in nb.cells):
        return
    ran = nb.metadata.get("papermill", {}).get("parameters") or {}
    line = " &middot; ".join(f"`{k} = {v!r}`" for k, v in ran.items())
    last = None
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.setdefault("tags", [])
        if {"parameters", "injected-parameters"} & set(tags):
            tags.append("remove-cell")
            last = i
            if not ran:   # nothing injected: the defaults ran, as the cell states them (without its comments)
                line = " &middot; ".join(f"`{m[1]} = {m[2]}`" for m in _ASSIGNMENT.finditer(cell.source))
    if last is not None and line:
        nb.cells.insert(last + 1, nbformat.v4.new_markdown_cell(f"*Ran with* {line}", metadata={"tags": ["ran-with"]}))


_ASSIGNMENT = re.compile(r"^(\w+)\s*=\s*(.+?)\s*(?:#.*)?$", re.MULTILINE)


def common_parameters(args) -> dict:
    from jst.book.run import default_run_dir
    from jst.engine.data import default_data_root
    data_root = str(Path(args.data_root or default_data_root() or "../shared/data").resolve())
    run_dir = default_run_dir(args.dataset, args.arch, args.scale, args.flops_target, args.seed, args.run_root)
    params = {"dataset": args.dataset, "data_root": data_root, "arch": args.arch, "scale": args.scale,
              "flops_target": args.flops_target, "seed": args.seed, "device": args.device,
              "run_dir": str(run_dir), "imagenet_root": args.imagenet_root or _imagenet_root(data_root),
              "imagenet_arch": args.imagenet_arch, "results_dirs": ["results", args.run_root],
              "baselines_out": str(Path(args.run_root) / f"baselines-{args.dataset}-{args.arch}-{args.scale}")}
    for item in args.param:
        key, _, raw = item.partition("=")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def parameters_for(name: str, params: dict) -> dict:
    """The multi-GPU notebook runs an ImageFolder dataset with an ImageNet network in its own folder."""
    if name != "09_imagenet_multigpu":
        return params
    from jst.book.run import default_run_dir
    root = Path(params["run_dir"]).parent
    return {**params, "dataset": "imagefolder", "data_root": params["imagenet_root"], "arch": params["imagenet_arch"],
            "run_dir": str(default_run_dir(Path(params["imagenet_root"]).name, params["imagenet_arch"],
                                           params["scale"], params["flops_target"], params["seed"], root))}


def _imagenet_root(data_root: str) -> str:
    """ImageNet in the ImageFolder layout if present, else the CIFAR-10 sample as a small stand-in."""
    for name in ("imagenet", "ILSVRC2012"):
        if (Path(data_root) / name / "train").is_dir():
            return str(Path(data_root) / name)
    return str(Path(data_root) / "cifar10-sample")


def main(argv: list[str] | None = None) -> int:
    from jst.config import SCALES
    from jst.engine.data import DATASETS
    from jst.nets.models import ARCHS
    p = argparse.ArgumentParser(prog="python -m jst.book.notebooks", description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="smoke", choices=SCALES)
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--arch", default="lenet5", choices=ARCHS)
    p.add_argument("--data-root", default=None, help="default: $JST_DATA_ROOT, else ../shared/data")
    p.add_argument("--flops-target", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--run-root", default="runs/notebooks", help="where the notebooks' run folders go")
    p.add_argument("--imagenet-root", default=None, help="ImageFolder root for the multi-GPU notebook")
    p.add_argument("--imagenet-arch", default="resnet18", choices=ARCHS,
                   help="network of the multi-GPU notebook (default resnet18: the stand-in data is small)")
    p.add_argument("--only", nargs="+", choices=NOTEBOOKS, help="run only these notebooks")
    p.add_argument("--skip", nargs="+", default=[], choices=NOTEBOOKS)
    p.add_argument("--out", default=str(BOOK), help=f"where executed notebooks go (default: {BOOK})")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a notebook parameter (JSON value), e.g. -p nproc=4")
    args = p.parse_args(argv)
    params = common_parameters(args)
    names = [n for n in (args.only or NOTEBOOKS) if n not in args.skip]
    for name in names:
        t0 = time.time()
        print(f"[jst.book.notebooks] {name} ...", flush=True)
        try:
            dst = execute(name, Path(args.out), parameters_for(name, params))
        except Exception as e:  # papermill's PapermillExecutionError carries the cell's traceback
            print(f"[jst.book.notebooks] {name} failed: {e}", file=sys.stderr)
            return 1
        print(f"[jst.book.notebooks] {name} -> {dst} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
