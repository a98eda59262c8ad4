"""A scikit-learn grid search over fastnn estimators: ``n_jobs=1`` against ``n_jobs=2``.

``GridSearchCV(MLPClassifier(hidden_layer_sizes=(30,)), ..., n_jobs=k)``: 8
fits (4 candidates × 2 folds) of a 784-30-10 network (scikit-learn's
defaults otherwise: Adam, batches of 200, up to 200 epochs with its stopping
rule) on 5,000 MNIST rows (``--npz FILE`` with arrays X and y, e.g.
``../shared/data/mnist/mnist_5k_train_subset.npz``) or 5,000 MNIST-like
synthetic rows, timed in wall time,
alternating ``n_jobs=1`` and ``n_jobs=2`` round after round.  By default the
search then refits the best candidate on all 5,000 rows in the parent process,
as ``GridSearchCV`` does: a ninth fit, twice as large, that runs the same way
whatever ``n_jobs`` is; ``--no-refit`` times the 8 fits alone.  joblib's worker
processes set ``OMP_NUM_THREADS`` to their share of the CPUs, which fastnn
takes as its default thread count, so two workers on two cores do not start
four threads; and a fit beside a busy CPU takes one thread (fastnn/_cpus.py).

    python benchmarks/grid_search.py --rounds 3 [--npz FILE] [--no-refit]
"""

import argparse
import time

import numpy as np
from sklearn.model_selection import GridSearchCV

from fastnn.sklearn import MLPClassifier


def data(npz, n=5000, seed=0):
    if npz:
        with np.load(npz) as f:
            return (f["X"][:n] / np.float32(255)).astype(np.float32), f["y"][:n]
    rng = np.random.default_rng(seed)      # ten blurred prototypes, pixel noise
    prototypes = rng.random((10, 784)) ** 3
    y = rng.integers(0, 10, n)
    X = np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1)
    return X.astype(np.float32), y


def search(X, y, n_jobs, refit=True):
    grid = GridSearchCV(
        MLPClassifier(hidden_layer_sizes=(30,), random_state=0),
        {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 3e-3]}, cv=2, n_jobs=n_jobs,
        refit=refit)
    start = time.perf_counter()
    grid.fit(X, y)
    return time.perf_counter() - start, grid.best_score_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--npz", help="a .npz file of MNIST rows: X (n, 784) uint8, y (n,)")
    parser.add_argument("--no-refit", dest="refit", action="store_false",
                        help="no refit of the best candidate after the 8 fits")
    args = parser.parse_args(argv)
    import warnings
    warnings.simplefilter("ignore")            # ConvergenceWarning at max_iter
    X, y = data(args.npz)
    times = {1: [], 2: []}
    for _ in range(args.rounds):
        for n_jobs in (1, 2):
            seconds, score = search(X, y, n_jobs, args.refit)
            times[n_jobs].append(seconds)
            print("n_jobs=%d: %.2f s (best score %.3f)" % (n_jobs, seconds, score), flush=True)
    one, two = np.median(times[1]), np.median(times[2])
    print("8 fits of 784-30-10 on %d rows (%s)%s, medians of %d rounds: n_jobs=1 %.2f s, "
          "n_jobs=2 %.2f s, speedup %.2fx"
          % (X.shape[0], args.npz or "synthetic", " and the refit" if args.refit else "",
             args.rounds, one, two, one / two))


if __name__ == "__main__":
    main()
