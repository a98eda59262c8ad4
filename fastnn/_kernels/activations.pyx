"""Activations: forward (with an optional bias fused in), derivative, backward.

Design
------
What it computes, on C-contiguous (n_rows, n_cols) buffers:

* forward   ``out = f(Z + bias)``; ``bias`` (n_cols,) may be NULL; ``out`` may
  alias ``Z`` (the dense layer applies its bias and activation in place on the
  GEMM output, in one pass);
* derivative ``f'(z)`` written from the stored activation ``a = f(z)``:
  sigmoid' = a(1−a), tanh' = 1−a², relu' = [a > 0], identity' = 1,
  leaky_relu' = 1 where a > 0 else alpha, softplus' = σ(z) = −expm1(−a);
* backward  ``dZ = dA ⊙ f'(a)``, for softmax the Jacobian-vector product
  ``dZ = a ⊙ (dA − Σⱼ dAⱼ aⱼ)`` row by row, for log-softmax
  ``dZ = dA − exp(a)·Σⱼ dAⱼ``; ``dZ`` may alias ``dA``.

``param`` is the activation's parameter: LeakyReLU's alpha (the slope below
0; with alpha ≥ 0, a > 0 exactly when z > 0, so its derivative comes from
the output); the other activations ignore it.  The training loop passes each
layer's from one array (train.pyx, ``act_params``).

GELU, z·Φ(z) = ½·z·(1 + erf(z/√2)) (the exact form, PyTorch's default), is the
one activation whose derivative Φ(z) + z·φ(z) is not a function of its output
(GELU is not monotonic).  So its forward pass also writes ``Z + bias`` into
``pre`` when ``pre`` is not NULL, and its backward pass reads the
pre-activations from ``pre``: the training loop gives every layer a slice of
one buffer laid out like the deltas, allocated once per fit and only when a
layer is GELU.  (Recomputing z from the layer input would redo the product;
storing z in place of a would cost the next layer its input.)  The other
activations ignore ``pre``.

Softplus is computed stably as ``log1p(exp(−|z|)) + max(z, 0)``; its
derivative ``σ(z) = 1 − exp(−a)`` is taken as ``−expm1(−a)``, which keeps its
precision where a is small (z ≪ 0).  Log-softmax is ``z − max z − log Σ
exp(z − max z)`` per row.

Sigmoid is computed stably as ``1/(1+e)`` for z ≥ 0 and ``e/(1+e)`` for z < 0
with ``e = exp(−|z|) ∈ (0, 1]``, which never overflows.  exp, tanh, log, log1p
and expm1 are NumPy's own SIMD loops (``_vmath``), so every elementwise result
that uses only them is bit-identical to the NumPy reference, which spells the
same operations in the same order.  erf (GELU) is the C library's (``erff``,
``erf``); NumPy has none, and the reference's (SciPy's) may differ in the last
bits.  Literals are typed ``floating`` so float32 arithmetic never detours
through double.

Parallel strategy: rows are split into equal contiguous chunks, one per OpenMP
thread (``chunk_start``); each element's value never depends on the chunking,
so results are identical for any thread count.  ``n_threads`` is chosen by the
caller (``threads_for``).  Memory: the caller owns every buffer; the kernels
that call vector functions keep a small block of scratch on the stack.
"""
from cython.parallel cimport prange
from libc.math cimport erf, erff
from libc.string cimport memcpy

from fastnn._kernels._parallel cimport (
    GRAIN_ARITHMETIC, GRAIN_TRANSCENDENTAL, chunk_start, threads_for)
from fastnn._kernels._vmath cimport vexp, vexpm1, vlog, vlog1p, vtanh

cdef enum:
    SCRATCH = 256  # elements of stack scratch per block of vector-function calls

# 1/√2 and 1/√(2π), for GELU
cdef double RSQRT2 = 0.7071067811865476
cdef double RSQRT_2PI = 0.3989422804014327


cdef int activation_grain(int act) noexcept nogil:
    if act == RELU or act == LEAKY_RELU or act == IDENTITY or act == STEP:
        return GRAIN_ARITHMETIC
    return GRAIN_TRANSCENDENTAL


cdef inline floating _erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


cdef inline void _sigmoid(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = 1/(1+exp(-v)), computed without overflow."""
    cdef floating scratch[SCRATCH]
    cdef floating z
    cdef Py_ssize_t start = 0, i, m
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        for i in range(m):
            z = v[start + i]
            scratch[i] = z if z < 0 else -z        # -|z|
        vexp(scratch, scratch, m)
        for i in range(m):
            # a select, not a branch, so the loop vectorises (a branch on the
            # sign mispredicts half the time on real data)
            v[start + i] = sigmoid_from_exp(v[start + i], scratch[i])
        start += m


cdef inline void _softplus(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = log1p(exp(−|v|)) + max(v, 0)."""
    cdef floating scratch[SCRATCH]
    cdef floating zero = 0, z
    cdef Py_ssize_t start = 0, i, m
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        for i in range(m):
            z = v[start + i]
            scratch[i] = z if z < zero else -z     # -|z|
        vexp(scratch, scratch, m)
        vlog1p(scratch, scratch, m)
        for i in range(m):
            z = v[start + i]
            v[start + i] = scratch[i] + (zero if z < zero else z)
        start += m


cdef inline void _gelu(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = ½·v·(1 + erf(v/√2))."""
    cdef floating half = 0.5, one = 1, rsqrt2 = <floating>RSQRT2
    cdef Py_ssize_t i
    for i in range(n):
        v[i] = half * v[i] * (one + _erf(v[i] * rsqrt2))


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


cdef inline void _log_softmax_row(floating* v, Py_ssize_t n) noexcept nogil:
    """In place: v = (v − max v) − log Σ exp(v − max v)."""
    cdef floating scratch[SCRATCH]
    cdef floating vmax = v[0], total = 0
    cdef Py_ssize_t j, start = 0, m
    for j in range(1, n):
        if v[j] > vmax:
            vmax = v[j]
    for j in range(n):
        v[j] = v[j] - vmax
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        vexp(v + start, scratch, m)
        for j in range(m):
            total = total + scratch[j]
        start += m
    vlog(&total, &total, 1)
    for j in range(n):
        v[j] = v[j] - total


cdef void _forward_rows(int act, double param, const floating* Z, const floating* bias,
                        floating* out, floating* pre, Py_ssize_t row_start,
                        Py_ssize_t row_stop, Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t i, j, n = (row_stop - row_start) * n_cols
    cdef floating zero = 0, one = 1, alpha = <floating>param
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
    elif act == LEAKY_RELU:
        for i in range(n):     # NaN and -0.0 pass through, as for ReLU
            o[i] = o[i] * alpha if o[i] < zero else o[i]
    elif act == GELU:
        if pre != NULL:
            memcpy(pre + row_start * n_cols, o, n * sizeof(floating))
        _gelu(o, n)
    elif act == SOFTPLUS:
        _softplus(o, n)
    elif act == LOG_SOFTMAX:
        for i in range(row_stop - row_start):
            _log_softmax_row(o + i * n_cols, n_cols)


cdef void activation_forward_impl(int act, double param, const floating* Z,
                                  const floating* bias, floating* out, floating* pre,
                                  Py_ssize_t n_rows, Py_ssize_t n_cols,
                                  int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1 or n_rows < 2:
        _forward_rows(act, param, Z, bias, out, pre, 0, n_rows, n_cols)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n_rows, n_threads, t)
        stop = chunk_start(n_rows, n_threads, t + 1)
        _forward_rows(act, param, Z, bias, out, pre, start, stop, n_cols)


cdef inline void _softplus_derivative(const floating* A, floating* out,
                                      Py_ssize_t n) noexcept nogil:
    """out = σ(z) = −expm1(−a) from a = softplus(z); ``out`` may alias ``A``."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = -A[i]
    vexpm1(out, out, n)
    for i in range(n):
        out[i] = -out[i]


cdef void _derivative_range(int act, double param, const floating* A, floating* out,
                            Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating zero = 0, one = 1, alpha = <floating>param
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
    elif act == LEAKY_RELU:
        for i in range(start, stop):
            out[i] = one if A[i] > zero else alpha
    elif act == SOFTPLUS:
        _softplus_derivative(A + start, out + start, stop - start)


cdef void activation_derivative_impl(int act, double param, const floating* A, floating* out,
                                     Py_ssize_t n, int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1:
        _derivative_range(act, param, A, out, 0, n)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n, n_threads, t)
        stop = chunk_start(n, n_threads, t + 1)
        _derivative_range(act, param, A, out, start, stop)


cdef inline void _gelu_backward(const floating* Z, const floating* dA, floating* dZ,
                                Py_ssize_t n) noexcept nogil:
    """dZ = dA ⊙ (Φ(z) + z·φ(z)), Φ(z) = ½(1 + erf(z/√2)), φ(z) = exp(−z²/2)/√(2π)."""
    cdef floating scratch[SCRATCH]
    cdef floating half = 0.5, one = 1, z
    cdef floating rsqrt2 = <floating>RSQRT2, rsqrt_2pi = <floating>RSQRT_2PI
    cdef Py_ssize_t start = 0, i, m
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        for i in range(m):
            z = Z[start + i]
            scratch[i] = -half * z * z
        vexp(scratch, scratch, m)
        for i in range(m):
            z = Z[start + i]
            dZ[start + i] = dA[start + i] * (half * (one + _erf(z * rsqrt2))
                                             + z * (scratch[i] * rsqrt_2pi))
        start += m


cdef inline void _log_softmax_backward_row(const floating* A, const floating* dA,
                                           floating* dZ, Py_ssize_t n) noexcept nogil:
    """dZ = dA − exp(a)·Σⱼ dAⱼ for one row (exp(a) is the softmax)."""
    cdef floating scratch[SCRATCH]
    cdef floating s = 0
    cdef Py_ssize_t j, start = 0, m
    for j in range(n):
        s = s + dA[j]
    while start < n:
        m = n - start if n - start < SCRATCH else SCRATCH
        vexp(A + start, scratch, m)
        for j in range(m):
            dZ[start + j] = dA[start + j] - scratch[j] * s
        start += m


cdef void _backward_rows(int act, double param, const floating* A, const floating* pre,
                         const floating* dA, floating* dZ, Py_ssize_t row_start,
                         Py_ssize_t row_stop, Py_ssize_t n_cols) noexcept nogil:
    cdef floating scratch[SCRATCH]
    cdef Py_ssize_t i, j, m, start = row_start * n_cols, stop = row_stop * n_cols
    cdef floating zero = 0, one = 1, s, alpha = <floating>param
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
    elif act == LEAKY_RELU:
        for i in range(start, stop):
            dZ[i] = dA[i] * (one if A[i] > zero else alpha)
    elif act == GELU:
        _gelu_backward(pre + start, dA + start, dZ + start, stop - start)
    elif act == SOFTPLUS:
        i = start
        while i < stop:
            m = stop - i if stop - i < SCRATCH else SCRATCH
            _softplus_derivative(A + i, scratch, m)
            for j in range(m):
                dZ[i + j] = dA[i + j] * scratch[j]
            i += m
    elif act == LOG_SOFTMAX:
        for i in range(row_start, row_stop):
            _log_softmax_backward_row(A + i * n_cols, dA + i * n_cols, dZ + i * n_cols,
                                      n_cols)


cdef void activation_backward_impl(int act, double param, const floating* A,
                                   const floating* pre, const floating* dA, floating* dZ,
                                   Py_ssize_t n_rows, Py_ssize_t n_cols,
                                   int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1 or n_rows < 2:
        _backward_rows(act, param, A, pre, dA, dZ, 0, n_rows, n_cols)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n_rows, n_threads, t)
        stop = chunk_start(n_rows, n_threads, t + 1)
        _backward_rows(act, param, A, pre, dA, dZ, start, stop, n_cols)


# --- Python entry points (called by fastnn.kernels after validation) ---------

cdef inline int _pick_threads(int n_threads, Py_ssize_t work, int act) noexcept nogil:
    return n_threads if n_threads > 0 else threads_for(work, activation_grain(act))


def activation_forward(int act, const floating[:, ::1] Z, floating[:, ::1] out,
                       int n_threads=0, double param=0.0):
    """out = f(Z); ``n_threads`` <= 0 picks the count from the work size;
    ``param``: LeakyReLU's alpha."""
    if Z.shape[0] != out.shape[0] or Z.shape[1] != out.shape[1]:
        raise ValueError("activation_forward: Z and out differ in shape")
    if not 0 <= act < N_ACTIVATIONS:
        raise ValueError("activation_forward: unknown activation code %d" % act)
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return
    n_threads = _pick_threads(n_threads, Z.shape[0] * Z.shape[1], act)
    with nogil:
        activation_forward_impl(act, param, &Z[0, 0], <floating*>NULL, &out[0, 0],
                                <floating*>NULL, Z.shape[0], Z.shape[1], n_threads)


def activation_derivative(int act, const floating[:, ::1] A, floating[:, ::1] out,
                          int n_threads=0, double param=0.0):
    """out = f'(z) from the stored activation A (elementwise activations whose
    derivative is a function of their output: not softmax, log-softmax, GELU)."""
    if A.shape[0] != out.shape[0] or A.shape[1] != out.shape[1]:
        raise ValueError("activation_derivative: A and out differ in shape")
    if not (IDENTITY <= act <= RELU or act == LEAKY_RELU or act == SOFTPLUS):
        raise ValueError("activation_derivative: no elementwise derivative for code %d" % act)
    if A.shape[0] == 0 or A.shape[1] == 0:
        return
    n_threads = _pick_threads(n_threads, A.shape[0] * A.shape[1], act)
    with nogil:
        activation_derivative_impl(act, param, &A[0, 0], &out[0, 0],
                                   A.shape[0] * A.shape[1], n_threads)


def activation_backward(int act, const floating[:, ::1] A, const floating[:, ::1] dA,
                        floating[:, ::1] dZ, int n_threads=0, double param=0.0,
                        const floating[:, ::1] Z=None):
    """dZ = dA ⊙ f'(a) (softmax, log-softmax: their Jacobian-vector products);
    GELU needs its pre-activations ``Z``."""
    cdef const floating* pre = NULL
    if not (A.shape[0] == dA.shape[0] == dZ.shape[0]
            and A.shape[1] == dA.shape[1] == dZ.shape[1]):
        raise ValueError("activation_backward: A, dA and dZ differ in shape")
    if not has_gradient(act):
        raise ValueError("activation_backward: no gradient for activation code %d" % act)
    if act == GELU:
        if Z is None or Z.shape[0] != A.shape[0] or Z.shape[1] != A.shape[1]:
            raise ValueError("activation_backward: GELU needs Z, its pre-activations, of "
                             "A's shape")
    if A.shape[0] == 0 or A.shape[1] == 0:
        return
    if act == GELU:
        pre = &Z[0, 0]
    n_threads = _pick_threads(n_threads, A.shape[0] * A.shape[1], act)
    with nogil:
        activation_backward_impl(act, param, &A[0, 0], pre, &dA[0, 0], &dZ[0, 0],
                                 A.shape[0], A.shape[1], n_threads)
