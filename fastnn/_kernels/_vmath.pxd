from cython cimport floating

cdef void vexp(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vtanh(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vlog(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
