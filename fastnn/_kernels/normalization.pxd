from cython cimport floating

# Normalization kinds (fastnn.layers.BatchNorm, LayerNorm); fastnn/model.py
# writes them into the training loop's norm layout.
cdef enum:
    NORM_NONE = 0
    NORM_BATCH = 1
    NORM_LAYER = 2

cdef void norm_forward_impl(int kind, const floating* X, floating* xhat, floating* out,
                            const floating* gamma, const floating* beta, floating* stats,
                            floating* row_mean, floating* row_var, double eps, Py_ssize_t n,
                            Py_ssize_t units) noexcept nogil
cdef void norm_running_impl(const floating* stats, floating* running_mean,
                            floating* running_var, double momentum, Py_ssize_t n,
                            Py_ssize_t units) noexcept nogil
cdef void norm_backward_impl(int kind, floating* dY, const floating* xhat,
                             const floating* stats, const floating* gamma, floating* dgamma,
                             floating* dbeta, Py_ssize_t n, Py_ssize_t units) noexcept nogil
cdef void norm_inference_impl(int kind, floating* X, const floating* gamma,
                              const floating* beta, const floating* running_mean,
                              const floating* running_var, double eps, Py_ssize_t n,
                              Py_ssize_t units) noexcept nogil
