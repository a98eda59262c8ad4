"""Row-major GEMM: fastnn's own kernels, or SciPy's BLAS.

Design
------
The one place fastnn multiplies matrices.  ``gemm`` routes each call by its
shape and dtype (``fastnn_gemm_route`` in ``csrc/packed_gemm.h``): tiny and
skinny products (small-batch training) go to the register-blocked AVX-512
kernels of ``csrc/small_gemm.h``, where OpenBLAS spends most of its time
packing and dispatching; large float32 products go to the packed AVX-512
kernel of ``csrc/packed_gemm.h``, which splits C over OpenMP threads; the rest
goes to BLAS (``scipy.linalg.cython_blas``), and on AVX-512 machines only
products small enough that OpenBLAS runs them on the calling thread, so that
OpenBLAS's spinning worker threads never compete with the OpenMP team.  The
rule depends on the shape and dtype only, never on the thread count, and every
route splits work over the output only, so results stay bit-identical for any
number of threads.

Arrays are C-contiguous (row-major); BLAS is column-major, so ``C = op(A)·op(B)``
is computed as ``Cᵀ = op(B)ᵀ·op(A)ᵀ`` by swapping the operands and the
dimensions, as scikit-learn's ``_cython_blas`` does.  The caller owns every
buffer.  Threads: the small kernels run on the calling thread; the packed
kernel starts an OpenMP team sized by ``fastnn.set_num_threads`` (inside
another parallel region it runs on one thread, OpenMP's nesting default); BLAS
uses its own pool, sized the same way.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm

include "_isa.pxi"


cdef extern from "small_gemm.h" nogil:
    void fastnn_sgemm_small(int trans_a, int trans_b, int m, int n, int k,
                            float alpha, const float* A, int lda, const float* B, int ldb,
                            float beta, float* C, int ldc)
    void fastnn_dgemm_small(int trans_a, int trans_b, int m, int n, int k,
                            double alpha, const double* A, int lda, const double* B, int ldb,
                            double beta, double* C, int ldc)
    void fastnn_sgemm_small_portable(int trans_a, int trans_b, int m, int n, int k,
                                     float alpha, const float* A, int lda,
                                     const float* B, int ldb, float beta, float* C, int ldc)
    void fastnn_dgemm_small_portable(int trans_a, int trans_b, int m, int n, int k,
                                     double alpha, const double* A, int lda,
                                     const double* B, int ldb, double beta, double* C,
                                     int ldc)
    int fastnn_small_gemm_wins(int m, int n, int k, int trans_a, int trans_b,
                               int is_double)
    const char* fastnn_small_gemm_isa()
    int fastnn_small_gemm_accumulates_fast(int m, int n, int k, int trans_a, int trans_b,
                                           int is_double)
    int fastnn_small_step_forward_fits(int n, int is_double)
    void fastnn_sstep_forward_small(int n, int k, const float* x_old, const float* dz,
                                    float alpha, const float* x_new, float* W, int ldw,
                                    float* z)
    void fastnn_dstep_forward_small(int n, int k, const double* x_old, const double* dz,
                                    double alpha, const double* x_new, double* W, int ldw,
                                    double* z)


cdef extern from "packed_gemm.h" nogil:
    void fastnn_sgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                             float alpha, const float* A, int lda, const float* B, int ldb,
                             float beta, float* C, int ldc)
    void fastnn_dgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                             double alpha, const double* A, int lda, const double* B,
                             int ldb, double beta, double* C, int ldc)
    int fastnn_gemm_route(int m, int n, int k, int trans_a, int trans_b, int is_double)
    int fastnn_packed_gemm_accumulates_exactly(int k, int is_double)
    enum:
        FASTNN_ROUTE_BLAS
        FASTNN_ROUTE_SMALL
        FASTNN_ROUTE_PACKED


cdef enum Route:
    ROUTED = 0      # gemm(): own kernel where it wins, BLAS elsewhere
    OWN = 1         # the own kernel (the active path's SIMD code)
    OWN_PORTABLE = 2  # the own kernel's plain C fallback
    BLAS = 3        # always BLAS
    PACKED = 4      # the own packed (large-product) kernel


cdef inline void _blas_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                            floating alpha, const floating* A, int lda,
                            const floating* B, int ldb,
                            floating beta, floating* C, int ldc) noexcept nogil:
    cdef char ta = b"t" if trans_a else b"n"
    cdef char tb = b"t" if trans_b else b"n"
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef inline void _own_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                           floating alpha, const floating* A, int lda,
                           const floating* B, int ldb,
                           floating beta, floating* C, int ldc) noexcept nogil:
    if floating is float:
        fastnn_sgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        fastnn_dgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef inline void _packed_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                              floating alpha, const floating* A, int lda,
                              const floating* B, int ldb,
                              floating beta, floating* C, int ldc) noexcept nogil:
    if floating is float:
        fastnn_sgemm_packed(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        fastnn_dgemm_packed(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major; op(A) is m×k."""
    if m == 0 or n == 0:
        return
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, floating is double)
    if route == FASTNN_ROUTE_SMALL:
        _own_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif route == FASTNN_ROUTE_PACKED:
        _packed_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        _blas_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef bint gemm_on_calling_thread(bint trans_a, bint trans_b, int m, int n, int k,
                                 bint is_double) noexcept nogil:
    """True when ``gemm`` runs this product on the calling thread alone, starting
    no thread: the small kernels, or BLAS at or below 2^18 multiply-adds, the
    size below which OpenBLAS does not thread a product (train.pyx's
    gather-ahead keeps the second core for itself only then)."""
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double)
    return route == FASTNN_ROUTE_SMALL or (
        route == FASTNN_ROUTE_BLAS and <double>m * n * k <= 262144.0)


cdef bint gemm_accumulates_exactly(bint trans_a, bint trans_b, int m, int n, int k,
                                   bint is_double) noexcept nogil:
    """True when ``gemm`` adds this product into C (``beta = 1``) bit for bit as
    ``C + alpha·P``, P being the product exactly as ``beta = 0`` stores it, and
    as fast.  The own kernels form P, scale it by alpha and add C with one
    rounding: the small kernels wherever they add as fast as they store, the
    packed kernel when k fits one of its k blocks.  (OpenBLAS fuses alpha into
    that addition, which rounds differently.)"""
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double)
    if route == FASTNN_ROUTE_SMALL:
        return fastnn_small_gemm_accumulates_fast(m, n, k, trans_a, trans_b, is_double)
    if route == FASTNN_ROUTE_PACKED:
        return fastnn_packed_gemm_accumulates_exactly(k, is_double)
    return False


cdef bint step_forward_exact(int n_in, int n_out, bint is_double) noexcept nogil:
    """True when ``step_forward`` gives, bit for bit, what ``gemm`` gives for its
    two products: the one-sample step ``W += alpha·x_oldᵀ·dz`` (TN, k = 1,
    accumulated) and the next sample's ``z = x_new·W`` (NN, one row), both on
    the small kernels."""
    return (fastnn_gemm_route(n_in, n_out, 1, True, False, is_double) == FASTNN_ROUTE_SMALL
            and fastnn_small_gemm_accumulates_fast(n_in, n_out, 1, True, False, is_double)
            and fastnn_gemm_route(1, n_out, n_in, False, False, is_double)
            == FASTNN_ROUTE_SMALL
            and fastnn_small_step_forward_fits(n_out, is_double))


cdef void step_forward(int n_in, int n_out, const floating* x_old, const floating* dz,
                       floating alpha, const floating* x_new, floating* W,
                       floating* z) noexcept nogil:
    """W (n_in × n_out) += alpha·x_oldᵀ·dz, then z = x_new·W with the new W, in one
    pass over W (x_old, x_new: n_in values; dz, z: n_out).  Exactly
    ``gemm``'s two products where ``step_forward_exact``; the callers use it
    only there."""
    if floating is float:
        fastnn_sstep_forward_small(n_out, n_in, x_old, dz, alpha, x_new, W, n_out, z)
    else:
        fastnn_dstep_forward_small(n_out, n_in, x_old, dz, alpha, x_new, W, n_out, z)


# --- Python entries, for tests and benchmarks ---------------------------------

cdef int _leading_dim(const char* name, str which, Py_ssize_t rows, Py_ssize_t cols,
                      Py_ssize_t row_stride, Py_ssize_t col_stride,
                      Py_ssize_t itemsize) except -1:
    """The row stride in elements of a matrix whose rows are contiguous."""
    if cols > 1 and col_stride != itemsize:
        raise ValueError("%s: the rows of %s must be contiguous" % (name.decode(), which))
    if rows <= 1:
        return max(cols, 1)
    if row_stride % itemsize or row_stride // itemsize < cols:
        raise ValueError("%s: %s has an unusable row stride" % (name.decode(), which))
    return row_stride // itemsize


cdef _entry(Route route, const char* name, bint trans_a, bint trans_b, double alpha,
            const floating[:, :] A, const floating[:, :] B, double beta,
            floating[:, :] C, Py_ssize_t repeats):
    cdef int m = C.shape[0]
    cdef int n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t r, size = sizeof(floating)
    if (A.shape[1] if trans_a else A.shape[0]) != m or \
            (B.shape[1] if trans_b else B.shape[0]) != k or \
            (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError("%s: inconsistent shapes" % name.decode())
    if m == 0 or n == 0 or k == 0:
        raise ValueError("%s: every dimension must be at least 1" % name.decode())
    if repeats < 1:
        raise ValueError("%s: repeats must be at least 1" % name.decode())
    cdef int lda = _leading_dim(name, "A", A.shape[0], A.shape[1], A.strides[0], A.strides[1], size)
    cdef int ldb = _leading_dim(name, "B", B.shape[0], B.shape[1], B.strides[0], B.strides[1], size)
    cdef int ldc = _leading_dim(name, "C", C.shape[0], C.shape[1], C.strides[0], C.strides[1], size)
    cdef const floating* a = &A[0, 0]
    cdef const floating* b = &B[0, 0]
    cdef floating* c = &C[0, 0]
    with nogil:
        for r in range(repeats):
            if route == ROUTED:
                gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                     <floating>beta, c, ldc)
            elif route == OWN:
                _own_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                          <floating>beta, c, ldc)
            elif route == PACKED:
                _packed_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                             <floating>beta, c, ldc)
            elif route == OWN_PORTABLE:
                if floating is float:
                    fastnn_sgemm_small_portable(trans_a, trans_b, m, n, k, <float>alpha,
                                                a, lda, b, ldb, <float>beta, c, ldc)
                else:
                    fastnn_dgemm_small_portable(trans_a, trans_b, m, n, k, alpha,
                                                a, lda, b, ldb, beta, c, ldc)
            else:
                _blas_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                           <floating>beta, c, ldc)


# The three entries take any matrices whose rows are contiguous (C-contiguous
# arrays, or column slices of them: the row stride is the leading dimension).

def gemm_rowmajor(bint trans_a, bint trans_b, double alpha,
                  const floating[:, :] A, const floating[:, :] B,
                  double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """Python entry to ``gemm`` (routed): C = alpha·op(A)·op(B) + beta·C.

    ``repeats`` > 1 runs the same call that many times in one ``nogil`` block
    (benchmarks: the Python call overhead is paid once).
    """
    _entry(ROUTED, b"gemm_rowmajor", trans_a, trans_b, alpha, A, B, beta, C, repeats)


def gemm_small(bint trans_a, bint trans_b, double alpha,
               const floating[:, :] A, const floating[:, :] B,
               double beta, floating[:, :] C, *, bint portable=False,
               Py_ssize_t repeats=1):
    """The own small-matrix kernel, whatever the shape (tests and benchmarks).

    ``portable=True`` runs the plain C fallback instead of the active path's SIMD kernels.
    """
    _entry(OWN_PORTABLE if portable else OWN, b"gemm_small", trans_a, trans_b, alpha,
           A, B, beta, C, repeats)


def gemm_packed(bint trans_a, bint trans_b, double alpha,
                const floating[:, :] A, const floating[:, :] B,
                double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """The own packed kernel for large products, whatever the shape (tests and
    benchmarks)."""
    _entry(PACKED, b"gemm_packed", trans_a, trans_b, alpha, A, B, beta, C, repeats)


def gemm_blas(bint trans_a, bint trans_b, double alpha,
              const floating[:, :] A, const floating[:, :] B,
              double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """Always BLAS, whatever the shape (tests and benchmarks)."""
    _entry(BLAS, b"gemm_blas", trans_a, trans_b, alpha, A, B, beta, C, repeats)


def small_gemm_wins(int m, int n, int k, bint trans_a, bint trans_b, bint is_double):
    """True when ``gemm`` sends this product to the own kernel."""
    return bool(fastnn_small_gemm_wins(m, n, k, trans_a, trans_b, is_double))


def gemm_route(int m, int n, int k, bint trans_a, bint trans_b, bint is_double):
    """Where ``gemm`` sends this product: 'small', 'packed' or 'blas'."""
    return {FASTNN_ROUTE_SMALL: "small", FASTNN_ROUTE_PACKED: "packed"}.get(
        fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double), "blas")


def small_gemm_isa():
    """The path the own small kernels take now: 'avx512', 'avx2' or 'portable'."""
    return fastnn_small_gemm_isa().decode()


def step_forward_small(const floating[::1] x_old, const floating[::1] dz, double alpha,
                       const floating[::1] x_new, floating[:, ::1] W, floating[::1] z,
                       *, Py_ssize_t repeats=1):
    """The fused batch-1 step and product, ``step_forward`` (tests and benchmarks).

    W (n_in, n_out) += alpha·outer(x_old, dz); then z = x_new·W.  Returns
    whether the shape is one where this is bit for bit ``gemm``'s two products
    (``step_forward_exact``).
    """
    cdef int n_in = W.shape[0], n_out = W.shape[1]
    cdef Py_ssize_t r
    if x_old.shape[0] != n_in or x_new.shape[0] != n_in or dz.shape[0] != n_out \
            or z.shape[0] != n_out:
        raise ValueError("step_forward_small: inconsistent shapes")
    if n_in == 0 or n_out == 0 or repeats < 1:
        raise ValueError("step_forward_small: empty operands or repeats < 1")
    with nogil:
        for r in range(repeats):
            step_forward(n_in, n_out, &x_old[0], &dz[0], <floating>alpha, &x_new[0],
                         &W[0, 0], &z[0])
    return bool(step_forward_exact(n_in, n_out, floating is double))
