"""OpenMP thread helpers.

Design
------
fastnn runs one parallel strategy per kernel: either a multithreaded BLAS call
or an OpenMP loop over contiguous chunks, never both at once.  This module
decides how many OpenMP threads a call gets: ``threads_for(work, grain)`` gives
one thread per ``grain`` elements of work, capped by ``omp_get_max_threads()``
(which ``fastnn.set_num_threads``, ``OMP_NUM_THREADS`` and threadpoolctl all
set), so small problems never wake the pool.  ``chunk_bounds`` splits a range
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


cdef void chunk_bounds(Py_ssize_t n, int n_chunks, int i,
                       Py_ssize_t* start, Py_ssize_t* stop) noexcept nogil:
    cdef Py_ssize_t size = (n + n_chunks - 1) // n_chunks
    start[0] = i * size if i * size < n else n
    stop[0] = start[0] + size if start[0] + size < n else n


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(FASTNN_OPENMP_ENABLED)


def get_max_threads():
    """OpenMP's current thread limit for this thread (1 in a serial build)."""
    return omp_get_max_threads()


def set_max_threads(int n):
    """Set OpenMP's thread limit for parallel regions started from this thread."""
    omp_set_num_threads(n)


def auto_threads(Py_ssize_t work, bint transcendental=False):
    """The thread count a kernel picks for ``work`` elements."""
    return threads_for(work, GRAIN_TRANSCENDENTAL if transcendental else GRAIN_ARITHMETIC)
