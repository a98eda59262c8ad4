"""Row-major GEMM: fastnn's own kernels, or SciPy's BLAS.

Design
------
The one place fastnn multiplies matrices.  ``gemm`` routes each call by
``fastnn_gemm_route`` in ``csrc/gemm_route.h``: a function of the shape, the
transposes, the dtype, the active instruction-set path and the route table
(measured on this CPU by ``python -m fastnn tune``; where nothing was measured,
a default rule), never of the thread count.  The routes: the register-blocked
kernels of ``csrc/small_gemm.h`` (tiny and skinny products, small-batch
training, where OpenBLAS spends most of its time packing and dispatching); the
packed kernel of ``csrc/packed_gemm.h``, which splits C over OpenMP threads
(large products); BLAS (``scipy.linalg.cython_blas``).  Every route splits
work over the output only, so results stay bit-identical for any number of
threads.  The table is one static array of this module, set from Python with
``set_route_table`` (``fastnn/_routes.py`` loads it from the cache file).

Arrays are C-contiguous (row-major); BLAS is column-major, so ``C = op(A)·op(B)``
is computed as ``Cᵀ = op(B)ᵀ·op(A)ᵀ`` by swapping the operands and the
dimensions, as scikit-learn's ``_cython_blas`` does.  The caller owns every
buffer.  Threads: the small kernels run on the calling thread; the packed
kernel starts an OpenMP team sized by ``fastnn.set_num_threads`` (inside
another parallel region it runs on one thread, OpenMP's nesting default); a
BLAS product small enough runs as one BLAS call on the calling thread, a larger
one in fixed pieces shared by the same OpenMP team, the BLAS library held to
one thread (``_blas_gemm_pieces`` below), so that BLAS's own thread split
never changes the bits.
"""
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_release_lock, PyThread_type_lock, WAIT_LOCK)
from cython.parallel cimport prange
from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastnn._kernels._parallel cimport max_threads

include "_isa.pxi"


cdef extern from "small_gemm.h" nogil:
    void fastnn_sgemm_small(int trans_a, int trans_b, int m, int n, int k,
                            float alpha, const float* A, int lda, const float* B, int ldb,
                            float beta, float* C, int ldc)
    void fastnn_dgemm_small(int trans_a, int trans_b, int m, int n, int k,
                            double alpha, const double* A, int lda, const double* B, int ldb,
                            double beta, double* C, int ldc)
    void fastnn_sgemm_small_portable(int trans_a, int trans_b, int m, int n, int k,
                                     float alpha, const float* A, int lda,
                                     const float* B, int ldb, float beta, float* C, int ldc)
    void fastnn_dgemm_small_portable(int trans_a, int trans_b, int m, int n, int k,
                                     double alpha, const double* A, int lda,
                                     const double* B, int ldb, double beta, double* C,
                                     int ldc)
    const char* fastnn_small_gemm_isa()
    int fastnn_small_gemm_accumulates_fast(int m, int n, int k, int trans_a, int trans_b,
                                           int is_double)
    int fastnn_small_step_forward_fits(int n, int is_double)
    void fastnn_sstep_forward_small(int n, int k, const float* x_old, const float* dz,
                                    float alpha, const float* x_new, float* W, int ldw,
                                    float* z)
    void fastnn_dstep_forward_small(int n, int k, const double* x_old, const double* dz,
                                    double alpha, const double* x_new, double* W, int ldw,
                                    double* z)


cdef extern from "packed_gemm.h" nogil:
    void fastnn_sgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                             float alpha, const float* A, int lda, const float* B, int ldb,
                             float beta, float* C, int ldc, int max_threads)
    void fastnn_dgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                             double alpha, const double* A, int lda, const double* B,
                             int ldb, double beta, double* C, int ldc, int max_threads)
    int fastnn_packed_gemm_accumulates_exactly(int k, int is_double)


cdef extern from "gemm_route.h" nogil:
    enum:
        FASTNN_ROUTE_DEFAULT
        FASTNN_ROUTE_BLAS
        FASTNN_ROUTE_SMALL
        FASTNN_ROUTE_PACKED
        FASTNN_N_ROUTES
        FASTNN_ROUTE_OPS
        FASTNN_ROUTE_BINS
        FASTNN_ROUTE_TABLE_CELLS
    int fastnn_route_available(int isa, int route)
    int fastnn_route_bin(int x)
    int fastnn_gemm_route(int m, int n, int k, int trans_a, int trans_b, int is_double)
    int fastnn_gemm_route_default(int isa, int m, int n, int k, int trans_a, int trans_b,
                                  int is_double)
    int fastnn_route_table_set(int isa, const unsigned char* cells)
    const unsigned char* fastnn_route_table_cells(int isa)
    int fastnn_route_blas_avx512


cdef enum Route:
    ROUTED = 0      # gemm(): own kernel where it wins, BLAS elsewhere
    OWN = 1         # the own kernel (the active path's SIMD code)
    OWN_PORTABLE = 2  # the own kernel's plain C fallback
    BLAS = 3        # always BLAS
    PACKED = 4      # the own packed (large-product) kernel


cdef inline void _blas_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                            floating alpha, const floating* A, int lda,
                            const floating* B, int ldb,
                            floating beta, floating* C, int ldc) noexcept nogil:
    cdef char ta = b"t" if trans_a else b"n"
    cdef char tb = b"t" if trans_b else b"n"
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


# --- BLAS in fixed pieces: the same bits for any thread count ------------------
#
# OpenBLAS threads a product above 2^18 multiply-adds, and how it cuts the
# product between its threads changes the bits of the result (its edge tiles
# sum in another order).  So above that size fastnn cuts C itself, into pieces
# fixed by the shape alone (blas_pieces), and runs each piece as one BLAS call
# with the BLAS library held to one thread, the pieces shared by its own
# OpenMP team: which thread computes a piece never changes its bits.  The BLAS
# library's thread functions come from Python (fastnn/_config.py finds them in
# SciPy's OpenBLAS with threadpoolctl); without them (another BLAS) the
# product is one plain BLAS call, and README says what that costs.

ctypedef int (*blas_get_threads_fn)() noexcept nogil
ctypedef void (*blas_set_threads_fn)(int) noexcept nogil
cdef blas_get_threads_fn _blas_get_threads = NULL
cdef blas_set_threads_fn _blas_set_threads = NULL

# Holding BLAS to one thread is process-wide state shared by every Python
# thread that multiplies at the same time: the first holder saves the BLAS
# thread count and sets 1, the last one restores it (a holder that restored
# while another was still multiplying let that one's pieces run threaded,
# with other bits).
cdef PyThread_type_lock _hold_lock = PyThread_allocate_lock()
cdef int _holders = 0
cdef int _saved_blas_threads = 1


cdef void _hold_blas_to_one_thread() noexcept nogil:
    global _holders, _saved_blas_threads
    PyThread_acquire_lock(_hold_lock, WAIT_LOCK)
    if _holders == 0:
        _saved_blas_threads = _blas_get_threads()
        if _saved_blas_threads != 1:
            _blas_set_threads(1)
    _holders += 1
    PyThread_release_lock(_hold_lock)


cdef void _release_blas_threads() noexcept nogil:
    global _holders
    PyThread_acquire_lock(_hold_lock, WAIT_LOCK)
    _holders -= 1
    if _holders == 0 and _saved_blas_threads != 1:
        _blas_set_threads(_saved_blas_threads)
    PyThread_release_lock(_hold_lock)


cdef extern from "fp_mode.h" nogil:
    unsigned fastnn_fp_mode_get()
    unsigned fastnn_fp_mode_adopt(unsigned mode)
    void fastnn_fp_mode_restore(unsigned own)

cdef enum:
    BLAS_THREAD_MIN_WORK = 262144   # 2^18: OpenBLAS threads a product above this
    BLAS_PIECE_WORK = 1048576       # 2^20 multiply-adds per piece, at least
    BLAS_MAX_PIECES = 8
    BLAS_PIECE_UNIT = 16            # pieces are whole multiples of 16 rows or columns


cdef inline int blas_pieces(int m, int n, int k) noexcept nogil:
    """How many pieces a BLAS-routed product is cut into: one up to 2^18
    multiply-adds (OpenBLAS computes it on the calling thread), else one per
    2^20, at most 8, each at least 16 rows or columns of C.  Shape only."""
    cdef double work = <double>m * n * k
    cdef int total = n if n >= m else m
    cdef int pieces
    if work <= BLAS_THREAD_MIN_WORK or _blas_set_threads == NULL:
        return 1
    pieces = <int>(work / BLAS_PIECE_WORK)
    if pieces > BLAS_MAX_PIECES:
        pieces = BLAS_MAX_PIECES
    if pieces > total // BLAS_PIECE_UNIT:
        pieces = total // BLAS_PIECE_UNIT
    return pieces if pieces > 1 else 1


cdef void _blas_gemm_pieces(bint trans_a, bint trans_b, int m, int n, int k,
                            floating alpha, const floating* A, int lda,
                            const floating* B, int ldb,
                            floating beta, floating* C, int ldc) noexcept nogil:
    """``_blas_gemm``, the same bits for any thread count (see above)."""
    cdef int pieces = blas_pieces(m, n, k)
    cdef int n_threads, piece, width, total
    cdef bint by_cols = n >= m
    cdef unsigned mode, own
    if <double>m * n * k <= BLAS_THREAD_MIN_WORK or _blas_set_threads == NULL:
        _blas_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    _hold_blas_to_one_thread()
    total = n if by_cols else m
    width = (total + pieces - 1) // pieces
    width = (width + BLAS_PIECE_UNIT - 1) // BLAS_PIECE_UNIT * BLAS_PIECE_UNIT
    pieces = (total + width - 1) // width
    n_threads = max_threads()
    if n_threads > pieces:
        n_threads = pieces
    mode = fastnn_fp_mode_get()
    if n_threads <= 1:
        for piece in range(pieces):
            _blas_piece(piece, width, total, by_cols, trans_a, trans_b, m, n, k, alpha,
                        A, lda, B, ldb, beta, C, ldc)
    else:
        for piece in prange(pieces, num_threads=n_threads, schedule="dynamic"):
            own = fastnn_fp_mode_adopt(mode)
            _blas_piece(piece, width, total, by_cols, trans_a, trans_b, m, n, k, alpha,
                        A, lda, B, ldb, beta, C, ldc)
            fastnn_fp_mode_restore(own)
    _release_blas_threads()


cdef inline void _blas_piece(int piece, int width, int total, bint by_cols,
                             bint trans_a, bint trans_b, int m, int n, int k,
                             floating alpha, const floating* A, int lda,
                             const floating* B, int ldb,
                             floating beta, floating* C, int ldc) noexcept nogil:
    """Piece ``piece`` of C: columns (by_cols) or rows [lo, hi), and the matching
    columns of op(B) or rows of op(A)."""
    cdef int lo = piece * width
    cdef int hi = lo + width if lo + width < total else total
    if by_cols:
        _blas_gemm(trans_a, trans_b, m, hi - lo, k, alpha, A, lda,
                   B + (<Py_ssize_t>lo * ldb if trans_b else lo), ldb, beta, C + lo, ldc)
    else:
        _blas_gemm(trans_a, trans_b, hi - lo, n, k, alpha,
                   A + (lo if trans_a else <Py_ssize_t>lo * lda), lda, B, ldb, beta,
                   C + <Py_ssize_t>lo * ldc, ldc)


def _set_blas_thread_functions(size_t get_threads, size_t set_threads):
    """Give ``gemm`` the BLAS library's get/set-thread-count functions (addresses
    of ``int f(void)`` and ``void f(int)``), or 0, 0 for none (fastnn/_config.py)."""
    global _blas_get_threads, _blas_set_threads
    if (get_threads == 0) != (set_threads == 0):
        raise ValueError("_set_blas_thread_functions: give both functions or neither")
    _blas_get_threads = <blas_get_threads_fn>get_threads
    _blas_set_threads = <blas_set_threads_fn>set_threads


def blas_threads_controlled():
    """True when BLAS-routed products run in fixed pieces with BLAS held to one thread."""
    return _blas_set_threads != NULL


cdef inline void _own_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                           floating alpha, const floating* A, int lda,
                           const floating* B, int ldb,
                           floating beta, floating* C, int ldc) noexcept nogil:
    if floating is float:
        fastnn_sgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        fastnn_dgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef inline void _packed_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                              floating alpha, const floating* A, int lda,
                              const floating* B, int ldb,
                              floating beta, floating* C, int ldc) noexcept nogil:
    if floating is float:
        fastnn_sgemm_packed(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                            max_threads())
    else:
        fastnn_dgemm_packed(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                            max_threads())


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major; op(A) is m×k."""
    if m == 0 or n == 0:
        return
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, floating is double)
    if route == FASTNN_ROUTE_SMALL:
        _own_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif route == FASTNN_ROUTE_PACKED:
        _packed_gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        _blas_gemm_pieces(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef bint gemm_on_calling_thread(bint trans_a, bint trans_b, int m, int n, int k,
                                 bint is_double) noexcept nogil:
    """True when ``gemm`` runs this product on the calling thread alone, starting
    no thread: the small kernels, or BLAS in one piece (at or below 2^18
    multiply-adds OpenBLAS does not thread a product, and above it ``gemm``
    holds BLAS to one thread; train.pyx's gather-ahead keeps the second core
    for itself only then)."""
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double)
    return route == FASTNN_ROUTE_SMALL or (
        route == FASTNN_ROUTE_BLAS and (blas_pieces(m, n, k) == 1 and (
            _blas_set_threads != NULL or <double>m * n * k <= BLAS_THREAD_MIN_WORK)))


cdef bint gemm_accumulates_exactly(bint trans_a, bint trans_b, int m, int n, int k,
                                   bint is_double) noexcept nogil:
    """True when ``gemm`` adds this product into C (``beta = 1``) bit for bit as
    ``C + alpha·P``, P being the product exactly as ``beta = 0`` stores it, and
    as fast.  The own kernels form P, scale it by alpha and add C with one
    rounding: the small kernels wherever they add as fast as they store, the
    packed kernel when k fits one of its k blocks.  (OpenBLAS fuses alpha into
    that addition, which rounds differently.)"""
    cdef int route = fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double)
    if route == FASTNN_ROUTE_SMALL:
        return fastnn_small_gemm_accumulates_fast(m, n, k, trans_a, trans_b, is_double)
    if route == FASTNN_ROUTE_PACKED:
        return fastnn_packed_gemm_accumulates_exactly(k, is_double)
    return False


cdef bint step_forward_exact(int n_in, int n_out, bint is_double) noexcept nogil:
    """True when ``step_forward`` gives, bit for bit, what ``gemm`` gives for its
    two products: the one-sample step ``W += alpha·x_oldᵀ·dz`` (TN, k = 1,
    accumulated) and the next sample's ``z = x_new·W`` (NN, one row), both on
    the small kernels."""
    return (fastnn_gemm_route(n_in, n_out, 1, True, False, is_double) == FASTNN_ROUTE_SMALL
            and fastnn_small_gemm_accumulates_fast(n_in, n_out, 1, True, False, is_double)
            and fastnn_gemm_route(1, n_out, n_in, False, False, is_double)
            == FASTNN_ROUTE_SMALL
            and fastnn_small_step_forward_fits(n_out, is_double))


cdef void step_forward(int n_in, int n_out, const floating* x_old, const floating* dz,
                       floating alpha, const floating* x_new, floating* W,
                       floating* z) noexcept nogil:
    """W (n_in × n_out) += alpha·x_oldᵀ·dz, then z = x_new·W with the new W, in one
    pass over W (x_old, x_new: n_in values; dz, z: n_out).  Exactly
    ``gemm``'s two products where ``step_forward_exact``; the callers use it
    only there."""
    if floating is float:
        fastnn_sstep_forward_small(n_out, n_in, x_old, dz, alpha, x_new, W, n_out, z)
    else:
        fastnn_dstep_forward_small(n_out, n_in, x_old, dz, alpha, x_new, W, n_out, z)


# --- Python entries, for tests and benchmarks ---------------------------------

cdef int _leading_dim(const char* name, str which, Py_ssize_t rows, Py_ssize_t cols,
                      Py_ssize_t row_stride, Py_ssize_t col_stride,
                      Py_ssize_t itemsize) except -1:
    """The row stride in elements of a matrix whose rows are contiguous."""
    if cols > 1 and col_stride != itemsize:
        raise ValueError("%s: the rows of %s must be contiguous" % (name.decode(), which))
    if rows <= 1:
        return max(cols, 1)
    if row_stride % itemsize or row_stride // itemsize < cols:
        raise ValueError("%s: %s has an unusable row stride" % (name.decode(), which))
    return row_stride // itemsize


cdef _entry(Route route, const char* name, bint trans_a, bint trans_b, double alpha,
            const floating[:, :] A, const floating[:, :] B, double beta,
            floating[:, :] C, Py_ssize_t repeats):
    cdef int m = C.shape[0]
    cdef int n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t r, size = sizeof(floating)
    if (A.shape[1] if trans_a else A.shape[0]) != m or \
            (B.shape[1] if trans_b else B.shape[0]) != k or \
            (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError("%s: inconsistent shapes" % name.decode())
    if m == 0 or n == 0 or k == 0:
        raise ValueError("%s: every dimension must be at least 1" % name.decode())
    if repeats < 1:
        raise ValueError("%s: repeats must be at least 1" % name.decode())
    cdef int lda = _leading_dim(name, "A", A.shape[0], A.shape[1], A.strides[0], A.strides[1], size)
    cdef int ldb = _leading_dim(name, "B", B.shape[0], B.shape[1], B.strides[0], B.strides[1], size)
    cdef int ldc = _leading_dim(name, "C", C.shape[0], C.shape[1], C.strides[0], C.strides[1], size)
    cdef const floating* a = &A[0, 0]
    cdef const floating* b = &B[0, 0]
    cdef floating* c = &C[0, 0]
    with nogil:
        for r in range(repeats):
            if route == ROUTED:
                gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                     <floating>beta, c, ldc)
            elif route == OWN:
                _own_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                          <floating>beta, c, ldc)
            elif route == PACKED:
                _packed_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                             <floating>beta, c, ldc)
            elif route == OWN_PORTABLE:
                if floating is float:
                    fastnn_sgemm_small_portable(trans_a, trans_b, m, n, k, <float>alpha,
                                                a, lda, b, ldb, <float>beta, c, ldc)
                else:
                    fastnn_dgemm_small_portable(trans_a, trans_b, m, n, k, alpha,
                                                a, lda, b, ldb, beta, c, ldc)
            else:
                _blas_gemm(trans_a, trans_b, m, n, k, <floating>alpha, a, lda, b, ldb,
                           <floating>beta, c, ldc)


# The three entries take any matrices whose rows are contiguous (C-contiguous
# arrays, or column slices of them: the row stride is the leading dimension).

def gemm_rowmajor(bint trans_a, bint trans_b, double alpha,
                  const floating[:, :] A, const floating[:, :] B,
                  double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """Python entry to ``gemm`` (routed): C = alpha·op(A)·op(B) + beta·C.

    ``repeats`` > 1 runs the same call that many times in one ``nogil`` block
    (benchmarks: the Python call overhead is paid once).
    """
    _entry(ROUTED, b"gemm_rowmajor", trans_a, trans_b, alpha, A, B, beta, C, repeats)


def gemm_small(bint trans_a, bint trans_b, double alpha,
               const floating[:, :] A, const floating[:, :] B,
               double beta, floating[:, :] C, *, bint portable=False,
               Py_ssize_t repeats=1):
    """The own small-matrix kernel, whatever the shape (tests and benchmarks).

    ``portable=True`` runs the plain C fallback instead of the active path's SIMD kernels.
    """
    _entry(OWN_PORTABLE if portable else OWN, b"gemm_small", trans_a, trans_b, alpha,
           A, B, beta, C, repeats)


def gemm_packed(bint trans_a, bint trans_b, double alpha,
                const floating[:, :] A, const floating[:, :] B,
                double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """The own packed kernel for large products, whatever the shape (tests and
    benchmarks)."""
    _entry(PACKED, b"gemm_packed", trans_a, trans_b, alpha, A, B, beta, C, repeats)


def gemm_blas(bint trans_a, bint trans_b, double alpha,
              const floating[:, :] A, const floating[:, :] B,
              double beta, floating[:, :] C, *, Py_ssize_t repeats=1):
    """Always BLAS, whatever the shape (tests and benchmarks)."""
    _entry(BLAS, b"gemm_blas", trans_a, trans_b, alpha, A, B, beta, C, repeats)


#: Route names, indexed by their codes in csrc/gemm_route.h ('default': a
#: table cell that leaves the product to the default rule).
ROUTE_NAMES = tuple(
    {FASTNN_ROUTE_DEFAULT: "default", FASTNN_ROUTE_BLAS: "blas",
     FASTNN_ROUTE_SMALL: "small", FASTNN_ROUTE_PACKED: "packed"}[code]
    for code in range(FASTNN_N_ROUTES))

#: Shape of one path's route table: (dtype: float32, float64; op: NN, NT, TN;
#: bin of m; bin of n; bin of k).
ROUTE_TABLE_SHAPE = (2, FASTNN_ROUTE_OPS, FASTNN_ROUTE_BINS, FASTNN_ROUTE_BINS,
                     FASTNN_ROUTE_BINS)


def gemm_route(int m, int n, int k, bint trans_a, bint trans_b, bint is_double):
    """Where ``gemm`` sends this product: 'small', 'packed' or 'blas'."""
    if m < 1 or n < 1 or k < 0:
        raise ValueError("gemm_route: m and n must be at least 1, k at least 0")
    return ROUTE_NAMES[fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double)]


def gemm_route_default(int m, int n, int k, bint trans_a, bint trans_b, bint is_double):
    """Where the default rule (no table) sends this product on the active path."""
    if m < 1 or n < 1 or k < 0:
        raise ValueError("gemm_route_default: m and n must be at least 1, k at least 0")
    return ROUTE_NAMES[fastnn_gemm_route_default(fastnn_isa(), m, n, k, trans_a, trans_b,
                                                 is_double)]


def set_blas_avx512(bint has_avx512):
    """Tell the default rule whether the BLAS library has AVX-512 kernels
    (``fastnn/_routes.py`` does, on import).  Call it between products."""
    global fastnn_route_blas_avx512
    fastnn_route_blas_avx512 = has_avx512


def blas_avx512():
    """What ``set_blas_avx512`` last said (True until it is called)."""
    return bool(fastnn_route_blas_avx512)


def route_available(int isa, str route):
    """True when path ``isa`` (a code of csrc/isa.h) has a kernel for ``route``."""
    return bool(fastnn_route_available(isa, ROUTE_NAMES.index(route)))


def route_bin(int x):
    """The bin of a dimension x >= 1 in the route table (csrc/gemm_route.h)."""
    if x < 1:
        raise ValueError("route_bin: x must be at least 1")
    return fastnn_route_bin(x)


def _check_isa_code(int isa):
    if isa < 0 or isa >= FASTNN_N_ISA:
        raise ValueError("not an instruction-set path code: %d" % isa)


def set_route_table(int isa, const unsigned char[:, :, :, :, ::1] table):
    """Make ``table`` path ``isa``'s route table (a uint8 array of
    ``ROUTE_TABLE_SHAPE``, C-contiguous, cells indexing ``ROUTE_NAMES``).

    Call it between products, never while another thread runs one.  Raises
    ValueError, changing nothing, on a wrong shape, a value that is not a
    route, or a route whose kernel the path lacks.
    """
    _check_isa_code(isa)
    shape = tuple(table.shape[d] for d in range(5))
    if shape != ROUTE_TABLE_SHAPE:
        raise ValueError("set_route_table: the table's shape must be %r, got %r"
                         % (ROUTE_TABLE_SHAPE, shape))
    if not fastnn_route_table_set(isa, &table[0, 0, 0, 0, 0]):
        raise ValueError("set_route_table: a cell names no route, or a kernel the %s "
                         "path lacks" % FASTNN_ISA_NAMES[isa].decode())


def get_route_table(int isa):
    """A copy of path ``isa``'s route table (uint8, ``ROUTE_TABLE_SHAPE``)."""
    import numpy as np
    _check_isa_code(isa)
    cdef const unsigned char* cells = fastnn_route_table_cells(isa)
    return np.frombuffer(cells[:FASTNN_ROUTE_TABLE_CELLS], dtype=np.uint8).reshape(
        ROUTE_TABLE_SHAPE).copy()


def small_gemm_isa():
    """The path the own small kernels take now: 'avx512', 'avx2' or 'portable'."""
    return fastnn_small_gemm_isa().decode()


def step_forward_small(const floating[::1] x_old, const floating[::1] dz, double alpha,
                       const floating[::1] x_new, floating[:, ::1] W, floating[::1] z,
                       *, Py_ssize_t repeats=1):
    """The fused batch-1 step and product, ``step_forward`` (tests and benchmarks).

    W (n_in, n_out) += alpha·outer(x_old, dz); then z = x_new·W.  Returns
    whether the shape is one where this is bit for bit ``gemm``'s two products
    (``step_forward_exact``).
    """
    cdef int n_in = W.shape[0], n_out = W.shape[1]
    cdef Py_ssize_t r
    if x_old.shape[0] != n_in or x_new.shape[0] != n_in or dz.shape[0] != n_out \
            or z.shape[0] != n_out:
        raise ValueError("step_forward_small: inconsistent shapes")
    if n_in == 0 or n_out == 0 or repeats < 1:
        raise ValueError("step_forward_small: empty operands or repeats < 1")
    with nogil:
        for r in range(repeats):
            step_forward(n_in, n_out, &x_old[0], &dz[0], <floating>alpha, &x_new[0],
                         &W[0, 0], &z[0])
    return bool(step_forward_exact(n_in, n_out, floating is double))
