/* AVX-512F register helpers shared by fastnn's kernels (small_gemm.h,
 * packed_gemm.h): horizontal sums and register transposes.
 *
 * What it provides (x86-64 with GCC or clang only; every function is compiled
 * for AVX-512F through FASTNN_SG_AVX512, the build itself stays baseline
 * x86-64, and a caller runs them only after fastnn_isa() (isa.h) said the
 * AVX-512 path is active):
 *   - fastnn_sg_reduce_s(v0..v15) / _d(v0..v7, ...): lane l of the result is
 *     the horizontal sum of v_l, for 16 float / 8 double vectors, by a
 *     blend/permute tree (fixed order: the same bits every call);
 *   - fastnn_sg_transpose_s / _d(src, ld, nrows, np, dst, ldd):
 *     dst[p·ldd + r] = src[r·ld + p] for p < np and r < 16 (floats) / 8
 *     (doubles), one block transposed in registers; rows r >= nrows repeat
 *     row nrows - 1, columns p >= np are not read.
 * Lane masks are AVX-512's __mmask16 / __mmask8, used directly.  The AVX2
 * counterparts, with the same signatures, are in simd_avx2.h.
 * Memory: none allocated; src/dst owned by the caller.  No state, no threads.
 */
#ifndef FASTNN_SIMD_AVX512_H
#define FASTNN_SIMD_AVX512_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <stddef.h>
#include <immintrin.h>

#define FASTNN_SG_AVX512 __attribute__((target("avx512f")))

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

#endif /* x86-64 with GCC or clang */
#endif /* FASTNN_SIMD_AVX512_H */
