"""OpenMP thread helpers.

Design
------
fastnn runs one parallel strategy per kernel: either a multithreaded BLAS call
or an OpenMP loop over contiguous chunks, never both at once.  This module
decides how many OpenMP threads a call gets: ``threads_for(work, grain)`` gives
one thread per ``grain`` elements of work, capped by ``max_threads()``, so small
problems never wake the pool.

``max_threads()`` is OpenMP's limit for the calling thread
(``omp_get_max_threads()``: ``OMP_NUM_THREADS``, threadpoolctl and
``omp_set_num_threads`` set it, the last two for the calling thread only),
capped by fastnn's process-wide limit (``set_max_threads``: the CPUs the
process may use, ``fastnn.set_num_threads``, and 1 in a forked child, whose
OpenMP runtime has lost its parent's threads; see fastnn/_config.py), and
during training by the load limit (``set_load_limit``: the CPUs other
processes left free, measured between runs of batches; fastnn/_cpus.py).
Every parallel region of fastnn, the packed GEMM's included, is sized by it;
results do not depend on it.  ``chunk_start`` splits a range
into equal contiguous chunks, one per thread; the kernels use it so that which
thread computes an element never changes what is computed.
"""


#: fastnn's process-wide thread limit (0: none): written by set_max_threads
#: between kernels, read by every thread.
cdef int _process_limit = 0
#: The training loop's limit while other processes hold CPUs (0: none):
#: written by set_load_limit between runs of batches, read by every thread.
cdef int _load_limit = 0


cdef int max_threads() noexcept nogil:
    cdef int n = omp_get_max_threads()
    if 0 < _process_limit < n:
        n = _process_limit
    if 0 < _load_limit < n:
        n = _load_limit
    return n


cdef int threads_for(Py_ssize_t work, Py_ssize_t grain) noexcept nogil:
    cdef int limit = max_threads()
    cdef Py_ssize_t wanted = work // grain
    if wanted < 1:
        return 1
    if wanted < limit:
        return <int>wanted
    return limit


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


def get_max_threads(bint loaded=True):
    """The threads a parallel region started from this thread may use:
    OpenMP's limit for it, capped by the process-wide limit and, unless
    ``loaded`` is False, by the load limit (1 in a serial build)."""
    if loaded:
        return max_threads()
    cdef int n = omp_get_max_threads()
    return _process_limit if 0 < _process_limit < n else n


def set_max_threads(int n):
    """Make ``n`` the process-wide limit (every thread's regions), and OpenMP's
    limit for this thread."""
    set_process_limit(n)
    omp_set_num_threads(n)


def set_load_limit(int n):
    """Cap every thread's regions at ``n`` threads (0: no cap) because other
    processes hold the other CPUs; set and cleared by the training loop."""
    global _load_limit
    _load_limit = n


def set_process_limit(int n):
    """Cap every thread's regions at ``n`` threads (0: no cap), leaving
    OpenMP's own limits alone."""
    global _process_limit
    _process_limit = n
