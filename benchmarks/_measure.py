"""Wall time and peak resident set size of a call, shared by the benchmark scripts.

Peak memory is the peak resident set size above the level before the step, sampled every
2 ms by a background thread (Linux: reads ``/proc/self/statm``).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def measure(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float, object]:
    """Best wall time over ``repeat`` runs, peak RSS increase (bytes) and the last result."""
    gc.collect()
    base = _rss()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    best = float("inf")
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    stop.set()
    thread.join()
    return best, max(peak[0] - base, 0), out
