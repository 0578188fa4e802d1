"""What a run ran on, in a few words: a wall time means little without it."""
from __future__ import annotations


def hardware_text(h: dict) -> str:
    """A run's recorded hardware: the GPU, or the CPU and its threads."""
    threads = h.get("cpu_threads", "?")
    return h.get("gpu") or f"{h.get('device', '?')}, {threads} thread{'' if threads == 1 else 's'}"


def run_hardware(hardware: dict, attempts: list = ()) -> list[str]:
    """What one run ran on, attempt by attempt where it recorded them (a resumed run may have moved); a record
    from before attempts has its one ``hardware``."""
    attempts = list(attempts) or [{"hardware": hardware}]
    return [hardware_text(a["hardware"]) if a["hardware"] else "not recorded" for a in attempts]
