/* Small-matrix GEMM: fastnn's own kernels for the tiny and skinny products of
 * small-batch training, where OpenBLAS spends more time packing and
 * dispatching than multiplying.
 *
 * What it computes
 *   fastnn_sgemm_small / fastnn_dgemm_small (float / double), the contract of
 *   gemm() in fastnn/_kernels/_blas.pyx: row-major
 *       C (m×n) = alpha·op(A)·op(B) + beta·C,   op(A) m×k, op(B) k×n,
 *   op = transpose when trans_a / trans_b is nonzero; lda, ldb, ldc are the row
 *   strides of A, B, C as stored.  beta == 0 never reads C (it may hold NaN).
 *   k == 0 gives C = beta·C.  Results agree with a correctly rounded product
 *   within a few ulps × k; they are not bit-identical to BLAS or NumPy (the
 *   sums are ordered differently), but they are deterministic: one thread,
 *   fixed order, whatever the thread settings.
 *
 * Strategy (AVX-512F, register-blocked; see small_gemm_kernels.h)
 *   TN (dW = Xᵀ·dZ) with k <= 12 and n <= 4 vectors: the k rows of B are
 *     loaded once into registers, and C is computed and written row by row
 *     (k broadcasts of A[p, i] and k FMAs per vector of a row): one
 *     sequential pass over C, the bound of these store-heavy shapes.
 *   NN (Z = X·W) and TN (dW = Xᵀ·dZ) otherwise: a tile of MR rows × NV vectors of C
 *     (16 floats / 8 doubles per vector; MR ≤ 12 × NV ≤ 2, MR ≤ 6 × 4 or
 *     MR ≤ 3 × 8, at most 24 zmm accumulators) stays in registers while, for
 *     each p, op(A)[i, p] is broadcast and row p of B is loaded (the column
 *     tail under a mask) and FMA'd in.  NN and TN differ only in A's strides;
 *     B and A are read in place, never packed.  Tiles with few accumulators
 *     alternate 2-4 accumulator sets along p, so that ~8 FMA chains are in
 *     flight; the rows are cut into near-equal blocks of at most 12.
 *   NT (dX = dZ·Wᵀ), m ≤ 2: every output is a dot product of two contiguous
 *     rows; a tile of 1×16 / 2×8 (float) or 1×8 / 2×4 (double) outputs keeps
 *     one vector of partial sums per output and finishes with a
 *     blend/permute reduction tree that packs the 16 (8) sums into one vector.
 *   NT, m > 2: Bᵀ is transposed in registers, 32 (16) columns × up to 128 k
 *     at a time, into a 16 KiB stack buffer, and the NN tiles run on it; the
 *     transposition is paid once per panel and shared by all rows of C.
 *   TT: computed as Cᵀ = B·A with the NN tiles, stored transposed (slow
 *     scalar stores; nothing in fastnn uses TT).
 *   Batch-1 training (fastnn_{s,d}step_forward_small): one sample's SGD step
 *     on a layer's W (TN, k = 1, accumulated) and the next sample's product
 *     with the stepped W (NN, one row) in one pass over W, each row loaded,
 *     stepped, stored and FMA'd while in registers; bit for bit the two
 *     products above.
 *   Which shapes go here rather than to BLAS is decided by gemm_route.h.
 *
 * Dispatch: x86-64 with GCC or clang compiles the AVX-512F kernels through
 * function target attributes (the build itself stays portable, no -march);
 * the first call checks __builtin_cpu_supports("avx512f") once.  Elsewhere, or
 * on CPUs without AVX-512F, a plain C loop nest computes the same contract
 * (and gemm_route.h never routes a product here, so gemm() keeps using BLAS).
 *
 * Memory: the caller owns A, B and C; nothing is allocated on the heap (the
 * NT packing buffer is 16 KiB of stack, a tile a few hundred bytes).  Threads:
 * none, no OpenMP; call it from any thread.  Included by Cython with
 * `cdef extern from "small_gemm.h"`.
 */
#ifndef FASTNN_SMALL_GEMM_H
#define FASTNN_SMALL_GEMM_H

#include <stddef.h>

#include "isa.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTNN_SG_X86 1
#include <immintrin.h>
#define FASTNN_SG_AVX512 __attribute__((target("avx512f")))
#else
#define FASTNN_SG_X86 0
#endif

#ifndef FASTNN_SG_TN_STREAM_MAX_K
#define FASTNN_SG_TN_STREAM_MAX_K 12  /* TN: B held in registers up to this k */
#endif

/* ---- portable fallback: plain C, same contract ---------------------------- */

#define FASTNN_SG_PORTABLE(T, NAME)                                                  \
    static void NAME(int trans_a, int trans_b, int m, int n, int k, T alpha,         \
                     const T *A, int lda, const T *B, int ldb, T beta, T *C,         \
                     int ldc)                                                        \
    {                                                                                \
        /* op(A)[i, p] = A[i*a_rs + p*a_ks];  op(B)[p, j] = B[p*b_rs + j*b_cs] */     \
        const ptrdiff_t a_rs = trans_a ? 1 : lda, a_ks = trans_a ? lda : 1;          \
        const ptrdiff_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;          \
        for (int i = 0; i < m; i++) {                                                \
            T *c = C + (ptrdiff_t)i * ldc;                                           \
            for (int j = 0; j < n; j++) {                                            \
                T s = 0;                                                             \
                for (int p = 0; p < k; p++)                                          \
                    s += A[i * a_rs + p * a_ks] * B[p * b_rs + j * b_cs];            \
                c[j] = beta != 0 ? alpha * s + beta * c[j] : alpha * s;              \
            }                                                                        \
        }                                                                            \
    }
FASTNN_SG_PORTABLE(float, fastnn_sgemm_small_portable)
FASTNN_SG_PORTABLE(double, fastnn_dgemm_small_portable)
#undef FASTNN_SG_PORTABLE

/* ---- AVX-512F kernels ------------------------------------------------------ */
#if FASTNN_SG_X86

#define FASTNN_SG_MR_MAX 12       /* rows per broadcast-FMA tile (2 vectors: 24 zmm) */
#ifndef FASTNN_SG_NT_DOT_MAX_M
#define FASTNN_SG_NT_DOT_MAX_M 2  /* NT: dot products up to this m, packing above */
#endif

/* Lane l of the result = horizontal sum of v[l], for 16 float vectors: four
 * levels, each pairing vector l with vector l + half and halving the span
 * with one blend, one permute and one add per pair (15 of each in all). */
static inline __attribute__((always_inline)) FASTNN_SG_AVX512 __m512
fastnn_sg_pair_s(__m512 x, __m512 y, __mmask16 take_y, __m512i partner)
{
    /* lanes in take_y: y(l) + y(partner l); the others: x(l) + x(partner l) */
    return _mm512_add_ps(_mm512_mask_blend_ps(take_y, x, y),
                         _mm512_permutex2var_ps(x, partner, y));
}

static inline __attribute__((always_inline)) FASTNN_SG_AVX512 __m512
fastnn_sg_reduce_s(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4,
                   __m512 v5, __m512 v6, __m512 v7, __m512 v8, __m512 v9,
                   __m512 v10, __m512 v11, __m512 v12, __m512 v13, __m512 v14,
                   __m512 v15)
{
    /* partner of lane l at level b: l ^ 2^b, from the second operand (+16)
     * when bit b of l is set */
    const __m512i p3 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15,
                                         16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i p2 = _mm512_setr_epi32(4, 5, 6, 7, 16, 17, 18, 19,
                                         12, 13, 14, 15, 24, 25, 26, 27);
    const __m512i p1 = _mm512_setr_epi32(2, 3, 16, 17, 6, 7, 20, 21,
                                         10, 11, 24, 25, 14, 15, 28, 29);
    const __m512i p0 = _mm512_setr_epi32(1, 16, 3, 18, 5, 20, 7, 22,
                                         9, 24, 11, 26, 13, 28, 15, 30);
    const __m512 x0 = fastnn_sg_pair_s(v0, v8, 0xFF00, p3);
    const __m512 x1 = fastnn_sg_pair_s(v1, v9, 0xFF00, p3);
    const __m512 x2 = fastnn_sg_pair_s(v2, v10, 0xFF00, p3);
    const __m512 x3 = fastnn_sg_pair_s(v3, v11, 0xFF00, p3);
    const __m512 x4 = fastnn_sg_pair_s(v4, v12, 0xFF00, p3);
    const __m512 x5 = fastnn_sg_pair_s(v5, v13, 0xFF00, p3);
    const __m512 x6 = fastnn_sg_pair_s(v6, v14, 0xFF00, p3);
    const __m512 x7 = fastnn_sg_pair_s(v7, v15, 0xFF00, p3);
    const __m512 y0 = fastnn_sg_pair_s(x0, x4, 0xF0F0, p2);
    const __m512 y1 = fastnn_sg_pair_s(x1, x5, 0xF0F0, p2);
    const __m512 y2 = fastnn_sg_pair_s(x2, x6, 0xF0F0, p2);
    const __m512 y3 = fastnn_sg_pair_s(x3, x7, 0xF0F0, p2);
    const __m512 z0 = fastnn_sg_pair_s(y0, y2, 0xCCCC, p1);
    const __m512 z1 = fastnn_sg_pair_s(y1, y3, 0xCCCC, p1);
    return fastnn_sg_pair_s(z0, z1, 0xAAAA, p0);
}

/* The same for 8 double vectors (three levels; v8..v15 are ignored). */
static inline __attribute__((always_inline)) FASTNN_SG_AVX512 __m512d
fastnn_sg_pair_d(__m512d x, __m512d y, __mmask8 take_y, __m512i partner)
{
    return _mm512_add_pd(_mm512_mask_blend_pd(take_y, x, y),
                         _mm512_permutex2var_pd(x, partner, y));
}

static inline __attribute__((always_inline)) FASTNN_SG_AVX512 __m512d
fastnn_sg_reduce_d(__m512d v0, __m512d v1, __m512d v2, __m512d v3, __m512d v4,
                   __m512d v5, __m512d v6, __m512d v7, __m512d v8, __m512d v9,
                   __m512d v10, __m512d v11, __m512d v12, __m512d v13, __m512d v14,
                   __m512d v15)
{
    (void)v8; (void)v9; (void)v10; (void)v11; (void)v12; (void)v13; (void)v14; (void)v15;
    const __m512i p2 = _mm512_set_epi64(11, 10, 9, 8, 7, 6, 5, 4);
    const __m512i p1 = _mm512_set_epi64(13, 12, 7, 6, 9, 8, 3, 2);
    const __m512i p0 = _mm512_set_epi64(14, 7, 12, 5, 10, 3, 8, 1);
    const __m512d x0 = fastnn_sg_pair_d(v0, v4, 0xF0, p2);
    const __m512d x1 = fastnn_sg_pair_d(v1, v5, 0xF0, p2);
    const __m512d x2 = fastnn_sg_pair_d(v2, v6, 0xF0, p2);
    const __m512d x3 = fastnn_sg_pair_d(v3, v7, 0xF0, p2);
    const __m512d y0 = fastnn_sg_pair_d(x0, x2, 0xCC, p1);
    const __m512d y1 = fastnn_sg_pair_d(x1, x3, 0xCC, p1);
    return fastnn_sg_pair_d(y0, y1, 0xAA, p0);
}

/* dst[p·ldd + r] = src[r·ld + p] for p < np and r < 16: one 16×16 block of
 * floats transposed in registers (4 rounds of 16 shuffles).  Rows r >= nrows
 * repeat row nrows - 1 (their lanes are never stored by the caller); columns
 * p >= np are not read. */
#define FASTNN_SG_L16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
                         X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
static inline __attribute__((always_inline)) FASTNN_SG_AVX512 void
fastnn_sg_transpose_s(const float *src, ptrdiff_t ld, int nrows, int np, float *dst,
                      ptrdiff_t ldd)
{
    const __mmask16 mk = np >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << np) - 1u);
#define FASTNN_SG_LOAD(i) \
    const __m512 r##i = _mm512_maskz_loadu_ps(mk, src + ((i) < nrows ? (i) : nrows - 1) * ld);
    FASTNN_SG_L16(FASTNN_SG_LOAD)
#undef FASTNN_SG_LOAD
    /* t: pairs of rows interleaved; u(4q + c): column 4b + c of rows 4q..4q+3 in
     * 128-bit block b; v, then w: the blocks gathered across rows. */
    const __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1);
    const __m512 t2 = _mm512_unpacklo_ps(r2, r3), t3 = _mm512_unpackhi_ps(r2, r3);
    const __m512 t4 = _mm512_unpacklo_ps(r4, r5), t5 = _mm512_unpackhi_ps(r4, r5);
    const __m512 t6 = _mm512_unpacklo_ps(r6, r7), t7 = _mm512_unpackhi_ps(r6, r7);
    const __m512 t8 = _mm512_unpacklo_ps(r8, r9), t9 = _mm512_unpackhi_ps(r8, r9);
    const __m512 t10 = _mm512_unpacklo_ps(r10, r11), t11 = _mm512_unpackhi_ps(r10, r11);
    const __m512 t12 = _mm512_unpacklo_ps(r12, r13), t13 = _mm512_unpackhi_ps(r12, r13);
    const __m512 t14 = _mm512_unpacklo_ps(r14, r15), t15 = _mm512_unpackhi_ps(r14, r15);
    const __m512 u0 = _mm512_shuffle_ps(t0, t2, 0x44), u1 = _mm512_shuffle_ps(t0, t2, 0xEE);
    const __m512 u2 = _mm512_shuffle_ps(t1, t3, 0x44), u3 = _mm512_shuffle_ps(t1, t3, 0xEE);
    const __m512 u4 = _mm512_shuffle_ps(t4, t6, 0x44), u5 = _mm512_shuffle_ps(t4, t6, 0xEE);
    const __m512 u6 = _mm512_shuffle_ps(t5, t7, 0x44), u7 = _mm512_shuffle_ps(t5, t7, 0xEE);
    const __m512 u8 = _mm512_shuffle_ps(t8, t10, 0x44), u9 = _mm512_shuffle_ps(t8, t10, 0xEE);
    const __m512 u10 = _mm512_shuffle_ps(t9, t11, 0x44), u11 = _mm512_shuffle_ps(t9, t11, 0xEE);
    const __m512 u12 = _mm512_shuffle_ps(t12, t14, 0x44), u13 = _mm512_shuffle_ps(t12, t14, 0xEE);
    const __m512 u14 = _mm512_shuffle_ps(t13, t15, 0x44), u15 = _mm512_shuffle_ps(t13, t15, 0xEE);
    const __m512 v0 = _mm512_shuffle_f32x4(u0, u4, 0x88), v4 = _mm512_shuffle_f32x4(u0, u4, 0xDD);
    const __m512 v1 = _mm512_shuffle_f32x4(u1, u5, 0x88), v5 = _mm512_shuffle_f32x4(u1, u5, 0xDD);
    const __m512 v2 = _mm512_shuffle_f32x4(u2, u6, 0x88), v6 = _mm512_shuffle_f32x4(u2, u6, 0xDD);
    const __m512 v3 = _mm512_shuffle_f32x4(u3, u7, 0x88), v7 = _mm512_shuffle_f32x4(u3, u7, 0xDD);
    const __m512 v8 = _mm512_shuffle_f32x4(u8, u12, 0x88), v12 = _mm512_shuffle_f32x4(u8, u12, 0xDD);
    const __m512 v9 = _mm512_shuffle_f32x4(u9, u13, 0x88), v13 = _mm512_shuffle_f32x4(u9, u13, 0xDD);
    const __m512 v10 = _mm512_shuffle_f32x4(u10, u14, 0x88), v14 = _mm512_shuffle_f32x4(u10, u14, 0xDD);
    const __m512 v11 = _mm512_shuffle_f32x4(u11, u15, 0x88), v15 = _mm512_shuffle_f32x4(u11, u15, 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(v0, v8, 0x88), w8 = _mm512_shuffle_f32x4(v0, v8, 0xDD);
    const __m512 w1 = _mm512_shuffle_f32x4(v1, v9, 0x88), w9 = _mm512_shuffle_f32x4(v1, v9, 0xDD);
    const __m512 w2 = _mm512_shuffle_f32x4(v2, v10, 0x88), w10 = _mm512_shuffle_f32x4(v2, v10, 0xDD);
    const __m512 w3 = _mm512_shuffle_f32x4(v3, v11, 0x88), w11 = _mm512_shuffle_f32x4(v3, v11, 0xDD);
    const __m512 w4 = _mm512_shuffle_f32x4(v4, v12, 0x88), w12 = _mm512_shuffle_f32x4(v4, v12, 0xDD);
    const __m512 w5 = _mm512_shuffle_f32x4(v5, v13, 0x88), w13 = _mm512_shuffle_f32x4(v5, v13, 0xDD);
    const __m512 w6 = _mm512_shuffle_f32x4(v6, v14, 0x88), w14 = _mm512_shuffle_f32x4(v6, v14, 0xDD);
    const __m512 w7 = _mm512_shuffle_f32x4(v7, v15, 0x88), w15 = _mm512_shuffle_f32x4(v7, v15, 0xDD);
#define FASTNN_SG_STORE(p) if ((p) < np) _mm512_storeu_ps(dst + (p) * ldd, w##p);
    FASTNN_SG_L16(FASTNN_SG_STORE)
#undef FASTNN_SG_STORE
}

/* The same for an 8×8 block of doubles (3 rounds of 8 shuffles). */
static inline __attribute__((always_inline)) FASTNN_SG_AVX512 void
fastnn_sg_transpose_d(const double *src, ptrdiff_t ld, int nrows, int np, double *dst,
                      ptrdiff_t ldd)
{
    const __mmask8 mk = np >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << np) - 1u);
#define FASTNN_SG_LOAD(i) \
    const __m512d r##i = _mm512_maskz_loadu_pd(mk, src + ((i) < nrows ? (i) : nrows - 1) * ld);
    FASTNN_SG_LOAD(0) FASTNN_SG_LOAD(1) FASTNN_SG_LOAD(2) FASTNN_SG_LOAD(3)
    FASTNN_SG_LOAD(4) FASTNN_SG_LOAD(5) FASTNN_SG_LOAD(6) FASTNN_SG_LOAD(7)
#undef FASTNN_SG_LOAD
    const __m512d t0 = _mm512_unpacklo_pd(r0, r1), t1 = _mm512_unpackhi_pd(r0, r1);
    const __m512d t2 = _mm512_unpacklo_pd(r2, r3), t3 = _mm512_unpackhi_pd(r2, r3);
    const __m512d t4 = _mm512_unpacklo_pd(r4, r5), t5 = _mm512_unpackhi_pd(r4, r5);
    const __m512d t6 = _mm512_unpacklo_pd(r6, r7), t7 = _mm512_unpackhi_pd(r6, r7);
    const __m512d u0 = _mm512_shuffle_f64x2(t0, t2, 0x88), u2 = _mm512_shuffle_f64x2(t0, t2, 0xDD);
    const __m512d u1 = _mm512_shuffle_f64x2(t1, t3, 0x88), u3 = _mm512_shuffle_f64x2(t1, t3, 0xDD);
    const __m512d u4 = _mm512_shuffle_f64x2(t4, t6, 0x88), u6 = _mm512_shuffle_f64x2(t4, t6, 0xDD);
    const __m512d u5 = _mm512_shuffle_f64x2(t5, t7, 0x88), u7 = _mm512_shuffle_f64x2(t5, t7, 0xDD);
    const __m512d w0 = _mm512_shuffle_f64x2(u0, u4, 0x88), w4 = _mm512_shuffle_f64x2(u0, u4, 0xDD);
    const __m512d w1 = _mm512_shuffle_f64x2(u1, u5, 0x88), w5 = _mm512_shuffle_f64x2(u1, u5, 0xDD);
    const __m512d w2 = _mm512_shuffle_f64x2(u2, u6, 0x88), w6 = _mm512_shuffle_f64x2(u2, u6, 0xDD);
    const __m512d w3 = _mm512_shuffle_f64x2(u3, u7, 0x88), w7 = _mm512_shuffle_f64x2(u3, u7, 0xDD);
#define FASTNN_SG_STORE(p) if ((p) < np) _mm512_storeu_pd(dst + (p) * ldd, w##p);
    FASTNN_SG_STORE(0) FASTNN_SG_STORE(1) FASTNN_SG_STORE(2) FASTNN_SG_STORE(3)
    FASTNN_SG_STORE(4) FASTNN_SG_STORE(5) FASTNN_SG_STORE(6) FASTNN_SG_STORE(7)
#undef FASTNN_SG_STORE
}
#undef FASTNN_SG_L16

/* float instantiation */
#define SG_T float
#define SG_V __m512
#define SG_MASK __mmask16
#define SG_VL 16
#define SG_DOT_MR 4
#define SG_NAME(x) fastnn_sg_##x##_s
#define SG_ZERO() _mm512_setzero_ps()
#define SG_SET1(x) _mm512_set1_ps(x)
#define SG_LOADU(p) _mm512_loadu_ps(p)
#define SG_LOADM(m, p) _mm512_maskz_loadu_ps(m, p)
#define SG_STOREU(p, v) _mm512_storeu_ps(p, v)
#define SG_STOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define SG_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SG_MUL(a, b) _mm512_mul_ps(a, b)
#define SG_ADD(a, b) _mm512_add_ps(a, b)
#define SG_REDUCE fastnn_sg_reduce_s
#define SG_COMPRESS(m, v) _mm512_maskz_compress_ps(m, v)
#define SG_TRANSPOSE fastnn_sg_transpose_s
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

/* double instantiation */
#define SG_T double
#define SG_V __m512d
#define SG_MASK __mmask8
#define SG_VL 8
#define SG_DOT_MR 2
#define SG_NAME(x) fastnn_sg_##x##_d
#define SG_ZERO() _mm512_setzero_pd()
#define SG_SET1(x) _mm512_set1_pd(x)
#define SG_LOADU(p) _mm512_loadu_pd(p)
#define SG_LOADM(m, p) _mm512_maskz_loadu_pd(m, p)
#define SG_STOREU(p, v) _mm512_storeu_pd(p, v)
#define SG_STOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define SG_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define SG_MUL(a, b) _mm512_mul_pd(a, b)
#define SG_ADD(a, b) _mm512_add_pd(a, b)
#define SG_REDUCE fastnn_sg_reduce_d
#define SG_COMPRESS(m, v) _mm512_maskz_compress_pd(m, v)
#define SG_TRANSPOSE fastnn_sg_transpose_d
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

/* 1 when the active instruction-set path (isa.h) is AVX-512F. */
static inline int fastnn_sg_have_avx512(void)
{
    return fastnn_isa() == FASTNN_ISA_AVX512;
}
#else
static inline int fastnn_sg_have_avx512(void) { return 0; }
#endif /* FASTNN_SG_X86 */

/* ---- public entry points ---------------------------------------------------- */

/* Which instruction set the small kernels use on this CPU. */
static inline const char *fastnn_small_gemm_isa(void)
{
    return fastnn_sg_have_avx512() ? "avx512f" : "portable";
}

static inline void fastnn_sgemm_small(int trans_a, int trans_b, int m, int n, int k,
                                      float alpha, const float *A, int lda,
                                      const float *B, int ldb, float beta,
                                      float *C, int ldc)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_SG_X86
    if (fastnn_sg_have_avx512()) {
        fastnn_sg_gemm_avx512_s(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb,
                                beta, C, ldc);
        return;
    }
#endif
    fastnn_sgemm_small_portable(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb,
                                beta, C, ldc);
}

static inline void fastnn_dgemm_small(int trans_a, int trans_b, int m, int n, int k,
                                      double alpha, const double *A, int lda,
                                      const double *B, int ldb, double beta,
                                      double *C, int ldc)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_SG_X86
    if (fastnn_sg_have_avx512()) {
        fastnn_sg_gemm_avx512_d(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb,
                                beta, C, ldc);
        return;
    }
#endif
    fastnn_dgemm_small_portable(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb,
                                beta, C, ldc);
}

/* 1 when the small kernels add into C (beta != 0) as fast as they overwrite
 * it, for this shape: the short-k TN path (it loads the next row of C before
 * storing the current one), or rows that are whole vectors.  Elsewhere the
 * masked store of a row's column tail covers a whole vector, which overlaps
 * the start of the next row, and loading that row right after stalls until
 * the store retires (measured: 784×30 with k = 32, 23 µs against 15 µs). */
static inline int fastnn_small_gemm_accumulates_fast(int m, int n, int k, int trans_a,
                                                     int trans_b, int is_double)
{
    (void)m;
    const int lanes = is_double ? 8 : 16;
    return (trans_a && !trans_b && k <= FASTNN_SG_TN_STREAM_MAX_K && n <= 4 * lanes)
           || n % lanes == 0;
}

/* One row of batch-1 training's first layer, fused (small_gemm_kernels.h,
 * "step_forward"):  W (k × n, row stride ldw) += alpha·x_oldᵀ·dz, then
 * z (n) = x_new·W with the updated W, in one pass over W.  Bit for bit the two
 * calls fastnn_{s,d}gemm_small(1, 0, k, n, 1, alpha, x_old, k, dz, n, 1, W, ldw)
 * and fastnn_{s,d}gemm_small(0, 0, 1, n, k, 1, x_new, k, W, ldw, 0, z, n),
 * wherever fastnn_small_step_forward_fits(n); elsewhere it makes those two
 * calls.  z must not overlap W, x_old, x_new or dz. */
static inline int fastnn_small_step_forward_fits(int n, int is_double)
{
    return fastnn_sg_have_avx512() && n >= 1 && n <= 4 * (is_double ? 8 : 16);
}

static inline void fastnn_sstep_forward_small(int n, int k, const float *x_old,
                                              const float *dz, float alpha,
                                              const float *x_new, float *W, int ldw,
                                              float *z)
{
#if FASTNN_SG_X86
    if (fastnn_small_step_forward_fits(n, 0)) {
        fastnn_sg_step_forward_s(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        return;
    }
#endif
    fastnn_sgemm_small(1, 0, k, n, 1, alpha, x_old, k, dz, n, 1.0f, W, ldw);
    fastnn_sgemm_small(0, 0, 1, n, k, 1.0f, x_new, k, W, ldw, 0.0f, z, n);
}

static inline void fastnn_dstep_forward_small(int n, int k, const double *x_old,
                                              const double *dz, double alpha,
                                              const double *x_new, double *W, int ldw,
                                              double *z)
{
#if FASTNN_SG_X86
    if (fastnn_small_step_forward_fits(n, 1)) {
        fastnn_sg_step_forward_d(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        return;
    }
#endif
    fastnn_dgemm_small(1, 0, k, n, 1, alpha, x_old, k, dz, n, 1.0, W, ldw);
    fastnn_dgemm_small(0, 0, 1, n, k, 1.0, x_new, k, W, ldw, 0.0, z, n);
}

#endif /* FASTNN_SMALL_GEMM_H */
