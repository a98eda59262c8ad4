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
 *   A micro-kernel keeps a tile of MR = 12 rows × NR = 2 vectors of C (32
 *   floats / 16 doubles) in 24 zmm accumulators; each k step loads two
 *   vectors of packed B and broadcasts 12 values of packed A.  Around it:
 *   rows in blocks of MB, k in blocks of KC (op(A)'s MB×KC block packed once
 *   into MR-row micro-panels), columns in blocks of NB (op(B)'s KC×NB block
 *   packed into NR-column micro-panels, sized for L2), then for each A
 *   micro-panel (held in L1) every B micro-panel in turn.  Packing handles
 *   the transposes: op(B) = Bᵀ is packed with 16×16 (8×8) register
 *   transposes; partial tiles are padded in the packed buffers and stored
 *   under lane masks.
 *
 * Threads: C is cut into one contiguous piece per thread, by columns (whole
 *   NR micro-panels) when there are enough, otherwise by rows; each thread
 *   packs and computes its piece alone, with no barrier and no shared
 *   buffer, in one OpenMP parallel region of omp_get_max_threads() threads
 *   (fastnn.set_num_threads), fewer when the product is small.  No other
 *   thread pool may be running at the same time.
 *
 * Memory: the caller owns A, B and C.  Each thread packs into its own
 *   64-byte aligned workspace (about 2.6 MB), allocated on the thread's first
 *   call and kept until the thread exits (a pthread key frees it): no
 *   allocation per call.  If that allocation fails, the product is computed
 *   by small_gemm.h's unpacked kernels instead (slower, same contract).
 *
 * Dispatch: the AVX-512F code is compiled through function attributes (the
 *   build stays portable) and used after small_gemm.h's run-time CPU check;
 *   fastnn_packed_gemm_wins() says 0 elsewhere, so gemm() keeps using BLAS.
 */
#ifndef FASTNN_PACKED_GEMM_H
#define FASTNN_PACKED_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <pthread.h>
#include "fastnn_openmp.h"
#include "small_gemm.h"

#define FASTNN_PG_MR 12
#define FASTNN_PG_KC_S 384      /* float: 12×384 A panel = 18 KiB (L1) */
#define FASTNN_PG_NB_S 480      /* float: 384×480 B block = 720 KiB (L2) */
#define FASTNN_PG_MB_S 1020
#define FASTNN_PG_KC_D 256      /* double: 12×256 A panel = 24 KiB */
#define FASTNN_PG_NB_D 240      /* double: 256×240 B block = 480 KiB */
#define FASTNN_PG_MB_D 1020
#define FASTNN_PG_WORKSPACE_BYTES                                                    \
    ((size_t)((FASTNN_PG_MB_D * FASTNN_PG_KC_D + FASTNN_PG_KC_D * FASTNN_PG_NB_D) * 8 > \
              (FASTNN_PG_MB_S * FASTNN_PG_KC_S + FASTNN_PG_KC_S * FASTNN_PG_NB_S) * 4   \
                  ? (FASTNN_PG_MB_D * FASTNN_PG_KC_D + FASTNN_PG_KC_D * FASTNN_PG_NB_D) * 8 \
                  : (FASTNN_PG_MB_S * FASTNN_PG_KC_S + FASTNN_PG_KC_S * FASTNN_PG_NB_S) * 4) \
     + 256)

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
/* float instantiation */
#define PG_T float
#define PG_V __m512
#define PG_MASK __mmask16
#define PG_VL 16
#define PG_NAME(x) fastnn_pg_##x##_s
#define PG_KC FASTNN_PG_KC_S
#define PG_NB FASTNN_PG_NB_S
#define PG_MB FASTNN_PG_MB_S
#define PG_TRANSPOSE fastnn_sg_transpose_s
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
#define PG_T double
#define PG_V __m512d
#define PG_MASK __mmask8
#define PG_VL 8
#define PG_NAME(x) fastnn_pg_##x##_d
#define PG_KC FASTNN_PG_KC_D
#define PG_NB FASTNN_PG_NB_D
#define PG_MB FASTNN_PG_MB_D
#define PG_TRANSPOSE fastnn_sg_transpose_d
#define PG_ZERO() _mm512_setzero_pd()
#define PG_SET1(x) _mm512_set1_pd(x)
#define PG_LOADU(p) _mm512_loadu_pd(p)
#define PG_LOADM(m, p) _mm512_maskz_loadu_pd(m, p)
#define PG_STOREU(p, v) _mm512_storeu_pd(p, v)
#define PG_STOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define PG_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define PG_MUL(a, b) _mm512_mul_pd(a, b)
#include "packed_gemm_kernels.h"

/* Threads worth using: one per 2^21 multiply-adds (about 20 µs of work), at
 * most max_threads, never more than there are pieces to hand out. */
static inline int fastnn_pg_threads(int m, int n, int k, int nr, int max_threads)
{
    const double work = (double)m * n * k;
    int t = (int)(work / 2097152.0);
    if (t < 1) t = 1;
    if (t > max_threads) t = max_threads;
    const int pieces = (n + nr - 1) / nr >= 2 * t ? t : (m + FASTNN_PG_MR - 1) / FASTNN_PG_MR;
    return t < pieces ? t : (pieces > 0 ? pieces : 1);
}

/* Piece `id` of `parts` equal contiguous pieces of `count` units of `unit`
 * elements, clipped to `total` elements: [*begin, *end). */
static inline void fastnn_pg_piece(int total, int unit, int parts, int id, int *begin,
                                   int *end)
{
    const int units = (total + unit - 1) / unit;
    const int lo = (int)((long long)units * id / parts);
    const int hi = (int)((long long)units * (id + 1) / parts);
    *begin = lo * unit < total ? lo * unit : total;
    *end = hi * unit < total ? hi * unit : total;
}

/* The driver, for both types (alpha and beta travel as double, exactly):
 * splits C among the threads and runs each thread's share with the serial
 * routine of its type, or with the small kernel when the thread has no
 * workspace. */
static void fastnn_pg_gemm(int is_double, int trans_a, int trans_b, int m, int n, int k,
                           double alpha, const void *A, int lda, const void *B, int ldb,
                           double beta, void *C, int ldc)
{
    const size_t size = is_double ? sizeof(double) : sizeof(float);
    const int nr = is_double ? 16 : 32;
    const int n_threads = fastnn_pg_threads(m, n, k, nr, omp_get_max_threads());
    const int by_cols = (n + nr - 1) / nr >= 2 * n_threads;
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        const int parts = omp_get_num_threads(), id = omp_get_thread_num();
        int lo, hi;
        fastnn_pg_piece(by_cols ? n : m, by_cols ? nr : FASTNN_PG_MR, parts, id, &lo, &hi);
        if (lo < hi) {
            /* the piece: rows or columns [lo, hi) of C, and the matching
             * rows of op(A) or columns of op(B) */
            const int pm = by_cols ? m : hi - lo, pn = by_cols ? hi - lo : n;
            const ptrdiff_t a_off = by_cols ? 0 : trans_a ? lo : (ptrdiff_t)lo * lda;
            const ptrdiff_t b_off = !by_cols ? 0 : trans_b ? (ptrdiff_t)lo * ldb : lo;
            const ptrdiff_t c_off = by_cols ? lo : (ptrdiff_t)lo * ldc;
            const char *pa = (const char *)A + a_off * size;
            const char *pb = (const char *)B + b_off * size;
            char *pc = (char *)C + c_off * size;
            void *ws = fastnn_pg_workspace();
            if (is_double) {
                if (ws != NULL)
                    fastnn_pg_serial_d(trans_a, trans_b, pm, pn, k, alpha,
                                       (const double *)pa, lda, (const double *)pb, ldb,
                                       beta, (double *)pc, ldc, (double *)ws,
                                       (double *)ws + FASTNN_PG_MB_D * FASTNN_PG_KC_D);
                else
                    fastnn_dgemm_small(trans_a, trans_b, pm, pn, k, alpha,
                                       (const double *)pa, lda, (const double *)pb, ldb,
                                       beta, (double *)pc, ldc);
            } else {
                if (ws != NULL)
                    fastnn_pg_serial_s(trans_a, trans_b, pm, pn, k, (float)alpha,
                                       (const float *)pa, lda, (const float *)pb, ldb,
                                       (float)beta, (float *)pc, ldc, (float *)ws,
                                       (float *)ws + FASTNN_PG_MB_S * FASTNN_PG_KC_S);
                else
                    fastnn_sgemm_small(trans_a, trans_b, pm, pn, k, (float)alpha,
                                       (const float *)pa, lda, (const float *)pb, ldb,
                                       (float)beta, (float *)pc, ldc);
            }
        }
    }
}
#endif /* FASTNN_SG_X86 */

/* ---- public entry points ---------------------------------------------------- */

static inline void fastnn_sgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                                       float alpha, const float *A, int lda,
                                       const float *B, int ldb, float beta, float *C,
                                       int ldc)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_SG_X86
    if (k > 0 && fastnn_sg_have_avx512()) {
        fastnn_pg_gemm(0, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    fastnn_sgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static inline void fastnn_dgemm_packed(int trans_a, int trans_b, int m, int n, int k,
                                       double alpha, const double *A, int lda,
                                       const double *B, int ldb, double beta, double *C,
                                       int ldc)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_SG_X86
    if (k > 0 && fastnn_sg_have_avx512()) {
        fastnn_pg_gemm(1, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    fastnn_dgemm_small(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Where gemm() sends a product: FASTNN_ROUTE_SMALL, _PACKED or _BLAS.
 *
 *   1. small_gemm.h's kernels where they beat OpenBLAS (fastnn_small_gemm_wins);
 *   2. float32 on AVX-512F CPUs: BLAS up to 2^18 multiply-adds, the size below
 *      which OpenBLAS runs on the calling thread alone; above it never BLAS,
 *      so that OpenBLAS's worker threads, which spin for a long while after
 *      each threaded call, never compete for the cores with our OpenMP
 *      threads (two pools spinning at once collapse both): the small kernels
 *      up to 2^22, the packed kernel above;
 *   3. everything else: BLAS (float64 keeps OpenBLAS, whose double kernel is
 *      10-20% faster than the packed one here).
 * The rule depends on the shape and dtype only, never on the thread count,
 * and so does every bit of the result. */
enum { FASTNN_ROUTE_BLAS = 0, FASTNN_ROUTE_SMALL = 1, FASTNN_ROUTE_PACKED = 2 };

static inline int fastnn_gemm_route(int m, int n, int k, int trans_a, int trans_b,
                                    int is_double)
{
    if (fastnn_small_gemm_wins(m, n, k, trans_a, trans_b, is_double))
        return FASTNN_ROUTE_SMALL;
    const double work = (double)m * n * k;
    if (is_double || !fastnn_sg_have_avx512() || work <= 262144.0)
        return FASTNN_ROUTE_BLAS;
    return work <= 4194304.0 ? FASTNN_ROUTE_SMALL : FASTNN_ROUTE_PACKED;
}

#endif /* FASTNN_PACKED_GEMM_H */
