"""Test scores of fastnn's MLPClassifier/MLPRegressor against scikit-learn's, over seeds.

The statistical comparison at full size: scikit-learn's digits
(classification, test accuracy) and Friedman #1 (``make_friedman1``, 2,000
samples, noise 1: nonlinear regression, test R²), each
solver with its default settings (``max_iter=200``, ``tol=1e-4``) apart from
the learning rates named below, ``random_state`` = 0 … 4, float32 or float64
inputs on both sides, the same train/test split, the same BLAS thread count.  Prints the mean score
over the seeds of each, their difference in points (1 point = 0.01), and the
total fit time of each::

    python benchmarks/sklearn_accuracy.py [--dtype float32] [--seeds 5] [--threads 1]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn import neural_network as sk_nn
from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastnn

SOLVERS = {"sgd": dict(solver="sgd", learning_rate_init=0.05),
           "adam": dict(solver="adam", learning_rate_init=0.01),
           "lbfgs": dict(solver="lbfgs")}


def datasets(dtype):
    """name -> (X_train, X_test, y_train, y_test, is_classification)."""
    X, y = load_digits(return_X_y=True)
    digits = train_test_split((X / 16).astype(dtype), y, random_state=0)
    X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    friedman = (scaler.transform(X_train).astype(dtype), scaler.transform(X_test).astype(dtype),
                y_train, y_test)
    return {"digits (accuracy)": (*digits, True), "Friedman #1 (R²)": (*friedman, False)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    with threadpool_limits(args.threads):
        compare(args.dtype, args.seeds)


def compare(dtype, n_seeds):
    """Print one table row per data set and solver."""
    print("| data | solver | fastnn mean | scikit-learn mean | difference (points) "
          "| fastnn fit (s) | scikit-learn fit (s) |\n|---|---|---:|---:|---:|---:|---:|")
    for name, (X_train, X_test, y_train, y_test, classify) in datasets(dtype).items():
        for solver, params in SOLVERS.items():
            scores = {"fastnn": [], "sklearn": []}
            seconds = {"fastnn": 0.0, "sklearn": 0.0}
            for seed in range(n_seeds):
                for impl, module in (("fastnn", fastnn), ("sklearn", sk_nn)):
                    cls = module.MLPClassifier if classify else module.MLPRegressor
                    est = cls(hidden_layer_sizes=(64,), random_state=seed, **params)
                    start = time.perf_counter()
                    est.fit(X_train, y_train)
                    seconds[impl] += time.perf_counter() - start
                    scores[impl].append(est.score(X_test, y_test))
            ours, theirs = np.mean(scores["fastnn"]), np.mean(scores["sklearn"])
            print("| %s | %s | %.4f | %.4f | %+.2f | %.2f | %.2f |" % (
                name, solver, ours, theirs, 100 * (ours - theirs), seconds["fastnn"],
                seconds["sklearn"]), flush=True)


if __name__ == "__main__":
    main()
