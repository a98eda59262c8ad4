"""fastnn.callbacks: EarlyStopping, ModelCheckpoint, LearningRateScheduler, CSVLogger."""

import csv

import numpy as np
import pytest

import fastnn


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _model(seed=2):
    return fastnn.Sequential([fastnn.Dense(5, 8), fastnn.Tanh(), fastnn.Dense(8, 2),
                              fastnn.Softmax()], dtype="float64", seed=seed)


def _fit(model, callbacks, epochs=30, lr=0.5, **kwargs):
    X, y = _data()
    return model.fit(X, y, "cce", fastnn.SGD(lr), epochs=epochs, batch_size=16, verbose=0,
                     callbacks=callbacks, **kwargs)


def test_early_stopping_stops_where_the_fit_argument_stops():
    X, y = _data()
    kwargs = dict(epochs=60, batch_size=16, verbose=0, validation_split=0.25)
    by_argument = _model()
    h1 = by_argument.fit(X, y, "cce", fastnn.SGD(2.0), patience=3, min_delta=1e-3, **kwargs)
    by_callback = _model()
    stopper = fastnn.EarlyStopping("val_loss", min_delta=1e-3, patience=2,
                                   restore_best_weights=True)
    h2 = by_callback.fit(X, y, "cce", fastnn.SGD(2.0), callbacks=[stopper], **kwargs)
    # fit's patience counts the stopping epoch; Keras's counts the epochs waited before it
    assert h1.stopped_epoch is not None and h2.stopped_epoch == h1.stopped_epoch
    assert stopper.stopped_epoch == h2.stopped_epoch
    np.testing.assert_array_equal(by_callback.params, by_argument.params)
    assert stopper.best == min(h2.history["val_loss"])


def test_early_stopping_in_max_mode_and_start_epoch():
    stopper = fastnn.EarlyStopping("accuracy", patience=0, start_from_epoch=5)
    assert stopper.mode == "max"
    h = _fit(_model(), [stopper], epochs=40)
    assert stopper.stopped_epoch is None or stopper.stopped_epoch >= 5
    assert len(h.epoch) >= 6


def test_early_stopping_names_what_is_logged():
    with pytest.raises(KeyError, match="monitors 'val_loss', which this fit does not log "
                                       r"\(it logs accuracy, loss, lr, time\)"):
        _fit(_model(), [fastnn.EarlyStopping()], epochs=2)


@pytest.mark.parametrize("kwargs, match", [(dict(patience=-1), "patience"),
                                           (dict(min_delta=-0.1), "min_delta"),
                                           (dict(mode="up"), "mode must be")])
def test_early_stopping_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastnn.EarlyStopping(**kwargs)


def test_model_checkpoint_saves_each_epoch_and_the_best(tmp_path):
    every = fastnn.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.3f}.npz", every=2)
    best = fastnn.ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss",
                                  save_best_only=True)
    model = _model()
    h = _fit(model, [every, best], epochs=6, validation_split=0.25)
    assert [p.rsplit("/", 1)[1].split("-")[1] for p in every.saved] == ["02", "04", "06"]
    assert all((tmp_path / p).exists() for p in every.saved)
    last = fastnn.load(every.saved[-1])
    np.testing.assert_array_equal(last.params, model.params)
    val = h.history["val_loss"]
    improved = [i for i in range(len(val)) if val[i] < min(val[:i], default=np.inf)]
    assert len(best.saved) == len(improved)
    assert best.best == min(val)


def test_model_checkpoint_path_must_format(tmp_path):
    with pytest.raises(ValueError, match="cannot be formatted"):
        _fit(_model(), [fastnn.ModelCheckpoint(tmp_path / "{val_loss}.npz",
                                               monitor="loss")], epochs=1)


def test_learning_rate_scheduler_sets_each_epochs_rate():
    seen = []

    def halve(epoch, lr):
        seen.append(lr)
        return 0.4 * 0.5 ** epoch

    h = _fit(_model(), [fastnn.LearningRateScheduler(halve)], epochs=4)
    assert h.history["lr"] == [0.4, 0.2, 0.1, 0.05]
    assert seen[0] == 0.5                       # the optimizer's own rate, before the first
    # the same as an optimizer whose schedule gives those rates
    X, y = _data()
    other = _model()
    other.fit(X, y, "cce", fastnn.SGD(fastnn.ExponentialDecay(0.4, 0.5)), epochs=4,
              batch_size=16, verbose=0)
    np.testing.assert_allclose(other.params, _fit_params(halve), rtol=1e-12)


def _fit_params(schedule):
    model = _model()
    _fit(model, [fastnn.LearningRateScheduler(schedule)], epochs=4)
    return model.params


def test_learning_rate_scheduler_refuses_a_bad_rate():
    with pytest.raises(ValueError, match=r"gave -1.0 for epoch 0; expected a finite number"):
        _fit(_model(), [fastnn.LearningRateScheduler(lambda epoch, lr: -1.0)], epochs=1)
    with pytest.raises(TypeError, match="schedule must be a function"):
        fastnn.LearningRateScheduler(0.1)


def test_csv_logger_writes_a_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    h = _fit(_model(), [fastnn.CSVLogger(path)], epochs=3)
    _fit(_model(), [fastnn.CSVLogger(path, append=True)], epochs=2)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "0", "1"]
    assert float(rows[2]["loss"]) == h.history["loss"][2]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "lr", "time"]
