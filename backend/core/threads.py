"""How many CPU threads torch should use: the cores that are actually free right now.

Why: torch defaults to one thread per core it can see. When another process already keeps
those cores busy, every extra intra-op thread only adds contention; a GRU ran 25x slower
oversubscribed on the 2-core build machine. So count the cores this process may use
(affinity and cgroup quota), subtract what other processes are using, and never go below 1.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def usable_cores() -> int:
    """Cores this process may run on: affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over the given CPUs, from /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    seen = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            index = int(name[3:])
        except ValueError:
            continue
        if index not in cpus:
            continue
        values = [float(v) for v in rest.split()]
        idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
        total += sum(values[:8])
        busy += sum(values[:8]) - idle
        seen += 1
    return (busy, total) if seen else None


def busy_by_others(sample_s: float = 0.25) -> float | None:
    """Cores' worth of CPU that other processes used over a short sample, or None if unknown."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    first = _cpu_times(cpus)
    own_first = time.process_time()
    if first is None:
        return None
    time.sleep(sample_s)
    second = _cpu_times(cpus)
    own_second = time.process_time()
    if second is None or second[1] <= first[1]:
        return None
    per_core = (second[1] - first[1]) / len(cpus)  # jiffies per core over the interval
    busy_cores = (second[0] - first[0]) / per_core
    own_cores = (own_second - own_first) / max(sample_s, 1e-6)
    return max(0.0, busy_cores - own_cores)


def auto_threads() -> int:
    """Threads for torch: usable cores minus the cores other processes keep busy (at least 1).

    Uses a short /proc/stat sample where available (it reflects now, not the last minute);
    falls back to the 1-minute load average elsewhere.
    """
    cores = usable_cores()
    others = busy_by_others()
    if others is None:
        try:
            others = os.getloadavg()[0]
        except (AttributeError, OSError):
            others = 0.0
    return max(1, min(cores, math.floor(cores - others + 0.5)))
