"""Clocks and memory meters for the benchmark.

Memory is resident set size (RSS) from /proc/self/status, which sees what torch's
C++ allocator takes as well as Python objects (tracemalloc sees only the latter).
The peak of one call is measured by resetting the kernel's high-water mark
(``echo 5 > /proc/self/clear_refs``) just before it and reading VmHWM after it;
freed heap is handed back first (gc, malloc_trim) so the starting RSS is honest.
"""
from __future__ import annotations

import ctypes
import gc
import re
import statistics
import time
import tracemalloc
from typing import Any, Callable

_STATUS = "/proc/self/status"


def _status_kb(field: str) -> int | None:
    try:
        with open(_STATUS) as f:
            found = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def rss_bytes() -> int | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def peak_bytes() -> int | None:
    kb = _status_kb("VmHWM")
    return None if kb is None else kb * 1024


def reset_peak() -> bool:
    """Start a new RSS high-water mark at the current RSS (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def timed_call(call: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds), in the process's natural state: no gc.collect() and no heap
    trimming before the call (measured: either makes the next call slower by up to 1 ms,
    more so for the tools that allocate most)."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def measured_call(call: Callable[[], Any]) -> tuple[Any, float, int | None]:
    """(result, seconds, peak RSS above the RSS just before the call, in bytes)."""
    _trim()
    before = rss_bytes()
    can_peak = reset_peak()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peak = peak_bytes() if can_peak else None
    extra = None if peak is None or before is None else max(0, peak - before)
    return result, seconds, extra


def traced_peak(call: Callable[[], Any]) -> int:
    """Peak bytes of Python allocations (tracemalloc) during one call: the objects a
    tool builds, which RSS hides once the heap has grown to fit them."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
