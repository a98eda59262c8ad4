"""fastnn.MLPClassifier and fastnn.MLPRegressor: drop-in scikit-learn estimators.

The strongest check is exactness: in float64, with the same random_state,
fastnn follows scikit-learn's trajectory (same initial weights, same batches,
same updates) to rounding, for every solver, activation and option, so the
tests compare weights and loss curves with scikit-learn's MLP after training.
Then scikit-learn's conformance suite, the statistical comparison in float32,
and the estimator API (pipelines, grid search, pickle, warm start,
partial_fit, sample weights, sparse and float32 input, warnings, errors).
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import (
    load_digits,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn
from fastnn import MLPClassifier, MLPRegressor

# Exactness tolerance, float64: the two run the same arithmetic in a different
# order (fastnn scales the delta by 1/n before the products, scikit-learn after).
EXACT = dict(rtol=1e-9, atol=1e-11)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=8, n_targets=2, noise=0.1,
                           random_state=0)
    return X, y / 100.0


def _fit_both(params, X, y, sample_weight=None, regressor=False, **fit_kw):
    ours = (MLPRegressor if regressor else MLPClassifier)(**params)
    theirs = (sk_nn.MLPRegressor if regressor else sk_nn.MLPClassifier)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight, **fit_kw)
        theirs.fit(X, y, sample_weight=sample_weight, **fit_kw)
    return ours, theirs


def _assert_same_model(ours, theirs, **tol):
    tol = tol or EXACT
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.out_activation_ == theirs.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, **tol)
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, **tol)


# --- exactness against scikit-learn --------------------------------------------------

SOLVERS = {
    "sgd_nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd_momentum": dict(solver="sgd", nesterovs_momentum=False, learning_rate_init=0.05),
    "sgd_plain": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "lbfgs": dict(solver="lbfgs"),
}


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_classifier_follows_scikit_learn(digits, solver, activation):
    X, y = digits
    params = dict(hidden_layer_sizes=(16, 8), activation=activation, max_iter=6,
                  batch_size=32, random_state=3, **SOLVERS[solver])
    ours, theirs = _fit_both(params, X, y)
    _assert_same_model(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), **EXACT)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_follows_scikit_learn(regression, solver, loss):
    X, y = regression
    if loss == "poisson":
        y = np.exp(y / 4)       # positive rates
    params = dict(hidden_layer_sizes=(12,), activation="tanh", max_iter=8, batch_size=20,
                  random_state=1, loss=loss, **SOLVERS[solver])
    if params["solver"] != "lbfgs":
        params["learning_rate_init"] = 0.01
    ours, theirs = _fit_both(params, X, y, regressor=True)
    _assert_same_model(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), **EXACT)


@pytest.mark.parametrize("options", [
    dict(solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.2),
    dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=1),
    dict(solver="adam", early_stopping=True, validation_fraction=0.2, n_iter_no_change=2,
         tol=0.05),
    dict(solver="sgd", early_stopping=True, n_iter_no_change=1, tol=0.5),
    dict(solver="adam", tol=0.5, n_iter_no_change=2),
    dict(solver="sgd", shuffle=False, batch_size=7),
    dict(solver="adam", batch_size=1, max_iter=2),
    dict(solver="sgd", batch_size=1000),                       # clipped to n_samples
    dict(solver="adam", alpha=0.0),
    dict(solver="lbfgs", alpha=1.0, max_fun=15),
], ids=["invscaling", "adaptive", "early_stopping_adam", "early_stopping_sgd", "tol_stop",
        "no_shuffle", "batch1", "batch_clipped", "alpha0", "lbfgs_max_fun"])
def test_options_follow_scikit_learn(digits, options):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=15, random_state=0, batch_size=50)
    params.update(options)
    ours, theirs = _fit_both(params, X, y)
    _assert_same_model(ours, theirs)
    for attr in ("best_loss_", "validation_scores_", "best_validation_score_"):
        mine, sk = getattr(ours, attr, None), getattr(theirs, attr, None)
        assert (mine is None) == (sk is None), attr
        if mine is not None:
            np.testing.assert_allclose(mine, sk, **EXACT)
    if params["solver"] == "sgd":
        assert ours._optimizer.learning_rate == theirs._optimizer.learning_rate


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs", "adam_early_stopping"])
def test_sample_weight_follows_scikit_learn(digits, solver):
    X, y = digits
    w = np.random.default_rng(0).random(len(y)) * 2
    params = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0, solver=solver)
    if solver == "adam_early_stopping":
        params.update(solver="adam", early_stopping=True, learning_rate_init=0.01)
    ours, theirs = _fit_both(params, X, y, sample_weight=w)
    _assert_same_model(ours, theirs)
    assert ours.score(X, y, sample_weight=w) == theirs.score(X, y, sample_weight=w)


def test_binary_multilabel_and_multioutput_follow_scikit_learn(digits, regression):
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    ours, theirs = _fit_both(params, X, y % 2)
    _assert_same_model(ours, theirs)
    assert ours.out_activation_ == "logistic" and ours.predict_proba(X).shape == (len(y), 2)
    Xm, Ym = make_multilabel_classification(n_samples=120, n_classes=4, random_state=0)
    ours, theirs = _fit_both(params, Xm, Ym)
    _assert_same_model(ours, theirs)
    np.testing.assert_array_equal(ours.predict(Xm), theirs.predict(Xm))
    Xr, Yr = regression
    ours, theirs = _fit_both(params, Xr, Yr, regressor=True)
    _assert_same_model(ours, theirs)
    assert ours.predict(Xr).shape == Yr.shape


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_and_warm_start_follow_scikit_learn(digits, solver):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), random_state=0, solver=solver, batch_size=40)
    ours, theirs = MLPClassifier(**params), sk_nn.MLPClassifier(**params)
    for start in range(0, 400, 100):
        ours.partial_fit(X[start:start + 100], y[start:start + 100], classes=np.arange(10))
        theirs.partial_fit(X[start:start + 100], y[start:start + 100], classes=np.arange(10))
    _assert_same_model(ours, theirs)
    ours, theirs = _fit_both(dict(params, warm_start=True, max_iter=3), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    _assert_same_model(ours, theirs)


def test_float32_stays_close_to_scikit_learn(digits, regression):
    """float32 on both sides: the same algorithm, rounded to float32 in different orders."""
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    ours, theirs = _fit_both(params, X.astype(np.float32), y)
    _assert_same_model(ours, theirs, rtol=1e-3, atol=1e-4)


# --- statistical equivalence ----------------------------------------------------------

@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_statistically_the_same_as_scikit_learn_float32(solver):
    """Mean test accuracy / R² over 5 seeds within 1 point of scikit-learn's, float32 data."""
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split((X / 16).astype(np.float32), y, random_state=0)
    Xr, yr = make_regression(n_samples=600, n_features=10, noise=5.0, random_state=0)
    Xr = Xr.astype(np.float32)
    Xrtr, Xrte, yrtr, yrte = train_test_split(Xr, yr / 100, random_state=0)
    scores = {"ours": [[], []], "theirs": [[], []]}
    for seed in range(5):
        kw = dict(hidden_layer_sizes=(32,), solver=solver, random_state=seed, max_iter=30)
        if solver != "lbfgs":
            kw["learning_rate_init"] = {"sgd": 0.05, "adam": 0.01}[solver]
        for name, clf, reg in (("ours", MLPClassifier, MLPRegressor),
                               ("theirs", sk_nn.MLPClassifier, sk_nn.MLPRegressor)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                scores[name][0].append(clf(**kw).fit(Xtr, ytr).score(Xte, yte))
                scores[name][1].append(reg(**kw).fit(Xrtr, yrtr).score(Xrte, yrte))
    for task in (0, 1):
        ours, theirs = np.mean(scores["ours"][task]), np.mean(scores["theirs"][task])
        assert abs(ours - theirs) <= 0.01, (task, ours, theirs)
        assert theirs > 0.8


# --- scikit-learn's conformance suite ------------------------------------------------

@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_scikit_learn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# --- the estimator API -----------------------------------------------------------------

def test_is_a_scikit_learn_mlp_with_the_same_parameters():
    # and fastnn's extensions, whose defaults are scikit-learn's behaviour
    extensions = {MLPClassifier: {"class_weight": None, "dropout": 0.0},
                  MLPRegressor: {"dropout": 0.0}}
    for ours, theirs in ((MLPClassifier, sk_nn.MLPClassifier),
                         (MLPRegressor, sk_nn.MLPRegressor)):
        assert issubclass(ours, theirs)
        assert ours().get_params() == {**theirs().get_params(), **extensions[ours]}
        assert "Parameters\n    ----------" in ours.__doc__
        assert "fastnn" in ours.__doc__


def test_pipeline_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(solver="lbfgs", max_iter=50,
                                                         random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)],
                                 "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.8
    assert isinstance(search.best_estimator_[-1], MLPClassifier)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_pickle_round_trip_predicts_identically_and_keeps_training(digits, solver):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0, solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**params).fit(X, y)
        copy = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
        assert "_fastnn_net" not in clf.__getstate__()
        assert "_fastnn_net" in clf.__dict__          # pickling left the original alone
        if solver != "lbfgs":
            clf.partial_fit(X, y)
            copy.partial_fit(X, y)
            np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_clone_is_unfitted_with_the_same_params(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(7,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "coefs_")


def test_coefs_are_views_of_the_network_and_reassignment_is_honoured(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0).fit(X, y)
    net = clf._fastnn_net
    assert all(np.shares_memory(W, net.params) for W in clf.coefs_ + clf.intercepts_)
    before = clf.predict_proba(X)
    clf.intercepts_[-1] += 1.0                   # in place: the network sees it
    np.testing.assert_allclose(clf.predict_proba(X), before, rtol=1e-12)  # softmax shift
    clf.coefs_ = [np.zeros_like(W) for W in clf.coefs_]   # replaced: predict copies them
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(X), 0.1)


def test_float32_trains_in_float32(digits):
    X, y = digits
    for solver in ("sgd", "adam", "lbfgs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, solver=solver,
                                random_state=0).fit(X.astype(np.float32), y)
        assert clf._fastnn_net.dtype == np.float32
        assert all(W.dtype == np.float32 for W in clf.coefs_ + clf.intercepts_)
        assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
        assert clf.predict_proba(X).dtype == np.float64


def test_sparse_input_trains_as_dense(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y)
        for fmt in (scipy.sparse.csr_matrix, scipy.sparse.csc_array):
            sparse = MLPClassifier(**params).fit(fmt(X), y)
            for a, b in zip(sparse.coefs_, dense.coefs_):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(sparse.predict_proba(fmt(X)), dense.predict_proba(X))


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_weight_two_is_a_duplicate_and_zero_removes(digits, solver):
    """Full-batch training makes the equivalence exact up to summation order."""
    X, y = digits
    X, y = X[:60], y[:60] % 3
    params = dict(hidden_layer_sizes=(6,), max_iter=10, random_state=0, solver=solver,
                  batch_size=200, shuffle=False)
    w = np.ones(len(y))
    w[:10], w[10:20] = 2.0, 0.0
    keep = np.r_[np.arange(10), np.arange(10), np.arange(20, len(y))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
        duplicated = MLPClassifier(**params).fit(X[keep], y[keep])
    for a, b in zip(weighted.coefs_, duplicated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_convergence_warnings(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, solver="adam").fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, solver="lbfgs").fit(X, y)


@pytest.mark.parametrize("params, match", [
    (dict(solver="newton"), "The 'solver' parameter of MLPClassifier must be"),
    (dict(activation="softplus"), "The 'activation' parameter"),
    (dict(alpha=-1.0), "The 'alpha' parameter"),
    (dict(batch_size=0), "The 'batch_size' parameter"),
    (dict(momentum=1.5), "The 'momentum' parameter"),
    (dict(learning_rate="cyclic"), "The 'learning_rate' parameter"),
    (dict(validation_fraction=1.0), "The 'validation_fraction' parameter"),
])
def test_bad_parameters_raise_scikit_learns_error(digits, params, match):
    X, y = digits
    with pytest.raises(InvalidParameterError, match=match):
        MLPClassifier(**params).fit(X, y)


def test_errors_name_the_problem(digits):
    X, y = digits
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(np.full_like(X, np.nan), y)
    with pytest.raises(ValueError, match="sample_weight.shape"):
        MLPClassifier().fit(X, y, sample_weight=np.ones(3))
    warnings.simplefilter("ignore", ConvergenceWarning)   # pytest restores the filters
    with pytest.raises(ValueError, match="X has 3 features, but MLPRegressor is expecting 64"):
        MLPRegressor(max_iter=1).fit(X, y).predict(X[:, :3])
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        clf = MLPClassifier(max_iter=1, warm_start=True).fit(X, y)
        clf.fit(X, y % 3)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(solver="sgd", learning_rate_init=1e3, max_iter=20).fit(X32 * 1e3,
                                                                           y32 * 1e20)


def test_import_fastnn_without_scikit_learn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import fastnn\n"
        "assert 'MLPClassifier' in fastnn.__all__\n"
        "try:\n"
        "    fastnn.MLPClassifier\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'fastnn[sklearn]'" in out
    with pytest.raises(AttributeError, match="has no attribute 'MLPRegresor'"):
        fastnn.MLPRegresor  # noqa: B018 (the attribute access is the test)


def test_verbose_prints_what_scikit_learn_prints(digits, capsys):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0, solver="sgd",
                  verbose=True, early_stopping=True, n_iter_no_change=1, tol=0.5)
    ours, theirs = MLPClassifier(**params), sk_nn.MLPClassifier(**params)
    ours.fit(X, y)
    printed = capsys.readouterr().out
    theirs.fit(X, y)
    assert printed == capsys.readouterr().out
    assert "Iteration 1, loss = " in printed and "Validation score" in printed


def test_float32_stochastic_fits_flush_denormals_only_while_they_run():
    # float32 'adam' epochs run under flush-to-zero; the caller's mode is restored.
    from fastnn._kernels import _cpu

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    tiny = np.float32(1e-20)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="adam", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.coefs_[0].dtype == np.float32
    assert tiny * tiny > 0      # the calling thread keeps denormals after fit
    if _cpu.flush_denormals_supported():
        with fastnn.flush_denormals():   # and a caller's own flush survives fit too
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            assert tiny * tiny == 0


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_gather_ahead_with_sample_weights_gives_the_bits_of_one_thread(solver):
    # Wide inputs and a small network: with 2 threads the batches are gathered
    # on the second thread, sample weights included (train.pyx's gather-ahead).
    from fastnn._kernels import train as _train

    # Many batches, with the L2 penalty (whose weight sum reads the batch's
    # weights after its step).
    rng = np.random.default_rng(8)
    X = rng.random((3001, 256)).astype(np.float32)
    y = rng.integers(0, 3, 3001)
    w = rng.random(3001) + 0.5
    before = fastnn.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            assert _train.gathers_ahead(32, [256, 8, 3], "float32") == (threads == 2)
            clf = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, batch_size=32,
                                alpha=1e-3, max_iter=5, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y, sample_weight=w)
            assert clf.coefs_[0].dtype == np.float32
            fits.append(clf)
    finally:
        fastnn.set_num_threads(before)
    one, two = fits
    for a, b in zip(one.coefs_ + one.intercepts_, two.coefs_ + two.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert one.loss_curve_ == two.loss_curve_


@pytest.mark.parametrize("labels", [np.array([False, True]), np.array(["no", "yes"]),
                                    np.array(["a", "b"], object)], ids=["bool", "str", "object"])
def test_labels_of_any_dtype_are_classes(labels):
    """Labels are classes whatever their dtype: the fit is the fit on 0/1."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 5))
    pick = (X[:, 0] > 0.5).astype(int)
    fits = []
    for y in (pick, labels[pick]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50,
                                      random_state=0).fit(X, y))
    np.testing.assert_array_equal(fits[1].classes_, labels)
    np.testing.assert_array_equal(fits[1].predict(X), labels[fits[0].predict(X)])
    np.testing.assert_array_equal(fits[1].predict_proba(X), fits[0].predict_proba(X))


# --- fastnn's extension: class_weight ------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_class_weight_is_a_per_class_sample_weight(solver):
    from sklearn.utils.class_weight import compute_class_weight
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5))
    y = np.array(["a", "b", "c"])[np.minimum(rng.integers(0, 4, 120), 2)]   # unbalanced
    sw = rng.uniform(0.5, 2, 120)
    kwargs = dict(hidden_layer_sizes=(7,), solver=solver, max_iter=20, random_state=0)
    by_class = fastnn.MLPClassifier(class_weight={"a": 2.0, "c": 0.5}, **kwargs)
    by_sample = fastnn.MLPClassifier(**kwargs)
    balanced = fastnn.MLPClassifier(class_weight="balanced", **kwargs)
    balanced_by_sample = fastnn.MLPClassifier(**kwargs)
    cw = compute_class_weight("balanced", classes=np.unique(y), y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_class.fit(X, y, sample_weight=sw)
        by_sample.fit(X, y, sample_weight=sw * np.select([y == "a", y == "c"], [2.0, 0.5], 1.0))
        balanced.fit(X, y)
        balanced_by_sample.fit(X, y, sample_weight=cw[np.searchsorted(np.unique(y), y)])
    for a, b in ((by_class, by_sample), (balanced, balanced_by_sample)):
        for Wa, Wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            np.testing.assert_array_equal(Wa, Wb)


def test_class_weight_is_a_parameter_and_refused_where_it_cannot_apply():
    from sklearn.base import clone
    from sklearn.utils._param_validation import InvalidParameterError
    clf = fastnn.MLPClassifier(class_weight="balanced")
    assert clone(clf).get_params()["class_weight"] == "balanced"
    assert fastnn.MLPClassifier().get_params()["class_weight"] is None
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2
    with pytest.raises(InvalidParameterError, match="class_weight"):
        fastnn.MLPClassifier(class_weight="even").fit(X, y)
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        fastnn.MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="multilabel"):
        fastnn.MLPClassifier(class_weight={0: 2.0}).fit(X, np.stack([y, 1 - y], axis=1))
    with pytest.raises(ValueError, match="weight for 7, which is not a class"):
        fastnn.MLPClassifier(class_weight={7: 2.0}).fit(X, y)


# --- fastnn's extension: dropout ------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_dropout_trains_the_estimators_network_with_dropout(solver):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    kwargs = dict(hidden_layer_sizes=(16, 8), solver=solver, max_iter=30, random_state=0,
                  learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**kwargs).fit(X, y)
        dropped = MLPClassifier(dropout=0.3, **kwargs).fit(X, y)
        again = MLPClassifier(dropout=0.3, **kwargs).fit(X, y)
        reg = MLPRegressor(dropout=0.2, **kwargs).fit(X, X[:, 0])
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    for a, b in zip(dropped.coefs_, again.coefs_):      # reproducible from random_state
        np.testing.assert_array_equal(a, b)
    assert dropped._fastnn_net.dropout == [0.3, 0.3, 0.0]
    assert dropped.score(X, y) > 0.8 and reg.score(X, X[:, 0]) > 0.5
    # prediction runs without dropout: the network's outputs without masks
    net = dropped._copy_network()
    np.testing.assert_allclose(dropped.predict_proba(X)[:, 1], net.predict_proba(X)[:, 0])


def test_dropout_is_refused_with_lbfgs_and_validated():
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2
    with pytest.raises(ValueError, match="dropout needs solver 'sgd' or 'adam'"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="dropout"):
        MLPClassifier(dropout=1.0).fit(X, y)
