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
from fastnn._kernels import optim as _optim
from fastnn._validation import (
    activation_code, all_finite, check_array, check_disjoint, check_inplace, check_out,
    check_scalar, check_shape,
    loss_code)
from fastnn._typing import FloatArray

__all__ = [
    "activation_forward", "activation_derivative", "activation_backward",
    "dense_forward", "dense_backward", "loss_gradient", "loss_delta",
    "sgd_update", "momentum_update", "adam_update",
    "sklearn_momentum_update", "sklearn_adam_update",
]


# --- activations -------------------------------------------------------------

def activation_forward(Z: npt.ArrayLike, activation: str, *, out: FloatArray | None = None,
                       check_finite: bool = True) -> FloatArray:
    """Apply an activation: A = f(Z).

    Parameters
    ----------
    Z : array_like of shape (n_samples, n_units)
        Pre-activations, float32 or float64.
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax', 'step'}
        Elementwise, except softmax (along each row).  'step' is the
        perceptron's threshold unit (1 where z > 0, else 0): forward only.
    out : ndarray of shape (n_samples, n_units), optional
        Where to write A; may be ``Z`` itself.
    check_finite : bool, default True
        Reject NaN and infinity in Z.

    Returns
    -------
    A : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation)
    Z = check_array(Z, "Z", 2, check_finite=check_finite)
    out = check_out(out, "out", Z.shape, Z.dtype)
    if out is not Z:
        check_disjoint(out, "out", Z=Z)
    _act.activation_forward(code, Z, out)
    return out


def activation_derivative(A: npt.ArrayLike, activation: str, *, out: FloatArray | None = None,
                          check_finite: bool = True) -> FloatArray:
    """Derivative f'(Z) of an elementwise activation, from its output A = f(Z).

    sigmoid' = A(1 − A), tanh' = 1 − A², relu' = [A > 0], identity' = 1.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_units)
        Stored activations.
    activation : {'identity', 'sigmoid', 'tanh', 'relu'}
        Softmax has no elementwise derivative (use :func:`activation_backward`);
        'step' has no useful one (a ValueError explains why sigmoid exists).
    out : ndarray of shape (n_samples, n_units), optional
    check_finite : bool, default True

    Returns
    -------
    dA_dZ : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation, gradient=True, elementwise=True)
    A = check_array(A, "A", 2, check_finite=check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    if out is not A:
        check_disjoint(out, "out", A=A)
    _act.activation_derivative(code, A, out)
    return out


def activation_backward(A: npt.ArrayLike, dA: npt.ArrayLike, activation: str, *,
                        out: FloatArray | None = None,
                        check_finite: bool = True) -> FloatArray:
    """Backpropagate through an activation: dZ = dA ⊙ f'(Z), from A = f(Z).

    For softmax, the Jacobian-vector product dZ = A ⊙ (dA − Σⱼ dAⱼAⱼ) per row.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_units)
        Stored activations.
    dA : array_like of shape (n_samples, n_units)
        Gradient of the loss with respect to A.
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax'}
    out : ndarray of shape (n_samples, n_units), optional
        Where to write dZ; may be ``dA`` itself.
    check_finite : bool, default True

    Returns
    -------
    dZ : ndarray of shape (n_samples, n_units)
    """
    code = activation_code(activation, gradient=True)
    A = check_array(A, "A", 2, check_finite=check_finite)
    dA = check_array(dA, "dA", 2, A.dtype, check_finite)
    check_shape(dA, "dA", A.shape)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A)
    if out is not dA:
        check_disjoint(out, "out", dA=dA)
    _act.activation_backward(code, A, dA, out)
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
                  activation: str = "identity", *, out: FloatArray | None = None,
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
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax', 'step'}
    out : ndarray of shape (n_samples, n_out), optional
        Where to write A.
    check_finite : bool, default True
        Reject NaN and infinity in X, W and b.

    Returns
    -------
    A : ndarray of shape (n_samples, n_out)
    """
    code = activation_code(activation)
    X, W = _check_layer(X, W, check_finite)
    b = check_array(b, "b", 1, X.dtype, check_finite)
    check_shape(b, "b", (W.shape[1],))
    out = check_out(out, "out", (X.shape[0], W.shape[1]), X.dtype)
    check_disjoint(out, "out", X=X, W=W, b=b)
    _dense.dense_forward(X, W, b, code, out)
    return out


@overload
def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: Literal[True] = ..., *,
                   dW_out: FloatArray | None = ..., db_out: FloatArray | None = ...,
                   dX_out: FloatArray | None = ...,
                   check_finite: bool = ...) -> tuple[FloatArray, FloatArray, FloatArray]: ...


@overload
def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: bool = ..., *,
                   dW_out: FloatArray | None = ..., db_out: FloatArray | None = ...,
                   dX_out: FloatArray | None = ...,
                   check_finite: bool = ...
                   ) -> tuple[FloatArray, FloatArray, FloatArray | None]: ...


def dense_backward(X: npt.ArrayLike, W: npt.ArrayLike, A: npt.ArrayLike, dA: npt.ArrayLike,
                   activation: str, need_dX: bool = True, *, dW_out: FloatArray | None = None,
                   db_out: FloatArray | None = None, dX_out: FloatArray | None = None,
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
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax'}
    need_dX : bool, default True
        Compute dX; the first layer of a network has no use for it.
    dW_out, db_out, dX_out : ndarray, optional
        Preallocated results of shapes (n_in, n_out), (n_out,), (n_samples, n_in).
    check_finite : bool, default True

    Returns
    -------
    dW : ndarray of shape (n_in, n_out)
    db : ndarray of shape (n_out,)
    dX : ndarray of shape (n_samples, n_in), or None when ``need_dX`` is False
    """
    code = activation_code(activation, gradient=True)
    X, W = _check_layer(X, W, check_finite)
    n, (n_in, n_out) = X.shape[0], W.shape
    A = check_array(A, "A", 2, X.dtype, check_finite)
    check_shape(A, "A", (n, n_out))
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
    _dense.dense_backward(X, W, A, dA, code, dZ, dW, db, dX)
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
                  sample_weight: npt.ArrayLike | None = None, out: FloatArray | None = None,
                  check_finite: bool = True) -> tuple[float, FloatArray]:
    """(Weighted) mean loss over the batch and its gradient with respect to the outputs.

    ``'mse'``: ½·Σⱼ(aⱼ−yⱼ)² per sample, the textbook quadratic cost;
    ``'bce'``: −Σⱼ[yⱼ·log aⱼ + (1−yⱼ)·log(1−aⱼ)]; ``'cce'``: −Σⱼ yⱼ·log aⱼ;
    ``'poisson'``: Σⱼ[yⱼ·log(yⱼ/λⱼ) − yⱼ + λⱼ] with λ = exp(A) (A holds
    log-rates, as a network with an identity output gives them; scikit-learn's
    half Poisson deviance), dA = λ − y.
    Probabilities are clipped to [eps, 1−eps] (cce: to eps from below), eps
    being the dtype's machine epsilon.

    Parameters
    ----------
    A : array_like of shape (n_samples, n_out)
        Network outputs (probabilities for 'bce' and 'cce').
    Y : array_like of shape (n_samples, n_out)
        Targets (one-hot or probabilities for 'cce').
    loss : {'mse', 'bce', 'cce', 'poisson'}
    sample_weight : array_like of shape (n_samples,), optional
        Per-sample weights, >= 0: the mean becomes Σᵢ wᵢ·ℓᵢ / Σw and dA's
        1/n becomes wᵢ/Σw.
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
    A, Y, sample_weight = _check_targets(A, Y, sample_weight, check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A, Y=Y)
    return _losses.loss_gradient(code, A, Y, out, sample_weight), out


def loss_delta(A: npt.ArrayLike, Y: npt.ArrayLike, loss: str, activation: str, *,
               sample_weight: npt.ArrayLike | None = None, out: FloatArray | None = None,
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
    loss : {'mse', 'bce', 'cce', 'poisson'}
    activation : {'identity', 'sigmoid', 'tanh', 'relu', 'softmax'}
        The output layer's activation.
    sample_weight : array_like of shape (n_samples,), optional
        Per-sample weights (see ``loss_gradient``).
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
    A, Y, sample_weight = _check_targets(A, Y, sample_weight, check_finite)
    out = check_out(out, "out", A.shape, A.dtype)
    check_disjoint(out, "out", A=A, Y=Y)
    return _losses.loss_delta(code, act, A, Y, out, 0, sample_weight), out


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
