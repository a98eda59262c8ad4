"""README.md's examples as a user writes them in a type-checked project.

``tests/test_typing.py`` runs ``mypy --strict`` on this file, with fastnn
seen as an installed package (``fastnn/py.typed``), and then runs it.  The
``assert_type`` calls (no-ops at run time) pin the types fastnn's annotations
give, so that a public function silently losing its annotations (becoming
``Any``) fails the test.  Epochs and iterations are fewer than in the README,
to run in seconds; the calls are the README's.
"""

import warnings
from typing import Any, assert_type

import numpy as np
import numpy.typing as npt

import fastnn
from fastnn import MLPClassifier, MLPRegressor, kernels, reference
from fastnn.datasets import load_digits

# scikit-learn ships no type information: a strict project silences its own
# imports of it ("unused-ignore" keeps this line valid should that change).
from sklearn.datasets import load_digits as sk_load_digits  # type: ignore[import-untyped, unused-ignore]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped, unused-ignore]

FloatArray = npt.NDArray[np.floating[Any]]


def training_a_network(epochs: int = 30) -> fastnn.Sequential:
    """README, "Training a network"."""
    X_train, y_train, X_test, y_test = load_digits()          # 8x8 digits, pixels in [0, 1]
    assert_type(X_train, FloatArray)
    assert_type(y_train, npt.NDArray[np.int64])
    model = fastnn.Sequential([fastnn.Dense(64, 30), fastnn.Sigmoid(),
                               fastnn.Dense(30, 10), fastnn.Sigmoid()], seed=0)
    history = model.fit(X_train, y_train, loss=fastnn.MSELoss(),      # the quadratic cost
                        optimizer=fastnn.SGD(lr=3.0), epochs=epochs, batch_size=10, verbose=0)
    assert_type(history, fastnn.History)
    assert_type(history.history["loss"], list[float])
    scores = model.evaluate(X_test, y_test)
    assert_type(scores, dict[str, float])
    print(scores)                                              # {'loss': ..., 'accuracy': ...}
    model.save("digits.npz")
    same = fastnn.load("digits.npz")
    assert_type(same, fastnn.Sequential)
    assert_type(same.predict_proba(X_test), FloatArray)
    assert_type(same.predict(X_test), npt.NDArray[Any])
    assert_type(same.get_weights(), list[tuple[FloatArray, FloatArray]])
    return same


def fit_options(epochs: int = 2) -> None:
    """README, the options of ``fit``: presets, validation, early stopping, callbacks."""
    X_train, y_train, _, _ = load_digits(dtype="float64", seed=1)
    model = fastnn.Sequential([fastnn.Dense(64, 16), fastnn.ReLU(),
                               fastnn.Dense(16, 10), fastnn.Softmax()], dtype="float64", seed=0)

    def log_epoch(epoch: int, logs: dict[str, float]) -> bool:
        return logs["loss"] < 0.0         # True would stop training

    class StopEarly(fastnn.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
            return epoch >= 100

    for optimizer in (fastnn.BatchGD(lr=0.5), fastnn.StochasticGD(lr=0.01),
                      fastnn.MiniBatchGD(lr=0.1, batch_size=16, momentum=0.9, nesterov=True),
                      fastnn.SGD(lr=fastnn.StepDecay(0.1, factor=0.5, every=10)),
                      fastnn.Adam(lr=fastnn.ExponentialDecay(1e-3, gamma=0.9))):
        model.fit(X_train, y_train, loss=fastnn.CrossEntropyLoss(), optimizer=optimizer,
                  epochs=epochs, validation_split=0.1, patience=5, min_delta=1e-4,
                  callbacks=[log_epoch, StopEarly()], verbose=0)
    assert_type(model.gradients(X_train[:8], y_train[:8], "cce"),
                list[tuple[FloatArray, FloatArray]])
    assert_type(model.summary(), str)


def scikit_learn_estimators(max_iter: int = 200) -> None:
    """README, "scikit-learn's MLPClassifier and MLPRegressor"."""
    X, y = sk_load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(30,), solver="sgd", learning_rate_init=0.1,
                        random_state=0, max_iter=max_iter).fit(X_train, y_train)
    print(clf.n_iter_, clf.score(X_test, y_test))   # 180 0.9689..., as scikit-learn's gives
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=1, max_iter=max_iter)
    reg.fit(X_train, y_train.astype(float))
    print(reg.predict(X_test[:2]).shape)


def the_kernels() -> None:
    """README, "The kernels"."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 784), dtype=np.float32)     # a batch, one sample per row
    W = rng.standard_normal((784, 30), dtype=np.float32) / 28  # weights are (n_in, n_out)
    b = np.zeros(30, np.float32)
    Y = rng.random((10, 30), dtype=np.float32)

    A = kernels.dense_forward(X, W, b, "sigmoid")                 # A = σ(X·W + b)
    assert_type(A, FloatArray)
    assert np.allclose(A, reference.dense_forward(X, W, b, "sigmoid"), rtol=1e-5)
    loss, delta = kernels.loss_delta(A, Y, "mse", "sigmoid")      # ½·Σ(a−y)² per sample
    assert_type(loss, float)
    dW, db, _ = kernels.dense_backward(X, W, A, delta, "identity", need_dX=False)
    kernels.sgd_update(W.reshape(-1), dW.reshape(-1), lr=3.0)     # W updated in place
    kernels.sgd_update(b, db, lr=3.0)

    # dX is an array unless need_dX=False says otherwise
    dW, db, dX = kernels.dense_backward(X, W, A, delta, "sigmoid")
    assert_type(dX, FloatArray)
    _, _, maybe = reference.dense_backward(X, W, A, delta, "sigmoid", need_dX=bool(len(X)))
    assert_type(maybe, FloatArray | None)
    velocity = np.zeros_like(b)
    kernels.momentum_update(b, db, velocity, lr=0.1, momentum=0.9, nesterov=True)
    m, v = np.zeros_like(b), np.zeros_like(b)
    kernels.adam_update(b, db, m, v, step=1, lr=1e-3)
    dZ = kernels.activation_backward(A, delta, "sigmoid", out=np.empty_like(A))
    assert_type(dZ, FloatArray)


def threads_and_configuration() -> None:
    """README, "Threads and determinism", and the configuration functions."""
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(1)       # limits fastnn's OpenMP pool and the BLAS it calls
    assert_type(fastnn.get_num_threads(), int)
    fastnn.set_num_threads(before)
    assert_type(fastnn.config(), dict[str, Any])
    fastnn.show_config()
    assert_type(fastnn.available_isas(), list[str])
    with fastnn.use_isa(fastnn.get_isa()):
        pass
    with fastnn.flush_denormals():
        pass
    assert_type(fastnn.__version__, str)


def main(quick: bool = False) -> None:
    training_a_network(epochs=2 if quick else 30)
    fit_options(epochs=1 if quick else 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # ConvergenceWarning when quick
        scikit_learn_estimators(max_iter=3 if quick else 200)
    the_kernels()
    threads_and_configuration()


if __name__ == "__main__":
    import sys
    main(quick="--quick" in sys.argv)
