"""Export to ONNX: a trained network as a graph that ``onnxruntime`` (or any ONNX runtime) runs.

:func:`export_onnx` writes a :class:`fastnn.Sequential`, or a fitted
:class:`fastnn.MLPClassifier` / :class:`fastnn.MLPRegressor`, as an ONNX model
of plain operators (MatMul, Add, Sigmoid, Tanh, Relu, Softmax, ...), so the
network runs where fastnn is not installed.  The graph computes what
``predict_proba`` / ``predict`` compute, in the same dtype.

Design
------
Each layer type maps, in :data:`CONVERTERS`, to a small function that emits
that layer's nodes: ``f(graph, layer, x) -> y``, with ``x`` and ``y`` the
names of the layer's input and output tensors.  A new layer kind is one
function and one entry.  A layer whose type is not in the table (exactly: a
subclass may compute something else) cannot be exported, and the error says
which layer and what can be.  The head of the graph (binary probability
columns, labels) depends on the kind of model and is written by
:func:`export_onnx` itself.

Dropout emits no node (inference passes values through).  LeakyReLU is
LeakyRelu(alpha) in float32 (Where(x < 0, alpha·x, x) in float64: the
operator's alpha is a float32 attribute), Softplus is Softplus in float32
(Max(x, 0) + Log(1 + Exp(−|x|)) in float64, which onnxruntime's Softplus
lacks), LogSoftmax is LogSoftmax(axis=-1), and GELU is ½·x·(1 + Erf(x·(1/√2)))
in plain operators, which every opset from 13 has (the Gelu operator arrived
in opset 20).  onnxruntime (1.32) has no float64 Erf: a float64 GELU graph is
valid ONNX that it cannot run; ``dtype='float32'`` exports one it can.  A model trained with a
from-logits loss outputs logits, and its ``predict_proba`` their softmax or
sigmoid: the head appends that operator, so "Y" is still ``predict_proba``.
BatchNorm (in inference, as ``predict`` runs it) is a Mul and an Add by
constants folded from its running mean and variance, γ, β and ε; LayerNorm
is ONNX's LayerNormalization (opset 17 or later).

``onnx`` is imported only when a model is exported: it is the ``onnx`` extra
(``pip install "fastnn[onnx]"``), as is ``onnxruntime`` to run the result.
"""

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn._validation import all_finite
from fastnn.layers import (
    BatchNorm, Dense, Dropout, GELU, Identity, LayerNorm, LeakyReLU, LogSoftmax, ReLU, Sigmoid,
    Softmax, Softplus, Step, Tanh)
from fastnn.model import Sequential

__all__ = ["export_onnx", "CONVERTERS", "DEFAULT_OPSET"]

#: The opset written when ``opset=None``: ONNX 1.12 (2022) and onnxruntime
#: 1.12 and later read it.
DEFAULT_OPSET = 17
#: The oldest opset the converters are written for (Softmax over the last
#: axis alone, ArgMax's select_last_index).
MIN_OPSET = 13
#: protobuf refuses to serialise a message over 2 GiB.
_PROTOBUF_LIMIT = 2**31 - 1

_INSTALL_HINT = 'pip install "fastnn[onnx]"'


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as exc:
        raise ImportError(
            "fastnn.export_onnx needs the onnx package, which could not be imported (%s). "
            "Install it (and onnxruntime, to run the exported model) with: %s"
            % (exc, _INSTALL_HINT)) from exc
    return onnx


class _Graph:
    """The nodes and initializers of the graph being built.

    Tensor names are ``<scope>/<hint>``, with ``scope`` the layer being
    converted (``layer0``, ``layer1``, ..., ``head``) and a counter added when
    a name repeats, so a converter never has to invent unique names.

    Parameters
    ----------
    onnx : module
    dtype : numpy.dtype
        float32 or float64: the dtype of X, of every weight and of every output.
    opset : int
    """

    def __init__(self, onnx: Any, dtype: np.dtype[Any], opset: int) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.opset = opset
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
        self.scope = "graph"
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = {"X"}

    def name(self, hint: str) -> str:
        """A new tensor name in the current scope."""
        base = "%s/%s" % (self.scope, hint)
        name, k = base, 1
        while name in self._used:
            name, k = "%s_%d" % (base, k), k + 1
        self._used.add(name)
        return name

    def const(self, value: npt.ArrayLike, hint: str, dtype: npt.DTypeLike | None = None) -> str:
        """An initializer holding ``value`` (in the graph's float dtype unless ``dtype``)."""
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None,
           output: str | None = None, **attrs: Any) -> str:
        """Append one node ``op_type(inputs, **attrs)``; return the name of its output."""
        out = output if output is not None else self.name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(
            op_type, inputs, [out], name=out + ":" + op_type, **attrs))
        return out

    def require_opset(self, version: int, what: str) -> None:
        """Refuse an opset older than ``version``, which ``what`` needs."""
        if self.opset < version:
            raise ValueError("%s needs ONNX opset %d or later; export_onnx was given opset=%d"
                             % (what, version, self.opset))


# --- the converters: one function per layer type --------------------------------------

#: A converter: ``f(graph, layer, x) -> y``, emitting the nodes that take the
#: tensor named ``x`` of shape (N, n_in) to the one it returns, (N, n_out).
Converter = Callable[[_Graph, Any, str], str]


def _dense(g: _Graph, layer: Dense, x: str) -> str:
    """Z = X·W + b: MatMul with W of shape (n_in, n_out), then Add of b (n_out,)."""
    z = g.op("MatMul", [x, g.const(np.asarray(layer.W), "W")], "XW")
    return g.op("Add", [z, g.const(np.asarray(layer.b), "b")], "Z")


def _identity(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Identity", [x], "A")


def _dropout(g: _Graph, layer: Dropout, x: str) -> str:
    """Dropout at inference passes values through: no node."""
    return x


def _unary(op_type: str, **attrs: Any) -> Converter:
    """The converter of an activation that is one ONNX operator."""
    def convert(g: _Graph, layer: Any, x: str) -> str:
        return g.op(op_type, [x], "A", **attrs)
    convert.__doc__ = "ONNX %s%s." % (op_type, "(%s)" % attrs if attrs else "")
    return convert


def _step(g: _Graph, layer: Step, x: str) -> str:
    """fastnn's Step: 1 where z > 0, else 0 (0 for NaN too): Cast(Greater(z, 0))."""
    positive = g.op("Greater", [x, g.const(0, "zero")], "positive")
    return g.op("Cast", [positive], "A", to=g.elem_type)


def _batch_norm(g: _Graph, layer: BatchNorm, x: str) -> str:
    """Inference BatchNorm: x·s + t with s = γ/√(running_var + ε) and
    t = β − running_mean·s, folded in float64 and written in the model's dtype."""
    scale = np.asarray(layer.gamma, np.float64) / np.sqrt(
        np.asarray(layer.running_var, np.float64) + layer.eps)
    shift = np.asarray(layer.beta, np.float64) - np.asarray(layer.running_mean, np.float64) * scale
    scaled = g.op("Mul", [x, g.const(scale, "bn_scale")], "scaled")
    return g.op("Add", [scaled, g.const(shift, "bn_shift")], "N")


def _layer_norm(g: _Graph, layer: LayerNorm, x: str) -> str:
    """LayerNormalization over the last axis (opset 17), with γ, β and ε."""
    g.require_opset(17, "LayerNorm (LayerNormalization)")
    return g.op("LayerNormalization", [x, g.const(np.asarray(layer.gamma), "ln_scale"),
                                       g.const(np.asarray(layer.beta), "ln_bias")], "N",
                axis=-1, epsilon=float(layer.eps))


def _leaky_relu(g: _Graph, layer: LeakyReLU, x: str) -> str:
    """ONNX LeakyRelu with the layer's alpha in float32.  Its alpha attribute is
    a float32, so in float64 it is Where(x < 0, x·alpha, x), with alpha a
    float64 constant, as the kernels compute it."""
    if g.dtype == np.float32:
        return g.op("LeakyRelu", [x], "A", alpha=float(layer.alpha))
    negative = g.op("Less", [x, g.const(0, "zero")], "negative")
    scaled = g.op("Mul", [x, g.const(layer.alpha, "alpha")], "scaled")
    return g.op("Where", [negative, scaled, x], "A")


def _softplus(g: _Graph, layer: Softplus, x: str) -> str:
    """ONNX Softplus in float32; in float64, where onnxruntime has no Softplus,
    the stable form Max(x, 0) + Log(1 + Exp(−|x|)) (ONNX has no Log1p)."""
    if g.dtype == np.float32:
        return g.op("Softplus", [x], "A")
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [x], "abs")], "minus_abs")], "exp")
    log = g.op("Log", [g.op("Add", [e, g.const(1, "one")], "one_plus_exp")], "log")
    return g.op("Add", [g.op("Max", [x, g.const(0, "zero")], "positive_part"), log], "A")


def _gelu(g: _Graph, layer: GELU, x: str) -> str:
    """GELU, exact form: ½·x·(1 + Erf(x·(1/√2))), as the kernels compute it."""
    erf = g.op("Erf", [g.op("Mul", [x, g.const(0.7071067811865476, "rsqrt2")], "scaled")],
               "erf")
    one_plus = g.op("Add", [erf, g.const(1, "one")], "one_plus_erf")
    half_x = g.op("Mul", [x, g.const(0.5, "half")], "half_x")
    return g.op("Mul", [half_x, one_plus], "A")


#: Layer type -> converter.  Looked up by exact type.
CONVERTERS: dict[type, Converter] = {
    Dense: _dense,
    Identity: _identity,
    Sigmoid: _unary("Sigmoid"),
    Tanh: _unary("Tanh"),
    ReLU: _unary("Relu"),
    Softmax: _unary("Softmax", axis=-1),
    Step: _step,
    LeakyReLU: _leaky_relu,
    GELU: _gelu,
    Softplus: _softplus,
    LogSoftmax: _unary("LogSoftmax", axis=-1),
    Dropout: _dropout,
    BatchNorm: _batch_norm,
    LayerNorm: _layer_norm,
}


def _exportable() -> str:
    return ", ".join(sorted(cls.__name__ for cls in CONVERTERS))


def _check_layers(layers: list[Any], what: str) -> None:
    """Raise TypeError naming the first layer that has no converter."""
    for i, layer in enumerate(layers):
        if type(layer) not in CONVERTERS:
            raise TypeError(
                "%s: layer %d, %r (type %s.%s), cannot be exported to ONNX; export_onnx "
                "converts %s" % (what, i, layer, type(layer).__module__,
                                 type(layer).__qualname__, _exportable()))


# --- what each kind of model becomes --------------------------------------------------

class _Plan:
    """What to export, taken from the model before onnx is imported.

    ``layers`` are converted in order from X; ``head`` names how the network
    output becomes the graph outputs:

    * ``'sequential'``: "Y" (predict_proba: the softmax or sigmoid of the
      network's outputs when ``probabilities`` names one, after a from-logits
      loss), plus "label" (int64, predict) when the model is a classifier;
    * ``'classifier'``: "label" (predict) and "probabilities" (predict_proba);
    * ``'regressor'``: "Y" (predict).
    """

    def __init__(self, layers: list[Any], dtype: np.dtype[Any], head: str,
                 reading: Callable[[], Any] = contextlib.nullcontext, **info: Any) -> None:
        self.layers = layers
        self.dtype = dtype
        self.head = head
        self.reading = reading
        self.info = info


#: scikit-learn's hidden activations and output activations -> fastnn's
#: layers.  'exp' (loss='poisson') is a linear output whose exp the head takes.
_SKLEARN_HIDDEN = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}
_SKLEARN_OUTPUTS = {"identity": Identity, "logistic": Sigmoid, "softmax": Softmax,
                    "exp": Identity}


def _sequential_plan(model: Sequential) -> _Plan:
    _check_layers(model.layers, "Sequential")
    return _Plan(list(model.layers), model.dtype, "sequential",
                 # the weights are read under the model's guard: not while
                 # another thread trains it (fastnn/_sharing.py)
                 reading=lambda: model._guard.reading("export"),
                 n_out=model.sizes[-1], classifier=model.task == "classification",
                 probabilities=None if model.loss is None else model.loss.from_logits,
                 # labels other than 0 .. n-1, when fit took them (predict returns them)
                 classes=_sequential_classes(model))


def _sequential_classes(model: Sequential) -> npt.NDArray[Any] | None:
    """The model's ``classes_`` (labels other than 0 .. n-1 that fit took), or None."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else _classes(classes, "Sequential")


def _estimator_plan(model: Any, is_classifier: bool) -> _Plan:
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(model)     # NotFittedError, scikit-learn's message
    what = type(model).__name__
    if model.activation not in _SKLEARN_HIDDEN:
        raise ValueError("%s.activation=%r cannot be exported to ONNX; export_onnx converts %s"
                         % (what, model.activation, sorted(_SKLEARN_HIDDEN)))
    if model.out_activation_ not in _SKLEARN_OUTPUTS:
        raise ValueError("%s.out_activation_=%r cannot be exported to ONNX; export_onnx "
                         "converts %s" % (what, model.out_activation_, sorted(_SKLEARN_OUTPUTS)))
    layers: list[Any] = []
    activations = [_SKLEARN_HIDDEN[model.activation]] * (len(model.coefs_) - 1) + [
        _SKLEARN_OUTPUTS[model.out_activation_]]
    for W, b, activation in zip(model.coefs_, model.intercepts_, activations):
        dense = Dense(*W.shape)
        dense.W, dense.b = np.asarray(W), np.asarray(b)
        layers += [dense, activation()]
    dtype = np.dtype(model.coefs_[0].dtype)
    if is_classifier:
        return _Plan(layers, dtype, "classifier", n_outputs=model.n_outputs_,
                     classes=_classes(model.classes_, what),
                     multilabel=model._label_binarizer.y_type_ == "multilabel-indicator")
    return _Plan(layers, dtype, "regressor", n_outputs=model.n_outputs_,
                 exp=model.out_activation_ == "exp")


def _classes(classes: npt.ArrayLike, what: str) -> npt.NDArray[Any]:
    """``classes_`` as an array ONNX can hold: int64, bool, float or str (object)."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        if classes.size and (classes.max() > np.iinfo(np.int64).max):
            raise ValueError("%s.classes_ holds integers beyond int64, which ONNX labels "
                             "cannot hold" % what)
        return classes.astype(np.int64)
    if classes.dtype.kind in "bf":
        return classes
    if classes.dtype.kind == "U" or (classes.dtype.kind == "O" and all(
            isinstance(c, str) for c in classes)):
        return classes.astype(object)
    if classes.dtype.kind == "O" and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        return classes.astype(np.int64)
    raise ValueError("%s.classes_ (dtype %s: %r) cannot be exported as ONNX labels: they "
                     "must all be integers, booleans, floats or strings"
                     % (what, classes.dtype, classes[:5]))


def _plan(model: Any) -> _Plan:
    if isinstance(model, Sequential):
        return _sequential_plan(model)
    # fastnn.sklearn is loaded if model is one of its estimators: no need to
    # import scikit-learn to find out
    estimators = sys.modules.get("fastnn.sklearn")
    if estimators is not None:
        if isinstance(model, estimators.MLPClassifier):
            return _estimator_plan(model, True)
        if isinstance(model, estimators.MLPRegressor):
            return _estimator_plan(model, False)
    raise TypeError("model must be a fastnn.Sequential, fastnn.MLPClassifier or "
                    "fastnn.MLPRegressor, got %r" % (type(model),))


# --- the graph's head and the file --------------------------------------------------------

def _build(onnx: Any, plan: _Plan, dtype: np.dtype[Any], opset: int) -> Any:
    """The checked ModelProto of ``plan`` in ``dtype``."""
    helper = onnx.helper
    g = _Graph(onnx, dtype, opset)
    x = "X"
    for i, layer in enumerate(plan.layers):
        g.scope = "layer%d" % i
        x = CONVERTERS[type(layer)](g, layer, x)
    g.scope = "head"
    outputs = []    # (name, elem_type, shape)
    info = plan.info
    if plan.head == "sequential":
        if info["probabilities"] == "softmax":      # from logits, as predict_proba
            x = g.op("Softmax", [x], "probabilities", axis=-1)
        elif info["probabilities"] == "sigmoid":
            x = g.op("Sigmoid", [x], "probabilities")
        outputs.append((g.op("Identity", [x], output="Y"), g.elem_type, ["N", info["n_out"]]))
        if info["classifier"]:   # Sequential.predict
            index = _threshold(g, x, flat=True) if info["n_out"] == 1 else \
                g.op("ArgMax", [x], "index", axis=1, keepdims=0)
            if info["classes"] is None:       # the class numbers
                outputs.append((g.op("Identity", [index], output="label"),
                                onnx.TensorProto.INT64, ["N"]))
            else:
                outputs.append(_labels(g, index, info["classes"]))
    elif plan.head == "regressor":
        if info["exp"]:            # loss='poisson': the network outputs log-rates
            x = g.op("Exp", [x], "rate")
        if info["n_outputs"] == 1:
            y = g.op("Reshape", [x, g.const([-1], "flat", np.int64)], output="Y")
            outputs.append((y, g.elem_type, ["N"]))
        else:
            outputs.append((g.op("Identity", [x], output="Y"), g.elem_type,
                            ["N", info["n_outputs"]]))
    else:
        outputs += _classifier_head(g, x, info)
    graph = helper.make_graph(
        g.nodes, "fastnn",
        [helper.make_tensor_value_info("X", g.elem_type, ["N", plan.layers[0].n_in])],
        [helper.make_tensor_value_info(*out) for out in outputs],
        initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="fastnn",
                              ir_version=helper.find_min_ir_version_for(opsets))
    from fastnn import __version__
    model.producer_version = __version__
    onnx.checker.check_model(model, full_check=True)
    return model


def _threshold(g: _Graph, p: str, flat: bool) -> str:
    """int64 of p > 0.5 (scikit-learn's and Sequential's label of one sigmoid unit)."""
    above = g.op("Greater", [p, g.const(0.5, "half")], "above")
    index = g.op("Cast", [above], "index", to=g.onnx.TensorProto.INT64)
    return g.op("Reshape", [index, g.const([-1], "flat", np.int64)], "index") if flat else index


def _classifier_head(g: _Graph, p: str, info: dict[str, Any]) -> list[tuple[str, int, list[Any]]]:
    """scikit-learn's predict_proba and predict (LabelBinarizer.inverse_transform)."""
    TensorProto = g.onnx.TensorProto
    n_outputs, classes = info["n_outputs"], info["classes"]
    if n_outputs == 1:       # predict_proba's two columns [1 - p, p]
        q = g.op("Sub", [g.const([[1]], "one"), p], "q")
        proba = g.op("Concat", [q, p], output="probabilities", axis=1)
        n_columns = 2
    else:
        proba = g.op("Identity", [p], output="probabilities")
        n_columns = n_outputs
    outputs = []
    if info["multilabel"]:    # the 0/1 indicator matrix
        label = g.op("Identity", [_threshold(g, p, flat=False)], output="label")
        outputs.append((label, TensorProto.INT64, ["N", n_outputs]))
    else:
        if n_outputs == 1:
            index = _threshold(g, p, flat=True)
            if len(classes) == 1:      # one class seen: every label is it
                classes = np.repeat(classes, 2)
        else:
            index = g.op("ArgMax", [p], "index", axis=1, keepdims=0)
        outputs.append(_labels(g, index, classes))
    outputs.append((proba, g.elem_type, ["N", n_columns]))
    return outputs


def _labels(g: _Graph, index: str, classes: npt.NDArray[Any]) -> tuple[str, int, list[Any]]:
    """The output "label" (N,): ``classes[index]``."""
    table = g.const(classes, "classes", classes.dtype)
    label = g.op("Gather", [table, index], output="label", axis=0)
    elem = g.onnx.TensorProto.STRING if classes.dtype == object else \
        g.onnx.helper.np_dtype_to_tensor_dtype(classes.dtype)
    return label, elem, ["N"]


def _write(model: Any, path: str) -> None:
    """Write ``model`` to ``path`` through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError("cannot write %r: no directory %r" % (path, directory))
    data = model.SerializeToString()
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".onnx.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp's file is private (0600): give it the mode of the file it
        # replaces, or the one a new file would get under the umask
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _float_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = None
    if result not in (np.float32, np.float64):
        raise TypeError("dtype must be None, 'float32' or 'float64', got %r" % (dtype,))
    return result


def export_onnx(model: Any, path: str | os.PathLike[str], *, opset: int | None = None,
                dtype: npt.DTypeLike | None = None) -> Any:
    """Write ``model`` as an ONNX graph that computes its predictions.

    Parameters
    ----------
    model : fastnn.Sequential, or fitted fastnn.MLPClassifier or fastnn.MLPRegressor
    path : str or os.PathLike
        The .onnx file.  Written to a temporary file in the same directory
        and renamed over ``path``: an interrupted export leaves the previous
        file whole.
    opset : int, optional
        ONNX opset of the default domain, from 13 to the newest the installed
        ``onnx`` knows; default :data:`DEFAULT_OPSET` (17).
    dtype : {None, 'float32', 'float64'}
        Of the input, the weights and the outputs.  Default: the model's.
        ``'float32'`` exports a float64 model for float32 runtimes (weights
        rounded to float32, outputs within about 1e-5 of the model's).

    Returns
    -------
    onnx.ModelProto
        The model written, already checked by ``onnx.checker.check_model``.

    Notes
    -----
    The graph has one input, ``"X"``, of shape (N, n_features) and of the
    export dtype, and these outputs (N is the number of rows of X):

    ========================= ==================================================
    model                     outputs
    ========================= ==================================================
    Sequential                ``"Y"`` (N, n_outputs): ``predict_proba`` (the
                              softmax or sigmoid of the logits after a
                              from-logits loss);
                              for a classifier (``model.task``) also ``"label"``
                              (N,): ``predict``, int64 class numbers, or
                              ``classes_`` when fit took other labels
    MLPClassifier             ``"label"`` (N,): ``predict``, of ``classes_``'s
                              type (int64, bool, float or string); (N, n_labels)
                              int64 for multilabel targets.
                              ``"probabilities"`` (N, n_columns):
                              ``predict_proba`` (2 columns for binary problems)
    MLPRegressor              ``"Y"``: ``predict``, (N,) for one output, else
                              (N, n_outputs)
    ========================= ==================================================

    A layer is exported when :data:`CONVERTERS` has its exact type; Step's
    threshold (z > 0) is exact, so an input whose pre-activation lies within
    rounding of 0 may get the other side of it.

    Raises
    ------
    TypeError
        ``model`` is not one of the above, holds a layer that cannot be
        exported (the message lists those that can), or ``path`` or ``dtype``
        has the wrong type.
    ValueError
        Bad ``opset``; a parameter (activation, classes_) with no ONNX form;
        NaN or infinite weights; weights over protobuf's 2 GiB limit.
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    ImportError
        ``onnx`` is not installed (``pip install "fastnn[onnx]"``).

    Examples
    --------
    >>> import numpy as np, onnxruntime, fastnn                  # doctest: +SKIP
    >>> model = fastnn.Sequential([fastnn.Dense(4, 8), fastnn.Tanh(),
    ...                            fastnn.Dense(8, 3), fastnn.Softmax()], seed=0)
    >>> _ = fastnn.export_onnx(model, "model.onnx")
    >>> session = onnxruntime.InferenceSession("model.onnx")
    >>> X = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    >>> Y, = session.run(["Y"], {"X": X})
    >>> np.allclose(Y, model.predict_proba(X), atol=1e-5)
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("path must be a str or os.PathLike, got %r" % (type(path),))
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError("path must name the file with a str, got %r" % (path,))
    plan = _plan(model)
    export_dtype = plan.dtype if dtype is None else _float_dtype(dtype)
    with plan.reading():
        nbytes = 0
        for i, layer in enumerate(plan.layers):
            if isinstance(layer, Dense):
                W, b = np.asarray(layer.W), np.asarray(layer.b)
                if not (all_finite(W) and all_finite(b)):
                    raise ValueError("layer %d, %r, has NaN or infinite weights: nothing to "
                                     "export" % (i, layer))
                nbytes += (W.size + b.size) * export_dtype.itemsize
        if nbytes > _PROTOBUF_LIMIT:
            raise ValueError("the weights take %d bytes in %s, over the 2 GiB protobuf limit "
                             "of one ONNX file (export_onnx does not write external data)"
                             % (nbytes, export_dtype))
        onnx = _import_onnx()
        newest = onnx.defs.onnx_opset_version()
        if opset is None:
            opset = min(DEFAULT_OPSET, newest)
        elif isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
                or not MIN_OPSET <= opset <= newest:
            raise ValueError("opset must be an integer from %d to %d (the newest this onnx "
                             "%s knows), got %r" % (MIN_OPSET, newest, onnx.__version__, opset))
        onnx_model = _build(onnx, plan, export_dtype, int(opset))
    _write(onnx_model, path)
    return onnx_model
