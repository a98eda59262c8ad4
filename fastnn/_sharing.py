"""One model, several Python threads: per-call workspaces and a guard for training.

The compiled kernels release the GIL, so two threads can run them at once on
one model.  A model's kernels need scratch buffers for a batch (activations,
deltas, a gathered batch of targets); when those were one set per model, two
threads predicting at once wrote into each other's activations and returned
wrong labels, silently.  :class:`Workspaces` lends each call its own set:
a set is borrowed for the call and given back after it, so concurrent calls
never share one, and a later call of the same batch size reuses it (no
allocation per call in the steady state, none per batch ever).

Training writes the weights that predictions read.  :class:`UseGuard` lets
any number of threads read a model at once (``predict``, ``predict_proba``,
``evaluate``) and one thread change it (``fit``, ``gradients``,
``set_weights``): a change waits for the reads in progress to end (they are
short), and a read or a change asked for while another thread is training
raises ``RuntimeError`` saying so, rather than waiting for a whole ``fit`` or
reading half-updated weights.  The training thread itself may read (a
callback that evaluates, validation data).

Both pickle as new, empty objects: locks and scratch buffers are not state.
"""

import contextlib
import threading

import numpy as np

from fastnn._kernels import train as _train


class Workspaces:
    """Scratch buffers for batches of a network, lent to one call at a time.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, inputs first.
    dtype : numpy dtype
    dropped_units : int, default 0
        Units of the layers followed by dropout, in all (their dropped
        activations and masks, ``dropout``).
    normed_units : int, default 0
        Units of the normalized layers, in all (``norm``: x̂, the normalized
        outputs and the batch statistics).
    keep_preacts : bool, default False
        Give each set a ``preacts`` buffer sized like ``deltas``: the
        pre-activations that a GELU layer's backward pass reads (train.pyx).
    """

    #: Free sets kept per batch size, and batch sizes kept: training batches
    #: and prediction chunks alternate when there is validation data.
    KEEP_PER_SIZE = 4
    KEEP_SIZES = 2

    def __init__(self, sizes, dtype, dropped_units=0, normed_units=0, keep_preacts=False):
        self.sizes = tuple(int(s) for s in sizes)
        self.dtype = np.dtype(dtype)
        self.dropped_units = int(dropped_units)
        self.normed_units = int(normed_units)
        self.keep_preacts = bool(keep_preacts)
        self._lock = threading.Lock()
        self._free = {}         # batch size -> list of free sets

    def __reduce__(self):
        return (type(self), (self.sizes, self.dtype, self.dropped_units, self.normed_units,
                             self.keep_preacts))

    def _make(self, batch_size):
        sizes = self.sizes
        return {
            "acts": np.empty(batch_size * sum(sizes), self.dtype),
            "deltas": np.empty(batch_size * sum(sizes[1:]), self.dtype),
            "y_batch": np.empty(batch_size * sizes[-1], self.dtype),
            # a second set of batch buffers: the batch-1 fusion's second
            # input row, the gather-ahead's second batch (train.pyx)
            "spare": np.empty(_train.spare_size(batch_size, sizes[0], sizes[-1]), self.dtype),
            # dropout: the dropped activations, then the masks (train.pyx)
            "dropout": np.empty(2 * batch_size * self.dropped_units, self.dtype),
            # normalization: x̂, the normalized outputs, the batch statistics
            "norm": np.empty(_train.norm_buffer_size(batch_size, self.normed_units),
                             self.dtype),
            # GELU's pre-activations, laid out like the deltas (train.pyx)
            "preacts": np.empty(batch_size * sum(sizes[1:]) if self.keep_preacts else 0,
                                self.dtype),
        }

    @contextlib.contextmanager
    def borrow(self, batch_size):
        """Context manager: a set of buffers for batches of up to
        ``batch_size`` rows, this caller's alone until the block ends.

        Yields
        ------
        dict
            ``acts``, ``deltas``, ``y_batch``, ``spare``, ``dropout``, ``norm`` and
            ``preacts``: 1-d arrays of the sizes the compiled training loop expects.
        """
        with self._lock:
            free = self._free.get(batch_size)
            ws = free.pop() if free else None
        if ws is None:
            ws = self._make(batch_size)
        try:
            yield ws
        finally:
            with self._lock:
                free = self._free.pop(batch_size, [])   # re-inserted: most recent last
                if len(free) < self.KEEP_PER_SIZE:
                    free.append(ws)
                self._free[batch_size] = free
                while len(self._free) > self.KEEP_SIZES:
                    self._free.pop(next(iter(self._free)))

    def clear(self):
        """Drop the free sets (a full-batch set can be large)."""
        with self._lock:
            self._free.clear()


class UseGuard:
    """Many readers or one writer (re-entrant for the writer's thread), and a
    clear error instead of waiting for a whole training run.

    Parameters
    ----------
    what : str
        What is guarded, for the messages (``"this model"``).
    """

    def __init__(self, what="this model"):
        self.what = what
        self._cond = threading.Condition(threading.Lock())
        self._readers = {}      # thread id -> reads in progress
        self._writer = None     # thread id of the writer
        self._depth = 0         # the writer's nested writes

    def __reduce__(self):
        return (type(self), (self.what,))

    def _refuse_if_changed_elsewhere(self, me, action):
        """Raise when a thread other than ``me`` is changing the model (under the lock)."""
        if self._writer is not None and self._writer != me:
            raise RuntimeError(
                "cannot %s: another thread is training %s; wait until its fit returns "
                "(or work on a copy: fastnn.save and fastnn.load, or copy.deepcopy)"
                % (action, self.what))

    @contextlib.contextmanager
    def reading(self, action):
        """Context manager for a read (``action`` names it in the error).

        Raises
        ------
        RuntimeError
            When another thread is changing the model.
        """
        me = threading.get_ident()
        with self._cond:
            self._refuse_if_changed_elsewhere(me, action)
            self._readers[me] = self._readers.get(me, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                if self._readers[me] == 1:
                    del self._readers[me]
                    self._cond.notify_all()
                else:
                    self._readers[me] -= 1

    @contextlib.contextmanager
    def writing(self, action):
        """Context manager for a change: waits for other threads' reads to end.

        Raises
        ------
        RuntimeError
            When another thread is changing the model.
        """
        me = threading.get_ident()
        with self._cond:
            self._refuse_if_changed_elsewhere(me, action)
            self._writer = me       # no new reads from other threads from here on
            self._depth += 1
            self._cond.wait_for(lambda: all(t == me for t in self._readers))
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
