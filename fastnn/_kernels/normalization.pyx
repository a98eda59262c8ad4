"""Normalization layers: batch normalization and layer normalization.

Design
------
What it computes, on C-contiguous (n, units) buffers, with the layer's scale
γ and shift β (units,):

* forward (training) ``out = γ·x̂ + β`` with ``x̂ = (x − μ)·r``,
  ``r = 1/√(σ² + ε)``; μ and σ² (the biased variance, two passes: the mean,
  then the mean square deviation) are taken per column over the batch's rows
  (batch normalization) or per row over its units (layer normalization).
  ``x̂`` is kept for the backward pass and may alias ``X``; ``stats`` keeps
  the statistics (BatchNorm: μ, r and σ² in stats[0:units],
  stats[units:2·units] and stats[2·units:3·units]; LayerNorm: r of row i
  in stats[i]).
* running statistics (BatchNorm, after a training step, from its ``stats``;
  PyTorch's convention): ``running = (1 − momentum)·running +
  momentum·batch``, the variance's being the unbiased n/(n − 1)·σ²; a batch
  of one row leaves them alone (its variance says nothing).  A separate
  pass, so that the training loop moves them only for a step it takes
  (TerminateOnNaN stops before a step whose gradient is not finite).
* backward, in place: ``dY`` (dL/d out) becomes dL/dx, and ``dgamma``,
  ``dbeta`` receive Σ dY·x̂ and Σ dY over the rows (overwritten, not added);
  with ĝ = dY·γ, ``dx = r/N·(N·ĝ − Σĝ − x̂·Σĝ·x̂)``, the sums and N over the
  batch's rows (BatchNorm, per column) or the row's units (LayerNorm).
* inference, in place: BatchNorm with the running statistics,
  ``out = γ·(x − running_mean)/√(running_var + ε) + β``; LayerNorm as in
  training.

Every sum runs in a fixed order (rows 0..n−1, units 0..units−1) in the
buffers' dtype, so results do not depend on the thread count.

Parallel strategy: none; the training loop calls these on its own thread
between products (train.pyx, "Parallel strategy"), and a normalization pass
is a few arithmetic operations per element.  Memory: the caller owns every
buffer, the statistics included (the model's workspace, its running
statistics).
"""
from libc.math cimport sqrt
from libc.string cimport memset

cdef enum:
    INFERENCE_BLOCK = 256   # units whose inverse deviations sit on the stack at once
    LANES = 8               # partial sums of a row's reductions (see _row_sums)


cdef void _column_moments(const floating* X, floating* mean, floating* var,
                          Py_ssize_t n, Py_ssize_t units) noexcept nogil:
    """mean[j] and the biased variance var[j] of each column over the n rows."""
    cdef Py_ssize_t i, j
    cdef floating inv_n = <floating>1 / <floating>n, d
    memset(mean, 0, units * sizeof(floating))
    memset(var, 0, units * sizeof(floating))
    for i in range(n):
        for j in range(units):
            mean[j] = mean[j] + X[i * units + j]
    for j in range(units):
        mean[j] = mean[j] * inv_n
    for i in range(n):
        for j in range(units):
            d = X[i * units + j] - mean[j]
            var[j] = var[j] + d * d
    for j in range(units):
        var[j] = var[j] * inv_n


cdef inline floating _combine(const floating* acc) noexcept nogil:
    """The LANES partial sums added in a fixed tree order."""
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


cdef void _row_sums(const floating* a, const floating* b, const floating* c, floating shift,
                    Py_ssize_t units, floating* first, floating* second) noexcept nogil:
    """Two reductions of one row, each over LANES partial sums (element j in
    lane j % LANES, the lanes combined in a fixed order: independent chains
    that the compiler vectorises, where one running sum is a chain of
    dependent additions).  With ``b`` NULL: first = Σ a, second = Σ (a −
    shift)²; otherwise first = Σ a·b, second = Σ a·b·c.  The order depends on
    ``units`` only, so the results do not depend on the thread count."""
    cdef floating acc1[LANES]
    cdef floating acc2[LANES]
    cdef floating v
    cdef Py_ssize_t block, j, k, full = units - units % LANES
    for k in range(LANES):
        acc1[k] = 0
        acc2[k] = 0
    if b == NULL:
        for block in range(full // LANES):
            j = block * LANES
            for k in range(LANES):
                v = a[j + k] - shift
                acc1[k] = acc1[k] + a[j + k]
                acc2[k] = acc2[k] + v * v
        for j in range(full, units):
            v = a[j] - shift
            acc1[j - full] = acc1[j - full] + a[j]
            acc2[j - full] = acc2[j - full] + v * v
    else:
        for block in range(full // LANES):
            j = block * LANES
            for k in range(LANES):
                v = a[j + k] * b[j + k]
                acc1[k] = acc1[k] + v
                acc2[k] = acc2[k] + v * c[j + k]
        for j in range(full, units):
            v = a[j] * b[j]
            acc1[j - full] = acc1[j - full] + v
            acc2[j - full] = acc2[j - full] + v * c[j]
    first[0] = _combine(acc1)
    second[0] = _combine(acc2)


cdef void _row_moments(const floating* x, floating* mean, floating* rstd, floating eps,
                       Py_ssize_t units) noexcept nogil:
    """The mean and 1/√(σ² + ε) of one row of ``units`` values (two passes:
    the mean, then the squared deviations from it)."""
    cdef floating total, squares, unused, inv_u = <floating>1 / <floating>units, m
    _row_sums(x, NULL, NULL, 0, units, &total, &unused)
    m = total * inv_u
    _row_sums(x, NULL, NULL, m, units, &unused, &squares)
    mean[0] = m
    rstd[0] = <floating>1 / <floating>sqrt(squares * inv_u + eps)


cdef void norm_forward_impl(int kind, const floating* X, floating* xhat, floating* out,
                            const floating* gamma, const floating* beta, floating* stats,
                            double eps, Py_ssize_t n, Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating m, r, e = <floating>eps
    cdef floating* mean
    cdef floating* rstd
    cdef floating* var
    if kind == NORM_BATCH:
        mean, rstd, var = stats, stats + units, stats + 2 * units
        _column_moments(X, mean, var, n, units)
        for j in range(units):
            rstd[j] = <floating>1 / <floating>sqrt(var[j] + e)
        for i in range(n):
            for j in range(units):
                xhat[i * units + j] = (X[i * units + j] - mean[j]) * rstd[j]
                out[i * units + j] = gamma[j] * xhat[i * units + j] + beta[j]
    else:
        for i in range(n):
            _row_moments(X + i * units, &m, &r, e, units)
            stats[i] = r
            for j in range(units):
                xhat[i * units + j] = (X[i * units + j] - m) * r
                out[i * units + j] = gamma[j] * xhat[i * units + j] + beta[j]


cdef void norm_running_impl(const floating* stats, floating* running_mean,
                            floating* running_var, double momentum, Py_ssize_t n,
                            Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating keep = <floating>(1.0 - momentum), take = <floating>momentum, unbiased
    if n < 2:
        return
    unbiased = <floating>n / <floating>(n - 1)
    for j in range(units):
        running_mean[j] = keep * running_mean[j] + take * stats[j]
        running_var[j] = keep * running_var[j] + take * (stats[2 * units + j] * unbiased)


cdef void norm_backward_impl(int kind, floating* dY, const floating* xhat,
                             const floating* stats, const floating* gamma, floating* dgamma,
                             floating* dbeta, Py_ssize_t n, Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating g, s1, s2, r, inv_n, inv_u = <floating>1 / <floating>units
    cdef const floating* rstd
    memset(dgamma, 0, units * sizeof(floating))
    memset(dbeta, 0, units * sizeof(floating))
    for i in range(n):
        for j in range(units):
            dgamma[j] = dgamma[j] + dY[i * units + j] * xhat[i * units + j]
            dbeta[j] = dbeta[j] + dY[i * units + j]
    if kind == NORM_BATCH:
        # Σĝ = γ·dβ and Σĝ·x̂ = γ·dγ per column
        rstd = stats + units
        inv_n = <floating>1 / <floating>n
        for i in range(n):
            for j in range(units):
                dY[i * units + j] = gamma[j] * rstd[j] * (
                    dY[i * units + j] - inv_n * (dbeta[j] + xhat[i * units + j] * dgamma[j]))
    else:
        for i in range(n):
            # Σĝ and Σĝ·x̂ over the row
            _row_sums(dY + i * units, gamma, xhat + i * units, 0, units, &s1, &s2)
            r = stats[i]
            for j in range(units):
                g = dY[i * units + j] * gamma[j]
                dY[i * units + j] = r * (g - inv_u * (s1 + xhat[i * units + j] * s2))


cdef void norm_inference_impl(int kind, floating* X, const floating* gamma,
                              const floating* beta, const floating* running_mean,
                              const floating* running_var, double eps, Py_ssize_t n,
                              Py_ssize_t units) noexcept nogil:
    cdef Py_ssize_t i, j, start, stop
    cdef floating m, r, e = <floating>eps
    cdef floating rstd[INFERENCE_BLOCK]
    if kind == NORM_BATCH:
        # a block of units at a time: their 1/√(running_var + ε) on the stack
        start = 0
        while start < units:
            stop = start + INFERENCE_BLOCK if units - start > INFERENCE_BLOCK else units
            for j in range(start, stop):
                rstd[j - start] = <floating>1 / <floating>sqrt(running_var[j] + e)
            for i in range(n):
                for j in range(start, stop):
                    X[i * units + j] = gamma[j] * (
                        (X[i * units + j] - running_mean[j]) * rstd[j - start]) + beta[j]
            start = stop
    else:
        for i in range(n):
            _row_moments(X + i * units, &m, &r, e, units)
            for j in range(units):
                X[i * units + j] = gamma[j] * ((X[i * units + j] - m) * r) + beta[j]


# --- Python entry points (tests; fastnn.kernels validates first) -----------------

def norm_forward(int kind, const floating[:, ::1] X, const floating[::1] gamma,
                 const floating[::1] beta, double eps, floating[:, ::1] xhat,
                 floating[:, ::1] out, floating[::1] stats):
    """Training forward (see the design notes) into xhat, out and stats;
    ``stats`` holds 3·units (BatchNorm) or n (LayerNorm) values."""
    cdef Py_ssize_t n = X.shape[0], units = X.shape[1]
    _check(kind, n, units, gamma, beta, xhat, out)
    if stats.shape[0] < (3 * units if kind == NORM_BATCH else n):
        raise ValueError("norm_forward: stats is too short")
    with nogil:
        norm_forward_impl(kind, &X[0, 0], &xhat[0, 0], &out[0, 0], &gamma[0], &beta[0],
                          &stats[0], eps, n, units)


def norm_running_update(const floating[::1] stats, floating[::1] running_mean,
                        floating[::1] running_var, double momentum, Py_ssize_t n):
    """BatchNorm's running statistics after a batch of n rows whose
    ``norm_forward`` left ``stats`` (3·units values)."""
    cdef Py_ssize_t units = running_mean.shape[0]
    if running_var.shape[0] != units or stats.shape[0] < 3 * units or units < 1:
        raise ValueError("norm_running_update: stats must hold 3 x units values, "
                         "running_mean and running_var units each")
    if not 0 <= momentum <= 1 or n < 1:
        raise ValueError("norm_running_update: momentum must be in [0, 1] and n >= 1")
    with nogil:
        norm_running_impl(&stats[0], &running_mean[0], &running_var[0], momentum, n, units)


def norm_backward(int kind, floating[:, ::1] dY, const floating[:, ::1] xhat,
                  const floating[::1] stats, const floating[::1] gamma,
                  floating[::1] dgamma, floating[::1] dbeta):
    """Backward in place: dY becomes dL/dX; dgamma and dbeta are filled."""
    cdef Py_ssize_t n = dY.shape[0], units = dY.shape[1]
    _check(kind, n, units, gamma, dgamma, xhat, dY)
    if dbeta.shape[0] != units or stats.shape[0] < (3 * units if kind == NORM_BATCH else n):
        raise ValueError("norm_backward: dbeta or stats has the wrong length")
    with nogil:
        norm_backward_impl(kind, &dY[0, 0], &xhat[0, 0], &stats[0], &gamma[0], &dgamma[0],
                           &dbeta[0], n, units)


def norm_inference(int kind, floating[:, ::1] X, const floating[::1] gamma,
                   const floating[::1] beta, const floating[::1] running_mean,
                   const floating[::1] running_var, double eps):
    """Inference forward in place (BatchNorm: the running statistics)."""
    cdef Py_ssize_t n = X.shape[0], units = X.shape[1]
    _check(kind, n, units, gamma, beta, X, X)
    if running_mean.shape[0] != units or running_var.shape[0] != units:
        raise ValueError("norm_inference: running_mean and running_var need units entries")
    with nogil:
        norm_inference_impl(kind, &X[0, 0], &gamma[0], &beta[0], &running_mean[0],
                            &running_var[0], eps, n, units)


cdef _check(int kind, Py_ssize_t n, Py_ssize_t units, const floating[::1] a,
            const floating[::1] b, const floating[:, ::1] c, const floating[:, ::1] d):
    if kind != NORM_BATCH and kind != NORM_LAYER:
        raise ValueError("unknown normalization kind %d" % kind)
    if n < 1 or units < 1:
        raise ValueError("normalization needs at least one row and one unit")
    if a.shape[0] != units or b.shape[0] != units:
        raise ValueError("gamma and beta (or their gradients) need %d entries" % units)
    if c.shape[0] != n or c.shape[1] != units or d.shape[0] != n or d.shape[1] != units:
        raise ValueError("the (n, units) buffers differ in shape")
