"""The per-epoch log of a run: one JSON object per line, flushed as it is written.

Every checkpoint records how many lines the log had when it was written; a resumed run first cuts the
log back to the newest checkpoint's count, so work redone after a crash is not logged twice.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


class RunLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lines = len(self._raw_lines())

    def _raw_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text().splitlines(keepends=True) if line.endswith("\n")]

    def write(self, record: dict) -> None:
        record = {"time": time.time(), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.lines += 1

    def truncate(self, lines: int) -> None:
        """Keep the first ``lines`` complete lines (drops what a killed run logged after its last checkpoint)."""
        kept = self._raw_lines()[:lines]
        if len(kept) != self.lines or (self.path.exists() and not self.path.read_text().endswith("\n")):
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, self.path)
        self.lines = len(kept)

    def read(self) -> list[dict]:
        return [json.loads(line) for line in self._raw_lines() if line.strip()]
