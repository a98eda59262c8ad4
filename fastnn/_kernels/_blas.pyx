"""Row-major GEMM over SciPy's BLAS (``scipy.linalg.cython_blas``).

Design
------
The one place fastnn calls BLAS.  Arrays are C-contiguous (row-major); BLAS is
column-major, so ``C = op(A)·op(B)`` is computed as ``Cᵀ = op(B)ᵀ·op(A)ᵀ`` by
swapping the operands and the dimensions, as scikit-learn's ``_cython_blas``
does.  The caller owns every buffer.  Threads: BLAS's own pool, sized by
``fastnn.set_num_threads``; no OpenMP region may be running when this is called.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major; op(A) is m×k."""
    cdef char ta = b"t" if trans_a else b"n"
    cdef char tb = b"t" if trans_b else b"n"
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


def gemm_rowmajor(bint trans_a, bint trans_b, double alpha,
                  const floating[:, ::1] A, const floating[:, ::1] B,
                  double beta, floating[:, ::1] C):
    """Python entry to ``gemm`` for tests: C = alpha·op(A)·op(B) + beta·C."""
    cdef int m = C.shape[0]
    cdef int n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != m or \
            (B.shape[1] if trans_b else B.shape[0]) != k or \
            (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError("gemm_rowmajor: inconsistent shapes")
    if m == 0 or n == 0 or k == 0:
        raise ValueError("gemm_rowmajor: every dimension must be at least 1")
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>alpha, &A[0, 0], A.shape[1],
             &B[0, 0], B.shape[1], <floating>beta, &C[0, 0], C.shape[1])
