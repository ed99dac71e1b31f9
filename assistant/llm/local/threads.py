"""How many threads the model uses, chosen before each call from the cores nobody else is using."""

import os
import time
from pathlib import Path

from core.settings import get_settings


def threads() -> tuple[int, int]:
    """Threads for generating and for prompt processing, chosen before each call: `ERP_LOCAL_THREADS` if set
    (both), else every core that no other process is using right now (at most 4 and 8). With every core,
    generation is fastest on a quiet machine and collapses as soon as another process wants one of them
    (evals/results/local_model_bench-threads.md), so a core that is busy is left alone."""
    if fixed := get_settings().local_threads:
        return fixed, get_settings().local_batch_threads or fixed
    free = max(1, (os.cpu_count() or 1) - busy_cores())
    return min(4, free), min(8, free)


def busy_cores() -> int:
    """How many other tasks are running right now (Linux: /proc/loadavg, the fewest of three looks 5 ms
    apart, so a passing blip does not count); 0 where that cannot be read."""
    seen = []
    for attempt in range(3):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return 0
        seen.append(running - 1)  # less this thread, which is running to read it
        if attempt < 2:
            time.sleep(0.005)
    return max(0, min(seen))
