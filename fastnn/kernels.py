"""The compiled kernels, validated: fastnn's fast twins of :mod:`fastnn.reference`.

Every function here has the same arguments as its reference twin, checks them
once (see :mod:`fastnn._validation`), and then makes one call into a Cython
module that runs without the GIL and checks nothing again.  Extra keywords:

``out`` (and ``dW_out``, ``db_out``, ``dX_out``)
    Preallocated result arrays, written in place: C-contiguous, writeable, of
    the operands' dtype and the result's shape.  Without them, results are
    allocated.
``check_finite``
    Reject NaN and infinity in the inputs (default True).  Turning it off
    saves a pass over the data; non-finite input then gives non-finite output.

Inputs may be any array-like of float32 or float64 (all operands of one call
share one dtype; there are no silent casts); inputs that are not C-contiguous
are copied once.  Thread counts are chosen per call from the work size,
within the limit set by :func:`fastnn.set_num_threads`.
"""

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from fastnn._kernels import activations as _act
from fastnn._kernels import dense as _dense
from fastnn._kernels import losses as _losses
from fastnn._kernels import normalization as _norm
from fastnn._kernels import optim as _optim
from fastnn._validation import (
    activation_code, all_finite, check_array, check_disjoint, check_inplace, check_out,
    check_scalar, check_shape,
    loss_code, NORMALIZATIONS)
from fastnn._typing import FloatArray

__all__ = [
    "activation_forward", "activation_derivative", "activation_backward",
    "dense_forward", "dense_backward", "loss_gradient", "loss_delta",
    "norm_forward", "norm_running_update", "norm_backward", "norm_inference",
    "sgd_update", "momentum_update", "adam_update",
    "sklearn_momentum_update", "sklearn_adam_update",
]


# --- activations -------------------------------------------------------------

def _check_alpha(alpha: float) -> float:
    return check_scalar(alpha, "alpha", low=0)


def _check_pre_activations(Z: npt.ArrayLike | None, activation: str, A: FloatArray,
                           check_finite: bool) -> FloatArray | None:
    """GELU's pre-activations ``Z``, checked against A; None for other activations."""
    if activation != "gelu":
        return None
    if Z is None:
        raise ValueError("Z is required for activation 'gelu': its derivative is a function "
                         "of the pre-activations, not of A")
    Z = check_array(Z, "Z", 2, A.dtype, check_finite)
    check_shape(Z, "Z", A.shape)
    return Z


def activation_forward(Z: npt.ArrayLike, activation: str, *, alpha: float = 0.01,
                       out: FloatArray | None = None,
                       check_finite: bool = True) -> FloatArray:
    """Apply an activation: A = f(Z).

    Parameters
    ----------
    Z : array_like of shape (n_samples, n_units)
        Pre-activations, float32 or float64.
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax', 'step', \
'leaky_relu', 'gelu', 'softplus', 'log_softmax'}
        Elementwise, except softmax and log_softmax (along each row).  'step'
        is the perceptron's threshold unit (1 where z > 0, else 0): forward
        only.  'gelu' is the exact form z·Φ(z); 'softplus' is log(1 + e^z).
    alpha : float, default 0.01
        LeakyReLU's slope below 0, finite and >= 0 (ignored by the others).
    out : ndarray of shape (n_samples, n_units), optional
        Where to write A; may be ``Z`` itself.
    check_finite : bool, default True
        Reject NaN and infinity in Z.

    Returns
    -------
    A : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation)
    alpha = _check_alpha(alpha)
    Z = check_array(Z, "Z", 2, check_finite=check_finite)
    out = check_out(out, "out", Z.shape, Z.dtype)
    if out is not Z:
        check_disjoint(out, "out", Z=Z)
    _act.activation_forward(code, Z, out, 0, alpha)
    return out


def activation_derivative(A: npt.ArrayLike, activation: str, *, alpha: float = 0.01,
                          out: FloatArray | None = None,
                          check_finite: bool = True) -> FloatArray:
    """Derivative f'(Z) of an elementwise activation, from its output A = f(Z).

    sigmoid' = A(1 − A), tanh' = 1 − A², relu' = [A > 0], identity' = 1,
    leaky_relu' = 1 where A > 0 else alpha, softplus' = σ(Z) = −expm1(−A).

    Parameters
    ----------
    A : array_like of shape (n_samples, n_units)
        Stored activations.
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'softplus'}
        Softmax and log_softmax have no elementwise derivative (use
        :func:`activation_backward`), GELU none that A determines (use
        :func:`activation_backward` with Z); 'step' has no useful one (a
        ValueError explains why sigmoid exists).
    alpha : float, default 0.01
        LeakyReLU's slope below 0.
    out : ndarray of shape (n_samples, n_units), optional
    check_finite : bool, default True

    Returns
    -------
    dA_dZ : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation, gradient=True, elementwise=True)
    alpha = _check_alpha(alpha)
    A = check_array(A, "A", 2, check_finite=check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    if out is not A:
        check_disjoint(out, "out", A=A)
    _act.activation_derivative(code, A, out, 0, alpha)
    return out


def activation_backward(A: npt.ArrayLike, dA: npt.ArrayLike, activation: str, *,
                        Z: npt.ArrayLike | None = None, alpha: float = 0.01,
                        out: FloatArray | None = None,
                        check_finite: bool = True) -> FloatArray:
    """Backpropagate through an activation: dZ = dA ⊙ f'(Z), from A = f(Z).

    For softmax, the Jacobian-vector product dZ = A ⊙ (dA − Σⱼ dAⱼAⱼ) per row;
    for log_softmax, dZ = dA − exp(A)·Σⱼ dAⱼ per row.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_units)
        Stored activations.
    dA : array_like of shape (n_samples, n_units)
        Gradient of the loss with respect to A.
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax', 'leaky_relu', \
'gelu', 'softplus', 'log_softmax'}
    Z : array_like of shape (n_samples, n_units), optional
        The pre-activations: required for 'gelu' (its derivative is not a
        function of A), ignored otherwise.
    alpha : float, default 0.01
        LeakyReLU's slope below 0.
    out : ndarray of shape (n_samples, n_units), optional
        Where to write dZ; may be ``dA`` itself.
    check_finite : bool, default True

    Returns
    -------
    dZ : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation, gradient=True)
    alpha = _check_alpha(alpha)
    A = check_array(A, "A", 2, check_finite=check_finite)
    dA = check_array(dA, "dA", 2, A.dtype, check_finite)
    check_shape(dA, "dA", A.shape)
    Z = _check_pre_activations(Z, activation, A, check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A)
    if Z is not None:
        check_disjoint(out, "out", Z=Z)
    if out is not dA:
        check_disjoint(out, "out", dA=dA)
    _act.activation_backward(code, A, dA, out, 0, alpha, Z)
    return out


# --- dense layer ---------------------------------------------------------------

def _check_layer(X: npt.ArrayLike, W: npt.ArrayLike,
                 check_finite: bool) -> tuple[FloatArray, FloatArray]:
    X = check_array(X, "X", 2, check_finite=check_finite)
    W = check_array(W, "W", 2, X.dtype, check_finite)
    if W.shape[0] != X.shape[1]:
        raise ValueError(
            "W must have shape (n_in, n_out) with n_in = X.shape[1] = %d, got %s"
            % (X.shape[1], W.shape))
    return X, W


def dense_forward(X: npt.ArrayLike, W: npt.ArrayLike, b: npt.ArrayLike,
                  activation: str = "identity", *, alpha: float = 0.01,
                  out: FloatArray | None = None,
                  check_finite: bool = True) -> FloatArray:
    """Forward pass of a dense layer: A = f(X·W + b), bias and activation fused.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_in)
        Input batch, one sample per row.
    W : array_like of shape (n_in, n_out)
        Weights.
    b : array_like of shape (n_out,)
        Biases.
    activation : str
        One of :func:`activation_forward`'s.
    alpha : float, default 0.01
        LeakyReLU's slope below 0.
    out : ndarray of shape (n_samples, n_out), optional
        Where to write A.
    check_finite : bool, default True
        Reject NaN and infinity in X, W and b.

    Returns
    -------
    A : ndarray of shape (n_samples, n_out)
    """
    code = activation_code(activation)
    alpha = _check_alpha(alpha)
    X, W = _check_layer(X, W, check_finite)
    b = check_array(b, "b", 1, X.dtype, check_finite)
    check_shape(b, "b", (W.shape[1],))
    out = check_out(out, "out", (X.shape[0], W.shape[1]), X.dtype)
    check_disjoint(out, "out", X=X, W=W, b=b)
    _dense.dense_forward(X, W, b, code, out, 0, alpha)
    return out


@overload
def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: Literal[True] = ..., *,
                   dW_out: FloatArray | None = ..., db_out: FloatArray | None = ...,
                   dX_out: FloatArray | None = ..., Z: npt.ArrayLike | None = ...,
                   alpha: float = ...,
                   check_finite: bool = ...) -> tuple[FloatArray, FloatArray, FloatArray]: ...


@overload
def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: bool = ..., *,
                   dW_out: FloatArray | None = ..., db_out: FloatArray | None = ...,
                   dX_out: FloatArray | None = ..., Z: npt.ArrayLike | None = ...,
                   alpha: float = ..., check_finite: bool = ...
                   ) -> tuple[FloatArray, FloatArray, FloatArray | None]: ...


def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: bool = True, *, dW_out: FloatArray | None = None,
                   db_out: FloatArray | None = None, dX_out: FloatArray | None = None,
                   Z: npt.ArrayLike | None = None, alpha: float = 0.01,
                   check_finite: bool = True) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Backward pass of a dense layer.

    Computes dZ = dA ⊙ f'(Z) from the stored activation A, then
    dW = Xᵀ·dZ, db = the column sums of dZ, and dX = dZ·Wᵀ.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_in)
        The layer's input batch.
    W : array_like of shape (n_in, n_out)
        Weights.
    A : array_like of shape (n_samples, n_out)
        The layer's output, f(X·W + b).
    dA : array_like of shape (n_samples, n_out)
        Gradient of the loss with respect to A.  For an output layer whose
        delta came from :func:`loss_delta`, pass that delta with
        ``activation='identity'``.
    activation : str
        One of :func:`activation_backward`'s.
    need_dX : bool, default True
        Compute dX; the first layer of a network has no use for it.
    dW_out, db_out, dX_out : ndarray, optional
        Preallocated results of shapes (n_in, n_out), (n_out,), (n_samples, n_in).
    Z : array_like of shape (n_samples, n_out), optional
        The pre-activations X·W + b: required for 'gelu', ignored otherwise.
    alpha : float, default 0.01
        LeakyReLU's slope below 0.
    check_finite : bool, default True

    Returns
    -------
    dW : ndarray of shape (n_in, n_out)
    db : ndarray of shape (n_out,)
    dX : ndarray of shape (n_samples, n_in), or None when ``need_dX`` is False
    """
    code = activation_code(activation, gradient=True)
    alpha = _check_alpha(alpha)
    X, W = _check_layer(X, W, check_finite)
    n, (n_in, n_out) = X.shape[0], W.shape
    A = check_array(A, "A", 2, X.dtype, check_finite)
    check_shape(A, "A", (n, n_out))
    Z = _check_pre_activations(Z, activation, A, check_finite)
    dA = check_array(dA, "dA", 2, X.dtype, check_finite)
    check_shape(dA, "dA", (n, n_out))
    dW = check_out(dW_out, "dW_out", (n_in, n_out), X.dtype)
    db = check_out(db_out, "db_out", (n_out,), X.dtype)
    if dX_out is not None and not need_dX:
        raise ValueError("dX_out was given but need_dX is False")
    dX = check_out(dX_out, "dX_out", (n, n_in), X.dtype) if need_dX else None
    outputs = {"dW_out": dW, "db_out": db, "dX_out": dX}
    for name, arr in outputs.items():
        if arr is not None:
            others = {k: v for k, v in outputs.items() if k != name}
            check_disjoint(arr, name, X=X, W=W, A=A, dA=dA, **others)
    dZ = np.empty_like(dA)
    _dense.dense_backward(X, W, A, dA, code, dZ, dW, db, dX, 0, alpha, Z)
    return dW, db, dX


# --- losses ----------------------------------------------------------------------

def _check_targets(A, Y, sample_weight, check_finite):
    A = check_array(A, "A", 2, check_finite=check_finite)
    Y = check_array(Y, "Y", 2, A.dtype, check_finite)
    check_shape(Y, "Y", A.shape)
    if sample_weight is not None:
        sample_weight = check_array(sample_weight, "sample_weight", 1, A.dtype, check_finite)
        check_shape(sample_weight, "sample_weight", (A.shape[0],))
        if (sample_weight < 0).any() or not (sample_weight > 0).any():
            raise ValueError("sample_weight must be >= 0 with a positive sum")
    return A, Y, sample_weight


def loss_gradient(A: npt.ArrayLike, Y: npt.ArrayLike, loss: str, *,
                  sample_weight: npt.ArrayLike | None = None, huber_delta: float = 1.0,
                  out: FloatArray | None = None,
                  check_finite: bool = True) -> tuple[float, FloatArray]:
    """(Weighted) mean loss over the batch and its gradient with respect to the outputs.

    ``'mse'``: ½·Σⱼ(aⱼ−yⱼ)² per sample, the textbook quadratic cost;
    ``'bce'``: −Σⱼ[yⱼ·log aⱼ + (1−yⱼ)·log(1−aⱼ)]; ``'cce'``: −Σⱼ yⱼ·log aⱼ;
    ``'poisson'``: Σⱼ[yⱼ·log(yⱼ/λⱼ) − yⱼ + λⱼ] with λ = exp(A) (A holds
    log-rates, as a network with an identity output gives them; scikit-learn's
    half Poisson deviance), dA = λ − y;
    ``'cross_entropy_from_logits'``: Σⱼ yⱼ·(lse − zⱼ) with A the logits z and
    lse = log Σⱼ exp zⱼ (stable), dA = softmax(z)·Σⱼyⱼ − y;
    ``'bce_with_logits'``: Σⱼ[max(zⱼ, 0) − zⱼ·yⱼ + log1p(exp(−|zⱼ|))],
    dA = σ(z) − y; ``'huber'``: Σⱼ h(aⱼ − yⱼ), h(d) = ½d² for |d| ≤ δ, else
    δ·(|d| − ½δ), dA = clip(a − y, −δ, δ) (a sum over outputs like 'mse').
    Every dA above is per sample, divided by n (or weighted, below).
    Probabilities are clipped to [eps, 1−eps] (cce: to eps from below), eps
    being the dtype's machine epsilon.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_out)
        Network outputs (probabilities for 'bce' and 'cce', logits for the
        from-logits losses).
    Y : array_like of shape (n_samples, n_out)
        Targets (one-hot or probabilities for 'cce' and
        'cross_entropy_from_logits').
    loss : {'mse', 'bce', 'cce', 'poisson', 'cross_entropy_from_logits', \
'bce_with_logits', 'huber'}
    sample_weight : array_like of shape (n_samples,), optional
        Per-sample weights, >= 0: the mean becomes Σᵢ wᵢ·ℓᵢ / Σw and dA's
        1/n becomes wᵢ/Σw.
    huber_delta : float, default 1.0
        The Huber loss's δ, finite and > 0 (ignored by the others).
    out : ndarray of shape (n_samples, n_out), optional
        Where to write dA.
    check_finite : bool, default True

    Returns
    -------
    value : float
        The loss, a (weighted) mean over the batch.
    dA : ndarray of shape (n_samples, n_out)
        dL/dA.
    """
    code = loss_code(loss)
    huber_delta = check_scalar(huber_delta, "huber_delta", low=0, low_open=True)
    A, Y, sample_weight = _check_targets(A, Y, sample_weight, check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A, Y=Y)
    return _losses.loss_gradient(code, A, Y, out, sample_weight, huber_delta), out


def loss_delta(A: npt.ArrayLike, Y: npt.ArrayLike, loss: str, activation: str, *,
               sample_weight: npt.ArrayLike | None = None, huber_delta: float = 1.0,
               Z: npt.ArrayLike | None = None, alpha: float = 0.01,
               out: FloatArray | None = None,
               check_finite: bool = True) -> tuple[float, FloatArray]:
    """Mean loss and the output layer's delta dL/dZ, with the activation fused in.

    identity+'mse' and sigmoid+'bce' give delta = (A − Y)/n; softmax+'cce'
    gives (A·Σⱼyⱼ − Y)/n, i.e. (A − Y)/n for one-hot targets.  Any other pair
    is exact too, through the activation's backward pass.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_out)
        Output-layer activations.
    Y : array_like of shape (n_samples, n_out)
        Targets.
    loss : str
        One of :func:`loss_gradient`'s.
    activation : str
        The output layer's activation, one of :func:`activation_backward`'s
        (the from-logits losses expect 'identity').
    sample_weight : array_like of shape (n_samples,), optional
        Per-sample weights (see ``loss_gradient``).
    huber_delta : float, default 1.0
        The Huber loss's δ.
    Z : array_like of shape (n_samples, n_out), optional
        The output layer's pre-activations: required for 'gelu'.
    alpha : float, default 0.01
        LeakyReLU's slope below 0.
    out : ndarray of shape (n_samples, n_out), optional
        Where to write delta.
    check_finite : bool, default True

    Returns
    -------
    value : float
    delta : ndarray of shape (n_samples, n_out)
    """
    code = loss_code(loss)
    act = activation_code(activation, gradient=True)
    huber_delta = check_scalar(huber_delta, "huber_delta", low=0, low_open=True)
    alpha = _check_alpha(alpha)
    A, Y, sample_weight = _check_targets(A, Y, sample_weight, check_finite)
    Z = _check_pre_activations(Z, activation, A, check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A, Y=Y)
    if Z is not None:
        check_disjoint(out, "out", Z=Z)
    return _losses.loss_delta(code, act, A, Y, out, 0, sample_weight, huber_delta, alpha,
                              Z), out


# --- normalization -----------------------------------------------------------------

def _norm_kind(kind: str) -> int:
    if not isinstance(kind, str) or kind not in NORMALIZATIONS:
        raise ValueError("kind must be one of %s, got %r" % (sorted(NORMALIZATIONS), kind))
    return NORMALIZATIONS[kind]


def _check_norm_input(X: npt.ArrayLike, name: str, gamma: npt.ArrayLike,
                      check_finite: bool) -> tuple[FloatArray, FloatArray]:
    X = check_array(X, name, 2, check_finite=check_finite)     # refuses empty arrays
    gamma = check_array(gamma, "gamma", 1, X.dtype, check_finite)
    check_shape(gamma, "gamma", (X.shape[1],))
    return X, gamma


def _check_variances(var: npt.ArrayLike, name: str, dtype: np.dtype, shape: tuple[int],
                     check_finite: bool) -> FloatArray:
    var = check_array(var, name, 1, dtype, check_finite)
    check_shape(var, name, shape)
    if (var < 0).any():
        raise ValueError("%s holds variances and must be >= 0" % name)
    return var


def norm_forward(X: npt.ArrayLike, gamma: npt.ArrayLike, beta: npt.ArrayLike, kind: str,
                 eps: float, *, check_finite: bool = True
                 ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Training forward of batch or layer normalization: out = γ·x̂ + β.

    x̂ = (X − μ)/√(σ² + ε), with μ and the biased variance σ² taken per
    column over the rows (``kind='batch'``) or per row over its units
    (``kind='layer'``).

    Parameters
    ----------
    X : array_like of shape (n_samples, units)
    gamma, beta : array_like of shape (units,)
        Scale γ and shift β.
    kind : {'batch', 'layer'}
    eps : float
        ε > 0, added to the variance.
    check_finite : bool, default True
        Reject NaN and infinity in X, gamma and beta.

    Returns
    -------
    out, xhat : ndarray of shape (n_samples, units)
    mean, var : ndarray of shape (units,) for 'batch', (n_samples,) for 'layer'
        The batch's statistics (the biased variance).
    """
    code = _norm_kind(kind)
    X, gamma = _check_norm_input(X, "X", gamma, check_finite)
    beta = check_array(beta, "beta", 1, X.dtype, check_finite)
    check_shape(beta, "beta", gamma.shape)
    eps = check_scalar(eps, "eps", low=0, low_open=True)
    n, units = X.shape
    xhat, out = np.empty_like(X), np.empty_like(X)
    if kind == "batch":
        stats = np.empty(3 * units, X.dtype)
        _norm.norm_forward(code, X, gamma, beta, eps, xhat, out, stats)
        return out, xhat, stats[:units].copy(), stats[2 * units:].copy()
    mean, var = np.empty(n, X.dtype), np.empty(n, X.dtype)
    _norm.norm_forward(code, X, gamma, beta, eps, xhat, out, np.empty(n, X.dtype), mean, var)
    return out, xhat, mean, var


def norm_running_update(running_mean: FloatArray, running_var: FloatArray,
                        mean: npt.ArrayLike, var: npt.ArrayLike, n: int, momentum: float, *,
                        check_finite: bool = True) -> None:
    """BatchNorm's running statistics after a batch, in place (PyTorch's convention).

    running = (1 − momentum)·running + momentum·batch, the batch's variance
    taken unbiased, n/(n − 1)·var; a batch of one row leaves them alone.

    Parameters
    ----------
    running_mean, running_var : ndarray of shape (units,)
        Updated in place.
    mean, var : array_like of shape (units,)
        The batch's statistics, as :func:`norm_forward` returns them.
    n : int
        Rows in the batch, >= 1.
    momentum : float
        In [0, 1].
    check_finite : bool, default True
    """
    check_inplace(running_mean, "running_mean")
    check_inplace(running_var, "running_var", running_mean.dtype)
    if running_mean.ndim != 1:
        raise ValueError("running_mean must be 1-D, got shape %s" % (running_mean.shape,))
    units = running_mean.shape[0]
    check_shape(running_var, "running_var", (units,))
    check_disjoint(running_mean, "running_mean", running_var=running_var)
    mean = check_array(mean, "mean", 1, running_mean.dtype, check_finite)
    check_shape(mean, "mean", (units,))
    var = _check_variances(var, "var", running_mean.dtype, (units,), check_finite)
    n = check_scalar(n, "n", low=1, high=2**62, integer=True)
    momentum = check_scalar(momentum, "momentum", low=0, high=1)
    stats = np.concatenate([mean, np.zeros_like(mean), var])
    _norm.norm_running_update(stats, running_mean, running_var, momentum, n)


def norm_backward(dY: npt.ArrayLike, xhat: npt.ArrayLike, var: npt.ArrayLike,
                  gamma: npt.ArrayLike, kind: str, eps: float, *,
                  check_finite: bool = True) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward of :func:`norm_forward`.

    With ĝ = dY·γ and N the count normalized over (rows for 'batch', units for
    'layer'): dX = (N·ĝ − Σĝ − x̂·Σĝx̂)/(N·√(σ² + ε)); dγ = Σ dY·x̂ and
    dβ = Σ dY over the rows.

    Parameters
    ----------
    dY : array_like of shape (n_samples, units)
        dL/d out.
    xhat : array_like of shape (n_samples, units)
        The forward pass's x̂.
    var : array_like of shape (units,) for 'batch', (n_samples,) for 'layer'
        The forward pass's biased variance.
    gamma : array_like of shape (units,)
    kind : {'batch', 'layer'}
    eps : float
        The forward pass's ε.
    check_finite : bool, default True

    Returns
    -------
    dX : ndarray of shape (n_samples, units)
    dgamma, dbeta : ndarray of shape (units,)
    """
    code = _norm_kind(kind)
    dY, gamma = _check_norm_input(dY, "dY", gamma, check_finite)
    xhat = check_array(xhat, "xhat", 2, dY.dtype, check_finite)
    check_shape(xhat, "xhat", dY.shape)
    n, units = dY.shape
    var = _check_variances(var, "var", dY.dtype, (units if kind == "batch" else n,),
                           check_finite)
    eps = check_scalar(eps, "eps", low=0, low_open=True)
    # 1/√(σ² + ε) rounded as the forward pass rounds it (both correctly rounded)
    rstd = 1 / np.sqrt(var + dY.dtype.type(eps))
    # the forward pass's statistics layout: BatchNorm (μ, r, σ²), LayerNorm r per row
    stats = np.concatenate([np.zeros_like(rstd), rstd, var]) if kind == "batch" else rstd
    dX, dgamma, dbeta = dY.copy(), np.empty_like(gamma), np.empty_like(gamma)
    _norm.norm_backward(code, dX, xhat, stats, gamma, dgamma, dbeta)
    return dX, dgamma, dbeta


def norm_inference(X: npt.ArrayLike, gamma: npt.ArrayLike, beta: npt.ArrayLike, kind: str,
                   eps: float, running_mean: npt.ArrayLike | None = None,
                   running_var: npt.ArrayLike | None = None, *,
                   check_finite: bool = True) -> FloatArray:
    """Inference forward: 'batch' with the running statistics, 'layer' as in training.

    Parameters
    ----------
    X : array_like of shape (n_samples, units)
    gamma, beta : array_like of shape (units,)
    kind : {'batch', 'layer'}
    eps : float
        ε > 0.
    running_mean, running_var : array_like of shape (units,)
        BatchNorm's running statistics (required for 'batch', unused for 'layer').
    check_finite : bool, default True

    Returns
    -------
    out : ndarray of shape (n_samples, units)
    """
    code = _norm_kind(kind)
    X, gamma = _check_norm_input(X, "X", gamma, check_finite)
    beta = check_array(beta, "beta", 1, X.dtype, check_finite)
    check_shape(beta, "beta", gamma.shape)
    eps = check_scalar(eps, "eps", low=0, low_open=True)
    units = X.shape[1]
    if kind == "batch":
        if running_mean is None or running_var is None:
            raise ValueError("kind 'batch' needs running_mean and running_var")
        running_mean = check_array(running_mean, "running_mean", 1, X.dtype, check_finite)
        check_shape(running_mean, "running_mean", (units,))
        running_var = _check_variances(running_var, "running_var", X.dtype, (units,),
                                       check_finite)
    else:
        running_mean = running_var = gamma     # unread by LayerNorm
    out = X.copy()
    _norm.norm_inference(code, out, gamma, beta, running_mean, running_var, eps)
    return out


# --- optimizer updates -------------------------------------------------------------

def _check_update(params, grads, state, check_finite):
    check_inplace(params, "params")
    if params.ndim != 1:
        raise ValueError("params must be a flat 1-D buffer, got shape %s" % (params.shape,))
    if check_finite and not all_finite(params):
        raise ValueError("params contains NaN or infinity; expected finite values")
    grads = check_array(grads, "grads", 1, params.dtype, check_finite)
    check_shape(grads, "grads", params.shape)
    buffers = {"params": params, "grads": grads, **state}
    for name, arr in state.items():
        check_inplace(arr, name, params.dtype)
        check_shape(arr, name, params.shape)
        if check_finite and not all_finite(arr):
            raise ValueError("%s contains NaN or infinity; expected finite values" % name)
    for name, arr in buffers.items():
        later = list(buffers)[list(buffers).index(name) + 1:]
        check_disjoint(arr, name, **{k: buffers[k] for k in later})
    return grads


def _check_adam(params, grads, m, v, step, lr, beta1, beta2, eps, weight_decay,
                check_finite):
    """The checks of both Adam forms; returns (grads, m, v, step, lr, beta1, beta2,
    eps, weight_decay) ready for the compiled update."""
    grads = _check_update(params, grads, {"m": m, "v": v}, check_finite)
    if check_finite and (v < 0).any():
        raise ValueError("v holds squared gradients and must be >= 0")
    step = check_scalar(step, "step", low=1, high=2**53, integer=True)
    lr = check_scalar(lr, "lr", low=0, low_open=True)
    beta1 = check_scalar(beta1, "beta1", low=0, high=1, high_open=True)
    beta2 = check_scalar(beta2, "beta2", low=0, high=1, high_open=True)
    eps = check_scalar(eps, "eps", low=0, low_open=True)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
    return grads, m, v, step, lr, beta1, beta2, eps, weight_decay


def sgd_update(params: FloatArray, grads: npt.ArrayLike, lr: float, weight_decay: float = 0.0,
               *, check_finite: bool = True) -> None:
    """Gradient descent step, in place: params −= lr·(grads + weight_decay·params).

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Flat parameter buffer, updated in place.
    grads : array_like of shape (n_params,)
        Gradient of the loss.
    lr : float
        Learning rate, > 0.
    weight_decay : float, default 0
        L2 penalty coefficient, >= 0 (added to the gradient).
    check_finite : bool, default True
    """
    grads = _check_update(params, grads, {}, check_finite)
    lr = check_scalar(lr, "lr", low=0, low_open=True)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
    _optim.sgd_update(params, grads, lr, weight_decay)


def momentum_update(params: FloatArray, grads: npt.ArrayLike, velocity: FloatArray, lr: float,
                    momentum: float, nesterov: bool = False, weight_decay: float = 0.0, *,
                    check_finite: bool = True) -> None:
    """Momentum step, in place (PyTorch's convention).

    v = μ·v + g; params −= lr·v, or with Nesterov params −= lr·(g + μ·v),
    where g = grads + weight_decay·params.  (scikit-learn keeps v = μ·v − lr·g
    instead; the two agree while lr is constant.)

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Updated in place.
    grads : array_like of shape (n_params,)
    velocity : ndarray of shape (n_params,)
        Momentum buffer, updated in place; start it at zero.
    lr : float
        Learning rate, > 0.
    momentum : float
        μ in [0, 1).
    nesterov : bool, default False
    weight_decay : float, default 0
    check_finite : bool, default True
    """
    grads = _check_update(params, grads, {"velocity": velocity}, check_finite)
    lr = check_scalar(lr, "lr", low=0, low_open=True)
    momentum = check_scalar(momentum, "momentum", low=0, high=1, high_open=True)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
    _optim.momentum_update(params, grads, velocity, lr, momentum, bool(nesterov),
                           weight_decay)


def adam_update(params: FloatArray, grads: npt.ArrayLike, m: FloatArray, v: FloatArray,
                step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                eps: float = 1e-8, weight_decay: float = 0.0, *,
                check_finite: bool = True) -> None:
    """Adam step, in place (PyTorch's convention, L2 weight decay added to g).

    m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
    params −= (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps).

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Updated in place.
    grads : array_like of shape (n_params,)
    m, v : ndarray of shape (n_params,)
        First and second moment buffers, updated in place; start them at zero.
    step : int
        t, the number of this step, counting from 1.
    lr : float
        > 0.
    beta1, beta2 : float
        In [0, 1).
    eps : float
        > 0.
    weight_decay : float, default 0
    check_finite : bool, default True
    """
    args = _check_adam(params, grads, m, v, step, lr, beta1, beta2, eps, weight_decay,
                       check_finite)
    _optim.adam_update(params, *args)


def sklearn_momentum_update(params: FloatArray, grads: npt.ArrayLike, velocity: FloatArray,
                            lr: float, momentum: float, nesterov: bool = True,
                            weight_decay: float = 0.0, *,
                            check_finite: bool = True) -> None:
    """Momentum step, in place, in scikit-learn's form (its MLP's SGDOptimizer).

    u = μ·v − lr·g; v = u; params += u, or with Nesterov params += μ·u − lr·g,
    where g = grads + weight_decay·params.  The velocity carries the learning
    rate, so this differs from ``momentum_update`` once lr changes.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Updated in place.
    grads : array_like of shape (n_params,)
    velocity : ndarray of shape (n_params,)
        Updated in place; start it at zero.
    lr : float
        Learning rate, > 0.
    momentum : float
        μ in [0, 1].
    nesterov : bool, default True
    weight_decay : float, default 0
    check_finite : bool, default True
    """
    grads = _check_update(params, grads, {"velocity": velocity}, check_finite)
    lr = check_scalar(lr, "lr", low=0, low_open=True)
    momentum = check_scalar(momentum, "momentum", low=0, high=1)
    weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
    _optim.sklearn_momentum_update(params, grads, velocity, lr, momentum, bool(nesterov),
                                   weight_decay)


def sklearn_adam_update(params: FloatArray, grads: npt.ArrayLike, m: FloatArray, v: FloatArray,
                        step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                        eps: float = 1e-8, weight_decay: float = 0.0, *,
                        check_finite: bool = True) -> None:
    """Adam step, in place, in scikit-learn's form (its MLP's AdamOptimizer).

    m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ);
    params += (−lr_t)·m/(√v + eps): eps is added to √v itself, not to the
    bias-corrected √v as in ``adam_update``.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Updated in place.
    grads : array_like of shape (n_params,)
    m, v : ndarray of shape (n_params,)
        Moment buffers, updated in place; start them at zero.
    step : int
        t, counting from 1.
    lr : float
        > 0.
    beta1, beta2 : float
        In [0, 1).
    eps : float
        > 0.
    weight_decay : float, default 0
    check_finite : bool, default True
    """
    args = _check_adam(params, grads, m, v, step, lr, beta1, beta2, eps, weight_decay,
                       check_finite)
    _optim.sklearn_adam_update(params, *args)
