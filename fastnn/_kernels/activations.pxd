from cython cimport floating

# Activation codes; fastnn/_validation.py maps names to them.
cdef enum:
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4
    STEP = 5

cdef void activation_forward_impl(int act, const floating* Z, const floating* bias,
                                  floating* out, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                  int n_threads) noexcept nogil
cdef void activation_derivative_impl(int act, const floating* A, floating* out,
                                     Py_ssize_t n, int n_threads) noexcept nogil
cdef void activation_backward_impl(int act, const floating* A, const floating* dA,
                                   floating* dZ, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                   int n_threads) noexcept nogil
cdef int activation_grain(int act) noexcept nogil
