"""The training loop in compiled code: whole runs of mini-batches without Python.

Design
------
A network of L dense layers with sizes s₀ (inputs) … s_L (outputs) lives in a
few flat buffers that the Python model allocates once per fit and owns:

* ``params`` and ``grads`` (n_params,): for each layer, W (s_{l-1} × s_l,
  row-major) then b (s_l), at offsets ``w_off[l]`` and ``b_off[l]``;
* ``acts`` (batch_size × Σ_{l=0..L} s_l): the activations A_l of every layer
  for one batch, A_0 being the gathered input rows, at ``batch_size·a_off[l]``;
* ``deltas`` (batch_size × Σ_{l=1..L} s_l): dL/dA_l, turned into dL/dZ_l in
  place by the backward pass, at ``batch_size·d_off[l]``;
* ``y_batch`` (batch_size × s_L): the gathered targets;
* the optimizer's state (velocity, or Adam's m and v), shaped like params;
* optionally per-sample weights (n_samples,), gathered per batch into
  ``w_batch``: the loss and its delta become weighted means (losses.pyx).

An L2 penalty ``l2`` (scikit-learn's ``alpha``) acts on the weights W only,
never on the biases, scaled by the batch's weight sum Σw (its row count
without weights), as scikit-learn's MLP does: the loss gains
``½·l2·Σ‖W‖²/Σw`` and each W's gradient ``l2·W/Σw``.  In ``train_samples`` it
is applied inside the optimizer update (as a per-layer weight decay on the W
segments, the b segments getting none), and the penalty values are summed
separately from the data loss; ``gradients`` adds it to ``grads``.

``train_samples`` runs the samples ``order[start:stop]`` in batches of
``batch_size`` (the last one may be shorter, using the first rows of each
buffer): gather rows, forward through every layer, loss and output delta,
backward, and one optimizer update of the whole flat buffer, all inside one
``nogil`` block.  Plain gradient descent (no momentum, no weight decay) is
applied layer by layer during the backward pass instead, each layer's step
taken right after its gradient is computed, while it is in cache; the
arithmetic is the same as the separate update's.  At batch size 1 the first
layer goes further (``input_spare`` given, ``step_forward_exact``): its W step
for sample t is deferred and taken in the same pass over W as sample t+1's
product with it (``_blas.step_forward``), so W, the one large operand, is
read and written once per sample instead of read, then read and written.
The gathered inputs alternate between two buffers (A_0 and ``input_spare``)
so that sample t's row survives until then, layer 1's dL/dZ stays in
``deltas``, and the last deferred step is taken when the run ends: the same
bits as without the deferral.  The Python model calls it once per epoch, or once per chunk
of batches when it shows a progress bar.

Parallel strategy: only the matrix products are threaded (the packed kernel's
OpenMP team for large float32 products, BLAS's own threads for large float64
ones; see _blas.pyx); everything else (bias and activation passes, loss,
column sums, the optimizer update) runs on the calling thread.  A step
alternates products and elementwise passes every few microseconds, and two
thread pools spinning on the same cores (BLAS's pthreads and an OpenMP team)
collapse throughput: measured here, 784-128-64-10 at batch 256 trained at
4,400 samples/s with both pools on 2 threads against 143,000 with one thread.
So only one pool is ever used within a step.  Results are the same
for any thread count because every kernel's are.  Nothing is allocated per
batch.
"""
from cython cimport floating
import numpy as np
from libc.string cimport memcpy

from fastnn._kernels._blas cimport gemm, step_forward, step_forward_exact
from fastnn._kernels._finite cimport values_finite
from fastnn._kernels.activations cimport (
    IDENTITY, SOFTMAX, STEP, activation_forward_impl)
from fastnn._kernels.dense cimport (
    dense_backward_impl, dense_backward_sgd_impl, dense_forward_impl)
from fastnn._kernels.losses cimport loss_delta_impl, weight_sum
from fastnn._kernels.optim cimport (
    adam_update_impl, momentum_update_impl, sgd_update_impl, sklearn_adam_update_impl,
    sklearn_momentum_update_impl, sum_squares_impl)

class NonFiniteBatch(ValueError):
    """Raised by ``train_samples(check_finite=True)`` when a gathered batch holds
    NaN or infinity; ``row`` is the first such row of X.  The batch was not
    trained on; the batches before it were."""

    def __init__(self, row):
        super().__init__("X row %d holds NaN or infinity" % row)
        self.row = row


cdef enum:
    ELEMENTWISE_THREADS = 1   # see "Parallel strategy" above
    RULE_GD = 0
    RULE_MOMENTUM = 1
    RULE_ADAM = 2
    RULE_SKLEARN_MOMENTUM = 3   # scikit-learn's momentum/Nesterov form (optim.pyx)
    RULE_SKLEARN_ADAM = 4       # scikit-learn's Adam form (optim.pyx)


cdef Py_ssize_t _count_correct(const floating* A, const floating* Y, Py_ssize_t n,
                               Py_ssize_t k) noexcept nogil:
    """Rows whose predicted class matches the target's (argmax, or a 0.5 threshold)."""
    cdef Py_ssize_t i, j, best_a, best_y, correct = 0
    cdef floating half = 0.5
    for i in range(n):
        if k == 1:
            correct += (A[i] > half) == (Y[i] > half)
            continue
        best_a = 0
        best_y = 0
        for j in range(1, k):
            if A[i * k + j] > A[i * k + best_a]:
                best_a = j
            if Y[i * k + j] > Y[i * k + best_y]:
                best_y = j
        correct += best_a == best_y
    return correct


cdef double _weights_squared(const floating* params, Py_ssize_t n_layers,
                             const Py_ssize_t* w_off, const Py_ssize_t* b_off) noexcept nogil:
    """Σ over layers of ‖W‖² (biases excluded)."""
    cdef Py_ssize_t l
    cdef double total = 0
    for l in range(n_layers):
        total += sum_squares_impl(params + w_off[l], b_off[l] - w_off[l])
    return total


cdef void _update_range(int rule, floating* params, const floating* grads, floating* s1,
                        floating* s2, Py_ssize_t start, Py_ssize_t stop, double lr,
                        double momentum, bint nesterov, double beta1, double beta2,
                        double eps, double weight_decay, long long t) noexcept nogil:
    """One optimizer step over params[start:stop] (and the same range of the state)."""
    cdef Py_ssize_t n = stop - start
    cdef floating* m1 = s1 + start if s1 != NULL else NULL
    cdef floating* m2 = s2 + start if s2 != NULL else NULL
    if rule == RULE_GD:
        sgd_update_impl(params + start, grads + start, n, lr, weight_decay,
                        ELEMENTWISE_THREADS)
    elif rule == RULE_MOMENTUM:
        momentum_update_impl(params + start, grads + start, m1, n, lr, momentum, nesterov,
                             weight_decay, ELEMENTWISE_THREADS)
    elif rule == RULE_ADAM:
        adam_update_impl(params + start, grads + start, m1, m2, n, t, lr, beta1, beta2, eps,
                         weight_decay, ELEMENTWISE_THREADS)
    elif rule == RULE_SKLEARN_MOMENTUM:
        sklearn_momentum_update_impl(params + start, grads + start, m1, n, lr, momentum,
                                     nesterov, weight_decay, ELEMENTWISE_THREADS)
    else:
        sklearn_adam_update_impl(params + start, grads + start, m1, m2, n, t, lr, beta1,
                                 beta2, eps, weight_decay, ELEMENTWISE_THREADS)


cdef double _forward_backward(floating* params, floating* grads, floating* acts,
                              const floating* A0, floating* deltas, const floating* y_batch,
                              const floating* w_batch,
                              Py_ssize_t n, Py_ssize_t batch_size, Py_ssize_t n_layers,
                              const Py_ssize_t* sizes, const int* act_codes, int loss,
                              const Py_ssize_t* w_off, const Py_ssize_t* b_off,
                              const Py_ssize_t* a_off, const Py_ssize_t* d_off,
                              Py_ssize_t* correct, double fused_lr,
                              const floating* x_prev, bint defer_first) noexcept nogil:
    """Forward and backward for one batch of n rows, the inputs at A0.

    It fills grads.  With ``fused_lr`` > 0 it also takes a plain
    gradient-descent step of that size, layer by layer as the backward pass
    goes (``dense_backward_sgd_impl``), while each layer's gradient is in cache.
    Batch-1 fusion (train_samples): with ``defer_first`` the first layer's W
    step is left pending; with ``x_prev`` (the previous sample's input) the
    pending step, from x_prev and the layer-1 dL/dZ still in ``deltas``, is
    taken in the same pass over W as this sample's first product.
    """
    cdef Py_ssize_t l, s_in, s_out
    cdef const floating* A_in
    cdef floating* A_out
    cdef double value
    for l in range(1, n_layers + 1):
        s_in, s_out = sizes[l - 1], sizes[l]
        A_in = A0 if l == 1 else acts + batch_size * a_off[l - 1]
        A_out = acts + batch_size * a_off[l]
        if l == 1 and x_prev != NULL:
            step_forward(<int>s_in, <int>s_out, x_prev, deltas + batch_size * d_off[1],
                         <floating>(-fused_lr), A0, params + w_off[0], A_out)
            activation_forward_impl(act_codes[0], A_out, params + b_off[0], A_out, n, s_out,
                                    ELEMENTWISE_THREADS)
        else:
            dense_forward_impl(A_in, params + w_off[l - 1], params + b_off[l - 1],
                               act_codes[l - 1], A_out, n, s_in, s_out, ELEMENTWISE_THREADS)
    A_out = acts + batch_size * a_off[n_layers]
    s_out = sizes[n_layers]
    value = loss_delta_impl(loss, act_codes[n_layers - 1], A_out, y_batch, w_batch,
                            deltas + batch_size * d_off[n_layers], n, s_out,
                            ELEMENTWISE_THREADS)
    if correct != NULL:
        correct[0] += _count_correct(A_out, y_batch, n, s_out)
    for l in range(n_layers, 0, -1):
        s_in, s_out = sizes[l - 1], sizes[l]
        A_in = A0 if l == 1 else acts + batch_size * a_off[l - 1]
        # The output layer's delta is already dL/dZ, hence IDENTITY there.
        if fused_lr > 0:
            dense_backward_sgd_impl(
                A_in, params + w_off[l - 1],
                params + b_off[l - 1], acts + batch_size * a_off[l],
                deltas + batch_size * d_off[l],
                IDENTITY if l == n_layers else act_codes[l - 1],
                deltas + batch_size * d_off[l], grads + w_off[l - 1], grads + b_off[l - 1],
                deltas + batch_size * d_off[l - 1] if l > 1 else NULL,
                n, s_in, s_out, fused_lr, ELEMENTWISE_THREADS, not (l == 1 and defer_first))
        else:
            dense_backward_impl(
                A_in, params + w_off[l - 1],
                acts + batch_size * a_off[l], deltas + batch_size * d_off[l],
                IDENTITY if l == n_layers else act_codes[l - 1],
                deltas + batch_size * d_off[l], grads + w_off[l - 1], grads + b_off[l - 1],
                deltas + batch_size * d_off[l - 1] if l > 1 else NULL,
                n, s_in, s_out, ELEMENTWISE_THREADS)
    return value


def train_samples(const floating[:, ::1] X, const floating[:, ::1] Y,
                  const Py_ssize_t[::1] order, Py_ssize_t start, Py_ssize_t stop,
                  Py_ssize_t batch_size, const Py_ssize_t[::1] sizes,
                  const int[::1] act_codes, int loss,
                  floating[::1] params, floating[::1] grads, floating[::1] acts,
                  floating[::1] deltas, floating[::1] y_batch,
                  const Py_ssize_t[::1] w_off, const Py_ssize_t[::1] b_off,
                  const Py_ssize_t[::1] a_off, const Py_ssize_t[::1] d_off,
                  int rule, double lr, double momentum, bint nesterov, double beta1,
                  double beta2, double eps, double weight_decay,
                  floating[::1] state1, floating[::1] state2, long long t,
                  const floating[::1] sample_weight=None, double l2=0.0,
                  floating[::1] input_spare=None, bint check_finite=False):
    """Train on samples order[start:stop] in batches.

    Returns (loss sum, correct, t, penalty sum).  The loss sum is Σ over
    batches of (mean batch loss × batch rows), so the caller divides by the
    number of samples for the epoch's mean; the penalty sum is the same for
    the L2 penalty ``½·l2·Σ‖W‖²/Σw`` of each batch (0 when ``l2`` is 0).  ``t``
    is the optimizer's step count after the last batch.  ``rule``: 0 gradient
    descent, 1 momentum, 2 Adam (PyTorch's forms), 3 momentum and 4 Adam in
    scikit-learn's forms (optim.pyx).  ``sample_weight`` (n_samples,) or None.
    ``input_spare`` (at least n_in values) or None: the second input buffer of
    the batch-1 fusion (see the design notes), used when it applies.
    ``check_finite``: scan each gathered batch of inputs, while it is in cache,
    before training on it; at the first NaN or infinity the run stops and
    ``NonFiniteBatch`` is raised (after the compiled loop has returned).  A
    first epoch visits every row, so this replaces the boundary's separate
    pass over X (fastnn.model decides when, and undoes the partial run).  The caller (fastnn.model)
    validates every argument and owns every buffer; this function checks only
    what keeps memory accesses in bounds.
    """
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1
    cdef Py_ssize_t n_in = X.shape[1], n_out = Y.shape[1], n_params = params.shape[0]
    cdef Py_ssize_t pos, n, r, row, l, correct = 0, bad_pos = -1
    cdef double total = 0.0, penalty = 0.0, sw, wd_l2
    cdef floating* A0
    cdef floating* s1 = &state1[0] if state1.shape[0] > 0 else NULL
    cdef floating* s2 = &state2[0] if state2.shape[0] > 0 else NULL
    cdef floating* wb = NULL
    cdef floating[::1] w_batch
    cdef bint adam, defer
    cdef floating* inputs[2]
    cdef const floating* x_prev = NULL
    cdef int cur = 0
    # Plain gradient descent is fused into the backward pass (see _forward_backward).
    cdef double fused_lr = lr if rule == RULE_GD and weight_decay == 0 and l2 == 0 else 0
    if not RULE_GD <= rule <= RULE_SKLEARN_ADAM:
        raise ValueError("train_samples: unknown optimizer rule %d" % rule)
    if l2 < 0:
        raise ValueError("train_samples: l2 must be >= 0, got %r" % l2)
    if sample_weight is not None:
        if sample_weight.shape[0] != X.shape[0]:
            raise ValueError("train_samples: sample_weight has %d entries for %d samples"
                             % (sample_weight.shape[0], X.shape[0]))
        w_batch = np.empty(batch_size, dtype=np.float32 if floating is float else np.float64)
        wb = &w_batch[0]
    _check_layout(X.shape[0], Y.shape[0], n_in, n_out, order, start, stop, batch_size,
                  sizes, act_codes, n_params, grads.shape[0], acts.shape[0],
                  deltas.shape[0], y_batch.shape[0], w_off, b_off, a_off, d_off)
    adam = rule == RULE_ADAM or rule == RULE_SKLEARN_ADAM
    if rule != RULE_GD and s1 == NULL or adam and s2 == NULL:
        raise ValueError("train_samples: optimizer state missing")
    if rule != RULE_GD and (state1.shape[0] != n_params
                            or adam and state2.shape[0] != n_params):
        raise ValueError("train_samples: optimizer state differs in size from params")
    defer = (fused_lr > 0 and batch_size == 1 and input_spare is not None
             and input_spare.shape[0] >= n_in
             and step_forward_exact(<int>n_in, <int>sizes[1], floating is double))
    inputs[0] = &acts[0]
    inputs[1] = NULL
    if defer:
        inputs[1] = &input_spare[0]
    with nogil:
        pos = start
        while pos < stop:
            n = batch_size if stop - pos > batch_size else stop - pos
            A0 = inputs[cur]
            for r in range(n):
                row = order[pos + r]
                memcpy(A0 + r * n_in, &X[row, 0], n_in * sizeof(floating))
                memcpy(&y_batch[r * n_out], &Y[row, 0], n_out * sizeof(floating))
                if wb != NULL:
                    wb[r] = sample_weight[row]
            if check_finite and not values_finite(A0, n * n_in):
                bad_pos = pos
                break
            total += n * _forward_backward(
                &params[0], &grads[0], &acts[0], A0, &deltas[0], &y_batch[0], wb, n,
                batch_size, n_layers, &sizes[0], &act_codes[0], loss, &w_off[0], &b_off[0],
                &a_off[0], &d_off[0], &correct, fused_lr, x_prev, defer)
            if defer:
                x_prev = A0
                cur = 1 - cur
            t += 1
            if fused_lr > 0:
                pass                   # the step was taken during the backward pass
            elif l2 == 0:
                _update_range(rule, &params[0], &grads[0], s1, s2, 0, n_params, lr,
                              momentum, nesterov, beta1, beta2, eps, weight_decay, t)
            else:
                # The penalty of the weights this batch was computed with, then
                # the step: weight decay l2/Σw on each W, none on each b.
                sw = weight_sum(wb, n)
                penalty += n * ((0.5 * l2) * _weights_squared(&params[0], n_layers,
                                                             &w_off[0], &b_off[0]) / sw)
                wd_l2 = l2 / sw
                for l in range(n_layers):
                    _update_range(rule, &params[0], &grads[0], s1, s2, w_off[l], b_off[l],
                                  lr, momentum, nesterov, beta1, beta2, eps,
                                  weight_decay + wd_l2, t)
                    _update_range(rule, &params[0], &grads[0], s1, s2, b_off[l],
                                  b_off[l] + sizes[l + 1], lr, momentum, nesterov, beta1,
                                  beta2, eps, weight_decay, t)
            pos += n
        if x_prev != NULL:
            # The last sample's deferred first-layer step, as the fused pass takes it.
            gemm(True, False, <int>n_in, <int>sizes[1], 1, <floating>(-fused_lr), x_prev,
                 <int>n_in, &deltas[0] + batch_size * d_off[1], <int>sizes[1], <floating>1,
                 &params[0] + w_off[0], <int>sizes[1])
    if bad_pos >= 0:
        for r in range(bad_pos, min(bad_pos + batch_size, stop)):
            if not np.isfinite(X[order[r]]).all():
                raise NonFiniteBatch(order[r])
    return total, correct, t, penalty


def gradients(const floating[:, ::1] X, const floating[:, ::1] Y,
              const Py_ssize_t[::1] sizes, const int[::1] act_codes, int loss,
              floating[::1] params, floating[::1] grads, floating[::1] acts,
              floating[::1] deltas, const Py_ssize_t[::1] w_off,
              const Py_ssize_t[::1] b_off, const Py_ssize_t[::1] a_off,
              const Py_ssize_t[::1] d_off, const floating[::1] sample_weight=None,
              double l2=0.0):
    """Gradient of the mean loss over all of X (one batch) into grads; return the loss.

    ``acts`` and ``deltas`` are sized for batch_size = X.shape[0]; the first
    layer reads X in place (A_0 in ``acts`` is left unused).  With ``sample_weight``
    (n_samples,) the loss is the weighted mean; with ``l2`` > 0 each W's
    gradient gains ``l2·W/Σw`` (the returned value is the data loss only: the
    caller adds the penalty ``½·l2·Σ‖W‖²/Σw``).
    """
    cdef Py_ssize_t n = X.shape[0], n_layers = sizes.shape[0] - 1, l, i
    cdef double value
    cdef const floating* w = NULL
    cdef floating c
    if l2 < 0:
        raise ValueError("gradients: l2 must be >= 0, got %r" % l2)
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("gradients: sample_weight has %d entries for %d samples"
                             % (sample_weight.shape[0], n))
        w = &sample_weight[0]
    _check_layout(n, Y.shape[0], X.shape[1], Y.shape[1], None, 0, n, n, sizes, act_codes,
                  params.shape[0], grads.shape[0], acts.shape[0], deltas.shape[0],
                  Y.shape[0] * Y.shape[1], w_off, b_off, a_off, d_off)
    with nogil:
        value = _forward_backward(&params[0], &grads[0], &acts[0], &X[0, 0], &deltas[0],
                                  &Y[0, 0], w, n, n, n_layers, &sizes[0], &act_codes[0],
                                  loss, &w_off[0], &b_off[0], &a_off[0], &d_off[0], NULL, 0,
                                  NULL, False)
        if l2 > 0:
            c = <floating>(l2 / weight_sum(w, n))
            for l in range(n_layers):
                for i in range(w_off[l], b_off[l]):
                    grads[i] = grads[i] + c * params[i]
    return value


def predict(const floating[:, ::1] X, const Py_ssize_t[::1] sizes,
            const int[::1] act_codes, floating[::1] params, floating[::1] acts,
            const Py_ssize_t[::1] w_off, const Py_ssize_t[::1] b_off,
            const Py_ssize_t[::1] a_off, Py_ssize_t batch_size, floating[:, ::1] out):
    """Forward X through the network, ``batch_size`` rows at a time, into out."""
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1, n_rows = X.shape[0]
    cdef Py_ssize_t pos = 0, n, l
    cdef const floating* A_in
    cdef floating* A_out
    _check_layout(n_rows, out.shape[0], X.shape[1], out.shape[1], None, 0, n_rows,
                  batch_size, sizes, act_codes, params.shape[0], params.shape[0],
                  acts.shape[0], -1, -1, w_off, b_off, a_off, None, STEP)
    with nogil:
        while pos < n_rows:
            n = batch_size if n_rows - pos > batch_size else n_rows - pos
            for l in range(1, n_layers + 1):
                # The first layer reads X in place; the last writes into out.
                A_in = &X[pos, 0] if l == 1 else &acts[0] + batch_size * a_off[l - 1]
                A_out = &out[pos, 0] if l == n_layers else &acts[0] + batch_size * a_off[l]
                dense_forward_impl(A_in, &params[0] + w_off[l - 1], &params[0] + b_off[l - 1],
                                   act_codes[l - 1], A_out, n, sizes[l - 1], sizes[l],
                                   ELEMENTWISE_THREADS)
            pos += n


cdef void _check_layout(Py_ssize_t n_x, Py_ssize_t n_y, Py_ssize_t n_in, Py_ssize_t n_out,
                        const Py_ssize_t[::1] order, Py_ssize_t start, Py_ssize_t stop,
                        Py_ssize_t batch_size, const Py_ssize_t[::1] sizes,
                        const int[::1] act_codes, Py_ssize_t n_params, Py_ssize_t n_grads,
                        Py_ssize_t n_acts, Py_ssize_t n_deltas, Py_ssize_t n_ybatch,
                        const Py_ssize_t[::1] w_off, const Py_ssize_t[::1] b_off,
                        const Py_ssize_t[::1] a_off, const Py_ssize_t[::1] d_off,
                        int max_act=SOFTMAX) except *:
    """Raise ValueError unless every buffer access the loops make is in bounds.

    Activation codes up to ``max_act`` are allowed: SOFTMAX where gradients are
    taken, STEP for forward passes.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, i, total_a = 0, total_d = 0, p = 0
    if L < 1 or act_codes.shape[0] != L or w_off.shape[0] != L or b_off.shape[0] != L \
            or a_off.shape[0] != L + 1 or (d_off is not None and d_off.shape[0] != L + 1):
        raise ValueError("train: inconsistent layer descriptors")
    if sizes[0] != n_in or sizes[L] != n_out or n_x != n_y or batch_size < 1:
        raise ValueError("train: data shapes do not match the network")
    for l in range(1, L + 1):
        if sizes[l] < 1 or w_off[l - 1] != p or b_off[l - 1] != p + sizes[l - 1] * sizes[l]:
            raise ValueError("train: parameter offsets do not match the layer sizes")
        p = b_off[l - 1] + sizes[l]
        if not IDENTITY <= act_codes[l - 1] <= max_act:
            raise ValueError("train: activation code %d is not allowed here"
                             % act_codes[l - 1])
    for l in range(L + 1):
        if a_off[l] != total_a:
            raise ValueError("train: activation offsets do not match the layer sizes")
        total_a += sizes[l]
        if d_off is not None and l > 0:
            if d_off[l] != total_d:
                raise ValueError("train: delta offsets do not match the layer sizes")
            total_d += sizes[l]
    if p != n_params or n_grads != n_params or n_acts < batch_size * total_a \
            or (n_deltas >= 0 and n_deltas < batch_size * total_d) \
            or (n_ybatch >= 0 and n_ybatch < batch_size * n_out):
        raise ValueError("train: buffer sizes do not match the network and batch size")
    if order is not None:
        if not 0 <= start <= stop <= order.shape[0]:
            raise ValueError("train: sample range out of bounds")
        for i in range(start, stop):
            if not 0 <= order[i] < n_x:
                raise ValueError("train: sample index out of range")
