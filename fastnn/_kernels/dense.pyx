"""Dense (fully connected) layer, batch-first: forward and backward.

Design
------
Shapes: X (n_samples, n_in), W (n_in, n_out), b (n_out,), A and dA
(n_samples, n_out); all C-contiguous, one float dtype.

* forward:  ``out = f(X·W + b)``: one GEMM into ``out`` (beta = 0), then the
  bias and the activation in a single pass over ``out`` while it is hot.
  ``param`` is the activation's parameter (LeakyReLU's alpha) and ``pre``,
  when not NULL, receives GELU's pre-activations X·W + b (activations.pyx).
* backward: ``dZ = dA ⊙ f'(A)`` (fused, from the stored activation; GELU's
  from the pre-activations ``pre``);
  ``dW = Xᵀ·dZ``; ``db`` = column sums of dZ; ``dX = dZ·Wᵀ``, skipped when
  ``dX`` is NULL (the first layer has no use for it); ``dW`` and ``db``
  skipped when ``dW`` is NULL (data-parallel ranks that compute the weight
  gradients from every rank's rows, train.pyx).  ``dZ`` may alias ``dA``.

Parallel strategy: the products go through ``gemm`` (_blas.pyx), which runs
small ones on fastnn's own single-threaded kernels, large float32 ones on the
own packed kernel with an OpenMP team, and the rest as single BLAS calls with
BLAS's own threads.  The elementwise passes and the column sums take
``n_threads`` OpenMP threads, which the Python entry points set to 1: they run
right after a product, whose worker threads are still spinning, and two
pools on the same cores collapse throughput (see train.pyx).  Tests force
``n_threads`` = 2 to check that the parallel paths give the same bits.
Determinism: the column sums give each thread a contiguous block of columns and
add the rows of each column in order 0..n-1, so ``db`` is the same for any
thread count; BLAS splits GEMM over the rows and columns of the result, never
over the summed dimension, and so does the packed kernel; the small kernels
run on one thread, and which kernel computes a product depends on its shape
only, so the products do not depend on the thread count either (tested).
Memory: the caller owns every buffer, including the ``dZ`` workspace.
"""
from cython.parallel cimport prange
from libc.string cimport memset

from fastnn._kernels._blas cimport gemm, gemm_accumulates_exactly
from fastnn._kernels.optim cimport sgd_update_impl
from fastnn._kernels._parallel cimport GRAIN_ARITHMETIC, chunk_start, threads_for
from fastnn._kernels.activations cimport (
    activation_backward_impl, activation_forward_impl, has_gradient, GELU, N_ACTIVATIONS)


cdef void dense_forward_impl(const floating* X, const floating* W, const floating* b,
                             int act, double param, floating* out, floating* pre, Py_ssize_t n_samples,
                             Py_ssize_t n_in, Py_ssize_t n_out,
                             int n_threads) noexcept nogil:
    cdef floating one = 1, zero = 0
    gemm(False, False, <int>n_samples, <int>n_out, <int>n_in, one, X, <int>n_in,
         W, <int>n_out, zero, out, <int>n_out)
    activation_forward_impl(act, param, out, b, out, pre, n_samples, n_out, n_threads)


cdef void column_sums_range(const floating* M, floating* out, Py_ssize_t n_rows,
                            Py_ssize_t n_cols, Py_ssize_t start,
                            Py_ssize_t stop) noexcept nogil:
    """out[j] = Σ_i M[i, j] for j in [start, stop), rows in order 0..n_rows-1."""
    cdef Py_ssize_t i, j
    memset(out + start, 0, (stop - start) * sizeof(floating))
    for i in range(n_rows):
        for j in range(start, stop):
            out[j] = out[j] + M[i * n_cols + j]


cdef void column_sums_impl(const floating* M, floating* out, Py_ssize_t n_rows,
                           Py_ssize_t n_cols, int n_threads) noexcept nogil:
    """out[j] = Σ_i M[i, j], each column summed in row order (thread-count independent)."""
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1 or n_cols < 2 * 16:
        column_sums_range(M, out, n_rows, n_cols, 0, n_cols)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n_cols, n_threads, t)
        stop = chunk_start(n_cols, n_threads, t + 1)
        column_sums_range(M, out, n_rows, n_cols, start, stop)


cdef void dense_backward_impl(const floating* X, const floating* W, const floating* A,
                              const floating* dA, int act, double param,
                              const floating* pre, floating* dZ,
                              floating* dW, floating* db, floating* dX,
                              Py_ssize_t n_samples, Py_ssize_t n_in, Py_ssize_t n_out,
                              int n_threads) noexcept nogil:
    cdef floating one = 1, zero = 0
    activation_backward_impl(act, param, A, pre, dA, dZ, n_samples, n_out, n_threads)
    if dW != NULL:
        # dW (n_in, n_out) = Xᵀ (n_in, n) · dZ (n, n_out)
        gemm(True, False, <int>n_in, <int>n_out, <int>n_samples, one, X, <int>n_in,
             dZ, <int>n_out, zero, dW, <int>n_out)
        column_sums_impl(dZ, db, n_samples, n_out, n_threads)
    if dX != NULL:
        # dX (n, n_in) = dZ (n, n_out) · Wᵀ (n_out, n_in)
        gemm(False, True, <int>n_samples, <int>n_in, <int>n_out, one, dZ, <int>n_out,
             W, <int>n_out, zero, dX, <int>n_in)


cdef void dense_backward_sgd_impl(const floating* X, floating* W, floating* b,
                                  const floating* A, const floating* dA, int act,
                                  double param, const floating* pre, floating* dZ, floating* dW, floating* db, floating* dX,
                                  Py_ssize_t n_samples, Py_ssize_t n_in, Py_ssize_t n_out,
                                  double lr, int n_threads, bint step_w=True) noexcept nogil:
    """Backward pass with this layer's gradient-descent step taken at once.

    dX = dZ·Wᵀ is taken with the old W; then the step W −= lr·dW, b −= lr·db
    is applied while the gradient is in cache, instead of in a separate pass
    over every parameter after the whole backward pass.  Where ``gemm`` can
    (``gemm_accumulates_exactly``: the own kernels, for most shapes of
    small-batch training and for large float32 layers at batches up to 384),
    the step goes straight into W as one product,
    W = 1·W + (−lr)·Xᵀ·dZ, and dW is never written; that is bit for bit
    ``W − lr·dW``.  Elsewhere dW is written and then applied.

    With ``step_w`` False the W step is left to the caller, who takes it later
    as that same product from X and dZ (the training loop's batch-1 fusion,
    train.pyx); dW is not written and b is stepped as usual.
    """
    cdef floating one = 1, zero = 0, minus_lr = -lr
    activation_backward_impl(act, param, A, pre, dA, dZ, n_samples, n_out, n_threads)
    if dX != NULL:
        gemm(False, True, <int>n_samples, <int>n_in, <int>n_out, one, dZ, <int>n_out,
             W, <int>n_out, zero, dX, <int>n_in)
    if step_w:
        if gemm_accumulates_exactly(True, False, <int>n_in, <int>n_out, <int>n_samples,
                                    floating is double):
            gemm(True, False, <int>n_in, <int>n_out, <int>n_samples, minus_lr, X,
                 <int>n_in, dZ, <int>n_out, one, W, <int>n_out)
        else:
            gemm(True, False, <int>n_in, <int>n_out, <int>n_samples, one, X, <int>n_in,
                 dZ, <int>n_out, zero, dW, <int>n_out)
            sgd_update_impl(W, dW, n_in * n_out, lr, 0.0, n_threads)
    column_sums_impl(dZ, db, n_samples, n_out, n_threads)
    sgd_update_impl(b, db, n_out, lr, 0.0, n_threads)


# --- Python entry points (called by fastnn.kernels after validation) ---------

cdef inline void _require(bint ok, str what) except *:
    if not ok:
        raise ValueError("dense: inconsistent shapes (%s)" % what)


def dense_forward(const floating[:, ::1] X, const floating[:, ::1] W,
                  const floating[::1] b, int act, floating[:, ::1] out,
                  int n_threads=0, double param=0.0):
    """out = f(X·W + b); ``n_threads`` (default 1) for the bias and activation pass;
    ``param``: LeakyReLU's alpha."""
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = W.shape[1]
    _require(W.shape[0] == n_in, "W rows != X columns")
    _require(b.shape[0] == n_out, "b length != W columns")
    _require(out.shape[0] == n and out.shape[1] == n_out, "out")
    _require(n > 0 and n_in > 0 and n_out > 0, "empty")
    if not 0 <= act < N_ACTIVATIONS:
        raise ValueError("dense_forward: unknown activation code %d" % act)
    if n_threads <= 0:
        n_threads = 1   # one pool at a time: BLAS's (see the design comment)
    with nogil:
        dense_forward_impl(&X[0, 0], &W[0, 0], &b[0], act, param, &out[0, 0],
                           <floating*>NULL, n, n_in, n_out, n_threads)


def dense_backward(const floating[:, ::1] X, const floating[:, ::1] W,
                   const floating[:, ::1] A, const floating[:, ::1] dA, int act,
                   floating[:, ::1] dZ, floating[:, ::1] dW, floating[::1] db,
                   floating[:, ::1] dX=None, int n_threads=0, double param=0.0,
                   const floating[:, ::1] Z=None):
    """dZ = dA ⊙ f'(A); dW = Xᵀ·dZ; db = Σ rows of dZ; dX = dZ·Wᵀ unless dX is None.
    ``param``: LeakyReLU's alpha; ``Z``: GELU's pre-activations X·W + b."""
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = W.shape[1]
    cdef floating* dX_ptr = NULL
    cdef const floating* pre = NULL
    _require(W.shape[0] == n_in, "W rows != X columns")
    _require(A.shape[0] == n and A.shape[1] == n_out, "A")
    _require(dA.shape[0] == n and dA.shape[1] == n_out, "dA")
    _require(dZ.shape[0] == n and dZ.shape[1] == n_out, "dZ")
    _require(dW.shape[0] == n_in and dW.shape[1] == n_out, "dW")
    _require(db.shape[0] == n_out, "db")
    _require(n > 0 and n_in > 0 and n_out > 0, "empty")
    if dX is not None:
        _require(dX.shape[0] == n and dX.shape[1] == n_in, "dX")
        dX_ptr = &dX[0, 0]
    if not has_gradient(act):
        raise ValueError("dense_backward: no gradient for activation code %d" % act)
    if act == GELU:
        _require(Z is not None and Z.shape[0] == n and Z.shape[1] == n_out,
                 "GELU needs Z of A's shape")
        pre = &Z[0, 0]
    if n_threads <= 0:
        n_threads = 1   # one pool at a time: BLAS's (see the design comment)
    with nogil:
        dense_backward_impl(&X[0, 0], &W[0, 0], &A[0, 0], &dA[0, 0], act, param, pre,
                            &dZ[0, 0], &dW[0, 0], &db[0], dX_ptr, n, n_in, n_out, n_threads)


def column_sums(const floating[:, ::1] M, floating[::1] out, int n_threads=0):
    """out[j] = Σ_i M[i, j], summed in row order."""
    _require(out.shape[0] == M.shape[1], "out length != M columns")
    _require(M.shape[0] > 0 and M.shape[1] > 0, "empty")
    if n_threads <= 0:
        n_threads = threads_for(M.shape[0] * M.shape[1], GRAIN_ARITHMETIC)
    with nogil:
        column_sums_impl(&M[0, 0], &out[0], M.shape[0], M.shape[1], n_threads)
