/* The kernels of packed_gemm.h (micro-kernel, packing, one thread's loop
 * nest), written once for every instruction set and element type.
 *
 * Not a public header, and deliberately without an include guard:
 * packed_gemm.h includes it once per (instruction set, element type), each
 * time with its own PG_ macros (below), as small_gemm.h does with
 * small_gemm_kernels.h; an instruction set contributes only vector wrappers,
 * its tile height and its block sizes, never a copy of the algorithm.
 * Everything here is compiled through function target attributes and only
 * runs when fastnn_isa() names that instruction set.  See packed_gemm.h for
 * the contract, the blocking and the threads.
 *
 * Macros expected: PG_T (element), PG_V (vector), PG_MASK (lane mask: a mask
 * register, or a vector of all-ones / all-zeros lanes), PG_VL (lanes per
 * vector), PG_NAME(x) (suffixed name), PG_TARGET (function attribute), PG_MR
 * (rows of a micro-tile) and PG_ROWS(X) (X(0) ... X(PG_MR - 1)), PG_KC,
 * PG_NB, PG_MB (block sizes), PG_TRANSPOSE (VL×VL register transpose),
 * PG_LANE_MASK(lanes) (mask of the low `lanes` lanes, clamped to [0, VL]),
 * PG_PREFETCH_B(b) (prefetch of the B micro-panel a few steps ahead),
 * optionally PG_MASKED_STORES_SLOW (defined where a masked store costs
 * several plain ones, AVX2: then whole tiles of C and the packing of Aᵀ store
 * whole vectors; the other instantiations compile exactly as without it)
 * with PG_MASK_ALL(m) (nonzero when mask m selects every lane), optionally
 * PG_PACK_PREFETCH (rows ahead that the packing of B prefetches), and the
 * one-instruction wrappers PG_ZERO, PG_SET1, PG_LOADU, PG_LOADM,
 * PG_STOREU, PG_STOREM, PG_FMA, PG_MUL.
 */

#define PG_NR (2 * PG_VL)   /* columns of a micro-tile: two vectors */

/* ---- micro-kernel: one MR×NR tile of C over kc steps --------------------- *
 * a: packed micro-panel of A, a[p·MR + r];  b: packed micro-panel of B,
 * b[p·NR + j].  The 2·MR accumulators stay in registers for the whole kc
 * loop; each step loads two vectors of B and broadcasts MR values of A.  The
 * tile is then written to the mr × (valid columns) corner of C at c (row
 * stride ldc): C = alpha·acc + beta·C, where beta == 0 never reads C. */
#define PG_DECL(r) PG_V acc##r##_0 = PG_ZERO(), acc##r##_1 = PG_ZERO();
#define PG_FMA_ROW(r)                                                                \
    {                                                                                \
        const PG_V ar = PG_SET1(a[r]);                                               \
        acc##r##_0 = PG_FMA(ar, b0, acc##r##_0);                                     \
        acc##r##_1 = PG_FMA(ar, b1, acc##r##_1);                                     \
    }
#define PG_STORE_ROW(r)                                                              \
    if ((r) < mr) {                                                                  \
        PG_T *cr = c + (ptrdiff_t)(r) * ldc;                                         \
        PG_V x0 = acc##r##_0, x1 = acc##r##_1;                                       \
        if (alpha != 1) { x0 = PG_MUL(va, x0); x1 = PG_MUL(va, x1); }                 \
        if (beta != 0) {                                                             \
            x0 = PG_FMA(vb, PG_LOADM(m0, cr), x0);                                   \
            x1 = PG_FMA(vb, PG_LOADM(m1, cr + PG_VL), x1);                           \
        }                                                                            \
        PG_STOREM(cr, m0, x0);                                                       \
        PG_STOREM(cr + PG_VL, m1, x1);                                               \
    }
#define PG_STORE_FULL_ROW(r)                                                         \
    {                                                                                \
        PG_T *cr = c + (ptrdiff_t)(r) * ldc;                                         \
        PG_V x0 = acc##r##_0, x1 = acc##r##_1;                                       \
        if (alpha != 1) { x0 = PG_MUL(va, x0); x1 = PG_MUL(va, x1); }                 \
        if (beta != 0) {                                                             \
            x0 = PG_FMA(vb, PG_LOADU(cr), x0);                                       \
            x1 = PG_FMA(vb, PG_LOADU(cr + PG_VL), x1);                               \
        }                                                                            \
        PG_STOREU(cr, x0);                                                           \
        PG_STOREU(cr + PG_VL, x1);                                                   \
    }

static PG_TARGET void
PG_NAME(micro)(int kc, const PG_T *restrict a, const PG_T *restrict b, PG_T *c,
               ptrdiff_t ldc, int mr, PG_MASK m0, PG_MASK m1, PG_T alpha, PG_T beta)
{
    /* C's tile is read (beta != 0, or a later k block) and written only after
     * the kc loop: start fetching it now, behind the multiply-adds */
    for (int r = 0; r < mr; r++) {
        __builtin_prefetch(c + (ptrdiff_t)r * ldc, 0, 3);
        __builtin_prefetch(c + (ptrdiff_t)r * ldc + PG_NR - 1, 0, 3);
    }
    PG_ROWS(PG_DECL)
#pragma GCC unroll 4
    for (int p = 0; p < kc; p++) {
        const PG_V b0 = PG_LOADU(b), b1 = PG_LOADU(b + PG_VL);
        /* the B micro-panel (kc·NR values: 48 KiB for float) streams from L2
         * past the A panel held in L1: ask for its lines 8 steps (1 KiB)
         * ahead, which the hardware prefetcher alone did not (measured: the
         * large network's 8 products 4-5% faster in all; 16 steps ahead was
         * no better) */
        PG_PREFETCH_B(b);
        PG_ROWS(PG_FMA_ROW)
        a += PG_MR;
        b += PG_NR;
    }
    const PG_V va = PG_SET1(alpha), vb = PG_SET1(beta);
#ifdef PG_MASKED_STORES_SLOW
    if (mr == PG_MR && PG_MASK_ALL(m1)) {   /* a whole tile */
        PG_ROWS(PG_STORE_FULL_ROW)
        return;
    }
#endif
    PG_ROWS(PG_STORE_ROW)
}
#undef PG_DECL
#undef PG_FMA_ROW
#undef PG_STORE_ROW
#undef PG_STORE_FULL_ROW

/* ---- packing ------------------------------------------------------------ *
 * Both routines read the source matrix along its rows, a whole block row at
 * a time, so that the hardware prefetcher follows one stream per row and
 * every 4 KiB page is touched once per block: walking one micro-panel's
 * column down the rows instead (stride lda, 16 KiB for a 4096-wide layer)
 * missed the TLB and the cache on every element group and cost a fifth of
 * the product.
 *
 * A block: rows [0, mb) × k steps [0, kc) of op(A), as consecutive MR-row
 * micro-panels, dst[panel·kc·MR + p·MR + r].  Rows past mb hold finite
 * filler (zeros, or row mb - 1 repeated): they only reach rows of C that are
 * never stored.  op(A) = A through VL×VL register transposes, which store
 * whole vectors at a stride of MR: where a group of VL rows reaches past
 * the micro-panel's MR, each store spills junk lanes into the next p's
 * slots, which a later store overwrites (the next p's, or the next group's:
 * the groups run from the last to the first), and the last one up to VL
 * elements past the micro-panel, which the next micro-panel, or the
 * workspace's padding after the A block, takes. */
static PG_TARGET void
PG_NAME(pack_a)(int trans_a, const PG_T *A, ptrdiff_t lda, int mb, int kc, PG_T *dst)
{
    if (trans_a) {           /* op(A)[i, p] = A[p·lda + i]: row p of A holds step p
                              * of every micro-panel (rows past mb: zeros) */
        for (int p = 0; p < kc; p++) {
            const PG_T *src = A + (ptrdiff_t)p * lda;
            PG_T *d = dst + p * PG_MR;
            for (int i0 = 0; i0 < mb; i0 += PG_MR, d += (ptrdiff_t)kc * PG_MR) {
                for (int r0 = 0; r0 < PG_MR; r0 += PG_VL) {
#ifdef PG_MASKED_STORES_SLOW
                    /* a whole vector: its lanes past the micro-panel's MR
                     * rows land in step p + 1's slots, written after it;
                     * the last step's would land in the next micro-panel,
                     * already written, so it alone is masked */
                    if (p + 1 < kc) {
                        PG_STOREU(d + r0, PG_LOADM(PG_LANE_MASK(mb - i0 - r0), src + i0 + r0));
                        continue;
                    }
#endif
                    PG_STOREM(d + r0, PG_LANE_MASK(PG_MR - r0),
                              PG_LOADM(PG_LANE_MASK(mb - i0 - r0), src + i0 + r0));
                }
            }
        }
        return;
    }
    for (int i0 = 0; i0 < mb; i0 += PG_MR, dst += (ptrdiff_t)kc * PG_MR) {
        /* op(A)[i, p] = A[i·lda + p]: MR rows streamed side by side, transposed */
        const int rows = mb - i0 < PG_MR ? mb - i0 : PG_MR;
        const PG_T *src = A + (ptrdiff_t)i0 * lda;
        for (int p = 0; p < kc; p += PG_VL) {
            const int np = kc - p < PG_VL ? kc - p : PG_VL;
            /* rows VL.. first (double: 12 rows = 8 + 4), so that the
             * full-width stores of rows 0..VL-1 come last */
            for (int r0 = (PG_MR - 1) / PG_VL * PG_VL; r0 >= 0; r0 -= PG_VL) {
                const int nrows = rows - r0 < PG_VL ? rows - r0 : PG_VL;
                const PG_T *s0 = src + (ptrdiff_t)(nrows > 0 ? r0 : rows - 1) * lda + p;
                PG_TRANSPOSE(s0, lda, nrows > 0 ? nrows : 1, np,
                             dst + p * PG_MR + r0, PG_MR);
            }
        }
    }
}

/* B block: k steps [0, kc) × columns [0, nb) of op(B), as consecutive
 * NR-column micro-panels, dst[panel·kc·NR + p·NR + j].  Columns past nb hold
 * finite filler (zeros, or a repeated column); they only reach lanes of C
 * that are never stored. */
static PG_TARGET void
PG_NAME(pack_b)(int trans_b, const PG_T *B, ptrdiff_t ldb, int kc, int nb, PG_T *dst)
{
    if (!trans_b) {          /* op(B)[p, j] = B[p·ldb + j]: row p of B holds step p
                              * of every micro-panel */
        for (int p = 0; p < kc; p++) {
            const PG_T *src = B + (ptrdiff_t)p * ldb;
            PG_T *d = dst + p * PG_NR;
            for (int j0 = 0; j0 < nb; j0 += PG_NR, d += (ptrdiff_t)kc * PG_NR) {
                const int cols = nb - j0;
#ifdef PG_PACK_PREFETCH
                if (p + PG_PACK_PREFETCH < kc)
                    __builtin_prefetch(src + PG_PACK_PREFETCH * ldb + j0, 0, 3);
#endif
                PG_STOREU(d, PG_LOADM(PG_LANE_MASK(cols), src + j0));
                PG_STOREU(d + PG_VL,
                          PG_LOADM(PG_LANE_MASK(cols - PG_VL), src + j0 + PG_VL));
            }
        }
        return;
    }
    for (int j0 = 0; j0 < nb; j0 += PG_NR, dst += (ptrdiff_t)kc * PG_NR) {
        /* op(B)[p, j] = B[j·ldb + p]: VL rows of B streamed side by side,
         * VL×VL blocks transposed */
        const int cols = nb - j0 < PG_NR ? nb - j0 : PG_NR;
        for (int h = 0; h < 2; h++) {
            const int hcols = cols - h * PG_VL;
            if (hcols <= 0) {
                for (int p = 0; p < kc; p++)
                    PG_STOREU(dst + p * PG_NR + h * PG_VL, PG_ZERO());
                continue;
            }
            const PG_T *src = B + (ptrdiff_t)(j0 + h * PG_VL) * ldb;
            const int nrows = hcols < PG_VL ? hcols : PG_VL;
            for (int p = 0; p < kc; p += PG_VL)
                PG_TRANSPOSE(src + p, ldb, nrows, kc - p < PG_VL ? kc - p : PG_VL,
                             dst + p * PG_NR + h * PG_VL, PG_NR);
        }
    }
}

/* ---- one thread's share: C[0:m, 0:n] on its own packed buffers ----------- */
static PG_TARGET void
PG_NAME(serial)(int trans_a, int trans_b, int m, int n, int k, PG_T alpha,
                const PG_T *A, ptrdiff_t lda, const PG_T *B, ptrdiff_t ldb, PG_T beta,
                PG_T *C, ptrdiff_t ldc, PG_T *abuf, PG_T *bbuf)
{
    for (int i0 = 0; i0 < m; i0 += PG_MB) {
        const int mb = m - i0 < PG_MB ? m - i0 : PG_MB;
        for (int p0 = 0; p0 < k; p0 += PG_KC) {
            const int kc = k - p0 < PG_KC ? k - p0 : PG_KC;
            const PG_T beta_p = p0 == 0 ? beta : (PG_T)1;   /* later k blocks add up */
            PG_NAME(pack_a)(trans_a, trans_a ? A + (ptrdiff_t)p0 * lda + i0
                                             : A + (ptrdiff_t)i0 * lda + p0,
                            lda, mb, kc, abuf);
            for (int j0 = 0; j0 < n; j0 += PG_NB) {
                const int nb = n - j0 < PG_NB ? n - j0 : PG_NB;
                PG_NAME(pack_b)(trans_b, trans_b ? B + (ptrdiff_t)j0 * ldb + p0
                                                 : B + (ptrdiff_t)p0 * ldb + j0,
                                ldb, kc, nb, bbuf);
                /* the A micro-panel stays in L1 while the B block streams from L2 */
                for (int i = 0; i < mb; i += PG_MR) {
                    const int mr = mb - i < PG_MR ? mb - i : PG_MR;
                    const PG_T *ap = abuf + (ptrdiff_t)i * kc;
                    for (int j = 0; j < nb; j += PG_NR) {
                        const int cols = nb - j;
                        PG_NAME(micro)(kc, ap, bbuf + (ptrdiff_t)j * kc,
                                       C + (ptrdiff_t)(i0 + i) * ldc + j0 + j, ldc, mr,
                                       PG_LANE_MASK(cols),
                                       PG_LANE_MASK(cols - PG_VL), alpha, beta_p);
                    }
                }
            }
        }
    }
}

#undef PG_NR
#undef PG_T
#undef PG_V
#undef PG_MASK
#undef PG_VL
#undef PG_NAME
#undef PG_KC
#undef PG_NB
#undef PG_MB
#undef PG_TRANSPOSE
#undef PG_ZERO
#undef PG_SET1
#undef PG_LOADU
#undef PG_LOADM
#undef PG_STOREU
#undef PG_STOREM
#undef PG_FMA
#undef PG_MUL
#undef PG_MR
#undef PG_ROWS
#undef PG_TARGET
#undef PG_LANE_MASK
#undef PG_PREFETCH_B
#undef PG_MASKED_STORES_SLOW
#undef PG_MASK_ALL
#undef PG_PACK_PREFETCH
