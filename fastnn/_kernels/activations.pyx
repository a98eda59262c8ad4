"""Activations: forward (with an optional bias fused in), derivative, backward.

Design
------
What it computes, on C-contiguous (n_rows, n_cols) buffers:

* forward   ``out = f(Z + bias)``; ``bias`` (n_cols,) may be NULL; ``out`` may
  alias ``Z`` (the dense layer applies its bias and activation in place on the
  GEMM output, in one pass);
* derivative ``f'(z)`` written from the stored activation ``a = f(z)``:
  sigmoid' = a(1−a), tanh' = 1−a², relu' = [a > 0], identity' = 1;
* backward  ``dZ = dA ⊙ f'(a)``, and for softmax the Jacobian-vector product
  ``dZ = a ⊙ (dA − Σⱼ dAⱼ aⱼ)`` row by row; ``dZ`` may alias ``dA``.

Sigmoid is computed stably as ``1/(1+e)`` for z ≥ 0 and ``e/(1+e)`` for z < 0
with ``e = exp(−|z|) ∈ (0, 1]``, which never overflows; exp and tanh are NumPy's
own SIMD loops (``_vmath``), so every elementwise result is bit-identical to the
NumPy reference, which spells the same operations in the same order.  Literals
are typed ``floating`` so float32 arithmetic never detours through double.

Parallel strategy: rows are split into equal contiguous chunks, one per OpenMP
thread (``chunk_start``); each element's value never depends on the chunking,
so results are identical for any thread count.  ``n_threads`` is chosen by the
caller (``threads_for``).  Memory: the caller owns every buffer; the sigmoid
keeps a small block of scratch on the stack.
"""
from cython.parallel cimport prange
from libc.string cimport memcpy

from fastnn._kernels._parallel cimport (
    GRAIN_ARITHMETIC, GRAIN_TRANSCENDENTAL, chunk_start, threads_for)
from fastnn._kernels._vmath cimport vexp, vtanh

cdef enum:
    SCRATCH = 256  # elements of stack scratch per sigmoid block


cdef int activation_grain(int act) noexcept nogil:
    if act == SIGMOID or act == TANH or act == SOFTMAX:
        return GRAIN_TRANSCENDENTAL
    return GRAIN_ARITHMETIC


cdef inline void _sigmoid(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = 1/(1+exp(-v)), computed without overflow."""
    cdef floating scratch[SCRATCH]
    cdef floating one = 1, zero = 0, e, z
    cdef Py_ssize_t start = 0, i, m
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        for i in range(m):
            z = v[start + i]
            scratch[i] = z if z < 0 else -z        # -|z|
        vexp(scratch, scratch, m)
        for i in range(m):
            # 1/(1+e) for z >= 0, e/(1+e) for z < 0: a select, not a branch,
            # so the loop vectorises (a branch on the sign mispredicts half
            # the time on real data).
            e = scratch[i]
            v[start + i] = (one if v[start + i] >= zero else e) / (one + e)
        start += m


cdef inline void _softmax_row(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = exp(v - max v) / Σ exp(v - max v)."""
    cdef floating vmax = v[0], total = 0
    cdef Py_ssize_t j
    for j in range(1, n):
        if v[j] > vmax:
            vmax = v[j]
    for j in range(n):
        v[j] = v[j] - vmax
    vexp(v, v, n)
    for j in range(n):
        total = total + v[j]
    for j in range(n):
        v[j] = v[j] / total


cdef void _forward_rows(int act, const floating* Z, const floating* bias, floating* out,
                        Py_ssize_t row_start, Py_ssize_t row_stop,
                        Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t i, j, n = (row_stop - row_start) * n_cols
    cdef floating zero = 0, one = 1
    cdef floating* o = out + row_start * n_cols
    cdef const floating* z = Z + row_start * n_cols
    if n <= 0:
        return
    # out = Z + bias (or a copy of Z), then the activation in place.
    if bias != NULL:
        for i in range(row_stop - row_start):
            for j in range(n_cols):
                o[i * n_cols + j] = z[i * n_cols + j] + bias[j]
    elif o != z:
        memcpy(o, z, n * sizeof(floating))
    if act == SIGMOID:
        _sigmoid(o, n)
    elif act == TANH:
        vtanh(o, o, n)
    elif act == RELU:
        for i in range(n):     # NaN stays NaN, as in np.maximum (and -0.0 stays -0.0)
            o[i] = zero if o[i] < zero else o[i]
    elif act == STEP:
        for i in range(n):
            o[i] = one if o[i] > zero else zero
    elif act == SOFTMAX:
        for i in range(row_stop - row_start):
            _softmax_row(o + i * n_cols, n_cols)


cdef void activation_forward_impl(int act, const floating* Z, const floating* bias,
                                  floating* out, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                  int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1 or n_rows < 2:
        _forward_rows(act, Z, bias, out, 0, n_rows, n_cols)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n_rows, n_threads, t)
        stop = chunk_start(n_rows, n_threads, t + 1)
        _forward_rows(act, Z, bias, out, start, stop, n_cols)


cdef void _derivative_range(int act, const floating* A, floating* out,
                            Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating zero = 0, one = 1
    if act == IDENTITY:
        for i in range(start, stop):
            out[i] = one
    elif act == SIGMOID:
        for i in range(start, stop):
            out[i] = A[i] * (one - A[i])
    elif act == TANH:
        for i in range(start, stop):
            out[i] = one - A[i] * A[i]
    elif act == RELU:
        for i in range(start, stop):
            out[i] = one if A[i] > zero else zero


cdef void activation_derivative_impl(int act, const floating* A, floating* out,
                                     Py_ssize_t n, int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1:
        _derivative_range(act, A, out, 0, n)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n, n_threads, t)
        stop = chunk_start(n, n_threads, t + 1)
        _derivative_range(act, A, out, start, stop)


cdef void _backward_rows(int act, const floating* A, const floating* dA, floating* dZ,
                         Py_ssize_t row_start, Py_ssize_t row_stop,
                         Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t i, j, start = row_start * n_cols, stop = row_stop * n_cols
    cdef floating zero = 0, one = 1, s
    if act == IDENTITY:
        if dZ != dA:
            memcpy(dZ + start, dA + start, (stop - start) * sizeof(floating))
    elif act == SIGMOID:
        for i in range(start, stop):
            dZ[i] = dA[i] * (A[i] * (one - A[i]))
    elif act == TANH:
        for i in range(start, stop):
            dZ[i] = dA[i] * (one - A[i] * A[i])
    elif act == RELU:
        for i in range(start, stop):
            dZ[i] = dA[i] * (one if A[i] > zero else zero)
    elif act == SOFTMAX:
        for i in range(row_start, row_stop):
            s = 0
            for j in range(i * n_cols, (i + 1) * n_cols):
                s = s + dA[j] * A[j]
            for j in range(i * n_cols, (i + 1) * n_cols):
                dZ[j] = A[j] * (dA[j] - s)


cdef void activation_backward_impl(int act, const floating* A, const floating* dA,
                                   floating* dZ, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                   int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1 or n_rows < 2:
        _backward_rows(act, A, dA, dZ, 0, n_rows, n_cols)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n_rows, n_threads, t)
        stop = chunk_start(n_rows, n_threads, t + 1)
        _backward_rows(act, A, dA, dZ, start, stop, n_cols)


# --- Python entry points (called by fastnn.kernels after validation) ---------

cdef inline int _pick_threads(int n_threads, Py_ssize_t work, int act) noexcept nogil:
    return n_threads if n_threads > 0 else threads_for(work, activation_grain(act))


def activation_forward(int act, const floating[:, ::1] Z, floating[:, ::1] out,
                       int n_threads=0):
    """out = f(Z); ``n_threads`` <= 0 picks the count from the work size."""
    if Z.shape[0] != out.shape[0] or Z.shape[1] != out.shape[1]:
        raise ValueError("activation_forward: Z and out differ in shape")
    if not IDENTITY <= act <= STEP:
        raise ValueError("activation_forward: unknown activation code %d" % act)
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return
    n_threads = _pick_threads(n_threads, Z.shape[0] * Z.shape[1], act)
    with nogil:
        activation_forward_impl(act, &Z[0, 0], <floating*>NULL, &out[0, 0],
                                Z.shape[0], Z.shape[1], n_threads)


def activation_derivative(int act, const floating[:, ::1] A, floating[:, ::1] out,
                          int n_threads=0):
    """out = f'(z) from the stored activation A (elementwise activations only)."""
    if A.shape[0] != out.shape[0] or A.shape[1] != out.shape[1]:
        raise ValueError("activation_derivative: A and out differ in shape")
    if not IDENTITY <= act <= RELU:
        raise ValueError("activation_derivative: no elementwise derivative for code %d" % act)
    if A.shape[0] == 0 or A.shape[1] == 0:
        return
    n_threads = _pick_threads(n_threads, A.shape[0] * A.shape[1], act)
    with nogil:
        activation_derivative_impl(act, &A[0, 0], &out[0, 0], A.shape[0] * A.shape[1],
                                   n_threads)


def activation_backward(int act, const floating[:, ::1] A, const floating[:, ::1] dA,
                        floating[:, ::1] dZ, int n_threads=0):
    """dZ = dA ⊙ f'(a) (softmax: its Jacobian-vector product)."""
    if not (A.shape[0] == dA.shape[0] == dZ.shape[0]
            and A.shape[1] == dA.shape[1] == dZ.shape[1]):
        raise ValueError("activation_backward: A, dA and dZ differ in shape")
    if not IDENTITY <= act <= SOFTMAX:
        raise ValueError("activation_backward: no gradient for activation code %d" % act)
    if A.shape[0] == 0 or A.shape[1] == 0:
        return
    n_threads = _pick_threads(n_threads, A.shape[0] * A.shape[1], act)
    with nogil:
        activation_backward_impl(act, &A[0, 0], &dA[0, 0], &dZ[0, 0],
                                 A.shape[0], A.shape[1], n_threads)
