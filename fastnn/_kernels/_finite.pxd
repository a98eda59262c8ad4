from cython cimport floating

# The finiteness test of _finite.pyx on n values, on one thread: the training
# loop's check of each step's gradient (train.pyx, ``stop_non_finite``).
cdef bint values_finite(const floating* x, Py_ssize_t n) noexcept nogil

# The finiteness test of _finite.pyx on n values while copying them to dst
# (not overlapping src), in one pass, on one thread: the training loop's
# gather of a first epoch's rows (train.pyx).
cdef bint copy_values_finite(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil
