"""Sequential with LeakyReLU, GELU, Softplus, LogSoftmax and the losses on logits and Huber.

The compiled training loop against the NumPy backend (every optimizer path:
the fused gradient-descent step, the batch-1 deferral, Adam, sample weights),
bit-identical training for 1 and 2 threads, gradients against central finite
differences, predict_proba / predict / evaluate of models trained on logits,
save/load, summary, and the refusals.
"""

import io

import numpy as np
import pytest

import fastnn
from fastnn import (
    GELU, SGD, Adam, BCEWithLogitsLoss, CrossEntropyFromLogitsLoss, Dense, HuberLoss, LeakyReLU,
    LogSoftmax, Sequential, Softmax, Softplus, Tanh)

# hidden activation, output layers (after the last Dense), loss, kind of targets
CASES = [
    (lambda: LeakyReLU(0.3), [], CrossEntropyFromLogitsLoss(), "labels"),
    (GELU, [], "bce_with_logits", "binary"),
    (Softplus, [], HuberLoss(0.5), "values"),
    (GELU, [GELU()], "mse", "values"),
    (lambda: LeakyReLU(0.05), [LogSoftmax()], "huber", "values"),
    (Softplus, [Softplus()], HuberLoss(2.0), "values"),
]
CASE_IDS = ["leaky-celogits", "gelu-bcelogits", "softplus-huber", "gelu-gelu-mse",
            "leaky-logsoftmax-huber", "softplus-softplus-huber"]


def _model(hidden, output, n_out, backend="cython", dtype="float64", seed=3):
    return Sequential([Dense(5, 7), hidden(), Dense(7, 6), Tanh(), Dense(6, n_out)] + output,
                      dtype=dtype, seed=seed, backend=backend)


def _data(rng, kind, n=64):
    X = rng.standard_normal((n, 5))
    if kind == "labels":
        return X, rng.integers(0, 3, n), 3
    if kind == "binary":
        return X, rng.integers(0, 2, n), 1
    return X, rng.standard_normal((n, 3)) * 2, 3


def _copy(output):
    return [type(layer)() if not isinstance(layer, LeakyReLU) else LeakyReLU(layer.alpha)
            for layer in output]


@pytest.mark.parametrize("hidden, output, loss, kind", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("optimizer, batch_size", [
    (lambda: SGD(0.05), 1), (lambda: SGD(0.05), 8), (lambda: Adam(0.01), 5)],
    ids=["sgd-b1", "sgd-b8", "adam-b5"])
def test_compiled_loop_follows_the_numpy_backend(rng, hidden, output, loss, kind, optimizer,
                                                 batch_size):
    # plain SGD is fused into the backward pass (and deferred at batch 1); the
    # activations' parameters, GELU's pre-activations and Huber's delta reach
    # the compiled loop on every path
    X, y, n_out = _data(rng, kind)
    weights = rng.random(X.shape[0]) + 0.5
    runs = []
    for backend in ("cython", "numpy"):
        model = _model(hidden, _copy(output), n_out, backend)
        history = model.fit(X, y, loss, optimizer(), epochs=3, batch_size=batch_size,
                            sample_weight=weights, verbose=0)
        runs.append((model.params.copy(), history.history))
    (p_c, h_c), (p_n, h_n) = runs
    assert np.abs(p_c - p_n).max() <= 1e-12 * max(1, np.abs(p_n).max())
    np.testing.assert_allclose(h_c["loss"], h_n["loss"], rtol=1e-12)
    assert h_c.get("accuracy") == h_n.get("accuracy")


@pytest.mark.parametrize("hidden, output, loss, kind", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_with_1_and_2_threads(rng, hidden, output, loss, kind, dtype):
    X, y, n_out = _data(rng, kind, n=300)
    results = []
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            model = _model(hidden, _copy(output), n_out, dtype=dtype)
            model.fit(X, y, loss, Adam(0.01), epochs=2, batch_size=32, verbose=0)
            results.append((model.params.copy(), model.predict_proba(X)))
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("hidden, output, loss, kind", CASES, ids=CASE_IDS)
def test_gradients_match_finite_differences_and_the_numpy_backend(rng, hidden, output, loss,
                                                                   kind):
    X, y, n_out = _data(rng, kind, n=9)
    model = _model(hidden, _copy(output), n_out)
    twin = _model(hidden, _copy(output), n_out, backend="numpy")
    grads = model.gradients(X, y, loss)
    for (dW, db), (tW, tb) in zip(grads, twin.gradients(X, y, loss)):
        np.testing.assert_allclose(dW, tW, rtol=0, atol=1e-12)
        np.testing.assert_allclose(db, tb, rtol=0, atol=1e-12)
    h = 1e-6
    for (dW, _), layer in zip(grads, model.dense):
        for idx in [(0, 0), (layer.n_in - 1, layer.n_out - 1)]:
            saved = layer.W[idx]
            layer.W[idx] = saved + h
            plus = model.evaluate(X, y, loss)["loss"]
            layer.W[idx] = saved - h
            minus = model.evaluate(X, y, loss)["loss"]
            layer.W[idx] = saved
            assert dW[idx] == pytest.approx((plus - minus) / (2 * h), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_cross_entropy_from_logits_model_predicts_probabilities(rng, backend):
    X, y, _ = _data(rng, "labels", n=120)
    model = Sequential([Dense(5, 8), GELU(), Dense(8, 3)], seed=1, backend=backend,
                       dtype="float64")
    history = model.fit(X, y, "cross_entropy_from_logits", Adam(0.02), epochs=20,
                        batch_size=16, verbose=0)
    assert model.task == "classification" and "accuracy" in history.history
    logits = model._forward(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, fastnn.reference.softmax(logits), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), logits.argmax(axis=1))
    result = model.evaluate(X, y)
    assert result["accuracy"] == np.mean(model.predict(X) == y)
    assert result["accuracy"] == pytest.approx(history.history["accuracy"][-1], abs=0.1)
    # the same network trained as softmax + cce gives the same probabilities
    twin = Sequential([Dense(5, 8), GELU(), Dense(8, 3), Softmax()], seed=1, backend=backend,
                      dtype="float64")
    twin.fit(X, y, "cce", Adam(0.02), epochs=20, batch_size=16, verbose=0)
    np.testing.assert_allclose(twin.predict_proba(X), proba, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_bce_with_logits_model_thresholds_the_logit_at_0(rng, backend):
    X, y, _ = _data(rng, "binary", n=100)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    model = Sequential([Dense(5, 6), LeakyReLU(0.1), Dense(6, 1)], seed=2, backend=backend)
    history = model.fit(X, y, BCEWithLogitsLoss(), Adam(0.05), epochs=30, batch_size=10,
                        verbose=0)
    logits = model._forward(X.astype(np.float32))[:, 0]
    proba = model.predict_proba(X)[:, 0]
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), (logits > 0).astype(np.int64))
    # the compiled loop's count and evaluate's agree with predict
    accuracy = np.mean(model.predict(X) == y)
    assert model.evaluate(X, y)["accuracy"] == accuracy > 0.9
    assert history.history["accuracy"][-1] > 0.85


def test_save_load_round_trip(rng, tmp_path):
    X, y, _ = _data(rng, "labels", n=40)
    model = Sequential([Dense(5, 6), LeakyReLU(0.2), Dense(6, 6), GELU(), Dense(6, 5),
                        Softplus(), Dense(5, 3)], seed=4)
    model.fit(X, y, CrossEntropyFromLogitsLoss(), Adam(0.01), epochs=2, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load(tmp_path / "m.npz")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[1].alpha == 0.2 and loaded.activation_params == [0.2, 0.0, 0.0, 0.0]
    assert isinstance(loaded.loss, CrossEntropyFromLogitsLoss)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    regressor = Sequential([Dense(5, 4), LogSoftmax(), Dense(4, 2)], seed=5)
    regressor.fit(X, rng.standard_normal((40, 2)), HuberLoss(0.3), SGD(0.1), verbose=0)
    regressor.save(tmp_path / "r.npz")
    again = fastnn.load(tmp_path / "r.npz")
    assert again.loss.delta == 0.3
    assert again.evaluate(X, rng.standard_normal((40, 2)))["loss"] > 0


def test_summary_names_the_new_layers():
    model = Sequential([Dense(4, 5), LeakyReLU(0.25), Dense(5, 5), GELU(), Dense(5, 3),
                        LogSoftmax()])
    text = model.summary(file=io.StringIO())
    assert "Dense(4, 5) + leaky_relu(alpha=0.25)" in text
    assert "Dense(5, 5) + gelu" in text and "Dense(5, 3) + log_softmax" in text


def test_refusals_name_the_problem(rng):
    X, y, _ = _data(rng, "labels", n=10)
    log_probabilities = Sequential([Dense(5, 3), LogSoftmax()])
    with pytest.raises(ValueError, match="CrossEntropyLoss needs probabilities.*'log_softmax'"
                       ".*CrossEntropyFromLogitsLoss"):
        log_probabilities.fit(X, y, "cce", SGD(0.1), verbose=0)
    softmax = Sequential([Dense(5, 3), Softmax()])
    with pytest.raises(ValueError, match="CrossEntropyFromLogitsLoss needs logits: the model's "
                       "last layer must be identity, got 'softmax'"):
        softmax.fit(X, y, "cross_entropy_from_logits", SGD(0.1), verbose=0)
    with pytest.raises(ValueError, match="loss must be a fastnn loss .*'huber'.*got 'hubber'"):
        softmax.fit(X, y, "hubber", SGD(0.1), verbose=0)


def test_compiled_loop_refuses_missing_preacts_and_short_act_params(rng):
    # GELU's backward pass reads its pre-activations: train_samples and
    # gradients refuse to run without a buffer for them
    from fastnn._kernels import train as _train
    from fastnn._validation import LOSSES
    model = Sequential([Dense(3, 4), GELU(), Dense(4, 2)], dtype="float64")
    lay, n = model._layout, 5
    X, Y = rng.standard_normal((n, 3)), rng.standard_normal((n, 2))
    with model._workspaces.borrow(n) as ws:
        args = (X, Y, lay["sizes"], lay["act_codes"], LOSSES["mse"], model.params, model.grads,
                ws["acts"], ws["deltas"], lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"])
        with pytest.raises(ValueError, match="a GELU layer needs preacts of at least 30 values"):
            _train.gradients(*args)
        with pytest.raises(ValueError, match="a GELU layer needs preacts"):
            _train.gradients(*args, preacts=ws["preacts"][:29])
        with pytest.raises(ValueError, match="act_params has 1 entries for 2 layers"):
            _train.gradients(*args, preacts=ws["preacts"], act_params=np.zeros(1))
        _train.gradients(*args, preacts=ws["preacts"], act_params=lay["act_params"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_with_1_and_2_threads_when_batches_are_gathered_ahead(rng, dtype):
    # batches large enough for the 2-thread gather-ahead (train.pyx), with every
    # new activation, GELU's pre-activations kept and a loss on logits
    from fastnn._kernels import train as _train
    X = rng.standard_normal((512, 300)).astype(dtype)
    y = rng.integers(0, 10, 512)
    sizes = [300, 64, 48, 32, 10]
    results = []
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            if threads == 2:
                assert _train.gathers_ahead(64, sizes, dtype)
            model = Sequential([Dense(300, 64), GELU(), Dense(64, 48), LeakyReLU(0.2),
                                Dense(48, 32), Softplus(), Dense(32, 10)], dtype=dtype, seed=9)
            model.fit(X, y, CrossEntropyFromLogitsLoss(), Adam(1e-3), epochs=2, batch_size=64,
                      verbose=0)
            results.append((model.params.copy(), model.predict_proba(X)))
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
