"""The NumPy reference: one plain function for every compiled kernel.

This module is the oracle of fastnn's tests and the baseline of its
benchmarks.  It is written to be read: textbook backpropagation, vectorised
over the batch, with the same arguments as :mod:`fastnn.kernels`.  Conventions:

* batches are rows: ``X`` is (n_samples, n_in); weights are (n_in, n_out);
* a layer computes ``Z = X·W + b`` and ``A = f(Z)``; backward passes carry
  ``dA = dL/dA`` in and give ``dZ = dL/dZ``, ``dW``, ``db`` and ``dX`` out;
* every loss is the mean over the batch of a per-sample sum over outputs.

The compiled kernels reproduce the elementwise functions here bit for bit
(they spell the same operations in the same order), and the matrix products
and reductions to within rounding.  No argument checking happens here: see
:mod:`fastnn.kernels` for the validated entry points.
"""

import math
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np

from fastnn._typing import FloatArray
from fastnn._validation import FUSED_PAIRS, STEP_HAS_NO_GRADIENT

__all__ = [
    "activation_forward", "activation_derivative", "activation_backward",
    "dense_forward", "dense_backward", "loss_gradient", "loss_delta",
    "dropout_stream", "dropout_keep", "dropout_forward", "dropout_backward",
    "norm_forward", "norm_running_update", "norm_backward", "norm_inference",
    "sgd_update", "momentum_update", "adam_update", "adamw_update", "rmsprop_update",
    "adagrad_update", "clip_gradients",
    "sklearn_momentum_update", "sklearn_adam_update",
]


# --- activations -------------------------------------------------------------

def sigmoid(Z: FloatArray) -> FloatArray:
    """Logistic sigmoid 1/(1+exp(−z)), computed without overflow.

    exp is only ever taken of −|z| ≤ 0, so it lies in (0, 1]: for z ≥ 0 the
    usual form 1/(1+e^−z) is used, for z < 0 the equal e^z/(1+e^z).
    """
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(Z: FloatArray) -> FloatArray:
    """Row-wise softmax; the row maximum is subtracted first so exp cannot overflow."""
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def step(Z: FloatArray) -> FloatArray:
    """The threshold unit of the perceptron: 1 where z > 0, else 0."""
    return (Z > 0).astype(Z.dtype)


def leaky_relu(Z: FloatArray, alpha: float) -> FloatArray:
    """z where z ≥ 0, alpha·z below (alpha in the dtype of Z)."""
    return np.where(Z < 0, Z * Z.dtype.type(alpha), Z)


# 1/√2 and 1/√(2π), as the kernels write them (activations.pyx)
_RSQRT2 = 0.7071067811865476
_RSQRT_2PI = 0.3989422804014327


def _erf(Z: FloatArray) -> FloatArray:
    from scipy.special import erf    # NumPy has no erf
    return erf(Z)


def gelu(Z: FloatArray) -> FloatArray:
    """GELU, exact form: z·Φ(z) = ½·z·(1 + erf(z/√2)) (PyTorch's ``approximate='none'``)."""
    t = Z.dtype.type
    return t(0.5) * Z * (1 + _erf(Z * t(_RSQRT2)))


def gelu_derivative(Z: FloatArray) -> FloatArray:
    """GELU'(z) = Φ(z) + z·φ(z), from the pre-activation Z (not a function of GELU(z))."""
    t = Z.dtype.type
    half = t(0.5)
    return half * (1 + _erf(Z * t(_RSQRT2))) + Z * (np.exp(-half * Z * Z) * t(_RSQRT_2PI))


def softplus(Z: FloatArray) -> FloatArray:
    """log(1 + e^z), computed as log1p(exp(−|z|)) + max(z, 0), which never overflows."""
    return np.log1p(np.exp(-np.abs(Z))) + np.maximum(Z, 0)


def log_softmax(Z: FloatArray) -> FloatArray:
    """Row-wise log softmax: (z − max z) − log Σ exp(z − max z)."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


_FORWARD: dict[str, Callable[[FloatArray], FloatArray]] = {
    "identity": lambda Z: Z.copy(),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda Z: np.maximum(Z, 0),
    "softmax": softmax,
    "step": step,
    "gelu": gelu,
    "softplus": softplus,
    "log_softmax": log_softmax,
}

# Derivatives written in terms of the stored activation A = f(Z).
_DERIVATIVE: dict[str, Callable[[FloatArray], FloatArray]] = {
    "identity": lambda A: np.ones_like(A),
    "sigmoid": lambda A: A * (1 - A),          # σ' = σ(1 − σ)
    "tanh": lambda A: 1 - A * A,               # tanh' = 1 − tanh²
    "relu": lambda A: (A > 0).astype(A.dtype),
    "softplus": lambda A: -np.expm1(-A),       # softplus' = σ(z) = 1 − e^−a
}


def activation_forward(Z: FloatArray, activation: str, alpha: float = 0.01) -> FloatArray:
    """A = f(Z), elementwise (softmax, log_softmax: along each row).  Z: (n_samples, n).

    ``alpha``: LeakyReLU's slope below 0 (the other activations ignore it).
    """
    if activation == "leaky_relu":
        return leaky_relu(Z, alpha)
    return _FORWARD[activation](Z)


def activation_derivative(A: FloatArray, activation: str, alpha: float = 0.01) -> FloatArray:
    """f'(Z) from the stored activation A = f(Z); elementwise activations only
    (GELU's derivative needs Z: :func:`gelu_derivative`).

    leaky_relu' = 1 where A > 0, else ``alpha`` (with alpha ≥ 0, A > 0 exactly
    where Z > 0); softplus' = σ(Z) = −expm1(−A).
    """
    if activation == "step":
        raise ValueError(STEP_HAS_NO_GRADIENT)
    if activation == "leaky_relu":
        return np.where(A > 0, A.dtype.type(1), A.dtype.type(alpha))
    return _DERIVATIVE[activation](A)


def activation_backward(A: FloatArray, dA: FloatArray, activation: str,
                        Z: FloatArray | None = None, alpha: float = 0.01) -> FloatArray:
    """dZ = dL/dZ from dA = dL/dA and the stored activation A.

    Elementwise activations: dZ = dA ⊙ f'(Z).  Softmax couples a row's outputs
    (∂aⱼ/∂zᵢ = aⱼ(δᵢⱼ − aᵢ)), so dZ = A ⊙ (dA − Σⱼ dAⱼ Aⱼ) row by row; for
    log-softmax ∂aⱼ/∂zᵢ = δᵢⱼ − softmaxᵢ, so dZ = dA − exp(A)·Σⱼ dAⱼ.  GELU
    needs its pre-activations ``Z`` (same shape as A).
    """
    if activation == "softmax":
        return A * (dA - np.sum(dA * A, axis=1, keepdims=True))
    if activation == "log_softmax":
        return dA - np.exp(A) * np.sum(dA, axis=1, keepdims=True)
    if activation == "gelu":
        if Z is None:
            raise ValueError("activation_backward: GELU needs Z, its pre-activations")
        return dA * gelu_derivative(Z)
    return dA * activation_derivative(A, activation, alpha)


# --- dense layer ---------------------------------------------------------------

def dense_forward(X: FloatArray, W: FloatArray, b: FloatArray,
                  activation: str = "identity", alpha: float = 0.01) -> FloatArray:
    """A = f(X·W + b).  X: (n, n_in), W: (n_in, n_out), b: (n_out,) -> (n, n_out).

    ``alpha``: LeakyReLU's slope below 0.
    """
    return activation_forward(X @ W + b, activation, alpha)


@overload
def dense_backward(X: FloatArray, W: FloatArray, A: FloatArray, dA: FloatArray, activation: str,
                   need_dX: Literal[True] = ..., *, Z: FloatArray | None = ...,
                   alpha: float = ...) -> tuple[FloatArray, FloatArray, FloatArray]: ...


@overload
def dense_backward(X: FloatArray, W: FloatArray, A: FloatArray, dA: FloatArray, activation: str,
                   need_dX: bool = ..., *, Z: FloatArray | None = ...,
                   alpha: float = ...) -> tuple[FloatArray, FloatArray, FloatArray | None]: ...


def dense_backward(X: FloatArray, W: FloatArray, A: FloatArray, dA: FloatArray, activation: str,
                   need_dX: bool = True, *, Z: FloatArray | None = None,
                   alpha: float = 0.01) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Backpropagate through one dense layer.

    Returns ``(dW, db, dX)``: dW = Xᵀ·dZ (n_in, n_out), db = Σ rows of dZ
    (n_out,), dX = dZ·Wᵀ (n, n_in), or None when ``need_dX`` is False.
    ``Z`` (n, n_out): the pre-activations X·W + b, which GELU needs;
    ``alpha``: LeakyReLU's slope below 0.
    """
    dZ = activation_backward(A, dA, activation, Z, alpha)
    dW = X.T @ dZ
    db = dZ.sum(axis=0)
    dX = dZ @ W.T if need_dX else None
    return dW, db, dX


# --- dropout ---------------------------------------------------------------------
#
# Inverted dropout with masks from a counter-based generator: csrc/dropout.h
# computes the same integers.  The stream of a layer in an epoch and the bits
# of a row are SplitMix64 hashes; unit j of the row survives when the top 24
# bits of lowbias32(lo + φ32·(j + 1) ^ hi) (lo, hi: the row's 32-bit halves)
# reach round(rate·2^24).  Kept values are multiplied by 1/(1 − rate) (in the
# dtype), dropped ones by 0, so that the expected output is the input.

_GOLDEN = 0x9E3779B97F4A7C15
_GOLDEN32 = 0x9E3779B9
_MASK64 = (1 << 64) - 1
DROPOUT_BITS = 24


def _splitmix64(z: Any) -> Any:
    """SplitMix64's finaliser on Python ints (mod 2^64) or uint64 arrays."""
    if isinstance(z, np.ndarray):
        with np.errstate(over="ignore"):
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def dropout_threshold(rate: float) -> int:
    """The 24-bit threshold of a drop rate in [0, 1): units whose bits are below it drop."""
    return int(round(rate * (1 << DROPOUT_BITS)))


def dropout_stream(key: int, epoch: int, layer: int) -> int:
    """The hash stream of one layer in one epoch, for the model's dropout ``key``."""
    k = _splitmix64((key + _GOLDEN * (epoch + 1)) & _MASK64)
    return _splitmix64((k + _GOLDEN * (layer + 1)) & _MASK64)


def dropout_keep(stream: int, rows: Any, n_units: int, rate: float) -> Any:
    """Which units survive, (len(rows), n_units) bools, for samples ``rows``
    (their rows in the training set)."""
    rows = np.asarray(rows, dtype=np.uint64).reshape(-1, 1)
    with np.errstate(over="ignore"):
        row_bits = _splitmix64(np.uint64(stream) + np.uint64(_GOLDEN) * (rows + np.uint64(1)))
        lo = (row_bits & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi = (row_bits >> np.uint64(32)).astype(np.uint32)
        units = np.arange(1, n_units + 1, dtype=np.uint32)
        x = (lo + np.uint32(_GOLDEN32) * units) ^ hi
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return (x >> np.uint32(32 - DROPOUT_BITS)) >= np.uint32(dropout_threshold(rate))


def dropout_forward(A: FloatArray, keep: Any, rate: float) -> FloatArray:
    """Inverted dropout: A·1/(1 − rate) where kept, A·0 where dropped."""
    return A * np.where(keep, A.dtype.type(1.0 / (1.0 - rate)), A.dtype.type(0))


def dropout_backward(dD: FloatArray, keep: Any, rate: float) -> FloatArray:
    """dL/dA from dL/dD of :func:`dropout_forward`: the same factors."""
    return dropout_forward(dD, keep, rate)


# --- normalization ---------------------------------------------------------------
#
# BatchNorm normalizes each unit over the batch's rows (axis 0), LayerNorm each
# row over its units (axis 1): x̂ = (x − μ)/√(σ² + ε) with the biased variance,
# then out = γ·x̂ + β.

def _norm_axis(kind: str) -> int:
    return 0 if kind == "batch" else 1


def norm_forward(X: FloatArray, gamma: FloatArray, beta: FloatArray, kind: str,
                 eps: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Training forward of ``kind`` 'batch' or 'layer' normalization.

    X: (n, units); gamma, beta: (units,).  Returns ``(out, xhat, mean, var)``:
    out and xhat (n, units), and the batch's mean and biased variance, per
    unit (n,)-shaped for 'layer', (units,) for 'batch'.
    """
    axis = _norm_axis(kind)
    mean = X.mean(axis=axis, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=axis, keepdims=True)
    xhat = (X - mean) / np.sqrt(var + X.dtype.type(eps))
    return gamma * xhat + beta, xhat, mean.ravel(), var.ravel()


def norm_running_update(running_mean: FloatArray, running_var: FloatArray, mean: FloatArray,
                        var: FloatArray, n: int, momentum: float) -> None:
    """BatchNorm's running statistics, in place (PyTorch's convention):
    ``running = (1 − momentum)·running + momentum·batch``, the variance being
    the unbiased n/(n − 1)·var; a batch of one row leaves them alone."""
    if n > 1:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (n / (n - 1))


def norm_backward(dY: FloatArray, xhat: FloatArray, var: FloatArray, gamma: FloatArray,
                  kind: str, eps: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward of :func:`norm_forward`: ``(dX, dgamma, dbeta)`` from dY = dL/d out.

    With ĝ = dY·γ and N the count normalized over: dX = (N·ĝ − Σĝ − x̂·Σĝx̂)/(N·√(σ² + ε)).
    """
    axis = _norm_axis(kind)
    g = dY * gamma
    N = dY.shape[axis]
    r = 1 / np.sqrt(np.expand_dims(var, axis) + dY.dtype.type(eps))
    dX = r / N * (N * g - g.sum(axis=axis, keepdims=True)
                  - xhat * (g * xhat).sum(axis=axis, keepdims=True))
    return dX, (dY * xhat).sum(axis=0), dY.sum(axis=0)


def norm_inference(X: FloatArray, gamma: FloatArray, beta: FloatArray, kind: str, eps: float,
                   running_mean: FloatArray | None = None,
                   running_var: FloatArray | None = None) -> FloatArray:
    """Inference forward: BatchNorm with the running statistics, LayerNorm as in training."""
    if kind == "batch":
        return gamma * ((X - running_mean) / np.sqrt(running_var + X.dtype.type(eps))) + beta
    return norm_forward(X, gamma, beta, kind, eps)[0]


# --- losses ----------------------------------------------------------------------

def _row_weights(A: FloatArray,
                 sample_weight: FloatArray | None) -> tuple[Any, Any]:
    """(w of shape (n, 1) or 1, Σw): 1 and n without weights.  Σw is summed
    in order in float64; from 2^64 up, w and Σw are scaled by the power of two
    that brings Σw below 2^64 (exact: wᵢ/Σw is unchanged), so float32 weights
    whose sum overflows float32 still give the weighted mean.  Σw = 0 (every
    weight 0) gives the denominator 1: loss and gradient 0, not 0/0."""
    if sample_weight is None:
        return A.dtype.type(1), A.dtype.type(A.shape[0])
    total = np.cumsum(sample_weight, dtype=np.float64)[-1]
    scale = 2.0 ** min(0, 64 - int(np.frexp(total)[1]))
    return ((sample_weight * scale).astype(A.dtype).reshape(-1, 1),
            A.dtype.type(total * scale if total > 0 else 1))


def loss_gradient(A: FloatArray, Y: FloatArray, loss: str,
                  sample_weight: FloatArray | None = None,
                  huber_delta: float = 1.0) -> tuple[float, FloatArray]:
    """(Weighted) mean loss over the batch and its gradient dA = dL/dA.

    ``mse``: ½·Σ(a−y)² per sample (the textbook quadratic cost);
    ``bce``: −Σ[y·log a + (1−y)·log(1−a)]; ``cce``: −Σ y·log a;
    ``poisson``: Σ[y·log(y/λ) − y + λ] with λ = exp(a) (A is a log-rate; the
    term y·log(y/λ) is 0 where y = 0), dA = λ − y;
    ``cross_entropy_from_logits``: Σ y·(lse − z) with A the logits z and
    lse = log Σ exp z, dA = softmax(z)·Σy − y;
    ``bce_with_logits``: Σ[max(z, 0) − z·y + log1p(exp(−|z|))], dA = σ(z) − y;
    ``huber``: Σ h(a − y), h(d) = ½d² for |d| ≤ δ (``huber_delta``), else
    δ·(|d| − ½δ), dA = clip(a − y, −δ, δ).
    Probabilities are clipped to [eps, 1−eps] (cce: to eps from below).
    With ``sample_weight`` w (n,), the mean is Σᵢ wᵢ·ℓᵢ/Σw and every 1/n in
    dA is wᵢ/Σw (Σw in float64, see ``_row_weights``).
    """
    eps = np.finfo(A.dtype).eps
    w, denom = _row_weights(A, sample_weight)
    if loss == "mse":
        diff = A - Y
        rows = np.sum(diff * diff, axis=1, keepdims=True)
        return float(0.5 * np.sum(w * rows) / denom), diff * w / denom
    if loss == "bce":
        Ac = np.clip(A, eps, 1 - eps)
        rows = np.sum(Y * np.log(Ac) + (1 - Y) * np.log1p(-Ac), axis=1, keepdims=True)
        return float(-np.sum(w * rows) / denom), (Ac - Y) / (Ac * (1 - Ac)) * w / denom
    if loss == "cce":
        Ac = np.maximum(A, eps)
        rows = np.sum(Y * np.log(Ac), axis=1, keepdims=True)
        return float(-np.sum(w * rows) / denom), -Y / Ac * w / denom
    if loss == "poisson":
        lam = np.exp(A)
        positive = Y > 0
        log_ratio = np.log(np.where(positive, Y / lam, 1))
        terms = np.where(positive, Y * log_ratio, 0) - Y + lam
        rows = np.sum(terms, axis=1, keepdims=True)
        return float(np.sum(w * rows) / denom), (lam - Y) * w / denom
    if loss == "cross_entropy_from_logits":
        zmax = A.max(axis=1, keepdims=True)
        lse = zmax + np.log(np.sum(np.exp(A - zmax), axis=1, keepdims=True))
        rows = np.sum(Y * (lse - A), axis=1, keepdims=True)
        softmax_z = np.exp(A - lse)
        return (float(np.sum(w * rows) / denom),
                (softmax_z * Y.sum(axis=1, keepdims=True) - Y) * w / denom)
    if loss == "bce_with_logits":
        terms = np.maximum(A, 0) - A * Y + np.log1p(np.exp(-np.abs(A)))
        rows = np.sum(terms, axis=1, keepdims=True)
        return float(np.sum(w * rows) / denom), (sigmoid(A) - Y) * w / denom
    if loss == "huber":
        delta, half = A.dtype.type(huber_delta), A.dtype.type(0.5)
        diff = A - Y
        size = np.abs(diff)
        terms = np.where(size <= delta, half * diff * diff, delta * (size - half * delta))
        rows = np.sum(terms, axis=1, keepdims=True)
        return float(np.sum(w * rows) / denom), np.clip(diff, -delta, delta) * w / denom
    raise ValueError("unknown loss %r" % (loss,))


def loss_delta(A: FloatArray, Y: FloatArray, loss: str, activation: str,
               sample_weight: FloatArray | None = None, huber_delta: float = 1.0,
               Z: FloatArray | None = None, alpha: float = 0.01) -> tuple[float, FloatArray]:
    """(Weighted) mean loss and delta = dL/dZ of an output layer with activation A = f(Z).

    For identity+MSE and sigmoid+BCE the chain rule collapses to (A − Y)/n; for
    softmax+CCE to (A·Σⱼyⱼ − Y)/n, which is (A − Y)/n for one-hot targets.
    Other pairs go through the activation's backward pass (``Z``: the output
    layer's pre-activations, for GELU; ``alpha``: LeakyReLU's slope).  The
    from-logits losses take an identity output, so their dA is the delta.  With
    ``sample_weight`` w, row i's 1/n is wᵢ/Σw (see ``loss_gradient``).
    """
    value, dA = loss_gradient(A, Y, loss, sample_weight, huber_delta)
    if (loss, activation) not in FUSED_PAIRS:
        return value, activation_backward(A, dA, activation, Z, alpha)
    w, denom = _row_weights(A, sample_weight)
    if loss == "cce":
        return value, (A * Y.sum(axis=1, keepdims=True) - Y) * w / denom
    return value, (A - Y) * w / denom


# --- optimizer updates (in place, PyTorch's conventions) -------------------------

def _decayed(grads: FloatArray, params: FloatArray, weight_decay: float) -> FloatArray:
    """g = grads + weight_decay·params, the decay in the parameters' dtype (a
    decay that rounds to 0 there is none: an infinite parameter stays so)."""
    weight_decay = params.dtype.type(weight_decay)
    return grads + weight_decay * params if weight_decay else grads


def sgd_update(params: FloatArray, grads: FloatArray, lr: float,
               weight_decay: float = 0.0) -> None:
    """Gradient descent: params −= lr·(grads + weight_decay·params)."""
    g = _decayed(grads, params, weight_decay)
    params -= lr * g


def momentum_update(params: FloatArray, grads: FloatArray, velocity: FloatArray, lr: float,
                    momentum: float, nesterov: bool = False,
                    weight_decay: float = 0.0) -> None:
    """Momentum: v = μ·v + g; params −= lr·v (Nesterov: lr·(g + μ·v))."""
    g = _decayed(grads, params, weight_decay)
    velocity *= momentum
    velocity += g
    params -= lr * (g + momentum * velocity if nesterov else velocity)


def adam_update(params: FloatArray, grads: FloatArray, m: FloatArray, v: FloatArray, step: int,
                lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 0.0, v_max: FloatArray | None = None) -> None:
    """Adam, step t ≥ 1: bias-corrected first and second moments of the gradient.

    With ``v_max`` (the running maximum of v, from zeros), AMSGrad: v̂ = max(v̂, v)
    replaces v in the denominator.
    """
    g = _decayed(grads, params, weight_decay)
    _adam_moments(params, g, m, v, step, lr, beta1, beta2, eps, v_max)


def adamw_update(params: FloatArray, grads: FloatArray, m: FloatArray, v: FloatArray,
                 step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01,
                 v_max: FloatArray | None = None) -> None:
    """AdamW (Loshchilov & Hutter; ``torch.optim.AdamW``), step t ≥ 1: decoupled
    weight decay, params *= 1 − lr·weight_decay, then Adam on the plain gradient
    (AMSGrad with ``v_max``)."""
    params *= 1 - lr * weight_decay
    _adam_moments(params, grads, m, v, step, lr, beta1, beta2, eps, v_max)


def _adam_moments(params, g, m, v, step, lr, beta1, beta2, eps, v_max):
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
    bias1 = 1 - beta1 ** step
    bias2 = 1 - beta2 ** step
    params -= (lr / bias1) * m / (np.sqrt(v if v_max is None else v_max) / math.sqrt(bias2)
                                  + eps)


def rmsprop_update(params: FloatArray, grads: FloatArray, square_avg: FloatArray, lr: float,
                   rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0,
                   momentum: float = 0.0, momentum_buffer: FloatArray | None = None,
                   grad_avg: FloatArray | None = None) -> None:
    """RMSprop (Hinton; ``torch.optim.RMSprop`` with alpha = ρ).

    s = ρ·s + (1−ρ)·g²; centered (``grad_avg`` given): ḡ = ρ·ḡ + (1−ρ)·g and
    d = √(s − ḡ²) + ε, else d = √s + ε; params −= lr·g/d, or with momentum μ > 0
    b = μ·b + g/d (``momentum_buffer``), params −= lr·b.
    """
    g = _decayed(grads, params, weight_decay)
    square_avg *= rho
    square_avg += (1 - rho) * (g * g)
    if grad_avg is not None:
        grad_avg *= rho
        grad_avg += (1 - rho) * g
        d = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        d = np.sqrt(square_avg) + eps
    if momentum > 0:
        assert momentum_buffer is not None
        momentum_buffer *= momentum
        momentum_buffer += g / d
        params -= lr * momentum_buffer
    else:
        params -= lr * g / d


def adagrad_update(params: FloatArray, grads: FloatArray, state_sum: FloatArray, step: int,
                   lr: float, lr_decay: float = 0.0, eps: float = 1e-10,
                   weight_decay: float = 0.0) -> None:
    """Adagrad (Duchi et al.; ``torch.optim.Adagrad``), step t ≥ 1: s += g²;
    params −= (lr/(1 + (t−1)·lr_decay))·g/(√s + ε)."""
    g = _decayed(grads, params, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    params -= clr * g / (np.sqrt(state_sum) + eps)


def clip_gradients(grads: FloatArray, clip_value: float = 0.0, clip_norm: float = 0.0) -> float:
    """Clip ``grads`` in place and return the norm the norm clipping saw (0.0 without).

    First each element to [−clip_value, clip_value] (``torch.nn.utils.clip_grad_value_``;
    0: no clamp), then all of them scaled by min(1, clip_norm/(‖g‖₂ + 10⁻⁶))
    (``clip_grad_norm_``; 0: none).  ‖g‖² is summed in double in the kernel's
    order (8 partial sums, element i in sum i mod 8, then the sums in order),
    so that the twins agree bit for bit.
    """
    if clip_value > 0:
        np.clip(grads, -clip_value, clip_value, out=grads)
    if not clip_norm > 0:
        return 0.0
    n = grads.shape[0]
    squares = np.zeros(-(-n // 8) * 8)
    squares[:n] = grads
    squares *= squares
    lanes = np.add.accumulate(squares.reshape(-1, 8), axis=0)[-1] if n else np.zeros(8)
    total = 0.0
    for lane in lanes:
        total += float(lane)
    norm = math.sqrt(total)
    scale = clip_norm / (norm + 1e-6)
    if scale < 1:
        grads *= scale
    return norm


# --- scikit-learn's forms of momentum and Adam (its MLP's _stochastic_optimizers) --

def sklearn_momentum_update(params: FloatArray, grads: FloatArray, velocity: FloatArray,
                            lr: float, momentum: float, nesterov: bool = True,
                            weight_decay: float = 0.0) -> None:
    """u = μ·v − lr·g; v = u; params += u (Nesterov: params += μ·u − lr·g)."""
    g = _decayed(grads, params, weight_decay)
    velocity[...] = momentum * velocity - lr * g
    params += momentum * velocity - lr * g if nesterov else velocity


def sklearn_adam_update(params: FloatArray, grads: FloatArray, m: FloatArray, v: FloatArray,
                        step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                        eps: float = 1e-8, weight_decay: float = 0.0) -> None:
    """Adam as scikit-learn writes it, step t ≥ 1: ε is added outside the bias correction.

    m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ);
    params += (−lr_t)·m/(√v + ε).
    """
    g = _decayed(grads, params, weight_decay)
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * (g * g)
    lr_t = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    params += -lr_t * m / (np.sqrt(v) + eps)
