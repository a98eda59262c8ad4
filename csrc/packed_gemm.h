/* Packed GEMM: fastnn's own kernel for the large products (wide layers, big
 * batches), where the time is the multiply-add rate and how well two cores
 * share the work.
 *
 * What it computes
 *   fastnn_sgemm_packed / fastnn_dgemm_packed: the contract of gemm() in
 *   fastnn/_kernels/_blas.pyx, row-major
 *       C (m×n) = alpha·op(A)·op(B) + beta·C,   op(A) m×k, op(B) k×n,
 *   beta == 0 never reads C.  Every element of C is the same sequence of
 *   fused multiply-adds whatever the thread count and wherever its tile
 *   falls: k is cut into fixed blocks of KC, each block's sum runs in order
 *   in one register lane, and the blocks are added to C in order.  So results
 *   are bit-identical for any number of threads (not to BLAS or NumPy, which
 *   order their sums differently).
 *
 * Strategy (the BLIS scheme, transposed for row-major C with vectors along n)
 *   A micro-kernel keeps a tile of MR rows × NR = 2 vectors of C in 2·MR
 *   registers: AVX-512F 12 × 32 floats / 16 doubles in 24 zmm, AVX2 6 × 16
 *   floats / 8 doubles in 12 ymm (BLIS's haswell tile), NEON 12 × 8 floats /
 *   4 doubles in 24 of its 32 q registers; each k step loads two
 *   vectors of packed B and broadcasts MR values of packed A.  Around it:
 *   rows in blocks of MB, k in blocks of KC (op(A)'s MB×KC block packed once
 *   into MR-row micro-panels), columns in blocks of NB (op(B)'s KC×NB block
 *   packed into NR-column micro-panels, sized for L2), then for each A
 *   micro-panel (held in L1) every B micro-panel in turn.  Packing handles
 *   the transposes: op(B) = Bᵀ is packed with VL×VL register transposes;
 *   partial tiles are padded in the packed buffers and stored under lane
 *   masks (AVX2: only the partial ones, vmaskmov stores being slow on AMD).
 *   The algorithm is written once (packed_gemm_kernels.h); an instruction
 *   set contributes its vector macros, tile and block sizes below.
 *
 * Threads: C is cut along its longer side into pieces of whole columns
 *   (NR micro-panels) or whole rows, at least two per thread and at most one
 *   block wide (AVX2: four blocks, so that A is packed fewer times), which
 *   the threads of one OpenMP parallel region take in turn
 *   from a shared counter: a thread slowed down (another process on its core)
 *   leaves its share to the others instead of holding everyone up.  Each
 *   piece is packed and computed by one thread alone, with no barrier and no
 *   shared buffer; A is packed again for each piece, which vectorised packing
 *   makes cheap.  The team has at most `max_threads` threads (the caller's
 *   limit: fastnn's max_threads(), fastnn/_kernels/_parallel.pyx), fewer when
 *   the product is small.  No other
 *   thread pool may be running at the same time.
 *
 * Memory: the caller owns A, B and C.  Each thread packs into its own
 *   64-byte aligned workspace (about 2.6 MB, the largest instantiation's),
 *   allocated on the thread's first call and kept until the thread exits (a pthread key frees it): no
 *   allocation per call.  If that allocation fails, the product is computed
 *   by small_gemm.h's unpacked kernels instead (slower, same contract).
 *
 * Dispatch: the AVX-512F and AVX2+FMA code is compiled through function
 *   attributes (the build stays portable), the NEON code on aarch64 (its
 *   baseline); the entry points take the path fastnn_isa() (isa.h) names
 *   (fastnn_pg_path_params), and small_gemm.h's kernels on the others;
 *   gemm_route.h sends nothing here on those.  NEON's block sizes are
 *   untuned guesses (this code was written and tested under qemu, on no ARM
 *   CPU): gemm's default route never picks it there, `fastnn.tune` does
 *   where it measures faster.
 */
#ifndef FASTNN_PACKED_GEMM_H
#define FASTNN_PACKED_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <pthread.h>
#include "fastnn_openmp.h"
#include "fp_mode.h"
#include "small_gemm.h"
#include "simd_avx2.h"

/* Block sizes per instruction set (rows MR of a micro-tile; k block KC;
 * column block NB, a multiple of the micro-tile's 2 vectors; row block MB, a
 * multiple of MR). */
#define FASTNN_PG_AVX512_MR 12
#define FASTNN_PG_AVX512_KC_S 384   /* float: 12×384 A panel = 18 KiB (L1) */
#define FASTNN_PG_AVX512_NB_S 480   /* float: 384×480 B block = 720 KiB (L2) */
#define FASTNN_PG_AVX512_MB_S 1020
#define FASTNN_PG_AVX512_KC_D 256   /* double: 12×256 A panel = 24 KiB */
#define FASTNN_PG_AVX512_NB_D 240   /* double: 256×240 B block = 480 KiB */
#define FASTNN_PG_AVX512_MB_D 1020
#define FASTNN_PG_AVX2_MR 6
#define FASTNN_PG_AVX2_KC_S 384     /* float: 6×384 A panel = 9 KiB (L1) */
#define FASTNN_PG_AVX2_NB_S 256     /* float: 384×256 B block = 384 KiB (L2) */
#define FASTNN_PG_AVX2_MB_S 1020
#define FASTNN_PG_AVX2_KC_D 192     /* double: 6×192 A panel = 9 KiB */
#define FASTNN_PG_AVX2_NB_D 256     /* double: 192×256 B block = 384 KiB */
#define FASTNN_PG_AVX2_MB_D 1020
#define FASTNN_PG_AVX2_PIECE_BLOCKS 4   /* a thread's piece: up to 4 B blocks */
#define FASTNN_PG_NEON_MR 12
#define FASTNN_PG_NEON_KC_S 256     /* float: 12×256 A panel = 12 KiB (L1) */
#define FASTNN_PG_NEON_NB_S 384     /* float: 256×384 B block = 384 KiB (L2) */
#define FASTNN_PG_NEON_MB_S 1020
#define FASTNN_PG_NEON_KC_D 256     /* double: 12×256 A panel = 24 KiB */
#define FASTNN_PG_NEON_NB_D 192     /* double: 256×192 B block = 384 KiB */
#define FASTNN_PG_NEON_MB_D 1020
/* elements between the A block and the B block: the A packing's last
 * vector store may spill up to VL elements past the A block */
#define FASTNN_PG_PAD 16
#define FASTNN_PG_BLOCKS_BYTES(ISA, T, SIZE)                                         \
    ((size_t)(FASTNN_PG_##ISA##_MB_##T * FASTNN_PG_##ISA##_KC_##T                    \
              + FASTNN_PG_##ISA##_KC_##T * FASTNN_PG_##ISA##_NB_##T + FASTNN_PG_PAD) \
     * (SIZE))
#define FASTNN_PG_MAX(x, y) ((x) > (y) ? (x) : (y))
/* the largest of the instantiations' A block + padding + B block */
#if FASTNN_HAVE_NEON_PATH
#define FASTNN_PG_WORKSPACE_BYTES                                                    \
    FASTNN_PG_MAX(FASTNN_PG_BLOCKS_BYTES(NEON, S, 4), FASTNN_PG_BLOCKS_BYTES(NEON, D, 8))
#else
#define FASTNN_PG_WORKSPACE_BYTES                                                    \
    FASTNN_PG_MAX(FASTNN_PG_MAX(FASTNN_PG_BLOCKS_BYTES(AVX512, S, 4),                \
                                FASTNN_PG_BLOCKS_BYTES(AVX512, D, 8)),               \
                  FASTNN_PG_MAX(FASTNN_PG_BLOCKS_BYTES(AVX2, S, 4),                  \
                                FASTNN_PG_BLOCKS_BYTES(AVX2, D, 8)))
#endif

/* ---- per-thread workspace ------------------------------------------------ */

static pthread_key_t fastnn_pg_key;
static pthread_once_t fastnn_pg_key_once = PTHREAD_ONCE_INIT;

static void fastnn_pg_make_key(void) { pthread_key_create(&fastnn_pg_key, free); }

/* This thread's packing workspace, FASTNN_PG_WORKSPACE_BYTES long and 64-byte
 * aligned, or NULL when it cannot be allocated. */
static inline void *fastnn_pg_workspace(void)
{
    pthread_once(&fastnn_pg_key_once, fastnn_pg_make_key);
    void *ws = pthread_getspecific(fastnn_pg_key);
    if (ws == NULL) {
        if (posix_memalign(&ws, 64, FASTNN_PG_WORKSPACE_BYTES) != 0)
            return NULL;
        if (pthread_setspecific(fastnn_pg_key, ws) != 0) {
            free(ws);
            return NULL;
        }
    }
    return ws;
}

#if FASTNN_SG_X86
/* ---- AVX-512F: 12 rows × 2 zmm ------------------------------------------- */

/* Mask of the low `lanes` lanes of a vector, clamped: none for lanes <= 0,
 * all for lanes >= 16 (8) (the column and row tails of every partial tile). */
static inline __mmask16 fastnn_pg_lane_mask_avx512_s(int lanes)
{
    return lanes >= 16 ? (__mmask16)~(__mmask16)0
         : lanes <= 0 ? (__mmask16)0
         : (__mmask16)((1u << lanes) - 1u);
}

static inline __mmask8 fastnn_pg_lane_mask_avx512_d(int lanes)
{
    return lanes >= 8 ? (__mmask8)~(__mmask8)0
         : lanes <= 0 ? (__mmask8)0
         : (__mmask8)((1u << lanes) - 1u);
}

#define PG_TARGET FASTNN_SG_AVX512
#define PG_MR FASTNN_PG_AVX512_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* the B micro-panel (kc·NR values: 48 KiB for float) streams from L2 past
 * the A panel held in L1: ask for its lines 8 steps (1 KiB) ahead, which the
 * hardware prefetcher alone did not (measured: the large network's 8
 * products 4-5% faster in all; 16 steps ahead was no better) */
#define PG_PREFETCH_B(b)                                                             \
    (_mm_prefetch((const char *)((b) + 8 * PG_NR), _MM_HINT_T0),                     \
     _mm_prefetch((const char *)((b) + 8 * PG_NR + PG_VL), _MM_HINT_T0))

/* float instantiation */
#define PG_T float
#define PG_V __m512
#define PG_MASK __mmask16
#define PG_VL 16
#define PG_NAME(x) fastnn_pg_##x##_avx512_s
#define PG_KC FASTNN_PG_AVX512_KC_S
#define PG_NB FASTNN_PG_AVX512_NB_S
#define PG_MB FASTNN_PG_AVX512_MB_S
#define PG_TRANSPOSE fastnn_sg_transpose_s
#define PG_LANE_MASK fastnn_pg_lane_mask_avx512_s
#define PG_ZERO() _mm512_setzero_ps()
#define PG_SET1(x) _mm512_set1_ps(x)
#define PG_LOADU(p) _mm512_loadu_ps(p)
#define PG_LOADM(m, p) _mm512_maskz_loadu_ps(m, p)
#define PG_STOREU(p, v) _mm512_storeu_ps(p, v)
#define PG_STOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define PG_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define PG_MUL(a, b) _mm512_mul_ps(a, b)
#include "packed_gemm_kernels.h"   /* undefines the PG_ macros when done */

/* double instantiation */
#define PG_TARGET FASTNN_SG_AVX512
#define PG_MR FASTNN_PG_AVX512_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PG_PREFETCH_B(b)                                                             \
    (_mm_prefetch((const char *)((b) + 8 * PG_NR), _MM_HINT_T0),                     \
     _mm_prefetch((const char *)((b) + 8 * PG_NR + PG_VL), _MM_HINT_T0))
#define PG_T double
#define PG_V __m512d
#define PG_MASK __mmask8
#define PG_VL 8
#define PG_NAME(x) fastnn_pg_##x##_avx512_d
#define PG_KC FASTNN_PG_AVX512_KC_D
#define PG_NB FASTNN_PG_AVX512_NB_D
#define PG_MB FASTNN_PG_AVX512_MB_D
#define PG_TRANSPOSE fastnn_sg_transpose_d
#define PG_LANE_MASK fastnn_pg_lane_mask_avx512_d
#define PG_ZERO() _mm512_setzero_pd()
#define PG_SET1(x) _mm512_set1_pd(x)
#define PG_LOADU(p) _mm512_loadu_pd(p)
#define PG_LOADM(m, p) _mm512_maskz_loadu_pd(m, p)
#define PG_STOREU(p, v) _mm512_storeu_pd(p, v)
#define PG_STOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define PG_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define PG_MUL(a, b) _mm512_mul_pd(a, b)
#include "packed_gemm_kernels.h"

/* ---- AVX2 + FMA: 6 rows × 2 ymm (BLIS's haswell tile) --------------------- *
 * 12 accumulators, 2 vectors of B and one broadcast: 15 of the 16 ymm. */

#define PG_TARGET FASTNN_AVX2_TARGET
#define PG_MR FASTNN_PG_AVX2_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
/* one 64-byte line of B per step (16 floats / 8 doubles) */
#define PG_PREFETCH_B(b) _mm_prefetch((const char *)((b) + 8 * PG_NR), _MM_HINT_T0)
/* a vmaskmov store costs several plain ones (AMD Zen: microcoded) */
#define PG_MASKED_STORES_SLOW 1
/* op(B) = B is packed a row at a time: fetch the row 8 below ahead */
#define PG_PACK_PREFETCH 8
#define PG_MASK_ALL(m) (_mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xFF)
#define PG_T float
#define PG_V __m256
#define PG_MASK __m256i
#define PG_VL 8
#define PG_NAME(x) fastnn_pg_##x##_avx2_s
#define PG_KC FASTNN_PG_AVX2_KC_S
#define PG_NB FASTNN_PG_AVX2_NB_S
#define PG_MB FASTNN_PG_AVX2_MB_S
#define PG_TRANSPOSE fastnn_avx2_transpose_s
#define PG_LANE_MASK fastnn_avx2_tail_mask_s
#define PG_ZERO() _mm256_setzero_ps()
#define PG_SET1(x) _mm256_set1_ps(x)
#define PG_LOADU(p) _mm256_loadu_ps(p)
#define PG_LOADM(m, p) _mm256_maskload_ps(p, m)
#define PG_STOREU(p, v) _mm256_storeu_ps(p, v)
#define PG_STOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define PG_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define PG_MUL(a, b) _mm256_mul_ps(a, b)
#include "packed_gemm_kernels.h"

#define PG_TARGET FASTNN_AVX2_TARGET
#define PG_MR FASTNN_PG_AVX2_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PG_PREFETCH_B(b) _mm_prefetch((const char *)((b) + 8 * PG_NR), _MM_HINT_T0)
#define PG_MASKED_STORES_SLOW 1
#define PG_PACK_PREFETCH 8
#define PG_MASK_ALL(m) (_mm256_movemask_pd(_mm256_castsi256_pd(m)) == 0xF)
#define PG_T double
#define PG_V __m256d
#define PG_MASK __m256i
#define PG_VL 4
#define PG_NAME(x) fastnn_pg_##x##_avx2_d
#define PG_KC FASTNN_PG_AVX2_KC_D
#define PG_NB FASTNN_PG_AVX2_NB_D
#define PG_MB FASTNN_PG_AVX2_MB_D
#define PG_TRANSPOSE fastnn_avx2_transpose_d
#define PG_LANE_MASK fastnn_avx2_tail_mask_d
#define PG_ZERO() _mm256_setzero_pd()
#define PG_SET1(x) _mm256_set1_pd(x)
#define PG_LOADU(p) _mm256_loadu_pd(p)
#define PG_LOADM(m, p) _mm256_maskload_pd(p, m)
#define PG_STOREU(p, v) _mm256_storeu_pd(p, v)
#define PG_STOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define PG_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define PG_MUL(a, b) _mm256_mul_pd(a, b)
#include "packed_gemm_kernels.h"

#endif /* FASTNN_SG_X86 */

#if FASTNN_HAVE_NEON_PATH
/* ---- NEON: 12 rows × 2 q registers ----------------------------------------- *
 * 24 accumulators, 2 vectors of B and one broadcast: 27 of the 32 q registers.
 * NEON has no masked loads and stores: simd_neon.h's stand-ins take a lane
 * count (a switch of partial loads and stores), so whole tiles store whole
 * vectors (PG_MASKED_STORES_SLOW). */

#define PG_TARGET
#define PG_MR FASTNN_PG_NEON_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PG_PREFETCH_B(b) __builtin_prefetch((b) + 8 * PG_NR, 0, 3)
#define PG_MASKED_STORES_SLOW 1
#define PG_PACK_PREFETCH 8
#define PG_MASK_ALL(m) ((m) == PG_VL)
#define PG_T float
#define PG_V float32x4_t
#define PG_MASK int
#define PG_VL 4
#define PG_NAME(x) fastnn_pg_##x##_neon_s
#define PG_KC FASTNN_PG_NEON_KC_S
#define PG_NB FASTNN_PG_NEON_NB_S
#define PG_MB FASTNN_PG_NEON_MB_S
#define PG_TRANSPOSE fastnn_neon_transpose_s
#define PG_LANE_MASK fastnn_neon_tail_mask_s
#define PG_ZERO() vdupq_n_f32(0)
#define PG_SET1(x) vdupq_n_f32(x)
#define PG_LOADU(p) vld1q_f32(p)
#define PG_LOADM(m, p) fastnn_neon_loadm_s(m, p)
#define PG_STOREU(p, v) vst1q_f32(p, v)
#define PG_STOREM(p, m, v) fastnn_neon_storem_s(p, m, v)
#define PG_FMA(a, b, c) vfmaq_f32(c, a, b)
#define PG_MUL(a, b) vmulq_f32(a, b)
#include "packed_gemm_kernels.h"

#define PG_TARGET
#define PG_MR FASTNN_PG_NEON_MR
#define PG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PG_PREFETCH_B(b) __builtin_prefetch((b) + 8 * PG_NR, 0, 3)
#define PG_MASKED_STORES_SLOW 1
#define PG_PACK_PREFETCH 8
#define PG_MASK_ALL(m) ((m) == PG_VL)
#define PG_T double
#define PG_V float64x2_t
#define PG_MASK int
#define PG_VL 2
#define PG_NAME(x) fastnn_pg_##x##_neon_d
#define PG_KC FASTNN_PG_NEON_KC_D
#define PG_NB FASTNN_PG_NEON_NB_D
#define PG_MB FASTNN_PG_NEON_MB_D
#define PG_TRANSPOSE fastnn_neon_transpose_d
#define PG_LANE_MASK fastnn_neon_tail_mask_d
#define PG_ZERO() vdupq_n_f64(0)
#define PG_SET1(x) vdupq_n_f64(x)
#define PG_LOADU(p) vld1q_f64(p)
#define PG_LOADM(m, p) fastnn_neon_loadm_d(m, p)
#define PG_STOREU(p, v) vst1q_f64(p, v)
#define PG_STOREM(p, m, v) fastnn_neon_storem_d(p, m, v)
#define PG_FMA(a, b, c) vfmaq_f64(c, a, b)
#define PG_MUL(a, b) vmulq_f64(a, b)
#include "packed_gemm_kernels.h"
#endif /* FASTNN_HAVE_NEON_PATH */

#define FASTNN_PG_HAVE_DRIVER (FASTNN_SG_X86 || FASTNN_HAVE_NEON_PATH)

#if FASTNN_PG_HAVE_DRIVER
typedef void (*fastnn_pg_serial_s_fn)(int, int, int, int, int, float, const float *,
                                      ptrdiff_t, const float *, ptrdiff_t, float, float *,
                                      ptrdiff_t, float *, float *);
typedef void (*fastnn_pg_serial_d_fn)(int, int, int, int, int, double, const double *,
                                      ptrdiff_t, const double *, ptrdiff_t, double, double *,
                                      ptrdiff_t, double *, double *);

/* One path's tile, blocks and serial routines, for one element type. */
typedef struct {
    int mr, nr, kc, nb, mb, piece_blocks;
    fastnn_pg_serial_s_fn serial_s;
    fastnn_pg_serial_d_fn serial_d;
} fastnn_pg_params;

/* Path ISA's parameters for one element type: its FASTNN_PG_<ISA>_* sizes and
 * its serial routines fastnn_pg_serial_<isa>_s / _d; VL_S floats per vector
 * (a tile is two vectors wide), BLOCKS B blocks per thread's piece at most. */
#define FASTNN_PG_PARAMS(ISA, isa, VL_S, BLOCKS, is_double)                          \
    ((fastnn_pg_params){                                                             \
        FASTNN_PG_##ISA##_MR, (is_double) ? (VL_S) : 2 * (VL_S),                     \
        (is_double) ? FASTNN_PG_##ISA##_KC_D : FASTNN_PG_##ISA##_KC_S,               \
        (is_double) ? FASTNN_PG_##ISA##_NB_D : FASTNN_PG_##ISA##_NB_S,               \
        (is_double) ? FASTNN_PG_##ISA##_MB_D : FASTNN_PG_##ISA##_MB_S, (BLOCKS),     \
        fastnn_pg_serial_##isa##_s, fastnn_pg_serial_##isa##_d})

/* The active path's parameters (the caller checked fastnn_pg_have_kernel). */
static inline fastnn_pg_params fastnn_pg_path_params(int is_double)
{
#if FASTNN_SG_X86
    if (fastnn_isa() == FASTNN_ISA_AVX2)
        return FASTNN_PG_PARAMS(AVX2, avx2, 8, FASTNN_PG_AVX2_PIECE_BLOCKS, is_double);
    return FASTNN_PG_PARAMS(AVX512, avx512, 16, 1, is_double);
#else
    return FASTNN_PG_PARAMS(NEON, neon, 4, 1, is_double);
#endif
}

/* Threads worth using: one per 2^21 multiply-adds (about 20 µs of work), at
 * most max_threads. */
static inline int fastnn_pg_threads(int m, int n, int k, int max_threads)
{
    const double work = (double)m * n * k;
    int t = (int)(work / 2097152.0);
    if (t < 1) t = 1;
    return t < max_threads ? t : max_threads;
}

/* Width of the pieces C is cut into along `total` (columns or rows), a
 * multiple of `unit`: at most one block (`cap`) wide, and, with several
 * threads, at least two pieces per thread (a multiple of the thread count), so
 * that a thread that falls behind (another process holding its core) leaves
 * its last piece to the others; never narrower than four units (each piece
 * packs its own panel of A or B). */
static inline int fastnn_pg_piece_width(int total, int unit, int cap, int n_threads)
{
    int pieces = (total + cap - 1) / cap;
    if (n_threads > 1) {
        if (pieces < 2 * n_threads) pieces = 2 * n_threads;
        pieces = (pieces + n_threads - 1) / n_threads * n_threads;
    }
    int width = (total + pieces - 1) / pieces;
    width = (width + unit - 1) / unit * unit;
    if (width < 4 * unit) width = 4 * unit;
    return width < cap ? width : cap / unit * unit;
}

/* The driver, for both types (alpha and beta travel as double, exactly):
 * cuts C into pieces of whole columns (or, when C is narrow, whole rows),
 * which the threads take in turn from a shared counter; each piece is one
 * call of the serial routine of its type on the thread's own workspace (the
 * small kernel when the thread has none).  Which thread computes a piece
 * never changes its bits. */
static void fastnn_pg_gemm(int is_double, int trans_a, int trans_b, int m, int n, int k,
                           double alpha, const void *A, int lda, const void *B, int ldb,
                           double beta, void *C, int ldc, int max_threads)
{
    const size_t size = is_double ? sizeof(double) : sizeof(float);
    /* the active instruction set's tile, blocks and serial routines */
    const fastnn_pg_params pp = fastnn_pg_path_params(is_double);
    const int mr = pp.mr, nr = pp.nr, nb = pp.nb, mb = pp.mb;
    /* the B block follows the A block (mb × kc) and its padding */
    const ptrdiff_t b_block = (ptrdiff_t)mb * pp.kc + FASTNN_PG_PAD;
    const int n_threads = fastnn_pg_threads(m, n, k, max_threads);
    /* split the longer side: a piece of C repacks its whole panel of A (when
     * cut by columns) or of B (by rows), so pieces should be thick */
    const int by_cols = n >= m;
    const int total = by_cols ? n : m;
    const int width = fastnn_pg_piece_width(total, by_cols ? nr : mr,
                                            pp.piece_blocks * (by_cols ? nb : mb), n_threads);
    const int n_pieces = (total + width - 1) / width;
    int next_piece = 0;   /* shared by the team */
    /* the caller's flush-to-zero and denormals-are-zero bits (fp_mode.h;
     * fastnn.flush_denormals sets them): every thread of the team computes
     * under them, so a piece's bits never depend on its thread */
    const unsigned caller_mode = fastnn_fp_mode_get();
#ifdef _OPENMP   /* a serial build runs the block once, on the calling thread */
#pragma omp parallel num_threads(n_threads) if (n_threads > 1 && n_pieces > 1)
#endif
    {
        const unsigned own_mode = fastnn_fp_mode_adopt(caller_mode);
        void *ws = fastnn_pg_workspace();
        for (;;) {
            const int piece = __atomic_fetch_add(&next_piece, 1, __ATOMIC_RELAXED);
            if (piece >= n_pieces) break;
            const int lo = piece * width, hi = lo + width < total ? lo + width : total;
            /* the piece: rows or columns [lo, hi) of C, and the matching
             * rows of op(A) or columns of op(B) */
            const int pm = by_cols ? m : hi - lo, pn = by_cols ? hi - lo : n;
            const ptrdiff_t a_off = by_cols ? 0 : trans_a ? lo : (ptrdiff_t)lo * lda;
            const ptrdiff_t b_off = !by_cols ? 0 : trans_b ? (ptrdiff_t)lo * ldb : lo;
            const ptrdiff_t c_off = by_cols ? lo : (ptrdiff_t)lo * ldc;
            const char *pa = (const char *)A + a_off * size;
            const char *pb = (const char *)B + b_off * size;
            char *pc = (char *)C + c_off * size;
            if (is_double) {
                if (ws != NULL)
                    pp.serial_d(trans_a, trans_b, pm, pn, k, alpha, (const double *)pa, lda,
                                (const double *)pb, ldb, beta, (double *)pc, ldc,
                                (double *)ws, (double *)ws + b_block);
                else
                    fastnn_dgemm_small(trans_a, trans_b, pm, pn, k, alpha,
                                       (const double *)pa, lda, (const double *)pb, ldb,
                                       beta, (double *)pc, ldc);
            } else {
                if (ws != NULL)
                    pp.serial_s(trans_a, trans_b, pm, pn, k, (float)alpha, (const float *)pa,
                                lda, (const float *)pb, ldb, (float)beta, (float *)pc, ldc,
                                (float *)ws, (float *)ws + b_block);
                else
                    fastnn_sgemm_small(trans_a, trans_b, pm, pn, k, (float)alpha,
                                       (const float *)pa, lda, (const float *)pb, ldb,
                                       (float)beta, (float *)pc, ldc);
            }
        }
        fastnn_fp_mode_restore(own_mode);
    }
}
#endif /* FASTNN_PG_HAVE_DRIVER */

/* 1 when the active instruction-set path has a packed kernel (AVX-512F,
 * AVX2, NEON); elsewhere the entry points run small_gemm.h's kernels. */
static inline int fastnn_pg_have_kernel(void)
{
    const int isa = fastnn_isa();
    return (FASTNN_SG_X86 && (isa == FASTNN_ISA_AVX512 || isa == FASTNN_ISA_AVX2))
        || (FASTNN_HAVE_NEON_PATH && isa == FASTNN_ISA_NEON);
}

/* ---- public entry points ---------------------------------------------------- */

static inline void fastnn_sgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                                       float alpha, const float *A, int lda,
                                       const float *B, int ldb, float beta, float *C,
                                       int ldc, int max_threads)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_PG_HAVE_DRIVER
    if (k > 0 && fastnn_pg_have_kernel()) {
        fastnn_pg_gemm(0, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                       max_threads);
        return;
    }
#endif
    (void)max_threads;   /* the small kernel runs on the calling thread */
    fastnn_sgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static inline void fastnn_dgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                                       double alpha, const double *A, int lda,
                                       const double *B, int ldb, double beta, double *C,
                                       int ldc, int max_threads)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_PG_HAVE_DRIVER
    if (k > 0 && fastnn_pg_have_kernel()) {
        fastnn_pg_gemm(1, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                       max_threads);
        return;
    }
#endif
    (void)max_threads;   /* the small kernel runs on the calling thread */
    fastnn_dgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* 1 when the packed kernel adds its product into C (beta != 0) bit for bit
 * as C + alpha·P, P being the product exactly as beta == 0 stores it: when k
 * fits one k block, so that C is read once, after the whole sum (with more
 * blocks, each block's partial sum is added to C in turn). */
static inline int fastnn_packed_gemm_accumulates_exactly(int k, int is_double)
{
#if FASTNN_PG_HAVE_DRIVER
    if (fastnn_pg_have_kernel())
        return k <= fastnn_pg_path_params(is_double).kc;
#endif
    return k <= (is_double ? FASTNN_PG_AVX512_KC_D : FASTNN_PG_AVX512_KC_S);
}

#endif /* FASTNN_PACKED_GEMM_H */
