"""How much memory this process may still allocate on a device: what sizes the optional copies and the cache.

On CPU that is the smaller of the pod's room (its cgroup's ``memory.max`` less ``memory.current``:
a container's limit, which the kernel's figure does not know) and the node's ``MemAvailable``; on a GPU,
what the driver reports free.
"""

from __future__ import annotations

from pathlib import Path

import torch

CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")


def available_memory(device: torch.device, cgroup: Path = CGROUP, meminfo: Path = MEMINFO) -> int | None:
    """Bytes this process may still allocate on ``device``; None where nothing tells (not Linux)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    candidates = []
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            candidates.append(int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return max(0, min(candidates)) if candidates else None
