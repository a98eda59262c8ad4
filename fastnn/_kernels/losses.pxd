from cython cimport floating

# Loss codes; fastnn/_validation.py maps names to them.
cdef enum:
    MSE = 0   # quadratic cost, ½·Σ(a−y)² per sample
    BCE = 1   # binary cross-entropy on probabilities in (0, 1)
    CCE = 2   # categorical cross-entropy on a probability distribution per row
    POISSON = 3   # half Poisson deviance on a log-rate (scikit-learn's loss='poisson')
    CCE_LOGITS = 4   # categorical cross-entropy on logits (log-softmax fused in)
    BCE_LOGITS = 5   # binary cross-entropy on logits (log-sigmoid fused in)
    HUBER = 6        # Huber's loss, quadratic within huber_delta of the target
    N_LOSSES = 7

cdef double weight_sum(const floating* weights, Py_ssize_t n_samples) noexcept nogil
cdef floating loss_gradient_impl(int loss, double huber_delta, const floating* A,
                                 const floating* Y,
                                 const floating* weights, floating* dA,
                                 Py_ssize_t n_samples, Py_ssize_t n_out) noexcept nogil
cdef floating loss_delta_impl(int loss, double huber_delta, int act, double act_param,
                              const floating* pre, const floating* A, const floating* Y,
                              const floating* weights, floating* delta,
                              Py_ssize_t n_samples, Py_ssize_t n_out,
                              int n_threads) noexcept nogil
cdef bint is_fused_pair(int loss, int act) noexcept nogil
