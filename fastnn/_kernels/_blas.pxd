from cython cimport floating

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil

cdef bint gemm_on_calling_thread(bint trans_a, bint trans_b, int m, int n, int k,
                                 bint is_double) noexcept nogil

cdef bint gemm_accumulates_exactly(bint trans_a, bint trans_b, int m, int n, int k,
                                   bint is_double) noexcept nogil

cdef bint step_forward_exact(int n_in, int n_out, bint is_double) noexcept nogil

cdef void step_forward(int n_in, int n_out, const floating* x_old, const floating* dz,
                       floating alpha, const floating* x_new, floating* W,
                       floating* z) noexcept nogil
