from cython cimport floating

# Activation codes; fastnn/_validation.py maps names to them.
cdef enum:
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4
    STEP = 5
    LEAKY_RELU = 6     # its parameter: the slope alpha below 0
    GELU = 7           # exact (erf) form; backward needs the pre-activations
    SOFTPLUS = 8
    LOG_SOFTMAX = 9
    N_ACTIVATIONS = 10


cdef inline bint has_gradient(int act) noexcept nogil:
    """A known activation code that backpropagation can go through (not STEP)."""
    return 0 <= act < N_ACTIVATIONS and act != STEP


cdef inline floating sigmoid_from_exp(floating z, floating e) noexcept nogil:
    """σ(z) from e = exp(−|z|): 1/(1+e) for z ≥ 0, e/(1+e) for z < 0, which never
    overflows.  A select, not a branch, so loops over it vectorise."""
    return (<floating>1 if z >= 0 else e) / (<floating>1 + e)


cdef void activation_forward_impl(int act, double param, const floating* Z,
                                  const floating* bias, floating* out, floating* pre,
                                  Py_ssize_t n_rows, Py_ssize_t n_cols,
                                  int n_threads) noexcept nogil
cdef void activation_derivative_impl(int act, double param, const floating* A, floating* out,
                                     Py_ssize_t n, int n_threads) noexcept nogil
cdef void activation_backward_impl(int act, double param, const floating* A,
                                   const floating* pre, const floating* dA, floating* dZ,
                                   Py_ssize_t n_rows, Py_ssize_t n_cols,
                                   int n_threads) noexcept nogil
cdef int activation_grain(int act) noexcept nogil
