"""Competing load: CPU-bound processes beside a benchmark, started and stopped by it.

Users rarely have a quiet machine (a browser, a CI job, the other fits of a
grid search), and a thread team that loses a CPU for a time slice stalls at
every barrier.  The suite's ``contention`` benchmarks and
``benchmarks/interleaved.py --load N`` time training while
:func:`competing_processes` keeps busy loops running beside it.
"""

import contextlib
import subprocess
import sys
import time

from fastnn._cpus import available_cpus

#: Seconds the busy loops get to start spinning before timing begins.
SPIN_UP_S = 0.5


def per_cpu():
    """One competing process per CPU this process may use."""
    return available_cpus()


@contextlib.contextmanager
def competing_processes(n):
    """Run ``n`` busy-loop processes (Python ``while True: pass``) for the
    duration of the block; they are killed when it ends.

    Parameters
    ----------
    n : int
        Number of processes (0: none).
    """
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        if procs:
            time.sleep(SPIN_UP_S)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()
