from cython cimport floating

cdef void dense_forward_impl(const floating* X, const floating* W, const floating* b,
                             int act, double param, floating* out, floating* pre, Py_ssize_t n_samples,
                             Py_ssize_t n_in, Py_ssize_t n_out,
                             int n_threads) noexcept nogil
cdef void dense_backward_impl(const floating* X, const floating* W, const floating* A,
                              const floating* dA, int act, double param,
                              const floating* pre, floating* dZ,
                              floating* dW, floating* db, floating* dX,
                              Py_ssize_t n_samples, Py_ssize_t n_in, Py_ssize_t n_out,
                              int n_threads) noexcept nogil
cdef void column_sums_range(const floating* M, floating* out, Py_ssize_t n_rows,
                            Py_ssize_t n_cols, Py_ssize_t start,
                            Py_ssize_t stop) noexcept nogil
cdef void column_sums_impl(const floating* M, floating* out, Py_ssize_t n_rows,
                           Py_ssize_t n_cols, int n_threads) noexcept nogil
cdef void dense_backward_sgd_impl(const floating* X, floating* W, floating* b,
                                  const floating* A, const floating* dA, int act,
                                  double param, const floating* pre, floating* dZ, floating* dW, floating* db, floating* dX,
                                  Py_ssize_t n_samples, Py_ssize_t n_in, Py_ssize_t n_out,
                                  double lr, int n_threads,
                                  bint step_w=*) noexcept nogil
