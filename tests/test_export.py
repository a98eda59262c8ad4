"""fastnn.export_onnx: the exported graph, run by onnxruntime, against predict_proba / predict.

Every activation as hidden and as output layer, float32 and float64 (within
1e-5 / 1e-12 of the largest output); Sequential classifiers' labels; the
scikit-learn estimators' probabilities and labels (integer, string, boolean
and float classes; binary, multiclass, multilabel, one class) and the
regressors' outputs (one and several, Poisson's exp); a float64 model
exported as float32; the errors (unfitted estimator, a layer with no
converter, missing onnx, bad arguments) and the atomic write.
"""

import os
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastnn  # noqa: E402
from fastnn import (  # noqa: E402
    GELU, SGD, Dense, Identity, LeakyReLU, LogSoftmax, ReLU, Sequential, Sigmoid, Softmax,
    Softplus, Step, Tanh, export_onnx)
from fastnn import reference  # noqa: E402
from fastnn.layers import Activation  # noqa: E402

from conftest import RTOL, relative_error  # noqa: E402

ACTIVATIONS = [Identity, Sigmoid, Tanh, ReLU, Softmax, Step, LeakyReLU, GELU, Softplus,
               LogSoftmax]


# --- helpers -------------------------------------------------------------------------

def _run(path, X):
    """The graph's outputs for X, by name: by onnxruntime, or, for a float64
    graph with Erf (GELU), which onnxruntime 1.32 has no float64 kernel for,
    by onnx's reference evaluator (whose Erf rounds to float32: compare such
    outputs with ``ERF_RTOL``)."""
    model = onnx.load(os.fspath(path))
    if X.dtype == np.float64 and any(n.op_type == "Erf" for n in model.graph.node):
        from onnx.reference import ReferenceEvaluator
        names = [o.name for o in model.graph.output]
        return dict(zip(names, ReferenceEvaluator(model).run(names, {"X": X})))
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"X": X})))


#: The tolerance of float64 graphs with Erf, which _run evaluates with onnx's
#: reference evaluator: its Erf is math.erf rounded to float32.
ERF_RTOL = 1e-6


def _assert_close(actual, expected, dtype, rtol=None):
    assert actual.shape == expected.shape
    assert actual.dtype == np.dtype(dtype)
    err = relative_error(actual, expected)
    assert err <= (rtol or RTOL[np.dtype(dtype).type]), "relative error %.3g" % err


def _clear_of_steps(model, X, margin=1e-3):
    """Rows of X whose pre-activations of every Step layer are at least ``margin``
    (relative to their scale) away from Step's threshold 0, where rounding
    could put them on either side."""
    keep = np.ones(X.shape[0], bool)
    A = X.astype(np.float64)
    for layer, act in zip(model.dense, model.activations):
        Z = A @ layer.W.astype(np.float64) + layer.b
        if act == "step":
            keep &= (np.abs(Z) > margin * max(np.abs(Z).max(), 1)).all(axis=1)
        A = reference.activation_forward(Z, act)
    return keep


def _estimators():
    return pytest.importorskip("fastnn.sklearn", reason="needs scikit-learn")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "model.onnx"


# --- Sequential ------------------------------------------------------------------------

@pytest.mark.parametrize("output", ACTIVATIONS + [None], ids=lambda a: getattr(a, "__name__", "linear"))
@pytest.mark.parametrize("hidden", ACTIVATIONS, ids=lambda a: a.__name__)
def test_sequential_matches_predict_proba(hidden, output, dtype, path, rng):
    layers = [Dense(5, 9), hidden(), Dense(9, 4)] + ([output()] if output else [])
    model = Sequential(layers, dtype=dtype, seed=int(rng.integers(1 << 31)))
    X = (rng.standard_normal((57, 5)) * 2).astype(dtype)
    X = X[_clear_of_steps(model, X)]
    proto = export_onnx(model, path)
    assert [i.name for i in proto.graph.input] == ["X"]
    out = _run(path, X)
    _assert_close(out["Y"], model.predict_proba(X), dtype,
                  ERF_RTOL if GELU in (hidden, output) and dtype == np.float64 else None)
    if model.task == "classification":       # softmax output
        np.testing.assert_array_equal(out["label"], model.predict(X))
        assert out["label"].dtype == np.int64
    else:
        assert list(out) == ["Y"]


@pytest.mark.parametrize("opset", [13, 17])
def test_leaky_relu_alpha_and_gelu_on_every_opset(opset, dtype, path, rng):
    # GELU's erf decomposition needs no operator newer than opset 13; onnxruntime
    # runs it in float32 (_run: float64 Erf by onnx's reference evaluator)
    model = Sequential([Dense(5, 9), LeakyReLU(0.3), Dense(9, 6), GELU(), Dense(6, 3),
                        LeakyReLU(0.0)], dtype=dtype, seed=4)
    X = (rng.standard_normal((64, 5)) * 3).astype(dtype)
    proto = export_onnx(model, path, opset=opset)
    # LeakyRelu's alpha is a float32 attribute: float64 graphs compute it with Where
    leaky = "LeakyRelu" if dtype == np.float32 else "Where"
    assert {leaky, "Erf"} <= {node.op_type for node in proto.graph.node}
    _assert_close(_run(path, X)["Y"], model.predict_proba(X), dtype,
                  ERF_RTOL if dtype == np.float64 else None)


@pytest.mark.parametrize("loss, n_out, head", [
    (fastnn.CrossEntropyFromLogitsLoss(), 3, "Softmax"), ("bce_with_logits", 1, "Sigmoid"),
    ("bce_with_logits", 2, "Sigmoid")])
def test_from_logits_model_outputs_probabilities(loss, n_out, head, dtype, path, rng):
    # the network outputs logits; "Y" is predict_proba (their softmax or sigmoid)
    model = Sequential([Dense(4, 8), GELU(), Dense(8, n_out)], dtype=dtype, seed=3)
    X = rng.standard_normal((60, 4)).astype(dtype)
    y = rng.integers(0, max(n_out, 2), 60) if n_out != 2 else rng.integers(0, 2, (60, 2))
    model.fit(X, y, loss, fastnn.Adam(0.05), epochs=5, batch_size=8, verbose=0)
    proto = export_onnx(model, path)
    assert head in {node.op_type for node in proto.graph.node}
    out = _run(path, X)
    proba = model.predict_proba(X)
    assert ((proba >= 0) & (proba <= 1)).all()
    _assert_close(out["Y"], proba, dtype, ERF_RTOL if dtype == np.float64 else None)
    np.testing.assert_array_equal(out["label"], model.predict(X))


def test_float64_gelu_and_softplus_exported_as_float32_run_on_onnxruntime(path, rng):
    # onnxruntime has no float64 Erf: the float32 export is the one it runs
    model = Sequential([Dense(5, 9), GELU(), Dense(9, 4), Softplus()], dtype="float64", seed=5)
    X = rng.standard_normal((50, 5))
    export_onnx(model, path, dtype="float32")
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    Y, = session.run(["Y"], {"X": X.astype(np.float32)})
    assert relative_error(Y, model.predict_proba(X)) <= 1e-5


def test_dropout_exports_as_the_inference_pass_through(dtype, path, rng):
    from fastnn.layers import Dropout
    model = Sequential([Dense(5, 9), ReLU(), Dropout(0.5), Dense(9, 3), Softmax()],
                       dtype=dtype, seed=2)
    X = rng.standard_normal((40, 5)).astype(dtype)
    model.fit(X, np.arange(40) % 3, "cce", fastnn.SGD(0.1), epochs=2, verbose=0)
    export_onnx(model, path)
    _assert_close(_run(path, X)["Y"], model.predict_proba(X), dtype)
    if _estimators() is not None:
        clf = _estimators().MLPClassifier((6,), dropout=0.3, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, np.arange(40) % 3)
        export_onnx(clf, path)
        _assert_close(_run(path, X)["probabilities"], clf.predict_proba(X), dtype)


@pytest.mark.parametrize("norm", [fastnn.BatchNorm, fastnn.LayerNorm])
def test_normalization_exports_as_predict_runs_it(norm, dtype, path, rng):
    # trained, so that the running statistics, gamma and beta are not their
    # starting values; before an activation, after one, and before the output
    model = Sequential([Dense(5, 9), norm(), ReLU(), Dense(9, 7), Tanh(), norm(),
                        Dense(7, 3), norm(), Softmax()], dtype=dtype, seed=2)
    X = (rng.standard_normal((64, 5)) * 3 + 1).astype(dtype)
    model.fit(X, np.arange(64) % 3, "cce", fastnn.Adam(1e-2), epochs=3, batch_size=16,
              verbose=0)
    export_onnx(model, path)
    for n in (1, 64):
        _assert_close(_run(path, X[:n])["Y"], model.predict_proba(X[:n]), dtype)
    if norm is fastnn.LayerNorm:
        with pytest.raises(ValueError, match="LayerNorm.*needs ONNX opset 17.*opset=16"):
            export_onnx(model, path, opset=16)


def test_sequential_deep_and_one_row(dtype, path, rng):
    model = Sequential([Dense(3, 7), Tanh(), Dense(7, 5), ReLU(), Dense(5, 5), Sigmoid(),
                        Dense(5, 2), Softmax()], dtype=dtype, seed=1)
    export_onnx(model, str(path))
    for n in (1, 300):
        X = rng.standard_normal((n, 3)).astype(dtype)
        _assert_close(_run(path, X)["Y"], model.predict_proba(X), dtype)


@pytest.mark.parametrize("n_out", [1, 3])
def test_sequential_classifier_labels(n_out, dtype, path, rng):
    # trained on integer labels: a classifier, whose predict returns labels
    # (output > 0.5 for one sigmoid unit, else the argmax)
    model = Sequential([Dense(4, 6), Tanh(), Dense(6, n_out), Sigmoid()], dtype=dtype, seed=2)
    X = rng.standard_normal((80, 4)).astype(dtype)
    y = (X[:, 0] > 0).astype(int) if n_out == 1 else rng.integers(0, n_out, 80)
    model.fit(X, y, loss="bce", optimizer=SGD(lr=0.5), epochs=3)
    assert model.task == "classification"
    export_onnx(model, path)
    out = _run(path, X)
    _assert_close(out["Y"], model.predict_proba(X), dtype)
    P = model.predict_proba(X).astype(np.float64)
    margin = np.abs(P[:, 0] - 0.5) if n_out == 1 else np.diff(np.sort(P, axis=1)[:, -2:], axis=1)[:, 0]
    clear = margin > 1e-4
    np.testing.assert_array_equal(out["label"][clear], model.predict(X)[clear])
    assert out["label"].shape == (80,) and out["label"].dtype == np.int64


@pytest.mark.parametrize("classes", [np.array(["ant", "bee", "cat"]), np.array([-2.5, 7.0]),
                                     np.array(["no", "yes"])], ids=["str-3", "float-2", "str-2"])
def test_sequential_classes(classes, path, rng):
    # fit keeps labels other than 0 .. n-1 as classes_, which predict returns
    n_out = 1 if classes[0] == "no" else len(classes)
    model = Sequential([Dense(4, 6), Tanh(), Dense(6, n_out),
                        Softmax() if n_out > 1 else Sigmoid()], dtype="float64", seed=5)
    X = rng.standard_normal((60, 4))
    y = classes[rng.integers(0, len(classes), 60)]
    model.fit(X, y, loss="cce" if n_out > 1 else "bce", optimizer=SGD(lr=0.1), epochs=2)
    expected = model.predict(X)
    np.testing.assert_array_equal(model.classes_, np.unique(y))
    assert expected.dtype == classes.dtype
    export_onnx(model, path)
    out = _run(path, X)
    _assert_close(out["Y"], model.predict_proba(X), np.float64)
    np.testing.assert_array_equal(out["label"], expected)


def test_float64_model_exported_as_float32(path, rng):
    model = Sequential([Dense(6, 10), Sigmoid(), Dense(10, 10), Tanh(), Dense(10, 3),
                        Softmax()], dtype="float64", seed=3)
    proto = export_onnx(model, path, dtype="float32")
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    X = rng.standard_normal((40, 6))
    Y = _run(path, X.astype(np.float32))["Y"]
    assert Y.dtype == np.float32
    assert relative_error(Y, model.predict_proba(X)) <= 1e-5


def test_opset_and_file(path, rng):
    model = Sequential([Dense(2, 3), ReLU(), Dense(3, 2), Softmax()], dtype="float32", seed=4)
    X = rng.standard_normal((10, 2)).astype(np.float32)
    path.write_bytes(b"an older file")
    proto = export_onnx(model, path, opset=13)
    assert proto.opset_import[0].version == 13
    assert onnx.load(os.fspath(path)) == proto
    _assert_close(_run(path, X)["Y"], model.predict_proba(X), np.float32)
    assert export_onnx(model, path).opset_import[0].version == fastnn.export.DEFAULT_OPSET
    assert sorted(os.listdir(path.parent)) == ["model.onnx"]    # no temporary file left


# --- scikit-learn estimators ------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("classes", [
    np.array([3, 7, 11]), np.array([-1, 1]), np.array(["cat", "dog", "emu", "gnu"]),
    np.array(["no", "yes"]), np.array([False, True]), np.array([1.0, 2.0, 5.0]),
    np.array([42]),
], ids=["int-multiclass", "int-binary", "str-multiclass", "str-binary", "bool", "float",
        "one-class"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_classifier(classes, activation, dtype, path, rng):
    sk = _estimators()
    X = rng.standard_normal((90, 5)).astype(dtype)
    y = classes[np.argmax(X[:, :len(classes)], axis=1)] if len(classes) > 1 else \
        np.repeat(classes, 90)
    clf = sk.MLPClassifier((7, 4), activation=activation, solver="lbfgs", max_iter=15,
                           random_state=0).fit(X, y)
    assert clf.coefs_[0].dtype == dtype
    export_onnx(clf, path)
    out = _run(path, X)
    assert list(out) == ["label", "probabilities"]
    P = clf.predict_proba(X)
    _assert_close(out["probabilities"], P, dtype)
    expected = clf.predict(X)
    assert out["label"].shape == expected.shape
    assert (out["label"].dtype == expected.dtype
            or expected.dtype.kind in "UO" and out["label"].dtype == object)
    top = np.sort(P, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-4      # no near-tie that rounding may flip
    np.testing.assert_array_equal(out["label"][clear], expected[clear])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_classifier(dtype, path, rng):
    sk = _estimators()
    X = rng.standard_normal((60, 4)).astype(dtype)
    Y = (X[:, :3] > 0).astype(int)
    clf = sk.MLPClassifier((6,), max_iter=20, random_state=0).fit(X, Y)
    export_onnx(clf, path)
    out = _run(path, X)
    P = clf.predict_proba(X)
    _assert_close(out["probabilities"], P, dtype)
    clear = (np.abs(P - 0.5) > 1e-4).all(axis=1)
    expected = clf.predict(X)
    assert out["label"].shape == expected.shape == (60, 3)
    np.testing.assert_array_equal(out["label"][clear], expected[clear])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor(n_outputs, loss, dtype, path, rng):
    sk = _estimators()
    X = rng.standard_normal((70, 4)).astype(dtype)
    Y = np.exp(X[:, :n_outputs] * 0.5)
    reg = sk.MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", loss=loss, max_iter=20,
                          random_state=0).fit(X, Y[:, 0] if n_outputs == 1 else Y)
    export_onnx(reg, path)
    out = _run(path, X)
    assert list(out) == ["Y"]
    _assert_close(out["Y"], reg.predict(X), dtype)


# --- errors -------------------------------------------------------------------------------

def test_unfitted_estimator(path):
    sk = _estimators()
    from sklearn.exceptions import NotFittedError
    for est in (sk.MLPClassifier(), sk.MLPRegressor()):
        with pytest.raises(NotFittedError, match="not fitted"):
            export_onnx(est, path)
    assert not path.exists()


class HardSigmoid(Activation):
    """A layer with no converter (it borrows a kernel so that Sequential takes it)."""
    name = "sigmoid"


class MySigmoid(Sigmoid):
    """A subclass may compute something else: refused too."""


@pytest.mark.parametrize("layer", [HardSigmoid, MySigmoid])
def test_layer_without_converter(layer, path):
    model = Sequential([Dense(3, 4), Tanh(), Dense(4, 2), layer()])
    with pytest.raises(TypeError, match=r"layer 3, %s\(\).*cannot be exported.*BatchNorm, "
                       r"Dense, Dropout, GELU, Identity, LayerNorm, LeakyReLU, LogSoftmax, ReLU, "
                       r"Sigmoid, Softmax, Softplus, Step, Tanh"
                       % layer.__name__):
        export_onnx(model, path)
    assert not path.exists()


def test_missing_onnx(monkeypatch, path):
    monkeypatch.setitem(sys.modules, "onnx", None)     # import onnx raises ImportError
    model = Sequential([Dense(2, 2), Softmax()])
    with pytest.raises(ImportError, match=r'pip install "fastnn\[onnx\]"'):
        export_onnx(model, path)
    assert not path.exists()


def test_bad_arguments(path):
    model = Sequential([Dense(2, 2), Softmax()])
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        export_onnx(model, 42)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        export_onnx(model, b"model.onnx")

    class BytesPath:
        def __fspath__(self):
            return b"model.onnx"

    with pytest.raises(TypeError, match="path must name the file with a str"):
        export_onnx(model, BytesPath())
    for dtype in ("int32", "float16", "nonsense"):
        with pytest.raises(TypeError, match="dtype must be None, 'float32' or 'float64'"):
            export_onnx(model, path, dtype=dtype)
    for opset in (12, 10**4, "17", 17.0, True):
        with pytest.raises(ValueError, match="opset must be an integer from 13"):
            export_onnx(model, path, opset=opset)
    with pytest.raises(TypeError, match="model must be a fastnn.Sequential"):
        export_onnx([Dense(2, 2)], path)
    with pytest.raises(FileNotFoundError, match="no directory"):
        export_onnx(model, path.parent / "missing" / "model.onnx")
    model.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        export_onnx(model, path)
    assert not path.exists()


def test_scikit_learns_own_estimator_refused(path):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((3,), max_iter=2).fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="fastnn.MLPClassifier"):
        export_onnx(clf, path)
