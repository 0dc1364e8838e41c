"""How the benchmarks measure: wall time of a call in this process, or of a whole child process
with its peak memory."""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import time
from collections.abc import Callable


def samples(func: Callable[[], object], runs: int) -> list[float]:
    """Wall seconds of `runs` calls, each after a garbage collection (so none pays for another's)."""
    out = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        func()
        out.append(time.perf_counter() - started)
    return out


def median_seconds(func: Callable[[], object], runs: int) -> float:
    return statistics.median(samples(func, runs))


def run_process(argv: list[str], *, capture: bool = True) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB and stdout (empty unless `capture`) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv[:4])} … failed with status {code}")
    return elapsed, usage.ru_maxrss // 1024, out
