# OpenMP helpers shared by every kernel module.
cdef extern from "fastnn_openmp.h":
    bint FASTNN_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    void omp_set_num_threads(int n) noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_threads() noexcept nogil

# Work sizes (elements per thread) below which a second thread costs more than
# it saves.  Measured on the 2-core development machine; see README.md.
cdef enum:
    GRAIN_ARITHMETIC = 16384      # a few flops per element (relu, derivatives, updates)
    GRAIN_TRANSCENDENTAL = 4096   # an exp or tanh per element (sigmoid, tanh, softmax)

cdef int max_threads() noexcept nogil
cdef int threads_for(Py_ssize_t work, Py_ssize_t grain) noexcept nogil
cdef Py_ssize_t chunk_start(Py_ssize_t n, int n_chunks, int i) noexcept nogil
