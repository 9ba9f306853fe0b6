"""The CPU a benchmark ran on, named the way a reader can look it up.

`platform.processor()` is empty on most Linux machines, which left result pages saying only "x86_64"; the
model name in /proc/cpuinfo (e.g. "AMD EPYC 7B13") is what tells two machines apart.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The first "model name" of `cpuinfo`; where that file is missing or has none (macOS, Windows, some ARM
    boards), platform.processor(), and failing that the architecture (platform.machine())."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
