from cython cimport floating

# One thread's finiteness test of n contiguous values (the training loop's
# per-batch check; _finite.pyx splits large arrays over threads with it).
cdef bint values_finite(const floating* x, Py_ssize_t n) noexcept nogil
