/* The aarch64 NEON instantiation of small_gemm_kernels.h (float and double):
 * its vector macros over simd_neon.h and its tile limits for 32 128-bit
 * registers.  Included by small_gemm.h only, on aarch64; see there for the
 * contract.  Names: fastnn_sgn_<kernel>_s / _d.
 *
 * Vectors of 4 floats / 2 doubles (float32x4_t / float64x2_t), FMA by vfmaq.
 * NEON has as many registers as AVX-512 (32), so the tiles are AVX-512's:
 * MR <= 12 rows × NV <= 2 vectors, MR <= 6 × 4, MR <= 3 × 8 (at most 24
 * accumulators); panels of 8 vectors for up to 3 rows, 4 for up to 6, else 2.
 * Short-k TN streams up to 4 vectors of C (16 floats / 8 doubles);
 * step_forward fuses rows of up to 4 vectors; NT by dot products for m <= 2
 * (tiles of 2 × 2 / 1 × 4 floats, 1 × 2 doubles).  Lane masks are lane
 * counts (NEON has no masked accesses): a tail is loaded and stored with
 * whole, half and single-lane accesses (simd_neon.h), never past its end.
 */
#ifndef FASTNN_SMALL_GEMM_NEON_H
#define FASTNN_SMALL_GEMM_NEON_H

#include "simd_neon.h"

/* float instantiation */
#define SG_TARGET
#define SG_T float
#define SG_V float32x4_t
#define SG_MASK int
#define SG_VL 4
#define SG_NAME(x) fastnn_sgn_##x##_s
#define SG_ZERO() vdupq_n_f32(0)
#define SG_SET1(x) vdupq_n_f32(x)
#define SG_LOADU(p) vld1q_f32(p)
#define SG_LOADM(m, p) fastnn_neon_loadm_s(m, p)
#define SG_STOREU(p, v) vst1q_f32(p, v)
#define SG_STOREM(p, m, v) fastnn_neon_storem_s(p, m, v)
#define SG_FMA(a, b, c) vfmaq_f32(c, a, b)
#define SG_MUL(a, b) vmulq_f32(a, b)
#define SG_ADD(a, b) vaddq_f32(a, b)
#define SG_REDUCE fastnn_neon_reduce_s
#define SG_TRANSPOSE fastnn_neon_transpose_s
#define SG_TAIL_MASK(lanes) fastnn_neon_tail_mask_s(lanes)
#define SG_MASK_COUNT(m) (m)
#define SG_ROW_DOWN(v, m, s) fastnn_neon_lanes_down_s(v, s)
#define SG_MR_MAX 12
#define SG_AXPY_TILE_LIST FASTNN_SG_TILES_32REG
#define SG_AXPY_TILE_TABLE FASTNN_SG_TABLE_32REG
#define SG_MR_MAX_BY_WIDTH {12, 12, 6, 3}
#define SG_PANEL_CAP(rows) ((rows) <= 3 ? 8 : (rows) <= 6 ? 4 : 2)
#define SG_TN_STREAM_MAX_NV 4
#define SG_STEP_MAX_NV 4
#define SG_DOT_MR 2
#define SG_NT_DOT_MAX_M 2
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

/* double instantiation */
#define SG_TARGET
#define SG_T double
#define SG_V float64x2_t
#define SG_MASK int
#define SG_VL 2
#define SG_NAME(x) fastnn_sgn_##x##_d
#define SG_ZERO() vdupq_n_f64(0)
#define SG_SET1(x) vdupq_n_f64(x)
#define SG_LOADU(p) vld1q_f64(p)
#define SG_LOADM(m, p) fastnn_neon_loadm_d(m, p)
#define SG_STOREU(p, v) vst1q_f64(p, v)
#define SG_STOREM(p, m, v) fastnn_neon_storem_d(p, m, v)
#define SG_FMA(a, b, c) vfmaq_f64(c, a, b)
#define SG_MUL(a, b) vmulq_f64(a, b)
#define SG_ADD(a, b) vaddq_f64(a, b)
#define SG_REDUCE fastnn_neon_reduce_d
#define SG_TRANSPOSE fastnn_neon_transpose_d
#define SG_TAIL_MASK(lanes) fastnn_neon_tail_mask_d(lanes)
#define SG_MASK_COUNT(m) (m)
#define SG_ROW_DOWN(v, m, s) fastnn_neon_lanes_down_d(v, s)
#define SG_MR_MAX 12
#define SG_AXPY_TILE_LIST FASTNN_SG_TILES_32REG
#define SG_AXPY_TILE_TABLE FASTNN_SG_TABLE_32REG
#define SG_MR_MAX_BY_WIDTH {12, 12, 6, 3}
#define SG_PANEL_CAP(rows) ((rows) <= 3 ? 8 : (rows) <= 6 ? 4 : 2)
#define SG_TN_STREAM_MAX_NV 4
#define SG_STEP_MAX_NV 4
#define SG_DOT_MR 2
#define SG_NT_DOT_MAX_M 2
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */


#endif /* FASTNN_SMALL_GEMM_NEON_H */
