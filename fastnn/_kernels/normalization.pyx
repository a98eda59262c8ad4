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

Every sum runs in a fixed order (rows 0..n−1; a row's units over 8 partial
sums combined in a fixed tree) in the buffers' dtype, so results do not
depend on the thread count.  The loops themselves are in
``csrc/norm_loops.h``, compiled once per instruction-set path and chosen at
run time like the other elementwise loops; every path gives the same bits.

Parallel strategy: none; the training loop calls these on its own thread
between products (train.pyx, "Parallel strategy"), and a normalization pass
is a few arithmetic operations per element.  Memory: the caller owns every
buffer, the statistics included (the model's workspace, its running
statistics).
"""

cdef extern from "norm_loops.h":
    int FASTNN_NORM_BATCH
    void fastnn_norm_forward_f32(int kind, const float* X, float* xhat, float* out,
                                 const float* gamma, const float* beta, float* stats,
                                 float* row_mean, float* row_var, double eps, Py_ssize_t n,
                                 Py_ssize_t units) noexcept nogil
    void fastnn_norm_forward_f64(int kind, const double* X, double* xhat, double* out,
                                 const double* gamma, const double* beta, double* stats,
                                 double* row_mean, double* row_var, double eps, Py_ssize_t n,
                                 Py_ssize_t units) noexcept nogil
    void fastnn_norm_backward_f32(int kind, float* dY, const float* xhat, const float* stats,
                                  const float* gamma, float* dgamma, float* dbeta,
                                  Py_ssize_t n, Py_ssize_t units) noexcept nogil
    void fastnn_norm_backward_f64(int kind, double* dY, const double* xhat,
                                  const double* stats, const double* gamma, double* dgamma,
                                  double* dbeta, Py_ssize_t n, Py_ssize_t units) noexcept nogil
    void fastnn_norm_inference_f32(int kind, float* X, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var,
                                   double eps, Py_ssize_t n, Py_ssize_t units) noexcept nogil
    void fastnn_norm_inference_f64(int kind, double* X, const double* gamma,
                                   const double* beta, const double* running_mean,
                                   const double* running_var, double eps, Py_ssize_t n,
                                   Py_ssize_t units) noexcept nogil

include "_isa.pxi"

if FASTNN_NORM_BATCH != NORM_BATCH:   # the C loops' kind code is the .pxd's
    raise ImportError("normalization: csrc/norm_loops.h disagrees with normalization.pxd")


cdef void norm_forward_impl(int kind, const floating* X, floating* xhat, floating* out,
                            const floating* gamma, const floating* beta, floating* stats,
                            floating* row_mean, floating* row_var, double eps, Py_ssize_t n,
                            Py_ssize_t units) noexcept nogil:
    if floating is float:
        fastnn_norm_forward_f32(kind, X, xhat, out, gamma, beta, stats, row_mean, row_var,
                                eps, n, units)
    else:
        fastnn_norm_forward_f64(kind, X, xhat, out, gamma, beta, stats, row_mean, row_var,
                                eps, n, units)


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
    if floating is float:
        fastnn_norm_backward_f32(kind, dY, xhat, stats, gamma, dgamma, dbeta, n, units)
    else:
        fastnn_norm_backward_f64(kind, dY, xhat, stats, gamma, dgamma, dbeta, n, units)


cdef void norm_inference_impl(int kind, floating* X, const floating* gamma,
                              const floating* beta, const floating* running_mean,
                              const floating* running_var, double eps, Py_ssize_t n,
                              Py_ssize_t units) noexcept nogil:
    if floating is float:
        fastnn_norm_inference_f32(kind, X, gamma, beta, running_mean, running_var, eps, n,
                                  units)
    else:
        fastnn_norm_inference_f64(kind, X, gamma, beta, running_mean, running_var, eps, n,
                                  units)


# --- Python entry points (tests; fastnn.kernels validates first) -----------------

def norm_forward(int kind, const floating[:, ::1] X, const floating[::1] gamma,
                 const floating[::1] beta, double eps, floating[:, ::1] xhat,
                 floating[:, ::1] out, floating[::1] stats, floating[::1] row_mean=None,
                 floating[::1] row_var=None):
    """Training forward (see the design notes) into xhat, out and stats;
    ``stats`` holds 3·units (BatchNorm) or n (LayerNorm) values; LayerNorm
    also writes each row's mean and biased variance into ``row_mean`` and
    ``row_var`` (n values each) when they are given."""
    cdef Py_ssize_t n = X.shape[0], units = X.shape[1]
    cdef floating* mean_ptr = NULL
    cdef floating* var_ptr = NULL
    _check(kind, n, units, gamma, beta, xhat, out)
    if stats.shape[0] < (3 * units if kind == NORM_BATCH else n):
        raise ValueError("norm_forward: stats is too short")
    if (row_mean is None) != (row_var is None):
        raise ValueError("norm_forward: give both row_mean and row_var, or neither")
    if row_mean is not None:
        if kind != NORM_LAYER or row_mean.shape[0] != n or row_var.shape[0] != n:
            raise ValueError("norm_forward: row_mean and row_var are LayerNorm's, "
                             "n values each")
        mean_ptr, var_ptr = &row_mean[0], &row_var[0]
    with nogil:
        norm_forward_impl(kind, &X[0, 0], &xhat[0, 0], &out[0, 0], &gamma[0], &beta[0],
                          &stats[0], mean_ptr, var_ptr, eps, n, units)


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
