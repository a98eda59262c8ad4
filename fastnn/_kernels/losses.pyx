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
  output layer stays the identity and the pair needs no special delta;
* cross-entropy from logits (PyTorch's ``CrossEntropyLoss``): A holds the
  logits z, ``lse = max z + log Σⱼ exp(z − max z)``, ``Σⱼ y·(lse − z)``;
  ``dA = (softmax(z)·Σⱼyⱼ − y)/n`` with softmax(z) = exp(z − lse), which is
  ``(softmax(z) − y)/n`` for one-hot or probability targets;
* binary cross-entropy from logits (``BCEWithLogitsLoss``):
  ``Σⱼ[max(z, 0) − z·y + log1p(exp(−|z|))]``; ``dA = (σ(z) − y)/n``, σ
  computed from the same exp(−|z|) as the stable sigmoid;
* Huber (``huber_delta`` δ > 0): ``Σⱼ h(a − y)`` with h(d) = ½d² for |d| ≤ δ,
  else δ·(|d| − ½δ); ``dA = clip(a − y, −δ, δ)/n``.  Like MSE here (and unlike
  PyTorch's ``HuberLoss``, which also divides by the outputs), a sum over
  outputs and a mean over the batch: for |a − y| ≤ δ it equals MSE.

The from-logits losses never clip: they are finite for any finite logits.
Their output layer is the identity, so their ``dA`` is already the delta.

With per-sample weights w (``weights`` not NULL), "mean over the batch"
becomes the weighted mean: the loss is ``Σᵢ wᵢ·ℓᵢ / Σᵢ wᵢ`` and every ``/n``
above becomes ``·wᵢ/Σw``.  Σw is summed in double; when it reaches 2^64,
the weights and Σw are scaled by a power of two that brings it below
(``_weight_scale``: exact, the ratios wᵢ/Σw do not change), so float32
weights whose sum overflows float32 (six weights of 3e38) still give the
weighted mean, while ordinary weights keep their exact arithmetic.  Without
weights wᵢ = 1 and Σw = n, and the arithmetic is exactly the unweighted one
(a product by 1 is exact).

Probabilities (BCE, CCE) are clipped to [eps, 1−eps] (CCE: to eps from below) with eps the
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
    activation_backward_impl, activation_grain, has_gradient, sigmoid_from_exp, GELU,
    IDENTITY, SIGMOID, SOFTMAX)
from fastnn._kernels._parallel cimport threads_for
from fastnn._kernels._vmath cimport vexp, vlog, vlog1p

cdef enum:
    SCRATCH = 256  # elements of stack scratch per block of exp/log


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


cdef floating _cce_logits_rows(const floating* A, const floating* Y, const floating* weights,
                               floating* dA, Py_ssize_t n_samples,
                               Py_ssize_t n_out) noexcept nogil:
    """Σᵢ wᵢ·Σⱼ y·(lse − z) / denom; dA = (exp(z − lse)·Σⱼy − y)·wᵢ/denom."""
    cdef floating scratch[SCRATCH]
    cdef floating w, row, total = 0, zmax, lse, y_sum
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    cdef const floating* z
    cdef const floating* y
    cdef Py_ssize_t i, j, start, m
    for i in range(n_samples):
        w = _weight(weights, i, scale)
        z = A + i * n_out
        y = Y + i * n_out
        zmax = z[0]
        for j in range(1, n_out):
            if z[j] > zmax:
                zmax = z[j]
        lse = 0
        start = 0
        while start < n_out:
            m = n_out - start if n_out - start < SCRATCH else SCRATCH
            for j in range(m):
                scratch[j] = z[start + j] - zmax
            vexp(scratch, scratch, m)
            for j in range(m):
                lse = lse + scratch[j]
            start += m
        vlog(&lse, &lse, 1)
        lse = zmax + lse
        row = 0
        y_sum = 0
        for j in range(n_out):
            row = row + y[j] * (lse - z[j])
            y_sum = y_sum + y[j]
        total = total + w * row
        if dA == NULL:
            continue
        start = 0
        while start < n_out:
            m = n_out - start if n_out - start < SCRATCH else SCRATCH
            for j in range(m):
                scratch[j] = z[start + j] - lse
            vexp(scratch, scratch, m)
            for j in range(m):
                dA[i * n_out + start + j] = (scratch[j] * y_sum - y[start + j]) * w / denom
            start += m
    return total / denom


cdef floating _bce_logits_rows(const floating* A, const floating* Y, const floating* weights,
                               floating* dA, Py_ssize_t n_samples,
                               Py_ssize_t n_out) noexcept nogil:
    """Σᵢ wᵢ·Σⱼ[max(z, 0) − z·y + log1p(exp(−|z|))] / denom; dA = (σ(z) − y)·wᵢ/denom."""
    cdef floating e[SCRATCH]
    cdef floating softplus[SCRATCH]
    cdef floating zero = 0, w, row, total = 0, z
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    cdef Py_ssize_t i, j, k, start, m
    for i in range(n_samples):
        w = _weight(weights, i, scale)
        row = 0
        start = 0
        while start < n_out:
            m = n_out - start if n_out - start < SCRATCH else SCRATCH
            for j in range(m):
                z = A[i * n_out + start + j]
                e[j] = z if z < zero else -z        # -|z|
            vexp(e, e, m)
            vlog1p(e, softplus, m)
            for j in range(m):
                k = i * n_out + start + j
                z = A[k]
                row = row + (((zero if z < zero else z) - z * Y[k]) + softplus[j])
                if dA != NULL:
                    dA[k] = (sigmoid_from_exp(z, e[j]) - Y[k]) * w / denom
            start += m
        total = total + w * row
    return total / denom


cdef floating loss_gradient_impl(int loss, double huber_delta, const floating* A,
                                 const floating* Y,
                                 const floating* weights, floating* dA,
                                 Py_ssize_t n_samples, Py_ssize_t n_out) noexcept nogil:
    """(Weighted) mean loss over the batch; writes dL/dA into dA unless it is NULL."""
    cdef Py_ssize_t i, j, k
    cdef floating one = 1, half = 0.5, zero = 0
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    cdef floating eps = _eps(one), hi = one - eps
    cdef floating d, a, y, w, row, total = 0, huber = <floating>huber_delta
    if loss == POISSON:
        return _poisson_rows(A, Y, weights, dA, n_samples, n_out)
    if loss == CCE_LOGITS:
        return _cce_logits_rows(A, Y, weights, dA, n_samples, n_out)
    if loss == BCE_LOGITS:
        return _bce_logits_rows(A, Y, weights, dA, n_samples, n_out)
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
            elif loss == HUBER:
                d = A[k] - y
                a = d if d >= 0 else -d             # |d|
                row = row + (half * d * d if a <= huber else huber * (a - half * huber))
                if dA != NULL:
                    dA[k] = _clip(d, -huber, huber) * w / denom
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
    if loss == HUBER:
        return total / denom
    return -total / denom


cdef floating loss_delta_impl(int loss, double huber_delta, int act, double act_param,
                              const floating* pre, const floating* A, const floating* Y,
                              const floating* weights, floating* delta,
                              Py_ssize_t n_samples, Py_ssize_t n_out,
                              int n_threads) noexcept nogil:
    """(Weighted) mean loss; writes delta = dL/dZ of the output layer, whose
    activation ``act`` has parameter ``act_param`` and, for GELU, the
    pre-activations ``pre``."""
    cdef Py_ssize_t i, j, k
    cdef floating one = 1, y_sum, value, w
    cdef double weights_total = weight_sum(weights, n_samples)
    cdef double scale = _weight_scale(weights_total)
    cdef floating denom = <floating>_denominator(weights_total, scale)
    if not is_fused_pair(loss, act):
        value = loss_gradient_impl(loss, huber_delta, A, Y, weights, delta, n_samples, n_out)
        activation_backward_impl(act, act_param, A, pre, delta, delta, n_samples, n_out,
                                 n_threads)
        return value
    value = loss_gradient_impl(loss, huber_delta, A, Y, weights, <floating*>NULL, n_samples,
                               n_out)
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
                  floating[:, ::1] dA, const floating[::1] weights=None,
                  double huber_delta=1.0):
    """Return the (weighted) mean loss and write dL/dA into dA."""
    cdef floating value
    cdef const floating* w = _weights_ptr(weights, A.shape[0])
    if not (A.shape[0] == Y.shape[0] == dA.shape[0] > 0
            and A.shape[1] == Y.shape[1] == dA.shape[1] > 0):
        raise ValueError("loss_gradient: A, Y and dA differ in shape or are empty")
    if not 0 <= loss < N_LOSSES:
        raise ValueError("loss_gradient: unknown loss code %d" % loss)
    with nogil:
        value = loss_gradient_impl(loss, huber_delta, &A[0, 0], &Y[0, 0], w, &dA[0, 0],
                                   A.shape[0], A.shape[1])
    return float(value)


def loss_delta(int loss, int act, const floating[:, ::1] A, const floating[:, ::1] Y,
               floating[:, ::1] delta, int n_threads=0, const floating[::1] weights=None,
               double huber_delta=1.0, double act_param=0.0, const floating[:, ::1] Z=None):
    """Return the (weighted) mean loss and write dL/dZ of the output layer into delta
    (``act_param``: LeakyReLU's alpha; ``Z``: GELU's pre-activations)."""
    cdef floating value
    cdef const floating* w = _weights_ptr(weights, A.shape[0])
    cdef const floating* pre = NULL
    if not (A.shape[0] == Y.shape[0] == delta.shape[0] > 0
            and A.shape[1] == Y.shape[1] == delta.shape[1] > 0):
        raise ValueError("loss_delta: A, Y and delta differ in shape or are empty")
    if not 0 <= loss < N_LOSSES:
        raise ValueError("loss_delta: unknown loss code %d" % loss)
    if not has_gradient(act):
        raise ValueError("loss_delta: no gradient for activation code %d" % act)
    if act == GELU:
        if Z is None or Z.shape[0] != A.shape[0] or Z.shape[1] != A.shape[1]:
            raise ValueError("loss_delta: GELU needs Z, its pre-activations, of A's shape")
        pre = &Z[0, 0]
    if n_threads <= 0:
        n_threads = threads_for(A.shape[0] * A.shape[1], activation_grain(act))
    with nogil:
        value = loss_delta_impl(loss, huber_delta, act, act_param, pre, &A[0, 0], &Y[0, 0],
                                w, &delta[0, 0],
                                A.shape[0], A.shape[1], n_threads)
    return float(value)
