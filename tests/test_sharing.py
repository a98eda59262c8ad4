"""One model used from several Python threads (fastnn/_sharing.py): concurrent
predictions give exactly the serial results; training excludes other threads."""

import concurrent.futures
import pickle
import threading

import numpy as np
import pytest

import fastnn
from fastnn import _sharing
from fastnn.sklearn import MLPClassifier

THREADS = 8
CALLS = 96


def _model(dtype, seed=0):
    return fastnn.Sequential([fastnn.Dense(784, 64), fastnn.ReLU(), fastnn.Dense(64, 10),
                              fastnn.Softmax()], seed=seed, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concurrent_predictions_equal_the_serial_ones(dtype):
    rng = np.random.default_rng(0)
    model = _model(dtype)
    # different sizes: chunks of several batch sizes, hence workspaces, at once
    inputs = [rng.random((int(rng.integers(1, 1500)), 784)).astype(dtype)
              for _ in range(CALLS)]
    Y = np.eye(10)[rng.integers(0, 10, 700)]
    serial = [(model.predict_proba(X), model.predict(X)) for X in inputs]
    loss = model.evaluate(inputs[0][:700] if len(inputs[0]) >= 700 else
                          rng.random((700, 784)).astype(dtype), Y, "cce")

    def call(i):
        X = inputs[i]
        return model.predict_proba(X), model.predict(X)

    barrier = threading.Barrier(THREADS)

    def start(i):
        if i < THREADS:
            barrier.wait()
        return call(i)

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(start, range(CALLS)))
    for (p, labels), (p0, labels0) in zip(results, serial):
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(labels, labels0)
    assert loss["loss"] > 0


def test_concurrent_estimator_predictions_equal_the_serial_ones():
    rng = np.random.default_rng(1)
    X, y = rng.random((400, 784)), rng.integers(0, 10, 400)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=3, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    inputs = [rng.random((int(rng.integers(1, 900)), 784)) for _ in range(CALLS)]
    serial = [clf.predict_proba(X) for X in inputs]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(clf.predict_proba, inputs))
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


class _Pause(fastnn.Callback):
    """Holds fit in its first epoch's end until released."""

    def __init__(self):
        self.inside, self.release = threading.Event(), threading.Event()

    def on_epoch_end(self, epoch, logs):
        self.inside.set()
        assert self.release.wait(30)


def test_other_threads_cannot_use_a_model_while_it_trains():
    rng = np.random.default_rng(2)
    X, Y = rng.random((64, 784)), np.eye(10)[rng.integers(0, 10, 64)]
    model = _model("float64")
    pause = _Pause()
    trainer = threading.Thread(target=model.fit, args=(X, Y, "cce", fastnn.SGD(0.1)),
                               kwargs={"epochs": 1, "verbose": 0, "callbacks": [pause]})
    trainer.start()
    try:
        assert pause.inside.wait(30)
        for attempt in (lambda: model.predict(X), lambda: model.evaluate(X, Y),
                        lambda: model.fit(X, Y, "cce", fastnn.SGD(0.1), verbose=0),
                        lambda: model.gradients(X, Y, "cce"),
                        lambda: model.set_weights(model.get_weights())):
            with pytest.raises(RuntimeError, match="another thread is training this model"):
                attempt()
    finally:
        pause.release.set()
        trainer.join(30)
    assert model.predict(X).shape == (64,)       # usable again once fit returned


def test_the_training_thread_may_read_its_model():
    rng = np.random.default_rng(3)
    X, Y = rng.random((64, 784)), np.eye(10)[rng.integers(0, 10, 64)]
    model = _model("float32")
    seen = []
    model.fit(X, Y, "cce", fastnn.SGD(0.1), epochs=2, verbose=0,
              callbacks=[lambda epoch, logs: seen.append(model.evaluate(X, Y)["loss"])])
    assert len(seen) == 2


def test_a_change_waits_for_reads_in_progress():
    guard = _sharing.UseGuard()
    order = []
    reading, done = threading.Event(), threading.Event()

    def reader():
        with guard.reading("predict"):
            reading.set()
            done.wait(5)
            order.append("read")

    t = threading.Thread(target=reader)
    t.start()
    assert reading.wait(5)
    threading.Timer(0.2, done.set).start()
    with guard.writing("fit"):
        order.append("write")
    t.join(5)
    assert order == ["read", "write"]


def test_workspaces_are_lent_to_one_caller_at_a_time_and_reused():
    pool = _sharing.Workspaces((784, 30, 10), np.float32)
    with pool.borrow(32) as a, pool.borrow(32) as b:
        assert a["acts"] is not b["acts"]
        assert a["acts"].size == 32 * (784 + 30 + 10)
    with pool.borrow(32) as c:
        assert c["acts"] is b["acts"] or c["acts"] is a["acts"]
    for size in (1, 2, 3):
        with pool.borrow(size):
            pass
    assert len(pool._free) == pool.KEEP_SIZES


def test_models_pickle_without_their_locks_and_buffers():
    model = _model("float32")
    X = np.random.default_rng(4).random((5, 784)).astype(np.float32)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    assert copy._guard is not model._guard
