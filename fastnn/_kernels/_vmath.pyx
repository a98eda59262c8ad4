"""Vector exp, tanh, log, log1p and expm1: NumPy's own SIMD inner loops, called from nogil code.

Design
------
The NumPy reference computes ``np.exp``, ``np.tanh``, ``np.log``, ``np.log1p``
and ``np.expm1``; NumPy
dispatches these to hand-written SIMD loops (AVX-512, AVX2, ...) whose results
differ from the C library's ``exp`` in the last bit for a few percent of inputs.
So that the compiled activations are bit-identical to the reference, and
vectorised, this module looks up, once at import, the inner-loop function that
NumPy registered on each ufunc for float32 and float64 (``PyUFuncObject.functions``,
part of NumPy's public C API), and calls it directly on contiguous buffers.
The loops are pure elementwise functions of their input: they need no GIL, are
thread-safe, and give the same result for an element whatever the offset or
length of the block it is in (tests check this).  In-place calls (x == out)
are allowed.  The caller owns both buffers.
"""
import numpy as np
cimport numpy as cnp

cnp.import_array()
cnp.import_ufunc()

ctypedef void (*ufunc_loop)(char** args, const cnp.npy_intp* dims,
                            const cnp.npy_intp* steps, void* data) noexcept nogil

cdef ufunc_loop _exp_f32, _exp_f64, _tanh_f32, _tanh_f64, _log_f32, _log_f64
cdef ufunc_loop _log1p_f32, _log1p_f64, _expm1_f32, _expm1_f64
cdef void* _exp_f32_data
cdef void* _exp_f64_data
cdef void* _tanh_f32_data
cdef void* _tanh_f64_data
cdef void* _log_f32_data
cdef void* _log_f64_data
cdef void* _log1p_f32_data
cdef void* _log1p_f64_data
cdef void* _expm1_f32_data
cdef void* _expm1_f64_data


cdef int _loop_index(cnp.ufunc u, int type_num) except -1:
    cdef int i
    for i in range(u.ntypes):
        if u.types[2 * i] == type_num and u.types[2 * i + 1] == type_num \
                and u.functions[i] != NULL:
            return i
    raise ImportError(
        "fastnn: numpy.%s has no inner loop for type number %d; this NumPy "
        "build is not supported" % (u.__name__, type_num))


cdef ufunc_loop _find(name, int type_num, void** data) except NULL:
    cdef cnp.ufunc u = getattr(np, name)
    cdef int i = _loop_index(u, type_num)
    data[0] = u.data[i]
    return <ufunc_loop><void*>u.functions[i]


_exp_f32 = _find("exp", cnp.NPY_FLOAT32, &_exp_f32_data)
_exp_f64 = _find("exp", cnp.NPY_FLOAT64, &_exp_f64_data)
_tanh_f32 = _find("tanh", cnp.NPY_FLOAT32, &_tanh_f32_data)
_tanh_f64 = _find("tanh", cnp.NPY_FLOAT64, &_tanh_f64_data)
_log_f32 = _find("log", cnp.NPY_FLOAT32, &_log_f32_data)
_log_f64 = _find("log", cnp.NPY_FLOAT64, &_log_f64_data)
_log1p_f32 = _find("log1p", cnp.NPY_FLOAT32, &_log1p_f32_data)
_log1p_f64 = _find("log1p", cnp.NPY_FLOAT64, &_log1p_f64_data)
_expm1_f32 = _find("expm1", cnp.NPY_FLOAT32, &_expm1_f32_data)
_expm1_f64 = _find("expm1", cnp.NPY_FLOAT64, &_expm1_f64_data)


cdef inline void _run(ufunc_loop loop, void* data, const void* x, void* out,
                      Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    cdef char* args[2]
    cdef cnp.npy_intp dims[1]
    cdef cnp.npy_intp steps[2]
    if n <= 0:
        return
    args[0] = <char*>x
    args[1] = <char*>out
    dims[0] = n
    steps[0] = itemsize
    steps[1] = itemsize
    loop(args, dims, steps, data)


cdef void vexp(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if floating is float:
        _run(_exp_f32, _exp_f32_data, x, out, n, sizeof(float))
    else:
        _run(_exp_f64, _exp_f64_data, x, out, n, sizeof(double))


cdef void vtanh(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if floating is float:
        _run(_tanh_f32, _tanh_f32_data, x, out, n, sizeof(float))
    else:
        _run(_tanh_f64, _tanh_f64_data, x, out, n, sizeof(double))


cdef void vlog(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if floating is float:
        _run(_log_f32, _log_f32_data, x, out, n, sizeof(float))
    else:
        _run(_log_f64, _log_f64_data, x, out, n, sizeof(double))


cdef void vlog1p(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if floating is float:
        _run(_log1p_f32, _log1p_f32_data, x, out, n, sizeof(float))
    else:
        _run(_log1p_f64, _log1p_f64_data, x, out, n, sizeof(double))


cdef void vexpm1(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if floating is float:
        _run(_expm1_f32, _expm1_f32_data, x, out, n, sizeof(float))
    else:
        _run(_expm1_f64, _expm1_f64_data, x, out, n, sizeof(double))


cdef void _apply(int code, const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    if code == 0:
        vexp(x, out, n)
    elif code == 1:
        vtanh(x, out, n)
    elif code == 2:
        vlog(x, out, n)
    elif code == 3:
        vlog1p(x, out, n)
    else:
        vexpm1(x, out, n)


_NAMES = ("exp", "tanh", "log", "log1p", "expm1")


def apply(str name, cnp.ndarray x not None, cnp.ndarray out not None):
    """Python entry for tests: out = numpy.<name>(x) through the captured loop.

    Parameters
    ----------
    name : {"exp", "tanh", "log", "log1p", "expm1"}
    x : ndarray of float32 or float64, shape (n,), C-contiguous, native byte order
    out : ndarray of x's dtype, shape (n,), C-contiguous, writeable (may be x)

    The arrays are read through their data pointers rather than typed
    memoryviews, so that this module carries none of Cython's memoryview
    support code (about half of its compressed size).
    """
    cdef int kind = cnp.PyArray_TYPE(x), code
    cdef Py_ssize_t n
    if name not in _NAMES:
        raise ValueError("apply: unknown function %r" % (name,))
    code = _NAMES.index(name)
    for arg, a in (("x", x), ("out", out)):
        if a.ndim != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(a):
            raise ValueError("apply: %s must be a 1-D C-contiguous array, got shape %s"
                             % (arg, (<object>a).shape))
    if kind != cnp.NPY_FLOAT32 and kind != cnp.NPY_FLOAT64:
        raise TypeError("apply: x must be float32 or float64, got dtype %s" % x.dtype)
    if not (cnp.PyArray_ISNOTSWAPPED(x) and cnp.PyArray_ISNOTSWAPPED(out)):
        raise ValueError("apply: x and out must be in the machine's byte order")
    if cnp.PyArray_TYPE(out) != kind:
        raise TypeError("apply: out must have x's dtype %s, got %s" % (x.dtype, out.dtype))
    if not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError("apply: out is read-only")
    if x.shape[0] != out.shape[0]:
        raise ValueError("apply: x and out differ in length")
    n = x.shape[0]
    if n == 0:
        return
    if kind == cnp.NPY_FLOAT32:
        _apply(code, <const float*>cnp.PyArray_DATA(x), <float*>cnp.PyArray_DATA(out), n)
    else:
        _apply(code, <const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out), n)
