"""Launch a run under torchrun from a notebook and follow its progress through the run folder's log."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from jst.engine.runlog import RunLog


def torchrun_command(nproc: int, jst_args: list[str]) -> list[str]:
    """``torchrun --standalone --nproc_per_node=K -m jst ...`` with this interpreter."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "jst", *map(str, jst_args)]


def launch(cmd: list[str], run_dir: str | Path, *, poll: float = 5.0, echo=print) -> str:
    """Run ``cmd`` and follow its progress through the run folder's log.jsonl (one line per epoch and
    search step); returns the command's output, raises if it fails."""
    log = RunLog(Path(run_dir) / "log.jsonl")
    seen = len(log.read())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while True:
        done = proc.poll() is not None
        records = log.read()
        for r in records[seen:]:
            echo(_progress(r))
        seen = len(records)
        if done:
            break
        time.sleep(poll)
    reader.join()
    output = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{output[-3000:]}")
    return output


def _progress(r: dict) -> str:
    """One log record as a progress line."""
    if r["stage"] == "consistency":
        return f"{'checked':>8} {r['what']}: same on all {r['ranks']} ranks"
    step = f"step {r['step']}" if "step" in r else f"epoch {r.get('epoch')}"
    metrics = ", ".join(f"{k} {r[k]:.4g}" for k in ("train_loss", "val_acc", "flops_ratio") if k in r)
    return f"{r['stage']:>8} {step}: {metrics}"


def imagenet_stand_in(source: str | Path, out: str | Path, size: int = 80, per_class: tuple[int, int] = (300, 100),
                      splits: tuple[str, str] = ("train", "test")) -> Path:
    """A small ImageFolder in ImageNet's layout (``train/``, ``val/``) from ``source``'s first ``per_class``
    images of each class, upscaled to ``size`` px: images above 64 px are streamed from disk through
    torchvision's ImageNet transforms (random resized crop, flip; resize and centre crop), the path an ImageNet
    run takes, where small images would be held in memory. Made once; returns ``out``."""
    from PIL import Image
    source, out = Path(source), Path(out)
    done = out / ".complete"
    if done.exists():
        return out
    for split, name, limit in ((splits[0], "train", per_class[0]), (splits[1], "val", per_class[1])):
        for cls in sorted(p for p in (source / split).iterdir() if p.is_dir()):
            (out / name / cls.name).mkdir(parents=True, exist_ok=True)
            for path in sorted(cls.iterdir())[:limit]:
                with Image.open(path) as im:
                    im.convert("RGB").resize((size, size), Image.BICUBIC).save(out / name / cls.name / f"{path.stem}.png")
    done.touch()
    return out
