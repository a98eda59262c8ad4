"""Sequential.fit's sample_weight and class_weight, and class labels of any type (classes_)."""

import numpy as np
import pytest

import fastnn
from fastnn.model import load


def _data(n=150, n_in=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = rng.integers(0, classes, n)
    return X, y


def _model(dtype="float64", backend="cython", n_out=3, seed=1):
    return fastnn.Sequential([fastnn.Dense(6, 8), fastnn.Tanh(), fastnn.Dense(8, n_out),
                              fastnn.Softmax() if n_out > 1 else fastnn.Sigmoid()],
                             dtype=dtype, seed=seed, backend=backend)


@pytest.mark.parametrize("batch_size", [1, 7, 32, None])
@pytest.mark.parametrize("optimizer", [lambda: fastnn.SGD(0.1),
                                       lambda: fastnn.SGD(0.05, momentum=0.9),
                                       lambda: fastnn.Adam(1e-2)], ids=["sgd", "momentum", "adam"])
def test_weighted_training_matches_the_numpy_reference(batch_size, optimizer):
    X, y = _data()
    w = np.random.default_rng(3).uniform(0, 3, len(y))
    w[::5] = 0                                  # zero weights, and whole zero batches at b1
    fitted = []
    for backend in ("cython", "numpy"):
        model = _model(backend=backend)
        h = model.fit(X, y, "cce", optimizer(), epochs=3, batch_size=batch_size, verbose=0,
                      sample_weight=w)
        fitted.append((model.params.copy(), h.history["loss"]))
    # rounding differs (the reference sums in another order) and grows over 450 steps
    np.testing.assert_allclose(fitted[0][0], fitted[1][0], rtol=0,
                               atol=1e-9 * np.abs(fitted[1][0]).max())
    np.testing.assert_allclose(fitted[0][1], fitted[1][1], rtol=1e-9)
    assert np.isfinite(fitted[0][0]).all()


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-6)])
def test_a_weight_of_two_is_a_sample_seen_twice_in_full_batch_descent(dtype, tol):
    X, y = _data(60)
    w = np.where(np.arange(60) % 3 == 0, 2.0, 1.0)
    repeated = np.repeat(np.arange(60), w.astype(int))
    a, b = _model(dtype), _model(dtype)
    a.fit(X, y, "cce", fastnn.SGD(0.5), epochs=5, batch_size=None, verbose=0, sample_weight=w)
    b.fit(X[repeated], y[repeated], "cce", fastnn.SGD(0.5), epochs=5, batch_size=None,
          verbose=0)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=tol * np.abs(b.params).max())


def test_class_weight_is_a_per_class_sample_weight():
    X, y = _data()
    a, b = _model(), _model()
    a.fit(X, y, "cce", fastnn.Adam(1e-2), epochs=2, batch_size=16, verbose=0,
          class_weight={0: 0.5, 2: 3.0}, sample_weight=np.full(len(y), 2.0))
    b.fit(X, y, "cce", fastnn.Adam(1e-2), epochs=2, batch_size=16, verbose=0,
          sample_weight=np.array([1.0, 2.0, 6.0])[y])
    np.testing.assert_array_equal(a.params, b.params)


def test_balanced_class_weight_is_scikit_learns():
    sklearn_cw = pytest.importorskip("sklearn.utils.class_weight")
    X, y = _data()
    y[:100] = 0                                 # unbalanced
    expected = sklearn_cw.compute_class_weight("balanced", classes=np.unique(y), y=y)
    a, b = _model(), _model()
    a.fit(X, y, "cce", fastnn.SGD(0.1), epochs=2, batch_size=16, verbose=0,
          class_weight="balanced")
    b.fit(X, y, "cce", fastnn.SGD(0.1), epochs=2, batch_size=16, verbose=0,
          sample_weight=expected[y])
    np.testing.assert_array_equal(a.params, b.params)


def test_a_batch_of_zero_weights_takes_a_zero_step():
    X, y = _data(8)
    model = _model()
    before = model.params.copy()
    model.fit(X, y, "cce", fastnn.SGD(0.1), epochs=1, batch_size=8, verbose=0,
              sample_weight=np.zeros(8))
    np.testing.assert_array_equal(model.params, before)


def test_validation_split_holds_out_the_weights_with_the_rows():
    X, y = _data(100)
    w = np.random.default_rng(4).uniform(0.5, 2, 100)
    a, b = _model(), _model()
    a.fit(X, y, "cce", fastnn.SGD(0.1), epochs=2, batch_size=10, verbose=0,
          sample_weight=w, validation_split=0.2)
    b.fit(X[:80], y[:80], "cce", fastnn.SGD(0.1), epochs=2, batch_size=10, verbose=0,
          sample_weight=w[:80])
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sample_weight=np.ones(5)), ValueError, r"sample_weight must have shape \(150,\)"),
    (dict(sample_weight=-np.ones(150)), ValueError, "finite and >= 0"),
    (dict(sample_weight=np.full(150, np.nan)), ValueError, "finite and >= 0"),
    (dict(sample_weight=np.array(["a"] * 150)), TypeError, "sample_weight must hold numbers"),
    (dict(class_weight="even"), ValueError, "'balanced' or a dict"),
    (dict(class_weight=[1, 2]), TypeError, "'balanced' or a dict"),
    (dict(class_weight={7: 1.0}), ValueError, "weight for 7, which is not a class"),
    (dict(class_weight={0: -1.0}), ValueError, r"class_weight\[0\] must be finite and >= 0"),
])
def test_bad_weights_are_refused_before_training(kwargs, error, match):
    X, y = _data()
    model = _model()
    before = model.params.copy()
    with pytest.raises(error, match=match):
        model.fit(X, y, "cce", fastnn.SGD(0.1), verbose=0, **kwargs)
    np.testing.assert_array_equal(model.params, before)


def test_class_weight_needs_labels():
    X = np.random.default_rng(0).standard_normal((20, 6))
    model = fastnn.Sequential([fastnn.Dense(6, 2)], dtype="float64")
    with pytest.raises(ValueError, match="class_weight needs class labels"):
        model.fit(X, np.zeros((20, 2)), "mse", fastnn.SGD(0.1), verbose=0,
                  class_weight="balanced")


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]),
                                    np.array([0.5, 1.5, 2.5]),
                                    np.array(["cat", "dog", "emu"], dtype=object)],
                         ids=["str", "float", "object"])
def test_labels_of_any_type_train_as_their_sorted_class_numbers(labels, tmp_path):
    X, y = _data()
    named, numbered = _model(), _model()
    named.fit(X, labels[y], "cce", fastnn.SGD(0.1), epochs=2, verbose=0)
    numbered.fit(X, y, "cce", fastnn.SGD(0.1), epochs=2, verbose=0)
    np.testing.assert_array_equal(named.params, numbered.params)
    np.testing.assert_array_equal(named.classes_, np.sort(labels))
    assert numbered.classes_ is None
    np.testing.assert_array_equal(named.predict(X), labels[numbered.predict(X)])
    assert named.evaluate(X, labels[y]) == numbered.evaluate(X, y)
    named.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), named.predict(X))


def test_two_string_classes_on_one_sigmoid_output():
    X, y = _data(classes=2)
    named, numbered = _model(n_out=1), _model(n_out=1)
    names = np.array(["no", "yes"])
    named.fit(X, names[y], "bce", fastnn.SGD(0.1), epochs=2, verbose=0)
    numbered.fit(X, y, "bce", fastnn.SGD(0.1), epochs=2, verbose=0)
    np.testing.assert_array_equal(named.params, numbered.params)
    np.testing.assert_array_equal(named.predict(X), names[numbered.predict(X)])


def test_class_weight_by_label_name():
    X, y = _data()
    names = np.array(["a", "b", "c"])
    a, b = _model(), _model()
    a.fit(X, names[y], "cce", fastnn.SGD(0.1), epochs=1, verbose=0, class_weight={"c": 2.0})
    b.fit(X, y, "cce", fastnn.SGD(0.1), epochs=1, verbose=0, class_weight={2: 2.0})
    np.testing.assert_array_equal(a.params, b.params)


def test_labels_are_checked_against_classes():
    X, y = _data()
    names = np.array(["a", "b", "c", "d"])
    model = _model()
    with pytest.raises(ValueError, match="4 classes .* tell apart up to 3"):
        model.fit(X, names[np.arange(len(y)) % 4], "cce", fastnn.SGD(0.1), verbose=0)
    assert model.classes_ is None                    # a refused fit changes nothing
    with pytest.raises(ValueError, match="patience"):
        model.fit(X, names[y], "cce", fastnn.SGD(0.1), verbose=0, patience=0)
    assert model.classes_ is None
    model.fit(X, names[y], "cce", fastnn.SGD(0.1), verbose=0)
    with pytest.raises(ValueError, match="labels the model was not trained on: 'd'"):
        model.fit(X, names[np.arange(len(y)) % 4], "cce", fastnn.SGD(0.1), verbose=0)
    with pytest.raises(ValueError, match="not trained on"):
        model.evaluate(X, np.full(len(y), "zebra"))
    with pytest.raises(TypeError, match="cannot be sorted"):
        _model().fit(X, np.array([1, "a"] * 75, dtype=object), "cce", fastnn.SGD(0.1),
                     verbose=0)
