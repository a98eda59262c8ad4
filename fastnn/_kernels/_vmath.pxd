from cython cimport floating

cdef void vexp(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vtanh(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vlog(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vlog1p(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
cdef void vexpm1(const floating* x, floating* out, Py_ssize_t n) noexcept nogil
