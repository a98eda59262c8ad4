"""The finiteness scan of the Python boundary: is any value NaN or infinite?

Design
------
``fit``, ``predict`` and the kernel wrappers reject NaN and infinity in their
inputs once, at the Python boundary; for a training set that scan reads every
value of X once per call (60,000 MNIST images: 188 MB in float32), which
is as much memory traffic as an epoch's gathers.  NumPy offers only
``np.isfinite(X).all()`` (a boolean temporary as large as X) or
scikit-learn's ``np.isfinite(X.sum())`` (pairwise float summation, about
6.7 GB/s here).  This module tests the exponent bits instead
(``csrc/simd_loops.h``: integer AND/compare/OR, vectorised, one clone per
instruction set) over contiguous chunks, one per OpenMP thread: it is bound
by memory bandwidth, not arithmetic.

Parallel strategy: ``threads_for(n, GRAIN_SCAN)`` threads, each scanning a
contiguous chunk with ``values_finite``; the answer does not depend on the
thread count.  ``values_finite`` (one thread, ``_finite.pxd``) is the scan
itself, for the training loop's check of each step's gradient, and
``copy_values_finite`` (one thread) the same test made while copying, for its
gather of a first epoch's rows (train.pyx).
Memory: reads the caller's array in place (``copy_values_finite`` writes the
caller's destination); allocates nothing.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, uint64_t
cimport numpy as cnp

cnp.import_array()

from fastnn._kernels._parallel cimport chunk_start, threads_for

include "_isa.pxi"

cdef extern from "simd_loops.h":
    int fastnn_all_finite_u32(const uint32_t* bits, Py_ssize_t n) noexcept nogil
    int fastnn_all_finite_u64(const uint64_t* bits, Py_ssize_t n) noexcept nogil
    int fastnn_copy_all_finite_u32(uint32_t* dst, const uint32_t* src,
                                   Py_ssize_t n) noexcept nogil
    int fastnn_copy_all_finite_u64(uint64_t* dst, const uint64_t* src,
                                   Py_ssize_t n) noexcept nogil

cdef enum:
    GRAIN_SCAN = 1 << 21   # values per thread: a chunk must outlast the pool's wake-up


cdef bint values_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fastnn_all_finite_u32(<const uint32_t*>x, n)
    return fastnn_all_finite_u64(<const uint64_t*>x, n)


cdef bint copy_values_finite(floating* dst, const floating* src,
                            Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fastnn_copy_all_finite_u32(<uint32_t*>dst, <const uint32_t*>src, n)
    return fastnn_copy_all_finite_u64(<uint64_t*>dst, <const uint64_t*>src, n)


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef int n_threads = threads_for(n, GRAIN_SCAN), t
    cdef Py_ssize_t start, stop, bad = 0
    if n_threads <= 1:
        return values_finite(x, n)
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n, n_threads, t)
        stop = chunk_start(n, n_threads, t + 1)
        bad += 1 - values_finite(x + start, stop - start)
    return bad == 0


def all_finite_contiguous(cnp.ndarray values not None):
    """True when no element of the 1-D contiguous ``values`` is NaN or infinite.

    Parameters
    ----------
    values : ndarray of float32 or float64, shape (n,), C-contiguous
        A flat view of the array to scan (``arr.reshape(-1)`` of a contiguous
        array); n may be 0.

    Returns
    -------
    bool

    The array is read through its data pointer rather than a typed
    memoryview: this module then carries none of Cython's memoryview support
    code (it took 67 of this module's 109 KB in a compressed wheel).
    """
    cdef int kind = cnp.PyArray_TYPE(values)
    cdef Py_ssize_t n
    cdef const void* data
    cdef bint ok
    if values.ndim != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(values):
        raise ValueError("values must be a 1-D C-contiguous array, got shape %s"
                         % ((<object>values).shape,))
    if kind != cnp.NPY_FLOAT32 and kind != cnp.NPY_FLOAT64:
        raise TypeError("values must be float32 or float64, got dtype %s" % values.dtype)
    n = values.shape[0]
    if n == 0:
        return True
    data = cnp.PyArray_DATA(values)
    with nogil:
        if kind == cnp.NPY_FLOAT32:
            ok = _all_finite(<const float*>data, n)
        else:
            ok = _all_finite(<const double*>data, n)
    return ok
