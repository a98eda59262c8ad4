from cython cimport floating

cdef void sgd_update_impl(floating* params, const floating* grads, Py_ssize_t n,
                          double lr, double weight_decay, int n_threads) noexcept nogil
cdef void momentum_update_impl(floating* params, const floating* grads,
                               floating* velocity, Py_ssize_t n, double lr,
                               double momentum, bint nesterov, double weight_decay,
                               int n_threads) noexcept nogil
cdef void adam_update_impl(floating* params, const floating* grads, floating* m,
                           floating* v, floating* v_max, Py_ssize_t n, long long step,
                           double lr, double beta1, double beta2, double eps,
                           double weight_decay, int n_threads) noexcept nogil
cdef void adamw_update_impl(floating* params, const floating* grads, floating* m,
                            floating* v, floating* v_max, Py_ssize_t n, long long step,
                            double lr, double beta1, double beta2, double eps,
                            double weight_decay, double l2_decay,
                            int n_threads) noexcept nogil
cdef void rmsprop_update_impl(floating* params, const floating* grads,
                              floating* square_avg, floating* momentum_buffer,
                              floating* grad_avg, Py_ssize_t n, double lr, double rho,
                              double eps, double weight_decay, double momentum,
                              int n_threads) noexcept nogil
cdef void adagrad_update_impl(floating* params, const floating* grads, floating* state_sum,
                              Py_ssize_t n, long long step, double lr, double lr_decay,
                              double eps, double weight_decay, int n_threads) noexcept nogil
cdef double clip_impl(floating* grads, Py_ssize_t n, double clip_value,
                      double clip_norm) noexcept nogil
cdef void sklearn_momentum_update_impl(floating* params, const floating* grads,
                                       floating* velocity, Py_ssize_t n, double lr,
                                       double momentum, bint nesterov,
                                       double weight_decay, int n_threads) noexcept nogil
cdef void sklearn_adam_update_impl(floating* params, const floating* grads, floating* m,
                                   floating* v, Py_ssize_t n, long long step, double lr,
                                   double beta1, double beta2, double eps,
                                   double weight_decay, int n_threads) noexcept nogil
cdef double sum_squares_impl(const floating* x, Py_ssize_t n) noexcept nogil
