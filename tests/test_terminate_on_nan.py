"""fastnn.callbacks.TerminateOnNaN: the training loop (compiled or NumPy) stops
before the update of the first batch whose loss or gradient is NaN or
infinite, with the weights and optimizer state of the last step taken."""

import warnings

import numpy as np
import pytest

import fastnn
from fastnn._kernels import train as _train

BATCH = 10


def _data(n=200, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    return X, 10 * X @ rng.standard_normal((n_in, 2))


def _model(dtype, backend="cython", n_in=5, seed=1):
    return fastnn.Sequential([fastnn.Dense(n_in, 16), fastnn.ReLU(), fastnn.Dense(16, 2)],
                             dtype=dtype, seed=seed, backend=backend)


OPTIMIZERS = {"sgd": lambda: fastnn.SGD(3.0),       # plain: the update fused without the check
              "momentum": lambda: fastnn.SGD(1.0, momentum=0.9)}


def _fit(model, optimizer, callbacks=(), X=None, Y=None, **kwargs):
    if X is None:
        X, Y = _data()
    options = dict(epochs=5, batch_size=BATCH, shuffle=False, verbose=0)
    options.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's overflows, the stop's
        return model.fit(X, Y, "mse", optimizer, callbacks=callbacks, **options)


def _state(optimizer):
    return {k: v for k, v in optimizer.state_dict().items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("rule", sorted(OPTIMIZERS))
def test_stops_before_the_first_non_finite_batch_with_the_last_finite_step(
        backend, rule, dtype):
    X, Y = _data()
    model, optimizer, stopper = _model(dtype, backend), OPTIMIZERS[rule](), \
        fastnn.TerminateOnNaN()
    history = _fit(model, optimizer, [stopper])
    assert stopper.stopped_epoch == history.stopped_epoch == 0
    batch = stopper.stopped_batch
    assert 0 < batch < len(X) // BATCH
    assert np.isfinite(model.params).all()
    assert optimizer.t == batch and history.epoch == [0]

    # the same batches by hand, without the callback: the same bits
    by_hand, by_hand_optimizer = _model(dtype, backend), OPTIMIZERS[rule]()
    replay = _fit(by_hand, by_hand_optimizer, X=X[:batch * BATCH], Y=Y[:batch * BATCH],
                  epochs=1)
    np.testing.assert_array_equal(model.params, by_hand.params)
    assert by_hand_optimizer.t == optimizer.t
    for name, value in _state(by_hand_optimizer).items():
        np.testing.assert_array_equal(_state(optimizer)[name], value)
    assert history.history["loss"] == replay.history["loss"]

    # and the stopped batch is the first whose loss or gradient is not finite
    with np.errstate(all="ignore"):
        rows = slice(batch * BATCH, (batch + 1) * BATCH)
        grads = model.gradients(X[rows], Y[rows], "mse")
        loss = model.evaluate(X[rows], Y[rows], "mse")["loss"]
    assert not (np.isfinite(loss) and all(np.isfinite(g).all() for pair in grads for g in pair))


def test_the_backends_stop_at_the_same_batch():
    cython, numpy = _model("float64"), _model("float64", "numpy")
    stoppers = fastnn.TerminateOnNaN(), fastnn.TerminateOnNaN()
    _fit(cython, fastnn.SGD(3.0), [stoppers[0]])
    _fit(numpy, fastnn.SGD(3.0), [stoppers[1]])
    assert stoppers[0].stopped_batch == stoppers[1].stopped_batch is not None
    np.testing.assert_allclose(cython.params, numpy.params, rtol=1e-9)


def test_fit_records_the_partial_epoch_warns_and_runs_the_other_callbacks():
    seen, ended = [], []

    class Watch(fastnn.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, dict(logs)))

        def on_train_end(self, model, history):
            ended.append(history)

    X, Y = _data()
    model, stopper = _model("float64"), fastnn.TerminateOnNaN()
    # a first epoch that diverges only late: a small lr, then a huge one
    schedule = fastnn.LearningRateScheduler(lambda epoch, lr: 1e-3 if epoch == 0 else 3.0)
    with pytest.warns(RuntimeWarning, match=r"TerminateOnNaN: epoch 2, batch \d+: the loss "
                                            "or the gradient is NaN or infinite; training "
                                            "stopped before that batch's update"):
        history = model.fit(X, Y, "mse", fastnn.SGD(1e-3), epochs=5, batch_size=BATCH,
                            shuffle=False, verbose=0, validation_data=(X[:20], Y[:20]),
                            callbacks=[schedule, stopper, Watch()])
    assert stopper.stopped_epoch == history.stopped_epoch == 1 and history.epoch == [0, 1]
    assert [epoch for epoch, _ in seen] == [0, 1] and ended == [history]
    logs = seen[1][1]
    assert sorted(logs) == ["loss", "lr", "time", "val_loss"] and logs["lr"] == 3.0
    assert np.isfinite(logs["loss"])      # the validation loss of such weights may overflow
    assert model.optimizer.t == len(X) // BATCH + stopper.stopped_batch
    assert model.evaluate(X[:20], Y[:20])["loss"] == logs["val_loss"]


def test_a_stop_at_the_first_batch_logs_nan_and_fit_can_be_called_again():
    X, Y = _data()
    model, stopper = _model("float64"), fastnn.TerminateOnNaN()
    before = model.params.copy()
    history = _fit(model, fastnn.SGD(3.0), [stopper], X=X, Y=np.full_like(Y, 1e300))
    assert (stopper.stopped_epoch, stopper.stopped_batch) == (0, 0)
    assert np.isnan(history.history["loss"][0])
    np.testing.assert_array_equal(model.params, before)
    optimizer = fastnn.SGD(1e-3)
    history = _fit(model, optimizer, [stopper], X=X, Y=Y, epochs=2)
    assert stopper.stopped_epoch is None and stopper.stopped_batch is None
    assert history.stopped_epoch is None and optimizer.t == 2 * len(X) // BATCH


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("batch_size, make", [
    (1, lambda: fastnn.SGD(0.01)),                    # batch-1 fusion without the check
    (7, lambda: fastnn.SGD(0.05)),                    # fused update, a short last batch
    (16, lambda: fastnn.Adam(0.01, clip_norm=1.0)),
    (None, lambda: fastnn.SGD(0.1, momentum=0.9, nesterov=True))])
def test_without_divergence_the_callback_changes_no_bit(backend, batch_size, make, dtype):
    X, Y = _data(n=60)
    Y = Y / 10
    plain, checked = _model(dtype, backend), _model(dtype, backend)
    h1 = _fit(plain, make(), X=X, Y=Y, epochs=2, batch_size=batch_size, shuffle=True)
    stopper = fastnn.TerminateOnNaN()
    h2 = _fit(checked, make(), [stopper], X=X, Y=Y, epochs=2, batch_size=batch_size,
              shuffle=True)
    np.testing.assert_array_equal(checked.params, plain.params)
    assert h1.history["loss"] == h2.history["loss"]
    assert stopper.stopped_epoch is None and h2.stopped_epoch is None


def test_the_stop_is_the_same_for_1_and_2_threads():
    # 40 features, batches of 64 in float64: with 2 threads the batches are
    # gathered ahead on the second one (the run ends while it gathers)
    X, Y = _data(n=2000, n_in=40)
    before = fastnn.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            ahead = _train.gathers_ahead(64, [40, 16, 2], np.float64)
            assert not (ahead and threads == 1)
            model, stopper = _model("float64", n_in=40), fastnn.TerminateOnNaN()
            _fit(model, fastnn.SGD(0.5), [stopper], X=X, Y=Y, batch_size=64, shuffle=True)
            runs.append((stopper.stopped_epoch, stopper.stopped_batch, model.params))
    finally:
        fastnn.set_num_threads(before)
    assert runs[0][1] is not None and runs[0][:2] == runs[1][:2]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_an_update_that_overflows_from_a_finite_gradient_is_found_at_the_next_batch():
    # float32: the first batch's gradient is finite, but lr x gradient
    # overflows; the second batch's loss is then not finite
    X, Y = _data(n=40)
    model, stopper = _model("float32"), fastnn.TerminateOnNaN()
    with pytest.raises(FloatingPointError, match="training diverged"):
        _fit(model, fastnn.SGD(1e38), [stopper], X=X, Y=Y)
    assert (stopper.stopped_epoch, stopper.stopped_batch) == (0, 1)


def test_non_finite_inputs_are_refused_before_training_as_without_it():
    # X outweighs twice the weights: without the callback its rows would be
    # checked as the first epoch gathers them, which the stop would cut short
    X, Y = _data()
    X[-1, 0] = np.nan
    model, stopper = _model("float64"), fastnn.TerminateOnNaN()
    assert model._finite_check_in_training(X, fastnn.SGD(3.0))
    before = model.params.copy()
    with pytest.raises(ValueError, match="X contains NaN or infinity .*, in row 199"):
        _fit(model, fastnn.SGD(3.0), [stopper], X=X, Y=Y)
    np.testing.assert_array_equal(model.params, before)
    assert stopper.stopped_epoch is None


def test_refuses_data_parallel_training_before_anything_is_trained():
    X, Y = _data(n=20)
    model = _model("float64")
    before = model.params.copy()
    with pytest.raises(ValueError, match="TerminateOnNaN does not work with comm"):
        model.fit(X, Y, "mse", fastnn.SGD(0.1), verbose=0, comm=object(),
                  callbacks=[fastnn.TerminateOnNaN()])
    np.testing.assert_array_equal(model.params, before)


def test_the_compiled_loop_refuses_the_check_with_a_reducer():
    model = _model("float64")
    model.fit(*_data(n=20), "mse", fastnn.SGD(0.1), epochs=1, verbose=0)
    steps = (np.array([4], np.intp), np.array([4.0]), np.array([4.0]),
             np.zeros(_train.REDUCER_FIELDS, np.int64))
    with pytest.raises(ValueError, match="stop_non_finite does not work with a reducer"):
        model._train_compiled(np.zeros((4, 5)), np.zeros((4, 2)), None, np.arange(4), 0, 4, 4,
                              fastnn.losses.get_loss("mse"), model.optimizer,
                              stop_non_finite=True, steps=steps)
