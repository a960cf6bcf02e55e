"""Peak memory and wall time of a job phase.

Peak RSS comes from Linux's VmHWM, reset at the start of a phase by writing 5 to
/proc/self/clear_refs, so a phase's peak is not hidden by an earlier, larger one (an evaluation
that loaded the model). Where that reset is not allowed the peak is the whole process's so far,
and ``scoped`` says so.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Phase:
    scoped: bool = False
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls) -> Phase:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return cls(scoped=True)
        except OSError:
            return cls(scoped=False)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def peak_rss_bytes() -> int:
    """Peak resident memory since the last reset (or process start)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
