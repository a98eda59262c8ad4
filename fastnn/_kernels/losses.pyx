"""Losses with their gradients, and the output delta with the activation fused in.

Design
------
A and Y are (n_samples, n_out), C-contiguous.  Every loss is a mean over the
batch of a per-sample sum over outputs:

* MSE, the textbook quadratic cost: ``½·Σⱼ(a−y)²``; ``dA = (a−y)/n``;
* BCE: ``−Σⱼ[y·log a + (1−y)·log(1−a)]``; ``dA = (a−y)/(a(1−a))/n``;
* CCE: ``−Σⱼ y·log a``; ``dA = −y/a/n``;
* Poisson (half deviance, log link): A holds the log-rate z, λ = exp(z);
  ``Σⱼ[y·log(y/λ) − y + λ]`` (``y·log(y/λ)`` is 0 where y = 0);
  ``dA = (λ−y)/n``.  This is scikit-learn's MLPRegressor ``loss='poisson'``,
  whose output activation is exp; here the exp lives in the loss, so the
  output layer stays the identity and the pair needs no special delta.

With per-sample weights w (``weights`` not NULL), "mean over the batch"
becomes the weighted mean: the loss is ``Σᵢ wᵢ·ℓᵢ / Σᵢ wᵢ`` and every ``/n``
above becomes ``·wᵢ/Σw``.  Σw is summed in double; when it reaches 2^64,
the weights and Σw are scaled by a power of two that brings it below
(``_weight_scale``: exact, the ratios wᵢ/Σw do not change), so float32
weights whose sum overflows float32 (six weights of 3e38) still give the
weighted mean, while ordinary weights keep their exact arithmetic.  Without
weights wᵢ = 1 and Σw = n, and the arithmetic is exactly the unweighted one
(a product by 1 is exact).

Probabilities are clipped to [eps, 1−eps] (CCE: to eps from below) with eps the
dtype's machine epsilon before any log or division, as scikit-learn does, so a
saturated output gives a large finite loss, never inf or NaN.

``loss_delta_impl`` returns the loss and writes ``delta = dL/dZ`` for the output
layer.  For the pairs where the maths collapses it is computed directly:
identity+MSE and sigmoid+BCE give ``(a−y)/n``; softmax+CCE gives
``(a·Σⱼyⱼ − y)/n``, which is ``(a−y)/n`` for one-hot or probability targets and
still exact for unnormalised ones.  Other pairs chain ``dA`` through the
activation's backward kernel.

Parallel strategy: the loss value is summed on one thread, row by row in order,
so it is the same for any thread count (the output layer is small; the sum is
a tiny share of a step).  Only the activation backward of an unfused pair uses
``n_threads``.  Memory: the caller owns every buffer; ``delta`` or ``dA`` may be
NULL when only the loss is wanted.
"""
from libc.math cimport frexp, ldexp, log, log1p, logf, log1pf

from fastnn._kernels.activations cimport (
    activation_backward_impl, activation_grain, IDENTITY, SIGMOID, SOFTMAX, STEP)
from fastnn._kernels._parallel cimport threads_for
from fastnn._kernels._vmath cimport vexp, vlog

cdef enum:
    SCRATCH = 256  # elements of stack scratch per block of Poisson exp/log


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _eps(floating x) noexcept nogil:
    if floating is float:
        return 1.1920928955078125e-07   # numpy.finfo(numpy.float32).eps
    else:
        return 2.220446049250313e-16    # numpy.finfo(numpy.float64).eps


cdef inline floating _clip(floating a, floating lo, floating hi) noexcept nogil:
    return lo if a < lo else (hi if a > hi else a)


cdef bint is_fused_pair(int loss, int act) noexcept nogil:
    return ((loss == MSE and act == IDENTITY) or (loss == BCE and act == SIGMOID)
            or (loss == CCE and act == SOFTMAX))


cdef double weight_sum(const floating* weights, Py_ssize_t n_samples) noexcept nogil:
    """Σ of the per-sample weights, in order, in double; n when ``weights`` is NULL."""
    cdef Py_ssize_t i
    cdef double total = 0
    if weights == NULL:
        return <double>n_samples
    for i in range(n_samples):
        total += weights[i]
    return total


cdef inline double _denominator(double total, double scale) noexcept nogil:
    """The weighted mean's denominator Σw·scale; 1 when Σw is 0 (a batch of
    zero weights then has loss and gradient 0, not 0/0)."""
    return total * scale if total > 0 else 1.0


cdef inline double _weight_scale(double total) noexcept nogil:
    """1 when Σw < 2^64, else the power of two that brings Σw below 2^64."""
    cdef int exponent
    frexp(total, &exponent)
    return 1.0 if exponent <= 64 else ldexp(1.0, 64 - exponent)


cdef inline floating _weight(const floating* weights, Py_ssize_t i, double scale) noexcept nogil:
    """wᵢ·scale (1 without weights)."""
    return <floating>1 if weights == NULL else <floating>(<double>weights[i] * scale)


cdef floating _poisson_rows(const floating* A, const floating* Y, const floating* weights,
                            floating* dA, Py_ssize_t n_samples,
                            Py_ssize_t n_out) noexcept nogil:
    """Σᵢ wᵢ·Σⱼ[y·log(y/λ) − y + λ] / denom with λ = exp(a); dA = (λ−y)·wᵢ/denom."""
    cdef floating lam[SCRATCH]
    cdef floating ratio[SCRATCH]
    cdef floating zero = 0, one = 1, w, row, total = 0, y
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    cdef Py_ssize_t i, j, start, m
    for i in range(n_samples):
        w = _weight(weights, i, scale)
        row = 0
        start = 0
        while start < n_out:
            m = n_out - start if n_out - start < SCRATCH else SCRATCH
            vexp(A + i * n_out + start, lam, m)
            for j in range(m):
                y = Y[i * n_out + start + j]
                # log(y/λ) only where y > 0; elsewhere the term is 0 (xlogy)
                ratio[j] = y / lam[j] if y > zero else one
            vlog(ratio, ratio, m)
            for j in range(m):
                y = Y[i * n_out + start + j]
                row = row + ((y * ratio[j] if y > zero else zero) - y + lam[j])
                if dA != NULL:
                    dA[i * n_out + start + j] = (lam[j] - y) * w / denom
            start += m
        total = total + w * row
    return total / denom


cdef floating loss_gradient_impl(int loss, const floating* A, const floating* Y,
                                 const floating* weights, floating* dA,
                                 Py_ssize_t n_samples, Py_ssize_t n_out) noexcept nogil:
    """(Weighted) mean loss over the batch; writes dL/dA into dA unless it is NULL."""
    cdef Py_ssize_t i, j, k
    cdef floating one = 1, half = 0.5, zero = 0
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    cdef floating eps = _eps(one), hi = one - eps
    cdef floating d, a, y, w, row, total = 0
    if loss == POISSON:
        return _poisson_rows(A, Y, weights, dA, n_samples, n_out)
    for i in range(n_samples):
        w = _weight(weights, i, scale)
        row = 0
        for j in range(n_out):
            k = i * n_out + j
            y = Y[k]
            if loss == MSE:
                d = A[k] - y
                row = row + d * d
                if dA != NULL:
                    dA[k] = d * w / denom
            elif loss == BCE:
                a = _clip(A[k], eps, hi)
                row = row + (y * _log(a) + (one - y) * _log1p(-a))
                if dA != NULL:
                    dA[k] = (a - y) / (a * (one - a)) * w / denom
            else:  # CCE
                a = eps if A[k] < eps else A[k]     # NaN stays NaN, as in np.maximum
                row = row + y * _log(a)
                if dA != NULL:
                    dA[k] = -y / a * w / denom
        total = total + w * row
    if loss == MSE:
        return half * total / denom
    return -total / denom


cdef floating loss_delta_impl(int loss, int act, const floating* A, const floating* Y,
                              const floating* weights, floating* delta,
                              Py_ssize_t n_samples, Py_ssize_t n_out,
                              int n_threads) noexcept nogil:
    """(Weighted) mean loss; writes delta = dL/dZ of the output layer."""
    cdef Py_ssize_t i, j, k
    cdef floating one = 1, y_sum, value, w
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    if not is_fused_pair(loss, act):
        value = loss_gradient_impl(loss, A, Y, weights, delta, n_samples, n_out)
        activation_backward_impl(act, A, delta, delta, n_samples, n_out, n_threads)
        return value
    value = loss_gradient_impl(loss, A, Y, weights, <floating*>NULL, n_samples, n_out)
    for i in range(n_samples):
        w = _weight(weights, i, scale)
        if loss == CCE:
            y_sum = 0
            for j in range(n_out):
                y_sum = y_sum + Y[i * n_out + j]
            for j in range(n_out):
                k = i * n_out + j
                delta[k] = (A[k] * y_sum - Y[k]) * w / denom
        else:
            for j in range(n_out):
                k = i * n_out + j
                delta[k] = (A[k] - Y[k]) * w / denom
    return value


# --- Python entry points (called by fastnn.kernels after validation) ---------

cdef const floating* _weights_ptr(const floating[::1] weights, Py_ssize_t n) except? NULL:
    if weights is None:
        return NULL
    if weights.shape[0] != n:
        raise ValueError("losses: weights has %d entries for %d samples" % (weights.shape[0], n))
    return &weights[0]


def loss_gradient(int loss, const floating[:, ::1] A, const floating[:, ::1] Y,
                  floating[:, ::1] dA, const floating[::1] weights=None):
    """Return the (weighted) mean loss and write dL/dA into dA."""
    cdef floating value
    cdef const floating* w = _weights_ptr(weights, A.shape[0])
    if not (A.shape[0] == Y.shape[0] == dA.shape[0] > 0
            and A.shape[1] == Y.shape[1] == dA.shape[1] > 0):
        raise ValueError("loss_gradient: A, Y and dA differ in shape or are empty")
    if not MSE <= loss <= POISSON:
        raise ValueError("loss_gradient: unknown loss code %d" % loss)
    with nogil:
        value = loss_gradient_impl(loss, &A[0, 0], &Y[0, 0], w, &dA[0, 0],
                                   A.shape[0], A.shape[1])
    return float(value)


def loss_delta(int loss, int act, const floating[:, ::1] A, const floating[:, ::1] Y,
               floating[:, ::1] delta, int n_threads=0, const floating[::1] weights=None):
    """Return the (weighted) mean loss and write dL/dZ of the output layer into delta."""
    cdef floating value
    cdef const floating* w = _weights_ptr(weights, A.shape[0])
    if not (A.shape[0] == Y.shape[0] == delta.shape[0] > 0
            and A.shape[1] == Y.shape[1] == delta.shape[1] > 0):
        raise ValueError("loss_delta: A, Y and delta differ in shape or are empty")
    if not MSE <= loss <= POISSON:
        raise ValueError("loss_delta: unknown loss code %d" % loss)
    if not IDENTITY <= act <= SOFTMAX:
        raise ValueError("loss_delta: no gradient for activation code %d" % act)
    if n_threads <= 0:
        n_threads = threads_for(A.shape[0] * A.shape[1], activation_grain(act))
    with nogil:
        value = loss_delta_impl(loss, act, &A[0, 0], &Y[0, 0], w, &delta[0, 0],
                                A.shape[0], A.shape[1], n_threads)
    return float(value)
