/* aarch64 Advanced SIMD (NEON) register helpers shared by fastnn's kernels
 * (small_gemm.h, packed_gemm.h): lane-count masks, register transposes,
 * horizontal sums.
 *
 * What it provides (aarch64 with NEON only, isa.h's FASTNN_HAVE_NEON_PATH;
 * NEON is part of the aarch64 baseline, so no target attribute is needed):
 *   - lane masks as lane counts: NEON has no masked loads or stores, so a
 *     kernel's "mask" is the number of low lanes it covers (an int), and the
 *     masked accesses are emulated with whole, half and single-lane loads and
 *     stores, never touching memory past the last active lane (so a tail
 *     never faults past the end of an array; masked-off lanes load as 0):
 *       fastnn_neon_tail_mask_s(lanes) / _d(lanes): `lanes` clamped to
 *       [0, 4] / [0, 2]; fastnn_neon_loadm_s / _d(lanes, p);
 *       fastnn_neon_storem_s / _d(p, lanes, v);
 *   - fastnn_neon_transpose_s / _d(src, ld, nrows, np, dst, ldd):
 *       dst[p·ldd + r] = src[r·ld + p] for p < np and r < 4 (floats) / 2
 *       (doubles), one 4×4 / 2×2 block transposed in registers; rows
 *       r >= nrows repeat row nrows - 1 (lanes the caller never stores),
 *       columns p >= np are not read, rows p >= np of dst not written.  The
 *       signature of the AVX-512 and AVX2 transposes (simd_avx512.h,
 *       simd_avx2.h), so one kernel template takes any of them;
 *   - fastnn_neon_reduce_s(v0..v15) / _d: lane l of the result is the
 *       horizontal sum of v_l, for 4 float / 2 double vectors (the other
 *       arguments are ignored; 16 are taken so the call matches the AVX-512
 *       reduce's), by pairwise adds in a fixed order: the same bits every call;
 *   - fastnn_neon_lanes_down_s / _d(v, shift): lane l of the result is lane
 *       l + shift of v (the upper lanes are unspecified), the stand-in for
 *       AVX-512's compress of a contiguous run of lanes.
 * Memory: none allocated; src/dst owned by the caller.  No state, no threads.
 */
#ifndef FASTNN_SIMD_NEON_H
#define FASTNN_SIMD_NEON_H

#include "isa.h"

#if FASTNN_HAVE_NEON_PATH
#include <stddef.h>
#include <arm_neon.h>

#define FASTNN_NEON_INLINE static inline __attribute__((always_inline))

/* ---- lane-count masks ---------------------------------------------------------- */

FASTNN_NEON_INLINE int fastnn_neon_tail_mask_s(int lanes)
{
    return lanes >= 4 ? 4 : lanes <= 0 ? 0 : lanes;
}

FASTNN_NEON_INLINE int fastnn_neon_tail_mask_d(int lanes)
{
    return lanes >= 2 ? 2 : lanes <= 0 ? 0 : lanes;
}

/* The low `lanes` lanes of p (0 <= lanes <= 4), the others 0. */
FASTNN_NEON_INLINE float32x4_t fastnn_neon_loadm_s(int lanes, const float *p)
{
    switch (lanes) {
    case 4: return vld1q_f32(p);
    case 3: return vcombine_f32(vld1_f32(p), vld1_lane_f32(p + 2, vdup_n_f32(0), 0));
    case 2: return vcombine_f32(vld1_f32(p), vdup_n_f32(0));
    case 1: return vld1q_lane_f32(p, vdupq_n_f32(0), 0);
    default: return vdupq_n_f32(0);
    }
}

FASTNN_NEON_INLINE float64x2_t fastnn_neon_loadm_d(int lanes, const double *p)
{
    switch (lanes) {
    case 2: return vld1q_f64(p);
    case 1: return vld1q_lane_f64(p, vdupq_n_f64(0), 0);
    default: return vdupq_n_f64(0);
    }
}

/* Stores the low `lanes` lanes of v at p (0 <= lanes <= 4). */
FASTNN_NEON_INLINE void fastnn_neon_storem_s(float *p, int lanes, float32x4_t v)
{
    switch (lanes) {
    case 4: vst1q_f32(p, v); break;
    case 3: vst1_f32(p, vget_low_f32(v)); vst1q_lane_f32(p + 2, v, 2); break;
    case 2: vst1_f32(p, vget_low_f32(v)); break;
    case 1: vst1q_lane_f32(p, v, 0); break;
    default: break;
    }
}

FASTNN_NEON_INLINE void fastnn_neon_storem_d(double *p, int lanes, float64x2_t v)
{
    switch (lanes) {
    case 2: vst1q_f64(p, v); break;
    case 1: vst1q_lane_f64(p, v, 0); break;
    default: break;
    }
}

/* ---- lane moves -------------------------------------------------------------- */

FASTNN_NEON_INLINE float32x4_t fastnn_neon_lanes_down_s(float32x4_t v, int shift)
{
    switch (shift) {   /* vextq needs a constant; folds when shift is one */
    case 1: return vextq_f32(v, v, 1);
    case 2: return vextq_f32(v, v, 2);
    case 3: return vextq_f32(v, v, 3);
    default: return v;
    }
}

FASTNN_NEON_INLINE float64x2_t fastnn_neon_lanes_down_d(float64x2_t v, int shift)
{
    return shift == 1 ? vextq_f64(v, v, 1) : v;
}

/* ---- horizontal sums ----------------------------------------------------------- */

FASTNN_NEON_INLINE float32x4_t
fastnn_neon_reduce_s(float32x4_t v0, float32x4_t v1, float32x4_t v2, float32x4_t v3,
                     float32x4_t v4, float32x4_t v5, float32x4_t v6, float32x4_t v7,
                     float32x4_t v8, float32x4_t v9, float32x4_t v10, float32x4_t v11,
                     float32x4_t v12, float32x4_t v13, float32x4_t v14, float32x4_t v15)
{
    (void)v4; (void)v5; (void)v6; (void)v7; (void)v8; (void)v9; (void)v10; (void)v11;
    (void)v12; (void)v13; (void)v14; (void)v15;
    /* lane l: (v_l[0] + v_l[1]) + (v_l[2] + v_l[3]) */
    return vpaddq_f32(vpaddq_f32(v0, v1), vpaddq_f32(v2, v3));
}

FASTNN_NEON_INLINE float64x2_t
fastnn_neon_reduce_d(float64x2_t v0, float64x2_t v1, float64x2_t v2, float64x2_t v3,
                     float64x2_t v4, float64x2_t v5, float64x2_t v6, float64x2_t v7,
                     float64x2_t v8, float64x2_t v9, float64x2_t v10, float64x2_t v11,
                     float64x2_t v12, float64x2_t v13, float64x2_t v14, float64x2_t v15)
{
    (void)v2; (void)v3; (void)v4; (void)v5; (void)v6; (void)v7; (void)v8; (void)v9;
    (void)v10; (void)v11; (void)v12; (void)v13; (void)v14; (void)v15;
    return vpaddq_f64(v0, v1);
}

/* ---- register transposes ------------------------------------------------------- */

FASTNN_NEON_INLINE void
fastnn_neon_transpose_s(const float *src, ptrdiff_t ld, int nrows, int np, float *dst,
                        ptrdiff_t ldd)
{
    const int mk = fastnn_neon_tail_mask_s(np);
    const float32x4_t r0 = fastnn_neon_loadm_s(mk, src);
    const float32x4_t r1 = fastnn_neon_loadm_s(mk, src + (1 < nrows ? 1 : nrows - 1) * ld);
    const float32x4_t r2 = fastnn_neon_loadm_s(mk, src + (2 < nrows ? 2 : nrows - 1) * ld);
    const float32x4_t r3 = fastnn_neon_loadm_s(mk, src + (3 < nrows ? 3 : nrows - 1) * ld);
    /* t0 = r0[0] r1[0] r0[2] r1[2], t1 = r0[1] r1[1] r0[3] r1[3]; t2, t3 the
     * same for rows 2, 3; then the 64-bit halves are paired */
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1));
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1));
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3));
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));
    if (np > 0) vst1q_f32(dst, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
    if (np > 1) vst1q_f32(dst + ldd, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
    if (np > 2) vst1q_f32(dst + 2 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
    if (np > 3) vst1q_f32(dst + 3 * ldd, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
}

FASTNN_NEON_INLINE void
fastnn_neon_transpose_d(const double *src, ptrdiff_t ld, int nrows, int np, double *dst,
                        ptrdiff_t ldd)
{
    const int mk = fastnn_neon_tail_mask_d(np);
    const float64x2_t r0 = fastnn_neon_loadm_d(mk, src);
    const float64x2_t r1 = fastnn_neon_loadm_d(mk, src + (1 < nrows ? 1 : 0) * ld);
    if (np > 0) vst1q_f64(dst, vtrn1q_f64(r0, r1));
    if (np > 1) vst1q_f64(dst + ldd, vtrn2q_f64(r0, r1));
}

#endif /* FASTNN_HAVE_NEON_PATH */
#endif /* FASTNN_SIMD_NEON_H */
