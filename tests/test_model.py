"""fastnn.Sequential: the training API, end to end.

Covers fit (batch, mini-batch and stochastic gradient descent, shuffling,
validation, early stopping, callbacks, verbosity, divergence), predict /
predict_proba / evaluate, gradients (against central finite differences and
the NumPy backend), get/set_weights, summary, save/load (round trip, atomic
overwrite, corrupt files), the agreement of the two backends, bit-identical
training across thread counts, and universal approximation of sin(x).
"""

import io
import json
import math
import os
import re
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import (
    SGD, Adam, BatchGD, BCELoss, Callback, CrossEntropyLoss, Dense, ExponentialDecay, Identity,
    MiniBatchGD, MSELoss, ReLU, Sequential, Sigmoid, Softmax, Step, StochasticGD, Tanh)
from fastnn._kernels import train as _train
from fastnn._kernels import _parallel

from conftest import relative_error


# --- helpers -------------------------------------------------------------------------

def _classification_data(rng, n=60, d=4, k=3):
    """Gaussian blobs: X of shape (n, d), integer labels in [0, k)."""
    centers = rng.standard_normal((k, d)) * 2.0
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X, y


def _regression_data(rng, n=40, d=3, k=2):
    X = rng.standard_normal((n, d))
    Y = np.tanh(X @ rng.standard_normal((d, k))) + 0.1 * rng.standard_normal((n, k))
    return X, Y


def _clf_model(dtype="float64", seed=0, backend="cython", d=4, k=3, hidden=8):
    return Sequential([Dense(d, hidden), Tanh(), Dense(hidden, k), Softmax()],
                      dtype=dtype, seed=seed, backend=backend)


def _reg_model(dtype="float64", seed=0, backend="cython", d=3, k=2, hidden=6):
    return Sequential([Dense(d, hidden), Sigmoid(), Dense(hidden, k), Identity()],
                      dtype=dtype, seed=seed, backend=backend)


def _flat(grads):
    return np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in grads])


def _one_hot(y, k):
    return np.eye(k)[y]


# --- construction --------------------------------------------------------------------

def test_params_layout_and_dtype():
    model = Sequential([Dense(4, 5), Tanh(), Dense(5, 3), Softmax()], dtype="float32", seed=0)
    assert model.params.shape == (4 * 5 + 5 + 5 * 3 + 3,)
    assert model.params.dtype == np.float32
    assert model.sizes == [4, 5, 3]
    assert model.activations == ["tanh", "softmax"]
    W, b = model.dense[0].W, model.dense[0].b
    assert np.shares_memory(W, model.params) and np.shares_memory(b, model.params)
    assert Sequential([Dense(2, 1)], dtype="float64").params.dtype == np.float64


def test_same_seed_same_initial_weights():
    a, b, c = (_clf_model(seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


@pytest.mark.parametrize("layers, exc, match", [
    ([], ValueError, "layers"),
    ("Dense", ValueError, "layers"),
    ([Dense(3, 4), Dense(5, 2)], ValueError, "does not follow"),
    ([Sigmoid(), Dense(3, 4)], ValueError, "activation must follow a Dense"),
    ([Dense(3, 4), Sigmoid(), Tanh()], ValueError, "activation must follow a Dense"),
    ([Dense(3, 4), "relu"], TypeError, "expected a fastnn layer"),
], ids=["empty", "not-a-list", "non-chaining", "activation-first", "two-activations",
        "string-layer"])
def test_bad_architecture(layers, exc, match):
    with pytest.raises(exc, match=match):
        Sequential(layers)


def test_same_dense_twice_is_rejected():
    d = Dense(3, 3)
    with pytest.raises(ValueError, match="same Dense object"):
        Sequential([d, Tanh(), d])


def test_dense_of_another_model_is_rejected():
    # A Dense holds views of its model's buffer; a second model would take the
    # layer over and leave the first one training weights it no longer shows.
    layers = [Dense(3, 4), Tanh(), Dense(4, 2)]
    first = Sequential(layers, seed=0)
    before = [W.copy() for W, _ in first.get_weights()]
    with pytest.raises(ValueError, match="layer 0: Dense.3, 4. already belongs to another model"):
        Sequential(layers, seed=1)
    for (W, _), W0 in zip(first.get_weights(), before):
        np.testing.assert_array_equal(W, W0)
    assert all(np.shares_memory(d.W, first.params) for d in first.dense)


def test_bad_dtype_and_backend():
    with pytest.raises(TypeError, match="dtype"):
        Sequential([Dense(2, 1)], dtype="int32")
    with pytest.raises(ValueError, match="backend"):
        Sequential([Dense(2, 1)], backend="torch")


# --- gradients -------------------------------------------------------------------------

LOSS_OUTPUTS = [(MSELoss, Identity), (BCELoss, Sigmoid), (CrossEntropyLoss, Softmax)]


def _targets(rng, loss, n, k):
    if loss is MSELoss:
        return rng.standard_normal((n, k))
    if loss is BCELoss:
        return (rng.random((n, k)) < 0.5).astype(np.float64)
    return _one_hot(rng.integers(0, k, n), k)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("hidden", [Tanh, Sigmoid])
@pytest.mark.parametrize("loss, out_act", LOSS_OUTPUTS,
                         ids=["mse-identity", "bce-sigmoid", "cce-softmax"])
def test_gradients_match_finite_differences(rng, backend, hidden, loss, out_act):
    sizes = [4, 5, 4, 3]
    model = Sequential([Dense(4, 5), hidden(), Dense(5, 4), hidden(), Dense(4, 3), out_act()],
                       dtype="float64", seed=3, backend=backend)
    model.params[...] = rng.standard_normal(model.params.size) * 0.7
    n = 6
    X = rng.standard_normal((n, sizes[0]))
    Y = _targets(rng, loss, n, sizes[-1])
    grads = model.gradients(X, Y, loss())
    assert [(dW.shape, db.shape) for dW, db in grads] == \
        [((4, 5), (5,)), ((5, 4), (4,)), ((4, 3), (3,))]
    analytic = _flat(grads)

    h = 1e-6
    numeric = np.empty(model.params.size)
    for i in range(model.params.size):
        saved = model.params[i]
        model.params[i] = saved + h
        plus = model.evaluate(X, Y, loss())["loss"]
        model.params[i] = saved - h
        minus = model.evaluate(X, Y, loss())["loss"]
        model.params[i] = saved
        numeric[i] = (plus - minus) / (2 * h)
    assert relative_error(analytic, numeric) <= 1e-6


def test_gradient_is_of_the_mean_batch_loss(rng):
    # Doubling the batch by repeating it must not change the gradient (mean, not sum).
    model = _reg_model()
    X, Y = _regression_data(rng, n=7)
    g1 = _flat(model.gradients(X, Y, MSELoss()))
    g2 = _flat(model.gradients(np.vstack([X, X]), np.vstack([Y, Y]), MSELoss()))
    assert relative_error(g2, g1) <= 1e-12
    # and the per-sample gradients average to it
    per_sample = np.mean([_flat(model.gradients(X[i:i + 1], Y[i:i + 1], MSELoss()))
                          for i in range(len(X))], axis=0)
    assert relative_error(per_sample, g1) <= 1e-12


@pytest.mark.parametrize("loss, out_act", LOSS_OUTPUTS,
                         ids=["mse-identity", "bce-sigmoid", "cce-softmax"])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_gradients_cython_matches_numpy_backend(rng, loss, out_act, dtype, tol):
    def build(backend):
        return Sequential([Dense(7, 16), ReLU(), Dense(16, 9), Tanh(), Dense(9, 4), out_act()],
                          dtype=dtype, seed=11, backend=backend)
    fast, ref = build("cython"), build("numpy")
    np.testing.assert_array_equal(fast.params, ref.params)
    X = rng.standard_normal((33, 7))
    Y = _targets(rng, loss, 33, 4)
    g_fast = fast.gradients(X, Y, loss())
    g_ref = ref.gradients(X, Y, loss())
    for (dW, db), (rW, rb) in zip(g_fast, g_ref):
        assert dW.dtype == np.dtype(dtype) and db.dtype == np.dtype(dtype)
        assert relative_error(dW, rW) <= tol
        assert relative_error(db, rb) <= tol


def test_gradients_returns_copies(rng):
    model = _reg_model()
    X, Y = _regression_data(rng, n=5)
    g = model.gradients(X, Y, MSELoss())
    before = _flat(g).copy()
    model.gradients(X + 1.0, Y, MSELoss())
    np.testing.assert_array_equal(_flat(g), before)


# --- fit: batch, mini-batch, stochastic -------------------------------------------------

def _manual_sgd(model, X, Y, loss, lr, batch_size, epochs=1):
    """Plain gradient descent over in-order batches using model.gradients (no shuffle)."""
    n = X.shape[0]
    for _ in range(epochs):
        for start in range(0, n, batch_size):
            grads = model.gradients(X[start:start + batch_size], Y[start:start + batch_size], loss)
            model.params -= lr * _flat(grads)
    return model.params.copy()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("batch_size", [None, 1, 4, 7, 40],
                         ids=["full", "stochastic", "4-short-last", "7-short-last", "all"])
def test_fit_is_gradient_descent_over_batches(rng, backend, batch_size):
    # n = 10: batches of 4 and 7 end with a short batch (2 and 3 rows), whose gradient is
    # the mean over its own rows.
    X, Y = _regression_data(rng, n=10)
    lr = 0.3
    model = _reg_model(backend=backend)
    expected = _manual_sgd(_reg_model(backend=backend), X, Y, MSELoss(), lr,
                           batch_size or 10, epochs=2)
    opt = SGD(lr)
    model.fit(X, Y, loss=MSELoss(), optimizer=opt, epochs=2, batch_size=batch_size,
              shuffle=False, verbose=0)
    assert relative_error(model.params, expected) <= 1e-12
    assert opt.t == 2 * math.ceil(10 / min(batch_size or 10, 10))


def test_full_batch_first_epoch_loss_is_initial_loss(rng):
    X, Y = _regression_data(rng)
    model = _reg_model()
    before = model.evaluate(X, Y, MSELoss())["loss"]
    history = model.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.1), epochs=3, batch_size=None,
                        verbose=0)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-12)
    # full-batch GD with a small lr: the loss falls monotonically
    assert np.all(np.diff(history.history["loss"]) < 0)
    assert model.evaluate(X, Y)["loss"] < history.history["loss"][-1]


N_STEPS_CASES = [
    (lambda: SGD(0.01), None, 1),
    (lambda: SGD(0.01), 1, 50),
    (lambda: SGD(0.01), 8, 7),
    (lambda: SGD(0.01), "auto", 2),          # 'auto' without a preset: 32
    (lambda: SGD(0.01), 500, 1),             # larger than n: one batch
    (lambda: BatchGD(0.01), "auto", 1),
    (lambda: StochasticGD(0.01), "auto", 50),
    (lambda: MiniBatchGD(0.01, batch_size=8), "auto", 7),
    (lambda: MiniBatchGD(0.01, batch_size=8), None, 1),   # an explicit batch_size wins
    (lambda: StochasticGD(0.01), 10, 5),
]


@pytest.mark.parametrize("make_opt, batch_size, steps", N_STEPS_CASES,
                         ids=["sgd-None", "sgd-1", "sgd-8", "sgd-auto", "sgd-500", "BatchGD",
                              "StochasticGD", "MiniBatchGD-8", "MiniBatchGD-None",
                              "StochasticGD-10"])
def test_optimizer_steps_per_epoch(rng, make_opt, batch_size, steps):
    X, y = _classification_data(rng, n=50)
    model = _clf_model()
    opt = make_opt()
    model.fit(X, y, loss=CrossEntropyLoss(), optimizer=opt, epochs=1, batch_size=batch_size,
              verbose=0)
    assert opt.t == steps
    model.fit(X, y, loss=CrossEntropyLoss(), optimizer=opt, epochs=2, batch_size=batch_size,
              verbose=0)
    assert opt.t == 3 * steps
    assert opt.epoch == 3


def test_stochastic_preset_is_batch_size_one(rng):
    X, Y = _regression_data(rng, n=9)
    a, b = _reg_model(), _reg_model()
    a.fit(X, Y, loss=MSELoss(), optimizer=StochasticGD(0.05), epochs=2, shuffle=True, verbose=0)
    b.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.05), epochs=2, batch_size=1, shuffle=True,
          verbose=0)
    np.testing.assert_array_equal(a.params, b.params)


def test_integer_labels_and_one_hot_train_identically(rng):
    X, y = _classification_data(rng)
    a, b = _clf_model(), _clf_model()
    ha = a.fit(X, y, loss=CrossEntropyLoss(), optimizer=Adam(0.01), epochs=3, batch_size=16,
               verbose=0)
    hb = b.fit(X, _one_hot(y, 3), loss=CrossEntropyLoss(), optimizer=Adam(0.01), epochs=3,
               batch_size=16, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha.history["loss"] == hb.history["loss"]
    assert ha.history["accuracy"] == hb.history["accuracy"]


def test_binary_labels_and_column_targets_train_identically(rng):
    X, y = _classification_data(rng, k=2)
    make = lambda: Sequential([Dense(4, 6), Tanh(), Dense(6, 1), Sigmoid()], dtype="float64",
                              seed=2)
    a, b = make(), make()
    a.fit(X, y, loss=BCELoss(), optimizer=SGD(0.5), epochs=3, batch_size=8, verbose=0)
    b.fit(X, y.reshape(-1, 1).astype(float), loss=BCELoss(), optimizer=SGD(0.5), epochs=3,
          batch_size=8, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)


def test_loss_by_name_class_or_instance_train_identically(rng):
    X, y = _classification_data(rng)
    results = []
    for loss in ("cce", CrossEntropyLoss, CrossEntropyLoss()):
        m = _clf_model()
        m.fit(X, y, loss=loss, optimizer=SGD(0.1), epochs=2, verbose=0)
        results.append(m.params.copy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_training_reduces_loss_and_learns(rng):
    X, y = _classification_data(rng, n=120)
    model = _clf_model(dtype="float32")
    before = model.evaluate(X, y, CrossEntropyLoss())
    history = model.fit(X, y, loss=CrossEntropyLoss(), optimizer=Adam(0.02), epochs=40,
                        batch_size=16, verbose=0)
    after = model.evaluate(X, y)
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] >= 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- shuffle and determinism -------------------------------------------------------------

def test_shuffle_false_is_deterministic(rng):
    X, Y = _regression_data(rng, n=30)
    a, b = _reg_model(seed=1), _reg_model(seed=2)   # different random streams...
    b.set_weights(a.get_weights())                   # ...same starting weights
    for m in (a, b):
        m.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.1), epochs=3, batch_size=4, shuffle=False,
              verbose=0)
    np.testing.assert_array_equal(a.params, b.params)

    # with shuffling, the two random streams give different orders, hence different weights
    c, d = _reg_model(seed=1), _reg_model(seed=2)
    d.set_weights(c.get_weights())
    for m in (c, d):
        m.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.1), epochs=3, batch_size=4, shuffle=True,
              verbose=0)
    assert not np.array_equal(c.params, d.params)
    assert not np.array_equal(c.params, a.params)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_same_seed_same_training(rng, backend):
    X, y = _classification_data(rng)
    runs = []
    for seed in (7, 7, 8):
        m = _clf_model(seed=seed, backend=backend)
        m.fit(X, y, loss="cce", optimizer=Adam(0.01), epochs=3, batch_size=8, verbose=0)
        runs.append(m.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def _train_for_threads(make_model, X, y, loss, optimizer, threads, **fit_kwargs):
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(threads)
    try:
        model = make_model()
        model.fit(X, y, loss=loss, optimizer=optimizer(), verbose=0, **fit_kwargs)
        return model.params.copy(), model.predict_proba(X)
    finally:
        fastnn.set_num_threads(before)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_bit_identical_training_with_1_and_2_threads_large_model(dtype_name):
    rng = np.random.default_rng(42)
    X = rng.standard_normal((1024, 200)).astype(dtype_name)
    y = rng.integers(0, 10, 1024)

    def make():
        return Sequential([Dense(200, 512), ReLU(), Dense(512, 256), ReLU(), Dense(256, 10),
                           Softmax()], dtype=dtype_name, seed=123)

    # These products are large enough to be threaded (256·200·512 > 2**22): on
    # the packed kernel's OpenMP team, or as BLAS pieces shared by that team.
    assert 256 * 200 * 512 > 2**22
    one = _train_for_threads(make, X, y, CrossEntropyLoss(), lambda: Adam(1e-3), 1,
                             epochs=2, batch_size=256)
    two = _train_for_threads(make, X, y, CrossEntropyLoss(), lambda: Adam(1e-3), 2,
                             epochs=2, batch_size=256)
    assert np.isfinite(one[0]).all()
    assert not np.array_equal(one[0], make().params)   # it did train
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_bit_identical_training_with_1_and_2_threads_small_sigmoid_model():
    rng = np.random.default_rng(43)
    X = rng.standard_normal((100, 5))
    Y = rng.random((100, 3))

    def make():
        return Sequential([Dense(5, 12), Sigmoid(), Dense(12, 3), Sigmoid()], dtype="float64",
                          seed=9)

    one = _train_for_threads(make, X, Y, MSELoss(), lambda: SGD(0.5, momentum=0.9), 1,
                             epochs=4, batch_size=10)
    two = _train_for_threads(make, X, Y, MSELoss(), lambda: SGD(0.5, momentum=0.9), 2,
                             epochs=4, batch_size=10)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


@pytest.mark.parametrize("sizes, batch_size", [
    ([784, 30, 10], 1), ([784, 30, 10], 10),         # short-k dW kernel, step into W
    # batch 1: layer 1's step deferred into the next sample's product (one
    # column panel, two panels of 2 + 1 vectors, 4 vectors, k shorter than the
    # accumulator rotation)
    ([784, 40, 10], 1), ([784, 50, 10], 1), ([3, 30, 10], 1), ([20, 12, 3], 1),
    ([784, 10], 1),                                  # ... where layer 1 is the output layer
    ([784, 16, 16, 10], 32), ([128, 64, 10], 64),    # register-tile dW, step into W
    ([300, 512, 16], 64),                            # packed dW, one k block: into W
    ([784, 16, 16, 10], 7), ([40, 300, 20], 64),     # dW written, then applied
])
def test_plain_sgd_step_taken_during_backward_is_bit_identical_to_a_separate_step(
        rng, dtype, sizes, batch_size):
    # The compiled loop applies plain SGD layer by layer during the backward pass
    # (straight into W when the small kernels compute dW).  It must give the same
    # bits as: gradient of the batch, then params -= lr·grads as a separate pass.
    n = 3 * batch_size + 2
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = rng.random((n, sizes[-1])).astype(dtype)

    def make():
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [Dense(n_in, n_out), Sigmoid()]
        return Sequential(layers, dtype=dtype, seed=3)

    fused, manual = make(), make()
    lr = 0.7
    fused.fit(X, Y, MSELoss(), SGD(lr), epochs=1, batch_size=batch_size, shuffle=False)
    for start in range(0, n, batch_size):
        grads = manual.gradients(X[start:start + batch_size], Y[start:start + batch_size],
                                 MSELoss())
        manual.set_weights([(W - dtype(lr) * dW, b - dtype(lr) * db)
                            for (W, b), (dW, db) in zip(manual.get_weights(), grads)])
    for (W1, b1), (W2, b2) in zip(fused.get_weights(), manual.get_weights()):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


# --- the two backends ---------------------------------------------------------------------

@pytest.mark.parametrize("make_opt", [lambda: SGD(0.2), lambda: SGD(0.1, momentum=0.9),
                                      lambda: Adam(0.01)], ids=["sgd", "momentum", "adam"])
def test_backends_follow_the_same_trajectory_float64(rng, make_opt):
    X, y = _classification_data(rng, n=70)
    models = {}
    for backend in ("cython", "numpy"):
        m = Sequential([Dense(4, 10), Sigmoid(), Dense(10, 6), ReLU(), Dense(6, 3), Softmax()],
                       dtype="float64", seed=4, backend=backend)
        h = m.fit(X, y, loss=CrossEntropyLoss(), optimizer=make_opt(), epochs=5, batch_size=8,
                  verbose=0)
        models[backend] = (m, h)
    (fast, hf), (ref, hr) = models["cython"], models["numpy"]
    assert not np.array_equal(fast.params, _clf_model().params)
    assert relative_error(fast.params, ref.params) <= 1e-9
    np.testing.assert_allclose(hf.history["loss"], hr.history["loss"], rtol=1e-9)
    assert hf.history["accuracy"] == hr.history["accuracy"]


@pytest.mark.parametrize("make_opt", [lambda: SGD(0.2), lambda: SGD(0.1, momentum=0.9),
                                      lambda: Adam(0.01)], ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [1, 7, None], ids=["b1", "b7", "full"])
def test_backends_follow_the_same_trajectory_float32(rng, make_opt, batch_size):
    # The compiled loop in float32 (own small-matrix kernels, the per-layer
    # gradient-descent step) stays on the reference's path to float32 rounding.
    X, y = _classification_data(rng, n=40)
    params = {}
    for backend in ("cython", "numpy"):
        m = Sequential([Dense(4, 10), Sigmoid(), Dense(10, 6), Tanh(), Dense(6, 3), Softmax()],
                       dtype="float32", seed=4, backend=backend)
        m.fit(X, y, loss=CrossEntropyLoss(), optimizer=make_opt(), epochs=2,
              batch_size=batch_size, verbose=0)
        params[backend] = m.params
    assert params["cython"].dtype == np.float32
    assert relative_error(params["cython"], params["numpy"]) <= 1e-5


def test_backends_predict_the_same_in_chunks(rng):
    # 2500 rows: the compiled forward pass runs in chunks of 1024 with a short last one.
    fast = _reg_model(backend="cython", seed=5)
    ref = _reg_model(backend="numpy", seed=5)
    X = rng.standard_normal((2500, 3))
    out = fast.predict_proba(X)
    assert out.shape == (2500, 2)
    assert relative_error(out, ref.predict_proba(X)) <= 1e-12
    # and each row alone gives the same output as in the batch
    np.testing.assert_allclose(fast.predict_proba(X[2499:]), out[2499:], rtol=1e-12)


# --- predict, evaluate -----------------------------------------------------------------------

def test_predict_softmax_returns_labels(rng):
    X, y = _classification_data(rng)
    model = _clf_model()
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    labels = model.predict(X)
    assert labels.shape == (60,) and labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    model.fit(X, y, loss="cce", optimizer=Adam(0.05), epochs=20, batch_size=16, verbose=0)
    labels = model.predict(X)
    np.testing.assert_array_equal(labels, model.predict_proba(X).argmax(axis=1))
    assert model.evaluate(X, y)["accuracy"] == pytest.approx(np.mean(labels == y))


def test_predict_single_sigmoid_thresholds(rng):
    X, y = _classification_data(rng, k=2)
    model = Sequential([Dense(4, 6), Tanh(), Dense(6, 1), Sigmoid()], dtype="float64", seed=1)
    model.fit(X, y, loss=BCELoss(), optimizer=SGD(0.5), epochs=10, batch_size=8, verbose=0)
    proba = model.predict_proba(X)
    assert proba.shape == (60, 1)
    labels = model.predict(X)
    assert labels.shape == (60,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (proba[:, 0] > 0.5).astype(np.int64))
    assert set(np.unique(labels)) <= {0, 1}
    assert model.evaluate(X, y)["accuracy"] == pytest.approx(np.mean(labels == y))


def test_predict_regression_returns_outputs(rng):
    X, Y = _regression_data(rng)
    model = _reg_model(dtype="float32")
    model.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.1), epochs=2, verbose=0)
    out = model.predict(X)
    assert out.shape == (40, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, model.predict_proba(X))


def _step_predict(rng, backend):
    # Step is "usable for prediction only": a forward pass must work.
    model = Sequential([Dense(3, 4), Step()], dtype="float64", seed=0, backend=backend)
    X = rng.standard_normal((10, 3))
    out = model.predict_proba(X)
    np.testing.assert_array_equal(out, (X @ model.dense[0].W + model.dense[0].b > 0) * 1.0)


def test_predict_with_step_layer_numpy_backend(rng):
    _step_predict(rng, "numpy")


def test_predict_with_step_layer_cython_backend(rng):
    _step_predict(rng, "cython")


def test_evaluate_matches_the_loss_formulas(rng):
    X, Y = _regression_data(rng)
    model = _reg_model()
    A = model.predict_proba(X)
    # MSE: ½·Σⱼ(aⱼ − yⱼ)² per sample, mean over the batch
    result = model.evaluate(X, Y, MSELoss())
    assert result == {"loss": pytest.approx(np.mean(0.5 * np.sum((A - Y) ** 2, axis=1)),
                                            rel=1e-12)}

    Xc, y = _classification_data(rng)
    clf = _clf_model()
    P = clf.predict_proba(Xc)
    result = clf.evaluate(Xc, y, CrossEntropyLoss())
    assert result["loss"] == pytest.approx(np.mean(-np.log(P[np.arange(60), y])), rel=1e-10)
    assert result["accuracy"] == pytest.approx(np.mean(P.argmax(axis=1) == y))
    assert clf.evaluate(Xc, _one_hot(y, 3), "cce") == result

    bin_model = Sequential([Dense(4, 5), Tanh(), Dense(5, 2), Sigmoid()], dtype="float64", seed=0)
    T = (rng.random((60, 2)) < 0.5).astype(float)
    S = bin_model.predict_proba(Xc)
    bce = np.mean(-np.sum(T * np.log(S) + (1 - T) * np.log(1 - S), axis=1))
    assert bin_model.evaluate(Xc, T, BCELoss())["loss"] == pytest.approx(bce, rel=1e-10)


def test_evaluate_defaults_to_the_fit_loss(rng):
    X, Y = _regression_data(rng)
    model = _reg_model()
    with pytest.raises(ValueError, match="loss"):
        model.evaluate(X, Y)
    model.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.1), verbose=0)
    assert model.evaluate(X, Y) == model.evaluate(X, Y, MSELoss())
    assert "accuracy" not in model.evaluate(X, Y)


# --- validation, early stopping, callbacks, history ------------------------------------------

def test_validation_split_holds_out_the_last_fraction(rng):
    X, y = _classification_data(rng, n=40)
    a, b = _clf_model(seed=3), _clf_model(seed=3)
    ha = a.fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=2, batch_size=4,
               validation_split=0.25, verbose=0)
    # the same as training on the first 30 samples (same seed: same shuffles)
    b.fit(X[:30], y[:30], loss="cce", optimizer=SGD(0.1), epochs=2, batch_size=4, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    val = b.evaluate(X[30:], y[30:])
    assert ha.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-12)
    assert ha.history["val_accuracy"][-1] == pytest.approx(val["accuracy"])


def test_validation_data_is_evaluated_every_epoch(rng):
    X, Y = _regression_data(rng, n=50)
    Xv, Yv = _regression_data(rng, n=13)
    model = _reg_model()
    seen = []
    history = model.fit(X, Y, loss=MSELoss(), optimizer=SGD(0.2), epochs=3, batch_size=5,
                        validation_data=(Xv, Yv), validation_split=0.5,  # data wins over split
                        callbacks=[lambda e, logs: seen.append(model.evaluate(Xv, Yv)["loss"])],
                        verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], seen, rtol=1e-12)
    assert model.optimizer.t == 3 * 10   # all 50 samples trained on


def test_history_keys(rng):
    X, y = _classification_data(rng)
    model = _clf_model()
    h = model.fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=3, verbose=0)
    assert isinstance(h, fastnn.History)
    assert set(h.history) == {"loss", "accuracy", "lr", "time"}
    assert h.epoch == [0, 1, 2]
    assert h.stopped_epoch is None
    assert all(len(v) == 3 for v in h.history.values())
    assert all(0 <= a <= 1 for a in h.history["accuracy"])
    assert h.history["lr"] == [0.1, 0.1, 0.1]

    h = model.fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=2, validation_split=0.2,
                  verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}

    Xr, Yr = _regression_data(rng)
    h = _reg_model().fit(Xr, Yr, loss="mse", optimizer=SGD(0.1), epochs=2,
                         validation_data=(Xr[:5], Yr[:5]), verbose=0)
    assert set(h.history) == {"loss", "val_loss", "lr", "time"}


def test_history_records_the_lr_schedule(rng):
    X, Y = _regression_data(rng)
    h = _reg_model().fit(X, Y, loss="mse", optimizer=SGD(ExponentialDecay(0.1, 0.5)), epochs=3,
                         verbose=0)
    np.testing.assert_allclose(h.history["lr"], [0.1, 0.05, 0.025])


def _overfitting_setup(rng):
    X, Y = _regression_data(rng, n=40)
    Xv, Yv = _regression_data(rng, n=20)
    model = Sequential([Dense(3, 8), Sigmoid(), Dense(8, 2), Sigmoid()], dtype="float64", seed=0)
    opt = SGD(0.5)
    snapshots = []

    def explode_lr(epoch, logs):
        snapshots.append(model.params.copy())
        if epoch >= 2:
            opt.lr = 500.0        # from now on every step overshoots: the val loss gets worse

    return model, opt, X, Y, Xv, Yv, snapshots, explode_lr


def test_early_stopping_stops_and_restores_best_weights(rng):
    model, opt, X, Y, Xv, Yv, snapshots, cb = _overfitting_setup(rng)
    h = model.fit(X, Y, loss=MSELoss(), optimizer=opt, epochs=50, batch_size=4,
                  validation_data=(Xv, Yv), patience=3, callbacks=[cb], verbose=0)
    val = h.history["val_loss"]
    best = int(np.argmin(val))
    assert h.stopped_epoch is not None and h.stopped_epoch == len(val) - 1 < 49
    assert h.stopped_epoch == best + 3
    assert max(val[best + 1:]) > val[best]                       # it did get worse
    np.testing.assert_array_equal(model.params, snapshots[best])  # best weights restored
    assert not np.array_equal(model.params, snapshots[-1])
    assert model.evaluate(Xv, Yv)["loss"] == pytest.approx(val[best], rel=1e-12)


def test_early_stopping_without_restoring_keeps_last_weights(rng):
    model, opt, X, Y, Xv, Yv, snapshots, cb = _overfitting_setup(rng)
    h = model.fit(X, Y, loss=MSELoss(), optimizer=opt, epochs=50, batch_size=4,
                  validation_data=(Xv, Yv), patience=3, restore_best_weights=False,
                  callbacks=[cb], verbose=0)
    assert h.stopped_epoch is not None and h.stopped_epoch < 49
    np.testing.assert_array_equal(model.params, snapshots[-1])


def test_early_stopping_min_delta_and_training_loss(rng):
    # Without validation data the training loss is monitored; an improvement must exceed
    # min_delta, so a huge min_delta stops training after exactly `patience` more epochs.
    X, Y = _regression_data(rng)
    h = _reg_model().fit(X, Y, loss="mse", optimizer=SGD(0.1), epochs=20, patience=2,
                         min_delta=1e9, verbose=0)
    assert h.stopped_epoch == 2 and h.epoch == [0, 1, 2]
    h = _reg_model().fit(X, Y, loss="mse", optimizer=SGD(0.1), epochs=6, patience=2,
                         verbose=0)
    assert h.stopped_epoch is None and len(h.epoch) == 6   # the loss keeps falling


def test_function_callback_returning_true_stops(rng):
    X, Y = _regression_data(rng)
    calls = []

    def cb(epoch, logs):
        calls.append((epoch, sorted(logs)))
        return epoch == 2

    h = _reg_model().fit(X, Y, loss="mse", optimizer=SGD(0.1), epochs=10, callbacks=[cb],
                         verbose=0)
    assert h.epoch == [0, 1, 2] and h.stopped_epoch == 2
    assert calls == [(e, ["loss", "lr", "time"]) for e in range(3)]


def test_callback_objects(rng):
    X, Y = _regression_data(rng)
    model = _reg_model()
    events = []

    class Recorder(Callback):
        def on_train_begin(self, m):
            events.append(("begin", m is model))

        def on_epoch_end(self, epoch, logs):
            events.append(("epoch", epoch, logs["loss"]))
            return None                                  # falsy: keep going

        def on_train_end(self, m, history):
            events.append(("end", m is model, history))

    class StopAt(Callback):
        def on_epoch_end(self, epoch, logs):
            return epoch == 3

    h = model.fit(X, Y, loss="mse", optimizer=SGD(0.1), epochs=10,
                  callbacks=[Recorder(), StopAt(), lambda e, logs: False], verbose=0)
    assert events[0] == ("begin", True)
    assert [e[1] for e in events[1:-1]] == [0, 1, 2, 3]
    assert [e[2] for e in events[1:-1]] == h.history["loss"]
    assert events[-1] == ("end", True, h)
    assert h.stopped_epoch == 3
    # the base class does nothing and never stops
    h = _reg_model().fit(X, Y, loss="mse", optimizer=SGD(0.1), epochs=3, callbacks=[Callback()],
                         verbose=0)
    assert len(h.epoch) == 3


def test_bad_callback_is_rejected(rng):
    X, Y = _regression_data(rng)
    with pytest.raises(TypeError, match="callbacks"):
        _reg_model().fit(X, Y, loss="mse", optimizer=SGD(0.1), callbacks=[42], verbose=0)


# --- verbosity ----------------------------------------------------------------------------

def test_verbose_0_prints_nothing(rng, capsys):
    X, y = _classification_data(rng)
    _clf_model().fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=3, validation_split=0.2,
                     verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_2_prints_one_line_per_epoch_to_stderr(rng, capsys):
    X, y = _classification_data(rng)
    h = _clf_model().fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=4, validation_split=0.2,
                         verbose=2)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip("\n").split("\n")
    assert len(lines) == 4
    for i, line in enumerate(lines):
        assert line.startswith("Epoch %d/4" % (i + 1))
        assert "val_loss" in line and "accuracy" in line
        assert "%.4g" % h.history["loss"][i] in line


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_verbose_1_progress_bar_does_not_change_training(rng, monkeypatch, capsys, backend):
    # On a terminal, verbose=1 re-enters Python between chunks of batches to draw the bar;
    # the batches, and so the weights, must be exactly those of a silent run.
    X, y = _classification_data(rng, n=203)
    runs = []
    for verbose in (0, 1):
        fake = _FakeTerminal()
        monkeypatch.setattr("sys.stderr", fake)
        m = _clf_model(seed=6, backend=backend)
        opt = Adam(0.01)
        h = m.fit(X, y, loss="cce", optimizer=opt, epochs=2, batch_size=4, verbose=verbose)
        monkeypatch.undo()
        runs.append((m.params.copy(), opt.t, h.history["loss"], fake.getvalue()))
    (p0, t0, l0, err0), (p1, t1, l1, err1) = runs
    assert err0 == ""
    assert "Epoch 1/2" in err1 and "Epoch 2/2" in err1 and "203/203" in err1
    assert t0 == t1 == 2 * 51
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_allclose(l0, l1, rtol=1e-12)   # summed per chunk: rounding only
    assert capsys.readouterr().out == ""


def test_verbose_1_is_silent_off_a_terminal(rng, capsys):
    X, y = _classification_data(rng)
    _clf_model().fit(X, y, loss="cce", optimizer=SGD(0.1), epochs=2, verbose=1)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


# --- divergence -----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_divergence_raises_floating_point_error(rng, backend):
    X, Y = _regression_data(rng)
    X = X * 10
    model = Sequential([Dense(3, 8), Tanh(), Dense(8, 2)], dtype="float64", seed=0,
                       backend=backend)
    with pytest.raises(FloatingPointError, match="diverged.*learning rate"):
        model.fit(X, Y, loss=MSELoss(), optimizer=SGD(1e6), epochs=20, batch_size=4, verbose=0)


# --- bad input ------------------------------------------------------------------------------

def _fit_call(**overrides):
    rng = np.random.default_rng(0)
    X, y = _classification_data(rng, n=20)
    kwargs = dict(X=X, y=y, loss=CrossEntropyLoss(), optimizer=SGD(0.1), epochs=1, verbose=0)
    kwargs.update(overrides)
    model = kwargs.pop("model", None) or _clf_model()
    before = model.params.copy()
    return model, before, kwargs


X20 = np.random.default_rng(1).standard_normal((20, 4))
Y20 = np.arange(20) % 3

FIT_ERRORS = [
    (dict(X=X20[:, :3]), ValueError, "X has 3 features.*expects 4"),
    (dict(X=np.where(np.arange(80).reshape(20, 4) == 7, np.nan, X20)), ValueError, "X contains NaN"),
    (dict(X=np.full((20, 4), "a")), TypeError, "X must hold real numbers"),
    (dict(X=X20[0]), ValueError, "X must be 2-D"),
    (dict(y=Y20[:15]), ValueError, "y has 15 rows but X has 20"),
    (dict(y=np.where(Y20 == 2, 3, Y20)), ValueError, r"y holds class labels outside \[0, 3\)"),
    (dict(y=Y20 - 1), ValueError, "y holds class labels outside"),
    (dict(y=np.zeros((20, 2))), ValueError, r"y must have shape \(20, 3\)"),
    (dict(y=np.full((20, 3), np.inf)), ValueError, "y contains NaN or infinity"),
    (dict(optimizer="sgdx"), ValueError,
     r"optimizer must be a fastnn optimizer or one of \['adagrad', 'adam', 'adamw', "),
    (dict(optimizer=object()), TypeError, "optimizer must be a fastnn optimizer"),
    (dict(loss="hinge"), ValueError, "loss must be"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=-3), ValueError, "batch_size"),
    (dict(batch_size="big"), TypeError, "batch_size"),
    (dict(validation_split=1.0), ValueError, "validation_split"),
    (dict(validation_split=-0.1), ValueError, "validation_split"),
    (dict(validation_split=0.01), ValueError, "validation_split"),   # rounds to 0 samples
    (dict(validation_data=(X20,)), ValueError, "validation_data"),
    (dict(validation_data=(X20[:, :2], Y20)), ValueError, "X_val has 2 features"),
    (dict(validation_data=(X20, Y20[:3])), ValueError, "y_val has 3 rows"),
    (dict(verbose=5), ValueError, "verbose"),
    (dict(patience=0), ValueError, "patience"),
    (dict(min_delta=-1.0), ValueError, "min_delta"),
]


@pytest.mark.parametrize("overrides, exc, match", FIT_ERRORS,
                         ids=["features", "nan", "string-X", "1d-X", "y-length", "label-too-big",
                              "label-negative", "y-columns", "y-inf", "optimizer-string",
                              "optimizer-object", "loss-name", "epochs-0", "epochs-float",
                              "batch-0", "batch-negative", "batch-string", "split-1",
                              "split-negative", "split-tiny", "val-data-tuple",
                              "val-data-features", "val-data-length", "verbose-5",
                              "patience-0", "min-delta"])
def test_fit_rejects_bad_input(overrides, exc, match):
    model, before, kwargs = _fit_call(**overrides)
    with pytest.raises(exc, match=match):
        model.fit(**kwargs)
    np.testing.assert_array_equal(model.params, before)   # nothing trained
    assert model.optimizer is None


def _wide_data_model(dtype="float32"):
    # X (300 × 40) outweighs twice the weights and two Adam states (40·8 + ...):
    # fit leaves X's NaN check to the first epoch's gathers.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 40)).astype(dtype)
    y = rng.integers(0, 3, 300)
    model = Sequential([Dense(40, 8), Sigmoid(), Dense(8, 3), Softmax()], dtype=dtype, seed=2)
    return model, X, y


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 151, 299])
@pytest.mark.parametrize("batch_size", [1, 10, 32, None])
@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9),
                                      lambda: Adam(0.01)], ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_fit_finds_a_bad_row_during_the_first_epoch_and_undoes_it(bad, row, batch_size,
                                                                    make_opt, dtype_name):
    model, X, y = _wide_data_model(dtype_name)
    assert model._finite_check_in_training(X, make_opt())
    # Train a little first, so that there is optimizer state and a random state to keep.
    opt = make_opt()
    model.fit(X, y, CrossEntropyLoss(), opt, epochs=1, batch_size=batch_size, verbose=0)
    twin, _, _ = _wide_data_model(dtype_name)
    twin_opt = make_opt()
    twin.fit(X, y, CrossEntropyLoss(), twin_opt, epochs=1, batch_size=batch_size, verbose=0)
    params, state = model.params.copy(), opt.state_dict()
    X_bad = X.copy()
    X_bad[row, 7] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity .after conversion to "
                                         "%s., in row %d$" % (dtype_name, row)):
        model.fit(X_bad, y, CrossEntropyLoss(), opt, epochs=3, batch_size=batch_size,
                  verbose=0)
    np.testing.assert_array_equal(model.params, params)
    after = opt.state_dict()
    assert (after["t"], after["epoch"], after["lr"]) == (state["t"], state["epoch"], state["lr"])
    for name in state["state"]:
        np.testing.assert_array_equal(after["state"][name], state["state"][name])
    assert model.optimizer is opt and model.loss.name == "cce"
    # Nothing of the failed call remains: training on goes exactly as if it never happened.
    model.fit(X, y, CrossEntropyLoss(), opt, epochs=2, batch_size=batch_size, verbose=0)
    twin.fit(X, y, CrossEntropyLoss(), twin_opt, epochs=2, batch_size=batch_size, verbose=0)
    np.testing.assert_array_equal(model.params, twin.params)


def test_fit_checks_x_first_when_a_snapshot_would_cost_more_than_the_check():
    # Few samples and many weights: X is scanned before anything happens.
    model, X, y = _wide_data_model()
    X_small = X[:5].copy()
    X_small[4, 0] = np.nan
    assert not model._finite_check_in_training(X_small, SGD(0.1))
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(after conversion to "
                                         r"float32\), in row 4$"):
        model.fit(X_small, y[:5], CrossEntropyLoss(), SGD(0.1), verbose=0)
    assert model.optimizer is None


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_checks_the_held_out_rows_and_the_numpy_backend_first(backend):
    model, X, y = _wide_data_model()
    model.backend = backend
    before = model.params.copy()
    X_bad = X.copy()
    X_bad[-1, 0] = np.inf                            # in the validation split
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(after conversion "
                                         r"to float32\), in row %d$" % (len(X) - 1)):
        model.fit(X_bad, y, CrossEntropyLoss(), SGD(0.1), validation_split=0.1, verbose=0)
    if backend == "numpy":
        X_bad = X.copy()
        X_bad[3, 0] = np.nan
        assert not model._finite_check_in_training(X_bad, SGD(0.1))
        with pytest.raises(ValueError, match=r"X contains NaN or infinity \(after "
                                             r"conversion to float32\), in row 3$"):
            model.fit(X_bad, y, CrossEntropyLoss(), SGD(0.1), verbose=0)
    np.testing.assert_array_equal(model.params, before)
    assert model.optimizer is None


@pytest.mark.parametrize("loss, out_act", [(BCELoss, Identity), (BCELoss, Softmax),
                                           (CrossEntropyLoss, Sigmoid),
                                           (CrossEntropyLoss, Identity)])
def test_cross_entropy_needs_a_probability_output(loss, out_act):
    model = Sequential([Dense(4, 5), Tanh(), Dense(5, 3), out_act()], dtype="float64", seed=0)
    X = np.zeros((4, 4))
    Y = np.eye(3)[[0, 1, 2, 0]]
    wanted = "sigmoid" if loss is BCELoss else "softmax"
    with pytest.raises(ValueError, match="%s needs probabilities.*%s" % (loss.__name__, wanted)):
        model.fit(X, Y, loss=loss(), optimizer=SGD(0.1), verbose=0)
    with pytest.raises(ValueError, match=loss.__name__):
        model.gradients(X, Y, loss())


def test_step_layer_cannot_be_trained():
    model = Sequential([Dense(3, 4), Step(), Dense(4, 1), Sigmoid()], dtype="float64", seed=0)
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="(?s)step.*gradient.*sigmoid"):
        model.fit(X, y, loss=BCELoss(), optimizer=SGD(0.1), verbose=0)
    with pytest.raises(ValueError, match="sigmoid"):
        model.gradients(X, y, BCELoss())


def test_predict_and_evaluate_reject_bad_input():
    model = _clf_model()
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="X has 5 features"):
        model.predict_proba(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="X contains NaN"):
        model.predict(np.full((3, 4), np.nan))
    with pytest.raises(TypeError, match="X must hold real numbers"):
        model.predict(np.array([["a"] * 4]))
    with pytest.raises(ValueError, match="X has no samples"):
        model.predict(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="X could not be read"):
        model.predict([[1, 2, 3, 4], [1, 2]])
    with pytest.raises(ValueError, match="y has 2 rows but X has 3"):
        model.evaluate(np.zeros((3, 4)), [0, 1], CrossEntropyLoss())
    with pytest.raises(ValueError, match="y holds class labels"):
        model.evaluate(np.zeros((3, 4)), [0, 1, 7], CrossEntropyLoss())
    with pytest.raises(ValueError, match="loss must be"):
        model.evaluate(np.zeros((3, 4)), [0, 1, 2], "nll")


def test_gradients_reject_bad_input():
    model = _clf_model()
    X, y = np.zeros((3, 4)), np.array([0, 1, 2])
    with pytest.raises(ValueError, match="X has 2 features"):
        model.gradients(np.zeros((3, 2)), y, CrossEntropyLoss())
    with pytest.raises(ValueError, match="X contains NaN"):
        model.gradients(np.full((3, 4), np.nan), y, CrossEntropyLoss())
    with pytest.raises(ValueError, match="y has 2 rows"):
        model.gradients(X, y[:2], CrossEntropyLoss())
    with pytest.raises(ValueError, match="y holds class labels"):
        model.gradients(X, [0, 1, 3], CrossEntropyLoss())
    with pytest.raises(ValueError, match="loss must be"):
        model.gradients(X, y, None)


def test_set_weights_rejects_bad_input_atomically():
    model = _clf_model()
    good = model.get_weights()
    before = model.params.copy()
    with pytest.raises(ValueError, match="weights must hold 2"):
        model.set_weights(good[:1])
    bad_shape = [good[0], (good[1][0].T, good[1][1])]
    with pytest.raises(ValueError, match=r"weights\[1\] must have shapes"):
        model.set_weights(bad_shape)
    with pytest.raises(ValueError, match=r"weights\[0\] must be a pair"):
        model.set_weights([(good[0][0],), good[1]])
    nan = [(np.zeros_like(good[0][0]), good[0][1]),
           (np.full_like(good[1][0], np.nan), good[1][1])]
    with pytest.raises(ValueError, match=r"weights\[1\] contains NaN"):
        model.set_weights(nan)
    np.testing.assert_array_equal(model.params, before)   # layer 0 not half-written


# --- weights, summary -------------------------------------------------------------------------

def test_get_and_set_weights(rng):
    model = _clf_model()
    weights = model.get_weights()
    assert [(W.shape, b.shape) for W, b in weights] == [((4, 8), (8,)), ((8, 3), (3,))]
    weights[0][0][...] = 0          # copies: the model is untouched
    assert np.any(model.dense[0].W != 0)
    new = [(rng.standard_normal(W.shape), rng.standard_normal(b.shape))
           for W, b in model.get_weights()]
    model.set_weights(new)
    for (W, b), (nW, nb) in zip(model.get_weights(), new):
        np.testing.assert_array_equal(W, nW)
        np.testing.assert_array_equal(b, nb)
    X = rng.standard_normal((5, 4))
    Z = np.tanh(X @ new[0][0] + new[0][1]) @ new[1][0] + new[1][1]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(model.predict_proba(X), P / P.sum(axis=1, keepdims=True),
                               rtol=1e-12)


def test_summary_lists_layers_and_total():
    model = Sequential([Dense(784, 30), Sigmoid(), Dense(30, 20), ReLU(), Dense(20, 10)],
                       dtype="float32", seed=0)
    buf = io.StringIO()
    text = model.summary(file=buf)
    assert buf.getvalue().strip() == text.strip()
    assert "Dense(784, 30) + sigmoid" in text
    assert "Dense(30, 20) + relu" in text
    assert "Dense(20, 10) + identity" in text
    assert "23,550" in text and "620" in text and "210" in text
    total = 784 * 30 + 30 + 30 * 20 + 20 + 20 * 10 + 10
    assert model.params.size == total
    assert "total: {:,} parameters".format(total) in text
    assert "float32" in text


def test_summary_prints_to_stdout_by_default(capsys):
    text = _clf_model().summary()
    assert capsys.readouterr().out.strip() == text.strip()


# --- save / load -------------------------------------------------------------------------------

OPTIMIZERS = {
    "adam": lambda: Adam(0.01),
    "momentum": lambda: SGD(0.1, momentum=0.9, nesterov=True),
    "minibatch": lambda: MiniBatchGD(ExponentialDecay(0.1, 0.9), batch_size=8),
}


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["in_order", "shuffled"])
def test_save_load_round_trip_and_resume(tmp_path, rng, dtype, opt_name, backend, shuffle):
    # The shuffling generator's state is saved too, so a shuffled run resumes exactly.
    X, y = _classification_data(rng, n=40)
    kwargs = dict(loss=CrossEntropyLoss(), epochs=2, shuffle=shuffle, verbose=0)
    model = _clf_model(dtype=np.dtype(dtype).name, backend=backend)
    model.fit(X, y, optimizer=OPTIMIZERS[opt_name](), **kwargs)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastnn.load(str(path))

    assert loaded.params.dtype == model.params.dtype
    assert loaded.backend == backend
    np.testing.assert_array_equal(loaded.params, model.params)
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.activations == model.activations and loaded.sizes == model.sizes
    assert loaded.task == "classification" and isinstance(loaded.loss, CrossEntropyLoss)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.evaluate(X, y) == model.evaluate(X, y)

    a, b = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert type(loaded.optimizer) is type(model.optimizer)
    assert {k: v for k, v in a.items() if k != "state"} == \
        {k: v for k, v in b.items() if k != "state"}
    assert a["t"] > 0 and sorted(a["state"]) == sorted(b["state"])
    for key in a["state"]:
        np.testing.assert_array_equal(a["state"][key], b["state"][key])

    # two more epochs after loading == two more epochs without saving, bit for bit
    model.fit(X, y, optimizer=model.optimizer, **kwargs)
    loaded.fit(X, y, optimizer=loaded.optimizer, **kwargs)
    assert model.optimizer.t == loaded.optimizer.t
    np.testing.assert_array_equal(loaded.params, model.params)


def test_save_load_untrained_model(tmp_path):
    model = Sequential([Dense(3, 4, init="he_uniform"), ReLU(), Dense(4, 1)], dtype="float32",
                       seed=0)
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load(tmp_path / "m.npz")
    assert loaded.optimizer is None and loaded.loss is None
    assert loaded.dense[0].init == "he_uniform"
    np.testing.assert_array_equal(loaded.params, model.params)
    assert loaded.params.dtype == np.float32


def test_save_file_has_no_pickle(tmp_path, rng):
    X, y = _classification_data(rng, n=20)
    model = _clf_model()
    model.fit(X, y, loss="cce", optimizer=Adam(0.01), verbose=0)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert set(data.files) == {"config", "params", "optimizer.m", "optimizer.v"}
        assert all(data[k].dtype != object for k in data.files)
        config = json.loads(str(data["config"]))
    assert config["format"] == "fastnn-model"
    assert config["optimizer"]["type"] == "Adam"


def test_save_uses_the_exact_path(tmp_path):
    model = _clf_model()
    model.save(str(tmp_path / "weights"))          # no .npz appended
    assert os.listdir(tmp_path) == ["weights"]
    np.testing.assert_array_equal(fastnn.load(tmp_path / "weights").params, model.params)


def test_save_overwrites(tmp_path, rng):
    path = tmp_path / "m.npz"
    a, b = _clf_model(seed=1), _clf_model(seed=2)
    a.save(path)
    b.save(path)
    np.testing.assert_array_equal(fastnn.load(path).params, b.params)
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("interrupt", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch, interrupt):
    path = tmp_path / "m.npz"
    old = _clf_model(seed=1)
    old.save(path)
    old_bytes = path.read_bytes()
    real_savez = np.savez
    calls = []

    def savez_then_fail(file, *args, **kwds):
        calls.append(file)
        real_savez(file, *args, **kwds)   # write the whole archive to the temporary file...
        file.write(b"\0" * 100)
        raise interrupt                     # ...then die before it is renamed

    monkeypatch.setattr(np, "savez", savez_then_fail)
    new = _clf_model(seed=2)
    with pytest.raises(type(interrupt)):
        new.save(path)
    monkeypatch.undo()

    assert calls, "save did not call numpy.savez"
    assert path.read_bytes() == old_bytes
    np.testing.assert_array_equal(fastnn.load(path).params, old.params)
    assert os.listdir(tmp_path) == ["m.npz"]          # no temporary file left behind


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    def fail(file, *args, **kwds):
        file.write(b"PK\x03\x04 partial")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        _clf_model().save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def _saved(tmp_path, rng):
    X, y = _classification_data(rng, n=20)
    model = _clf_model()
    model.fit(X, y, loss="cce", optimizer=Adam(0.01), verbose=0)
    path = tmp_path / "good.npz"
    model.save(path)
    return model, path


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.5, 0.75, 0.9, 0.99])
def test_load_truncated_file(tmp_path, rng, fraction):
    _, path = _saved(tmp_path, rng)
    raw = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[:int(len(raw) * fraction)])
    with pytest.raises(ValueError, match="truncated.npz"):
        fastnn.load(bad)


def test_load_random_bytes(tmp_path, rng):
    bad = tmp_path / "noise.npz"
    bad.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="noise.npz"):
        fastnn.load(bad)
    text = tmp_path / "text.npz"
    text.write_text("hello, not a model")
    with pytest.raises(ValueError, match="text.npz"):
        fastnn.load(text)


def _rewrite(src, dst, mutate):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    config = json.loads(str(arrays["config"]))
    result = mutate(arrays, config)
    if result is not None:
        arrays = result
    elif "config" in arrays:
        arrays["config"] = np.array(json.dumps(config))
    np.savez(dst, **arrays)


def _drop(key):
    def mutate(arrays, config):
        del arrays[key]
        return arrays
    return mutate


CORRUPTIONS = {
    "no-config": (_drop("config"), "config"),
    "no-params": (_drop("params"), "params"),
    "params-too-short": (lambda a, c: a.__setitem__("params", a["params"][:-1]), "params"),
    "params-too-long": (lambda a, c: a.__setitem__("params", np.append(a["params"], 0.0)),
                        "params"),
    "params-float32": (lambda a, c: a.__setitem__("params", a["params"].astype(np.float32)),
                       "params"),
    "params-nan": (lambda a, c: a["params"].__setitem__(0, np.nan), "NaN"),
    "wrong-format": (lambda a, c: c.__setitem__("format", "keras"), "not a fastnn model"),
    "wrong-version": (lambda a, c: c.__setitem__("version", 99), "version"),
    "config-not-json": (lambda a, c: {**a, "config": np.array("{not json")}, "JSON|Expecting"),
    "unknown-layer": (lambda a, c: c["model"]["layers"][0].__setitem__("type", "Conv2D"),
                      "Conv2D"),
    "layer-size-mismatch": (lambda a, c: c["model"]["layers"][0].__setitem__("n_out", 9),
                            "does not follow"),
    "optimizer-state-wrong-size": (
        lambda a, c: a.__setitem__("optimizer.m", a["optimizer.m"][:5]), "optimizer|state"),
    "optimizer-state-missing": (_drop("optimizer.v"), "optimizer|state|'v'"),
    "optimizer-unknown": (lambda a, c: c["optimizer"].__setitem__("type", "Adadelta"),
                          "Adadelta"),
    "no-model-key": (lambda a, c: c.pop("model"), "model"),
    # declared structure beyond the limits or the arrays present, caught before
    # any layer is built (a million layers took minutes)
    "a-million-layers": (lambda a, c: c["model"].__setitem__(
        "layers", c["model"]["layers"] + [{"type": "ReLU"}] * 10**6), "10000"),
    "huge-layer": (lambda a, c: c["model"]["layers"][0].__setitem__("n_out", 10**12),
                   "n_out must be an integer"),
    "layer-size-float": (lambda a, c: c["model"]["layers"][0].__setitem__("n_in", 4.0),
                         "n_in must be an integer"),
    "layers-not-a-list": (lambda a, c: c["model"].__setitem__("layers", "Dense"),
                          "non-empty list"),
    "rng-state-huge-integer": (lambda a, c: c["model"]["rng_state"]["state"].__setitem__(
        "state", 10**400), "OverflowError|state"),
    "rng-state-garbage": (lambda a, c: c["model"].__setitem__("rng_state", {"x": 1}),
                          "state|bit_generator|KeyError|TypeError"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_load_mismatched_file(tmp_path, rng, name):
    _, path = _saved(tmp_path, rng)
    mutate, match = CORRUPTIONS[name]
    bad = tmp_path / ("bad-%s.npz" % name)
    _rewrite(path, bad, mutate)
    with pytest.raises(ValueError, match="bad-%s.npz" % name) as info:
        fastnn.load(bad)
    assert re.search(match, str(info.value)), str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fastnn model file at .*absent.npz"):
        fastnn.load(tmp_path / "absent.npz")


def test_load_refuses_a_shape_larger_than_its_member(tmp_path, rng):
    """A header claiming more elements than its member holds (with a valid
    CRC: a crafted file) is refused before numpy allocates them."""
    _, path = _saved(tmp_path, rng)
    bad = tmp_path / "big-shape.npz"
    with np.load(path, allow_pickle=False) as data, \
            zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as out:
        for key in data.files:
            member = io.BytesIO()
            np.lib.format.write_array(member, data[key])
            raw = member.getvalue()
            if key == "params":
                shape = ("(%d,)" % data[key].size).encode()
                raw = raw.replace(shape, b"(" + b"9" * (len(shape) - 3) + b",)", 1)
            out.writestr(key + ".npy", raw)
    with pytest.raises(ValueError, match="big-shape.npz.*declares shape"):
        fastnn.load(bad)


def test_load_refuses_compressed_members(tmp_path, rng):
    _, path = _saved(tmp_path, rng)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    bad = tmp_path / "compressed.npz"
    np.savez_compressed(bad, **arrays)
    with pytest.raises(ValueError, match="compressed"):
        fastnn.load(bad)


def test_load_refuses_encrypted_members(tmp_path, rng):
    """The zip's 'encrypted' flag (zipfile raised RuntimeError for it)."""
    _, path = _saved(tmp_path, rng)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02")          # the first central-directory entry
    raw[at + 8] |= 0x1                       # its general-purpose flags: encrypted
    bad = tmp_path / "encrypted.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="encrypted.npz.*encrypted"):
        fastnn.load(bad)


def test_load_survives_bit_flips(tmp_path, rng):
    """Every single-byte corruption of a model file (sampled) is a clean
    ValueError or a model equal in shape to the saved one: never another
    exception, a hang or a crash."""
    model, path = _saved(tmp_path, rng)
    raw = path.read_bytes()
    bad = tmp_path / "flipped.npz"
    outcomes = {"refused": 0, "loaded": 0}
    for position in rng.choice(len(raw), size=300, replace=False):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(bytes(flipped))
        try:
            loaded = fastnn.load(bad)
        except ValueError as exc:
            assert "flipped.npz" in str(exc)
            outcomes["refused"] += 1
        else:
            assert loaded.params.shape == model.params.shape
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 300


@pytest.mark.parametrize("config", ["[1, 2]", "null", "5"])
def test_load_config_not_a_json_object(tmp_path, rng, config):
    _, path = _saved(tmp_path, rng)
    bad = tmp_path / "bad.npz"
    _rewrite(path, bad, lambda a, c: {**a, "config": np.array(config)})
    with pytest.raises(ValueError, match="bad.npz"):
        fastnn.load(bad)


def test_load_layer_config_not_a_dict(tmp_path, rng):
    _, path = _saved(tmp_path, rng)
    bad = tmp_path / "bad.npz"
    _rewrite(path, bad, lambda a, c: c["model"].__setitem__("layers", [1, 2]))
    with pytest.raises(ValueError, match="bad.npz"):
        fastnn.load(bad)


def test_load_corrupt_zip_compression_field(tmp_path, rng):
    _, path = _saved(tmp_path, rng)
    raw = bytearray(path.read_bytes())
    i = raw.find(b"PK\x01\x02")
    assert i >= 0
    while i >= 0:               # the compression method of every central-directory entry
        raw[i + 10:i + 12] = (99).to_bytes(2, "little")
        i = raw.find(b"PK\x01\x02", i + 4)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="bad.npz"):
        fastnn.load(bad)


# --- universal approximation -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hidden_sigmoid_layer_fits_sin(seed):
    # The universal approximation theorem in practice: 32 sigmoid units fit sin on [-π, π].
    X = np.linspace(-np.pi, np.pi, 256).reshape(-1, 1)
    model = Sequential([Dense(1, 32), Sigmoid(), Dense(32, 1), Identity()], dtype="float64",
                       seed=seed)
    model.fit(X, np.sin(X), loss=MSELoss(), optimizer=Adam(ExponentialDecay(0.03, 0.998)),
              epochs=3000, batch_size=32, verbose=0)
    grid = np.linspace(-np.pi, np.pi, 2001).reshape(-1, 1)
    err = np.max(np.abs(model.predict(grid) - np.sin(grid)))
    assert err < 0.02, "max |f(x) - sin x| = %.4f" % err


def test_integer_targets_are_values_for_mse_with_one_output():
    X = np.linspace(0, 1, 12).reshape(-1, 1)
    y = np.arange(12)                                     # integers, but a regression target
    model = Sequential([Dense(1, 8), Tanh(), Dense(8, 1)], dtype="float64", seed=0)
    model.fit(X, y, loss=MSELoss(), optimizer=Adam(0.05), epochs=200, batch_size=None,
              verbose=0)
    assert model.task == "regression"
    pred = model.predict(X)
    assert pred.shape == (12, 1) and np.abs(pred[:, 0] - y).max() < 1.0


def test_the_loss_base_class_is_not_a_loss():
    with pytest.raises(ValueError, match="loss must be"):
        fastnn.losses.get_loss(fastnn.losses.Loss)


@pytest.mark.parametrize("dtype", ["foo", "int32", "float16", None])
def test_model_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(TypeError, match="dtype must be 'float32' or 'float64'"):
        Sequential([Dense(2, 2)], dtype=dtype)


# --- the gather-ahead: a second thread copies batch b + 1 while b trains ------------------

GATHER_AHEAD_CASES = [([784, 16, 16, 10], 32, "float32"), ([256, 8, 4], 16, "float64"),
                      ([784, 30, 10], 10, "float32")]


def _require_second_thread(batch_size, sizes, dtype_name):
    """Skip in a serial build, where no second thread exists, after checking
    that the loop then does not gather ahead."""
    if not _parallel.openmp_enabled():
        fastnn.set_num_threads(2)
        assert not _train.gathers_ahead(batch_size, sizes, dtype_name)
        pytest.skip("serial build: one thread, so no gather-ahead (checked off)")


@pytest.mark.parametrize("sizes, batch_size, dtype_name", GATHER_AHEAD_CASES,
                         ids=["-".join(map(str, c[0])) + "xb%d-%s" % c[1:]
                              for c in GATHER_AHEAD_CASES])
@pytest.mark.parametrize("make_opt", [lambda: SGD(0.5), lambda: SGD(0.1, momentum=0.9),
                                      lambda: Adam(0.01)], ids=["sgd", "momentum", "adam"])
def test_gather_ahead_gives_the_bits_of_gathering_in_the_loop(sizes, batch_size, dtype_name,
                                                              make_opt):
    rng = np.random.default_rng(5)
    n = 13 * batch_size + 3                        # a short last batch
    X = rng.random((n, sizes[0])).astype(dtype_name)
    y = rng.integers(0, sizes[-1], n)
    before = fastnn.get_num_threads()
    try:
        _require_second_thread(batch_size, sizes, dtype_name)
        fastnn.set_num_threads(2)
        assert _train.gathers_ahead(batch_size, sizes, dtype_name)
        fastnn.set_num_threads(1)
        assert not _train.gathers_ahead(batch_size, sizes, dtype_name)
    finally:
        fastnn.set_num_threads(before)

    def make():
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [Dense(n_in, n_out), Sigmoid()]
        return Sequential(layers[:-1] + [Softmax()], dtype=dtype_name, seed=3)

    one = _train_for_threads(make, X, y, CrossEntropyLoss(), make_opt, 1, epochs=2,
                             batch_size=batch_size)
    two = _train_for_threads(make, X, y, CrossEntropyLoss(), make_opt, 2, epochs=2,
                             batch_size=batch_size)
    assert not np.array_equal(one[0], make().params)   # it did train
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


@pytest.mark.parametrize("row", [0, 40, 99])
def test_gather_ahead_stops_at_a_bad_row_and_fit_undoes_the_epoch(row):
    rng = np.random.default_rng(6)
    X = rng.random((100, 784)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    model = Sequential([Dense(784, 16), Sigmoid(), Dense(16, 10), Softmax()], seed=4)
    opt = SGD(0.1, momentum=0.9)
    model.fit(X, y, CrossEntropyLoss(), opt, batch_size=32, verbose=0)
    params = model.params.copy()
    X[row, 300] = np.nan
    before = fastnn.get_num_threads()
    try:
        _require_second_thread(32, [784, 16, 10], "float32")
        fastnn.set_num_threads(2)
        assert _train.gathers_ahead(32, [784, 16, 10], "float32")
        assert model._finite_check_in_training(X, opt)
        with pytest.raises(ValueError, match=r"X contains NaN or infinity .after conversion "
                                             r"to float32., in row %d$" % row):
            model.fit(X, y, CrossEntropyLoss(), opt, epochs=2, batch_size=32, verbose=0)
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(model.params, params)


@pytest.mark.parametrize("n_out, loss", [(2, "cce"), (3, "cce"), (1, "bce")])
def test_bool_labels_are_class_labels(n_out, loss):
    """Bools index classes 0 and 1 (they raised IndexError, or with as many
    samples as classes were taken as one-hot rows)."""
    X = np.random.default_rng(0).random((3, 4))
    y = np.array([False, True, False])
    last = fastnn.Sigmoid() if n_out == 1 else fastnn.Softmax()
    model = fastnn.Sequential([fastnn.Dense(4, n_out), last], seed=0)
    model.fit(X, y, loss, fastnn.SGD(0.5), epochs=300, verbose=0)
    np.testing.assert_array_equal(model.predict(X), [0, 1, 0])
    assert model.evaluate(X, y)["accuracy"] == 1.0
    Y, labels = model._check_y(y, 3, fastnn.losses.get_loss(loss))
    assert labels and Y.shape == (3, n_out)


def test_labels_must_be_one_per_sample():
    X = np.random.default_rng(0).random((3, 4))
    model = fastnn.Sequential([fastnn.Dense(4, 2), fastnn.Softmax()], seed=0)
    with pytest.raises(TypeError, match="y holds strings: class labels must be 1-D"):
        model.fit(X, np.array([["a"], ["b"], ["a"]]), "cce", fastnn.SGD(0.5), verbose=0)


def test_labels_that_json_cannot_hold_are_refused_by_save(tmp_path):
    X = np.random.default_rng(0).random((3, 4))
    model = fastnn.Sequential([fastnn.Dense(4, 2), fastnn.Softmax()], seed=0)
    model.fit(X, np.array([b"a", b"b", b"a"]), "cce", fastnn.SGD(0.5), verbose=0)
    np.testing.assert_array_equal(model.classes_, [b"a", b"b"])
    with pytest.raises(TypeError, match="classes_ of dtype .*S1.* cannot be saved"):
        model.save(tmp_path / "m.npz")
