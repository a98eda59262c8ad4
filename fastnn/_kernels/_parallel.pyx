"""OpenMP thread helpers.

Design
------
fastnn runs one parallel strategy per kernel: either a multithreaded BLAS call
or an OpenMP loop over contiguous chunks, never both at once.  This module
decides how many OpenMP threads a call gets: ``threads_for(work, grain)`` gives
one thread per ``grain`` elements of work, capped by ``omp_get_max_threads()``
(which ``fastnn.set_num_threads``, ``OMP_NUM_THREADS`` and threadpoolctl all
set), so small problems never wake the pool.  ``chunk_start`` splits a range
into equal contiguous chunks, one per thread; the kernels use it so that which
thread computes an element never changes what is computed.
"""


cdef int threads_for(Py_ssize_t work, Py_ssize_t grain) noexcept nogil:
    cdef int max_threads = omp_get_max_threads()
    cdef Py_ssize_t wanted = work // grain
    if wanted < 1:
        return 1
    if wanted < max_threads:
        return <int>wanted
    return max_threads


cdef Py_ssize_t chunk_start(Py_ssize_t n, int n_chunks, int i) noexcept nogil:
    """Start of chunk i when [0, n) is cut into n_chunks equal contiguous chunks.

    Chunk i is [chunk_start(n, k, i), chunk_start(n, k, i + 1)).  Inside a
    prange, assign both bounds to loop-body variables (which Cython makes
    thread-private); never pass their addresses out, which would share them.
    """
    cdef Py_ssize_t size = (n + n_chunks - 1) // n_chunks
    cdef Py_ssize_t start = i * size
    return start if start < n else n


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(FASTNN_OPENMP_ENABLED)


def get_max_threads():
    """OpenMP's current thread limit for this thread (1 in a serial build)."""
    return omp_get_max_threads()


def set_max_threads(int n):
    """Set OpenMP's thread limit for parallel regions started from this thread."""
    omp_set_num_threads(n)
