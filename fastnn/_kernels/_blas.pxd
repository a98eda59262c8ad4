from cython cimport floating

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil

cdef bint gemm_accumulates_exactly(bint trans_a, bint trans_b, int m, int n, int k,
                                   bint is_double) noexcept nogil
