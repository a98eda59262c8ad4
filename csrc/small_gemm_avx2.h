/* The AVX2+FMA instantiation of small_gemm_kernels.h (float and double): its
 * vector macros over simd_avx2.h and its tile limits for 16 ymm registers.
 * Included by small_gemm.h only; see there for the contract.
 * Names: fastnn_sg2_<kernel>_s / _d.
 *
 * Tiles: MR <= 12 rows × 1 vector, MR <= 6 × 2, MR <= 3 × 4 (at most 12
 * accumulators, the other registers for B and the broadcast), no 8-vector
 * tiles; panels of 4 vectors for up to 3 rows, else 2.  Short-k TN streams
 * up to 4 vectors of C (32 floats / 16 doubles); step_forward fuses rows of
 * up to 4 vectors; NT by dot products for m <= 2.  Lane masks are __m256i
 * (maskload/maskstore); the dot tile's compress of a row's lanes is a lane
 * permute (fastnn_avx2_lanes_down_*).
 */
#ifndef FASTNN_SMALL_GEMM_AVX2_H
#define FASTNN_SMALL_GEMM_AVX2_H

#include "simd_avx2.h"

#define FASTNN_SG_AVX2_TILES(X)                                                       \
    X(1, 1) X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1) X(9, 1) X(10, 1)  \
    X(11, 1) X(12, 1)                                                                 \
    X(1, 2) X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2)                                   \
    X(1, 4) X(2, 4) X(3, 4)
#define FASTNN_SG_AVX2_TABLE                                                          \
    {{SG_NAME(axpy_1x1), SG_NAME(axpy_2x1), SG_NAME(axpy_3x1), SG_NAME(axpy_4x1),     \
      SG_NAME(axpy_5x1), SG_NAME(axpy_6x1), SG_NAME(axpy_7x1), SG_NAME(axpy_8x1),     \
      SG_NAME(axpy_9x1), SG_NAME(axpy_10x1), SG_NAME(axpy_11x1), SG_NAME(axpy_12x1)}, \
     {SG_NAME(axpy_1x2), SG_NAME(axpy_2x2), SG_NAME(axpy_3x2), SG_NAME(axpy_4x2),     \
      SG_NAME(axpy_5x2), SG_NAME(axpy_6x2)},                                          \
     {SG_NAME(axpy_1x4), SG_NAME(axpy_2x4), SG_NAME(axpy_3x4)},                       \
     {0}}   /* no 8-vector tiles: SG_PANEL_CAP <= 4 */

/* float instantiation */
#define SG_TARGET FASTNN_AVX2_TARGET
#define SG_T float
#define SG_V __m256
#define SG_MASK __m256i
#define SG_VL 8
#define SG_NAME(x) fastnn_sg2_##x##_s
#define SG_ZERO() _mm256_setzero_ps()
#define SG_SET1(x) _mm256_set1_ps(x)
#define SG_LOADU(p) _mm256_loadu_ps(p)
#define SG_LOADM(m, p) _mm256_maskload_ps(p, m)
#define SG_STOREU(p, v) _mm256_storeu_ps(p, v)
#define SG_STOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define SG_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SG_MUL(a, b) _mm256_mul_ps(a, b)
#define SG_ADD(a, b) _mm256_add_ps(a, b)
#define SG_REDUCE fastnn_avx2_reduce_s
#define SG_TRANSPOSE fastnn_avx2_transpose_s
#define SG_TAIL_MASK(lanes) fastnn_avx2_tail_mask_s(lanes)
#define SG_MASK_COUNT(m) fastnn_avx2_mask_count_s(m)
#define SG_ROW_DOWN(v, m, s) fastnn_avx2_lanes_down_s(v, s)
#define SG_MR_MAX 12
#define SG_AXPY_TILE_LIST FASTNN_SG_AVX2_TILES
#define SG_AXPY_TILE_TABLE FASTNN_SG_AVX2_TABLE
#define SG_MR_MAX_BY_WIDTH {12, 6, 3, 0}
#define SG_PANEL_CAP(rows) ((rows) <= 3 ? 4 : 2)
#define SG_TN_STREAM_MAX_NV 4
#define SG_STEP_MAX_NV 4
#define SG_DOT_MR 4
#define SG_NT_DOT_MAX_M 2
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

/* double instantiation */
#define SG_TARGET FASTNN_AVX2_TARGET
#define SG_T double
#define SG_V __m256d
#define SG_MASK __m256i
#define SG_VL 4
#define SG_NAME(x) fastnn_sg2_##x##_d
#define SG_ZERO() _mm256_setzero_pd()
#define SG_SET1(x) _mm256_set1_pd(x)
#define SG_LOADU(p) _mm256_loadu_pd(p)
#define SG_LOADM(m, p) _mm256_maskload_pd(p, m)
#define SG_STOREU(p, v) _mm256_storeu_pd(p, v)
#define SG_STOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define SG_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define SG_MUL(a, b) _mm256_mul_pd(a, b)
#define SG_ADD(a, b) _mm256_add_pd(a, b)
#define SG_REDUCE fastnn_avx2_reduce_d
#define SG_TRANSPOSE fastnn_avx2_transpose_d
#define SG_TAIL_MASK(lanes) fastnn_avx2_tail_mask_d(lanes)
#define SG_MASK_COUNT(m) fastnn_avx2_mask_count_d(m)
#define SG_ROW_DOWN(v, m, s) fastnn_avx2_lanes_down_d(v, s)
#define SG_MR_MAX 12
#define SG_AXPY_TILE_LIST FASTNN_SG_AVX2_TILES
#define SG_AXPY_TILE_TABLE FASTNN_SG_AVX2_TABLE
#define SG_MR_MAX_BY_WIDTH {12, 6, 3, 0}
#define SG_PANEL_CAP(rows) ((rows) <= 3 ? 4 : 2)
#define SG_TN_STREAM_MAX_NV 4
#define SG_STEP_MAX_NV 4
#define SG_DOT_MR 2
#define SG_NT_DOT_MAX_M 2
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

#undef FASTNN_SG_AVX2_TILES
#undef FASTNN_SG_AVX2_TABLE

#endif /* FASTNN_SMALL_GEMM_AVX2_H */
