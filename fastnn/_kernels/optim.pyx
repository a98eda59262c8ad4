"""Optimizer updates, in place over flat parameter buffers.

Design
------
``params``, ``grads`` and the optimizer state are 1-D, C-contiguous, of one
dtype; a model keeps all its weights and biases in one such buffer, so one
update is one pass over one array.  The conventions are PyTorch's
(``torch.optim.SGD`` and ``torch.optim.Adam``); with ``g = grads + weight_decay·params``
(L2 weight decay added to the gradient):

* gradient descent: ``params −= lr·g``
* momentum:  ``v = μ·v + g``; ``params −= lr·v``
* Nesterov:  ``v = μ·v + g``; ``params −= lr·(g + μ·v)``
* Adam (t ≥ 1): ``m = β₁m + (1−β₁)g``; ``v = β₂v + (1−β₂)g²``;
  ``params −= (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)``; with AMSGrad
  ``v̂ = max(v̂, v)`` takes v's place in the denominator
* AdamW (``torch.optim.AdamW``): ``params *= 1 − lr·λ`` (decoupled decay λ,
  g without it), then Adam (or AMSGrad) as above
* RMSprop (``torch.optim.RMSprop``, ρ = torch's alpha): ``s = ρs + (1−ρ)g²``;
  centered: ``ḡ = ρḡ + (1−ρ)g`` and ``d = √(s − ḡ²) + ε``, else ``d = √s + ε``;
  ``params −= lr·g/d``, or with momentum μ ``b = μb + g/d``; ``params −= lr·b``
* Adagrad (``torch.optim.Adagrad``): ``s += g²``;
  ``params −= (lr/(1 + (t−1)·lr_decay))·g / (√s + ε)``

Gradient clipping (``clip_impl``, before any of these): each element clamped
to [−clip_value, clip_value], then the whole gradient scaled by
min(1, clip_norm/(‖g‖₂ + 10⁻⁶)) (``torch.nn.utils.clip_grad_norm_``), ‖g‖
summed in double over 8 lanes in a fixed order on one thread.

scikit-learn's MLP optimizers (``sklearn.neural_network._stochastic_optimizers``)
are the same methods in another form, which differs from PyTorch's once the
learning rate changes between steps or ε matters; the ``sklearn_*`` rules
follow it exactly, for fastnn's MLPClassifier/MLPRegressor:

* momentum: ``u = μ·v − lr·g``; ``v = u``; ``params += u``
  (Nesterov: ``params += μ·u − lr·g``);
* Adam: m and v as above; ``lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)``;
  ``params += (−lr_t)·m / (√v + ε)``.

Scalar hyperparameters arrive as double, are combined in double exactly as the
reference combines its Python floats, and are rounded once to the buffer's
dtype, as NumPy does with a Python float and a float32 array; the per-element
operations then follow the reference's order, so results are bit-identical.

Plain gradient descent, the hot loop of small-batch training, runs through
``csrc/simd_loops.h``, scikit-learn's rules through ``csrc/sklearn_loops.h``, and
Adam, AdamW, AMSGrad, RMSprop, Adagrad and the clipping norm through
``csrc/optim_loops.h`` (compiled for AVX-512, AVX2 and the baseline, picked at
run time), since the portable build otherwise vectorises them 4 floats wide.

Parallel strategy: equal contiguous chunks of the buffer, one per OpenMP
thread; every element is independent, so any thread count gives the same
result.  Memory: the caller owns every buffer, updated in place.
"""
from cython.parallel cimport prange
from libc.math cimport sqrt, pow

from fastnn._kernels._parallel cimport GRAIN_ARITHMETIC, chunk_start, threads_for

include "_isa.pxi"

cdef extern from "simd_loops.h":
    void fastnn_descend_f32(float* p, const float* g, Py_ssize_t n, float lr) noexcept nogil
    void fastnn_descend_f64(double* p, const double* g, Py_ssize_t n, double lr) noexcept nogil

cdef extern from "sklearn_loops.h":
    void fastnn_sklearn_momentum_f32(float* p, const float* g, float* v, Py_ssize_t n,
                                     float lr, float mu, float wd, int nesterov) noexcept nogil
    void fastnn_sklearn_momentum_f64(double* p, const double* g, double* v, Py_ssize_t n,
                                     double lr, double mu, double wd,
                                     int nesterov) noexcept nogil
    void fastnn_sklearn_adam_f32(float* p, const float* g, float* m, float* v, Py_ssize_t n,
                                 float neg_lr, float b1, float c1, float b2, float c2,
                                 float eps, float wd) noexcept nogil
    void fastnn_sklearn_adam_f64(double* p, const double* g, double* m, double* v,
                                 Py_ssize_t n, double neg_lr, double b1, double c1,
                                 double b2, double c2, double eps, double wd) noexcept nogil
    double fastnn_sum_squares_f32(const float* x, Py_ssize_t n) noexcept nogil
    double fastnn_sum_squares_f64(const double* x, Py_ssize_t n) noexcept nogil

cdef extern from "optim_loops.h":
    void fastnn_adam_f32(float* p, const float* g, float* m, float* v, float* v_max,
                         Py_ssize_t n, float lr, float b1, float c1, float b2, float c2,
                         float sqrt_bc2, float eps, float wd, float decay) noexcept nogil
    void fastnn_adam_f64(double* p, const double* g, double* m, double* v, double* v_max,
                         Py_ssize_t n, double lr, double b1, double c1, double b2, double c2,
                         double sqrt_bc2, double eps, double wd, double decay) noexcept nogil
    void fastnn_rmsprop_f32(float* p, const float* g, float* s, float* b, float* gbar,
                            Py_ssize_t n, float lr, float rho, float c, float mu, float eps,
                            float wd) noexcept nogil
    void fastnn_rmsprop_f64(double* p, const double* g, double* s, double* b, double* gbar,
                            Py_ssize_t n, double lr, double rho, double c, double mu,
                            double eps, double wd) noexcept nogil
    void fastnn_adagrad_f32(float* p, const float* g, float* s, Py_ssize_t n, float lr,
                            float eps, float wd) noexcept nogil
    void fastnn_adagrad_f64(double* p, const double* g, double* s, Py_ssize_t n, double lr,
                            double eps, double wd) noexcept nogil
    double fastnn_sum_squares_wide_f32(const float* x, Py_ssize_t n) noexcept nogil
    double fastnn_sum_squares_wide_f64(const double* x, Py_ssize_t n) noexcept nogil

ctypedef enum _Rule:
    RULE_SGD
    RULE_MOMENTUM
    RULE_NESTEROV
    RULE_ADAM
    RULE_SKLEARN_MOMENTUM
    RULE_SKLEARN_NESTEROV
    RULE_SKLEARN_ADAM
    RULE_RMSPROP
    RULE_ADAGRAD


cdef void _update_range(_Rule rule, floating* params, const floating* grads,
                        floating* s1, floating* s2, floating* s3, Py_ssize_t start,
                        Py_ssize_t stop, floating lr, floating wd, floating mu, floating c1,
                        floating b2, floating c2, floating sqrt_bc2, floating eps,
                        floating decay) noexcept nogil:
    """One rule over params[start:stop].  s1, s2, s3: optimizer state (velocity;
    m, v, v̂; RMSprop's s, b, ḡ; Adagrad's s).  ``wd``: L2 decay added to g;
    ``decay``: AdamW's factor on params."""
    cdef Py_ssize_t i
    cdef floating g, zero = 0
    # One loop per rule, so that each is a straight vectorisable pass.
    if rule == RULE_SGD and wd == zero:
        if floating is float:
            fastnn_descend_f32(params + start, grads + start, stop - start, lr)
        else:
            fastnn_descend_f64(params + start, grads + start, stop - start, lr)
    elif rule == RULE_SGD:
        for i in range(start, stop):
            g = grads[i] + wd * params[i]
            params[i] = params[i] - lr * g
    elif rule == RULE_MOMENTUM:
        for i in range(start, stop):
            g = grads[i] + wd * params[i] if wd != zero else grads[i]
            s1[i] = s1[i] * mu + g
            params[i] = params[i] - lr * s1[i]
    elif rule == RULE_NESTEROV:
        for i in range(start, stop):
            g = grads[i] + wd * params[i] if wd != zero else grads[i]
            s1[i] = s1[i] * mu + g
            params[i] = params[i] - lr * (g + mu * s1[i])
    elif rule == RULE_SKLEARN_MOMENTUM or rule == RULE_SKLEARN_NESTEROV:
        if floating is float:
            fastnn_sklearn_momentum_f32(params + start, grads + start, s1 + start,
                                        stop - start, lr, mu, wd,
                                        rule == RULE_SKLEARN_NESTEROV)
        else:
            fastnn_sklearn_momentum_f64(params + start, grads + start, s1 + start,
                                        stop - start, lr, mu, wd,
                                        rule == RULE_SKLEARN_NESTEROV)
    elif rule == RULE_SKLEARN_ADAM:
        # mu = β₁, c1 = 1−β₁, b2 = β₂, c2 = 1−β₂, lr = −lr_t (see the module docstring)
        if floating is float:
            fastnn_sklearn_adam_f32(params + start, grads + start, s1 + start, s2 + start,
                                    stop - start, lr, mu, c1, b2, c2, eps, wd)
        else:
            fastnn_sklearn_adam_f64(params + start, grads + start, s1 + start, s2 + start,
                                    stop - start, lr, mu, c1, b2, c2, eps, wd)
    elif rule == RULE_ADAM:
        # Adam, AdamW (decay = 1 − lr·λ; 1 for Adam) and AMSGrad (s3 = v̂, else NULL):
        # mu = β₁, c1 = 1−β₁, b2 = β₂, c2 = 1−β₂, lr = lr/(1−β₁ᵗ)
        if floating is float:
            fastnn_adam_f32(params + start, grads + start, s1 + start, s2 + start,
                            s3 + start if s3 != NULL else NULL, stop - start, lr, mu, c1, b2,
                            c2, sqrt_bc2, eps, wd, decay)
        else:
            fastnn_adam_f64(params + start, grads + start, s1 + start, s2 + start,
                            s3 + start if s3 != NULL else NULL, stop - start, lr, mu, c1, b2,
                            c2, sqrt_bc2, eps, wd, decay)
    elif rule == RULE_RMSPROP:
        # s1 = s, s2 = b (NULL without momentum), s3 = ḡ (NULL unless centered);
        # b2 = ρ, c2 = 1−ρ, mu = μ
        if floating is float:
            fastnn_rmsprop_f32(params + start, grads + start, s1 + start,
                               s2 + start if s2 != NULL else NULL,
                               s3 + start if s3 != NULL else NULL, stop - start, lr, b2, c2,
                               mu, eps, wd)
        else:
            fastnn_rmsprop_f64(params + start, grads + start, s1 + start,
                               s2 + start if s2 != NULL else NULL,
                               s3 + start if s3 != NULL else NULL, stop - start, lr, b2, c2,
                               mu, eps, wd)
    else:
        # Adagrad: lr = lr/(1 + (t−1)·lr_decay); s1 = s
        if floating is float:
            fastnn_adagrad_f32(params + start, grads + start, s1 + start, stop - start, lr,
                               eps, wd)
        else:
            fastnn_adagrad_f64(params + start, grads + start, s1 + start, stop - start, lr,
                               eps, wd)


cdef void _update(_Rule rule, floating* params, const floating* grads, floating* s1,
                  floating* s2, floating* s3, Py_ssize_t n, floating lr, floating wd,
                  floating mu, floating c1, floating b2, floating c2, floating sqrt_bc2,
                  floating eps, floating decay, int n_threads) noexcept nogil:
    cdef int t
    cdef Py_ssize_t start, stop
    if n_threads <= 1:
        _update_range(rule, params, grads, s1, s2, s3, 0, n, lr, wd, mu, c1, b2, c2,
                      sqrt_bc2, eps, decay)
        return
    for t in prange(n_threads, num_threads=n_threads, schedule="static"):
        start = chunk_start(n, n_threads, t)
        stop = chunk_start(n, n_threads, t + 1)
        _update_range(rule, params, grads, s1, s2, s3, start, stop, lr, wd, mu, c1, b2,
                      c2, sqrt_bc2, eps, decay)


cdef void sgd_update_impl(floating* params, const floating* grads, Py_ssize_t n,
                          double lr, double weight_decay, int n_threads) noexcept nogil:
    _update(RULE_SGD, params, grads, <floating*>NULL, <floating*>NULL, <floating*>NULL, n,
            <floating>lr, <floating>weight_decay, 0, 0, 0, 0, 1, 0, 1, n_threads)


cdef void momentum_update_impl(floating* params, const floating* grads,
                               floating* velocity, Py_ssize_t n, double lr,
                               double momentum, bint nesterov, double weight_decay,
                               int n_threads) noexcept nogil:
    _update(RULE_NESTEROV if nesterov else RULE_MOMENTUM, params, grads, velocity,
            <floating*>NULL, <floating*>NULL, n, <floating>lr, <floating>weight_decay,
            <floating>momentum, 0, 0, 0, 1, 0, 1, n_threads)


cdef void adam_update_impl(floating* params, const floating* grads, floating* m,
                           floating* v, floating* v_max, Py_ssize_t n, long long step,
                           double lr, double beta1, double beta2, double eps,
                           double weight_decay, int n_threads) noexcept nogil:
    """Adam with L2 weight decay; AMSGrad when ``v_max`` is not NULL."""
    cdef double bias1 = 1 - pow(beta1, <double>step)
    cdef double bias2 = 1 - pow(beta2, <double>step)
    _update(RULE_ADAM, params, grads, m, v, v_max, n, <floating>(lr / bias1),
            <floating>weight_decay, <floating>beta1, <floating>(1 - beta1), <floating>beta2,
            <floating>(1 - beta2), <floating>sqrt(bias2), <floating>eps, 1, n_threads)


cdef void adamw_update_impl(floating* params, const floating* grads, floating* m,
                            floating* v, floating* v_max, Py_ssize_t n, long long step,
                            double lr, double beta1, double beta2, double eps,
                            double weight_decay, double l2_decay,
                            int n_threads) noexcept nogil:
    """AdamW: params *= 1 − lr·weight_decay, then Adam on g = grads + l2_decay·params
    (l2_decay: the training loop's L2 penalty, else 0); AMSGrad when ``v_max``
    is not NULL."""
    cdef double bias1 = 1 - pow(beta1, <double>step)
    cdef double bias2 = 1 - pow(beta2, <double>step)
    _update(RULE_ADAM, params, grads, m, v, v_max, n, <floating>(lr / bias1),
            <floating>l2_decay, <floating>beta1, <floating>(1 - beta1), <floating>beta2,
            <floating>(1 - beta2), <floating>sqrt(bias2), <floating>eps,
            <floating>(1 - lr * weight_decay), n_threads)


cdef void rmsprop_update_impl(floating* params, const floating* grads,
                              floating* square_avg, floating* momentum_buffer,
                              floating* grad_avg, Py_ssize_t n, double lr, double rho,
                              double eps, double weight_decay, double momentum,
                              int n_threads) noexcept nogil:
    """RMSprop; ``momentum_buffer`` is used when momentum > 0, centered when
    ``grad_avg`` is not NULL."""
    _update(RULE_RMSPROP, params, grads, square_avg,
            momentum_buffer if momentum > 0 else NULL, grad_avg, n, <floating>lr,
            <floating>weight_decay, <floating>momentum, 0, <floating>rho,
            <floating>(1 - rho), 1, <floating>eps, 1, n_threads)


cdef void adagrad_update_impl(floating* params, const floating* grads, floating* state_sum,
                              Py_ssize_t n, long long step, double lr, double lr_decay,
                              double eps, double weight_decay, int n_threads) noexcept nogil:
    """Adagrad, step t ≥ 1 (the rate lr/(1 + (t−1)·lr_decay))."""
    _update(RULE_ADAGRAD, params, grads, state_sum, <floating*>NULL, <floating*>NULL, n,
            <floating>(lr / (1 + (step - 1) * lr_decay)), <floating>weight_decay, 0, 0, 0,
            0, 1, <floating>eps, 1, n_threads)


cdef double clip_impl(floating* grads, Py_ssize_t n, double clip_value,
                      double clip_norm) noexcept nogil:
    """Clip grads[0:n] in place: clamp each element to [−clip_value, clip_value]
    (when clip_value > 0), then scale all by min(1, clip_norm/(‖g‖₂ + 10⁻⁶)) (when
    clip_norm > 0).  Returns ‖g‖₂ after the clamp (0 without clip_norm).  One
    thread, a fixed order: the same bits whatever the thread count."""
    cdef Py_ssize_t i
    cdef floating c = <floating>clip_value, lo = -c, x
    cdef double norm = 0, scale
    cdef floating f
    if clip_value > 0:
        for i in range(n):
            x = grads[i]
            x = lo if x < lo else x
            grads[i] = c if x > c else x
    if clip_norm > 0:
        if floating is float:
            norm = sqrt(fastnn_sum_squares_wide_f32(grads, n))
        else:
            norm = sqrt(fastnn_sum_squares_wide_f64(grads, n))
        scale = clip_norm / (norm + 1e-6)
        if scale < 1:
            f = <floating>scale
            for i in range(n):
                grads[i] = grads[i] * f
    return norm


cdef void sklearn_momentum_update_impl(floating* params, const floating* grads,
                                       floating* velocity, Py_ssize_t n, double lr,
                                       double momentum, bint nesterov,
                                       double weight_decay, int n_threads) noexcept nogil:
    _update(RULE_SKLEARN_NESTEROV if nesterov else RULE_SKLEARN_MOMENTUM, params, grads,
            velocity, <floating*>NULL, <floating*>NULL, n, <floating>lr,
            <floating>weight_decay, <floating>momentum, 0, 0, 0, 1, 0, 1, n_threads)


cdef void sklearn_adam_update_impl(floating* params, const floating* grads, floating* m,
                                   floating* v, Py_ssize_t n, long long step, double lr,
                                   double beta1, double beta2, double eps,
                                   double weight_decay, int n_threads) noexcept nogil:
    # scikit-learn: learning_rate_init * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    cdef double lr_t = lr * sqrt(1 - pow(beta2, <double>step)) / (1 - pow(beta1, <double>step))
    _update(RULE_SKLEARN_ADAM, params, grads, m, v, <floating*>NULL, n, <floating>(-lr_t),
            <floating>weight_decay, <floating>beta1, <floating>(1 - beta1),
            <floating>beta2, <floating>(1 - beta2), 1, <floating>eps, 1, n_threads)


cdef double sum_squares_impl(const floating* x, Py_ssize_t n) noexcept nogil:
    """Σ x², for the L2 penalty: 16 partial sums in a fixed order (csrc/sklearn_loops.h)."""
    if floating is float:
        return fastnn_sum_squares_f32(x, n)
    else:
        return fastnn_sum_squares_f64(x, n)


# --- Python entry points (called by fastnn.kernels after validation) ---------

cdef inline int _pick_threads(int n_threads, Py_ssize_t n) noexcept nogil:
    return n_threads if n_threads > 0 else threads_for(n, GRAIN_ARITHMETIC)


cdef inline void _same_length(Py_ssize_t n, Py_ssize_t other, str name) except *:
    if other != n:
        raise ValueError("optim: %s differs in length from params" % name)


cdef void _check_adam(str kernel, Py_ssize_t n, Py_ssize_t grads, Py_ssize_t m, Py_ssize_t v,
                      object v_max, long long step) except *:
    """The checks of Adam's and AdamW's arguments (``v_max``: None or its length)."""
    _same_length(n, grads, "grads")
    _same_length(n, m, "m")
    _same_length(n, v, "v")
    if v_max is not None:
        _same_length(n, v_max, "v_max")
    if step < 1:
        raise ValueError("%s: step counts from 1, got %d" % (kernel, step))


def sgd_update(floating[::1] params, const floating[::1] grads, double lr,
               double weight_decay=0.0, int n_threads=0):
    """params −= lr·(grads + weight_decay·params)."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    if n == 0:
        return
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        sgd_update_impl(&params[0], &grads[0], n, lr, weight_decay, n_threads)


def momentum_update(floating[::1] params, const floating[::1] grads,
                    floating[::1] velocity, double lr, double momentum,
                    bint nesterov=False, double weight_decay=0.0, int n_threads=0):
    """Heavy-ball or Nesterov momentum step (PyTorch convention)."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    _same_length(n, velocity.shape[0], "velocity")
    if n == 0:
        return
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        momentum_update_impl(&params[0], &grads[0], &velocity[0], n, lr, momentum,
                             nesterov, weight_decay, n_threads)


def adam_update(floating[::1] params, const floating[::1] grads, floating[::1] m,
                floating[::1] v, long long step, double lr, double beta1, double beta2,
                double eps, double weight_decay=0.0, int n_threads=0,
                floating[::1] v_max=None):
    """One Adam step (PyTorch convention); ``step`` counts from 1.  With ``v_max``
    (the running maximum of v), AMSGrad."""
    cdef Py_ssize_t n = params.shape[0]
    _check_adam("adam_update", n, grads.shape[0], m.shape[0], v.shape[0],
                None if v_max is None else v_max.shape[0], step)
    if n == 0:
        return
    cdef floating* vm = &v_max[0] if v_max is not None else NULL
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        adam_update_impl(&params[0], &grads[0], &m[0], &v[0], vm, n, step, lr, beta1,
                         beta2, eps, weight_decay, n_threads)


def adamw_update(floating[::1] params, const floating[::1] grads, floating[::1] m,
                 floating[::1] v, long long step, double lr, double beta1, double beta2,
                 double eps, double weight_decay=0.01, floating[::1] v_max=None,
                 int n_threads=0):
    """One AdamW step (``torch.optim.AdamW``: params *= 1 − lr·weight_decay, then
    Adam without L2 decay); ``step`` counts from 1.  With ``v_max``, AMSGrad."""
    cdef Py_ssize_t n = params.shape[0]
    _check_adam("adamw_update", n, grads.shape[0], m.shape[0], v.shape[0],
                None if v_max is None else v_max.shape[0], step)
    if n == 0:
        return
    cdef floating* vm = &v_max[0] if v_max is not None else NULL
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        adamw_update_impl(&params[0], &grads[0], &m[0], &v[0], vm, n, step, lr, beta1,
                          beta2, eps, weight_decay, 0.0, n_threads)


def rmsprop_update(floating[::1] params, const floating[::1] grads,
                   floating[::1] square_avg, double lr, double rho, double eps,
                   double weight_decay=0.0, double momentum=0.0,
                   floating[::1] momentum_buffer=None, floating[::1] grad_avg=None,
                   int n_threads=0):
    """One RMSprop step (``torch.optim.RMSprop`` with alpha = ``rho``); momentum > 0
    needs ``momentum_buffer``; with ``grad_avg``, centered."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    _same_length(n, square_avg.shape[0], "square_avg")
    if momentum > 0:
        if momentum_buffer is None:
            raise ValueError("rmsprop_update: momentum > 0 needs momentum_buffer")
        _same_length(n, momentum_buffer.shape[0], "momentum_buffer")
    if grad_avg is not None:
        _same_length(n, grad_avg.shape[0], "grad_avg")
    if n == 0:
        return
    cdef floating* b = &momentum_buffer[0] if momentum > 0 else NULL
    cdef floating* ga = &grad_avg[0] if grad_avg is not None else NULL
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        rmsprop_update_impl(&params[0], &grads[0], &square_avg[0], b, ga, n, lr, rho, eps,
                            weight_decay, momentum, n_threads)


def adagrad_update(floating[::1] params, const floating[::1] grads,
                   floating[::1] state_sum, long long step, double lr,
                   double lr_decay=0.0, double eps=1e-10, double weight_decay=0.0,
                   int n_threads=0):
    """One Adagrad step (``torch.optim.Adagrad``); ``step`` counts from 1."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    _same_length(n, state_sum.shape[0], "state_sum")
    if step < 1:
        raise ValueError("adagrad_update: step counts from 1, got %d" % step)
    if n == 0:
        return
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        adagrad_update_impl(&params[0], &grads[0], &state_sum[0], n, step, lr, lr_decay,
                            eps, weight_decay, n_threads)


def clip_gradients(floating[::1] grads, double clip_value=0.0, double clip_norm=0.0):
    """Clip ``grads`` in place (value clamp, then global L2 norm; 0: off) and
    return the norm the norm clipping saw (0.0 without it).  One thread."""
    cdef Py_ssize_t n = grads.shape[0]
    cdef double norm
    if not (clip_value >= 0 and clip_norm >= 0):
        raise ValueError("clip_gradients: clip_value and clip_norm must be >= 0 (0: off)")
    if n == 0:
        return 0.0
    with nogil:
        norm = clip_impl(&grads[0], n, clip_value, clip_norm)
    return norm


def sklearn_momentum_update(floating[::1] params, const floating[::1] grads,
                            floating[::1] velocity, double lr, double momentum,
                            bint nesterov=True, double weight_decay=0.0, int n_threads=0):
    """Momentum or Nesterov step in scikit-learn's form (velocity holds −lr·Σ…)."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    _same_length(n, velocity.shape[0], "velocity")
    if n == 0:
        return
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        sklearn_momentum_update_impl(&params[0], &grads[0], &velocity[0], n, lr, momentum,
                                     nesterov, weight_decay, n_threads)


def sklearn_adam_update(floating[::1] params, const floating[::1] grads, floating[::1] m,
                        floating[::1] v, long long step, double lr, double beta1,
                        double beta2, double eps, double weight_decay=0.0, int n_threads=0):
    """One Adam step in scikit-learn's form (ε outside the bias correction); ``step`` ≥ 1."""
    cdef Py_ssize_t n = params.shape[0]
    _same_length(n, grads.shape[0], "grads")
    _same_length(n, m.shape[0], "m")
    _same_length(n, v.shape[0], "v")
    if step < 1:
        raise ValueError("sklearn_adam_update: step counts from 1, got %d" % step)
    if n == 0:
        return
    n_threads = _pick_threads(n_threads, n)
    with nogil:
        sklearn_adam_update_impl(&params[0], &grads[0], &m[0], &v[0], n, step, lr, beta1,
                                 beta2, eps, weight_decay, n_threads)
