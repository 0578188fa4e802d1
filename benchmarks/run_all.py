"""Run every benchmark, each in its own process, and write an index of their goals.

Each benchmark runs as ``python -m benchmarks.<name>`` (a fresh process: threads, torch.compile caches
and memory start clean, and each JSON records its own exact command); a failure is recorded and the
others still run. ``<out>/run_all.json`` lists every benchmark's exit status, seconds and goals (``--only``
updates its entries
for the benchmarks it ran and keeps the others').

    python -m benchmarks.run_all --out benchmarks/results [--quick] [--only overhead speedup]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from . import common

BENCHMARKS = ("overhead", "data_path", "search_overhead", "speedup", "scaling", "gpu")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="dry run of every benchmark (seconds each)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = p.parse_args(argv)
    start = time.time()
    index = {}
    for name in args.only:
        cmd = [sys.executable, "-m", f"benchmarks.{name}", "--out", args.out]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        print("$", " ".join(cmd), flush=True)
        t0 = time.time()
        rc = subprocess.run(cmd).returncode
        path = Path(args.out) / f"{name}.json"
        fresh = path.exists() and path.stat().st_mtime >= t0
        goals = json.loads(path.read_text()).get("goals", []) if fresh and rc == 0 else []
        index[name] = {"returncode": rc, "seconds": time.time() - t0, "json": path.name if fresh else None,
                       "goals": goals}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    previous = Path(args.out) / "run_all.json"
    if set(args.only) != set(BENCHMARKS) and previous.exists():  # --only: update those entries of the index
        index = {**json.loads(previous.read_text())["benchmarks"], **index}
    summary = {"command": " ".join([Path(sys.executable).name, *sys.orig_argv[1:]]), "quick": args.quick,
               "machine": common.machine(), "wall_time_s": time.time() - start, "benchmarks": index}
    (Path(args.out) / "run_all.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, r in index.items():
        met = sum(g["met"] for g in r["goals"])
        print(f"{name:16s} rc={r['returncode']} {r['seconds']:7.1f}s goals met {met}/{len(r['goals'])}")
    return 0 if all(r["returncode"] == 0 for r in index.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
