/* AVX2+FMA register helpers shared by fastnn's kernels (small_gemm.h,
 * packed_gemm.h): lane masks, register transposes, horizontal sums.
 *
 * What it provides (x86-64 with GCC or clang only; every function is compiled
 * for AVX2+FMA through FASTNN_AVX2_TARGET, the build itself stays baseline
 * x86-64, and a caller runs them only after fastnn_isa() (isa.h) said the
 * AVX2 path is active):
 *   - lane masks as AVX2 uses them, a __m256i whose active lanes are all ones
 *     (the operand of _mm256_maskload_ps / _mm256_maskstore_ps and their _pd
 *     forms; masked-off lanes load as 0 and are neither read nor written, so
 *     a masked access never faults past the end of an array):
 *       fastnn_avx2_tail_mask_s(lanes) / _d(lanes): the low `lanes` lanes of
 *       8 floats / 4 doubles, 0 <= lanes; lanes >= 8 (4) gives all lanes;
 *       fastnn_avx2_mask_count_s(m) / _d(m): how many lanes m has;
 *   - fastnn_avx2_transpose_s / _d(src, ld, nrows, np, dst, ldd):
 *       dst[p·ldd + r] = src[r·ld + p] for p < np and r < 8 (floats) / 4
 *       (doubles), one 8×8 / 4×4 block transposed in registers; rows
 *       r >= nrows repeat row nrows - 1 (lanes the caller never stores),
 *       columns p >= np are not read, rows p >= np of dst not written.  The
 *       same signature as the AVX-512 transposes (simd_avx512.h), so one
 *       kernel template takes either; the in-register cores are
 *       fastnn_avx2_transpose8x8_ps / fastnn_avx2_transpose4x4_pd;
 *   - fastnn_avx2_reduce_s(v0..v15) / _d: lane l of the result is the
 *       horizontal sum of v_l, for 8 float / 4 double vectors (the other
 *       arguments are ignored; 16 are taken so the call matches the AVX-512
 *       reduce's); fixed order of additions, so the same bits every call;
 *   - fastnn_avx2_lanes_down_s / _d(v, shift): lane l of the result is lane
 *       l + shift of v (for l + shift below the width; the upper lanes are
 *       unspecified), the AVX2 stand-in for AVX-512's compress of a
 *       contiguous run of lanes.
 * Memory: none allocated; src/dst owned by the caller.  No state, no threads.
 */
#ifndef FASTNN_SIMD_AVX2_H
#define FASTNN_SIMD_AVX2_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <stddef.h>
#include <immintrin.h>

#define FASTNN_AVX2_TARGET __attribute__((target("avx2,fma")))
#define FASTNN_AVX2_INLINE static inline __attribute__((always_inline)) FASTNN_AVX2_TARGET

/* ---- lane masks -------------------------------------------------------------- */

FASTNN_AVX2_INLINE __m256i fastnn_avx2_tail_mask_s(int lanes)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

FASTNN_AVX2_INLINE __m256i fastnn_avx2_tail_mask_d(int lanes)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes), _mm256_setr_epi64x(0, 1, 2, 3));
}

FASTNN_AVX2_INLINE int fastnn_avx2_mask_count_s(__m256i m)
{
    return __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m)));
}

FASTNN_AVX2_INLINE int fastnn_avx2_mask_count_d(__m256i m)
{
    return __builtin_popcount((unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(m)));
}

/* ---- lane moves -------------------------------------------------------------- */

FASTNN_AVX2_INLINE __m256 fastnn_avx2_lanes_down_s(__m256 v, int shift)
{
    const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                         _mm256_set1_epi32(shift));
    return _mm256_permutevar8x32_ps(v, idx);
}

FASTNN_AVX2_INLINE __m256d fastnn_avx2_lanes_down_d(__m256d v, int shift)
{
    /* double lane l = float lanes 2l, 2l + 1 */
    const __m256i idx = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                         _mm256_set1_epi32(2 * shift));
    return _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), idx));
}

/* ---- horizontal sums ----------------------------------------------------------- */

FASTNN_AVX2_INLINE __m256
fastnn_avx2_reduce_s(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5,
                     __m256 v6, __m256 v7, __m256 v8, __m256 v9, __m256 v10, __m256 v11,
                     __m256 v12, __m256 v13, __m256 v14, __m256 v15)
{
    (void)v8; (void)v9; (void)v10; (void)v11; (void)v12; (void)v13; (void)v14; (void)v15;
    /* two levels of pairwise sums within 128-bit halves: u0 lane l (l < 4) =
     * low half of v_l summed, lane 4 + l = its high half; u1 the same for v4..v7 */
    const __m256 t0 = _mm256_hadd_ps(v0, v1), t1 = _mm256_hadd_ps(v2, v3);
    const __m256 t2 = _mm256_hadd_ps(v4, v5), t3 = _mm256_hadd_ps(v6, v7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    /* [u0 low | u1 high] + [u0 high | u1 low] */
    return _mm256_add_ps(_mm256_blend_ps(u0, u1, 0xF0), _mm256_permute2f128_ps(u0, u1, 0x21));
}

FASTNN_AVX2_INLINE __m256d
fastnn_avx2_reduce_d(__m256d v0, __m256d v1, __m256d v2, __m256d v3, __m256d v4,
                     __m256d v5, __m256d v6, __m256d v7, __m256d v8, __m256d v9,
                     __m256d v10, __m256d v11, __m256d v12, __m256d v13, __m256d v14,
                     __m256d v15)
{
    (void)v4; (void)v5; (void)v6; (void)v7; (void)v8; (void)v9; (void)v10; (void)v11;
    (void)v12; (void)v13; (void)v14; (void)v15;
    const __m256d t0 = _mm256_hadd_pd(v0, v1), t1 = _mm256_hadd_pd(v2, v3);
    return _mm256_add_pd(_mm256_blend_pd(t0, t1, 0xC), _mm256_permute2f128_pd(t0, t1, 0x21));
}

/* ---- register transposes ------------------------------------------------------- */

/* r[i] lane j  ->  r[j] lane i, for 8 vectors of 8 floats (3 rounds of 8 shuffles). */
FASTNN_AVX2_INLINE void fastnn_avx2_transpose8x8_ps(__m256 r[8])
{
    /* t: pairs of rows interleaved; u(4q + c): column c of rows 4q..4q+3 in the
     * low half, column 4 + c in the high half; then the halves are gathered. */
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* r[i] lane j  ->  r[j] lane i, for 4 vectors of 4 doubles (2 rounds of 4 shuffles). */
FASTNN_AVX2_INLINE void fastnn_avx2_transpose4x4_pd(__m256d r[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20); r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20); r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

FASTNN_AVX2_INLINE void
fastnn_avx2_transpose_s(const float *src, ptrdiff_t ld, int nrows, int np, float *dst,
                        ptrdiff_t ldd)
{
    const __m256i mk = fastnn_avx2_tail_mask_s(np);
    __m256 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_maskload_ps(src + (i < nrows ? i : nrows - 1) * ld, mk);
    fastnn_avx2_transpose8x8_ps(r);
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++)
        if (p < np) _mm256_storeu_ps(dst + p * ldd, r[p]);
}

FASTNN_AVX2_INLINE void
fastnn_avx2_transpose_d(const double *src, ptrdiff_t ld, int nrows, int np, double *dst,
                        ptrdiff_t ldd)
{
    const __m256i mk = fastnn_avx2_tail_mask_d(np);
    __m256d r[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_maskload_pd(src + (i < nrows ? i : nrows - 1) * ld, mk);
    fastnn_avx2_transpose4x4_pd(r);
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++)
        if (p < np) _mm256_storeu_pd(dst + p * ldd, r[p]);
}

#endif /* x86-64 with GCC or clang */
#endif /* FASTNN_SIMD_AVX2_H */
