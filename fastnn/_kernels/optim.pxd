from cython cimport floating

cdef void sgd_update_impl(floating* params, const floating* grads, Py_ssize_t n,
                          double lr, double weight_decay, int n_threads) noexcept nogil
cdef void momentum_update_impl(floating* params, const floating* grads,
                               floating* velocity, Py_ssize_t n, double lr,
                               double momentum, bint nesterov, double weight_decay,
                               int n_threads) noexcept nogil
cdef void adam_update_impl(floating* params, const floating* grads, floating* m,
                           floating* v, Py_ssize_t n, long long step, double lr,
                           double beta1, double beta2, double eps,
                           double weight_decay, int n_threads) noexcept nogil
cdef void sklearn_momentum_update_impl(floating* params, const floating* grads,
                                       floating* velocity, Py_ssize_t n, double lr,
                                       double momentum, bint nesterov,
                                       double weight_decay, int n_threads) noexcept nogil
cdef void sklearn_adam_update_impl(floating* params, const floating* grads, floating* m,
                                   floating* v, Py_ssize_t n, long long step, double lr,
                                   double beta1, double beta2, double eps,
                                   double weight_decay, int n_threads) noexcept nogil
cdef double sum_squares_impl(const floating* x, Py_ssize_t n) noexcept nogil
