/* Product routes: which implementation gemm() (fastnn/_kernels/_blas.pyx)
 * runs for a matrix product.
 *
 * What it decides
 *   fastnn_gemm_route(m, n, k, trans_a, trans_b, is_double) names one of
 *   FASTNN_ROUTE_SMALL (small_gemm.h's register-blocked kernels),
 *   FASTNN_ROUTE_PACKED (packed_gemm.h's packed, OpenMP kernel) or
 *   FASTNN_ROUTE_BLAS (SciPy's BLAS), for the product
 *       C (m×n) = alpha·op(A)·op(B) + beta·C,   op(A) m×k, op(B) k×n.
 *   Its inputs are the shape, the transposes, the dtype, the active
 *   instruction-set path (isa.h) and the route table below, and nothing
 *   else: never the thread count, so that the route, and with it every bit
 *   of the result, is the same for any number of threads.  A route whose
 *   kernel the active path lacks is never returned
 *   (fastnn_route_available: the portable path, and any path without its
 *   own SIMD kernels, always gets BLAS).
 *
 * The route table (measured)
 *   For each path, dtype and op (NN, NT, TN), a cube of cells over bins of
 *   m, n and k; a cell holds FASTNN_ROUTE_DEFAULT (not measured: the default
 *   rule below decides) or the route measured fastest for the shapes in it
 *   by `python -m fastnn tune` (fastnn/_tune.py).  Bins are half octaves,
 *   bin(x) = floor(2·log2 x) for x >= 1, capped at FASTNN_ROUTE_BINS - 1
 *   (x >= 8192): 1, 2, 3, 4-5, 6-7, 8-11, 12-15, 16-22, 23-31, 32-45, ...,
 *   fine enough that the layer widths of small networks (10, 16, 30) fall in
 *   different bins.  TT products (nothing in fastnn makes them) and k == 0
 *   always take the default rule.  Python fills a path's table with
 *   _blas.set_route_table (fastnn/_routes.py, from the per-CPU cache file
 *   that tune writes), which checks that every cell names a kernel the path
 *   has.
 *
 * The default rule (untuned)
 *   It depends on the path and on whether the BLAS library has AVX-512
 *   kernels (fastnn_route_blas_avx512, set by Python on import from the BLAS
 *   library's core type): an AVX-512 BLAS is close to the small kernels on
 *   dW = Xᵀ·dZ, an AVX2 BLAS (OpenBLAS's Haswell kernel, which
 *   OPENBLAS_CORETYPE=Haswell or an older OpenBLAS picks on an AVX-512 CPU)
 *   is 2-6x slower there.
 *   AVX-512F with an AVX-512 BLAS: the crossover measured on the project's
 *   Intel AVX-512 machine by benchmarks/small_gemm_crossover.py
 *   (fastnn_route_small_wins_avx512), and large float32 products away from
 *   BLAS (fastnn_gemm_route_default).
 *   AVX-512F with any other BLAS: the small kernels up to 2^25 multiply-adds,
 *   the packed kernel for float32 above (measured on an AMD Zen 5 EPYC).
 *   Either way, products of 2^22 to 2^25 multiply-adds (the first layer of
 *   784-128-64-10 at batch 256) go to the small kernels.
 *   AVX2: the small kernels for TN, NN up to 64 rows and NT up to 32, up to
 *   2^22 multiply-adds; the packed kernel for float32 above (measured on an
 *   AMD Zen 3 EPYC; fastnn_gemm_route_default says more).
 *   Every other path: BLAS, until a path's own kernels have a rule measured
 *   on a CPU that runs them; tune fills the table meanwhile.
 *
 * State and threads: one static table per translation unit that includes
 *   this header (only _blas does), 472 KiB of zero-initialised storage (all
 *   cells default), and the BLAS flag.  Both are written only between
 *   products, like the active path (fastnn/_routes.py documents that); gemm
 *   reads them from any thread.
 *   Nothing is allocated.
 */
#ifndef FASTNN_GEMM_ROUTE_H
#define FASTNN_GEMM_ROUTE_H

#include <string.h>

#include "isa.h"

enum {
    FASTNN_ROUTE_DEFAULT = 0,   /* a table cell only: the default rule decides */
    FASTNN_ROUTE_BLAS = 1,
    FASTNN_ROUTE_SMALL = 2,
    FASTNN_ROUTE_PACKED = 3,
    FASTNN_N_ROUTES = 4
};

enum { FASTNN_ROUTE_NN = 0, FASTNN_ROUTE_NT = 1, FASTNN_ROUTE_TN = 2, FASTNN_ROUTE_OPS = 3 };

#define FASTNN_ROUTE_BINS 27    /* half octaves 0..26: 1 .. 8192 and above */
#define FASTNN_ROUTE_CELLS (FASTNN_ROUTE_BINS * FASTNN_ROUTE_BINS * FASTNN_ROUTE_BINS)
#define FASTNN_ROUTE_TABLE_CELLS (2 * FASTNN_ROUTE_OPS * FASTNN_ROUTE_CELLS)  /* one path */

/* [path][is_double][op][bin m][bin n][bin k] */
static unsigned char fastnn_route_table[FASTNN_N_ISA][FASTNN_ROUTE_TABLE_CELLS];

/* 1 when the BLAS library that gemm calls has AVX-512 kernels (OpenBLAS's
 * SkylakeX, Cooperlake and SapphireRapids core types, MKL); set by
 * fastnn/_routes.py on import, read by the default rule only. */
static int fastnn_route_blas_avx512 = 1;

/* 1 when `route` has a kernel on path `isa`: BLAS everywhere; fastnn's own
 * small and packed kernels where the path has SIMD code for them (the plain
 * C fallbacks that other paths reach are never chosen).  The one place that
 * says which paths have which kernels. */
static inline int fastnn_route_available(int isa, int route)
{
    switch (route) {
    case FASTNN_ROUTE_BLAS:
        return 1;
    case FASTNN_ROUTE_SMALL:
        return isa == FASTNN_ISA_AVX512 || isa == FASTNN_ISA_AVX2 || isa == FASTNN_ISA_NEON;
    case FASTNN_ROUTE_PACKED:
        return isa == FASTNN_ISA_AVX512 || isa == FASTNN_ISA_AVX2 || isa == FASTNN_ISA_NEON;
    default:
        return 0;
    }
}

/* floor(2·log2 x) for x >= 1, at most FASTNN_ROUTE_BINS - 1. */
static inline int fastnn_route_bin(int x)
{
    if (x >= 8192) return FASTNN_ROUTE_BINS - 1;
    int b = 0;   /* floor(log2 x) */
#if defined(__GNUC__) || defined(__clang__)
    b = 31 - __builtin_clz((unsigned)x);
#else
    while ((x >> (b + 1)) != 0) b++;
#endif
    /* the upper half octave: x >= 2^b·sqrt(2), i.e. x² >= 2^(2b+1) */
    return 2 * b + ((unsigned long long)x * (unsigned long long)x >= 2ull << (2 * b));
}

/* Index of the cell of a product in one path's table. */
static inline int fastnn_route_cell(int m, int n, int k, int op, int is_double)
{
    return ((is_double * FASTNN_ROUTE_OPS + op) * FASTNN_ROUTE_BINS + fastnn_route_bin(m))
               * FASTNN_ROUTE_BINS * FASTNN_ROUTE_BINS
           + fastnn_route_bin(n) * FASTNN_ROUTE_BINS + fastnn_route_bin(k);
}

/* 1 when the AVX-512F small kernels beat OpenBLAS (one thread) on this
 * product: the crossover measured on the project's AVX-512 machine by
 * benchmarks/small_gemm_crossover.py (README.md, "Matrix products").
 *
 *   all:  k >= 1, and m·n·k <= 2^22 (above that OpenBLAS's cache blocking
 *         and its second thread start to pay);
 *   NN (Z = X·W):   n >= 8, and k >= 32 or n <= 32 (narrow C wastes vector
 *         lanes; wide C with short k is store-bound, where BLAS is as good);
 *   NT (dX = dZ·Wᵀ): k <= 32, or n >= 16 and (m <= 2, or n >= 512, or m >= 10
 *         and n >= 32): the packing of Bᵀ must be shared by enough rows;
 *   TN (dW = Xᵀ·dZ): OpenBLAS is strong here; own kernel only for
 *         10 <= n < 32 with k <= 4, for float32 with a column tail
 *         (8 <= n < 32, n % 16 != 0) and k <= 16, for float64 with
 *         16 <= n < 32 and k <= 12 (these mostly the B-in-registers
 *         streaming path, k <= 12), for m >= 256 with k >= 32 (float64:
 *         k >= 64) and n >= 24, for m >= 512, k >= 10, n >= 96, and for
 *         k >= 128 (batch 256 on an AMD Zen 5 against OpenBLAS's SkylakeX
 *         kernel: 1.1-2.3x faster, float64 most);
 *   TT: never (nothing in fastnn uses it; the transposed stores are slow). */
static inline int fastnn_route_small_wins_avx512(int m, int n, int k, int trans_a,
                                                 int trans_b, int is_double)
{
    if (m < 1 || n < 1 || k < 1 || (double)m * n * k > 4194304.0)
        return 0;
    if (!trans_a && !trans_b)
        return n >= 8 && (k >= 32 || n <= 32);
    if (!trans_a)
        return k <= 32 || (n >= 16 && (m <= 2 || n >= 512 || (m >= 10 && n >= 32)));
    if (!trans_b)
        return (n >= 10 && n < 32 && k <= 4) ||
               (!is_double && n >= 8 && n < 32 && n % 16 != 0 && k <= 16) ||
               (is_double && n >= 16 && n < 32 && k <= 12) ||
               (m >= 256 && n >= 24 && k >= (is_double ? 64 : 32)) ||
               (m >= 512 && n >= 96 && k >= 10) || k >= 128;
    return 0;
}

/* The default rule, for path `isa`:
 *   AVX-512F with an AVX-512 BLAS: 1. the small kernels where they beat
 *      OpenBLAS (fastnn_route_small_wins_avx512);
 *   2. float32: BLAS up to 2^18 multiply-adds, the size below which OpenBLAS
 *      runs on the calling thread alone; above it never BLAS, so that
 *      OpenBLAS's worker threads, which spin for a long while after each
 *      threaded call, never compete for the cores with our OpenMP threads
 *      (two pools spinning at once collapse both): the small kernels up to
 *      2^22, the packed kernel above;
 *   3. everything else: BLAS (float64 keeps OpenBLAS, whose double kernel is
 *      10-20% faster than the packed one there).
 *   AVX-512F, either BLAS: the small kernels from 2^22 to 2^25 multiply-adds,
 *      both dtypes, ahead of 1-3 (measured on an AMD Zen 5 EPYC: at
 *      784-30-10 and 784-128-64-10 batch 256, 1.1-3.8x faster than the
 *      packed kernel and 1.1-3.2x faster than OpenBLAS, SkylakeX or Haswell
 *      kernel; the 1024-4096-4096-1024 products, 2^28 and up, are 2x faster
 *      packed).
 *   AVX-512F with a BLAS without AVX-512 kernels: the small kernels up to
 *      2^25 multiply-adds, every op (measured on an AMD Zen 5 EPYC against
 *      OpenBLAS's Haswell kernel: the small kernels win all 192 textbook
 *      products of batches 1-64, dW by 2-6x), the packed kernel for float32
 *      above, BLAS for float64 above.
 *   AVX2: the small kernels up to 2^22 multiply-adds for TN, and for NN up
 *      to m = 64 rows, NT up to 32 (measured on an AMD Zen 3 EPYC against its
 *      OpenBLAS, benchmarks/small_gemm_crossover.py: the AVX2 small kernels
 *      win every textbook product of batches 1-64, 1.06-15x, but NT 784→16
 *      at batch 64, 0.87x, and lose some batch-256 products, e.g. NN
 *      256×64×128 and NT 256×64×10); float32 above 2^22 multiply-adds the
 *      packed kernel (measured on a 2-core Zen 3 EPYC: level with OpenBLAS
 *      to 1.45x on one thread on the 1024-4096-4096-1024 network's products,
 *      up to 1.4x on two); BLAS otherwise (float64: the packed kernel is
 *      level with OpenBLAS's, 0.87-1.20x).
 *   Other paths: BLAS. */
static inline int fastnn_gemm_route_default(int isa, int m, int n, int k, int trans_a,
                                            int trans_b, int is_double)
{
    const double work = (double)m * n * k;
    const int not_tt = k >= 1 && !(trans_a && trans_b);
    const int avx512 = isa == FASTNN_ISA_AVX512;
    if (avx512 && not_tt && work > 4194304.0 && work <= 33554432.0)
        return FASTNN_ROUTE_SMALL;
    /* AVX2, and AVX-512F beside a BLAS without AVX-512 kernels: the small
     * kernels up to 2^22 (on AVX2 NN and NT only up to 64 and 32 rows) */
    if (isa == FASTNN_ISA_AVX2 || (avx512 && !fastnn_route_blas_avx512)) {
        if (not_tt && work <= 4194304.0 && (avx512 || trans_a || m <= (trans_b ? 32 : 64)))
            return FASTNN_ROUTE_SMALL;
        return !is_double && work > 4194304.0 ? FASTNN_ROUTE_PACKED : FASTNN_ROUTE_BLAS;
    }
    if (!avx512)
        return FASTNN_ROUTE_BLAS;
    if (fastnn_route_small_wins_avx512(m, n, k, trans_a, trans_b, is_double))
        return FASTNN_ROUTE_SMALL;
    if (is_double || work <= 262144.0)
        return FASTNN_ROUTE_BLAS;
    return work <= 4194304.0 ? FASTNN_ROUTE_SMALL : FASTNN_ROUTE_PACKED;
}

/* Where gemm() sends a product on the active path: FASTNN_ROUTE_SMALL,
 * _PACKED or _BLAS (m, n >= 1). */
static inline int fastnn_gemm_route(int m, int n, int k, int trans_a, int trans_b,
                                    int is_double)
{
    const int isa = fastnn_isa();
    if (k >= 1 && !(trans_a && trans_b)) {
        const int op = trans_a ? FASTNN_ROUTE_TN : trans_b ? FASTNN_ROUTE_NT
                                                           : FASTNN_ROUTE_NN;
        const int route = fastnn_route_table[isa][fastnn_route_cell(m, n, k, op, is_double != 0)];
        if (route != FASTNN_ROUTE_DEFAULT)
            return route;
    }
    return fastnn_gemm_route_default(isa, m, n, k, trans_a, trans_b, is_double);
}

/* Replaces path `isa`'s table by `cells` (FASTNN_ROUTE_TABLE_CELLS values).
 * Returns 0, changing nothing, when the path is unknown or a cell names a
 * route that is not a route or whose kernel the path lacks; else 1. */
static inline int fastnn_route_table_set(int isa, const unsigned char *cells)
{
    if (isa < 0 || isa >= FASTNN_N_ISA)
        return 0;
    for (int i = 0; i < FASTNN_ROUTE_TABLE_CELLS; i++)
        if (cells[i] != FASTNN_ROUTE_DEFAULT && !fastnn_route_available(isa, cells[i]))
            return 0;
    memcpy(fastnn_route_table[isa], cells, FASTNN_ROUTE_TABLE_CELLS);
    return 1;
}

/* Path `isa`'s table (FASTNN_ROUTE_TABLE_CELLS values; isa valid). */
static inline const unsigned char *fastnn_route_table_cells(int isa)
{
    return fastnn_route_table[isa];
}

#endif /* FASTNN_GEMM_ROUTE_H */
