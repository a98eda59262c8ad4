/* The SIMD kernels of small_gemm.h, written once for every instruction set
 * and element type.
 *
 * Not a public header, and deliberately without an include guard: each
 * instruction set's header (small_gemm_avx512.h, small_gemm_avx2.h) includes
 * it twice, once with its float macros and once with its double ones (SG_T,
 * SG_V, SG_NAME, ... below), the C way of writing a template.  Everything
 * here is compiled for that instruction set with function attributes
 * (SG_TARGET) and is only called after the run-time check in small_gemm.h.
 * See small_gemm.h for the contract and the strategy.
 *
 * Macros expected, the instruction set's part:
 *   SG_TARGET (function attribute), SG_T (element), SG_V (vector), SG_MASK
 *   (lane mask), SG_VL (lanes per vector), SG_NAME(x) (ISA- and
 *   type-suffixed name); the one-instruction wrappers SG_ZERO, SG_SET1,
 *   SG_LOADU, SG_LOADM (masked, zeroing), SG_STOREU, SG_STOREM (masked),
 *   SG_FMA (a*b + c, fused), SG_MUL, SG_ADD; SG_REDUCE (VL vectors -> one
 *   vector of their horizontal sums, lane l = sum of vector l),
 *   SG_TRANSPOSE (a VL × VL block, simd_avx512.h's signature); the masks:
 *   SG_TAIL_MASK(lanes) (the low `lanes` lanes, 1 <= lanes <= VL),
 *   SG_MASK_COUNT(m) (its lanes), SG_ROW_DOWN(v, m, s) (lanes s.. of v under
 *   m << s moved to the bottom);
 * and its tile limits (its vector registers: 32 zmm, 16 ymm):
 *   SG_MR_MAX (most rows of a broadcast tile), SG_AXPY_TILE_LIST(X) (the
 *   (MR, NV) tiles to compile) and SG_AXPY_TILE_TABLE (them by [log2 NV][MR
 *   - 1]), SG_MR_MAX_BY_WIDTH (the largest MR of each width),
 *   SG_PANEL_CAP(rows) (widest panel, in vectors, for that many rows),
 *   SG_TN_STREAM_MAX_NV (vectors of C the short-k TN kernel streams),
 *   SG_STEP_MAX_NV (vectors of a row step_forward fuses), SG_DOT_MR (rows
 *   of A per dot tile), SG_NT_DOT_MAX_M (NT by dot products up to this m).
 */

/* Mask of the low `lanes` lanes, 1 <= lanes <= SG_VL. */
static inline __attribute__((always_inline)) SG_TARGET SG_MASK SG_NAME(tail_mask)(int lanes)
{
    return SG_TAIL_MASK(lanes);
}

/* The order in which the broadcast tiles sum along p: KU accumulator sets
 * take turns (STEP(u, p) adds step p into set u), the leftover steps go to
 * set 0, and the caller then adds sets 1, 2, 3 into set 0.  Shared by every
 * kernel whose sums must match the tiles' bit for bit (step_forward). */
#define SG_ROTATE_K(STEP)                                                           \
    do {                                                                            \
        ptrdiff_t p = 0;                                                            \
        for (; p + KU <= k; p += KU) {                                              \
            STEP(0, p);                                                             \
            if (KU > 1) STEP(1, p + 1);                                             \
            if (KU > 2) STEP(2, p + 2);                                             \
            if (KU > 3) STEP(3, p + 3);                                             \
        }                                                                           \
        for (; p < k; p++)                                                          \
            STEP(0, p);                                                             \
    } while (0)

/* ---- broadcast-and-FMA tile: NN, TN, NT after packing, TT as Cᵀ = B·A -----
 *
 * Tile of MR rows × NV vectors of C:  c(r, j) = Σ_p a(r, p) · b(p, j), where
 * a(r, p) = a[r·a_rs + p·a_ks] is broadcast and row p of b (contiguous in j)
 * is loaded as NV vectors, the last one under `last` (the column tail).
 * KU independent sets of accumulators take turns along p, so that a small
 * tile still has enough independent FMA chains to hide the FMA latency; they
 * are added at the end.  c(r, j) is stored at c[r·c_rs + j·c_cs]: c_cs == 1
 * is a row-major C, otherwise the tile is written transposed (TT).  One call
 * runs `nblk` such tiles down the rows (a and c advance by MR rows).
 *
 * MR, NV and KU are constants at every call site.  The accumulators are named
 * variables, SG_ACC(u, r, v), rather than an array (compilers keep arrays of
 * 24+ vectors in memory); the X-macros below spell out every (u, r, v) and
 * the constant conditions drop the ones a tile does not use.
 */
#define SG_ACC(u, r, v) acc_##u##_##r##_##v
/* Set 0 needs every row and vector; the extra sets exist only for the small
 * tiles that use them (KU = 2: MR·NV < 8; KU >= 3: MR·NV <= 3). */
#define SG_ROWS(X, u) SG_ROWS_##u(X, u)
#define SG_ROWS_0(X, u) X(u, 0) X(u, 1) X(u, 2) X(u, 3) X(u, 4) X(u, 5) \
                        X(u, 6) X(u, 7) X(u, 8) X(u, 9) X(u, 10) X(u, 11)
#define SG_ROWS_1(X, u) X(u, 0) X(u, 1) X(u, 2) X(u, 3) X(u, 4) X(u, 5) X(u, 6)
#define SG_ROWS_2(X, u) X(u, 0) X(u, 1) X(u, 2)
#define SG_ROWS_3(X, u) X(u, 0) X(u, 1) X(u, 2)
#define SG_VECS(X, u, r) SG_VECS_##u(X, u, r)
#define SG_VECS_0(X, u, r) X(u, r, 0) X(u, r, 1) X(u, r, 2) X(u, r, 3) \
                           X(u, r, 4) X(u, r, 5) X(u, r, 6) X(u, r, 7)
#define SG_VECS_1(X, u, r) X(u, r, 0) X(u, r, 1) X(u, r, 2) X(u, r, 3)
#define SG_VECS_2(X, u, r) X(u, r, 0) X(u, r, 1)
#define SG_VECS_3(X, u, r) X(u, r, 0) X(u, r, 1)
#define SG_DECL1(u, r, v) SG_V SG_ACC(u, r, v) = SG_ZERO();
#define SG_DECL(u, r) SG_VECS(SG_DECL1, u, r)
#define SG_ZERO1(u, r, v) SG_ACC(u, r, v) = SG_ZERO();
#define SG_ZERO_ROW(u, r) if ((u) < KU && (r) < MR) { SG_VECS(SG_ZERO1, u, r) }
#define SG_FMA1(u, r, v) if ((v) < NV) SG_ACC(u, r, v) = SG_FMA(ar, b##v, SG_ACC(u, r, v));
#define SG_ROW_FMA(u, r)                                                            \
    if ((r) < MR) {                                                                 \
        const SG_V ar = SG_SET1(ap[(r) * a_rs]);                                    \
        SG_VECS(SG_FMA1, u, r)                                                      \
    }
#define SG_LOADB(v) const SG_V b##v = (v) >= NV ? SG_ZERO()                           \
                    : (v) == NV - 1 ? SG_LOADM(last, bp + (v) * SG_VL)                 \
                    : SG_LOADU(bp + (v) * SG_VL); \
                    (void)b##v;
#define SG_STEP(u, pp)                                                              \
    do {                                                                            \
        const SG_T *bp = b + (pp) * ldb, *ap = a + (pp) * a_ks;                     \
        SG_LOADB(0) SG_LOADB(1) SG_LOADB(2) SG_LOADB(3)                             \
        SG_LOADB(4) SG_LOADB(5) SG_LOADB(6) SG_LOADB(7)                             \
        SG_ROWS(SG_ROW_FMA, u)                                                      \
    } while (0)
#define SG_MERGE1(u, r, v) if ((v) < NV) SG_ACC(0, r, v) = SG_ADD(SG_ACC(0, r, v), SG_ACC(u, r, v));
#define SG_MERGE(u, r) if ((u) < KU && (r) < MR) { SG_VECS(SG_MERGE1, u, r) }
#define SG_STORE(u, r)                                                              \
    if ((r) < MR)                                                                   \
        SG_NAME(store_row)(NV, SG_ACC(0, r, 0), SG_ACC(0, r, 1), SG_ACC(0, r, 2),   \
                           SG_ACC(0, r, 3), SG_ACC(0, r, 4), SG_ACC(0, r, 5),       \
                           SG_ACC(0, r, 6), SG_ACC(0, r, 7), last, alpha, beta,     \
                           c + (r) * c_rs, c_cs);

/* Writes one tile row transposed (TT): c[j·c_cs] = alpha·x(j) + beta·c[j·c_cs]
 * for j < width; out of line, the rare path. */
static __attribute__((noinline)) SG_TARGET void
SG_NAME(store_row_strided)(const SG_V *x, int width, SG_T alpha, SG_T beta,
                           SG_T *c, ptrdiff_t c_cs)
{
    SG_T tmp[8 * SG_VL];
    for (int v = 0; v * SG_VL < width; v++)
        SG_STOREU(tmp + v * SG_VL, x[v]);
    for (int j = 0; j < width; j++) {
        SG_T *cj = c + j * c_cs;
        *cj = beta != 0 ? alpha * tmp[j] + beta * *cj : alpha * tmp[j];
    }
}

/* c = alpha·x + beta·c for one vector (`mk`: the lanes to write). */
static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(store_vec)(SG_V x, SG_MASK mk, int full, SG_T alpha, SG_T beta, SG_T *c)
{
    if (alpha != 1)
        x = SG_MUL(SG_SET1(alpha), x);
    if (beta != 0)   /* beta == 0: C is not read (it may hold NaN) */
        x = SG_FMA(SG_SET1(beta), full ? SG_LOADU(c) : SG_LOADM(mk, c), x);
    if (full)
        SG_STOREU(c, x);
    else
        SG_STOREM(c, mk, x);
}

/* Writes one tile row of NV vectors, the last one under `last`. */
static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(store_row)(const int NV, SG_V x0, SG_V x1, SG_V x2, SG_V x3, SG_V x4,
                   SG_V x5, SG_V x6, SG_V x7, SG_MASK last, SG_T alpha, SG_T beta,
                   SG_T *c, ptrdiff_t c_cs)
{
    if (c_cs != 1) {
        const SG_V x[8] = {x0, x1, x2, x3, x4, x5, x6, x7};
        SG_NAME(store_row_strided)(x, (NV - 1) * SG_VL + SG_MASK_COUNT(last),
                                   alpha, beta, c, c_cs);
        return;
    }
    const SG_MASK all = SG_NAME(tail_mask)(SG_VL);
    if (NV > 1) SG_NAME(store_vec)(x0, all, 1, alpha, beta, c);
    if (NV > 2) SG_NAME(store_vec)(x1, all, 1, alpha, beta, c + SG_VL);
    if (NV > 3) SG_NAME(store_vec)(x2, all, 1, alpha, beta, c + 2 * SG_VL);
    if (NV > 4) SG_NAME(store_vec)(x3, all, 1, alpha, beta, c + 3 * SG_VL);
    if (NV > 5) SG_NAME(store_vec)(x4, all, 1, alpha, beta, c + 4 * SG_VL);
    if (NV > 6) SG_NAME(store_vec)(x5, all, 1, alpha, beta, c + 5 * SG_VL);
    if (NV > 7) SG_NAME(store_vec)(x6, all, 1, alpha, beta, c + 6 * SG_VL);
    const SG_V xl = NV == 1 ? x0 : NV == 2 ? x1 : NV == 3 ? x2 : NV == 4 ? x3
                  : NV == 5 ? x4 : NV == 6 ? x5 : NV == 7 ? x6 : x7;
    SG_NAME(store_vec)(xl, last, 0, alpha, beta, c + (NV - 1) * SG_VL);
}

static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(axpy_tile)(const int MR, const int NV, const int KU, int nblk, ptrdiff_t k,
                   const SG_T *a, ptrdiff_t a_rs, ptrdiff_t a_ks,
                   const SG_T *b, ptrdiff_t ldb, SG_MASK last,
                   SG_T alpha, SG_T beta, SG_T *c, ptrdiff_t c_rs, ptrdiff_t c_cs)
{
    SG_ROWS(SG_DECL, 0) SG_ROWS(SG_DECL, 1) SG_ROWS(SG_DECL, 2) SG_ROWS(SG_DECL, 3)
    for (; nblk > 0; nblk--, a += MR * a_rs, c += MR * c_rs) {
        SG_ROWS(SG_ZERO_ROW, 0) SG_ROWS(SG_ZERO_ROW, 1)
        SG_ROWS(SG_ZERO_ROW, 2) SG_ROWS(SG_ZERO_ROW, 3)
        SG_ROTATE_K(SG_STEP);
        SG_ROWS(SG_MERGE, 1) SG_ROWS(SG_MERGE, 2) SG_ROWS(SG_MERGE, 3)
        SG_ROWS(SG_STORE, 0)
    }
}
#undef SG_ACC
#undef SG_ROWS
#undef SG_ROWS_0
#undef SG_ROWS_1
#undef SG_ROWS_2
#undef SG_ROWS_3
#undef SG_VECS
#undef SG_VECS_0
#undef SG_VECS_1
#undef SG_VECS_2
#undef SG_VECS_3
#undef SG_DECL1
#undef SG_DECL
#undef SG_ZERO1
#undef SG_ZERO_ROW
#undef SG_FMA1
#undef SG_ROW_FMA
#undef SG_LOADB
#undef SG_STEP
#undef SG_MERGE1
#undef SG_MERGE
#undef SG_STORE

/* The tiles the driver picks from, one function per (MR, NV) of
 * SG_AXPY_TILE_LIST (MR·NV accumulators, within the instruction set's
 * registers); KU makes at least ~8 independent FMA chains (FMA latency 4 ×
 * 2 FMA units). */
#define SG_KU_FOR(MR, NV) ((MR) * (NV) >= 8 ? 1 : (MR) * (NV) >= 4 ? 2 \
                           : (MR) * (NV) == 3 ? 3 : 4)
#define SG_AXPY_TILE(MR, NV)                                                        \
    static SG_TARGET void SG_NAME(axpy_##MR##x##NV)(                         \
        int nblk, ptrdiff_t k, const SG_T *a, ptrdiff_t a_rs, ptrdiff_t a_ks,        \
        const SG_T *b, ptrdiff_t ldb, SG_MASK last, SG_T alpha, SG_T beta, SG_T *c,  \
        ptrdiff_t c_rs, ptrdiff_t c_cs)                                              \
    {                                                                                \
        if (a_rs == 1) /* TN: a's row offsets become constants, not registers */    \
            SG_NAME(axpy_tile)(MR, NV, SG_KU_FOR(MR, NV), nblk, k, a, 1, a_ks, b,    \
                               ldb, last, alpha, beta, c, c_rs, c_cs);               \
        else                                                                         \
            SG_NAME(axpy_tile)(MR, NV, SG_KU_FOR(MR, NV), nblk, k, a, a_rs, a_ks, b, \
                               ldb, last, alpha, beta, c, c_rs, c_cs);               \
    }
SG_AXPY_TILE_LIST(SG_AXPY_TILE)
#undef SG_AXPY_TILE
#undef SG_KU_FOR

typedef void (*SG_NAME(axpy_fn))(int, ptrdiff_t, const SG_T *, ptrdiff_t, ptrdiff_t,
                                 const SG_T *, ptrdiff_t, SG_MASK, SG_T, SG_T,
                                 SG_T *, ptrdiff_t, ptrdiff_t);
/* [log2 NV][MR - 1]; NULL beyond the largest MR of that width */
static SG_NAME(axpy_fn) const SG_NAME(axpy_tiles)[4][SG_MR_MAX] = SG_AXPY_TILE_TABLE;
static const int SG_NAME(mr_max)[4] = SG_MR_MAX_BY_WIDTH;

/* One column panel of nv vectors (nv = 1, 2, 4 or 8, a width the instruction
 * set has tiles for; the last vector under
 * `last`) over all rows: the rows are cut into near-equal blocks, as few as
 * the widest tile allows. */
static SG_TARGET void
SG_NAME(axpy_panel)(int rows, int nv, SG_MASK last, ptrdiff_t k, SG_T alpha,
                    const SG_T *a, ptrdiff_t a_rs, ptrdiff_t a_ks, const SG_T *b,
                    ptrdiff_t ldb, SG_T beta, SG_T *c, ptrdiff_t c_rs, ptrdiff_t c_cs)
{
    const int w = nv == 1 ? 0 : nv == 2 ? 1 : nv == 4 ? 2 : 3;
    const int mr_max = SG_NAME(mr_max)[w];
    const int nblocks = (rows + mr_max - 1) / mr_max;
    const int base = rows / nblocks, extra = rows % nblocks;
    if (extra > 0) {   /* `extra` blocks of base + 1 rows, then the rest of base rows */
        SG_NAME(axpy_tiles)[w][base](extra, k, a, a_rs, a_ks, b, ldb, last, alpha, beta,
                                     c, c_rs, c_cs);
        a += (ptrdiff_t)extra * (base + 1) * a_rs;
        c += (ptrdiff_t)extra * (base + 1) * c_rs;
    }
    SG_NAME(axpy_tiles)[w][base - 1](nblocks - extra, k, a, a_rs, a_ks, b, ldb, last,
                                     alpha, beta, c, c_rs, c_cs);
}

/* C (rows × cols) = alpha·a·b + beta·C with a(i, p) = a[i·a_rs + p·a_ks] and
 * b row-major (k × cols, row stride ldb); C element (i, j) at c[i·c_rs + j·c_cs].
 * Column panels as wide as the row count allows (SG_PANEL_CAP: on AVX-512, 8
 * vectors for up to 3 rows, 4 for up to 6, else 2), narrower ones for the
 * leftover vectors. */
static SG_TARGET void
SG_NAME(axpy_driver)(int rows, int cols, ptrdiff_t k, SG_T alpha, const SG_T *a,
                     ptrdiff_t a_rs, ptrdiff_t a_ks, const SG_T *b, ptrdiff_t ldb,
                     SG_T beta, SG_T *c, ptrdiff_t c_rs, ptrdiff_t c_cs)
{
    const int nvec = (cols + SG_VL - 1) / SG_VL;
    const int cap = SG_PANEL_CAP(rows);
    for (int v0 = 0; v0 < nvec;) {
        const int left = nvec - v0;
        const int nv = left >= 8 && cap >= 8 ? 8 : left >= 4 && cap >= 4 ? 4
                     : left >= 2 ? 2 : 1;
        const int j0 = v0 * SG_VL;
        const int width = cols - j0 < nv * SG_VL ? cols - j0 : nv * SG_VL;
        SG_NAME(axpy_panel)(rows, nv, SG_NAME(tail_mask)(width - (nv - 1) * SG_VL), k,
                            alpha, a, a_rs, a_ks, b + j0, ldb, beta, c + j0 * c_cs,
                            c_rs, c_cs);
        v0 += nv;
    }
}

/* ---- TN with a short k: B held in registers, C streamed row by row --------
 *
 * C (m × n) = alpha·Aᵀ·B + beta·C with A k × m (row stride lda), B k × n, for
 * k <= K (a constant, at most 12) and n <= NV·SG_VL (NV <= 4): the k rows
 * of B are loaded once into k·NV registers; then output row i is
 * Σ_p A[p·lda + i]·B[p, :], k broadcasts and k·NV FMAs, and is written at
 * once.  C is written in one sequential pass (last row first), and B is never reloaded, so
 * the stores (the bound for short k) overlap the arithmetic.  Two rows are
 * computed together, their FMA chains interleaved (below).
 */
static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(tn_stream_tile)(const int K, const int NV, int m, int n, SG_T alpha,
                        const SG_T *A, ptrdiff_t lda, const SG_T *B, ptrdiff_t ldb,
                        SG_T beta, SG_T *C, ptrdiff_t ldc)
{
    const SG_MASK last = SG_NAME(tail_mask)(n - (NV - 1) * SG_VL);
    const SG_MASK all = SG_NAME(tail_mask)(SG_VL);
    SG_V b[4][12];   /* b[v][p]: vector v of row p of B (constant indices only) */
#pragma GCC unroll 12
    for (int p = 0; p < K; p++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            b[v][p] = v == NV - 1 ? SG_LOADM(last, B + p * ldb + v * SG_VL)
                                  : SG_LOADU(B + p * ldb + v * SG_VL);
    }
    /* Rows from last to first: in training, the forward product has just read
     * this matrix (W) from first row to last, so its last rows are the ones
     * still in L1.  Rows are independent; the order changes no result.
     * Two rows at a time: a row's NV chains of k dependent FMAs take 4k
     * cycles of latency, more than their throughput cost, and out-of-order
     * execution did not overlap consecutive rows enough (AVX2, where B spills
     * from the 16 registers for k·NV > 12, ran at the chains' latency).
     * Measured here (Zen 4, one thread, 784×30 from k = 10): float32
     * 10.5 -> 6.2 µs on AVX2, 6.3 -> 5.6 µs on AVX-512; 1.2-1.9× on AVX2 over
     * k = 1..12 and widths 10..64 in both types, 1.05-1.45× for float32 on
     * AVX-512, while float64 on AVX-512 moved from -14% (784×30, k = 4) to
     * +37% (784×64, k = 10).  Each row sums in the same order as on its own:
     * the same bits as one row at a time. */
    SG_V n0[4] = {SG_ZERO(), SG_ZERO(), SG_ZERO(), SG_ZERO()};   /* beta != 0: rows i and */
    SG_V n1[4] = {SG_ZERO(), SG_ZERO(), SG_ZERO(), SG_ZERO()};   /* i - 1 of C, loaded ahead */
#define SG_TN_LOAD_C(dst, row)                                                         \
    do {                                                                              \
        const SG_T *cr_ = C + (ptrdiff_t)(row) * ldc;                                 \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                          \
            dst[v] = v == NV - 1 ? SG_LOADM(last, cr_ + v * SG_VL)                    \
                                 : SG_LOADU(cr_ + v * SG_VL);                         \
    } while (0)
#define SG_TN_STORE_C(x, now, row)                                                     \
    do {                                                                              \
        SG_T *cr_ = C + (ptrdiff_t)(row) * ldc;                                       \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                        \
            if (beta == 0) {                                                          \
                SG_NAME(store_vec)(x[v], v == NV - 1 ? last : all, v < NV - 1, alpha, \
                                   beta, cr_ + v * SG_VL);                            \
                continue;                                                             \
            }                                                                         \
            SG_V y = alpha != 1 ? SG_MUL(SG_SET1(alpha), x[v]) : x[v];                \
            y = SG_FMA(SG_SET1(beta), now[v], y);                                     \
            if (v == NV - 1)                                                          \
                SG_STOREM(cr_ + v * SG_VL, last, y);                                  \
            else                                                                      \
                SG_STOREU(cr_ + v * SG_VL, y);                                        \
        }                                                                             \
    } while (0)
    /* Rows i and lo = i - 1 together; for an odd m the last pair is row 0
     * twice (its C loaded once, the same result stored twice). */
    int i = m - 1;
    if (beta != 0) {
        SG_TN_LOAD_C(n0, i);
        SG_TN_LOAD_C(n1, i >= 1 ? i - 1 : 0);
    }
    for (; i >= 0; i -= 2) {
        const int lo = i >= 1 ? i - 1 : 0;
        const SG_T *a = A + i, *a_lo = A + lo;
        SG_V x0[4], x1[4];
        const SG_V a0 = SG_SET1(a[0]), a1 = SG_SET1(a_lo[0]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            x0[v] = SG_MUL(a0, b[v][0]);
            x1[v] = SG_MUL(a1, b[v][0]);
        }
#pragma GCC unroll 12
        for (int p = 1; p < K; p++) {
            const SG_V ap0 = SG_SET1(a[p * lda]), ap1 = SG_SET1(a_lo[p * lda]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                x0[v] = SG_FMA(ap0, b[v][p], x0[v]);
                x1[v] = SG_FMA(ap1, b[v][p], x1[v]);
            }
        }
        /* beta != 0 (a gradient step straight into W): the next rows of C
         * are loaded before these are stored.  Loading them just after would
         * stall on the store buffer: the tail store of one row can overlap
         * the start of the next when n % VL != 0. */
        SG_V now0[4], now1[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            now0[v] = n0[v];
            now1[v] = n1[v];
        }
        if (beta != 0 && i >= 2) {
            SG_TN_LOAD_C(n0, i - 2);
            SG_TN_LOAD_C(n1, i >= 3 ? i - 3 : 0);
        }
        SG_TN_STORE_C(x0, now0, i);
        SG_TN_STORE_C(x1, now1, lo);
    }
#undef SG_TN_LOAD_C
#undef SG_TN_STORE_C
}

#define SG_TN_STREAM(K)                                                              \
    static SG_TARGET void SG_NAME(tn_stream_##K)(                            \
        int nv, int m, int n, SG_T alpha, const SG_T *A, ptrdiff_t lda,             \
        const SG_T *B, ptrdiff_t ldb, SG_T beta, SG_T *C, ptrdiff_t ldc)            \
    {                                                                                \
        if (nv == 1)                                                                 \
            SG_NAME(tn_stream_tile)(K, 1, m, n, alpha, A, lda, B, ldb, beta, C, ldc); \
        else if (nv == 2)                                                            \
            SG_NAME(tn_stream_tile)(K, 2, m, n, alpha, A, lda, B, ldb, beta, C, ldc); \
        else if (nv == 3)                                                            \
            SG_NAME(tn_stream_tile)(K, 3, m, n, alpha, A, lda, B, ldb, beta, C, ldc); \
        else                                                                         \
            SG_NAME(tn_stream_tile)(K, 4, m, n, alpha, A, lda, B, ldb, beta, C, ldc); \
    }
SG_TN_STREAM(1) SG_TN_STREAM(2) SG_TN_STREAM(3) SG_TN_STREAM(4) SG_TN_STREAM(5)
SG_TN_STREAM(6) SG_TN_STREAM(7) SG_TN_STREAM(8) SG_TN_STREAM(9) SG_TN_STREAM(10)
SG_TN_STREAM(11) SG_TN_STREAM(12)
#undef SG_TN_STREAM

typedef void (*SG_NAME(tn_stream_fn))(int, int, int, SG_T, const SG_T *, ptrdiff_t,
                                      const SG_T *, ptrdiff_t, SG_T, SG_T *, ptrdiff_t);
static SG_NAME(tn_stream_fn) const SG_NAME(tn_stream)[12] = {
    SG_NAME(tn_stream_1), SG_NAME(tn_stream_2), SG_NAME(tn_stream_3),
    SG_NAME(tn_stream_4), SG_NAME(tn_stream_5), SG_NAME(tn_stream_6),
    SG_NAME(tn_stream_7), SG_NAME(tn_stream_8), SG_NAME(tn_stream_9),
    SG_NAME(tn_stream_10), SG_NAME(tn_stream_11), SG_NAME(tn_stream_12),
};

/* ---- dot-product tile: NT (C = A·Bᵀ, both read along rows) ----------------
 *
 * Tile of MR rows of A × NJ rows of B with MR·NJ == SG_VL: one accumulator per
 * output, each a vector of partial dot products along p (the last chunk of p
 * masked), then SG_REDUCE turns the VL accumulators into one vector whose lane
 * t = r·NJ + j is c(r, j).  Rows past `rows` / `cols` repeat the last valid
 * row (their results are computed and dropped), so one tile serves the edges.
 * Named variables again: dt (accumulator of lane t), ar (row r of A, r < 4),
 * bj (row j of B, j < 16); SG_PICK selects one by a constant index.
 */
#define SG_L16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
                  X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define SG_L4(X) X(0) X(1) X(2) X(3)
#define SG_DECL_D(t) SG_V d##t = SG_ZERO();
#define SG_DECL_A(r) const SG_T *pa##r = a + ((r) < rows ? (r) : rows - 1) * lda; \
                     SG_V a##r = SG_ZERO();
#define SG_DECL_B(j) const SG_T *pb##j = b + ((j) < cols ? (j) : cols - 1) * ldb; \
                     SG_V b##j = SG_ZERO();
#define SG_LOAD_A(r) if ((r) < MR) a##r = LOAD(pa##r + p);
#define SG_LOAD_B(j) if ((j) < NJ) b##j = LOAD(pb##j + p);
#define SG_DOT_FMA(t)                                                               \
    if ((t) < SG_VL)                                                                \
        d##t = SG_FMA(SG_NAME(pick)((t) / NJ, a0, a1, a2, a3, a0, a0, a0, a0, a0,   \
                                    a0, a0, a0, a0, a0, a0, a0),                    \
                      SG_NAME(pick)((t) % NJ, b0, b1, b2, b3, b4, b5, b6, b7, b8,   \
                                    b9, b10, b11, b12, b13, b14, b15),              \
                      d##t);
#define SG_DOT_CHUNK                                                                \
    do {                                                                            \
        SG_L4(SG_LOAD_A) SG_L16(SG_LOAD_B) SG_L16(SG_DOT_FMA)                       \
    } while (0)

/* v_i for a constant i (the switch folds away). */
static inline __attribute__((always_inline)) SG_TARGET SG_V
SG_NAME(pick)(int i, SG_V v0, SG_V v1, SG_V v2, SG_V v3, SG_V v4, SG_V v5, SG_V v6,
              SG_V v7, SG_V v8, SG_V v9, SG_V v10, SG_V v11, SG_V v12, SG_V v13,
              SG_V v14, SG_V v15)
{
    switch (i) {
    case 0: return v0;   case 1: return v1;   case 2: return v2;   case 3: return v3;
    case 4: return v4;   case 5: return v5;   case 6: return v6;   case 7: return v7;
    case 8: return v8;   case 9: return v9;   case 10: return v10; case 11: return v11;
    case 12: return v12; case 13: return v13; case 14: return v14; default: return v15;
    }
}

static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(dot_tile)(const int MR, const int NJ, int k, const SG_T *a, ptrdiff_t lda,
                  int rows, const SG_T *b, ptrdiff_t ldb, int cols,
                  SG_T alpha, SG_T beta, SG_T *c, ptrdiff_t ldc)
{
    SG_L16(SG_DECL_D) SG_L4(SG_DECL_A) SG_L16(SG_DECL_B)
    int p = 0;
    for (; p + SG_VL <= k; p += SG_VL) {
#define LOAD(ptr) SG_LOADU(ptr)
        SG_DOT_CHUNK;
#undef LOAD
    }
    if (p < k) {
        const SG_MASK mk = SG_NAME(tail_mask)(k - p);
#define LOAD(ptr) SG_LOADM(mk, ptr)
        SG_DOT_CHUNK;
#undef LOAD
    }

    /* lane r·NJ + j holds c(r, j): move row r's lanes to the bottom, store */
    const SG_V sums = SG_REDUCE(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12,
                                d13, d14, d15);
    const int nr = rows < MR ? rows : MR, nj = cols < NJ ? cols : NJ;
    const SG_MASK row_mask = SG_NAME(tail_mask)(nj);
    for (int r = 0; r < nr; r++) {
        const SG_V x = r == 0 ? sums : SG_ROW_DOWN(sums, row_mask, r * NJ);
        SG_NAME(store_vec)(x, row_mask, 0, alpha, beta, c + r * ldc);
    }
}
#undef SG_L16
#undef SG_L4
#undef SG_DECL_D
#undef SG_DECL_A
#undef SG_DECL_B
#undef SG_LOAD_A
#undef SG_LOAD_B
#undef SG_DOT_FMA
#undef SG_DOT_CHUNK

#define SG_DOT_TILE(MR)                                                              \
    static SG_TARGET void SG_NAME(dot_##MR)(                                  \
        int k, const SG_T *a, ptrdiff_t lda, int rows, const SG_T *b, ptrdiff_t ldb, \
        int cols, SG_T alpha, SG_T beta, SG_T *c, ptrdiff_t ldc)                     \
    {                                                                                \
        SG_NAME(dot_tile)(MR, SG_VL / (MR), k, a, lda, rows, b, ldb, cols, alpha,    \
                          beta, c, ldc);                                             \
    }
SG_DOT_TILE(1) SG_DOT_TILE(2)
#if SG_DOT_MR >= 4   /* (4 rows need SG_VL >= 4: a lane per output) */
SG_DOT_TILE(4)
#endif
#undef SG_DOT_TILE

/* C (m × n) = alpha·A·Bᵀ + beta·C, A (m × k) and B (n × k) row-major, by dot
 * products: blocks of SG_DOT_MR rows of A (fewer for the last rows) against
 * groups of SG_VL / MR rows of B.  For few rows of A (no reuse of B to
 * amortise a transposition). */
static SG_TARGET void
SG_NAME(dot_driver)(int m, int n, int k, SG_T alpha, const SG_T *A, ptrdiff_t lda,
                    const SG_T *B, ptrdiff_t ldb, SG_T beta, SG_T *C, ptrdiff_t ldc)
{
    int i = 0;
    while (i < m) {
        const int left = m - i;
        const int mr = left >= SG_DOT_MR ? SG_DOT_MR : left >= 2 ? 2 : 1;
        const int nj = SG_VL / mr;
        for (int j = 0; j < n; j += nj) {
            const int cols = n - j < nj ? n - j : nj;
            const SG_T *a = A + i * lda, *b = B + j * ldb;
            SG_T *c = C + i * ldc + j;
            if (mr == 1)
                SG_NAME(dot_1)(k, a, lda, 1, b, ldb, cols, alpha, beta, c, ldc);
            else if (mr == 2)
                SG_NAME(dot_2)(k, a, lda, 2, b, ldb, cols, alpha, beta, c, ldc);
#if SG_DOT_MR >= 4
            else
                SG_NAME(dot_4)(k, a, lda, 4, b, ldb, cols, alpha, beta, c, ldc);
#endif
        }
        i += mr;
    }
}

/* ---- NT by packing: C = A·Bᵀ with Bᵀ copied panel by panel -----------------
 *
 * For each panel of 2·SG_VL columns of C (= rows of B) and each chunk of at
 * most SG_KC values of k, the panel of Bᵀ is transposed (SG_VL × SG_VL blocks,
 * in registers) into a 16 KiB buffer on the stack, and the broadcast-FMA
 * tiles run over it for all rows of A: the transposition costs n·k moves once,
 * and is shared by every row of C. */
#define SG_KC 128
static SG_TARGET void
SG_NAME(nt_pack_driver)(int m, int n, int k, SG_T alpha, const SG_T *A, ptrdiff_t lda,
                        const SG_T *B, ptrdiff_t ldb, SG_T beta, SG_T *C,
                        ptrdiff_t ldc)
{
    SG_T buf[SG_KC * 2 * SG_VL] __attribute__((aligned(64)));
    const int W = 2 * SG_VL;
    for (int j0 = 0; j0 < n; j0 += W) {
        const int cols = n - j0 < W ? n - j0 : W;
        const int nv = cols > SG_VL ? 2 : 1;
        const SG_MASK last = SG_NAME(tail_mask)(cols - (nv - 1) * SG_VL);
        for (int pc = 0; pc < k; pc += SG_KC) {
            const int kc = k - pc < SG_KC ? k - pc : SG_KC;
            for (int v = 0; v < nv; v++) {
                const int rows_b = cols - v * SG_VL < SG_VL ? cols - v * SG_VL : SG_VL;
                for (int p = 0; p < kc; p += SG_VL)
                    SG_TRANSPOSE(B + (j0 + v * SG_VL) * ldb + pc + p, ldb, rows_b,
                                 kc - p < SG_VL ? kc - p : SG_VL, buf + p * W + v * SG_VL, W);
            }
            SG_NAME(axpy_panel)(m, nv, last, kc, alpha, A + pc, lda, 1, buf, W,
                                pc == 0 ? beta : (SG_T)1, C + j0, ldc, 1);
        }
    }
}
#undef SG_KC

/* ---- one row: a gradient step on W, then the next row's product with it ---
 *
 *   W (k × n, row stride ldw) += alpha·x_oldᵀ·dz    (x_old: k values, dz: n)
 *   z (n) = x_new·W                                  (x_new: k values)
 *
 * with the updated W, in one pass over W instead of two: each row of W is
 * loaded once, stepped, stored, and FMA'd into z while still in registers.
 * Batch-1 training does exactly this between two samples in its first layer,
 * whose W (784 × 30) is the one large operand of the step.  The results are
 * bit for bit those of the two products as SG_NAME(gemm) computes them for
 * these shapes: the step as the short-k TN kernel rounds it (W[p] +
 * round(alpha·round(x_old[p]·dz)), the TN route for k = 1, n <= 4 vectors),
 * and the product as the 1-row broadcast tiles sum it (SG_ROTATE_K: KU accumulator
 * sets, merged at the end), panel by panel as axpy_driver cuts the columns.
 * n <= SG_STEP_MAX_NV vectors (at most 4, and at most SG_TN_STREAM_MAX_NV). */
static inline __attribute__((always_inline)) SG_TARGET void
SG_NAME(step_forward_panel)(const int NV, const int KU, ptrdiff_t k, const SG_T *x_old,
                            const SG_T *dz, SG_T alpha, const SG_T *x_new, SG_T *w,
                            ptrdiff_t ldw, SG_MASK last, SG_T *z)
{
    SG_V g[4], acc[4][4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        g[v] = v == NV - 1 ? SG_LOADM(last, dz + v * SG_VL) : SG_LOADU(dz + v * SG_VL);
#pragma GCC unroll 4
        for (int u = 0; u < KU; u++)
            acc[u][v] = SG_ZERO();
    }
    const SG_V scale = SG_SET1(alpha), one = SG_SET1((SG_T)1);
    /* Row p + 1 of W is loaded before row p is stored: the masked store of a
     * row's column tail spans a whole vector, which overlaps the start of the
     * next row, and a load issued after it would wait for the store to retire
     * (the short-k TN kernel does the same). */
    SG_V next[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        next[v] = v == NV - 1 ? SG_LOADM(last, w + v * SG_VL) : SG_LOADU(w + v * SG_VL);
#define SG_ROW_STEP(u, pp)                                                          \
    do {                                                                            \
        const SG_V xo = SG_SET1(x_old[pp]), xn = SG_SET1(x_new[pp]);                \
        SG_T *wp = w + (pp) * ldw;                                                  \
        SG_V wv[4];                                                                 \
        _Pragma("GCC unroll 4")                                                     \
        for (int v = 0; v < NV; v++) {                                              \
            SG_V step = SG_MUL(xo, g[v]);                                           \
            if (alpha != 1)                                                         \
                step = SG_MUL(scale, step);                                         \
            wv[v] = SG_FMA(one, next[v], step);                                     \
        }                                                                           \
        if ((pp) + 1 < k) {                                                         \
            _Pragma("GCC unroll 4")                                                 \
            for (int v = 0; v < NV; v++)                                            \
                next[v] = v == NV - 1 ? SG_LOADM(last, wp + ldw + v * SG_VL)        \
                                      : SG_LOADU(wp + ldw + v * SG_VL);             \
        }                                                                           \
        _Pragma("GCC unroll 4")                                                     \
        for (int v = 0; v < NV; v++) {                                              \
            if (v == NV - 1)                                                        \
                SG_STOREM(wp + v * SG_VL, last, wv[v]);                             \
            else                                                                    \
                SG_STOREU(wp + v * SG_VL, wv[v]);                                   \
            acc[u][v] = SG_FMA(xn, wv[v], acc[u][v]);                               \
        }                                                                           \
    } while (0)
    SG_ROTATE_K(SG_ROW_STEP);
#undef SG_ROW_STEP
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        SG_V sum = acc[0][v];
        if (KU > 1) sum = SG_ADD(sum, acc[1][v]);
        if (KU > 2) sum = SG_ADD(sum, acc[2][v]);
        if (KU > 3) sum = SG_ADD(sum, acc[3][v]);
        if (v == NV - 1)
            SG_STOREM(z + v * SG_VL, last, sum);
        else
            SG_STOREU(z + v * SG_VL, sum);
    }
}

/* The panels of axpy_driver for one row (8 vectors never occur: n <= 4
 * vectors, and SG_PANEL_CAP(1) >= 4), each with its tile's KU (SG_KU_FOR: 4
 * for 1 and 2 vectors, 2 for 4). */
static SG_TARGET void
SG_NAME(step_forward)(int n, ptrdiff_t k, const SG_T *x_old, const SG_T *dz, SG_T alpha,
                      const SG_T *x_new, SG_T *w, ptrdiff_t ldw, SG_T *z)
{
    const int nvec = (n + SG_VL - 1) / SG_VL;
    for (int v0 = 0; v0 < nvec;) {
        const int left = nvec - v0;
        const int nv = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const int j0 = v0 * SG_VL;
        const int width = n - j0 < nv * SG_VL ? n - j0 : nv * SG_VL;
        const SG_MASK last = SG_NAME(tail_mask)(width - (nv - 1) * SG_VL);
        if (nv == 4)
            SG_NAME(step_forward_panel)(4, 2, k, x_old, dz + j0, alpha, x_new, w + j0, ldw,
                                        last, z + j0);
        else if (nv == 2)
            SG_NAME(step_forward_panel)(2, 4, k, x_old, dz + j0, alpha, x_new, w + j0, ldw,
                                        last, z + j0);
        else
            SG_NAME(step_forward_panel)(1, 4, k, x_old, dz + j0, alpha, x_new, w + j0, ldw,
                                        last, z + j0);
        v0 += nv;
    }
}

/* The instruction set's entry: same contract as fastnn_{s,d}gemm_small. */
static SG_TARGET void
SG_NAME(gemm)(int trans_a, int trans_b, int m, int n, int k, SG_T alpha,
                     const SG_T *A, int lda, const SG_T *B, int ldb, SG_T beta,
                     SG_T *C, int ldc)
{
    if (k <= 0) {   /* no products: C = beta·C, as BLAS does */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                C[(ptrdiff_t)i * ldc + j] = beta != 0 ? beta * C[(ptrdiff_t)i * ldc + j] : 0;
    } else if (trans_a && !trans_b && k <= FASTNN_SG_TN_STREAM_MAX_K &&
               n <= SG_TN_STREAM_MAX_NV * SG_VL) {
        /* TN, short k, narrow C: B in registers, C streamed */
        SG_NAME(tn_stream)[k - 1]((n + SG_VL - 1) / SG_VL, m, n, alpha, A, lda, B, ldb, beta,
                                  C, ldc);
    } else if (!trans_b) {
        /* NN: a(i, p) = A[i·lda + p];  TN: a(i, p) = A[p·lda + i] */
        SG_NAME(axpy_driver)(m, n, k, alpha, A, trans_a ? 1 : lda, trans_a ? lda : 1,
                             B, ldb, beta, C, ldc, 1);
    } else if (!trans_a) {
        if (m <= SG_NT_DOT_MAX_M)
            SG_NAME(dot_driver)(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        else
            SG_NAME(nt_pack_driver)(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        /* TT: Cᵀ (n × m) = B (n × k) · A (k × m), written transposed into C */
        SG_NAME(axpy_driver)(n, m, k, alpha, B, ldb, 1, A, lda, beta, C, 1, ldc);
    }
}

#undef SG_ROTATE_K

/* The instantiation's parameters, set before each inclusion. */
#undef SG_TARGET
#undef SG_T
#undef SG_V
#undef SG_MASK
#undef SG_VL
#undef SG_DOT_MR
#undef SG_NAME
#undef SG_ZERO
#undef SG_SET1
#undef SG_LOADU
#undef SG_LOADM
#undef SG_STOREU
#undef SG_STOREM
#undef SG_FMA
#undef SG_MUL
#undef SG_ADD
#undef SG_REDUCE
#undef SG_TRANSPOSE
#undef SG_TAIL_MASK
#undef SG_MASK_COUNT
#undef SG_ROW_DOWN
#undef SG_MR_MAX
#undef SG_AXPY_TILE_LIST
#undef SG_AXPY_TILE_TABLE
#undef SG_MR_MAX_BY_WIDTH
#undef SG_PANEL_CAP
#undef SG_TN_STREAM_MAX_NV
#undef SG_STEP_MAX_NV
#undef SG_NT_DOT_MAX_M
