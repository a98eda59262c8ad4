"""Fit time of fastnn.MLPClassifier/MLPRegressor against scikit-learn's own, side by side.

The same estimator parameters, the same data and the same BLAS thread count
for both; every case trains the 784-30-10 logistic network (``hidden_layer_sizes=(30,),
activation='logistic'``, softmax output) for a fixed number of epochs (``tol=0``
and a large ``n_iter_no_change``, so neither stops early) and reports the median
fit time over the repeats, the training samples per second, the speed-up and the
test accuracy of each.  (fastnn's float32 'sgd' and 'adam' epochs flush
denormals to zero, which matters where training makes them: Adam at small
batches.)  Data: MNIST, 5,000 training images (``--mnist DIR``,
a directory with ``mnist_5k_train_subset.npz`` and the t10k IDX files, as in
/work/shared/data/mnist) tested on the 10,000 t10k images, pixels scaled to
[0, 1], float32; without ``--mnist``, synthetic data of the same shapes.
``--estimator regressor`` trains the MLPRegressors instead, on the one-hot
rows of the labels (10 outputs, squared error, identity output layer), and
reports the test R².
'lbfgs' runs ``--lbfgs-iter`` iterations, full batch.  Run as::

    python benchmarks/sklearn_speed.py --mnist /work/shared/data/mnist --threads 1

and it prints a markdown table (the one in benchmarks/README.md).
"""

import argparse
import gzip
import os
import statistics
import time
import warnings

import numpy as np
from sklearn import neural_network as sk_nn
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import fastnn

# (solver, batch size, epochs, learning_rate_init)
CASES = [("sgd", 1, 1, 0.01), ("sgd", 10, 3, 0.01), ("sgd", 32, 5, 0.05),
         ("sgd", 200, 10, 0.1), ("adam", 1, 1, 0.001), ("adam", 10, 3, 0.001),
         ("adam", 32, 5, 0.001), ("adam", 200, 10, 0.001), ("lbfgs", None, None, None)]


def load_data(mnist_dir, dtype=np.float32):
    """(X_train, y_train, X_test, y_test): MNIST 5k/10k, or synthetic of the same shapes."""
    if mnist_dir is None:
        rng = np.random.default_rng(0)
        centers = rng.random((10, 784))
        y = rng.integers(0, 10, 15_000)
        X = np.clip(centers[y] + 0.3 * rng.standard_normal((15_000, 784)), 0, 1)
        return X[:5000].astype(dtype), y[:5000], X[5000:].astype(dtype), y[5000:]
    train = np.load(os.path.join(mnist_dir, "mnist_5k_train_subset.npz"))
    with gzip.open(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")) as f:
        X_test = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        y_test = np.frombuffer(f.read(), np.uint8, offset=8)
    return ((train["X"] / 255).astype(dtype), train["y"].astype(np.int64),
            (X_test / 255).astype(dtype), y_test.astype(np.int64))


def params_for(solver, batch_size, epochs, lr, lbfgs_iter):
    params = dict(hidden_layer_sizes=(30,), activation="logistic", solver=solver,
                  random_state=0, tol=0.0, n_iter_no_change=10_000)
    if solver == "lbfgs":
        params["max_iter"] = lbfgs_iter
    else:
        params.update(batch_size=batch_size, max_iter=epochs, learning_rate_init=lr)
    return params


ESTIMATORS = {"classifier": (fastnn.MLPClassifier, sk_nn.MLPClassifier),
              "regressor": (fastnn.MLPRegressor, sk_nn.MLPRegressor)}


def implementations(estimator):
    """(name, class) of each implementation compared."""
    ours, theirs = ESTIMATORS[estimator]
    return (("fastnn", ours), ("sklearn", theirs))


def time_fits(estimator, params, X, y, repeats):
    """Median fit time (s) of each implementation, and its last fitted estimator.

    The implementations take turns within each repeat, so that the load of a
    shared machine falls on all of them alike.
    """
    times = {name: [] for name, _ in implementations(estimator)}
    fitted = {}
    for _ in range(repeats):
        for name, cls in implementations(estimator):
            est = cls(**params)
            start = time.perf_counter()
            est.fit(X, y)
            times[name].append(time.perf_counter() - start)
            fitted[name] = est
    return {name: statistics.median(t) for name, t in times.items()}, fitted


def run(estimator, X, y, X_test, y_test, repeats, lbfgs_iter, cases):
    """Time every case, print its table row as it finishes; return the rows."""
    rows = []
    for solver, batch_size, epochs, lr in cases:
        params = params_for(solver, batch_size, epochs, lr, lbfgs_iter)
        row = {"solver": solver, "batch": batch_size or len(y)}
        seconds, fitted = time_fits(estimator, params, X, y, repeats)
        for name, est in fitted.items():
            samples = len(y) * (est.n_iter_ if solver != "lbfgs" else 1)
            row[name] = dict(seconds=seconds[name],
                             rate=samples / seconds[name] if solver != "lbfgs" else None,
                             accuracy=est.score(X_test, y_test), n_iter=est.n_iter_)
        row["speedup"] = row["sklearn"]["seconds"] / row["fastnn"]["seconds"]
        rows.append(row)
        print_row(row, flush=True)
    return rows


HEADER = ("| solver | batch | epochs | fit (s): fastnn | scikit-learn "
          "| samples/s: fastnn | scikit-learn | speed-up "
          "| test score: fastnn | scikit-learn |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _rate(r):
    return "-" if r is None else "{:,.0f}".format(r)


def print_row(row, flush=False):
    f, s = row["fastnn"], row["sklearn"]
    epochs = "%d iter." % f["n_iter"] if row["solver"] == "lbfgs" else str(f["n_iter"])
    print("| %s | %d | %s | %.3f | %.3f | %s | %s | %.1f× | %.4f | %.4f |"
          % (row["solver"], row["batch"], epochs, f["seconds"], s["seconds"],
             _rate(f["rate"]), _rate(s["rate"]), row["speedup"], f["accuracy"],
             s["accuracy"]), flush=flush)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", default=None, help="directory of the MNIST files")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    parser.add_argument("--estimator", default="classifier", choices=list(ESTIMATORS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lbfgs-iter", type=int, default=50)
    parser.add_argument("--cases", default=None,
                        help="comma-separated solver:batch, e.g. sgd:1,adam:200,lbfgs:0")
    args = parser.parse_args()
    cases = CASES
    if args.cases:
        wanted = {tuple(c.split(":")) for c in args.cases.split(",")}
        cases = [c for c in CASES if (c[0], str(c[1] or 0)) in wanted]
    X, y, X_test, y_test = load_data(args.mnist)
    if args.estimator == "regressor":
        y, y_test = (np.eye(10, dtype=np.float32)[labels] for labels in (y, y_test))
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("MLP%s, %d training samples, %d test (score: %s), float32, %d BLAS thread(s), "
          "median of %d fits; fastnn %s" % (
              args.estimator.capitalize(), len(y), len(y_test),
              "accuracy" if args.estimator == "classifier" else "R²", args.threads,
              args.repeats, fastnn.__version__))
    print(HEADER)
    with threadpool_limits(args.threads):
        run(args.estimator, X, y, X_test, y_test, args.repeats, args.lbfgs_iter, cases)


if __name__ == "__main__":
    main()
