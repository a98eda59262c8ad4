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
 * Strategy (register-blocked; one template, small_gemm_kernels.h, per
 * instruction-set path; described here for AVX-512F, whose tiles NEON shares
 * with 4-lane vectors, while AVX2's 16 registers take tiles half as wide:
 * 12×1, 6×2, 3×4 ymm; small_gemm_avx2.h)
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
 * Dispatch: the kernels of the active instruction-set path (isa.h's
 * fastnn_isa(): FASTNN_ISA, fastnn.set_isa, else the best the CPU has).  x86-64
 * with GCC or clang compiles the AVX-512F (small_gemm_avx512.h) and AVX2+FMA
 * (small_gemm_avx2.h) instantiations through function target attributes (the
 * build itself stays portable, no -march); aarch64 compiles the NEON one
 * (small_gemm_neon.h), its baseline.  Any other path runs a plain C loop
 * nest with the same contract, which gemm_route.h never routes a product to
 * (gemm() uses BLAS there).  gemm_route.h's default rule keeps NEON on BLAS
 * until its crossover is measured on an ARM CPU; tune can route products to
 * the NEON kernels.  tests/c/test_gemm.c checks every path natively and, for
 * NEON, under qemu-user (tests/c/run_gemm.sh).
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

/* ---- SIMD kernels: small_gemm_kernels.h per instruction set ------------------ */

/* The broadcast tiles (MR rows × NV vectors) of the paths with 32 vector
 * registers, AVX-512F and NEON: MR <= 12 × 2, <= 6 × 4, <= 3 × 8 (at most 24
 * accumulators), and their table [log2 NV][MR - 1] (SG_AXPY_TILE_LIST and
 * SG_AXPY_TILE_TABLE of small_gemm_kernels.h). */
#define FASTNN_SG_TILES_32REG(X)                                                      \
    X(1, 1) X(1, 2) X(2, 1) X(2, 2) X(3, 1) X(3, 2) X(4, 1) X(4, 2) X(5, 1) X(5, 2)   \
    X(6, 1) X(6, 2) X(7, 1) X(7, 2) X(8, 1) X(8, 2) X(9, 1) X(9, 2) X(10, 1)          \
    X(10, 2) X(11, 1) X(11, 2) X(12, 1) X(12, 2)                                      \
    X(1, 4) X(2, 4) X(3, 4) X(4, 4) X(5, 4) X(6, 4)                                   \
    X(1, 8) X(2, 8) X(3, 8)
#define FASTNN_SG_TABLE_32REG                                                         \
    {{SG_NAME(axpy_1x1), SG_NAME(axpy_2x1), SG_NAME(axpy_3x1), SG_NAME(axpy_4x1),     \
      SG_NAME(axpy_5x1), SG_NAME(axpy_6x1), SG_NAME(axpy_7x1), SG_NAME(axpy_8x1),     \
      SG_NAME(axpy_9x1), SG_NAME(axpy_10x1), SG_NAME(axpy_11x1), SG_NAME(axpy_12x1)}, \
     {SG_NAME(axpy_1x2), SG_NAME(axpy_2x2), SG_NAME(axpy_3x2), SG_NAME(axpy_4x2),     \
      SG_NAME(axpy_5x2), SG_NAME(axpy_6x2), SG_NAME(axpy_7x2), SG_NAME(axpy_8x2),     \
      SG_NAME(axpy_9x2), SG_NAME(axpy_10x2), SG_NAME(axpy_11x2), SG_NAME(axpy_12x2)}, \
     {SG_NAME(axpy_1x4), SG_NAME(axpy_2x4), SG_NAME(axpy_3x4), SG_NAME(axpy_4x4),     \
      SG_NAME(axpy_5x4), SG_NAME(axpy_6x4)},                                          \
     {SG_NAME(axpy_1x8), SG_NAME(axpy_2x8), SG_NAME(axpy_3x8)}}
#if FASTNN_SG_X86
#include "small_gemm_avx512.h"   /* fastnn_sg_*_s / _d */
#include "small_gemm_avx2.h"     /* fastnn_sg2_*_s / _d */
#endif
#if FASTNN_HAVE_NEON_PATH
#include "small_gemm_neon.h"     /* fastnn_sgn_*_s / _d */
#endif
#undef FASTNN_SG_TILES_32REG
#undef FASTNN_SG_TABLE_32REG

/* The active path's kernels: FASTNN_ISA_AVX512, FASTNN_ISA_AVX2 or
 * FASTNN_ISA_PORTABLE (the portable loop nest, every other path). */
static inline int fastnn_sg_path(void)
{
    const int isa = fastnn_isa();
#if FASTNN_SG_X86
    if (isa == FASTNN_ISA_AVX512 || isa == FASTNN_ISA_AVX2)
        return isa;
#endif
#if FASTNN_HAVE_NEON_PATH
    if (isa == FASTNN_ISA_NEON)
        return isa;
#endif
    return FASTNN_ISA_PORTABLE;
}

/* ---- public entry points ---------------------------------------------------- */

/* Which instruction-set path the small kernels take now: "avx512", "avx2" or
 * "portable" (isa.h's names). */
static inline const char *fastnn_small_gemm_isa(void)
{
    return FASTNN_ISA_NAMES[fastnn_sg_path()];
}

static inline void fastnn_sgemm_small(int trans_a, int trans_b, int m, int n, int k,
                                      float alpha, const float *A, int lda,
                                      const float *B, int ldb, float beta,
                                      float *C, int ldc)
{
    if (m <= 0 || n <= 0) return;
#if FASTNN_SG_X86
    switch (fastnn_sg_path()) {
    case FASTNN_ISA_AVX512:
        fastnn_sg_gemm_s(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    case FASTNN_ISA_AVX2:
        fastnn_sg2_gemm_s(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
#if FASTNN_HAVE_NEON_PATH
    if (fastnn_sg_path() == FASTNN_ISA_NEON) {
        fastnn_sgn_gemm_s(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
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
    switch (fastnn_sg_path()) {
    case FASTNN_ISA_AVX512:
        fastnn_sg_gemm_d(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    case FASTNN_ISA_AVX2:
        fastnn_sg2_gemm_d(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
#if FASTNN_HAVE_NEON_PATH
    if (fastnn_sg_path() == FASTNN_ISA_NEON) {
        fastnn_sgn_gemm_d(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
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
/* Elements per vector of the active path's kernels (0: the portable loops). */
static inline int fastnn_sg_lanes(int is_double)
{
    int bytes;
    switch (fastnn_sg_path()) {
    case FASTNN_ISA_AVX512: bytes = 64; break;
    case FASTNN_ISA_AVX2: bytes = 32; break;
    case FASTNN_ISA_NEON: bytes = 16; break;
    default: return 0;
    }
    return bytes / (is_double ? 8 : 4);
}

static inline int fastnn_small_gemm_accumulates_fast(int m, int n, int k, int trans_a,
                                                     int trans_b, int is_double)
{
    (void)m;
    const int lanes = fastnn_sg_lanes(is_double);
    return lanes > 0 && ((trans_a && !trans_b && k <= FASTNN_SG_TN_STREAM_MAX_K
                          && n <= 4 * lanes) || n % lanes == 0);
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
    /* SG_STEP_MAX_NV vectors: 4 on every path */
    return n >= 1 && n <= 4 * fastnn_sg_lanes(is_double);
}

static inline void fastnn_sstep_forward_small(int n, int k, const float *x_old,
                                              const float *dz, float alpha,
                                              const float *x_new, float *W, int ldw,
                                              float *z)
{
#if FASTNN_SG_X86
    if (fastnn_small_step_forward_fits(n, 0)) {
        if (fastnn_sg_path() == FASTNN_ISA_AVX512)
            fastnn_sg_step_forward_s(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        else
            fastnn_sg2_step_forward_s(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        return;
    }
#endif
#if FASTNN_HAVE_NEON_PATH
    if (fastnn_small_step_forward_fits(n, 0)) {
        fastnn_sgn_step_forward_s(n, k, x_old, dz, alpha, x_new, W, ldw, z);
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
        if (fastnn_sg_path() == FASTNN_ISA_AVX512)
            fastnn_sg_step_forward_d(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        else
            fastnn_sg2_step_forward_d(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        return;
    }
#endif
#if FASTNN_HAVE_NEON_PATH
    if (fastnn_small_step_forward_fits(n, 1)) {
        fastnn_sgn_step_forward_d(n, k, x_old, dz, alpha, x_new, W, ldw, z);
        return;
    }
#endif
    fastnn_dgemm_small(1, 0, k, n, 1, alpha, x_old, k, dz, n, 1.0, W, ldw);
    fastnn_dgemm_small(0, 0, 1, n, k, 1.0, x_new, k, W, ldw, 0.0, z, n);
}

#endif /* FASTNN_SMALL_GEMM_H */
