"""``python -m fastnn demo``: train a handwritten-digit classifier and report.

Two demos:

* default: scikit-learn's 8×8 digits (1,797 real handwritten digits shipped
  inside the scikit-learn package), a 64-128-10 ReLU/softmax network trained
  with Adam on mini-batches of 32;
* ``--mnist DIR``: the textbook network of Nielsen's *Neural Networks and Deep
  Learning*, chapter 1: 784-30-10 sigmoid units, quadratic cost, stochastic
  gradient descent on mini-batches of 10 with learning rate 3.0, on the MNIST
  IDX files in DIR (about 95% test accuracy).

With ``comm`` (``mpiexec -n P python -m fastnn demo --distributed``) either
demo trains data-parallel on the P ranks (fastnn.distributed): each rank keeps
its shard of the training rows and says which; rank 0 reports the rest.
"""

import sys
import time

import fastnn
from fastnn.datasets import load_digits, load_mnist


def _shard(X, y, comm, file):
    """This rank's rows of (X, y) (all without ``comm``); each rank prints its share."""
    if comm is None:
        return X, y
    rows = fastnn.distributed.shard_range(len(X), comm)
    threads = min(fastnn.get_num_threads(), fastnn.distributed.threads_per_rank(comm))
    print("rank %d of %d: training rows %d to %d (%d of %d), %d thread%s" % (
        comm.Get_rank(), comm.Get_size(), rows.start, rows.stop - 1, rows.stop - rows.start,
        len(X), threads, "" if threads == 1 else "s"), file=file, flush=True)
    comm.Barrier()
    return X[rows], y[rows]


def _report(model, X_test, y_test, seconds, n_train, epochs, file):
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    print("test accuracy: %.2f%% (%d of %d digits)" % (
        100 * accuracy, round(accuracy * len(y_test)), len(y_test)), file=file)
    print("training time: %.2f s (%d samples x %d epochs, %s samples/s)" % (
        seconds, n_train, epochs, "{:,.0f}".format(n_train * epochs / seconds)), file=file)
    return accuracy


def digits(epochs=40, seed=0, verbose=1, file=None, comm=None):
    """Train the 8×8-digits classifier; return its test accuracy (data-parallel
    on the ranks of ``comm`` when given: rank 0 reports, the others return None)."""
    file = file or sys.stdout
    lead = comm is None or comm.Get_rank() == 0
    X_train, y_train, X_test, y_test = load_digits(seed=seed)
    model = fastnn.Sequential([fastnn.Dense(64, 128), fastnn.ReLU(),
                               fastnn.Dense(128, 10), fastnn.Softmax()], seed=seed)
    if lead:
        print("scikit-learn digits: %d training and %d test images of 8x8 pixels"
              % (len(y_train), len(y_test)), file=file)
        model.summary(file=file)
    X_mine, y_mine = _shard(X_train, y_train, comm, file)
    started = time.perf_counter()
    model.fit(X_mine, y_mine, fastnn.CrossEntropyLoss(), fastnn.Adam(3e-3), epochs=epochs,
              batch_size=32, verbose=verbose if lead else 0, comm=comm)
    seconds = time.perf_counter() - started
    return _report(model, X_test, y_test, seconds, len(y_train), epochs, file) if lead else None


def mnist(directory, epochs=30, seed=0, verbose=1, file=None, comm=None):
    """Train Nielsen's 784-30-10 sigmoid network on MNIST; return its test accuracy
    (data-parallel on the ranks of ``comm`` when given: rank 0 reports, the
    others return None)."""
    file = file or sys.stdout
    lead = comm is None or comm.Get_rank() == 0
    X_train, y_train, X_test, y_test = load_mnist(directory)
    model = fastnn.Sequential([fastnn.Dense(784, 30), fastnn.Sigmoid(),
                               fastnn.Dense(30, 10), fastnn.Sigmoid()], seed=seed)
    if lead:
        print("MNIST: %d training and %d test images of 28x28 pixels"
              % (len(y_train), len(y_test)), file=file)
        model.summary(file=file)
    X_mine, y_mine = _shard(X_train, y_train, comm, file)
    verbose = verbose if lead else 0

    def show(epoch, logs):
        print("epoch %d: test accuracy %.2f%%" % (
            epoch + 1, 100 * model.evaluate(X_test, y_test)["accuracy"]), file=file)

    started = time.perf_counter()
    model.fit(X_mine, y_mine, fastnn.MSELoss(), fastnn.MiniBatchGD(3.0, batch_size=10),
              epochs=epochs, verbose=verbose, callbacks=[show] if verbose else (), comm=comm)
    seconds = time.perf_counter() - started
    return _report(model, X_test, y_test, seconds, len(y_train), epochs, file) if lead else None
