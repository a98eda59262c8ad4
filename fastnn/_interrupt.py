"""Interruptible compiled training: runs of batches cut by time, Ctrl-C taken between them.

The compiled training loop (``_kernels/train.pyx``) runs batch after batch
without the GIL; Python's SIGINT handler cannot run until the loop returns,
so one call over a whole epoch of a large network would hold Ctrl-C for a
minute.  :class:`Chunks` cuts an epoch into runs of whole batches, each
sized from the time the previous runs took to last about ``TARGET_S``
seconds (never less than one batch), so the loop returns to Python several
times a second.  The cut is at batch boundaries only: every batch, hence
every bit of the result, is the same as in one call (the loop's state between
batches is the weights and the optimizer's state, both in the caller's
buffers).  Around each run, :class:`Chunks` also lets fastnn choose the
run's threads on a busy machine, and tells it how fast the run went
(``fastnn._config.load_adapted_threads``); the bits do not depend on it.

:class:`Interruptible` makes the interrupt land at a safe point: while it is
active (in the main thread, over Python's default SIGINT handler), SIGINT
only sets a flag, and :meth:`Interruptible.check` raises
``KeyboardInterrupt`` between runs, after the caller has recorded the run's
results (the step count, the loss sums), so the weights and the optimizer
state always belong to the last completed batch.  A SIGINT handler the user
installed is left alone; outside the main thread nothing is installed (Python
delivers SIGINT to the main thread only).

State: per ``fit`` call, nothing shared between threads.
"""

import signal
import threading
import time

from fastnn._config import load_adapted_threads

#: How long one compiled run of batches should last, in seconds.
TARGET_S = 0.1


class Chunks:
    """Runs of whole batches over positions [start, stop), each sized to last
    about ``TARGET_S`` seconds from the time the previous ones took.

    Parameters
    ----------
    batch_size : int
        Rows per batch (the last batch of [start, stop) may be shorter).
    target_s : float or None
        Seconds one run should last (None: ``TARGET_S``).
    owner : object, optional
        The model trained (the load adaptation's trials of thread counts
        carry over between its epochs and fits).
    """

    def __init__(self, batch_size, target_s=None, owner=None):
        self.batch_size = batch_size
        self.target_s = TARGET_S if target_s is None else target_s
        self.owner = owner
        self.batches = 1              # the next run's batches

    def runs(self, start, stop):
        """Yield (run_start, run_stop) pairs covering [start, stop) in order;
        time each run between one ``next`` and the next."""
        pos = start
        with load_adapted_threads(self.owner) as threads:
            while pos < stop:
                threads.next_run()
                run_stop = min(pos + self.batches * self.batch_size, stop)
                started = time.perf_counter()
                yield pos, run_stop
                elapsed = time.perf_counter() - started
                threads.after_run(run_stop - pos, elapsed)
                self._resize(elapsed)
                pos = run_stop

    def _resize(self, elapsed):
        # grow at most 4x a run (a first batch may be slow: caches, page faults)
        scale = self.target_s / elapsed if elapsed > 0 else 4.0
        self.batches = max(1, min(int(self.batches * min(scale, 4.0)), 1 << 30))


class Interruptible:
    """Context manager: SIGINT becomes a flag that :meth:`check` turns into
    ``KeyboardInterrupt`` at the caller's safe points."""

    def __init__(self):
        self.pending = False
        self._previous = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame):
        self.pending = True

    def check(self):
        """Raise ``KeyboardInterrupt`` if SIGINT arrived since the context began."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if exc_type is None and self.pending:    # arrived after the last check
            self.pending = False
            raise KeyboardInterrupt
        return False
