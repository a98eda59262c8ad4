"""Data-parallel training checks, run on several MPI ranks by tests/test_distributed.py.

    mpiexec -n 2 python tests/mpi/data_parallel.py CHECK DIR

CHECK is one of:

* ``same-as-one-process``: on uneven shards (rank r holds a share growing
  with r, rank 0 a handful of rows, so that many steps have none of its rows)
  with a short last batch, Sequential.fit with ``comm`` gives on every rank
  the bits of every other rank and, within 1e-12 (float64) or 1e-5 (float32)
  of the largest weight, the weights and loss history of one process
  training on the whole set with the same seed; for SGD, momentum
  (Nesterov) and Adam.
* ``weights-and-labels``: string labels (rank 0's shard missing a class),
  sample weights and ``class_weight='balanced'`` on uneven shards: the
  weights and classes_ of one process on the whole set (1e-12), with Adam.
* ``dropout``: a model with Dropout on uneven shards: the weights of one
  process (1e-12; the masks are keyed by each sample's row in the whole set).
* ``activations-and-losses``: GELU (its pre-activations kept per rank),
  LeakyReLU(0.2) and Softplus layers with the cross-entropy from logits, and
  with Huber's loss, on uneven shards: the weights of one process (1e-12),
  and the same probabilities from predict_proba.
* ``local-sgd``: fit with ``local_steps=4`` (SGD) equals, within 1e-12,
  plain gradient-descent steps on each rank's own batches (the plan of
  DataParallel.epoch_local) with the weights averaged over the ranks every
  4 steps and at each epoch's end; replicas agree.
* ``checkpoint``: 2 epochs with a Checkpoint callback, then every rank loads
  the file and trains 2 more: the same bits as 4 epochs without the stop.
* ``sklearn``: MLPClassifier ('sgd' with momentum, 'adam'; with sample
  weights; rank 0's shard missing a class; 'adam' with early stopping) and
  MLPRegressor ('adam'; 'sgd' with early stopping) fitted with ``comm`` on
  uneven shards match one process's fit on the whole set (classes,
  iterations, loss curve, validation scores, weights within 1e-10 of the
  largest).
* ``validation``: fit with each rank's shard of the validation data and
  early stopping stops at the epoch one process stops at, with its val_loss
  history and weights; with validation_split, the replicas agree.
* ``sharded-predict``: predict, predict_proba and evaluate on uneven shards
  give every rank the whole set's outputs (rank order) and figures, as one
  process computes them.
* ``gradient-sum``: the gradient sum that fit makes after each step
  (fastnn.distributed's reducer, csrc/allreduce.h) gives every rank the sum
  over the ranks of the slice it updates (all of it, or its slice of the
  node-shared model), and the model's grads the whole sum at the end, for
  float32 and float64 buffers of lengths around the slices' 16-element
  bounds; between ranks on one machine, through the node-shared windows
  unless FASTNN_MPI_SHARED_REDUCE=0 is set.
* ``shared-products``: with FASTNN_MPI_SHARED_PRODUCTS=1, ranks of one
  machine combine each step by the shared products (each rank the gradient
  of its rows of every W and elements of every b, from every rank's rows) and
  still train as one process: SGD (fused into the products), momentum,
  Adam, AdamW, RMSprop, Adagrad, weight decay and clip_value, float32 and
  float64, layers with fewer units than ranks, dropout, sample weights,
  steps without rows on rank 0; the products are used only where allowed
  (not with a normalization layer), and the model's grads after fit are the
  last step's gradient.
* ``two-machines`` (4 ranks): the ranks pretend to be 2 machines of 2 ranks
  (``fastnn.distributed._node_comm`` replaced), so the node-shared sum is
  hierarchical (MPI_Allreduce between the machines); then ``gradient-sum``
  and ``same-as-one-process``.
* ``digest``: rank 0 writes a digest of the weights after a fixed training
  to DIR/digest (the test compares two runs).
* ``threaded-digest``: the same for a network whose products are large
  enough for fastnn's threads, each rank on DIGEST_THREADS threads (the
  machine's CPUs made to count DIGEST_THREADS per rank, so that fit's share
  cap allows them; checked during fit); the test compares 1 and 2 threads.
* ``bad-input``: rank 1's shard has a NaN; every rank must raise ValueError
  before any step, rank 1 naming the row, the others naming rank 1.
* ``raise-mid-training``: rank 1 raises in a callback after its first epoch;
  the job must end (MPI_Abort) instead of hanging.
* ``threads``: during fit each rank's threads are its share of the machine's
  CPUs (all ranks run on this machine), and the count is restored after.
* ``killed-mid-training``: rank 1 is killed (SIGKILL) after its first epoch;
  the job must end (the launcher's doing) instead of hanging.

Each rank writes the file DIR/ok-<rank> when the check passed on it (files,
not output: the ranks' output lines interleave).
"""

import hashlib
import os
import signal
import sys

import numpy as np
from mpi4py import MPI

import fastnn
import fastnn.distributed

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def _data(n=1003, n_in=12, classes=4):
    rng = np.random.default_rng(7)
    return rng.random((n, n_in)), rng.integers(0, classes, n)


def _uneven_rows(n):
    """Rank r's slice: shares 1, 2, ..., P (rank 0 capped at 9 rows when not alone)."""
    weights = np.arange(1, SIZE + 1, dtype=float)
    bounds = np.concatenate([[0], np.cumsum(weights)]) / weights.sum() * n
    bounds = np.round(bounds).astype(int)
    if SIZE > 1:
        bounds[1] = min(bounds[1], 9)
    return slice(bounds[RANK], bounds[RANK + 1])


def _model(dtype):
    return fastnn.Sequential([fastnn.Dense(12, 10), fastnn.Tanh(), fastnn.Dense(10, 4),
                              fastnn.Softmax()], dtype=dtype, seed=3)


OPTIMIZERS = {
    "sgd": lambda: fastnn.SGD(0.2),
    "nesterov": lambda: fastnn.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: fastnn.Adam(3e-3),
}


def same_as_one_process(folder):
    X, y = _data()
    rows = _uneven_rows(len(X))
    for dtype, tolerance in (("float64", 1e-12), ("float32", 1e-5)):
        for name, make in OPTIMIZERS.items():
            alone = _model(dtype)
            expected = alone.fit(X, y, "cce", make(), epochs=3, batch_size=16, verbose=0)
            shared = _model(dtype)
            got = shared.fit(X[rows], y[rows], "cce", make(), epochs=3, batch_size=16,
                             verbose=0, comm=COMM)
            assert fastnn.distributed.replicas_agree(shared.params, COMM), (dtype, name)
            scale = np.abs(alone.params).max()
            error = np.abs(shared.params.astype(float) - alone.params).max() / scale
            assert error <= tolerance, (dtype, name, error)
            for key in ("loss", "accuracy"):
                np.testing.assert_allclose(got.history[key], expected.history[key],
                                           rtol=100 * tolerance, err_msg=key)


def weights_and_labels(folder):
    X, y = _data()
    y[:9] = 0
    names = np.array(["ant", "bee", "cat", "dog"])[y]
    weights = np.random.default_rng(5).uniform(0.0, 2.0, len(X))
    rows = _uneven_rows(len(X))
    kwargs = dict(epochs=3, batch_size=16, verbose=0, class_weight="balanced")
    alone = _model("float64")
    alone.fit(X, names, "cce", fastnn.Adam(3e-3), sample_weight=weights, **kwargs)
    shared = _model("float64")
    shared.fit(X[rows], names[rows], "cce", fastnn.Adam(3e-3), sample_weight=weights[rows],
               comm=COMM, **kwargs)
    np.testing.assert_array_equal(shared.classes_, alone.classes_)
    assert fastnn.distributed.replicas_agree(shared.params, COMM)
    error = np.abs(shared.params - alone.params).max() / np.abs(alone.params).max()
    assert error <= 1e-12, error


def dropout(folder):
    X, y = _data()
    rows = _uneven_rows(len(X))

    def model():
        return fastnn.Sequential([fastnn.Dense(12, 10), fastnn.Tanh(), fastnn.Dropout(0.4),
                                  fastnn.Dense(10, 4), fastnn.Softmax()], dtype="float64",
                                 seed=3)

    alone, shared = model(), model()
    alone.fit(X, y, "cce", fastnn.Adam(3e-3), epochs=3, batch_size=16, verbose=0)
    shared.fit(X[rows], y[rows], "cce", fastnn.Adam(3e-3), epochs=3, batch_size=16,
               verbose=0, comm=COMM)
    assert fastnn.distributed.replicas_agree(shared.params, COMM)
    error = np.abs(shared.params - alone.params).max() / np.abs(alone.params).max()
    assert error <= 1e-12, error


def activations_and_losses(folder):
    X, y = _data()
    rows = _uneven_rows(len(X))
    targets = np.random.default_rng(3).standard_normal((len(X), 4))

    def model():
        return fastnn.Sequential([fastnn.Dense(12, 10), fastnn.GELU(), fastnn.Dense(10, 8),
                                  fastnn.LeakyReLU(0.2), fastnn.Dense(8, 6), fastnn.Softplus(),
                                  fastnn.Dense(6, 4)], dtype="float64", seed=3)

    for loss, Y in ((fastnn.CrossEntropyFromLogitsLoss(), y), (fastnn.HuberLoss(0.5), targets)):
        alone, shared = model(), model()
        alone.fit(X, Y, loss, fastnn.Adam(3e-3), epochs=3, batch_size=16, verbose=0)
        shared.fit(X[rows], Y[rows], loss, fastnn.Adam(3e-3), epochs=3, batch_size=16,
                   verbose=0, comm=COMM)
        assert fastnn.distributed.replicas_agree(shared.params, COMM)
        error = np.abs(shared.params - alone.params).max() / np.abs(alone.params).max()
        assert error <= 1e-12, (loss, error)
        np.testing.assert_allclose(shared.predict_proba(X), alone.predict_proba(X), rtol=1e-10)


def local_sgd(folder):
    from fastnn.distributed import DataParallel
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)
    X_mine, y_mine = X[rows], y[rows]
    k, lr, epochs, batch = 4, 0.2, 2, 64
    model = _model("float64")
    model.fit(X_mine, y_mine, "cce", fastnn.SGD(lr), epochs=epochs, batch_size=batch,
              verbose=0, comm=COMM, local_steps=k)
    assert fastnn.distributed.replicas_agree(model.params, COMM)

    ref = _model("float64")           # the same steps, by hand
    plan = DataParallel(COMM, k)
    plan.begin(ref, len(X_mine), fastnn.SGD(lr))
    for _ in range(epochs):
        ref._rng.permutation(len(X))   # fit draws the global order each epoch
        order, counts, _ = plan.epoch_local(batch, True)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for s0 in range(0, len(counts), k):
            for s in range(s0, min(len(counts), s0 + k)):
                idx = order[offsets[s]:offsets[s + 1]]
                for layer, (dW, db) in zip(ref.dense, ref.gradients(X_mine[idx], y_mine[idx],
                                                                    "cce")):
                    layer.W -= lr * dW
                    layer.b -= lr * db
            plan.average(ref.params)
    error = np.abs(model.params - ref.params).max() / np.abs(ref.params).max()
    assert error <= 1e-12, error


def gradient_sum(folder):
    from fastnn._kernels import train
    from fastnn.distributed import SHARED_REDUCE_ENV, DataParallel
    node = fastnn.distributed._node_comm(COMM)      # this machine's ranks (or pretend)
    node_ranks, node_rank = node.Get_size(), node.Get_rank()
    node.Free()
    shared = os.environ.get(SHARED_REDUCE_ENV) != "0" and node_ranks > 1
    rng = np.random.default_rng(RANK)
    for dtype in ("float32", "float64"):
        for n in (1, 15, 16, 17, 47, 1000, 4099):
            mine = rng.integers(-1000, 1000, n).astype(dtype)   # sums exact in any order
            expected = np.sum(COMM.allgather(mine), axis=0)
            params, grads = np.zeros(n, dtype), np.zeros(n, dtype)
            dp = DataParallel(COMM)
            with dp.training(params, grads):
                assert (dp.buffers[1] is not grads) == shared
                dp.buffers[1][...] = mine
                lo, hi = train.reduce_gradients(dp.buffers[1], dp.reducer)
                assert (lo, hi) == ((0, n) if not shared else
                                    tuple(train.slice_bounds(n, node_ranks)[
                                        node_rank:node_rank + 2]))
                np.testing.assert_array_equal(dp.buffers[1][lo:hi], expected[lo:hi],
                                              err_msg=(dtype, n))
            np.testing.assert_array_equal(grads, expected)   # gathered at the end


def shared_products(folder):
    from fastnn.distributed import SHARED_PRODUCTS_ENV, DataParallel
    assert os.environ.get(SHARED_PRODUCTS_ENV) == "1"
    X, y = _data()
    rows = _uneven_rows(len(X))        # rank 0 has rows in its first step only
    weights = np.random.default_rng(5).uniform(0.5, 2.0, len(X))

    def model(dtype, width=10, norm=False):
        return fastnn.Sequential(
            [fastnn.Dense(12, width), fastnn.Tanh()]
            + ([fastnn.LayerNorm()] if norm else [])
            + [fastnn.Dropout(0.25), fastnn.Dense(width, 4), fastnn.Softmax()],
            dtype=dtype, seed=3)

    # the products only where they are allowed: one machine, no normalization layer
    for norm, wanted in ((False, True), (True, False)):
        m = model("float64", norm=norm)
        dp = DataParallel(COMM)
        dp.begin(m, len(X[rows]), fastnn.SGD(0.1))
        layers = None if "norm" in m._layout else m._layout["sizes"]
        with dp.training(m.params, m.grads, layers=layers):
            dp.epoch(np.arange(len(X)), 16)
            assert bool(dp.products_args(0, 3)) == wanted, norm

    optimizers = {
        "sgd": lambda: fastnn.SGD(0.2),
        "momentum": lambda: fastnn.SGD(0.05, momentum=0.9, weight_decay=1e-3, clip_value=0.05),
        "adam": lambda: fastnn.Adam(3e-3),
        "adamw": lambda: fastnn.AdamW(3e-3),
        "rmsprop": lambda: fastnn.RMSprop(1e-3, momentum=0.5),
        "adagrad": lambda: fastnn.Adagrad(0.05),
    }
    for dtype, tolerance in (("float64", 1e-12), ("float32", 1e-5)):
        for name, make in optimizers.items():
            for width, sw in ((10, None), (2, weights)):    # 2 units: a rank owns none
                alone = model(dtype, width)
                alone.fit(X, y, "cce", make(), epochs=2, batch_size=16, verbose=0,
                          sample_weight=sw)
                shared = model(dtype, width)
                shared.fit(X[rows], y[rows], "cce", make(), epochs=2, batch_size=16,
                           verbose=0, comm=COMM,
                           sample_weight=None if sw is None else sw[rows])
                assert fastnn.distributed.replicas_agree(shared.params, COMM), (dtype, name)
                scale = np.abs(alone.params).max()
                error = np.abs(shared.params.astype(float) - alone.params).max() / scale
                assert error <= tolerance, (dtype, name, width, error)
                if name != "sgd":      # the fused step writes no gradient of W
                    scale = np.abs(alone.grads).max()
                    error = np.abs(shared.grads.astype(float) - alone.grads).max() / scale
                    assert error <= 100 * tolerance, (dtype, name, width, "grads", error)


def two_machines(folder):
    assert SIZE == 4
    fastnn.distributed._node_comm = lambda comm: comm.Split(comm.Get_rank() // 2,
                                                            key=comm.Get_rank())
    gradient_sum(folder)
    same_as_one_process(folder)


def checkpoint(folder):
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)
    straight = _model("float64")
    straight.fit(X[rows], y[rows], "cce", fastnn.Adam(3e-3), epochs=4, batch_size=32,
                 verbose=0, comm=COMM)
    path = os.path.join(folder, "checkpoint.npz")
    first = _model("float64")
    first.fit(X[rows], y[rows], "cce", fastnn.Adam(3e-3), epochs=2, batch_size=32,
              verbose=0, comm=COMM, callbacks=[fastnn.distributed.Checkpoint(path, COMM)])
    resumed = fastnn.load(path)
    resumed.fit(X[rows], y[rows], "cce", resumed.optimizer, epochs=2, batch_size=32,
                verbose=0, comm=COMM)
    np.testing.assert_array_equal(resumed.params, straight.params)


def sklearn(folder):
    import warnings

    from fastnn import MLPClassifier, MLPRegressor
    X, y = _data()
    y[:9] = 0                       # rank 0's few rows hold one class only
    rows = _uneven_rows(len(X))
    weights = np.random.default_rng(5).uniform(0.5, 2.0, len(X))
    cases = [
        (MLPClassifier, dict(solver="sgd", momentum=0.9, learning_rate_init=0.05), None),
        (MLPClassifier, dict(solver="adam"), weights),
        (MLPClassifier, dict(solver="sgd", class_weight="balanced"), weights),
        (MLPRegressor, dict(solver="adam"), None),
        (MLPClassifier, dict(solver="adam", early_stopping=True, max_iter=60,
                             n_iter_no_change=2, learning_rate_init=0.05), weights),
        (MLPRegressor, dict(solver="sgd", early_stopping=True, max_iter=60,
                            n_iter_no_change=2, validation_fraction=0.2, tol=1e-2), None),
    ]
    for estimator, params, sw in cases:
        target = y if estimator is MLPClassifier else X[:, :2].sum(axis=1)
        kwargs = dict(hidden_layer_sizes=(10,), batch_size=16, random_state=0,
                      **{"max_iter": 6, **params})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # ConvergenceWarning: few iterations
            alone = estimator(**kwargs).fit(X, target, sample_weight=sw)
            shared = estimator(**kwargs).fit(
                X[rows], target[rows], sample_weight=None if sw is None else sw[rows],
                comm=COMM)
        if estimator is MLPClassifier:
            np.testing.assert_array_equal(shared.classes_, alone.classes_)
        assert shared.n_iter_ == alone.n_iter_
        np.testing.assert_allclose(shared.loss_curve_, alone.loss_curve_, rtol=1e-10)
        if params.get("early_stopping"):   # stopped early, on one process's scores
            assert alone.n_iter_ < params["max_iter"], alone.n_iter_
            np.testing.assert_allclose(shared.validation_scores_, alone.validation_scores_,
                                       rtol=1e-10)
        got = np.concatenate([W.ravel() for W in shared.coefs_ + shared.intercepts_])
        want = np.concatenate([W.ravel() for W in alone.coefs_ + alone.intercepts_])
        assert fastnn.distributed.replicas_agree(got, COMM)
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error <= 1e-10, (estimator.__name__, params, error)


def validation(folder):
    X, y = _data()
    X_val, y_val = X[800:], y[800:]
    X, y = X[:800], y[:800]
    rows = _uneven_rows(len(X))
    val_rows = fastnn.distributed.shard_range(len(X_val), COMM)
    kwargs = dict(epochs=30, batch_size=16, verbose=0, patience=2, min_delta=1e-3)
    alone = _model("float64")
    expected = alone.fit(X, y, "cce", fastnn.SGD(0.5), validation_data=(X_val, y_val),
                         **kwargs)
    shared = _model("float64")
    got = shared.fit(X[rows], y[rows], "cce", fastnn.SGD(0.5), comm=COMM,
                     validation_data=(X_val[val_rows], y_val[val_rows]), **kwargs)
    assert got.stopped_epoch == expected.stopped_epoch, (got.stopped_epoch,
                                                         expected.stopped_epoch)
    np.testing.assert_allclose(got.history["val_loss"], expected.history["val_loss"],
                               rtol=1e-10)
    error = np.abs(shared.params - alone.params).max() / np.abs(alone.params).max()
    assert error <= 1e-12, error
    split = _model("float64")
    split.fit(X[rows], y[rows], "cce", fastnn.SGD(0.5), comm=COMM, validation_split=0.2,
              **kwargs)
    assert fastnn.distributed.replicas_agree(split.params, COMM)


def sharded_predict(folder):
    X, y = _data()
    rows = _uneven_rows(len(X))
    model = _model("float64")
    model.fit(X, y, "cce", fastnn.SGD(0.2), epochs=2, verbose=0)
    np.testing.assert_allclose(model.predict_proba(X[rows], comm=COMM), model.predict_proba(X),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(model.predict(X[rows], comm=COMM), model.predict(X))
    got, expected = model.evaluate(X[rows], y[rows], comm=COMM), model.evaluate(X, y)
    assert got["accuracy"] == expected["accuracy"], (got, expected)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-12)


def digest(folder):
    X, y = _data()
    model = _model("float64")
    rows = fastnn.distributed.shard_range(len(X), COMM)
    model.fit(X[rows], y[rows], "cce", fastnn.Adam(3e-3), epochs=2, batch_size=32,
              verbose=0, comm=COMM)
    if RANK == 0:
        with open(os.path.join(folder, "digest"), "w") as f:
            f.write(hashlib.sha256(model.params.tobytes()).hexdigest())


def threaded_digest(folder):
    import fastnn._cpus
    threads = int(os.environ["DIGEST_THREADS"])
    fastnn._cpus.available_cpus = lambda: threads * SIZE
    fastnn.set_num_threads(threads, adaptive=False)
    rng = np.random.default_rng(7)
    X, y = rng.random((2048, 64), dtype=np.float32), rng.integers(0, 10, 2048)
    model = fastnn.Sequential([fastnn.Dense(64, 512), fastnn.ReLU(), fastnn.Dense(512, 256),
                               fastnn.ReLU(), fastnn.Dense(256, 10), fastnn.Softmax()],
                              dtype="float32", seed=3)
    rows = fastnn.distributed.shard_range(len(X), COMM)
    seen = []
    model.fit(X[rows], y[rows], "cce", fastnn.Adam(1e-3), epochs=2, batch_size=256, verbose=0,
              callbacks=[lambda epoch, logs: seen.append(fastnn.get_num_threads())], comm=COMM)
    assert seen == [threads, threads], seen
    if RANK == 0:
        with open(os.path.join(folder, "digest"), "w") as f:
            f.write(hashlib.sha256(model.params.tobytes()).hexdigest())


def bad_input(folder):
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)
    X_mine = X[rows].copy()
    if RANK == 1:
        X_mine[5, 3] = np.nan
    model = _model("float64")
    before = model.params.copy()
    try:
        model.fit(X_mine, y[rows], "cce", fastnn.SGD(0.1), epochs=1, verbose=0, comm=COMM)
    except ValueError as exc:
        message = str(exc)
    else:
        raise AssertionError("fit trained on a NaN")
    expected = "in row 5" if RANK == 1 else "rank 1 of %d" % SIZE
    assert expected in message, message
    np.testing.assert_array_equal(model.params, before)


def raise_mid_training(folder):
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)

    def fail_on_rank_1(epoch, logs):
        if RANK == 1 and epoch == 0:
            raise RuntimeError("a callback failed on rank 1")

    _model("float64").fit(X[rows], y[rows], "cce", fastnn.SGD(0.1), epochs=50,
                          batch_size=8, verbose=0, callbacks=[fail_on_rank_1], comm=COMM)
    raise AssertionError("fit went on after rank 1 failed")


def threads(folder):
    from fastnn._cpus import available_cpus
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)
    fastnn.set_num_threads(available_cpus())
    seen = []
    _model("float64").fit(X[rows], y[rows], "cce", fastnn.SGD(0.1), epochs=2, verbose=0,
                          callbacks=[lambda epoch, logs: seen.append(fastnn.get_num_threads())],
                          comm=COMM)
    share = max(1, min(available_cpus(), available_cpus() // SIZE))
    assert seen == [share, share], (seen, share)
    assert fastnn.get_num_threads() == available_cpus()


def killed_mid_training(folder):
    X, y = _data()
    rows = fastnn.distributed.shard_range(len(X), COMM)

    def die_on_rank_1(epoch, logs):
        if RANK == 1 and epoch == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    _model("float64").fit(X[rows], y[rows], "cce", fastnn.SGD(0.1), epochs=50,
                          batch_size=8, verbose=0, callbacks=[die_on_rank_1], comm=COMM)
    raise AssertionError("fit went on after rank 1 died")


if __name__ == "__main__":
    check, folder = sys.argv[1:3]
    {"same-as-one-process": same_as_one_process, "digest": digest, "bad-input": bad_input,
     "raise-mid-training": raise_mid_training, "threads": threads,
     "sharded-predict": sharded_predict, "local-sgd": local_sgd, "checkpoint": checkpoint,
     "sklearn": sklearn, "validation": validation,
     "killed-mid-training": killed_mid_training, "gradient-sum": gradient_sum,
     "two-machines": two_machines, "weights-and-labels": weights_and_labels,
     "dropout": dropout, "activations-and-losses": activations_and_losses,
     "shared-products": shared_products, "threaded-digest": threaded_digest}[check](folder)
    open(os.path.join(folder, "ok-%d" % RANK), "w").close()
