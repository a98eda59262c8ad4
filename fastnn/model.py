"""``Sequential``: a stack of dense layers trained by gradient descent and backpropagation.

The model owns one flat parameter buffer (every W, then its b, layer after
layer) and a gradient buffer of the same shape; each ``Dense`` layer's ``W``
and ``b`` are views into it, so an optimizer update is one pass over one
array and a checkpoint is one array.  On the ``"cython"`` backend, ``fit`` runs
the batches inside compiled code (``fastnn._kernels.train``), in runs of about
0.1 s: Python is re-entered only between runs, where the progress bar moves
and Ctrl-C is taken (``fastnn._interrupt``: ``KeyboardInterrupt`` with the
weights and optimizer state of the last completed batch; ``fit`` can be
called again).
The ``"numpy"`` backend runs the same algorithm, batch by batch, on
``fastnn.reference``; in float64 the two follow the same trajectory.

Determinism: the same ``seed`` gives the same initial weights and the same
shuffles, hence bit-identical weights after training on the cython backend,
whatever the thread count.
"""

import contextlib
import errno
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

from fastnn import _model_file, kernels, reference
from fastnn._interrupt import Chunks, Interruptible
from fastnn._sharing import UseGuard, Workspaces
from fastnn._typing import FloatArray
from fastnn._kernels import train as _train
from fastnn._progress import ProgressBar
from fastnn._validation import (
    ACTIVATIONS, LOSSES, NORMALIZATIONS, STEP_HAS_NO_GRADIENT, all_finite, check_scalar)
from fastnn.layers import Activation, BatchNorm, Dense, Dropout, Normalization, layer_from_config
from fastnn.losses import Loss, get_loss, loss_from_config
from fastnn.optim import Optimizer, get_optimizer, optimizer_from_state_dict

__all__ = ["Sequential", "History", "Callback", "load"]

FORMAT = "fastnn-model"
FORMAT_VERSION = 1
_PREDICT_BATCH = 1024   # rows per forward chunk in predict/evaluate


class History:
    """What ``fit`` returns: per-epoch metrics.

    Attributes
    ----------
    history : dict of str -> list of float
        ``'loss'``, and ``'accuracy'`` for classification; ``'val_loss'`` and
        ``'val_accuracy'`` with validation data; ``'lr'``; ``'time'`` (seconds).
    epoch : list of int
        The epochs run, counting from 0.
    stopped_epoch : int or None
        The epoch at which early stopping (or ``TerminateOnNaN``) ended
        training, if it did.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stopped_epoch: int | None = None

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return "History(epochs=%d, last=%s)" % (len(self.epoch), last)


class Callback:
    """Base class for ``fit`` callbacks; override what you need.

    A plain function ``f(epoch, logs)`` is accepted too, as ``on_epoch_end``.
    Returning True from ``on_epoch_end`` stops training after that epoch.
    Ready-made ones: :mod:`fastnn.callbacks`.
    """

    def on_train_begin(self, model: "Sequential") -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return False

    def on_train_end(self, model: "Sequential", history: History) -> None:
        pass


class _FunctionCallback(Callback):
    def __init__(self, fn: "EpochFunction") -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        return bool(self.fn(epoch, logs))


#: A function callback: ``f(epoch, logs)``; a true result stops training.
EpochFunction = Callable[[int, dict[str, float]], object]


def _as_callback(c: Callback | EpochFunction) -> Callback:
    if isinstance(c, Callback):
        return c
    if callable(c):
        return _FunctionCallback(c)
    raise TypeError("callbacks must be Callback objects or functions f(epoch, logs), got %r"
                    % (c,))


class Sequential:
    """A feed-forward network: dense layers, each followed by an activation.

    Parameters
    ----------
    layers : list
        ``Dense`` layers, each optionally followed by one activation layer
        (``Sigmoid()``, ``Tanh()``, ``ReLU()``, ``Softmax()``, ``Identity()``,
        ``Step()``, ``LeakyReLU(alpha)``, ``GELU()``, ``Softplus()``,
        ``LogSoftmax()``); consecutive Dense sizes must chain (n_out = next n_in).
        A hidden layer may also have a ``BatchNorm()`` or ``LayerNorm()`` right
        after its Dense layer or after its activation, and a ``Dropout(rate)``
        last; the output layer a normalization before its activation.
    dtype : {'float32', 'float64'}
        Precision of the weights and of all computation.
    seed : int or None
        Seeds weight initialisation and shuffling.
    backend : {'cython', 'numpy'}
        Compiled kernels, or the NumPy reference (for checking and teaching).

    Examples
    --------
    >>> import fastnn
    >>> model = fastnn.Sequential([fastnn.Dense(784, 30), fastnn.Sigmoid(),
    ...                            fastnn.Dense(30, 10), fastnn.Sigmoid()], seed=0)
    >>> model.params.shape
    (23860,)
    """

    layers: list[Dense | Activation | Dropout | Normalization]
    dtype: np.dtype[np.floating[Any]]
    backend: str
    seed: int | None
    #: The Dense layers, the name of the activation that follows each, its
    #: parameter (LeakyReLU's alpha; 0.0 without one), the dropout rate
    #: after each (0: none), and the normalization layer of each with its
    #: place, ``(layer, before_activation)``, or None.
    dense: list[Dense]
    activations: list[str]
    activation_params: list[float]
    dropout: list[float]
    norms: list[tuple[Normalization, bool] | None]
    #: n_in of the first layer, then n_out of each Dense layer.
    sizes: list[int]
    #: 'classification' or 'regression' (what ``predict`` returns).
    task: str
    #: The class labels when a ``fit`` took labels other than integers
    #: (strings, floats, objects): sorted; output j is the probability of
    #: ``classes_[j]`` and ``predict`` returns them.  None: integer labels,
    #: output j being class j.
    classes_: npt.NDArray[Any] | None
    #: The flat parameter buffer (every W, then its b) and its gradient.
    params: FloatArray
    grads: FloatArray
    optimizer: Optimizer | None
    loss: Loss | None

    def __init__(self, layers: Sequence[Dense | Activation], dtype: npt.DTypeLike = "float32",
                 seed: int | None = None, backend: str = "cython") -> None:
        self.layers = list(layers) if isinstance(layers, (list, tuple)) else None
        if not self.layers:
            raise ValueError("layers must be a non-empty list of fastnn layers")
        try:
            self.dtype = None if dtype is None else np.dtype(dtype)
        except TypeError:
            self.dtype = None
        if self.dtype not in (np.float32, np.float64):
            raise TypeError("dtype must be 'float32' or 'float64', got %r" % (dtype,))
        if backend not in ("cython", "numpy"):
            raise ValueError("backend must be 'cython' or 'numpy', got %r" % (backend,))
        self.backend = backend
        self.seed = seed
        (self.dense, self.activations, self.activation_params, self.dropout,
         self.norms) = self._pair_layers(self.layers)
        self.sizes = [self.dense[0].n_in] + [d.n_out for d in self.dense]
        self._build_buffers()
        self._rng = np.random.default_rng(seed)
        # Dropout's masks (csrc/dropout.h): a key of its own, so that the
        # shuffles and initial weights are those of the model without dropout
        self._dropout_key = int(np.random.SeedSequence(seed, spawn_key=(0xD0,)).generate_state(
            1, np.uint64)[0])
        for layer, act in zip(self.dense, self.activations):
            layer.initialize(self._rng, act)
        for norm, _ in filter(None, self.norms):
            norm.gamma[...] = 1
        self.task = "classification" if self.activations[-1] == "softmax" else "regression"
        self.classes_ = None
        self.optimizer = None
        self.loss = None
        self._workspaces = Workspaces(                            # per call (_sharing.py)
            self.sizes, self.dtype, sum(n for n, rate in zip(self.sizes[1:], self.dropout)
                                        if rate), self._normed_units,
            keep_preacts="gelu" in self.activations)
        self._guard = UseGuard()

    # --- construction ---------------------------------------------------------------

    @staticmethod
    def _pair_layers(layers):
        """The Dense layers, and after each: its activation and the
        activation's parameter, its dropout rate (0: none; never after the
        output layer) and its normalization layer with its place,
        ``(layer, before_activation)``, or None.

        Each Dense layer may be followed, in this order, by a normalization
        layer, an activation, a normalization layer (one normalization at
        most, not after the output layer's activation) and a Dropout."""
        dense, activations, params, dropout, norms = [], [], [], [], []
        for i, layer in enumerate(layers):
            previous = layers[i - 1] if i else None
            if isinstance(layer, Dense):
                if dense and layer.n_in != dense[-1].n_out:
                    raise ValueError(
                        "layer %d: Dense(%d, %d) does not follow a layer of %d outputs"
                        % (i, layer.n_in, layer.n_out, dense[-1].n_out))
                if any(layer is d for d in dense):
                    raise ValueError("layer %d: the same Dense object appears twice" % i)
                if layer.W is not None:
                    # Its W and b are views of another model's buffer: sharing it
                    # would leave that model training weights its layers no
                    # longer show.
                    raise ValueError(
                        "layer %d: %r already belongs to another model (its W and b are "
                        "views of that model's parameters); give each model its own "
                        "layers, e.g. fastnn.layers.layer_from_config(layer.get_config())"
                        % (i, layer))
                dense.append(layer)
                activations.append("identity")
                params.append(0.0)
                dropout.append(0.0)
                norms.append(None)
            elif isinstance(layer, Activation):
                if not (isinstance(previous, Dense) or (
                        isinstance(previous, Normalization) and isinstance(layers[i - 2], Dense))):
                    raise ValueError("layer %d: an activation must follow a Dense layer (or a "
                                     "normalization right after one)" % i)
                activations[-1] = layer.name
                params[-1] = layer.kernel_param
            elif isinstance(layer, Normalization):
                if not isinstance(previous, (Dense, Activation)) or norms[-1] is not None:
                    raise ValueError("layer %d: %s must follow a Dense layer or its activation "
                                     "(one normalization per layer)" % (i, type(layer).__name__))
                if layer.gamma is not None or any(norm is layer for norm, _ in filter(None, norms)):
                    raise ValueError("layer %d: %r already belongs to a model; give each "
                                     "model its own layers" % (i, layer))
                norms[-1] = (layer, isinstance(previous, Dense))
            elif isinstance(layer, Dropout):
                if not dense or isinstance(previous, Dropout):
                    raise ValueError("layer %d: Dropout must follow a Dense layer, its activation "
                                     "or normalization (one Dropout per layer)" % i)
                dropout[-1] = layer.rate
            else:
                raise TypeError("layer %d: expected a fastnn layer, got %r" % (i, layer))
        if dropout[-1]:
            raise ValueError("Dropout after the output layer: put it after a hidden layer")
        if norms[-1] is not None and not norms[-1][1]:
            raise ValueError("a normalization after the output layer's activation: put it "
                             "before the activation or after a hidden layer")
        return dense, activations, params, dropout, norms

    def _build_buffers(self):
        sizes = self.sizes
        w_off, b_off, p = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w_off.append(p)
            b_off.append(p + n_in * n_out)
            p += n_in * n_out + n_out
        # the normalization layers' γ and β follow every W and b (train.pyx)
        norm_p_off, norm_off, units = [], [], 0
        for n_out, norm in zip(sizes[1:], self.norms):
            norm_p_off.append(p if norm else 0)
            norm_off.append(units if norm else 0)
            if norm:
                p += 2 * n_out
                units += n_out
        self._normed_units = units
        self.params = np.zeros(p, dtype=self.dtype)
        self.grads = np.zeros(p, dtype=self.dtype)
        for layer, wo, bo in zip(self.dense, w_off, b_off):
            layer.W = self.params[wo:bo].reshape(layer.n_in, layer.n_out)
            layer.b = self.params[bo:bo + layer.n_out]
        # BatchNorm's running mean and variance, at 2·norm_off (LayerNorm's
        # places unused)
        self._norm_running = np.zeros(2 * units, dtype=self.dtype)
        self._norm_grad_views = [
            (self.grads[po:po + n], self.grads[po + n:po + 2 * n]) if norm else None
            for n, norm, po in zip(sizes[1:], self.norms, norm_p_off)]
        for n_out, norm, po, no in zip(sizes[1:], self.norms, norm_p_off, norm_off):
            if norm:
                layer = norm[0]
                layer.gamma = self.params[po:po + n_out]
                layer.beta = self.params[po + n_out:po + 2 * n_out]
                if isinstance(layer, BatchNorm):
                    layer.running_mean = self._norm_running[2 * no:2 * no + n_out]
                    layer.running_var = self._norm_running[2 * no + n_out:2 * no + 2 * n_out]
                    layer.running_var[...] = 1
        self._grad_views = [
            (self.grads[wo:bo].reshape(d.n_in, d.n_out), self.grads[bo:bo + d.n_out])
            for d, wo, bo in zip(self.dense, w_off, b_off)]
        intp = np.intp
        self._layout = {
            "sizes": np.asarray(sizes, intp),
            "act_codes": np.asarray([ACTIVATIONS[a] for a in self.activations], np.intc),
            "act_params": np.asarray(self.activation_params, np.float64),
            "w_off": np.asarray(w_off, intp),
            "b_off": np.asarray(b_off, intp),
            "a_off": np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(intp),
            "d_off": np.concatenate([[0, 0], np.cumsum(sizes[1:])[:-1]]).astype(intp),
        }
        if units:
            self._layout["norm"] = {
                "norm_kinds": np.asarray([NORMALIZATIONS[n[0].kind] if n else 0
                                          for n in self.norms], np.intc),
                "norm_pre": np.asarray([bool(n and n[1]) for n in self.norms], np.intc),
                "norm_param_offsets": np.asarray(norm_p_off, intp),
                "norm_offsets": np.asarray(norm_off, intp),
                "norm_eps": np.asarray([n[0].eps if n else 1.0 for n in self.norms]),
                "norm_momentum": np.asarray([n[0].momentum if n else 0.0 for n in self.norms]),
            }
        if any(self.dropout):
            dropped = [n if rate else 0 for n, rate in zip(sizes[1:], self.dropout)]
            self._layout["dropout"] = {
                "dropout_thresholds": np.asarray(
                    [reference.dropout_threshold(rate) for rate in self.dropout], np.uintc),
                "dropout_scales": np.asarray(
                    [float(self.dtype.type(1.0 / (1.0 - rate))) for rate in self.dropout]),
                "dropout_offsets": np.concatenate([[0], np.cumsum(dropped)[:-1]]).astype(intp),
            }

    @property
    def _has_batch_norm(self):
        """Whether a layer is a BatchNorm (refused with comm and batches of one row)."""
        return any(norm and isinstance(norm[0], BatchNorm) for norm in self.norms)

    # --- data at the boundary -------------------------------------------------------

    def _check_X(self, X, name="X", finite=True):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError("%s could not be read as an array (%s)" % (name, exc)) from None
        if X.dtype.kind not in "fiub":
            raise TypeError("%s must hold real numbers, got dtype %s" % (name, X.dtype))
        if X.ndim != 2:
            raise ValueError("%s must be 2-D (n_samples, n_features), got shape %s"
                             % (name, X.shape))
        if X.shape[1] != self.sizes[0]:
            raise ValueError("%s has %d features per sample but the model expects %d"
                             % (name, X.shape[1], self.sizes[0]))
        if X.shape[0] == 0:
            raise ValueError("%s has no samples" % name)
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if finite:
            self._require_finite(X, name)
        return X

    def _require_finite(self, X, name, first_row=0):
        """Raise naming the first row of X (numbered from ``first_row``) with NaN or inf."""
        if not all_finite(X):
            bad = np.flatnonzero(~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1))
            raise self._non_finite(name, first_row + int(bad[0]))

    def _non_finite(self, name, row=None):
        return ValueError("%s contains NaN or infinity (after conversion to %s)%s"
                          % (name, self.dtype, "" if row is None else ", in row %d" % row))

    def _finite_check_in_training(self, X, optimizer):
        """Whether fit leaves X's NaN/infinity check to its first epoch.

        The compiled loop can test each row as it gathers it, in the same pass
        as the copy (``train_samples(check_finite=True)``), which saves the separate pass
        over X (about 23 ms for 60,000 MNIST images, a fifth of a batch-10
        epoch); but a bad row is then found mid-epoch, so fit must snapshot
        the weights, optimizer state and random state to undo the partial
        epoch.  Worth it when the snapshot (copied, so read and written) moves
        fewer bytes than X.
        """
        snapshot_bytes = self.params.nbytes * (1 + len(optimizer._state_names()))
        return self.backend == "cython" and 2 * snapshot_bytes < X.nbytes

    def _check_y(self, y, n, loss, name="y"):
        """Targets as an (n, n_out) array of the model's dtype; integer labels become one-hot."""
        n_out = self.sizes[-1]
        try:
            y = np.asarray(y)
        except (ValueError, TypeError) as exc:
            raise ValueError("%s could not be read as an array (%s)" % (name, exc)) from None
        if y.shape[:1] != (n,):
            raise ValueError("%s has %s rows but X has %d samples" % (
                name, y.shape[0] if y.ndim else "no", n))
        if y.ndim == 1 and self._takes_labels(y, loss):
            y = self._label_indices(y, name)
        elif y.dtype.kind in "OUSV":
            raise TypeError("%s holds %s: class labels must be 1-D (one per sample)"
                            % (name, "strings" if y.dtype.kind in "US"
                               else "objects of dtype %s" % y.dtype))
        # Integer (and bool) 1-D targets are class labels for a classification
        # loss or a network with several outputs; for one output and MSE they
        # are values.
        labels = y.ndim == 1 and y.dtype.kind in "iub" and (loss.classification or n_out > 1)
        if labels:
            y = y.astype(np.intp)        # bools index as 0 and 1, not as a mask
            n_classes = max(n_out, 2)
            if y.min() < 0 or y.max() >= n_classes:
                raise ValueError("%s holds class labels outside [0, %d)" % (name, n_classes))
            if n_out == 1:
                Y = y.astype(self.dtype).reshape(n, 1)
            else:
                Y = np.zeros((n, n_out), self.dtype)
                Y[np.arange(n), y] = 1
            return Y, True
        if y.dtype.kind not in "fiub":
            raise TypeError("%s must hold numbers, got dtype %s" % (name, y.dtype))
        if y.ndim == 1 and n_out == 1:
            y = y.reshape(n, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError("%s must have shape (%d, %d) (or hold integer class labels), "
                             "got %s" % (name, n, n_out, y.shape))
        Y = np.ascontiguousarray(y, dtype=self.dtype)
        if not all_finite(Y):
            raise ValueError("%s contains NaN or infinity" % name)
        return Y, False

    def _takes_labels(self, y, loss):
        """Whether 1-D ``y`` holds class labels to look up in :attr:`classes_`:
        strings and objects always; floats for a classification loss with
        several outputs (one output with BCE takes 0/1 targets as values)."""
        return (y.dtype.kind in "OUS"
                or y.dtype.kind == "f" and loss.classification and self.sizes[-1] > 1)

    def _checked_X_and_classes(self, X, y, loss):
        """fit's X checked (finiteness later), and the distinct labels of ``y``
        when they are labels that :attr:`classes_` must hold (None otherwise,
        or when the model has its classes already)."""
        X = self._check_X(X, finite=False)    # finite: _checked_data, or the first epoch
        try:
            y = np.asarray(y)
        except (ValueError, TypeError) as exc:
            raise ValueError("y could not be read as an array (%s)" % exc) from None
        if y.ndim != 1 or not self._takes_labels(y, loss) or self.classes_ is not None:
            return X, None
        try:
            classes = np.unique(y)
        except TypeError as exc:
            raise TypeError("y holds labels that cannot be sorted (%s); use labels of one "
                            "type" % exc) from None
        if classes.dtype.kind == "f" and not np.isfinite(classes).all():
            raise ValueError("y holds NaN or infinity as a class label")
        return X, classes

    def _checked_data(self, X, y, loss, optimizer, validation_data, validation_split,
                      sample_weight, may_check_in_training):
        """fit's targets, sample weights and validation data, checked; the
        training rows' (X, Y, weights), (X_val, Y_val), whether y held labels,
        and whether the first epoch checks X's finiteness as it goes."""
        Y, labels = self._check_y(y, X.shape[0], loss)
        weights = self._sample_weights(sample_weight, X.shape[0])
        X, Y, weights, X_val, Y_val = self._validation(X, Y, weights, loss, validation_data,
                                                       validation_split)
        check_in_training = (may_check_in_training
                             and self._finite_check_in_training(X, optimizer))
        if not check_in_training:
            self._require_finite(X, "X")
        return X, Y, weights, X_val, Y_val, labels, check_in_training

    def _learn_classes(self, classes, comm=None):
        """Set :attr:`classes_` from the distinct labels of fit's ``y`` (with
        ``comm``, the union of every rank's; a collective call), sorted.
        Raises ValueError when there are more classes than the outputs can
        tell apart."""
        if comm is not None:
            shards = comm.allgather(classes)
            if shards[0] is None:
                return
            classes = np.unique(np.concatenate(shards))
        if classes is None:
            return
        n_out = self.sizes[-1]
        if len(classes) > max(n_out, 2) or n_out == 1 and len(classes) != 2:
            raise ValueError(
                "y holds %d classes (%s); this network has %d output%s, which tell apart %s"
                % (len(classes), _some(classes), n_out, "s" if n_out > 1 else "",
                   "2 classes" if n_out == 1 else "up to %d" % n_out))
        self.classes_ = classes

    def _label_indices(self, y, name):
        """Labels → their places in :attr:`classes_` (ValueError for unknown ones)."""
        if self.classes_ is None:
            raise ValueError("%s holds labels of dtype %s, but this model has no classes_ "
                             "(fit it with such labels first)" % (name, y.dtype))
        try:
            where = np.searchsorted(self.classes_, y)
        except TypeError:
            where = np.full(len(y), len(self.classes_))
        where = np.minimum(where, len(self.classes_) - 1)
        unknown = self.classes_[where] != y
        if np.any(unknown):
            raise ValueError("%s holds labels the model was not trained on: %s (classes_: %s)"
                             % (name, _some(np.unique(y[unknown].astype(object))),
                                _some(self.classes_)))
        return where.astype(np.intp)

    def _sample_weights(self, sample_weight, n):
        """fit's ``sample_weight`` checked, as a float64 array (n,), or None."""
        if sample_weight is None:
            return None
        try:
            weights = np.asarray(sample_weight)
        except (ValueError, TypeError) as exc:
            raise ValueError("sample_weight could not be read as an array (%s)"
                             % exc) from None
        if weights.dtype.kind not in "fiub":
            raise TypeError("sample_weight must hold numbers, got dtype %s" % weights.dtype)
        if weights.shape != (n,):
            raise ValueError("sample_weight must have shape (%d,), got %s"
                             % (n, weights.shape))
        weights = weights.astype(np.float64)
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
        return weights

    def _weighted_by_class(self, weights, class_weight, Y, labels, comm=None):
        """The training rows' weights (or None: 1) times their class's weight
        (a collective call with ``comm`` for 'balanced')."""
        if not labels:
            raise ValueError("class_weight needs class labels in y (integers or other "
                             "labels, with a classification loss)")
        index = (Y[:, 0] > 0.5).astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
        per_class = class_weights(class_weight, index, max(Y.shape[1], 2), self.classes_,
                                  comm)
        return per_class[index] * (1.0 if weights is None else weights)

    def _check_trainable(self):
        if "step" in self.activations:
            raise ValueError(STEP_HAS_NO_GRADIENT)

    # --- training ---------------------------------------------------------------------

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike, loss: Loss | type[Loss] | str,
            optimizer: Optimizer | str, epochs: int = 1,
            batch_size: int | Literal["auto"] | None = "auto", shuffle: bool = True,
            validation_data: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
            validation_split: float = 0.0, patience: int | None = None, min_delta: float = 0.0,
            restore_best_weights: bool = True,
            callbacks: Iterable[Callback | EpochFunction] | None = (),
            verbose: int = 1, comm: Any = None, local_steps: int = 1,
            sample_weight: npt.ArrayLike | None = None,
            class_weight: dict[Any, float] | str | None = None) -> History:
        """Train by gradient descent with backpropagation.

        Batch, mini-batch and stochastic gradient descent are this one loop
        with different batch sizes: ``batch_size=None`` takes the whole
        training set per step, ``1`` one sample, ``k`` k samples.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples, n_outputs) or (n_samples,)
            Targets.  Integer (or bool) class labels (1-D) are one-hot encoded
            for the model's n_outputs classes, or taken as 0/1 for a single
            output unit with a cross-entropy loss; with MSE and one output
            unit, integer targets are plain values.  Other labels (strings,
            objects; floats with a classification loss and several outputs)
            are kept, sorted, as :attr:`classes_` by the first fit that takes
            them (output j is ``classes_[j]``, which ``predict`` returns);
            later fits and ``evaluate`` must use those labels.
        loss : fastnn loss, or its name ('mse', 'bce', 'cce', 'huber', ...)
            A loss object or a name (:func:`fastnn.losses.get_loss`).  After a
            from-logits loss (``CrossEntropyFromLogitsLoss``,
            ``BCEWithLogitsLoss``) ``predict_proba`` returns probabilities.
        optimizer : fastnn optimizer, or 'sgd' / 'adam' / 'adamw' / 'rmsprop' / 'adagrad'
            An instance (fastnn.SGD, fastnn.Adam, ..., a preset such as
            fastnn.StochasticGD) is bound to this model's parameters and keeps
            its state between fits; a name makes a new one with default
            hyperparameters (:func:`fastnn.optim.get_optimizer`).
        epochs : int
            Passes over the training data.
        batch_size : int, None or 'auto'
            Samples per gradient step; None: all.  'auto': the optimizer
            preset's batch size if it has one, else 32.
        shuffle : bool
            Draw a new order of the samples every epoch (from the model's seed).
        validation_data : tuple (X_val, y_val), optional
        validation_split : float in [0, 1)
            Hold out this fraction of the samples (the last ones, before
            shuffling) for validation, when ``validation_data`` is not given.
        patience : int, optional
            Early stopping: stop when the monitored loss (``val_loss`` if there
            is validation data, else ``loss``) has not improved by more than
            ``min_delta`` for this many epochs.
        min_delta : float
        restore_best_weights : bool
            With early stopping, end with the weights of the best epoch.
        callbacks : list of Callback or callables ``f(epoch, logs)``
            With :class:`fastnn.callbacks.TerminateOnNaN` among them, each
            batch's loss and gradient are checked before its update, and
            training stops at the first NaN or infinity (not with ``comm``).
        verbose : {0, 1, 2}
            0 silent; 1 a progress bar per epoch (only on a terminal); 2 one
            line per epoch.
        comm : mpi4py.MPI.Intracomm, optional
            Data-parallel training on the ranks of ``comm`` (needs mpi4py; see
            :mod:`fastnn.distributed`): X and y are this rank's shard of the
            training set (the shards in rank order make up the whole), every
            rank calls ``fit`` with the same other arguments, and every rank
            ends with the same weights, those of one process training on the
            whole set with this seed, to rounding.  The history's loss and
            accuracy are over the whole set; validation data (given, or
            ``validation_split`` of each rank's shard) is each rank's shard of
            it, and ``val_loss``, ``val_accuracy`` and early stopping use the
            whole validation set's.
        local_steps : int, default 1
            With ``comm``: 1 sums the gradients of every step over the ranks
            (the synchronous mode above); k > 1 is local SGD, for small
            networks on slow links: each rank steps on its own batches (its
            share of each global batch's size, from its own order of its
            rows) and the ranks' weights are averaged every k steps and at
            the end of each epoch, one allreduce of the weights per k steps.
            The optimizer's state stays each rank's own.  The trajectory
            differs from one process's.
        sample_weight : array_like of shape (n_samples,), optional
            Per-sample weights (finite, >= 0): each step's loss is the
            weighted mean over its batch, Σ wᵢ·ℓᵢ / Σ wᵢ (a batch of zero
            weights takes a zero gradient).  ``validation_split`` holds out
            the weights with the samples; validation figures are unweighted.
        class_weight : dict or 'balanced', optional
            Weights of the classes (classification), multiplying
            ``sample_weight``: a dict of label (of :attr:`classes_`, or class
            number) to weight, 1 for classes not in it, or 'balanced':
            n_samples / (n_classes · samples of the class), over the classes
            present (scikit-learn's rule; with ``comm``, over the whole set).

        Returns
        -------
        History

        Raises
        ------
        ValueError, TypeError
            Bad arguments or data, before anything is trained.  NaN or
            infinity in X is found either by a scan before training or, when X
            outweighs twice a snapshot of the weights and optimizer state (and
            ``backend="cython"``), by the first epoch as it gathers each batch;
            then the epoch stops before that batch, the weights, optimizer
            state and random state are restored, and the error names the row.
        FloatingPointError
            The weights became NaN or infinite (training diverged; with
            ``TerminateOnNaN``, when an update overflowed from a finite
            gradient).
        RuntimeError
            Another thread is training this model.  (A ``fit`` waits for
            other threads' predictions in progress; their new ones raise
            until it returns.)
        """
        with self._guard.writing("fit"):
            return self._fit(X, y, loss, optimizer, epochs, batch_size, shuffle,
                             validation_data, validation_split, patience, min_delta,
                             restore_best_weights, callbacks, verbose, comm, local_steps,
                             sample_weight, class_weight)

    def _fit(self, X, y, loss, optimizer, epochs, batch_size, shuffle, validation_data,
             validation_split, patience, min_delta, restore_best_weights, callbacks, verbose,
             comm=None, local_steps=1, sample_weight=None, class_weight=None):
        self._check_trainable()
        loss = get_loss(loss)
        loss.check_output(self.activations[-1])
        optimizer = get_optimizer(optimizer)
        epochs = check_scalar(epochs, "epochs", low=1, integer=True)
        callbacks = list(callbacks or ())
        from fastnn.callbacks import TerminateOnNaN
        terminators = [c for c in callbacks if isinstance(c, TerminateOnNaN)]
        if terminators and comm is not None:
            raise ValueError("TerminateOnNaN does not work with comm (data-parallel "
                             "training, local SGD included)")
        dp = None
        if comm is not None:
            from fastnn import distributed
            if self.backend != "cython":
                raise ValueError("fit with comm needs backend='cython'")
            if self._has_batch_norm:
                raise ValueError("fit with comm cannot train BatchNorm: each rank sees only its "
                                 "share of a batch, so its statistics would not be the "
                                 "batch's; use LayerNorm")
            dp = distributed.DataParallel(comm, local_steps)
        elif local_steps != 1:
            raise ValueError("local_steps (local SGD) needs comm, got local_steps=%r"
                             % (local_steps,))
        classes_before = self.classes_
        try:
            # Checks of this rank's data, then what the ranks must agree on;
            # with comm a refused shard raises on every rank, naming this one.
            from fastnn.distributed import checked_everywhere
            X, classes = checked_everywhere(comm, self._checked_X_and_classes, X, y, loss)
            self._learn_classes(classes, comm)
            # (not checked in training with TerminateOnNaN, which may end the
            # first epoch before a bad row)
            X, Y, weights, X_val, Y_val, labels, check_in_training = checked_everywhere(
                comm, self._checked_data, X, y, loss, optimizer, validation_data,
                validation_split, sample_weight, dp is None and not terminators)
            if class_weight is not None:
                weights = self._weighted_by_class(weights, class_weight, Y, labels, comm)
            n = X.shape[0]
            if dp is not None:
                n = dp.begin(self, n, optimizer)
            batch_size = self._batch_size(batch_size, optimizer, n)
            if batch_size == 1 and self._has_batch_norm:
                raise ValueError("BatchNorm needs batches of 2 rows or more (one row has no "
                                 "variance), got batch_size=1")
            if dp is not None:
                dp.check_batches(batch_size)
            if patience is not None:
                patience = check_scalar(patience, "patience", low=1, integer=True)
            min_delta = check_scalar(min_delta, "min_delta", low=0)
            if verbose not in (0, 1, 2):
                raise ValueError("verbose must be 0, 1 or 2, got %r" % (verbose,))
            callbacks = [_as_callback(c) for c in callbacks]
            if weights is not None:
                weights = np.ascontiguousarray(weights, dtype=self.dtype)
        except BaseException:
            self.classes_ = classes_before    # a refused fit leaves the model as it was
            raise

        before = (self.loss, self.task, self.optimizer)
        self.loss = loss
        self.task = "classification" if (loss.classification or labels) else "regression"
        self.optimizer = optimizer
        optimizer.bind(self.params, self.grads)
        if check_in_training:   # to undo a first epoch cut short by a bad row
            snapshot = (self.params.copy(), optimizer.state_dict(),
                        self._rng.bit_generator.state)
        history = History()
        chunks = Chunks(batch_size, owner=self)   # compiled runs of ~0.1 s: Ctrl-C between them
        monitor = "val_loss" if X_val is not None else "loss"
        best, best_params, waited = math.inf, None, 0
        for c in callbacks:
            c.on_train_begin(self)

        # data-parallel: the rank's share of the node's CPUs; an exception on
        # one rank from here on ends the MPI job
        with (contextlib.nullcontext() if dp is None else
              dp.training(self.params, self.grads, optimizer.state_arrays(),
                          None if "norm" in self._layout else self._layout["sizes"])):
            for epoch in range(epochs):
                for c in callbacks:
                    c.on_epoch_begin(epoch)
                started = time.perf_counter()
                order = self._rng.permutation(n) if shuffle else np.arange(n)
                bar = ProgressBar(X.shape[0], epoch + 1, epochs,
                                  enabled=None if verbose == 1 else False)
                halted = None
                try:
                    with Interruptible() as interrupt:
                        if dp is None:
                            total, correct = self._run_epoch(X, Y, weights, order, batch_size,
                                                             loss, optimizer, bar, chunks,
                                                             interrupt,
                                                             check_in_training and epoch == 0,
                                                             bool(terminators))
                        elif dp.local_steps == 1:
                            total, correct = self._run_epoch_distributed(
                                X, Y, weights, dp, dp.epoch(order, batch_size), batch_size,
                                loss, optimizer, bar, chunks, interrupt)
                        else:
                            total, correct = self._run_epoch_local_sgd(
                                X, Y, weights, dp, dp.epoch_local(batch_size, shuffle),
                                batch_size, loss, optimizer, bar, interrupt)
                except _train.NonFiniteBatch as bad:
                    self.params[...] = snapshot[0]
                    optimizer.load_state_dict(snapshot[1])
                    self._rng.bit_generator.state = snapshot[2]
                    self.loss, self.task, self.optimizer = before
                    self.classes_ = classes_before
                    raise self._non_finite("X", bad.row) from None
                except _train.NonFiniteStep as halt:   # TerminateOnNaN: a partial epoch
                    halted, (total, correct) = halt, halt.result
                    for c in terminators:
                        c._stopped(epoch, halt.pos // batch_size)
                n_done = n if halted is None else halted.pos
                if not all_finite(self.params):
                    raise FloatingPointError(
                        "training diverged: the weights became NaN or infinite in epoch %d; "
                        "lower the learning rate" % (epoch + 1))
                logs = {"loss": total / n_done if n_done else math.nan}
                if self.task == "classification":
                    logs["accuracy"] = correct / n_done if n_done else math.nan
                if X_val is not None:
                    logs.update({"val_" + k: v
                                 for k, v in self._evaluate(X_val, Y_val, loss,
                                                            comm=comm).items()})
                logs["lr"] = optimizer.lr
                logs["time"] = time.perf_counter() - started
                optimizer.epoch_end(logs)
                bar.close({k: v for k, v in logs.items() if k not in ("loss", "lr")})
                if verbose == 2:
                    print("Epoch %d/%d  %s" % (epoch + 1, epochs, "  ".join(
                        "%s %.4g" % kv for kv in logs.items())), file=sys.stderr)
                history.append(epoch, logs)
                stop = False
                for c in callbacks:
                    stop = bool(c.on_epoch_end(epoch, logs)) or stop
                if patience is not None:
                    if logs[monitor] < best - min_delta:
                        best, waited = logs[monitor], 0
                        best_params = self.params.copy() if restore_best_weights else None
                    else:
                        waited += 1
                        stop = stop or waited >= patience
                if stop or halted is not None:
                    history.stopped_epoch = epoch
                    break
        if best_params is not None:
            self.params[...] = best_params
        for c in callbacks:
            c.on_train_end(self, history)
        return history

    def _validation(self, X, Y, weights, loss, validation_data, validation_split):
        """(X, Y, weights) of the training rows and (X_val, Y_val), or None, None."""
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ValueError("validation_data must be a tuple (X_val, y_val)")
            X_val = self._check_X(validation_data[0], "X_val")
            Y_val, _ = self._check_y(validation_data[1], X_val.shape[0], loss, "y_val")
            return X, Y, weights, X_val, Y_val
        split = check_scalar(validation_split, "validation_split", low=0, high=1,
                             high_open=True)
        if split == 0:
            return X, Y, weights, None, None
        n_val = int(round(X.shape[0] * split))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError("validation_split=%g leaves no samples for training or for "
                             "validation out of %d" % (split, X.shape[0]))
        self._require_finite(X[-n_val:], "X", X.shape[0] - n_val)   # held out; the rest: fit
        return (X[:-n_val], Y[:-n_val], None if weights is None else weights[:-n_val],
                X[-n_val:], Y[-n_val:])

    @staticmethod
    def _batch_size(batch_size, optimizer, n):
        if isinstance(batch_size, str) and batch_size == "auto":
            # A preset (StochasticGD, MiniBatchGD, BatchGD) carries its batch size.
            batch_size = getattr(optimizer, "batch_size", "auto")
            if isinstance(batch_size, str) and batch_size == "auto":
                batch_size = 32
        if batch_size is None:
            return n
        batch_size = check_scalar(batch_size, "batch_size", low=1, integer=True)
        return min(batch_size, n)

    def _run_epoch(self, X, Y, weights, order, batch_size, loss, optimizer, bar, chunks,
                   interrupt, check_finite=False, stop_non_finite=False):
        """One pass over ``order``; returns (Σ batch loss × rows, correct predictions).
        ``weights``: per-sample weights (n,) or None.

        The batches run in runs of about 0.1 s (``chunks``, fastnn/_interrupt.py),
        re-entering Python at batch boundaries between them, so the batches are
        the same as in one run; after each run the progress bar moves and a
        Ctrl-C that came during it raises ``KeyboardInterrupt`` (``interrupt``),
        the weights and the optimizer's state being those after the run's last
        batch.  ``check_finite`` (cython backend): scan each batch of X before
        training on it; raises ``_train.NonFiniteBatch`` at the first bad one.
        ``stop_non_finite`` (TerminateOnNaN): end the epoch before the update
        of the first batch whose loss or gradient is not finite, raising
        ``_train.NonFiniteStep`` with the epoch's (loss sum, correct) so far.
        """
        n = X.shape[0]
        total, correct = 0.0, 0
        with contextlib.closing(chunks.runs(0, n)) as runs:
            for start, stop in runs:
                halted = None
                try:
                    if self.backend == "cython":
                        t, c, steps = self._train_compiled(X, Y, weights, order, start, stop,
                                                           batch_size, loss, optimizer,
                                                           check_finite, stop_non_finite)
                    else:
                        t, c, steps = self._train_numpy(X, Y, weights, order, start, stop,
                                                        batch_size, loss, optimizer,
                                                        stop_non_finite)
                except _train.NonFiniteStep as halt:
                    halted, stop = halt, halt.pos
                    t, c, steps = halt.result[:3]   # the batches before it
                optimizer.set_step_count(steps)
                total, correct = total + t, correct + c
                bar.update(stop, total / max(stop, 1))
                if halted is not None:
                    raise _train.NonFiniteStep(halted.pos, (total, correct))
                interrupt.check()
        return total, correct

    def _run_epoch_distributed(self, X, Y, weights, dp, plan, batch_size, loss, optimizer,
                               bar, chunks, interrupt):
        """``_run_epoch`` on this rank's share of each global batch (``plan``:
        fastnn.distributed.DataParallel.epoch), the gradients summed over the
        ranks inside the compiled loop; returns the sums over all ranks."""
        local_order, counts, rows = plan
        totals = rows if weights is None else dp.step_weights(weights, local_order, counts)
        total, correct = 0.0, 0
        with contextlib.closing(dp.runs(counts, batch_size, chunks)) as runs:
            for start, stop, s0, s1 in runs:
                t, c, steps = self._train_compiled(
                    X, Y, weights, local_order, start, stop, batch_size, loss, optimizer,
                    steps=(counts[s0:s1], totals[s0:s1], rows[s0:s1], dp.reducer),
                    buffers=dp.buffers, rows=dp.row_ids, products=dp.products_args(s0, s1))
                optimizer.set_step_count(steps)
                total, correct = total + t, correct + c
                bar.update(stop, total / max(stop, 1))
                interrupt.check()
        return dp.reduce(total, correct)

    def _run_epoch_local_sgd(self, X, Y, weights, dp, plan, batch_size, loss, optimizer, bar,
                             interrupt):
        """Local SGD (``fit(local_steps=k)``): this rank's batches (``plan``:
        fastnn.distributed.DataParallel.epoch_local) k steps at a time in the
        compiled loop without a gradient sum, then the weights averaged over
        the ranks; returns the epoch's sums over all ranks."""
        local_order, counts, rows = plan
        totals = rows
        if weights is not None:     # each local batch's own weight sum
            step = np.repeat(np.arange(len(counts)), counts)
            totals = np.bincount(step, weights=weights[local_order].astype(np.float64),
                                 minlength=len(counts))
        total, correct = 0.0, 0
        with contextlib.closing(dp.runs(counts, batch_size)) as runs:
            for start, stop, s0, s1 in runs:
                t, c, steps = self._train_compiled(
                    X, Y, weights, local_order, start, stop, batch_size, loss, optimizer,
                    steps=(counts[s0:s1], totals[s0:s1], rows[s0:s1], dp.no_reducer),
                    rows=dp.row_ids)
                optimizer.set_step_count(steps)
                dp.average(self.params)
                total, correct = total + t, correct + c
                bar.update(stop, total / stop)
                interrupt.check()
        return dp.reduce(total, correct)

    def _train_compiled(self, X, Y, weights, order, start, stop, batch_size, loss, optimizer,
                        check_finite=False, stop_non_finite=False,
                        steps=(None, None, None, None), buffers=None, rows=None,
                        products=None):
        """One compiled run.  ``steps``: data-parallel (counts, totals, rows,
        reducer), see ``_train.train_samples``; ``buffers``: (params, grads,
        state1, state2, state3) to use instead of the model's and the optimizer's (a
        node-shared model); ``rows``: each local row's row in the whole
        training set (dropout's masks; None: the local row); ``products``: the
        shared products' arguments (fastnn.distributed), or None."""
        lay = self._layout
        rule, lr, mom, nest, b1, b2, eps, wd, s1, s2, t = optimizer.compiled_rule()
        options = optimizer.compiled_options()    # state3, clipping, ...
        params, grads = self.params, self.grads
        if buffers is not None:
            params, grads, s1, s2, options["state3"] = buffers
        empty = np.empty(0, self.dtype)
        with self._workspaces.borrow(batch_size) as ws:
            total, correct, t, _ = _train.train_samples(
                X, Y, order, start, stop, batch_size, lay["sizes"], lay["act_codes"],
                LOSSES[loss.name], params, grads, ws["acts"], ws["deltas"], ws["y_batch"],
                lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], rule, lr, mom,
                bool(nest), b1, b2, eps, wd, empty if s1 is None else s1,
                empty if s2 is None else s2, t, sample_weight=weights, spare=ws["spare"],
                check_finite=check_finite, stop_non_finite=stop_non_finite,
                step_counts=steps[0], step_totals=steps[1],
                step_rows=steps[2], reducer=steps[3],
                **self._dropout_args(optimizer.epoch, rows, ws),
                **self._norm_args(ws, running=True), **options,
                **self._kernel_args(loss, ws), **(products or {}))
        return total, correct, t

    def _kernel_args(self, loss, ws):
        """The compiled loop's activation and loss arguments: each layer's
        activation parameter, GELU's pre-activations buffer from workspace
        ``ws``, the loss's options (Huber's delta)."""
        return dict(act_params=self._layout["act_params"], preacts=ws["preacts"],
                    **loss.kernel_options())

    def _norm_args(self, ws=None, running=False):
        """The normalization arguments of ``train_samples``, ``gradients`` and
        ``predict`` ({} without normalization layers): the layout, the buffer
        of workspace ``ws`` (training), the running statistics (``running``:
        training moves them, prediction reads them)."""
        if "norm" not in self._layout:
            return {}
        args = dict(self._layout["norm"])
        if ws is not None:
            args["norm_buffer"] = ws["norm"]
        if running:
            args["norm_running"] = self._norm_running
        return args

    def _dropout_args(self, epoch, rows, ws):
        """``train_samples``' dropout arguments ({} without dropout): the masks
        of ``epoch`` (the optimizer's epoch count), ``rows`` (each local row's
        row in the training set, or None), the buffers of workspace ``ws``."""
        if "dropout" not in self._layout:
            return {}
        return dict(self._layout["dropout"], dropout_key=self._dropout_key,
                    dropout_epoch=epoch, dropout_rows=rows, dropout_buffer=ws["dropout"])

    def _train_numpy(self, X, Y, weights, order, start, stop, batch_size, loss, optimizer,
                     stop_non_finite=False):
        """``_train_compiled`` on fastnn.reference, batch by batch; raises
        ``_train.NonFiniteStep`` as it does with ``stop_non_finite``."""
        t = optimizer.compiled_rule()[-1]
        total, correct = 0.0, 0
        for pos in range(start, stop, batch_size):
            idx = order[pos:min(pos + batch_size, stop)]
            moments = []
            value, A_out = self._reference_gradients(X[idx], Y[idx], loss,
                                                     None if weights is None else weights[idx],
                                                     idx, optimizer.epoch, moments)
            if stop_non_finite and not (math.isfinite(value) and all_finite(self.grads)):
                raise _train.NonFiniteStep(pos, (total, correct, t, 0.0))
            for norm, mean, var in moments:     # after the check, as the compiled loop
                reference.norm_running_update(norm.running_mean, norm.running_var, mean, var,
                                              len(idx), norm.momentum)
            total += value * len(idx)
            correct += _count_correct(self._probabilities(A_out, loss), Y[idx])
            t += 1
            optimizer.reference_step(t)     # clipping and update by fastnn.reference
        return total, correct, t

    def _reference_gradients(self, X, Y, loss, sample_weight=None, rows=None, epoch=0,
                             moments=None):
        """Textbook backpropagation on fastnn.reference; fills self.grads.

        ``rows`` (the samples' rows in the training set) turns dropout on,
        with the masks of ``epoch``; None: no dropout (``gradients``).
        ``moments``: a list that receives ``(layer, mean, var)``, the batch's
        statistics, for each BatchNorm layer (the caller moves the running
        statistics)."""
        inputs, pre_activations, outputs, keeps, normed = [X], [], [], [], []
        for i, (layer, act, norm) in enumerate(zip(self.dense, self.activations, self.norms)):
            before = norm is not None and norm[1]
            Z = reference.dense_forward(inputs[-1], layer.W, layer.b)
            stats = None
            if before:      # the activation's input: the normalized Z
                Z, xhat, mean, var = reference.norm_forward(Z, norm[0].gamma, norm[0].beta,
                                                            norm[0].kind, norm[0].eps)
            A = H = reference.activation_forward(Z, act, self.activation_params[i])
            if norm is not None and not before:
                H, xhat, mean, var = reference.norm_forward(A, norm[0].gamma, norm[0].beta,
                                                            norm[0].kind, norm[0].eps)
            if norm is not None:
                stats = (xhat, var)
                if moments is not None and isinstance(norm[0], BatchNorm):
                    moments.append((norm[0], mean, var))
            pre_activations.append(Z)
            outputs.append(A)
            normed.append(stats)
            keep = None
            if self.dropout[i] and rows is not None:
                stream = reference.dropout_stream(self._dropout_key, epoch, i)
                keep = reference.dropout_keep(stream, rows, H.shape[1], self.dropout[i])
                H = reference.dropout_forward(H, keep, self.dropout[i])
            keeps.append(keep)
            inputs.append(H)
        value, dA = reference.loss_delta(outputs[-1], Y, loss.name, self.activations[-1],
                                         sample_weight, Z=pre_activations[-1],
                                         alpha=self.activation_params[-1],
                                         **loss.kernel_options())
        last = len(self.dense) - 1
        for i in reversed(range(len(self.dense))):
            # dA: dL/d(what layer i hands on); the output layer's is dL/dZ already
            act = "identity" if i == last else self.activations[i]
            alpha = self.activation_params[i]
            if keeps[i] is not None:
                dA = reference.dropout_backward(dA, keeps[i], self.dropout[i])
            norm = self.norms[i]
            if norm is not None:
                if norm[1]:
                    dA = reference.activation_backward(outputs[i], dA, act,
                                                       Z=pre_activations[i], alpha=alpha)
                    act = "identity"
                dA, dgamma, dbeta = reference.norm_backward(dA, normed[i][0], normed[i][1],
                                                            norm[0].gamma, norm[0].kind,
                                                            norm[0].eps)
                self._norm_grad_views[i][0][...] = dgamma
                self._norm_grad_views[i][1][...] = dbeta
            dW, db, dA = reference.dense_backward(inputs[i], self.dense[i].W, outputs[i],
                                                  dA, act, need_dX=i > 0,
                                                  Z=pre_activations[i], alpha=alpha)
            self._grad_views[i][0][...] = dW
            self._grad_views[i][1][...] = db
        return value, outputs[-1]

    # --- inference and inspection -------------------------------------------------------

    def predict_proba(self, X: npt.ArrayLike, comm: Any = None) -> FloatArray:
        """Network outputs (class probabilities for softmax/sigmoid outputs).

        After training with a from-logits loss (``CrossEntropyFromLogitsLoss``,
        ``BCEWithLogitsLoss``: the loss the model records, ``model.loss``), the
        network's outputs are logits, and this returns their softmax or
        sigmoid: the probabilities.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        comm : mpi4py.MPI.Intracomm, optional
            Sharded: X is this rank's shard, and every rank gets the outputs
            of all the shards, in rank order (see :mod:`fastnn.distributed`).

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), of the model's dtype
            With ``comm``: n_samples is the sum of the shards' rows.
        """
        if comm is None:       # (no import on the one-process path: single-row latency)
            X = self._check_X(X)
        else:
            from fastnn.distributed import checked_everywhere
            X = checked_everywhere(comm, self._check_X, X)
        with self._guard.reading("predict"):
            out = self._probabilities(self._forward(X), self.loss)
        if comm is not None:
            out = np.concatenate(comm.allgather(out))
        return out

    def predict(self, X: npt.ArrayLike, comm: Any = None) -> npt.NDArray[Any]:
        """Predictions: class labels for classifiers, outputs for regressors.

        A model is a classifier when it was last trained with a cross-entropy
        loss or integer labels (or, before training, has a softmax output).
        Labels are the argmax of the outputs, or ``output > 0.5`` for a single
        output unit.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        comm : mpi4py.MPI.Intracomm, optional
            Sharded, as in :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,) (int64 labels) or (n_samples, n_outputs)
        """
        out = self.predict_proba(X, comm)
        if self.task != "classification":
            return out
        index = (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        return index if self.classes_ is None else self.classes_[index]

    def evaluate(self, X: npt.ArrayLike, y: npt.ArrayLike,
                 loss: Loss | type[Loss] | str | None = None,
                 comm: Any = None) -> dict[str, float]:
        """Mean loss over (X, y), and accuracy for classification.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples, n_outputs) or (n_samples,)
        loss : loss, optional
            Defaults to the loss of the last ``fit``.
        comm : mpi4py.MPI.Intracomm, optional
            Sharded: (X, y) is this rank's shard, and every rank gets the
            figures of all the shards together.

        Returns
        -------
        dict
            ``{'loss': float}``, plus ``'accuracy'`` for classifiers.
        """
        loss = get_loss(loss if loss is not None else self._require_loss())

        def checked(X, y):
            X = self._check_X(X)
            return X, self._check_y(y, X.shape[0], loss)

        from fastnn.distributed import checked_everywhere
        X, (Y, labels) = checked_everywhere(comm, checked, X, y)
        with self._guard.reading("evaluate"):
            return self._evaluate(X, Y, loss, labels, comm)

    def _evaluate(self, X, Y, loss, labels=False, comm=None):
        """{'loss': ..., 'accuracy': ...} of (X, Y); with ``comm``, of every
        rank's (X, Y) together (the sums reduced over the ranks)."""
        A = self._forward(X)
        value = reference.loss_gradient(A, Y, loss.name, **loss.kernel_options())[0] \
            if self.backend == "numpy" else _kernel_loss(A, Y, loss)
        classifier = self.task == "classification" or labels or loss.classification
        n, correct = X.shape[0], _count_correct(self._probabilities(A, loss), Y) \
            if classifier else 0
        if comm is not None:
            from fastnn import distributed
            total, n, correct = distributed.summed(comm, value * n, n, correct)
            value = total / n
        result = {"loss": value}
        if classifier:
            result["accuracy"] = correct / n
        return result

    def _forward(self, X):
        if self.backend == "numpy":
            A = X
            for layer, act, param, norm in zip(self.dense, self.activations,
                                               self.activation_params, self.norms):
                if norm is None:
                    A = reference.dense_forward(A, layer.W, layer.b, act, param)
                    continue
                n, before = norm
                A = reference.dense_forward(A, layer.W, layer.b, "identity" if before else act,
                                            param)
                A = reference.norm_inference(A, n.gamma, n.beta, n.kind, n.eps,
                                             getattr(n, "running_mean", None),
                                             getattr(n, "running_var", None))
                if before:
                    A = reference.activation_forward(A, act, param)
            return A
        batch = min(_PREDICT_BATCH, X.shape[0])
        lay = self._layout
        out = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
        with self._workspaces.borrow(batch) as ws:
            _train.predict(X, lay["sizes"], lay["act_codes"], self.params, ws["acts"],
                           lay["w_off"], lay["b_off"], lay["a_off"], batch, out,
                           lay["act_params"], **self._norm_args(running=True))
        return out

    def _probabilities(self, A, loss):
        """Outputs A as probabilities: for a from-logits ``loss``, the softmax or
        sigmoid of the logits (in place); otherwise A itself."""
        if loss is None or loss.from_logits is None:
            return A
        if self.backend == "numpy":
            return reference.activation_forward(A, loss.from_logits)
        return kernels.activation_forward(A, loss.from_logits, out=A, check_finite=False)

    def _require_loss(self):
        if self.loss is None:
            raise ValueError("no loss given and the model has not been trained: pass loss=")
        return self.loss

    def gradients(self, X: npt.ArrayLike, y: npt.ArrayLike,
                  loss: Loss | type[Loss] | str) -> list[tuple[FloatArray, FloatArray]]:
        """Gradient of the mean loss over the batch (X, y) with respect to every layer.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples, n_outputs) or (n_samples,)
        loss : loss

        Returns
        -------
        list of (dW, db)
            One pair per Dense layer, of shapes (n_in, n_out) and (n_out,).
        """
        self._check_trainable()
        loss = get_loss(loss)
        loss.check_output(self.activations[-1])
        X = self._check_X(X)
        Y, _ = self._check_y(y, X.shape[0], loss)
        with self._guard.writing("compute gradients"):      # they go to self.grads
            if self.backend == "numpy":
                self._reference_gradients(X, Y, loss)
            else:
                lay = self._layout
                with self._workspaces.borrow(X.shape[0]) as ws:
                    _train.gradients(X, Y, lay["sizes"], lay["act_codes"], LOSSES[loss.name],
                                     self.params, self.grads, ws["acts"], ws["deltas"],
                                     lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"],
                                     **self._kernel_args(loss, ws), **self._norm_args(ws))
            return [(dW.copy(), db.copy()) for dW, db in self._grad_views]

    def get_weights(self) -> list[tuple[FloatArray, FloatArray]]:
        """Copies of the weights: a list of (W, b), one pair per Dense layer."""
        return [(layer.W.copy(), layer.b.copy()) for layer in self.dense]

    def set_weights(self, weights: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]]) -> None:
        """Set the weights from a list of (W, b) pairs, as ``get_weights`` returns them."""
        weights = list(weights)
        if len(weights) != len(self.dense):
            raise ValueError("weights must hold %d (W, b) pairs, got %d"
                             % (len(self.dense), len(weights)))
        staged = []
        for i, (pair, layer) in enumerate(zip(weights, self.dense)):
            if len(pair) != 2:
                raise ValueError("weights[%d] must be a pair (W, b)" % i)
            W, b = (np.asarray(a) for a in pair)
            if W.shape != layer.W.shape or b.shape != layer.b.shape:
                raise ValueError("weights[%d] must have shapes %s and %s, got %s and %s"
                                 % (i, layer.W.shape, layer.b.shape, W.shape, b.shape))
            if not (all_finite(W) and all_finite(b)):
                raise ValueError("weights[%d] contains NaN or infinity" % i)
            staged.append((W, b))
        with self._guard.writing("set weights"):
            for (W, b), layer in zip(staged, self.dense):
                layer.W[...] = W
                layer.b[...] = b

    def summary(self, file: IO[str] | None = None) -> str:
        """Print (and return) a table of the layers, output shapes and parameter counts."""
        rows = [("layer", "output", "params")]
        for layer, act, param, norm in zip(self.dense, self.activations,
                                           self.activation_params, self.norms):
            if act == "leaky_relu":
                act = "leaky_relu(alpha=%g)" % param
            name = "Dense(%d, %d) + %s" % (layer.n_in, layer.n_out, act)
            count = layer.W.size + layer.b.size
            if norm is not None:
                name = ("Dense(%d, %d) + %s + %s" % (layer.n_in, layer.n_out,
                                                     type(norm[0]).__name__, act)
                        if norm[1] else "%s + %s" % (name, type(norm[0]).__name__))
                count += 2 * layer.n_out
            rows.append((name, "(None, %d)" % layer.n_out, "{:,}".format(count)))
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("total: {:,} parameters ({}), backend {}".format(
            self.params.size, self.dtype.name, self.backend))
        text = "\n".join(lines)
        print(text, file=file or sys.stdout)
        return text

    # --- persistence ------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {"layers": [layer.get_config() for layer in self.layers],
                "dtype": self.dtype.name, "backend": self.backend, "task": self.task,
                "classes": self._classes_for_file(),
                "loss": None if self.loss is None else self.loss.get_config(),
                # the shuffling generator and dropout's key, so that training
                # resumes exactly
                "rng_state": self._rng.bit_generator.state,
                "dropout_key": self._dropout_key}

    def _classes_for_file(self):
        """:attr:`classes_` as a JSON list (None without); TypeError for labels
        a model file cannot hold (bytes, objects other than str)."""
        if self.classes_ is None:
            return None
        classes = self.classes_.tolist()
        if not (all(isinstance(c, str) for c in classes)
                or all(isinstance(c, (int, float)) for c in classes)):
            raise TypeError("classes_ of dtype %s cannot be saved: a model file holds class "
                            "labels that are all strings or all numbers"
                            % self.classes_.dtype)
        return classes

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save architecture, weights and optimizer state to one ``.npz`` file.

        Arrays plus a JSON header; no pickle.  Written to a temporary file in
        the same directory and then renamed over ``path``, so an interrupted
        save never destroys the previous file.

        Parameters
        ----------
        path : str or os.PathLike
        """
        path = os.fspath(path)
        config = {"format": FORMAT, "version": FORMAT_VERSION, "model": self.get_config()}
        arrays = {"params": self.params}
        if self._norm_running.size:
            arrays["norm_running"] = self._norm_running
        if self.optimizer is not None:
            state = self.optimizer.state_dict()
            for key, value in state.pop("state").items():
                arrays["optimizer." + key] = value
            config["optimizer"] = state
        arrays["config"] = np.array(json.dumps(config))
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def _kernel_loss(A, Y, loss):
    return kernels.loss_gradient(A, Y, loss.name, check_finite=False,
                                 **loss.kernel_options())[0]


def class_weights(class_weight: Any, index: npt.NDArray[np.intp], n_classes: int,
                  classes: npt.NDArray[Any] | None = None, comm: Any = None) -> FloatArray:
    """The weight of each class, from a ``class_weight`` argument.

    Parameters
    ----------
    class_weight : dict or 'balanced'
        'balanced' gives class c the weight n / (k · n_c) over the k classes
        present (scikit-learn's ``compute_class_weight``; the counts over all
        ranks of ``comm``); a dict maps labels to weights (finite, >= 0), 1
        for the classes not in it.
    index : ndarray of shape (n_samples,)
        Each sample's class number.
    n_classes : int
    classes : ndarray of shape (n_classes,), optional
        The labels of the class numbers (dict keys are looked up in it);
        None: the keys are class numbers.
    comm : mpi4py.MPI.Intracomm, optional

    Returns
    -------
    ndarray of shape (n_classes,), float64
    """
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError("class_weight must be 'balanced' or a dict of label: "
                             "weight, got %r" % (class_weight,))
        counts = np.bincount(index, minlength=n_classes).astype(np.float64)
        if comm is not None:
            counts = comm.allreduce(counts)
        present = counts > 0
        out = np.ones(n_classes)
        out[present] = counts.sum() / (present.sum() * counts[present])
        return out
    if not isinstance(class_weight, dict):
        raise TypeError("class_weight must be 'balanced' or a dict of label: weight, "
                        "got %r" % (class_weight,))
    out = np.ones(n_classes)
    for label, weight in class_weight.items():
        if classes is not None:
            where = np.flatnonzero(classes == np.asarray(label))
            place = int(where[0]) if len(where) else -1
        else:
            place = (int(label) if isinstance(label, (int, np.integer, bool, np.bool_))
                     else -1)
        if not 0 <= place < n_classes:
            raise ValueError("class_weight has a weight for %r, which is not a class "
                             "of this model (%s)" % (label, _some(
                                 classes if classes is not None else np.arange(n_classes))))
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            weight = math.nan
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError("class_weight[%r] must be finite and >= 0, got %r"
                             % (label, weight))
        out[place] = weight
    return out


def _some(values, limit=5):
    """A few of ``values`` for a message: ``'a', 'b', 'c', ... (12 in all)``."""
    values = list(values)
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v)
                      for v in values[:limit])
    return shown + (", ... (%d in all)" % len(values) if len(values) > limit else "")


def _count_correct(A, Y):
    if A.shape[1] == 1:
        return int(np.sum((A[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
    return int(np.sum(A.argmax(axis=1) == Y.argmax(axis=1)))


def load(path: str | os.PathLike[str]) -> Sequential:
    """Load a model saved by ``Sequential.save``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Sequential
        With its weights, and its optimizer (``model.optimizer``) when one was saved.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (the message names it).
    ValueError
        If the file is not a fastnn model, is truncated or corrupt, declares
        more than its arrays hold or than the limits allow (layers, sizes,
        bytes: fastnn/_model_file.py, checked before anything is allocated),
        or its arrays do not match its architecture.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no fastnn model file at %r" % path, path)
    try:
        _model_file.check_members(path)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError,
            NotImplementedError, MemoryError, OverflowError) as exc:
        raise ValueError("%s is not a readable fastnn model file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from None
    try:
        config = json.loads(str(arrays.pop("config")))
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError("not a fastnn model")
        if config.get("version") != FORMAT_VERSION:
            raise ValueError("format version %r is not supported" % config.get("version"))
        spec = config["model"]
        params = arrays.pop("params")
        _model_file.check_architecture(spec["layers"], params.size)
        model = Sequential([layer_from_config(c) for c in spec["layers"]], dtype=spec["dtype"],
                           backend=spec["backend"])
        if params.shape != model.params.shape or params.dtype != model.params.dtype:
            raise ValueError("params has shape %s and dtype %s; the architecture needs %s, %s"
                             % (params.shape, params.dtype, model.params.shape,
                                model.params.dtype))
        if not all_finite(params):
            raise ValueError("params contains NaN or infinity")
        model.params[...] = params
        running = arrays.pop("norm_running", np.zeros(0, model.dtype))
        if running.shape != model._norm_running.shape or running.dtype != model.dtype:
            raise ValueError("norm_running has shape %s and dtype %s; the architecture needs "
                             "%s, %s" % (running.shape, running.dtype,
                                         model._norm_running.shape, model.dtype))
        if not all_finite(running):
            raise ValueError("norm_running contains NaN or infinity")
        model._norm_running[...] = running
        model.task = spec["task"]
        model.classes_ = _model_file.check_classes(spec.get("classes"), model.sizes[-1])
        model._rng.bit_generator.state = spec["rng_state"]
        if "dropout_key" in spec:
            key = spec["dropout_key"]
            if not (isinstance(key, int) and 0 <= key < 1 << 64):
                raise ValueError("dropout_key must be an integer in [0, 2^64)")
            model._dropout_key = key
        model.loss = None if spec["loss"] is None else loss_from_config(spec["loss"])
        if "optimizer" in config:
            state = dict(config["optimizer"])
            state["state"] = {k[len("optimizer."):]: v for k, v in arrays.items()
                              if k.startswith("optimizer.")}
            model.optimizer = optimizer_from_state_dict(state)
            model.optimizer.bind(model.params, model.grads)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, OverflowError,
            IndexError, MemoryError, RecursionError) as exc:
        raise ValueError("%s is not a valid fastnn model file (%s: %s)"
                         % (path, type(exc).__name__, exc)) from None
    except ValueError as exc:
        raise ValueError("%s is not a valid fastnn model file: %s" % (path, exc)) from None
    return model
