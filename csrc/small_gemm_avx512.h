/* The AVX-512F instantiation of small_gemm_kernels.h (float and double):
 * its vector macros over simd_avx512.h and its tile limits for 32 zmm
 * registers.  Included by small_gemm.h only; see there for the contract.
 * Names: fastnn_sg_<kernel>_s / _d.
 *
 * Tiles: MR <= 12 rows × NV <= 2 vectors, MR <= 6 × 4, MR <= 3 × 8 (at most
 * 24 accumulators, the rest of the 32 registers for B and a broadcast);
 * panels of 8 vectors for up to 3 rows, 4 for up to 6, else 2.  Short-k TN
 * streams up to 4 vectors of C; step_forward fuses rows of up to 4 vectors;
 * NT by dot products for m <= 2 (tiles of 4 × 4 / 2 × 8 / 1 × 16 floats).
 */
#ifndef FASTNN_SMALL_GEMM_AVX512_H
#define FASTNN_SMALL_GEMM_AVX512_H

#include "simd_avx512.h"

/* float instantiation */
#define SG_TARGET FASTNN_SG_AVX512
#define SG_T float
#define SG_V __m512
#define SG_MASK __mmask16
#define SG_VL 16
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
#define SG_TRANSPOSE fastnn_sg_transpose_s
#define SG_TAIL_MASK(lanes) \
    (SG_MASK)((lanes) >= SG_VL ? (SG_MASK)~(SG_MASK)0 : (SG_MASK)((1u << (lanes)) - 1u))
#define SG_MASK_COUNT(m) __builtin_popcount((unsigned)(m))
#define SG_ROW_DOWN(v, m, s) _mm512_maskz_compress_ps((SG_MASK)((m) << (s)), v)
#define SG_MR_MAX 12
#define SG_AXPY_TILE_LIST FASTNN_SG_TILES_32REG
#define SG_AXPY_TILE_TABLE FASTNN_SG_TABLE_32REG
#define SG_MR_MAX_BY_WIDTH {12, 12, 6, 3}
#define SG_PANEL_CAP(rows) ((rows) <= 3 ? 8 : (rows) <= 6 ? 4 : 2)
#define SG_TN_STREAM_MAX_NV 4
#define SG_STEP_MAX_NV 4
#define SG_DOT_MR 4
#define SG_NT_DOT_MAX_M 2
#include "small_gemm_kernels.h"   /* undefines the SG_ macros when done */

/* double instantiation */
#define SG_TARGET FASTNN_SG_AVX512
#define SG_T double
#define SG_V __m512d
#define SG_MASK __mmask8
#define SG_VL 8
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
#define SG_TRANSPOSE fastnn_sg_transpose_d
#define SG_TAIL_MASK(lanes) \
    (SG_MASK)((lanes) >= SG_VL ? (SG_MASK)~(SG_MASK)0 : (SG_MASK)((1u << (lanes)) - 1u))
#define SG_MASK_COUNT(m) __builtin_popcount((unsigned)(m))
#define SG_ROW_DOWN(v, m, s) _mm512_maskz_compress_pd((SG_MASK)((m) << (s)), v)
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


#endif /* FASTNN_SMALL_GEMM_AVX512_H */
