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
* ``preacts`` (laid out like ``deltas``), only when a layer is GELU: the
  pre-activations Z_l that GELU's backward pass needs (activations.pyx);
* the optimizer's state (velocity; Adam's m and v, and AMSGrad's v̂; RMSprop's
  mean square, momentum buffer and mean gradient; Adagrad's sum): up to three
  arrays shaped like params, state1..state3 (see train_samples);
* optionally per-sample weights (n_samples,), gathered per batch into
  ``w_batch``: the loss and its delta become weighted means (losses.pyx);
* ``spare`` (``spare_size``: batch_size × (s₀ + s_L + 1)): a second set of
  batch buffers (inputs, targets, weights), for the batch-1 fusion and the
  gather-ahead below.

Each layer's activation parameter (LeakyReLU's alpha, 0 for the others)
comes from ``act_params`` (one double per Dense layer), and the loss's
(Huber's delta) from ``huber_delta``: with ``preacts``, the ``KernelArgs``
that every pass hands to the activation and loss kernels.

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
backward, the gradient clipping if asked (elementwise clamp, then the global
L2 norm summed on this thread in a fixed order), and one optimizer update of
the whole flat buffer (``_update_range``: elementwise over a range, so that
ranks sharing a model each update their slice), all inside one ``nogil``
block.  Plain gradient descent (no momentum, no weight decay, no clipping) is
applied layer by layer during the backward pass instead, each layer's step
taken right after its gradient is computed, while it is in cache; the
arithmetic is the same as the separate update's.  At batch size 1 the first
layer goes further (``spare`` given, ``step_forward_exact``): its W step
for sample t is deferred and taken in the same pass over W as sample t+1's
product with it (``_blas.step_forward``), so W, the one large operand, is
read and written once per sample instead of read, then read and written.
The gathered inputs alternate between two buffers (A_0 and ``spare``)
so that sample t's row survives until then, layer 1's dL/dZ stays in
``deltas``, and the last deferred step is taken when the run ends: the same
bits as without the deferral.  The Python model calls it once per epoch, or
once per chunk of batches when it shows a progress bar.

Parallel strategy: only the matrix products are threaded (the packed kernel's
OpenMP team for large float32 products, BLAS's own threads for large float64
ones; see _blas.pyx); everything else (bias and activation passes, loss,
column sums, the optimizer update) runs on the calling thread.  A step
alternates products and elementwise passes every few microseconds, and two
thread pools spinning on the same cores (BLAS's pthreads and an OpenMP team)
collapse throughput: measured here, 784-128-64-10 at batch 256 trained at
4,400 samples/s with both pools on 2 threads against 143,000 with one thread.
So only one pool is ever used within a step.

Gather-ahead: a small network's step (every product on the calling thread,
``_gathers_ahead``) leaves the second core idle, while copying a batch's
randomly ordered rows out of a training set far larger than the caches is a
third of the step, bound by memory.  With 2 threads allowed, batches of 2
rows or more and 16 KiB or more, and ``spare`` given, train_samples runs a
2-thread OpenMP region instead: thread 1 gathers batch b + 1 into one buffer
set while thread 0 trains on batch b from the other.  Rows are claimed one
at a time from a per-set counter (csrc/handoff.h), so when thread 0 reaches a
batch that thread 1 has not finished, it copies the rows left itself rather
than waiting, and waits only for a row being copied at that moment: a
gatherer that lags, or loses its core to another process, costs about what
gathering on one thread costs.  Only the copying moves;
the arithmetic, hence every bit of the result, is the same.

Non-finite steps (``stop_non_finite``, fastnn.callbacks.TerminateOnNaN):
after each batch's forward and backward pass, before its update, the batch's
loss value and the whole flat gradient (one pass over ``grads``,
``_finite.values_finite``) are tested; at the first NaN or infinity the run
ends without that update (or that batch's loss and correct count) and
``NonFiniteStep`` reports the batch's position.  The update is then always the
separate one (no fused gradient-descent step, hence no batch-1 fusion: a
fused step would be taken before the gradient is complete); its arithmetic
is the fused one's, so the weights are the same bits.  Off (the default),
nothing is tested.

Data-parallel steps (fastnn.distributed; ``Distributed``): each rank runs
its rows of every global batch through the forward and backward passes, then
either the gradients are summed over the ranks (csrc/allreduce.h) and each
rank updates its slice of the model, or, for ranks of one machine with large
layers, the shared products: each rank copies its rows' layer inputs and
dL/dZ into the node's exchange window (``_share_rows``) and, after a
barrier, computes the gradient of its own rows of every W and elements of
every b from all the step's rows, and steps them (``_shared_products_step``);
a barrier ends every step.  The memory: the windows are fastnn.distributed's.

Results are the same for any thread count because every kernel's are.
Nothing is allocated per batch.
"""
from cython cimport floating
from cython.parallel cimport parallel, threadid
import numpy as np
from libc.math cimport isfinite
from libc.stdint cimport intptr_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from fastnn._kernels._blas cimport (
    gemm, gemm_accumulates_exactly, gemm_on_calling_thread, step_forward, step_forward_exact)
from fastnn._kernels._finite cimport copy_values_finite, values_finite
from fastnn._kernels._parallel cimport max_threads, omp_get_num_threads
from fastnn._kernels.activations cimport (
    GELU, IDENTITY, N_ACTIVATIONS, activation_backward_impl, activation_forward_impl,
    has_gradient)
from fastnn._kernels.dense cimport (
    column_sums_range, dense_backward_impl, dense_backward_sgd_impl, dense_forward_impl)
from fastnn._kernels.losses cimport BCE_LOGITS, loss_delta_impl, weight_sum
from fastnn._kernels.normalization cimport (
    NORM_BATCH, NORM_LAYER, NORM_NONE, norm_backward_impl, norm_forward_impl,
    norm_inference_impl, norm_running_impl)
from fastnn._kernels.optim cimport (
    adagrad_update_impl, adam_update_impl, adamw_update_impl, clip_impl,
    momentum_update_impl, rmsprop_update_impl, sgd_update_impl, sklearn_adam_update_impl,
    sklearn_momentum_update_impl, sum_squares_impl)

class NonFiniteBatch(ValueError):
    """Raised by ``train_samples(check_finite=True)`` when a gathered batch holds
    NaN or infinity; ``row`` is the first such row of X.  The batch was not
    trained on; the batches before it were."""

    def __init__(self, row):
        super().__init__("X row %d holds NaN or infinity" % row)
        self.row = row


class NonFiniteStep(ArithmeticError):
    """Raised by ``train_samples(stop_non_finite=True)`` when a batch's loss or
    gradient holds NaN or infinity: ``pos`` is the batch's first position in
    ``order``; the batch's update was not taken, those before it were.
    ``result`` is what train_samples would have returned for the batches
    before it: (loss sum, correct, t, penalty sum)."""

    def __init__(self, pos, result):
        super().__init__("the loss or gradient of the batch at position %d is NaN or "
                         "infinite" % pos)
        self.pos = pos
        self.result = result


cdef enum:
    ELEMENTWISE_THREADS = 1   # see "Parallel strategy" above
    RULE_GD = 0
    RULE_MOMENTUM = 1
    RULE_ADAM = 2
    RULE_SKLEARN_MOMENTUM = 3   # scikit-learn's momentum/Nesterov form (optim.pyx)
    RULE_SKLEARN_ADAM = 4       # scikit-learn's Adam form (optim.pyx)
    RULE_ADAMW = 5              # Adam with decoupled weight decay
    RULE_RMSPROP = 6
    RULE_ADAGRAD = 7


cdef struct KernelArgs:
    # what the activation and loss kernels take beyond their codes (see the
    # design notes): each Dense layer's activation parameter (NULL: all 0),
    # the GELU pre-activations buffer (NULL: no GELU layer), Huber's delta
    const double* act_params
    void* preacts
    double huber_delta


cdef inline double _act_param(const KernelArgs* k, Py_ssize_t layer) noexcept nogil:
    """Dense layer ``layer``'s (0-based) activation parameter."""
    return k.act_params[layer] if k.act_params != NULL else 0.0


cdef inline floating* _preacts(const KernelArgs* k, floating* kind, Py_ssize_t batch_size,
                               const Py_ssize_t* d_off, Py_ssize_t l) noexcept nogil:
    """Layer l's (1-based) slice of the pre-activations buffer, or NULL without one;
    ``kind`` only selects the element type."""
    if k.preacts == NULL:
        return NULL
    return <floating*>k.preacts + batch_size * d_off[l]


cdef struct Rule:
    # the optimizer update of train_samples (see its docstring): the rule code,
    # its hyperparameters, and the gradient clipping before it (0: off);
    # stop_non_finite: no update from a non-finite loss or gradient (the run ends)
    int code
    double lr, momentum, beta1, beta2, eps, weight_decay, lr_decay
    bint nesterov, amsgrad, centered, stop_non_finite
    double clip_value, clip_norm


cdef extern from "allreduce.h" nogil:
    ctypedef struct fastnn_allreduce:
        void* function
        int handles_are_pointers
        intptr_t comm, float_type, double_type, sum
        void* in_place
        void* barrier
        intptr_t node_comm
        int node_rank, node_size
        void* const* buffers
        int cross_node
    int fastnn_allreduce_slice(const fastnn_allreduce* r, void* buf, Py_ssize_t count,
                               int is_double, Py_ssize_t* lo, Py_ssize_t* hi)
    int fastnn_allreduce_end(const fastnn_allreduce* r)
    int fastnn_node_barrier(const fastnn_allreduce* r)
    Py_ssize_t fastnn_slice_bound(Py_ssize_t count, int i, int L)


cdef struct Distributed:
    # data-parallel training (fastnn.distributed): this rank's share of each
    # step of the call, and the gradient sum over ranks before each update
    Py_ssize_t n_steps
    const Py_ssize_t* counts      # this rank's rows of each step (0 allowed)
    const double* totals          # each step's rows, or weight sum, over all ranks
    const double* rows            # each step's rows over all ranks
    fastnn_allreduce reducer
    # Shared products (see _share_rows): NULL, or the node's exchange window,
    # one global batch's layer inputs (acts' layout) then dL/dZ (deltas'
    # layout), this rank's rows of step b at row starts[b] of each block
    void* exchange
    const Py_ssize_t* starts
    double fused_lr               # > 0: plain gradient descent, fused into the products


cdef extern from "handoff.h" nogil:
    bint FASTNN_HANDOFF_AVAILABLE
    ctypedef struct fastnn_rows:
        pass
    void fastnn_rows_reset(fastnn_rows* r, int batch)
    int fastnn_rows_claim(fastnn_rows* r, int batch, int n)
    void fastnn_rows_finish(fastnn_rows* r, int row_bad)
    int fastnn_rows_wait_bad(fastnn_rows* r, int n)
    void fastnn_handoff_publish(int* counter, int value)
    int fastnn_handoff_wait(const int* counter, int target, const int* abort)


cdef extern from "dropout.h" nogil:
    uint64_t fastnn_dropout_stream(uint64_t key, uint64_t epoch, uint64_t layer)
    uint64_t fastnn_dropout_row(uint64_t stream, uint64_t row)
    void fastnn_dropout_forward_float(const float* A, float* D, float* M, Py_ssize_t units,
                                      uint64_t row_bits, uint32_t threshold, float scale)
    void fastnn_dropout_forward_double(const double* A, double* D, double* M,
                                       Py_ssize_t units, uint64_t row_bits,
                                       uint32_t threshold, double scale)


cdef struct DropoutPlan:
    # Dropout after hidden layers (fastnn.layers.Dropout; masks: csrc/dropout.h).
    # Layer l (0-based Dense index) with thresholds[l] > 0 drops: its
    # activations A_l stay in acts (the activation's derivative needs them);
    # the next layer reads D_l = A_l·mask from ``dropped``, and ``masks`` keeps
    # each unit's factor (0 or scales[l]) for the backward pass; both at
    # batch_size·off[l].
    const uint32_t* thresholds
    const double* scales
    const Py_ssize_t* off
    uint64_t key, epoch
    const Py_ssize_t* rows        # a local row's row in the training set; NULL: itself
    void* dropped
    void* masks


cdef struct NormPlan:
    # Normalization layers (fastnn.layers.BatchNorm, LayerNorm; normalization.pyx).
    # Dense layer l (0-based) has kinds[l] (NORM_NONE: none), placed before its
    # activation (pre[l]: Z is normalized, then the activation applies) or
    # after it (the next layer reads the normalized activations).  Its γ and β
    # are params[p_off[l]:p_off[l] + 2·units]; its place in units is off[l]:
    # x̂ at batch_size·off[l] in ``xhat``, the normalized output (after-
    # activation placement) at batch_size·off[l] in ``normed``, its batch
    # statistics at (batch_size + 2)·off[l] in ``stats``, and BatchNorm's
    # running mean and variance at 2·off[l] in ``running`` (moved by the
    # training loop after each step it takes).
    const int* kinds
    const int* pre
    const Py_ssize_t* p_off
    const Py_ssize_t* off
    const double* eps
    const double* momentum
    void* xhat
    void* normed
    void* stats
    void* running


cdef struct Batches:
    # Where each batch's rows come from and where they are gathered to.  Two
    # buffer sets, 0 and 1: batch b uses set b % 2 with the gather-ahead, set 0
    # otherwise (sets 0 and 1 alternate for the batch-1 fusion's inputs).
    const char* X                 # n_samples rows of x_bytes
    const char* Y                 # rows of y_bytes
    const char* sw                # per-sample weights (w_bytes each), or NULL
    const Py_ssize_t* order
    Py_ssize_t x_bytes, y_bytes, w_bytes
    Py_ssize_t start, stop, batch_size
    char* x[2]
    char* y[2]
    char* w[2]
    bint check_finite
    # gather-ahead only (handoff.h): each set's row claims, the batches the
    # trainer is done with, and the flag that stops the gatherer early
    fastnn_rows rows[2]
    int consumed, abort
    const DropoutPlan* drop       # or NULL
    const NormPlan* norm          # or NULL


cdef extern from *:
    """
    /* Ask for the cache line at p, to be read soon (into L2 and up). */
    static inline void fastnn_prefetch(const char *p) { __builtin_prefetch(p, 0, 2); }
    """
    void fastnn_prefetch(const char* p) noexcept nogil


cdef enum:
    # _gather's prefetching: a batch of at most this many bytes of inputs
    # fetches the next batch's rows (a quarter of a 1 MiB L2), a larger one
    # its own rows this many rows ahead of the copy
    PREFETCH_NEXT_BATCH_BYTES = 1 << 18
    PREFETCH_ROWS_AHEAD = 8


cdef bint _gather(Batches* g, Py_ssize_t pos, Py_ssize_t n, int s, Py_ssize_t n_next,
                  const floating* kind) noexcept nogil:
    """Copy rows order[pos:pos+n] of X, Y (and the weights) into buffer set s;
    False when ``check_finite`` and the inputs hold NaN or infinity (tested in
    the same pass as the copy).  ``kind`` only selects the element type.

    The rows of a shuffled epoch are scattered over X, too far apart for the
    hardware prefetcher, so the copy prefetches, one row's lines before each
    row it copies (the same prefetches as one burst stalled on the miss
    buffers about as long as they saved):

    * a small batch (n·x_bytes <= PREFETCH_NEXT_BATCH_BYTES): the rows of the
      next batch, order[pos+n:pos+n+n_next], which then arrive while this one
      is trained on;
    * a larger one: its own rows, PREFETCH_ROWS_AHEAD ahead of the copy (the
      next batch would not stay in L2 beside this one's work).

    Measured on one thread (Zen 4, samples/s over no prefetching): 784-30-10
    +2-16% at batch 10, +12% at 32, +10% at 64, +8-12% at 128 and 200;
    784-16-16-10 +14-23% at batch 32; 784-128-64-10 +4% at batch 256.
    The copy still costs about 2.6 µs a step at 784-30-10 batch 10 (31 KB):
    a C microbenchmark took 3-4 µs to copy rows, prefetched or not, whose
    source and destination were last touched a step earlier, against 0.65 µs
    with both in L1, so what remains is round trips to L2 rather than DRAM.
    Prefetches change no result."""
    cdef Py_ssize_t r, k, row
    cdef bint finite = True
    cdef bint next_batch = n * g.x_bytes <= PREFETCH_NEXT_BATCH_BYTES
    for r in range(n):
        row = -1
        if next_batch:
            if r < n_next:
                row = g.order[pos + n + r]
        elif r + PREFETCH_ROWS_AHEAD < n:
            row = g.order[pos + r + PREFETCH_ROWS_AHEAD]
        if row >= 0:
            for k in range(0, g.x_bytes, 64):
                fastnn_prefetch(g.X + row * g.x_bytes + k)
            fastnn_prefetch(g.Y + row * g.y_bytes)
        finite &= _copy_row(g, g.order[pos + r], r, s, kind)
    return finite


cdef inline bint _copy_row(Batches* g, Py_ssize_t row, Py_ssize_t r, int s,
                           const floating* kind) noexcept nogil:
    """Row ``row`` of X, Y (and its weight) into slot r of buffer set s; False
    when ``check_finite`` and its inputs hold NaN or infinity."""
    cdef bint finite = True
    if g.check_finite:
        finite = copy_values_finite(<floating*>(g.x[s] + r * g.x_bytes),
                                    <const floating*>(g.X + row * g.x_bytes),
                                    g.x_bytes // <Py_ssize_t>sizeof(floating))
    else:
        memcpy(g.x[s] + r * g.x_bytes, g.X + row * g.x_bytes, g.x_bytes)
    memcpy(g.y[s] + r * g.y_bytes, g.Y + row * g.y_bytes, g.y_bytes)
    if g.sw != NULL:
        memcpy(g.w[s] + r * g.w_bytes, g.sw + row * g.w_bytes, g.w_bytes)
    return finite


cdef bint _gather_claimed(Batches* g, int b, Py_ssize_t pos, Py_ssize_t n,
                          const floating* kind) noexcept nogil:
    """Copy the rows of batch b (rows order[pos:pos+n], set b % 2) that no thread
    has claimed yet, one claim at a time; True when this thread claimed any."""
    cdef fastnn_rows* rows = &g.rows[b & 1]
    cdef int r
    cdef bint any = False
    while True:
        r = fastnn_rows_claim(rows, b, <int>n)
        if r < 0:
            return any
        any = True
        fastnn_rows_finish(rows, not _copy_row(g, g.order[pos + r], r, b & 1, kind))


cdef void _gather_ahead(Batches* g, const floating* kind) noexcept nogil:
    """The gatherer thread: the rows of every batch in turn, each once the
    trainer is done with the batch that used its set before (b - 2)."""
    cdef Py_ssize_t pos = g.start, n
    cdef int b = 0
    while pos < g.stop:
        n = g.batch_size if g.stop - pos > g.batch_size else g.stop - pos
        if not fastnn_handoff_wait(&g.consumed, b - 1, &g.abort):
            return
        _gather_claimed(g, b, pos, n, kind)
        pos += n
        b += 1


cdef bint _gathers_ahead(Py_ssize_t batch_size, Py_ssize_t n_layers, const Py_ssize_t* sizes,
                         Py_ssize_t row_bytes, bint is_double) noexcept nogil:
    """Whether train_samples gathers on a second thread: fastnn may use 2
    threads, batches are of at least 2 rows and 16 KiB, and every product of a
    step runs on the calling thread (so the second core is free)."""
    cdef Py_ssize_t l
    cdef int n = <int>batch_size, s_in, s_out
    if (not FASTNN_HANDOFF_AVAILABLE or max_threads() < 2 or batch_size < 2
            or batch_size * row_bytes < 16384):
        return False
    for l in range(1, n_layers + 1):
        s_in, s_out = <int>sizes[l - 1], <int>sizes[l]
        if not (gemm_on_calling_thread(False, False, n, s_out, s_in, is_double)
                and gemm_on_calling_thread(True, False, s_in, s_out, n, is_double)
                and (l == 1 or gemm_on_calling_thread(False, True, n, s_in, s_out,
                                                      is_double))):
            return False
    return True


cdef Py_ssize_t _count_correct(const floating* A, const floating* Y, Py_ssize_t n,
                               Py_ssize_t k, floating threshold) noexcept nogil:
    """Rows whose predicted class matches the target's (argmax, or for one
    output A > ``threshold``: 0.5 on a probability, 0 on a logit)."""
    cdef Py_ssize_t i, j, best_a, best_y, correct = 0
    cdef floating half = 0.5
    for i in range(n):
        if k == 1:
            correct += (A[i] > threshold) == (Y[i] > half)
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


cdef void _update_range(const Rule* r, floating* params, const floating* grads,
                        floating* s1, floating* s2, floating* s3, Py_ssize_t start,
                        Py_ssize_t stop, double weight_decay, long long t) noexcept nogil:
    """One optimizer step over params[start:stop] (and the same range of the state;
    nothing when the range is empty): elementwise, so that ranks sharing a model
    can each update a slice.  ``weight_decay``: the L2 decay added to the
    gradient (AdamW's decoupled decay is ``r.weight_decay``)."""
    cdef Py_ssize_t n = stop - start
    if n <= 0:
        return
    cdef floating* m1 = s1 + start if s1 != NULL else NULL
    cdef floating* m2 = s2 + start if s2 != NULL else NULL
    cdef floating* m3 = s3 + start if s3 != NULL else NULL
    cdef double lr = r.lr
    if r.code == RULE_GD:
        sgd_update_impl(params + start, grads + start, n, lr, weight_decay,
                        ELEMENTWISE_THREADS)
    elif r.code == RULE_MOMENTUM:
        momentum_update_impl(params + start, grads + start, m1, n, lr, r.momentum,
                             r.nesterov, weight_decay, ELEMENTWISE_THREADS)
    elif r.code == RULE_ADAM:
        adam_update_impl(params + start, grads + start, m1, m2, m3, n, t, lr, r.beta1,
                         r.beta2, r.eps, weight_decay, ELEMENTWISE_THREADS)
    elif r.code == RULE_SKLEARN_MOMENTUM:
        sklearn_momentum_update_impl(params + start, grads + start, m1, n, lr, r.momentum,
                                     r.nesterov, weight_decay, ELEMENTWISE_THREADS)
    elif r.code == RULE_SKLEARN_ADAM:
        sklearn_adam_update_impl(params + start, grads + start, m1, m2, n, t, lr, r.beta1,
                                 r.beta2, r.eps, weight_decay, ELEMENTWISE_THREADS)
    elif r.code == RULE_ADAMW:
        adamw_update_impl(params + start, grads + start, m1, m2, m3, n, t, lr, r.beta1,
                          r.beta2, r.eps, r.weight_decay, weight_decay, ELEMENTWISE_THREADS)
    elif r.code == RULE_RMSPROP:
        rmsprop_update_impl(params + start, grads + start, m1, m2, m3, n, lr, r.beta2,
                            r.eps, weight_decay, r.momentum, ELEMENTWISE_THREADS)
    else:
        adagrad_update_impl(params + start, grads + start, m1, n, t, lr, r.lr_decay, r.eps,
                            weight_decay, ELEMENTWISE_THREADS)


cdef inline Py_ssize_t _owned_bound(Py_ssize_t count, Py_ssize_t i, Py_ssize_t P) noexcept nogil:
    """Shared products: local rank i of P owns [bound(i), bound(i + 1)) of a
    layer's count rows of W, or count elements of b."""
    return count * i // P


cdef inline Py_ssize_t _exchange_input_at(Py_ssize_t l, Py_ssize_t batch_size,
                                          const Py_ssize_t* a_off) noexcept nogil:
    """Shared products: where layer l's inputs (a global batch of A_{l-1})
    start in the exchange window, which holds a batch of every activation
    block (the activations' layout; the last, the outputs, is never
    exchanged), then a batch of every dL/dZ block (exchange_size)."""
    return batch_size * a_off[l - 1]


cdef inline Py_ssize_t _exchange_delta_at(Py_ssize_t l, Py_ssize_t batch_size,
                                          Py_ssize_t n_layers, const Py_ssize_t* sizes,
                                          const Py_ssize_t* a_off,
                                          const Py_ssize_t* d_off) noexcept nogil:
    """Shared products: where layer l's dL/dZ (a global batch) starts in the
    exchange window (see _exchange_input_at)."""
    return batch_size * (a_off[n_layers] + sizes[n_layers] + d_off[l])


cdef void _share_rows(const Distributed* dist, int b, floating* acts, const floating* A0,
                      const floating* deltas, Py_ssize_t n, Py_ssize_t batch_size,
                      Py_ssize_t n_layers, const Py_ssize_t* sizes, const Py_ssize_t* a_off,
                      const Py_ssize_t* d_off, const DropoutPlan* drop,
                      const NormPlan* norm) noexcept nogil:
    """Shared products: copy this rank's n rows of step b, every layer's input
    (as its product reads it: after dropout) and dL/dZ, into the exchange
    window at row ``dist.starts[b]`` of each layer's global-batch block."""
    cdef floating* exchange = <floating*>dist.exchange
    cdef Py_ssize_t l, r0 = dist.starts[b], s_in, s_out
    cdef const floating* A_in
    for l in range(1, n_layers + 1):
        s_in, s_out = sizes[l - 1], sizes[l]
        A_in = A0 if l == 1 else _layer_input(acts, batch_size, a_off, l - 1, drop, norm)
        memcpy(exchange + _exchange_input_at(l, batch_size, a_off) + r0 * s_in, A_in,
               n * s_in * sizeof(floating))
        memcpy(exchange + _exchange_delta_at(l, batch_size, n_layers, sizes, a_off, d_off)
               + r0 * s_out, deltas + batch_size * d_off[l], n * s_out * sizeof(floating))


cdef void _shared_products_step(const Distributed* dist, int b, const Rule* rule,
                                floating* params, floating* grads, floating* s1,
                                floating* s2, floating* s3, Py_ssize_t n_layers,
                                const Py_ssize_t* sizes, const Py_ssize_t* w_off,
                                const Py_ssize_t* b_off, const Py_ssize_t* a_off,
                                const Py_ssize_t* d_off, Py_ssize_t batch_size,
                                double weight_decay, double wd_l2, long long t) noexcept nogil:
    """Shared products: this rank's part of step b's update, once every rank's
    rows are in the exchange window (K rows in all, in rank order).

    Local rank i of P owns rows [s_in·i/P, s_in·(i+1)/P) of each W and
    elements [s_out·i/P, s_out·(i+1)/P) of each b.  Their gradient is already
    the step's whole sum, computed from the K rows, no partial sums added:
    dW rows = X[:, rows]ᵀ·dZ (one product over the K rows), db elements =
    column sums of dZ in row order.  Plain gradient descent goes straight into
    W as W + (−lr)·X[:, rows]ᵀ·dZ where that is exact (as the fused backward
    pass, dense_backward_sgd_impl); otherwise the gradient slice is written
    to ``grads``, clamped if asked, and this rank's ranges of the parameters
    and state take the optimizer step (``_update_range``)."""
    cdef int P = dist.reducer.node_size, me = dist.reducer.node_rank
    cdef Py_ssize_t K = <Py_ssize_t>dist.rows[b], l, s_in, s_out, i0, i1, j0, j1
    cdef const floating* exchange = <const floating*>dist.exchange
    cdef const floating* X
    cdef const floating* D
    cdef floating one = 1, zero = 0, minus_lr = -dist.fused_lr
    cdef bint fused = dist.fused_lr > 0
    for l in range(1, n_layers + 1):
        s_in, s_out = sizes[l - 1], sizes[l]
        X = exchange + _exchange_input_at(l, batch_size, a_off)
        D = exchange + _exchange_delta_at(l, batch_size, n_layers, sizes, a_off, d_off)
        i0, i1 = _owned_bound(s_in, me, P), _owned_bound(s_in, me + 1, P)
        j0, j1 = _owned_bound(s_out, me, P), _owned_bound(s_out, me + 1, P)
        if i1 > i0:
            if fused and K > 0 and gemm_accumulates_exactly(True, False, <int>(i1 - i0),
                                                            <int>s_out, <int>K,
                                                            floating is double):
                gemm(True, False, <int>(i1 - i0), <int>s_out, <int>K, minus_lr, X + i0,
                     <int>s_in, D, <int>s_out, one, params + w_off[l - 1] + i0 * s_out,
                     <int>s_out)
            else:
                if K > 0:
                    gemm(True, False, <int>(i1 - i0), <int>s_out, <int>K, one, X + i0,
                         <int>s_in, D, <int>s_out, zero, grads + w_off[l - 1] + i0 * s_out,
                         <int>s_out)
                else:
                    memset(grads + w_off[l - 1] + i0 * s_out, 0,
                           (i1 - i0) * s_out * sizeof(floating))
                _own_step(rule, dist.fused_lr, params, grads, s1, s2, s3,
                          w_off[l - 1] + i0 * s_out, w_off[l - 1] + i1 * s_out,
                          weight_decay + wd_l2, t)
        if j1 > j0:
            column_sums_range(D, grads + b_off[l - 1], K, s_out, j0, j1)
            _own_step(rule, dist.fused_lr, params, grads, s1, s2, s3, b_off[l - 1] + j0,
                      b_off[l - 1] + j1, weight_decay, t)


cdef inline void _own_step(const Rule* rule, double fused_lr, floating* params,
                           floating* grads, floating* s1, floating* s2, floating* s3,
                           Py_ssize_t start, Py_ssize_t stop, double weight_decay,
                           long long t) noexcept nogil:
    """The clamp (clip_value) and the step of params[start:stop] from its
    gradient, for _shared_products_step."""
    if rule.clip_value > 0:
        clip_impl(grads + start, stop - start, rule.clip_value, 0.0)
    if fused_lr > 0:
        sgd_update_impl(params + start, grads + start, stop - start, fused_lr, 0.0,
                        ELEMENTWISE_THREADS)
    else:
        _update_range(rule, params, grads, s1, s2, s3, start, stop, weight_decay, t)


cdef double _forward_backward(floating* params, floating* grads, floating* acts,
                              const floating* A0, floating* deltas, const floating* y_batch,
                              const floating* w_batch,
                              Py_ssize_t n, Py_ssize_t batch_size, Py_ssize_t n_layers,
                              const Py_ssize_t* sizes, const int* act_codes, int loss,
                              const KernelArgs* kargs,
                              const Py_ssize_t* w_off, const Py_ssize_t* b_off,
                              const Py_ssize_t* a_off, const Py_ssize_t* d_off,
                              Py_ssize_t* correct, double fused_lr,
                              const floating* x_prev, bint defer_first,
                              double delta_scale=1.0, const DropoutPlan* drop=NULL,
                              const Py_ssize_t* batch_rows=NULL,
                              const NormPlan* norm=NULL,
                              bint weight_grads=True) noexcept nogil:
    """Forward and backward for one batch of n rows, the inputs at A0.

    It fills grads (not with ``weight_grads`` False: then only each layer's
    dL/dZ, in ``deltas``, for the shared products; no fused step then).
    With ``fused_lr`` > 0 it also takes a plain gradient-descent step of
    that size, layer by layer as the backward pass goes (``dense_backward_sgd_impl``), while each layer's gradient is in cache.
    Batch-1 fusion (train_samples): with ``defer_first`` the first layer's W
    step is left pending; with ``x_prev`` (the previous sample's input) the
    pending step, from x_prev and the layer-1 dL/dZ still in ``deltas``, is
    taken in the same pass over W as this sample's first product.
    ``delta_scale`` multiplies the output layer's dL/dZ (data-parallel
    training: this rank's weight sum over the step's, so that the ranks'
    gradients add up to the step's mean).  ``drop``: dropout after hidden
    layers (DropoutPlan), the batch's rows being order entries ``batch_rows``.
    ``kargs``: the activations' parameters, GELU's pre-activations and Huber's delta.
    ``norm``: normalization layers (NormPlan; no fused step with them).

    Each Dense layer l is, in order: the product and bias, the normalization
    if placed before the activation, the activation, the normalization if
    placed after it, the dropout; the backward pass undoes them in reverse.
    """
    cdef Py_ssize_t l, s_in, s_out, i
    cdef floating* out_delta
    cdef floating* delta
    cdef const floating* A_in
    cdef floating* A_out
    cdef double value
    cdef int kind, act
    for l in range(1, n_layers + 1):
        s_in, s_out = sizes[l - 1], sizes[l]
        A_in = A0 if l == 1 else _layer_input(acts, batch_size, a_off, l - 1, drop, norm)
        A_out = acts + batch_size * a_off[l]
        kind = norm.kinds[l - 1] if norm != NULL else NORM_NONE
        if l == 1 and x_prev != NULL:
            step_forward(<int>s_in, <int>s_out, x_prev, deltas + batch_size * d_off[1],
                         <floating>(-fused_lr), A0, params + w_off[0], A_out)
            activation_forward_impl(act_codes[0], _act_param(kargs, 0), A_out,
                                    params + b_off[0], A_out,
                                    _preacts(kargs, params, batch_size, d_off, 1), n, s_out,
                                    ELEMENTWISE_THREADS)
        elif kind != NORM_NONE and norm.pre[l - 1]:
            # Z into x̂'s place, normalized there; γ·x̂ + β into A_out, then f
            dense_forward_impl(A_in, params + w_off[l - 1], params + b_off[l - 1], IDENTITY,
                               0.0, <floating*>norm.xhat + batch_size * norm.off[l - 1],
                               <floating*>NULL, n, s_in, s_out, ELEMENTWISE_THREADS)
            _norm_forward(norm, l - 1, params,
                          <floating*>norm.xhat + batch_size * norm.off[l - 1], A_out,
                          n, batch_size, s_out)
            activation_forward_impl(act_codes[l - 1], _act_param(kargs, l - 1), A_out,
                                    <floating*>NULL, A_out,
                                    _preacts(kargs, params, batch_size, d_off, l), n, s_out,
                                    ELEMENTWISE_THREADS)
        else:
            dense_forward_impl(A_in, params + w_off[l - 1], params + b_off[l - 1],
                               act_codes[l - 1], _act_param(kargs, l - 1), A_out,
                               _preacts(kargs, params, batch_size, d_off, l), n, s_in, s_out,
                               ELEMENTWISE_THREADS)
            if kind != NORM_NONE:
                _norm_forward(norm, l - 1, params, A_out,
                              <floating*>norm.normed + batch_size * norm.off[l - 1],
                              n, batch_size, s_out)
        if drop != NULL and l < n_layers and drop.thresholds[l - 1] > 0:
            _dropout_forward(drop, l - 1, _normed_output(acts, batch_size, a_off, l, norm),
                             n, batch_size, s_out, batch_rows)
    A_out = acts + batch_size * a_off[n_layers]
    s_out = sizes[n_layers]
    out_delta = deltas + batch_size * d_off[n_layers]
    value = loss_delta_impl(loss, kargs.huber_delta, act_codes[n_layers - 1],
                            _act_param(kargs, n_layers - 1),
                            _preacts(kargs, params, batch_size, d_off, n_layers), A_out,
                            y_batch, w_batch, out_delta, n, s_out, ELEMENTWISE_THREADS)
    if delta_scale != 1.0:
        for i in range(n * s_out):
            out_delta[i] = <floating>(out_delta[i] * delta_scale)
    if correct != NULL:
        correct[0] += _count_correct(A_out, y_batch, n, s_out,
                                     <floating>(0 if loss == BCE_LOGITS else 0.5))
    for l in range(n_layers, 0, -1):
        s_in, s_out = sizes[l - 1], sizes[l]
        A_in = A0 if l == 1 else _layer_input(acts, batch_size, a_off, l - 1, drop, norm)
        A_out = acts + batch_size * a_off[l]
        delta = deltas + batch_size * d_off[l]
        kind = norm.kinds[l - 1] if norm != NULL else NORM_NONE
        # delta holds dL/d(layer l's output); the output layer's is already
        # dL/dZ (fused with the loss), hence IDENTITY there.
        act = IDENTITY if l == n_layers else act_codes[l - 1]
        if l < n_layers and drop != NULL and drop.thresholds[l - 1] > 0:
            # dL/dD → dL/d(what was dropped): the same mask and scale
            _dropout_backward(drop, l - 1, delta, n, batch_size, s_out)
        if kind != NORM_NONE and not norm.pre[l - 1]:
            _norm_backward(norm, l - 1, params, grads, delta, n, batch_size, s_out)
        elif kind != NORM_NONE:
            if act != IDENTITY:
                activation_backward_impl(act, _act_param(kargs, l - 1), A_out,
                                         _preacts(kargs, params, batch_size, d_off, l), delta,
                                         delta, n, s_out, ELEMENTWISE_THREADS)
            _norm_backward(norm, l - 1, params, grads, delta, n, batch_size, s_out)
            act = IDENTITY
        if fused_lr > 0:
            dense_backward_sgd_impl(
                A_in, params + w_off[l - 1], params + b_off[l - 1], A_out, delta, act,
                _act_param(kargs, l - 1), _preacts(kargs, params, batch_size, d_off, l), delta,
                grads + w_off[l - 1], grads + b_off[l - 1],
                deltas + batch_size * d_off[l - 1] if l > 1 else NULL,
                n, s_in, s_out, fused_lr, ELEMENTWISE_THREADS, not (l == 1 and defer_first))
        else:
            dense_backward_impl(
                A_in, params + w_off[l - 1], A_out, delta, act, _act_param(kargs, l - 1),
                _preacts(kargs, params, batch_size, d_off, l), delta,
                grads + w_off[l - 1] if weight_grads else NULL, grads + b_off[l - 1],
                deltas + batch_size * d_off[l - 1] if l > 1 else NULL,
                n, s_in, s_out, ELEMENTWISE_THREADS)
    return value


cdef inline const floating* _normed_output(floating* acts, Py_ssize_t batch_size,
                                           const Py_ssize_t* a_off, Py_ssize_t l,
                                           const NormPlan* norm) noexcept nogil:
    """What Dense layer l (1-based) hands on before dropout: its activations,
    or their normalization when it comes after the activation."""
    if norm != NULL and norm.kinds[l - 1] != NORM_NONE and not norm.pre[l - 1]:
        return <floating*>norm.normed + batch_size * norm.off[l - 1]
    return acts + batch_size * a_off[l]


cdef inline const floating* _layer_input(floating* acts, Py_ssize_t batch_size,
                                         const Py_ssize_t* a_off, Py_ssize_t l,
                                         const DropoutPlan* drop,
                                         const NormPlan* norm) noexcept nogil:
    """The input of Dense layer l + 1: what layer l hands on, or its dropout."""
    if drop != NULL and drop.thresholds[l - 1] > 0:
        return <const floating*>drop.dropped + batch_size * drop.off[l - 1]
    return _normed_output(acts, batch_size, a_off, l, norm)


cdef void _norm_forward(const NormPlan* norm, Py_ssize_t layer, const floating* params,
                        const floating* X, floating* out, Py_ssize_t n,
                        Py_ssize_t batch_size, Py_ssize_t units) noexcept nogil:
    """Layer ``layer``'s normalization of X (n rows of ``units``) into out,
    keeping x̂ and the statistics."""
    cdef const floating* gamma = params + norm.p_off[layer]
    norm_forward_impl(norm.kinds[layer], X, <floating*>norm.xhat + batch_size * norm.off[layer],
                      out, gamma, gamma + units,
                      <floating*>norm.stats + (batch_size + 2) * norm.off[layer],
                      NULL, NULL, norm.eps[layer], n, units)


cdef void _norm_running(const NormPlan* norm, Py_ssize_t n, Py_ssize_t batch_size,
                        Py_ssize_t n_layers, const Py_ssize_t* sizes,
                        const floating* kind) noexcept nogil:
    """BatchNorm's running statistics after a step on n rows, from the
    statistics its forward pass kept.  ``kind`` only selects the element type."""
    cdef Py_ssize_t l
    cdef floating* running
    for l in range(n_layers):
        if norm.kinds[l] == NORM_BATCH:
            running = <floating*>norm.running + 2 * norm.off[l]
            norm_running_impl(<const floating*>norm.stats + (batch_size + 2) * norm.off[l],
                              running, running + sizes[l + 1], norm.momentum[l], n,
                              sizes[l + 1])


cdef void _norm_backward(const NormPlan* norm, Py_ssize_t layer, const floating* params,
                         floating* grads, floating* delta, Py_ssize_t n,
                         Py_ssize_t batch_size, Py_ssize_t units) noexcept nogil:
    """delta: dL/d(normalized output) → dL/d(its input), in place; γ and β's
    gradients into grads."""
    cdef Py_ssize_t p = norm.p_off[layer]
    norm_backward_impl(norm.kinds[layer], delta,
                       <floating*>norm.xhat + batch_size * norm.off[layer],
                       <const floating*>norm.stats + (batch_size + 2) * norm.off[layer],
                       params + p, grads + p, grads + p + units, n, units)


cdef void _dropout_forward(const DropoutPlan* drop, Py_ssize_t layer, const floating* A,
                           Py_ssize_t n, Py_ssize_t batch_size, Py_ssize_t units,
                           const Py_ssize_t* batch_rows) noexcept nogil:
    """D = A·scale where the unit is kept, A·0 where dropped (rows n of A,
    ``units`` wide), and each unit's factor (scale or 0) into ``masks``."""
    cdef floating* D = <floating*>drop.dropped + batch_size * drop.off[layer]
    cdef floating* M = <floating*>drop.masks + batch_size * drop.off[layer]
    cdef floating scale = <floating>drop.scales[layer]
    cdef uint64_t stream = fastnn_dropout_stream(drop.key, drop.epoch, <uint64_t>layer)
    cdef uint64_t row_bits
    cdef Py_ssize_t i, row
    for i in range(n):
        row = batch_rows[i] if drop.rows == NULL else drop.rows[batch_rows[i]]
        row_bits = fastnn_dropout_row(stream, <uint64_t>row)
        if floating is float:
            fastnn_dropout_forward_float(A + i * units, D + i * units, M + i * units, units,
                                         row_bits, drop.thresholds[layer], scale)
        else:
            fastnn_dropout_forward_double(A + i * units, D + i * units, M + i * units,
                                          units, row_bits, drop.thresholds[layer], scale)


cdef void _dropout_backward(const DropoutPlan* drop, Py_ssize_t layer, floating* dA,
                            Py_ssize_t n, Py_ssize_t batch_size,
                            Py_ssize_t units) noexcept nogil:
    """dA (holding dL/dD on entry) becomes dL/dA: dL/dD times the unit's
    factor (scale where kept, 0 where dropped)."""
    cdef const floating* M = <const floating*>drop.masks + batch_size * drop.off[layer]
    cdef Py_ssize_t i
    for i in range(n * units):
        dA[i] = dA[i] * M[i]


cdef struct Progress:
    # what _train_loop leaves for train_samples to return
    double total, penalty
    Py_ssize_t correct, bad_pos, stop_pos   # stop_pos: the non-finite step's batch
    long long t
    int mpi_error


cdef void _train_loop(Batches* g, bint ahead, bint defer, floating* params, floating* grads,
                      floating* acts, floating* deltas, floating* s1, floating* s2,
                      floating* s3, Py_ssize_t n_params, Py_ssize_t n_layers,
                      const Py_ssize_t* sizes, const int* act_codes, int loss,
                      const KernelArgs* kargs,
                      const Py_ssize_t* w_off, const Py_ssize_t* b_off,
                      const Py_ssize_t* a_off, const Py_ssize_t* d_off, const Rule* rule,
                      double l2, double fused_lr, Distributed* dist,
                      Progress* out) noexcept nogil:
    """The batches of train_samples, in order: gathered here, or (``ahead``) in
    set b % 2 by the gatherer thread and this one together, the set handed
    back when batch b is done.  With ``dist``: this rank's part of each step
    (possibly no rows), then the allreduce of grads, then the update.  The
    gradient clipping (``rule``) comes after the sum, before the update.
    With ``rule.stop_non_finite`` (never with ``dist``): a batch whose loss or
    gradient is not finite ends the loop, its loss, correct count and update
    not taken."""
    cdef Py_ssize_t pos = g.start, n, l, n_in = sizes[0], batch_size = g.batch_size
    cdef Py_ssize_t correct_before
    cdef Py_ssize_t lo, hi
    cdef double sw = 1.0, wd_l2, value, scale = 1.0
    # the L2 decay added to g (AdamW's own decay is decoupled: applied by its update)
    cdef double weight_decay = 0.0 if rule.code == RULE_ADAMW else rule.weight_decay
    cdef bint clip = rule.clip_value > 0 or rule.clip_norm > 0
    cdef int b = 0, cur = 0
    cdef bint ok
    cdef bint products = dist != NULL and dist.exchange != NULL
    cdef floating* A0
    cdef floating* wb
    cdef const floating* x_prev = NULL
    while (b < dist.n_steps) if dist != NULL else (pos < g.stop):
        if dist != NULL:
            n = dist.counts[b]
        else:
            n = batch_size if g.stop - pos > batch_size else g.stop - pos
        if n == 0:
            ok = True
        elif ahead:
            # the rows the gatherer has not claimed yet are copied here
            cur = b & 1
            _gather_claimed(g, b, pos, n, params)
            ok = not fastnn_rows_wait_bad(&g.rows[cur], <int>n)
        else:
            # the next batch's rows are fetched meanwhile (with dist, the
            # next step's count is another rank's business: none)
            ok = _gather(g, pos, n, cur, 0 if dist != NULL else
                         min(batch_size, g.stop - pos - n), params)
        if not ok:
            out.bad_pos = pos
            if ahead:
                fastnn_handoff_publish(&g.abort, 1)
            break
        A0 = <floating*>g.x[cur]
        wb = <floating*>g.w[cur] if g.sw != NULL else NULL
        if dist != NULL:
            # this rank's share of the step's Σw (0 for a step whose weights are all 0)
            scale = (weight_sum(wb, n) / dist.totals[b] if n > 0 and dist.totals[b] > 0
                     else 0.0)
        if n > 0:
            correct_before = out.correct
            value = _forward_backward(
                params, grads, acts, A0, deltas, <floating*>g.y[cur], wb, n, batch_size,
                n_layers, sizes, act_codes, loss, kargs, w_off, b_off, a_off, d_off,
                &out.correct,
                fused_lr, x_prev, defer, scale, g.drop, g.order + pos, g.norm, not products)
            if rule.stop_non_finite and not (isfinite(value)
                                             and values_finite(grads, n_params)):
                out.correct, out.stop_pos = correct_before, pos
                if ahead:
                    fastnn_handoff_publish(&g.abort, 1)
                break
            if g.norm != NULL:
                _norm_running(g.norm, n, batch_size, n_layers, sizes, params)
            # this rank's part of (the step's mean loss × its rows); weighted:
            # Σ wᵢ·lossᵢ over these rows ÷ the step's Σw, × the step's rows
            out.total += value * (n if dist == NULL else scale * dist.rows[b])
            if products:
                _share_rows(dist, b, acts, A0, deltas, n, batch_size, n_layers, sizes, a_off,
                            d_off, g.drop, g.norm)
        elif not products:
            memset(grads, 0, n_params * sizeof(floating))
        if l2 != 0:
            # The penalty of the weights this batch was computed with (Σw: the
            # step's, over all ranks, in data-parallel training).
            sw = dist.totals[b] if dist != NULL else weight_sum(wb, n)
            out.penalty += n * ((0.5 * l2) * _weights_squared(params, n_layers, w_off,
                                                              b_off) / sw)
        lo, hi = 0, n_params
        if products:
            # every rank's rows of this step are in the exchange window
            out.mpi_error = fastnn_node_barrier(&dist.reducer)
            if out.mpi_error != 0:
                break
        elif dist != NULL and dist.reducer.function != NULL:
            # grads[lo:hi] becomes the sum over the ranks; this rank updates
            # that slice (all of it, unless the node's ranks share the model)
            out.mpi_error = fastnn_allreduce_slice(&dist.reducer, grads, n_params,
                                                   floating is double, &lo, &hi)
            if out.mpi_error != 0:
                break
        if defer:
            x_prev = A0
            cur = 1 - cur
        out.t += 1
        if products:
            _shared_products_step(dist, b, rule, params, grads, s1, s2, s3, n_layers, sizes,
                                  w_off, b_off, a_off, d_off, batch_size, weight_decay,
                                  l2 / sw, out.t)
        elif clip:
            # the summed gradient of this rank's slice (all of it, unless the
            # node's ranks share the model: then no clip_norm, see train_samples)
            clip_impl(grads + lo, hi - lo, rule.clip_value, rule.clip_norm)
        if fused_lr > 0 or products:
            pass                   # the step was taken during the backward pass, or above
        elif l2 == 0:
            _update_range(rule, params, grads, s1, s2, s3, lo, hi, weight_decay, out.t)
        else:
            # weight decay l2/Σw on each W, none on each b, nor on the
            # normalization layers' γ and β (after the last b)
            wd_l2 = l2 / sw
            for l in range(n_layers):
                _update_range(rule, params, grads, s1, s2, s3, max(lo, w_off[l]),
                              min(hi, b_off[l]), weight_decay + wd_l2, out.t)
                _update_range(rule, params, grads, s1, s2, s3, max(lo, b_off[l]),
                              min(hi, b_off[l] + sizes[l + 1]), weight_decay, out.t)
            _update_range(rule, params, grads, s1, s2, s3,
                          max(lo, b_off[n_layers - 1] + sizes[n_layers]), hi, weight_decay,
                          out.t)
        if dist != NULL and dist.reducer.function != NULL:
            out.mpi_error = fastnn_allreduce_end(&dist.reducer)
            if out.mpi_error != 0:
                break
        if ahead:
            # batch b is done with its set (the weights too: weight_sum above)
            fastnn_rows_reset(&g.rows[cur], b + 2)
            fastnn_handoff_publish(&g.consumed, b + 1)
        pos += n
        b += 1
    if x_prev != NULL:
        # The last sample's deferred first-layer step, as the fused pass takes it.
        gemm(True, False, <int>n_in, <int>sizes[1], 1, <floating>(-fused_lr), x_prev,
             <int>n_in, deltas + batch_size * d_off[1], <int>sizes[1], <floating>1,
             params + w_off[0], <int>sizes[1])


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
                  floating[::1] spare=None, bint check_finite=False,
                  const Py_ssize_t[::1] step_counts=None,
                  const double[::1] step_totals=None, const long long[::1] reducer=None,
                  const double[::1] step_rows=None, floating[::1] state3=None,
                  bint amsgrad=False, bint centered=False, double lr_decay=0.0,
                  double clip_value=0.0, double clip_norm=0.0,
                  const unsigned int[::1] dropout_thresholds=None,
                  const double[::1] dropout_scales=None,
                  const Py_ssize_t[::1] dropout_offsets=None,
                  unsigned long long dropout_key=0, long long dropout_epoch=0,
                  const Py_ssize_t[::1] dropout_rows=None,
                  floating[::1] dropout_buffer=None, const double[::1] act_params=None,
                  floating[::1] preacts=None, double huber_delta=1.0,
                  const int[::1] norm_kinds=None,
                  const int[::1] norm_pre=None, const Py_ssize_t[::1] norm_param_offsets=None,
                  const Py_ssize_t[::1] norm_offsets=None, const double[::1] norm_eps=None,
                  const double[::1] norm_momentum=None, floating[::1] norm_buffer=None,
                  floating[::1] norm_running=None, bint stop_non_finite=False,
                  floating[::1] exchange=None, const Py_ssize_t[::1] step_starts=None):
    """Train on samples order[start:stop] in batches.

    Returns (loss sum, correct, t, penalty sum).  The loss sum is Σ over
    batches of (mean batch loss × batch rows), so the caller divides by the
    number of samples for the epoch's mean; the penalty sum is the same for
    the L2 penalty ``½·l2·Σ‖W‖²/Σw`` of each batch (0 when ``l2`` is 0).  ``t``
    is the optimizer's step count after the last batch.  ``rule``: 0 gradient
    descent, 1 momentum, 2 Adam (PyTorch's forms), 3 momentum and 4 Adam in
    scikit-learn's forms, 5 AdamW, 6 RMSprop, 7 Adagrad (PyTorch's forms;
    optim.pyx).  Hyperparameters and state by rule (unused ones ignored,
    state arrays of length 0 or None when unused):

    ====  ====================================  ================================
    rule  hyperparameters                       state1, state2, state3
    ====  ====================================  ================================
    0     lr, weight_decay                      -
    1, 3  lr, momentum, nesterov, weight_decay  velocity
    2, 4  lr, beta1, beta2, eps, weight_decay   m, v; v_max if ``amsgrad`` (2)
    5     the same; weight_decay decoupled      m, v; v_max if ``amsgrad``
    6     lr, beta2 (ρ), eps, weight_decay,     square_avg; momentum_buffer if
          momentum, ``centered``                momentum > 0; grad_avg if
                                                ``centered``
    7     lr, ``lr_decay``, eps, weight_decay   sum
    ====  ====================================  ================================

    ``clip_value``, ``clip_norm`` (> 0; 0: off): after each step's gradient
    (and its sum over the ranks), clamp each element to ±clip_value, then
    scale all by min(1, clip_norm/(‖g‖₂ + 10⁻⁶)) (PyTorch's
    ``clip_grad_value_`` and ``clip_grad_norm_``; the norm summed on one
    thread in a fixed order).  Not ``clip_norm`` with a node-shared reducer:
    each rank holds only its slice of the summed gradient.
    ``sample_weight`` (n_samples,) or None.
    ``spare`` (``spare_size(batch_size, n_in, n_out)`` values) or None: a
    second set of batch buffers, for the batch-1 fusion's second input row
    and for the gather-ahead (see the design notes); without it neither is
    used.  ``check_finite``: test each gathered row of inputs, in the same
    pass as its copy, before training on its batch; at the first batch with
    NaN or infinity the run stops and ``NonFiniteBatch`` is raised (after the
    compiled loop has returned).  A first epoch visits every row, so this replaces the
    boundary's separate pass over X (fastnn.model decides when, and undoes
    the partial run).
    ``stop_non_finite``: test each batch's loss value and gradient before its
    update; at the first NaN or infinity the run stops without that update
    and ``NonFiniteStep`` is raised (after the compiled loop has returned),
    carrying the batch's position and the results of the batches before it.
    No fused update or batch-1 fusion then; not with a ``reducer``.

    Data-parallel training (fastnn.distributed): ``reducer``
    (``REDUCER_FIELDS`` integers, see ``_unpack_reducer``; an MPI_Allreduce
    address of 0: no sum, each rank steps alone, as local SGD does; with a
    node-shared reduction, ``grads`` must be this rank's buffer of the
    window), ``step_counts`` (this rank's rows of
    each step of the call, in order, summing to stop - start; 0 allowed),
    ``step_totals`` (each step's rows over all ranks, or their weight sum
    with ``sample_weight``) and ``step_rows`` (each step's rows over all
    ranks; default: ``step_totals``): each step trains on this rank's rows with its
    output delta scaled by its share of the step, the gradients are summed
    over the ranks, and every rank takes the same update.  No fused update,
    batch-1 fusion or gather-ahead then.  ``batch_size`` bounds every count.

    Shared products, instead of the gradient sum (ranks of one machine
    sharing the model, a node-shared ``reducer`` within one machine):
    ``exchange`` (``exchange_size(batch_size, sizes)`` values of the node's
    shared window) and ``step_starts`` (this rank's first row among each
    step's rows, the ranks' rows in local-rank order).  Each rank copies its
    rows' layer inputs and dL/dZ there; after a barrier it computes the
    gradient of its own rows of each W and elements of each b from all the
    step's rows, and steps them (``_shared_products_step``); a barrier ends
    the step.  Gradient descent without decay or clipping is fused into
    those products.  Not with normalization layers.  ``grads`` then holds
    this rank's slices of the last step's gradient (not with the fused step).

    Dropout after hidden layers (fastnn.layers.Dropout): per Dense layer,
    ``dropout_thresholds`` (round(rate·2^24), 0: none; never the output
    layer), ``dropout_scales`` (1/(1 − rate)) and ``dropout_offsets`` (the
    layer's place, in units, in the blocks of ``dropout_buffer``: 2 ·
    batch_size · Σ units of the dropped layers: the dropped activations, then
    the masks); masks keyed by ``dropout_key``, ``dropout_epoch``, the layer
    and each sample's row in the training set (``dropout_rows[r]`` for local
    row r; None: r itself), csrc/dropout.h.

    ``act_params`` (one per Dense layer, or None: all 0): each layer's
    activation parameter, LeakyReLU's alpha.  ``preacts`` (batch_size ·
    Σ_{l≥1} s_l values, like ``deltas``): needed when a layer is GELU, whose
    backward pass reads its pre-activations there.  ``huber_delta``: the
    Huber loss's δ (other losses ignore it).

    Normalization layers (fastnn.layers.BatchNorm, LayerNorm; NormPlan): per
    Dense layer, ``norm_kinds`` (NORM_NONE, NORM_BATCH, NORM_LAYER),
    ``norm_pre`` (1: before the activation; after it otherwise, never on the
    output layer), ``norm_param_offsets`` (γ's offset in params: the
    normalization parameters follow every W and b, in layer order, γ then β
    of each), ``norm_offsets`` (its place in units among the normalized
    layers), ``norm_eps``, ``norm_momentum``; ``norm_buffer`` of
    ``norm_buffer_size(batch_size, units)`` values; ``norm_running`` (2 ·
    units: each layer's running mean then variance, at 2·norm_offsets[l]),
    moved by the BatchNorm layers.  No fused update or batch-1 fusion then.

    The caller (fastnn.model) validates every argument and owns every buffer;
    this function checks only what keeps memory accesses in bounds.
    """
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1
    cdef Py_ssize_t n_in = X.shape[1], n_out = Y.shape[1], n_params = params.shape[0]
    cdef Py_ssize_t r, size = sizeof(floating)
    cdef floating* s1 = &state1[0] if state1 is not None and state1.shape[0] > 0 else NULL
    cdef floating* s2 = &state2[0] if state2 is not None and state2.shape[0] > 0 else NULL
    cdef floating* s3 = &state3[0] if state3 is not None and state3.shape[0] > 0 else NULL
    cdef floating[::1] w_batch
    cdef bint defer, ahead, has_spare
    cdef Batches g
    cdef Progress out
    cdef Distributed dist
    cdef Distributed* dist_ptr = NULL
    cdef DropoutPlan drop
    cdef Py_ssize_t dropped_units
    cdef NormPlan norm
    cdef Py_ssize_t norm_units = _norm_plan(&norm, norm_kinds, norm_pre, norm_param_offsets,
                                            norm_offsets, norm_eps, norm_momentum, sizes)
    cdef Rule update
    cdef KernelArgs kargs
    # Plain gradient descent is fused into the backward pass (see
    # _forward_backward), or into the shared products (_shared_products_step).
    cdef bint plain_gd = (rule == RULE_GD and weight_decay == 0 and l2 == 0
                          and clip_value == 0 and clip_norm == 0
                          and norm_units == 0 and not stop_non_finite)
    cdef double fused_lr = lr if plain_gd and reducer is None else 0
    update.code, update.lr, update.momentum, update.nesterov = rule, lr, momentum, nesterov
    update.beta1, update.beta2, update.eps = beta1, beta2, eps
    update.weight_decay, update.lr_decay = weight_decay, lr_decay
    update.amsgrad, update.centered = amsgrad, centered
    update.clip_value, update.clip_norm = clip_value, clip_norm
    update.stop_non_finite = stop_non_finite
    _check_rule(&update, n_params, 0 if state1 is None else state1.shape[0],
                0 if state2 is None else state2.shape[0],
                0 if state3 is None else state3.shape[0])
    if l2 < 0:
        raise ValueError("train_samples: l2 must be >= 0, got %r" % l2)
    if sample_weight is not None and sample_weight.shape[0] != X.shape[0]:
        raise ValueError("train_samples: sample_weight has %d entries for %d samples"
                         % (sample_weight.shape[0], X.shape[0]))
    _check_layout(X.shape[0], Y.shape[0], n_in, n_out, order, start, stop, batch_size,
                  sizes, act_codes, n_params - 2 * norm_units, grads.shape[0] - 2 * norm_units,
                  acts.shape[0],
                  deltas.shape[0], y_batch.shape[0], w_off, b_off, a_off, d_off)
    _kernel_args(&kargs, act_params, preacts, huber_delta, act_codes, deltas.shape[0])
    if reducer is not None:
        if stop_non_finite:
            raise ValueError("train_samples: stop_non_finite does not work with a reducer "
                             "(data-parallel training)")
        if step_rows is None:
            step_rows = step_totals
        _check_distributed(reducer, step_counts, step_totals, step_rows, start, stop,
                           batch_size)
        dist.n_steps = step_counts.shape[0]
        dist.counts = &step_counts[0] if dist.n_steps > 0 else NULL
        dist.totals = &step_totals[0] if dist.n_steps > 0 else NULL
        dist.rows = &step_rows[0] if dist.n_steps > 0 else NULL
        _unpack_reducer(reducer, &grads[0], &dist.reducer)
        if clip_norm > 0 and dist.reducer.function != NULL and dist.reducer.node_size != 0:
            raise ValueError("train_samples: clip_norm needs the whole gradient, and ranks "
                             "that share the model each hold only a slice of its sum")
        dist.exchange, dist.starts, dist.fused_lr = NULL, NULL, 0.0
        if exchange is not None:
            _check_exchange(&dist, exchange.shape[0], step_starts, step_counts, step_rows,
                            batch_size, sizes, norm_units)
            dist.exchange = <void*>&exchange[0]
            dist.starts = &step_starts[0] if dist.n_steps > 0 else NULL
            dist.fused_lr = lr if plain_gd else 0.0
        dist_ptr = &dist
        spare = None               # no batch-1 fusion, no gather-ahead
    elif (step_counts is not None or step_totals is not None or step_rows is not None
          or exchange is not None):
        raise ValueError("train_samples: step_counts, step_totals and exchange need a "
                         "reducer")
    g.drop = NULL
    if dropout_thresholds is not None:
        dropped_units = _check_dropout(dropout_thresholds, dropout_scales, dropout_offsets,
                                       dropout_rows, n_layers, sizes, X.shape[0])
        if dropout_buffer is None or dropout_buffer.shape[0] < 2 * batch_size * dropped_units:
            raise ValueError("train_samples: dropout_buffer must hold 2 x batch_size x %d "
                             "values" % dropped_units)
        drop.thresholds = <const uint32_t*>&dropout_thresholds[0]
        drop.scales = &dropout_scales[0]
        drop.off = &dropout_offsets[0]
        drop.key, drop.epoch = dropout_key, <uint64_t>dropout_epoch
        drop.rows = &dropout_rows[0] if dropout_rows is not None else NULL
        drop.dropped = <void*>&dropout_buffer[0]
        drop.masks = <void*>&dropout_buffer[batch_size * dropped_units]
        g.drop = &drop
    g.norm = NULL
    if norm_units > 0:
        if (norm_buffer is None
                or norm_buffer.shape[0] < norm_buffer_size(batch_size, norm_units)):
            raise ValueError("train_samples: norm_buffer must hold norm_buffer_size(%d, %d) "
                             "values" % (batch_size, norm_units))
        if norm_running is None or norm_running.shape[0] != 2 * norm_units:
            raise ValueError("train_samples: norm_running must hold 2 x %d values" % norm_units)
        _norm_buffers(&norm, &norm_buffer[0], batch_size, norm_units)
        norm.running = <void*>&norm_running[0]
        g.norm = &norm
    has_spare = spare is not None and spare.shape[0] >= spare_size(batch_size, n_in, n_out)
    defer = (has_spare and fused_lr > 0 and batch_size == 1
             and step_forward_exact(<int>n_in, <int>sizes[1], floating is double))
    ahead = (has_spare and not defer
             and _gathers_ahead(batch_size, n_layers, &sizes[0], (n_in + n_out) * size,
                                floating is double))
    g.X = <const char*>&X[0, 0]
    g.Y = <const char*>&Y[0, 0]
    g.order = &order[0] if order.shape[0] > 0 else NULL
    g.x_bytes, g.y_bytes, g.w_bytes = n_in * size, n_out * size, size
    g.start, g.stop, g.batch_size = start, stop, batch_size
    g.check_finite = check_finite
    fastnn_rows_reset(&g.rows[0], 0)
    fastnn_rows_reset(&g.rows[1], 1)
    g.consumed = g.abort = 0
    g.x[0], g.y[0] = <char*>&acts[0], <char*>&y_batch[0]
    g.x[1], g.y[1] = g.x[0], g.y[0]
    if has_spare:
        # spare: set 1's inputs, targets, then weights
        g.x[1] = <char*>&spare[0]
        if ahead:
            g.y[1] = <char*>&spare[batch_size * n_in]
    g.sw = NULL
    g.w[0] = g.w[1] = NULL
    if sample_weight is not None:
        g.sw = <const char*>&sample_weight[0]
        w_batch = np.empty(batch_size, dtype=np.float32 if floating is float else np.float64)
        g.w[0] = g.w[1] = <char*>&w_batch[0]
        if ahead:
            g.w[1] = <char*>&spare[batch_size * (n_in + n_out)]
    out.total = out.penalty = 0
    out.correct = 0
    out.bad_pos = out.stop_pos = -1
    out.t = t
    out.mpi_error = 0
    if ahead:
        with nogil, parallel(num_threads=2):
            if threadid() == 1:
                _gather_ahead(&g, &params[0])
            else:                      # without a second thread after all, gather here
                _train_loop(&g, omp_get_num_threads() == 2, False, &params[0], &grads[0],
                            &acts[0], &deltas[0], s1, s2, s3, n_params, n_layers, &sizes[0],
                            &act_codes[0], loss, &kargs, &w_off[0], &b_off[0], &a_off[0],
                            &d_off[0], &update, l2, fused_lr, NULL, &out)
    else:
        with nogil:
            _train_loop(&g, False, defer, &params[0], &grads[0], &acts[0], &deltas[0],
                        s1, s2, s3, n_params, n_layers, &sizes[0], &act_codes[0], loss,
                        &kargs, &w_off[0], &b_off[0], &a_off[0], &d_off[0], &update, l2,
                        fused_lr, dist_ptr, &out)
    if out.mpi_error != 0:
        raise RuntimeError("train_samples: MPI_Allreduce failed with MPI error code %d"
                           % out.mpi_error)
    if out.bad_pos >= 0:
        for r in range(out.bad_pos, min(out.bad_pos + batch_size, stop)):
            if not np.isfinite(X[order[r]]).all():
                raise NonFiniteBatch(order[r])
    if out.stop_pos >= 0:
        raise NonFiniteStep(out.stop_pos, (out.total, out.correct, out.t, out.penalty))
    return out.total, out.correct, out.t, out.penalty


cdef _check_rule(const Rule* r, Py_ssize_t n_params, Py_ssize_t n1, Py_ssize_t n2,
                 Py_ssize_t n3):
    """Raise ValueError unless the rule is known, its options belong to it and
    the state arrays it updates are given (``n1``, ``n2``, ``n3``: the lengths of
    state1, state2, state3; 0 for none), of params' length."""
    cdef int code = r.code
    cdef bint adam = code == RULE_ADAM or code == RULE_SKLEARN_ADAM or code == RULE_ADAMW
    cdef bint rmsprop_momentum = code == RULE_RMSPROP and r.momentum > 0
    if not RULE_GD <= code <= RULE_ADAGRAD:
        raise ValueError("train_samples: unknown optimizer rule %d" % code)
    if r.amsgrad and not (code == RULE_ADAM or code == RULE_ADAMW):
        raise ValueError("train_samples: amsgrad is an option of rules 2 and 5 (Adam, AdamW)")
    if r.centered and code != RULE_RMSPROP:
        raise ValueError("train_samples: centered is an option of rule 6 (RMSprop)")
    if r.lr_decay != 0 and code != RULE_ADAGRAD:
        raise ValueError("train_samples: lr_decay is an option of rule 7 (Adagrad)")
    if not (r.lr_decay >= 0 and r.clip_value >= 0 and r.clip_norm >= 0):
        raise ValueError("train_samples: lr_decay, clip_value and clip_norm must be >= 0, "
                         "got %r, %r, %r" % (r.lr_decay, r.clip_value, r.clip_norm))
    _check_state(code != RULE_GD, n1, n_params, 1)
    _check_state(adam or rmsprop_momentum, n2, n_params, 2)
    _check_state(r.amsgrad or r.centered, n3, n_params, 3)


cdef _check_state(bint needed, Py_ssize_t length, Py_ssize_t n_params, int which):
    if needed and length == 0:
        raise ValueError("train_samples: optimizer state missing (state%d)" % which)
    if needed and length != n_params:
        raise ValueError("train_samples: optimizer state differs in size from params")


cdef Py_ssize_t _check_dropout(const unsigned int[::1] thresholds, const double[::1] scales,
                               const Py_ssize_t[::1] offsets, const Py_ssize_t[::1] rows,
                               Py_ssize_t n_layers, const Py_ssize_t[::1] sizes,
                               Py_ssize_t n_samples) except -1:
    """Check train_samples' dropout arrays; returns the units the buffer holds per row."""
    cdef Py_ssize_t l, units = 0
    if (scales is None or offsets is None or thresholds.shape[0] != n_layers
            or scales.shape[0] != n_layers or offsets.shape[0] != n_layers):
        raise ValueError("train_samples: dropout_thresholds, dropout_scales and "
                         "dropout_offsets need one entry per Dense layer")
    if thresholds[n_layers - 1] != 0:
        raise ValueError("train_samples: no dropout after the output layer")
    for l in range(n_layers):
        if thresholds[l] > 0:
            if thresholds[l] >= (1 << 24) or offsets[l] != units:
                raise ValueError("train_samples: layer %d's dropout threshold %d or offset "
                                 "%d is out of place" % (l, thresholds[l], offsets[l]))
            units += sizes[l + 1]
    if rows is not None and rows.shape[0] < n_samples:
        raise ValueError("train_samples: dropout_rows has %d entries for %d samples"
                         % (rows.shape[0], n_samples))
    return units


cdef Py_ssize_t _norm_plan(NormPlan* plan, const int[::1] kinds, const int[::1] pre,
                           const Py_ssize_t[::1] p_off, const Py_ssize_t[::1] off,
                           const double[::1] eps, const double[::1] momentum,
                           const Py_ssize_t[::1] sizes) except -1:
    """Check the normalization arrays (see train_samples) and point ``plan``'s
    descriptors at them (its buffers are left NULL); returns the units
    normalized, 0 when ``kinds`` is None (then nothing is normalized)."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, units = 0, p = 0
    plan.xhat = plan.normed = plan.stats = plan.running = NULL
    if kinds is None:
        if pre is not None or p_off is not None or off is not None:
            raise ValueError("train: normalization arrays without norm_kinds")
        return 0
    if (pre is None or p_off is None or off is None or eps is None or momentum is None
            or not kinds.shape[0] == pre.shape[0] == p_off.shape[0] == off.shape[0]
            == eps.shape[0] == momentum.shape[0] == L):
        raise ValueError("train: norm_kinds, norm_pre, norm_param_offsets, norm_offsets, "
                         "norm_eps and norm_momentum need one entry per Dense layer")
    for l in range(1, L + 1):
        p += sizes[l - 1] * sizes[l] + sizes[l]
    for l in range(L):
        if kinds[l] == NORM_NONE:
            continue
        if kinds[l] != NORM_BATCH and kinds[l] != NORM_LAYER:
            raise ValueError("train: unknown normalization kind %d" % kinds[l])
        if not pre[l] and l == L - 1:
            raise ValueError("train: no normalization after the output layer's activation")
        if p_off[l] != p or off[l] != units:
            raise ValueError("train: layer %d's normalization offsets %d, %d are out of place"
                             % (l, p_off[l], off[l]))
        if not (eps[l] > 0 and 0 <= momentum[l] <= 1):
            raise ValueError("train: layer %d's normalization needs eps > 0 and momentum in "
                             "[0, 1]" % l)
        p += 2 * sizes[l + 1]
        units += sizes[l + 1]
    plan.kinds, plan.pre, plan.p_off, plan.off = &kinds[0], &pre[0], &p_off[0], &off[0]
    plan.eps, plan.momentum = &eps[0], &momentum[0]
    return units


cdef void _norm_buffers(NormPlan* plan, floating* buffer, Py_ssize_t batch_size,
                        Py_ssize_t units) noexcept:
    """Point the plan's x̂, normalized-output and statistics blocks into
    ``buffer`` (``norm_buffer_size(batch_size, units)`` values)."""
    plan.xhat = <void*>buffer
    plan.normed = <void*>(buffer + batch_size * units)
    plan.stats = <void*>(buffer + 2 * batch_size * units)


def norm_buffer_size(Py_ssize_t batch_size, Py_ssize_t units):
    """Length of ``train_samples``' ``norm_buffer``: x̂ and the normalized
    outputs (batch_size × units each) and the batch statistics ((batch_size
    + 2) × units)."""
    return (3 * batch_size + 2) * units


#: Length of a reducer array (fastnn/distributed.py builds it).
REDUCER_FIELDS = 13


cdef _unpack_reducer(const long long[::1] reducer, const void* grads, fastnn_allreduce* r):
    """Fill csrc/allreduce.h's struct from the integers fastnn/distributed.py
    builds: the address of MPI_Allreduce, whether the MPI's handles are
    pointers, the handles of the communicator, MPI_FLOAT, MPI_DOUBLE and
    MPI_SUM, the value of MPI_IN_PLACE, the address of MPI_Barrier, the
    node's communicator, this rank's place on the node and the node's rank
    count (0: plain MPI_Allreduce), the address of the node's buffer
    addresses, and whether the reduction spans several machines.  Raises
    ValueError unless ``grads`` is this rank's node buffer."""
    if reducer.shape[0] != REDUCER_FIELDS:
        raise ValueError("reducer must hold %d integers, got %d"
                         % (REDUCER_FIELDS, reducer.shape[0]))
    r.function = <void*><intptr_t>reducer[0]
    r.handles_are_pointers = <int>reducer[1]
    r.comm = <intptr_t>reducer[2]
    r.float_type = <intptr_t>reducer[3]
    r.double_type = <intptr_t>reducer[4]
    r.sum = <intptr_t>reducer[5]
    r.in_place = <void*><intptr_t>reducer[6]
    r.barrier = <void*><intptr_t>reducer[7]
    r.node_comm = <intptr_t>reducer[8]
    r.node_rank = <int>reducer[9]
    r.node_size = <int>reducer[10]
    r.buffers = <void* const*><intptr_t>reducer[11]
    r.cross_node = <int>reducer[12]
    if r.node_size != 0 and (r.buffers == NULL or not 0 <= r.node_rank < r.node_size
                             or r.buffers[r.node_rank] != grads):
        raise ValueError("reducer: the gradient buffer is not this rank's buffer of the "
                         "node's shared window")


def reduce_gradients(floating[::1] grads, const long long[::1] reducer):
    """The gradient sum that the training loop makes after each step
    (fastnn.distributed's reducer; benchmarks and tests), without the update.

    Returns ``(lo, hi)``: ``grads[lo:hi]`` (the slice this rank would update;
    all of it unless the ranks of a machine share the model) now holds the
    sum over the ranks.  Raises RuntimeError on an MPI error code.
    """
    cdef fastnn_allreduce r
    cdef int err
    cdef Py_ssize_t lo = 0, hi = 0
    if grads.shape[0] == 0:
        raise ValueError("grads must not be empty")
    _unpack_reducer(reducer, &grads[0], &r)
    if r.function == NULL:
        raise ValueError("reducer: no MPI_Allreduce address")
    with nogil:
        err = fastnn_allreduce_slice(&r, &grads[0], grads.shape[0], floating is double,
                                     &lo, &hi)
        if err == 0:
            err = fastnn_allreduce_end(&r)
    if err != 0:
        raise RuntimeError("the gradient sum failed with MPI error code %d" % err)
    return lo, hi


def exchange_blocks(Py_ssize_t batch_size, const Py_ssize_t[::1] sizes,
                    const Py_ssize_t[::1] a_off, const Py_ssize_t[::1] d_off):
    """Where each rank's rows go in the shared products' exchange window
    (``_share_rows``): ``(offset, units)`` of every layer's inputs, then of
    every layer's dL/dZ; a rank's rows of a block start at offset + its first
    row × units."""
    cdef Py_ssize_t l, L = sizes.shape[0] - 1
    inputs = [(_exchange_input_at(l, batch_size, &a_off[0]), sizes[l - 1])
              for l in range(1, L + 1)]
    return inputs + [(_exchange_delta_at(l, batch_size, L, &sizes[0], &a_off[0], &d_off[0]),
                      sizes[l]) for l in range(1, L + 1)]


def exchange_size(Py_ssize_t batch_size, const Py_ssize_t[::1] sizes):
    """Values of the shared products' exchange window (train_samples): one
    batch of every layer's activations and of every layer's dL/dZ."""
    cdef Py_ssize_t total = 0, l
    for l in range(sizes.shape[0]):
        total += 2 * sizes[l]
    return batch_size * (total - sizes[0])


cdef _check_exchange(const Distributed* dist, Py_ssize_t length,
                     const Py_ssize_t[::1] starts, const Py_ssize_t[::1] counts,
                     const double[::1] rows, Py_ssize_t batch_size,
                     const Py_ssize_t[::1] sizes, Py_ssize_t norm_units):
    cdef Py_ssize_t i
    if norm_units > 0:
        raise ValueError("train_samples: shared products do not work with normalization "
                         "layers")
    if dist.reducer.function == NULL or dist.reducer.node_size < 2 or dist.reducer.cross_node:
        raise ValueError("train_samples: shared products need a node-shared reducer on one "
                         "machine")
    if length < exchange_size(batch_size, sizes):
        raise ValueError("train_samples: exchange must hold exchange_size(%d, sizes) values"
                         % batch_size)
    if starts is None or starts.shape[0] != counts.shape[0]:
        raise ValueError("train_samples: shared products need one step_starts per step")
    for i in range(counts.shape[0]):
        if not (0 <= starts[i] and starts[i] + counts[i] <= rows[i] <= batch_size):
            raise ValueError("train_samples: step %d: rows [%d, %d) of %r do not fit a "
                             "batch of %d" % (i, starts[i], starts[i] + counts[i], rows[i],
                                              batch_size))


def product_slices(const Py_ssize_t[::1] sizes, int rank, int ranks):
    """The ranges of the flat parameters that local rank ``rank`` of
    ``ranks`` steps with the shared products (``_shared_products_step``):
    its rows of each W and its elements of each b, in layer order."""
    cdef Py_ssize_t l, s_in, s_out, offset = 0
    slices = []
    for l in range(1, sizes.shape[0]):
        s_in, s_out = sizes[l - 1], sizes[l]
        slices.append((offset + _owned_bound(s_in, rank, ranks) * s_out,
                       offset + _owned_bound(s_in, rank + 1, ranks) * s_out))
        offset += s_in * s_out
        slices.append((offset + _owned_bound(s_out, rank, ranks),
                       offset + _owned_bound(s_out, rank + 1, ranks)))
        offset += s_out
    return slices


def slice_bounds(Py_ssize_t count, int ranks):
    """The bounds of the ranks' slices of ``count`` gradient elements in the
    node-shared sum (csrc/allreduce.h): ``ranks + 1`` integers, slice i being
    ``[bounds[i], bounds[i + 1])``."""
    return [fastnn_slice_bound(count, i, ranks) for i in range(ranks + 1)]


cdef _check_distributed(const long long[::1] reducer, const Py_ssize_t[::1] counts,
                        const double[::1] totals, const double[::1] rows_total,
                        Py_ssize_t start, Py_ssize_t stop, Py_ssize_t batch_size):
    cdef Py_ssize_t i, rows = 0
    if (counts is None or totals is None or counts.shape[0] != totals.shape[0]
            or rows_total.shape[0] != counts.shape[0]):
        raise ValueError("train_samples: a reducer needs step_counts, step_totals (and "
                         "step_rows) of one length")
    for i in range(counts.shape[0]):
        if not 0 <= counts[i] <= batch_size:
            raise ValueError("train_samples: step %d has %d rows, not in [0, %d]"
                             % (i, counts[i], batch_size))
        if not totals[i] >= 0:
            raise ValueError("train_samples: step %d's total %r is negative or NaN"
                             % (i, totals[i]))
        rows += counts[i]
    if rows != stop - start:
        raise ValueError("train_samples: step_counts sum to %d rows, the call has %d"
                         % (rows, stop - start))


cdef void _kernel_args(KernelArgs* k, const double[::1] act_params, floating[::1] preacts,
                       double huber_delta, const int[::1] act_codes,
                       Py_ssize_t n_deltas) except *:
    """Fill ``k``; raise ValueError unless ``act_params`` has one entry per
    layer and, when a layer is GELU, ``preacts`` holds as many values as the
    deltas (``n_deltas``; 0 for a forward pass, which needs none)."""
    cdef Py_ssize_t l, n_layers = act_codes.shape[0]
    cdef bint gelu = False
    if act_params is not None and act_params.shape[0] != n_layers:
        raise ValueError("train: act_params has %d entries for %d layers"
                         % (act_params.shape[0], n_layers))
    for l in range(n_layers):
        gelu = gelu or act_codes[l] == GELU
    if n_deltas > 0 and gelu and (preacts is None or preacts.shape[0] < n_deltas):
        raise ValueError("train: a GELU layer needs preacts of at least %d values (the "
                         "deltas' size)" % n_deltas)
    k.act_params = &act_params[0] if act_params is not None and n_layers > 0 else NULL
    k.preacts = <void*>&preacts[0] if n_deltas > 0 and gelu else NULL
    k.huber_delta = huber_delta


def gathers_ahead(Py_ssize_t batch_size, sizes, dtype):
    """Whether ``train_samples`` would gather batches on a second thread now
    (given ``spare``), for this batch size, layer sizes and dtype (tests)."""
    cdef Py_ssize_t[::1] s = np.asarray(sizes, dtype=np.intp)
    cdef Py_ssize_t itemsize = np.dtype(dtype).itemsize
    return _gathers_ahead(batch_size, s.shape[0] - 1, &s[0],
                          (s[0] + s[s.shape[0] - 1]) * itemsize, itemsize == 8)


def spare_size(Py_ssize_t batch_size, Py_ssize_t n_in, Py_ssize_t n_out):
    """Length of ``train_samples``' ``spare`` buffer for this batch size and
    network: one more batch of inputs, targets and sample weights."""
    return batch_size * (n_in + n_out + 1)


def gradients(const floating[:, ::1] X, const floating[:, ::1] Y,
              const Py_ssize_t[::1] sizes, const int[::1] act_codes, int loss,
              floating[::1] params, floating[::1] grads, floating[::1] acts,
              floating[::1] deltas, const Py_ssize_t[::1] w_off,
              const Py_ssize_t[::1] b_off, const Py_ssize_t[::1] a_off,
              const Py_ssize_t[::1] d_off, const floating[::1] sample_weight=None,
              double l2=0.0, const double[::1] act_params=None,
              floating[::1] preacts=None, double huber_delta=1.0,
              const int[::1] norm_kinds=None, const int[::1] norm_pre=None,
              const Py_ssize_t[::1] norm_param_offsets=None,
              const Py_ssize_t[::1] norm_offsets=None, const double[::1] norm_eps=None,
              const double[::1] norm_momentum=None, floating[::1] norm_buffer=None):
    """Gradient of the mean loss over all of X (one batch) into grads; return the loss.

    ``acts`` and ``deltas`` are sized for batch_size = X.shape[0]; the first
    layer reads X in place (A_0 in ``acts`` is left unused).  With ``sample_weight``
    (n_samples,) the loss is the weighted mean; with ``l2`` > 0 each W's
    gradient gains ``l2·W/Σw`` (the returned value is the data loss only: the
    caller adds the penalty ``½·l2·Σ‖W‖²/Σw``).  ``act_params``, ``preacts``
    (sized like ``deltas``) and ``huber_delta`` as in ``train_samples``.
    Normalization layers as in ``train_samples`` (the batch's statistics;
    BatchNorm's running statistics are not moved), ``norm_buffer`` sized for
    batch_size = X.shape[0].
    """
    cdef Py_ssize_t n = X.shape[0], n_layers = sizes.shape[0] - 1, l, i
    cdef double value
    cdef const floating* w = NULL
    cdef floating c
    cdef KernelArgs kargs
    cdef NormPlan norm
    cdef Py_ssize_t norm_units = _norm_plan(&norm, norm_kinds, norm_pre, norm_param_offsets,
                                            norm_offsets, norm_eps, norm_momentum, sizes)
    if l2 < 0:
        raise ValueError("gradients: l2 must be >= 0, got %r" % l2)
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("gradients: sample_weight has %d entries for %d samples"
                             % (sample_weight.shape[0], n))
        w = &sample_weight[0]
    _check_layout(n, Y.shape[0], X.shape[1], Y.shape[1], None, 0, n, n, sizes, act_codes,
                  params.shape[0] - 2 * norm_units, grads.shape[0] - 2 * norm_units,
                  acts.shape[0], deltas.shape[0], Y.shape[0] * Y.shape[1], w_off, b_off, a_off,
                  d_off)
    _kernel_args(&kargs, act_params, preacts, huber_delta, act_codes, deltas.shape[0])
    if norm_units > 0:
        if norm_buffer is None or norm_buffer.shape[0] < norm_buffer_size(n, norm_units):
            raise ValueError("gradients: norm_buffer must hold norm_buffer_size(%d, %d) values"
                             % (n, norm_units))
        _norm_buffers(&norm, &norm_buffer[0], n, norm_units)
    with nogil:
        value = _forward_backward(&params[0], &grads[0], &acts[0], &X[0, 0], &deltas[0],
                                  &Y[0, 0], w, n, n, n_layers, &sizes[0], &act_codes[0],
                                  loss, &kargs, &w_off[0], &b_off[0], &a_off[0], &d_off[0],
                                  NULL, 0, NULL, False, 1.0, NULL, NULL,
                                  &norm if norm_units > 0 else NULL)
        if l2 > 0:
            c = <floating>(l2 / weight_sum(w, n))
            for l in range(n_layers):
                for i in range(w_off[l], b_off[l]):
                    grads[i] = grads[i] + c * params[i]
    return value


def predict(const floating[:, ::1] X, const Py_ssize_t[::1] sizes,
            const int[::1] act_codes, floating[::1] params, floating[::1] acts,
            const Py_ssize_t[::1] w_off, const Py_ssize_t[::1] b_off,
            const Py_ssize_t[::1] a_off, Py_ssize_t batch_size, floating[:, ::1] out,
            const double[::1] act_params=None, const int[::1] norm_kinds=None,
            const int[::1] norm_pre=None, const Py_ssize_t[::1] norm_param_offsets=None,
            const Py_ssize_t[::1] norm_offsets=None, const double[::1] norm_eps=None,
            const double[::1] norm_momentum=None, const floating[::1] norm_running=None):
    """Forward X through the network, ``batch_size`` rows at a time, into out
    (``act_params`` as in ``train_samples``).

    Normalization layers (see ``train_samples``) in inference mode: BatchNorm
    with the running statistics ``norm_running``, LayerNorm with each row's.
    """
    cdef Py_ssize_t n_layers = sizes.shape[0] - 1, n_rows = X.shape[0]
    cdef Py_ssize_t pos = 0, n, l, units
    cdef const floating* A_in
    cdef floating* A_out
    cdef const floating* running = NULL
    cdef const floating* gamma
    cdef int kind
    cdef KernelArgs kargs
    cdef floating[::1] no_preacts = None     # a forward pass keeps none
    cdef NormPlan norm
    cdef Py_ssize_t norm_units = _norm_plan(&norm, norm_kinds, norm_pre, norm_param_offsets,
                                            norm_offsets, norm_eps, norm_momentum, sizes)
    _check_layout(n_rows, out.shape[0], X.shape[1], out.shape[1], None, 0, n_rows,
                  batch_size, sizes, act_codes, params.shape[0] - 2 * norm_units,
                  params.shape[0] - 2 * norm_units, acts.shape[0], -1, -1, w_off, b_off,
                  a_off, None, True)
    _kernel_args(&kargs, act_params, no_preacts, 1.0, act_codes, 0)
    if norm_units > 0:
        if norm_running is None or norm_running.shape[0] != 2 * norm_units:
            raise ValueError("predict: norm_running must hold 2 x %d values" % norm_units)
        running = &norm_running[0]
    with nogil:
        while pos < n_rows:
            n = batch_size if n_rows - pos > batch_size else n_rows - pos
            for l in range(1, n_layers + 1):
                # The first layer reads X in place; the last writes into out.
                A_in = &X[pos, 0] if l == 1 else &acts[0] + batch_size * a_off[l - 1]
                A_out = &out[pos, 0] if l == n_layers else &acts[0] + batch_size * a_off[l]
                kind = norm.kinds[l - 1] if norm_units > 0 else NORM_NONE
                units = sizes[l]
                dense_forward_impl(A_in, &params[0] + w_off[l - 1], &params[0] + b_off[l - 1],
                                   IDENTITY if kind != NORM_NONE and norm.pre[l - 1]
                                   else act_codes[l - 1], _act_param(&kargs, l - 1), A_out,
                                   <floating*>NULL, n, sizes[l - 1], units,
                                   ELEMENTWISE_THREADS)
                if kind == NORM_NONE:
                    continue
                gamma = &params[0] + norm.p_off[l - 1]
                norm_inference_impl(kind, A_out, gamma, gamma + units,
                                    running + 2 * norm.off[l - 1],
                                    running + 2 * norm.off[l - 1] + units,
                                    norm.eps[l - 1], n, units)
                if norm.pre[l - 1]:
                    activation_forward_impl(act_codes[l - 1], _act_param(&kargs, l - 1), A_out,
                                            <floating*>NULL, A_out, <floating*>NULL, n, units,
                                            ELEMENTWISE_THREADS)
            pos += n


cdef void _check_layout(Py_ssize_t n_x, Py_ssize_t n_y, Py_ssize_t n_in, Py_ssize_t n_out,
                        const Py_ssize_t[::1] order, Py_ssize_t start, Py_ssize_t stop,
                        Py_ssize_t batch_size, const Py_ssize_t[::1] sizes,
                        const int[::1] act_codes, Py_ssize_t n_params, Py_ssize_t n_grads,
                        Py_ssize_t n_acts, Py_ssize_t n_deltas, Py_ssize_t n_ybatch,
                        const Py_ssize_t[::1] w_off, const Py_ssize_t[::1] b_off,
                        const Py_ssize_t[::1] a_off, const Py_ssize_t[::1] d_off,
                        bint forward_only=False) except *:
    """Raise ValueError unless every buffer access the loops make is in bounds.

    Every activation code is allowed in forward passes (``forward_only``),
    those with a gradient (not STEP) where gradients are taken.
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
        if not (0 <= act_codes[l - 1] < N_ACTIVATIONS if forward_only
                else has_gradient(act_codes[l - 1])):
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
