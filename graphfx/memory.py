"""How much memory a command may still take, so that it refuses an input too long for it up front.

An allocation that fails deep inside numpy or torch ends a command with a
traceback (or with the kernel's out-of-memory killer) after minutes of work;
a command that knows roughly what it needs checks it here first.
"""
from __future__ import annotations

import os
from typing import Optional

from graphfx.errors import GraphFXError

try:
    import resource  # POSIX
except ImportError:  # pragma: no cover
    resource = None


class NotEnoughMemory(GraphFXError):
    """An input that would not fit in the memory this process may use."""


def available_bytes() -> Optional[int]:
    """The smaller of the system's available memory and the headroom under this process's address-space
    limit (``ulimit -v``); ``None`` where neither can be read."""
    limits = [_meminfo_available()]
    if resource is not None:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft - (_status_kb("VmSize") or 0) * 1024)
    known = [x for x in limits if x is not None]
    return max(0, min(known)) if known else None


def check_memory(needed: int, task: str, advice: str) -> None:
    """Raises :class:`NotEnoughMemory` when ``needed`` bytes exceed :func:`available_bytes`."""
    free = available_bytes()
    if free is not None and needed > free:
        raise NotEnoughMemory(f"{task} needs about {_gb(needed)} of memory and {_gb(free)} are free; {advice}")


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
