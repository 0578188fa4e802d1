"""One typed reader of run records (``result.json``): every table, check and chapter reads runs through it.

A record is what ``jst.engine.pipeline.run`` wrote at the end of a run: the dense and pruned networks'
FLOPs, parameters, widths and test accuracy, the run's configuration, its method's details, its wall time,
hardware and code version. Reading it in one place means one error message for a damaged record and one
spelling of every field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jst.engine.checkpoint import load_json
from jst.engine.errors import JstError

RECORD = "result.json"


@dataclass(frozen=True)
class Network:
    """One side of a record: the dense reference or the pruned (exported) network."""
    flops: int
    params: int
    widths: dict[str, int]
    test_acc: float | None
    macs: int | None = None
    flops_ratio: float = 1.0          # of the dense network's FLOPs (1.0 for the dense side)
    params_ratio: float = 1.0
    source: str | None = None         # the dense side: which network it is
    counting: str | None = None       # how FLOPs were counted where not per channel (weight pruning: "sparse: ...")
    weights: int | None = None        # weight pruning: conv/linear weights, and the compression they reached
    weight_compression_ratio: float | None = None

    @classmethod
    def from_json(cls, d: dict) -> "Network":
        return cls(flops=int(d["flops"]), params=int(d["params"]), widths=dict(d["widths"]),
                   test_acc=d.get("test_acc"), macs=d.get("macs"), flops_ratio=d.get("flops_ratio", 1.0),
                   params_ratio=d.get("params_ratio", 1.0), source=d.get("source"), counting=d.get("counting"),
                   weights=d.get("weights"), weight_compression_ratio=d.get("weight_compression_ratio"))


@dataclass(frozen=True)
class RunRecord:
    folder: Path
    method: str
    dataset: str
    arch: str
    seed: int
    scale: str
    flops_target: float
    dense: Network
    pruned: Network
    meets_budget: bool
    wall_time_s: float
    config: dict
    method_details: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    attempts: list = field(default_factory=list)
    command: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)   # the file as read

    @property
    def name(self) -> str:
        """The run folder's name, e.g. ``jst-f0.5-s0``."""
        return self.folder.name

    @property
    def benchmark(self) -> str:
        """The data the run trained on: the dataset's name, or for an ImageFolder its folder's name (the
        grid's ``Block.data``, e.g. ``cifar10-sample``)."""
        root = self.config.get("data_root")
        return Path(root).name if self.dataset == "imagefolder" and root else self.dataset

    @property
    def test_acc(self) -> float:
        return self.pruned.test_acc

    @property
    def git_commit(self) -> str | None:
        return self.versions.get("git_commit")

    @property
    def mechanism(self) -> dict | None:
        """The evidence that the method's own mechanism did the pruning (None: recorded before it existed)."""
        return self.raw.get("mechanism")

    @property
    def convergence(self) -> dict:
        """The plateau evidence of the network the run hands over, judged by today's rule
        (``jst.engine.convergence``) on the run's logged Dval curve, so that every record of a block is
        judged alike; the section the run saved where its log is missing."""
        saved = self.raw.get("convergence") or {}
        log = self.folder / "log.jsonl"
        if not saved or not log.is_file():
            return saved
        from jst.engine.convergence import convergence
        from jst.engine.runlog import RunLog
        return convergence(RunLog(log).read(), final_stage=saved.get("final_stage"))

    def correct(self):
        """Which test images the exported network classified correctly (a bool array in test-set order, from
        the run's ``predictions.safetensors``), or None for a record saved without predictions."""
        name = self.raw.get("predictions")
        if not name or not (self.folder / name).is_file():
            return None
        from safetensors.numpy import load_file
        try:
            p = load_file(str(self.folder / name))
        except Exception as e:   # safetensors raises its own error types for a damaged file
            raise JstError(f"{self.folder / name}: damaged predictions file ({e})") from None
        return p["predicted"] == p["label"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input's shape (channels, height, width), as the run's data recorded it."""
        return tuple(self.data["input_shape"])


def is_record(folder: str | Path) -> bool:
    """A finished run: its folder holds a result.json."""
    return (Path(folder) / RECORD).is_file()


def read_record(folder: str | Path) -> RunRecord:
    """The record of the run in ``folder`` (the folder, not the result.json inside it)."""
    folder = Path(folder)
    r = load_json(folder / RECORD)
    try:
        return RunRecord(folder=folder, method=r["method"], dataset=r["dataset"], arch=r["arch"],
                         seed=int(r["seed"]), scale=r["scale"], flops_target=float(r["flops_target"]),
                         dense=Network.from_json(r["dense"]), pruned=Network.from_json(r["pruned"]),
                         meets_budget=bool(r["meets_budget"]), wall_time_s=float(r["wall_time_s"]),
                         config=r["config"], method_details=r.get("method_details") or {},
                         data=r.get("data") or {}, versions=r.get("versions") or {},
                         hardware=r.get("hardware") or {}, attempts=r.get("attempts") or [],
                         command=r.get("command"), raw=r)
    except (KeyError, TypeError, ValueError) as e:
        raise JstError(f"{folder / RECORD}: not a run record ({type(e).__name__}: {e})") from None


def read_records(root: str | Path, pattern: str = "*", recursive: bool = False) -> list[RunRecord]:
    """Every finished run whose folder under ``root`` matches ``pattern`` (sorted by folder)."""
    root = Path(root)
    found = root.rglob(f"{pattern}/{RECORD}") if recursive else root.glob(f"{pattern}/{RECORD}")
    return [read_record(p.parent) for p in sorted(found)]


def mechanism_summary(records: list[RunRecord]) -> str:
    """Whether each run's pruning came from the method's own mechanism: "acted 3/3", "ablation held 3/3" (an
    ablation that switches the mechanism off did so), "fallback 2/3" (the
    rest came from a fallback: never to be read as the method), "n/a" (prunes nothing itself) or "not
    recorded" (a record older than the ``mechanism`` section)."""
    sections = [r.mechanism for r in records]
    if any(s is None for s in sections):
        return "not recorded"
    acted = [s["acted"] for s in sections if s.get("acted") is not None]
    if not acted:
        return "n/a"
    fallback = len(acted) - sum(acted)
    held = "ablation held" if all(s.get("ablation") for s in sections) else "acted"
    return f"fallback {fallback}/{len(acted)}" if fallback else f"{held} {len(acted)}/{len(acted)}"


def is_fallback(summary: str | None) -> bool:
    """A ``mechanism_summary`` that says some run's pruning did not come from the method's mechanism."""
    return bool(summary) and str(summary).startswith("fallback")
