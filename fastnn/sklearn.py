"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by fastnn's compiled loop.

``from fastnn import MLPClassifier`` in place of
``from sklearn.neural_network import MLPClassifier``: same parameters,
defaults, attributes, methods, warnings and errors, same algorithm, faster.

Design
------
Each class subclasses scikit-learn's own, so parameter validation
(``_parameter_constraints``), input validation, label binarisation,
``predict``/``predict_proba``/``score``, ``partial_fit``'s bookkeeping, the
weight initialisation (``_initialize``: the same draws from the same
``random_state``) and the early-stopping score are scikit-learn's code.
Only the numerical work is replaced:

* ``coefs_[i]`` and ``intercepts_[i]`` are views into the flat parameter
  buffer of a :class:`fastnn.Sequential` (``_fastnn_net``), built from them on
  the first fit and reused by ``warm_start`` and ``partial_fit``.
* 'sgd' and 'adam' run one whole epoch per call of the compiled loop
  (``fastnn._kernels.train.train_samples``): batch gathering, forward pass,
  loss and delta (weighted by ``sample_weight``), backward pass, the L2
  penalty ``alpha`` on the weights only, and scikit-learn's form of the
  momentum/Nesterov or Adam update, with no Python between batches.  Python
  runs once per epoch: the shuffle (``sklearn.utils.shuffle`` with the same
  ``random_state``, hence the same batches as scikit-learn), the
  learning-rate schedule, the stopping rules and early stopping, exactly as
  in scikit-learn's ``_fit_stochastic``.
* 'lbfgs' drives SciPy's L-BFGS-B, as scikit-learn does, with fastnn's fused
  loss-and-gradient over the flat buffer (``train.gradients``).
* Prediction runs the compiled forward pass (``train.predict``).

Deviations from scikit-learn (all documented in the README):

* Sparse X is converted to a dense array once per ``fit``/``predict`` call;
  results are those of the dense input.
* float32 input trains in float32 with every solver.  scikit-learn's
  'lbfgs' turns float32 weights into float64 (SciPy works in float64 and its
  result is unpacked as is); here the weights stay float32 and only the
  optimizer's own vectors are float64.
* ``_optimizer`` is fastnn's state object (flat velocity or Adam moments),
  not scikit-learn's ``SGDOptimizer``/``AdamOptimizer``; both are private.
* A float32 model predicting float64 input computes in float32 and returns
  float64 (scikit-learn computes in float64).
* float32 'sgd' and 'adam' epochs run with denormals flushed to zero
  (``fastnn.flush_denormals``): values below 1.2e-38 become 0 instead of
  taking x86's slow path (4x slower training at batch size 1 with Adam and
  ``alpha``).  float64 fits never flush.

Pickling keeps the estimator's attributes, not the network: ``coefs_`` and
``intercepts_`` are pickled as arrays and bound to a new buffer on loading.
"""

import contextlib
import math
import warnings
from itertools import pairwise
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.sparse

from fastnn._config import flush_denormals
from fastnn._interrupt import Chunks, Interruptible
from fastnn._kernels import train as _train
from fastnn._validation import LOSSES
from fastnn.distributed import checked_everywhere
from fastnn.layers import Dense, Dropout, Identity, ReLU, Sigmoid, Softmax, Tanh
from fastnn.model import Sequential

try:
    from sklearn.base import is_classifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
    from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
    from sklearn.utils import check_random_state, shuffle
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
    from numbers import Real

    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.optimize import _check_optimize_result
    from sklearn.utils.validation import _check_sample_weight, validate_data
except ImportError as exc:   # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastnn.MLPClassifier and fastnn.MLPRegressor need scikit-learn >= 1.7, which "
        "is not installed (%s). Install it with: pip install 'fastnn[sklearn]'" % exc
    ) from exc

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
#: scikit-learn's hidden activation name -> fastnn layer.
_HIDDEN_LAYERS = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}
#: scikit-learn's out_activation_ -> (fastnn output layer, fastnn loss).  'exp'
#: is the Poisson loss's log link: the network outputs log-rates (identity) and
#: the loss and predict apply exp.
_OUTPUTS = {"identity": (Identity, "mse"), "logistic": (Sigmoid, "bce"),
            "softmax": (Softmax, "cce"), "exp": (Identity, "poisson")}
# train_samples' rule codes (fastnn/_kernels/train.pyx)
_RULE_GD, _RULE_SKLEARN_MOMENTUM, _RULE_SKLEARN_ADAM = 0, 3, 4


class _SolverState:
    """The stochastic solver's state between epochs and ``partial_fit`` calls.

    scikit-learn's ``SGDOptimizer`` / ``AdamOptimizer``, over fastnn's flat
    buffer: the learning-rate schedule and stopping decision run here, once
    per epoch; the steps run in the compiled loop, which reads and updates
    ``velocity`` (or ``m`` and ``v``) and the step count ``t`` in place.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Its hyperparameters are captured now, as scikit-learn's optimizer does.
    n_params : int
        Size of the flat parameter buffer.
    dtype : numpy.dtype
        The network's dtype.
    """

    def __init__(self, estimator, n_params, dtype):
        self.solver = estimator.solver
        self.learning_rate_init = estimator.learning_rate_init
        self.learning_rate = float(estimator.learning_rate_init)
        self.lr_schedule = estimator.learning_rate
        self.momentum = estimator.momentum
        self.nesterov = estimator.nesterovs_momentum
        self.power_t = estimator.power_t
        self.beta_1, self.beta_2 = estimator.beta_1, estimator.beta_2
        self.epsilon = estimator.epsilon
        self.t = 0
        empty = np.empty(0, dtype)
        if self.solver == "adam":
            self.rule = _RULE_SKLEARN_ADAM
            self.state1, self.state2 = np.zeros(n_params, dtype), np.zeros(n_params, dtype)
        elif self.momentum > 0:
            self.rule = _RULE_SKLEARN_MOMENTUM
            self.state1, self.state2 = np.zeros(n_params, dtype), empty
        else:
            # v = 0·v − lr·g; p += v is exactly p −= lr·g: plain gradient descent.
            self.rule = _RULE_GD
            self.state1, self.state2 = empty, empty

    def iteration_ends(self, time_step):
        """'invscaling': learning_rate = learning_rate_init / (time_step + 1) ** power_t."""
        if self.solver == "sgd" and self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """True to stop; with 'adaptive' SGD, divide the learning rate by 5 instead while > 1e-6."""
        if self.solver != "sgd" or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


def _dense(X, dtype):
    """X as a C-contiguous array of ``dtype``; sparse matrices are densified."""
    if scipy.sparse.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


class _FastnnMLP:
    """The numerical core shared by both estimators; see the module docstring."""

    def fit(self, X: Any, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
            comm: Any = None) -> Self:
        """Fit the model to data matrix X and targets y (scikit-learn's ``fit``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        comm : mpi4py.MPI.Intracomm, optional
            Data-parallel training with the 'sgd' and 'adam' solvers (see
            :mod:`fastnn.distributed`): X, y and sample_weight are this
            rank's shard (the shards in rank order make up the training
            set), every rank calls ``fit`` with the same parameters (an
            integer ``random_state``), and every rank ends with the model one
            process fits on the whole set, to rounding.  With
            ``early_stopping``, the validation split is one process's and the
            validation rows are gathered on every rank.  Not with
            ``warm_start`` or 'lbfgs'.

        Returns
        -------
        self
        """
        if comm is None:
            return super().fit(X, y, sample_weight=sample_weight)
        from fastnn.distributed import DataParallel
        if self.solver not in _STOCHASTIC_SOLVERS or self.warm_start:
            raise ValueError("fit with comm needs solver 'sgd' or 'adam', without "
                             "warm_start")
        self._fastnn_dp = DataParallel(comm)
        try:
            return super().fit(X, y, sample_weight=sample_weight)
        finally:
            del self._fastnn_dp

    def _class_weighted(self, Y, sample_weight, incremental, dp):
        """``sample_weight`` (or 1) times each sample's ``class_weight``
        (fastnn's extension of MLPClassifier; ``Y`` binarised)."""
        from fastnn.model import class_weights
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight is not supported for multilabel targets")
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: the "
                             "class frequencies of one batch are not the data's; pass a "
                             "dict, e.g. computed with sklearn.utils.compute_class_weight")
        index = (Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1)).astype(np.intp)
        per_class = class_weights(self.class_weight, index, len(self.classes_),
                                  self.classes_, None if dp is None else dp.comm)
        weights = per_class[index]
        return weights if sample_weight is None else weights * sample_weight

    def _validate_input(self, X, y, incremental, reset):
        """scikit-learn's, with the classes of every rank's shard in data-parallel fit."""
        X_checked, Y = super()._validate_input(X, y, incremental, reset)
        dp = self.__dict__.get("_fastnn_dp")
        if dp is not None and is_classifier(self):
            labels = np.asarray(y)
            if labels.ndim == 2 and labels.shape[1] != 1:
                raise ValueError("fit with comm: multilabel targets are not supported")
            classes = np.unique(np.concatenate(dp.comm.allgather(np.unique(labels))))
            if not np.array_equal(classes, self.classes_):
                self._label_binarizer = LabelBinarizer().fit(classes)
                self.classes_ = self._label_binarizer.classes_
                Y = self._label_binarizer.transform(labels.reshape(-1)).astype(bool)
        return X_checked, Y

    # --- the network behind coefs_ and intercepts_ ----------------------------

    def _fastnn_activations(self):
        """fastnn's activation layer classes, one per layer, for the current parameters."""
        n = len(self.coefs_)
        return [_HIDDEN_LAYERS[self.activation]] * (n - 1) + [_OUTPUTS[self.out_activation_][0]]

    def _bound_network(self):
        """The network whose buffer coefs_ and intercepts_ are views of, or None.

        None when there is none yet (before fit, after unpickling a state
        without it), or when coefs_/intercepts_ were replaced or the
        activation changed since: the network then no longer describes them.
        """
        net = self.__dict__.get("_fastnn_net")
        if net is None or not len(net.dense) == len(self.coefs_) == len(self.intercepts_):
            return None
        if (net.activations != [act.name for act in self._fastnn_activations()]
                or net.dropout != self._dropout_rates()):
            return None
        if all(W is d.W and b is d.b
               for W, b, d in zip(self.coefs_, self.intercepts_, net.dense)):
            return net
        return None

    def _dropout_rates(self):
        """The dropout rate after each layer (fastnn's ``dropout`` extension)."""
        rate = float(getattr(self, "dropout", 0.0))
        return [rate] * (len(self.coefs_) - 1) + [0.0]

    def _copy_network(self):
        """A new network holding a copy of coefs_ and intercepts_, in their dtype."""
        layers = []
        for W, act, rate in zip(self.coefs_, self._fastnn_activations(),
                                self._dropout_rates()):
            layers += [Dense(*W.shape), act()] + ([Dropout(rate)] if rate else [])
        net = Sequential(layers, dtype=self.coefs_[0].dtype, seed=0)
        for d, W, b in zip(net.dense, self.coefs_, self.intercepts_):
            d.W[...] = W
            d.b[...] = b
        return net

    def _network(self):
        """The network, (re)built when needed, with coefs_/intercepts_ made views of it."""
        net = self._bound_network()
        if net is None:
            net = self._copy_network()
            self.coefs_ = [d.W for d in net.dense]
            self.intercepts_ = [d.b for d in net.dense]
            self._fastnn_net = net
        return net

    def _loss_scale(self):
        """fastnn's 'mse' is ½·Σ over outputs; scikit-learn's squared_error ½·mean."""
        return self.n_outputs_ if self.out_activation_ == "identity" else 1

    # --- fitting -----------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False):
        """scikit-learn's ``_fit`` (validation, initialisation) with fastnn's solvers."""
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)

        def checked(X, y, sample_weight):
            X, y = self._validate_input(X, y, incremental, reset=first_pass)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(sample_weight, X)
            return X, y, sample_weight

        dp = self.__dict__.get("_fastnn_dp")
        # with comm, a refused shard raises on every rank
        X, y, sample_weight = checked_everywhere(None if dp is None else dp.comm, checked,
                                                 X, y, sample_weight)
        if getattr(self, "class_weight", None) is not None:
            sample_weight = self._class_weighted(y, sample_weight, incremental, dp)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden_layer_sizes + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        shapes = [W.shape for W in self.coefs_]
        if shapes != list(pairwise(layer_units)):
            raise ValueError(
                "the fitted layers have shapes %s but this data needs %s: warm_start and "
                "partial_fit must keep hidden_layer_sizes, n_features and n_outputs"
                % (shapes, list(pairwise(layer_units))))

        net = self._network()
        if any(net.dropout):
            if self.solver not in _STOCHASTIC_SOLVERS:
                raise ValueError("dropout needs solver 'sgd' or 'adam' (L-BFGS minimises a "
                                 "fixed function; dropout makes it random), got solver=%r"
                                 % self.solver)
            # the masks' key, from random_state (after the initial weights)
            net._dropout_key = int(self._random_state.randint(0, 2**63 - 1, dtype=np.int64))
        X = _dense(X, net.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=net.dtype)
        try:
            with net._guard.writing("fit"):     # fastnn/_sharing.py
                if self.solver in _STOCHASTIC_SOLVERS:
                    # float32 epochs run with denormals flushed to zero (README:
                    # scikit-learn's Adam with alpha otherwise slows to a crawl)
                    with (flush_denormals() if net.dtype == np.float32
                          else contextlib.nullcontext()):
                        self._fit_stochastic(X, y, sample_weight, net, incremental)
                else:
                    self._fit_lbfgs(X, y, sample_weight, net)
        finally:
            net._workspaces.clear()   # a full-batch workspace can be large

        if not np.isfinite(net.params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed.")
        return self

    def _fit_lbfgs(self, X, y, sample_weight, net):
        """SciPy's L-BFGS-B on the flat buffer, with the compiled loss and gradient.

        X (n_samples, n_features) and sample_weight (n_samples,) are of the
        network's dtype; y (n_samples, n_outputs).
        """
        Y = np.ascontiguousarray(y, dtype=net.dtype)
        lay = net._layout
        loss_code = LOSSES[_OUTPUTS[self.out_activation_][1]]
        scale = self._loss_scale()
        # summed in float64 (math.fsum): float32 weights can overflow float32
        sw_sum = X.shape[0] if sample_weight is None else math.fsum(sample_weight)
        weights = [d.W.reshape(-1) for d in net.dense]
        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        with net._workspaces.borrow(X.shape[0]) as ws:
            def loss_grad(packed):
                net.params[...] = packed
                value = _train.gradients(
                    X, Y, lay["sizes"], lay["act_codes"], loss_code, net.params, net.grads,
                    ws["acts"], ws["deltas"], lay["w_off"], lay["b_off"], lay["a_off"],
                    lay["d_off"], sample_weight, self.alpha)
                squares = sum(float(np.dot(W, W)) for W in weights)
                loss = value / scale + (0.5 * self.alpha) * squares / sw_sum
                return loss, net.grads.astype(np.float64)

            opt_res = scipy.optimize.minimize(
                loss_grad, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                         **_get_additional_lbfgs_options_dict("iprint", iprint)})
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        net.params[...] = opt_res.x

    def _fit_stochastic(self, X, y, sample_weight, net, incremental):
        """scikit-learn's epoch loop for 'sgd'/'adam', each epoch one compiled call.

        X (n_samples, n_features) and sample_weight (n_samples,) are of the
        network's dtype; y (n_samples, n_outputs).
        """
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _SolverState(self, net.params.size, net.dtype)
        opt = self._optimizer
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        dp = self.__dict__.get("_fastnn_dp")
        train_positions = None
        if early_stopping and dp is not None:
            (X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val,
             train_positions) = self._split_shards(dp, X, y, sample_weight)
        elif early_stopping:
            # don't stratify in multilabel classification
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X, y, random_state=self._random_state,
                    test_size=self.validation_fraction, stratify=stratify)
                sample_weight_train = sample_weight_val = None
            else:
                (X_train, X_val, y_train, y_val, sample_weight_train,
                 sample_weight_val) = train_test_split(
                    X, y, sample_weight, random_state=self._random_state,
                    test_size=self.validation_fraction, stratify=stratify)
        if early_stopping:
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset.")
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        X_train = np.ascontiguousarray(X_train)
        Y_train = np.ascontiguousarray(y_train, dtype=net.dtype)
        n_samples = X_train.shape[0]
        if dp is not None:   # rank 0's initial weights; the whole set's row count
            n_samples = dp.begin_estimator(net.params, n_samples, train_positions)
        sample_idx = np.arange(n_samples, dtype=np.intp)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        lay = net._layout
        loss_code = LOSSES[_OUTPUTS[self.out_activation_][1]]
        scale = self._loss_scale()
        chunks = Chunks(batch_size, owner=self)
        try:
            self.n_iter_ = 0
            # data-parallel: the rank's share of its node's CPUs; an exception
            # (Ctrl-C included) ends the MPI job
            with (contextlib.nullcontext() if dp is None else
                  dp.training(net.params, net.grads, (opt.state1, opt.state2),
                              net._layout["sizes"])):
                for _ in range(self.max_iter):
                    if self.shuffle:
                        sample_idx = shuffle(sample_idx, random_state=self._random_state)
                    data_sum = penalty_sum = 0.0
                    if dp is not None:
                        with Interruptible() as interrupt:
                            data_sum, penalty_sum = self._epoch_distributed(
                                dp, X_train, Y_train, sample_weight_train, sample_idx,
                                batch_size, net, opt, chunks, interrupt)
                    else:
                        with Interruptible() as interrupt, \
                                contextlib.closing(chunks.runs(0, n_samples)) as runs:
                            for start, stop in runs:   # Ctrl-C between runs of ~0.1 s
                                with net._workspaces.borrow(batch_size) as ws:
                                    data, _, opt.t, penalty = _train.train_samples(
                                        X_train, Y_train, sample_idx, start, stop, batch_size,
                                        lay["sizes"], lay["act_codes"], loss_code, net.params,
                                        net.grads, ws["acts"], ws["deltas"], ws["y_batch"],
                                        lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"],
                                        opt.rule, opt.learning_rate, opt.momentum, opt.nesterov,
                                        opt.beta_1, opt.beta_2, opt.epsilon, 0.0, opt.state1,
                                        opt.state2, opt.t, sample_weight_train, self.alpha,
                                        spare=ws["spare"],
                                        **net._dropout_args(self.n_iter_, None, ws))
                                data_sum, penalty_sum = data_sum + data, penalty_sum + penalty
                                interrupt.check()
                    self.n_iter_ += 1
                    self.loss_ = (data_sum / scale + penalty_sum) / n_samples
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                    self._update_no_improvement_count(
                        early_stopping, X_val, y_val, sample_weight_val)
                    opt.iteration_ends(self.t_)

                    if self._no_improvement_count > self.n_iter_no_change:
                        if early_stopping:
                            msg = ("Validation score did not improve more than "
                                   "tol=%f for %d consecutive epochs."
                                   % (self.tol, self.n_iter_no_change))
                        else:
                            msg = ("Training loss did not improve more than tol=%f"
                                   " for %d consecutive epochs."
                                   % (self.tol, self.n_iter_no_change))
                        if opt.trigger_stopping(msg, self.verbose):
                            break
                        self._no_improvement_count = 0

                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) "
                            "reached and the optimization hasn't converged yet."
                            % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if early_stopping:
            # restore the best weights, into the buffer coefs_ and intercepts_ view
            for W, b, best_W, best_b in zip(self.coefs_, self.intercepts_,
                                            self._best_coefs, self._best_intercepts):
                W[...] = best_W
                b[...] = best_b

    def _split_shards(self, dp, X, y, sample_weight):
        """``early_stopping``'s split in data-parallel fit, as one process
        splits the whole set.

        The split is drawn over the global row numbers (the shards in rank
        order), with the targets of every rank for stratification, so it
        consumes ``random_state`` as one process's ``train_test_split`` does
        and picks the same rows.  Each rank keeps its own training rows
        (``train_positions``: their places in the global training order,
        which each epoch's global batches follow) and receives the whole
        validation set, in the global order, so that every rank computes one
        process's validation score and stops at its epoch.

        Returns
        -------
        X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val,
        train_positions
        """
        n_local = X.shape[0]
        offset = sum(dp.comm.allgather(n_local)[:dp.rank])
        y_all = np.concatenate(dp.comm.allgather(y))
        stratify = y_all if is_classifier(self) and self.n_outputs_ == 1 else None
        train_idx, val_idx = train_test_split(
            np.arange(len(y_all)), random_state=self._random_state,
            test_size=self.validation_fraction, stratify=stratify)
        mine = (train_idx >= offset) & (train_idx < offset + n_local)
        train_positions = np.flatnonzero(mine)
        rows = train_idx[mine] - offset
        val_mine = (val_idx >= offset) & (val_idx < offset + n_local)
        X_val = np.concatenate(dp.comm.allgather(X[val_idx[val_mine] - offset]))
        where = np.concatenate(dp.comm.allgather(np.flatnonzero(val_mine)))
        X_val = X_val[np.argsort(where)]
        sample_weight_train = sample_weight_val = None
        if sample_weight is not None:
            sample_weight_train = sample_weight[rows]
            sample_weight_val = np.concatenate(dp.comm.allgather(
                sample_weight[val_idx[val_mine] - offset]))[np.argsort(where)]
        return (X[rows], X_val, y[rows], y_all[val_idx], sample_weight_train,
                sample_weight_val, train_positions)

    # --- prediction ------------------------------------------------------------

    def _epoch_distributed(self, dp, X, Y, sample_weight, sample_idx, batch_size, net, opt,
                           chunks, interrupt):
        """One epoch of data-parallel fit: this rank's rows of each global batch
        of rank 0's order ``sample_idx`` (N,), the gradients summed over the
        ranks in the compiled loop; returns the (data, penalty) loss sums over
        all ranks."""
        sample_idx[...] = dp.comm.bcast(sample_idx, root=0)
        local_order, counts, rows = dp.epoch(sample_idx, batch_size)
        totals = rows if sample_weight is None else dp.step_weights(
            sample_weight, local_order, counts)
        lay = net._layout
        loss_code = LOSSES[_OUTPUTS[self.out_activation_][1]]
        params, grads, state1, state2 = dp.buffers
        data_sum = penalty_sum = 0.0
        with contextlib.closing(dp.runs(counts, batch_size, chunks)) as runs:
            for start, stop, s0, s1 in runs:
                with net._workspaces.borrow(batch_size) as ws:
                    data, _, opt.t, penalty = _train.train_samples(
                        X, Y, local_order, start, stop, batch_size,
                        lay["sizes"], lay["act_codes"], loss_code, params, grads,
                        ws["acts"], ws["deltas"], ws["y_batch"], lay["w_off"], lay["b_off"],
                        lay["a_off"], lay["d_off"], opt.rule, opt.learning_rate, opt.momentum,
                        opt.nesterov, opt.beta_1, opt.beta_2, opt.epsilon, 0.0, state1,
                        state2, opt.t, sample_weight, self.alpha, spare=ws["spare"],
                        step_counts=counts[s0:s1], step_totals=totals[s0:s1],
                        reducer=dp.reducer, step_rows=rows[s0:s1],
                        **net._dropout_args(self.n_iter_, dp.row_ids, ws),
                        **dp.products_args(s0, s1))
                data_sum, penalty_sum = data_sum + data, penalty_sum + penalty
                interrupt.check()
        return dp.reduce(data_sum, penalty_sum)

    def _forward_pass_fast(self, X, check_input=True):
        """Network outputs for X, by the compiled forward pass.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        check_input : bool, default=True
            Validate X (scikit-learn's ``validate_data``) first.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            Of the result type of X's dtype and the weights' dtype.
        """
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        # Not stored when rebuilt: predicting must not change the estimator.
        net = self._bound_network() or self._copy_network()
        X_net = _dense(X, net.dtype)
        with net._guard.reading("predict"):
            out = net._forward(X_net)
        if self.out_activation_ == "exp":
            np.exp(out, out=out)
        return out.astype(np.result_type(X.dtype, net.dtype), copy=False)

    # --- pickling ------------------------------------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_fastnn_net", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if hasattr(self, "coefs_"):
            self._network()


#: fastnn's ``dropout`` extension of both estimators: its documentation and
#: its scikit-learn parameter constraint.
_DROPOUT_DOC = """

    dropout : float in [0, 1), default=0.0
        Inverted dropout after every hidden layer while training
        (:class:`fastnn.Dropout`), with masks keyed by ``random_state``;
        'sgd' and 'adam' only.  0: scikit-learn's estimator exactly."""
_DROPOUT_CONSTRAINT = [Interval(Real, 0, 1, closed="left")]


def _docstring(sk_class, summary, example):
    """fastnn's summary, then scikit-learn's own parameter and attribute sections."""
    doc = sk_class.__doc__
    start = doc.index("    Parameters\n    ----------")
    stop = doc.index("    Examples\n    --------")
    return "%s\n\n%s    Examples\n    --------\n%s" % (summary, doc[start:stop], example)


class MLPClassifier(_FastnnMLP, _SkMLPClassifier):
    __doc__ = _docstring(_SkMLPClassifier, """Multi-layer perceptron classifier: scikit-learn's, trained by fastnn.

    A drop-in replacement for ``sklearn.neural_network.MLPClassifier`` (and a
    subclass of it): the same parameters, defaults, attributes, methods and
    algorithm (log-loss with an L2 penalty, minimised by L-BFGS, SGD or
    Adam), with the training loop and prediction running in fastnn's
    compiled kernels.  See :mod:`fastnn.sklearn` for the design and the few
    deviations.

    fastnn's extension (after scikit-learn's parameters below):

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplying ``sample_weight`` in the loss:
        a dict of class label to weight (1 for the classes not in it), or
        'balanced': n_samples / (n_classes · samples of the class), as
        scikit-learn's other classifiers.  None: every class 1, which is
        scikit-learn's MLPClassifier exactly.  'balanced' is refused by
        ``partial_fit`` (one batch's frequencies are not the data's), and
        multilabel targets take no class weights.""" + _DROPOUT_DOC, """    >>> from fastnn import MLPClassifier
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(30,), random_state=0).fit(X / 16, y)
    >>> clf.predict_proba(X[:1] / 16).shape
    (1, 10)
    """)

    _parameter_constraints = {
        **_SkMLPClassifier._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "dropout": _DROPOUT_CONSTRAINT,
    }

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam",
                 alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 class_weight: dict[Any, float] | str | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun)
        self.class_weight = class_weight
        self.dropout = dropout


class MLPRegressor(_FastnnMLP, _SkMLPRegressor):
    __doc__ = _docstring(_SkMLPRegressor, """Multi-layer perceptron regressor: scikit-learn's, trained by fastnn.

    A drop-in replacement for ``sklearn.neural_network.MLPRegressor`` (and a
    subclass of it): the same parameters, defaults, attributes, methods and
    algorithm (half squared error or half Poisson deviance with an L2
    penalty, minimised by L-BFGS, SGD or Adam), with the training loop and
    prediction running in fastnn's compiled kernels.  See
    :mod:`fastnn.sklearn` for the design and the few deviations.

    fastnn's extension (after scikit-learn's parameters below):""" + _DROPOUT_DOC, """    >>> from fastnn import MLPRegressor
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> reg = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """)

    _parameter_constraints = {
        **_SkMLPRegressor._parameter_constraints,
        "dropout": _DROPOUT_CONSTRAINT,
    }

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,),
                 activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 dropout: float = 0.0) -> None:
        super().__init__(
            loss=loss, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun)
        self.dropout = dropout
