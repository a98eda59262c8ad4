"""fastnn's MLP estimators against scikit-learn's, under pytest-benchmark: one fit per round.

    python -m pytest benchmarks/bench_sklearn.py --benchmark-group-by=param:case

Every case of ``sklearn_speed.CASES`` (784-30-10 logistic network, float32,
synthetic MNIST-shaped data, one BLAS thread) × estimator (classifier, or
regressor on one-hot targets) × implementation; training samples/s and the
test score in ``extra_info``.  ``sklearn_speed.py`` prints
the same comparison as a table, on real MNIST when given the files.
"""

import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk_nn
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import fastnn
import sklearn_speed

IMPLEMENTATIONS = {("classifier", "fastnn"): fastnn.MLPClassifier,
                   ("classifier", "sklearn"): sk_nn.MLPClassifier,
                   ("regressor", "fastnn"): fastnn.MLPRegressor,
                   ("regressor", "sklearn"): sk_nn.MLPRegressor}


@pytest.fixture(scope="module")
def data():
    return sklearn_speed.load_data(None)


@pytest.mark.parametrize("impl", ["fastnn", "sklearn"])
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
@pytest.mark.parametrize("case", sklearn_speed.CASES,
                         ids=["%s-b%s" % (c[0], c[1] or "full") for c in sklearn_speed.CASES])
def test_fit(benchmark, data, case, estimator, impl):
    X, y, X_test, y_test = data
    if estimator == "regressor":
        y, y_test = (np.eye(10, dtype=np.float32)[labels] for labels in (y, y_test))
    params = sklearn_speed.params_for(*case, lbfgs_iter=20)
    cls = IMPLEMENTATIONS[estimator, impl]

    def fit():
        return cls(**params).fit(X, y)

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = benchmark.pedantic(fit, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(case="%s-b%s" % (case[0], case[1]), estimator=estimator,
                                impl=impl, test_score=est.score(X_test, y_test))
    if case[0] != "lbfgs":
        benchmark.extra_info["samples_per_s"] = len(y) * est.n_iter_ / benchmark.stats.stats.median
