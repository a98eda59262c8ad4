from cython cimport floating

# One thread's finiteness test of n contiguous values (the training loop's
# per-batch check; _finite.pyx splits large arrays over threads with it).
cdef bint values_finite(const floating* x, Py_ssize_t n) noexcept nogil

# The same test on n values while copying them to dst (not overlapping src),
# in one pass: the training loop's gather of a first epoch's rows.
cdef bint copy_values_finite(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil
