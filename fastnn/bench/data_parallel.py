"""Data-parallel training speed: P ranks × T threads, timed on each rank.

Run by ``benchmarks/data_parallel.py`` (which starts it under ``mpiexec`` and
lines the layouts up side by side), or directly::

    mpiexec -n 2 python -m fastnn.bench.data_parallel mlp --threads 1 --rounds 3

Each rank builds the same synthetic data set (``training.make_data``), keeps
its shard (``fastnn.distributed.shard_range``) and times ``fit`` with
``comm`` over ``--samples`` rows (one epoch; global batch ``--batch``), after
one untimed warm-up epoch; the wall time of a round is the slowest rank's
(each round starts after a barrier).  Then it times the gradient sum alone
(what one step's costs: ``fit``'s reduction of a buffer of the network's
size, node-shared or ``MPI_Allreduce``, see fastnn.distributed)
and prints one JSON line from rank 0: the layout, the samples/s of each
round, the allreduce µs and the bytes per step.
"""

import argparse
import json
import time

import numpy as np

import fastnn
import fastnn.distributed
from fastnn._kernels import train as _train
from fastnn.bench.cases import NETWORKS
from fastnn.bench.training import fastnn_model, make_data


def _time_gradient_sum(comm, model):
    """µs per gradient sum over the ranks, as fit makes it after each step
    (the node-shared reduction or MPI_Allreduce, fastnn.distributed), and
    the bytes summed."""
    from mpi4py import MPI
    dp = fastnn.distributed.DataParallel(comm)
    with dp.training(np.ones_like(model.params)):
        started = time.perf_counter()
        for _ in range(3):
            _train.reduce_gradients(dp.grads, dp.reducer)
        # every rank must make the same number of calls: rank 0's choice, ~0.5 s
        calls = comm.bcast(max(5, int(0.5 / ((time.perf_counter() - started) / 3))), root=0)
        comm.Barrier()
        started = time.perf_counter()
        for _ in range(calls):
            _train.reduce_gradients(dp.grads, dp.reducer)
        seconds = comm.allreduce((time.perf_counter() - started) / calls, op=MPI.MAX)
        return seconds * 1e6, dp.grads.nbytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    fastnn.set_num_threads(args.threads, adaptive=False)
    net = NETWORKS[args.network]
    X, Y = make_data(net.sizes[0], net.sizes[-1], args.samples, args.dtype)
    rows = fastnn.distributed.shard_range(args.samples, comm)
    X, Y = X[rows], Y[rows]
    model = fastnn_model(net, args.dtype)
    optimizer = fastnn.SGD(net.lr)

    def epoch():
        model.fit(X, Y, net.loss, optimizer, epochs=1, batch_size=args.batch, verbose=0,
                  comm=comm)

    epoch()
    rates = []
    for _ in range(args.rounds):
        comm.Barrier()
        started = time.perf_counter()
        epoch()
        seconds = comm.allreduce(time.perf_counter() - started, op=MPI.MAX)
        rates.append(args.samples / seconds)

    allreduce_us, nbytes = _time_gradient_sum(comm, model)
    if comm.Get_rank() == 0:
        print(json.dumps({"network": net.name, "batch": args.batch, "dtype": args.dtype,
                          "ranks": comm.Get_size(), "threads": args.threads,
                          "samples_per_s": rates, "allreduce_us": allreduce_us,
                          "bytes_per_step": nbytes,
                          "steps_per_epoch": -(-args.samples // args.batch)}), flush=True)


if __name__ == "__main__":
    main()
