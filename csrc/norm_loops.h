/* Batch and layer normalization (fastnn/_kernels/normalization.pyx holds the
 * contract), compiled for each instruction-set path and chosen at run time
 * (FASTNN_ISA_VARIANTS, see simd_loops.h): the portable build would run these
 * passes 4 floats wide.
 *
 * What each computes, on C-contiguous (n, units) buffers, γ and β (units,):
 *   forward:   x̂ = (x − μ)·r, out = γ·x̂ + β with r = 1/√(σ² + ε); μ and the
 *              biased σ² per column over the rows (kind 1, batch) or per row
 *              over its units (kind 2, layer), two passes (the mean, then the
 *              mean square deviation); stats: batch μ, r, σ² (3·units), layer
 *              r per row (n), and μ and σ² per row in row_mean and row_var
 *              unless they are NULL.
 *   backward:  in place, dY becomes dL/dx; dγ = Σ dY·x̂, dβ = Σ dY over the
 *              rows; with ĝ = dY·γ: dx = r·(ĝ − (Σĝ + x̂·Σĝx̂)/N).
 *   inference: in place; batch with the running statistics.
 *
 * Every value goes through the same operations in the same order on every
 * path (the build forbids FMA contraction; sqrt and division are correctly
 * rounded), so the paths give the same bits.  A row's reductions run over 8
 * partial sums (element j in lane j mod 8, the lanes added in a fixed tree):
 * independent chains that vectorise without reassociation.  Column sums run
 * over the rows in order.  Nothing depends on the thread count; these run on
 * the caller's thread (the training loop's, between products).
 *
 * Memory: the caller owns every buffer; x̂ may alias X (forward), nothing
 * else overlaps.  No allocation (batch inference keeps up to 256 inverse
 * deviations on the stack).
 */
#ifndef FASTNN_NORM_LOOPS_H
#define FASTNN_NORM_LOOPS_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "simd_loops.h"

/* Before a loop over units: no iteration depends on another's stores (the
 * buffers are distinct, or x̂ is X itself and each element is read before it
 * is written), so the compiler need not guard the vector loop with overlap
 * checks, of which these loops have too many to be vectorised otherwise. */
#if defined(__clang__)
#define FASTNN_NORM_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define FASTNN_NORM_IVDEP _Pragma("GCC ivdep")
#else
#define FASTNN_NORM_IVDEP
#endif

/* The whole 8-element blocks of a row's reductions, into acc (acc1, acc2).
 * With GCC and clang the 8 partial sums are one 8-lane vector (vector
 * extensions: lane k is partial sum k and every operation is elementwise, so
 * the bits are those of the scalar lanes), which stays in registers; plain C
 * otherwise (GCC would vectorise those scalar lanes as slow in-order
 * reductions across blocks). */
#if defined(__GNUC__)
typedef float fastnn_norm_v8_f32 __attribute__((vector_size(8 * sizeof(float))));
typedef double fastnn_norm_v8_f64 __attribute__((vector_size(8 * sizeof(double))));
/* acc[k] += a (want_squares: (a − shift)²) */
#define FASTNN_NORM_SUM_BLOCKS(T, SUFFIX)                                                \
    {                                                                                    \
        fastnn_norm_v8_##SUFFIX vacc = {0};                                              \
        for (ptrdiff_t j = 0; j < full; j += FASTNN_NORM_LANES) {                        \
            fastnn_norm_v8_##SUFFIX x;                                                   \
            memcpy(&x, a + j, sizeof x);                                                 \
            if (want_squares) {                                                          \
                x = x - shift;                                                           \
                vacc = vacc + x * x;                                                     \
            } else {                                                                     \
                vacc = vacc + x;                                                         \
            }                                                                            \
        }                                                                                \
        memcpy(acc, &vacc, sizeof acc);                                                  \
    }
/* acc1[k] += a·b, acc2[k] += a·b·c */
#define FASTNN_NORM_DOTS_BLOCKS(T, SUFFIX)                                               \
    {                                                                                    \
        fastnn_norm_v8_##SUFFIX v1 = {0}, v2 = {0}, x, y, z;                             \
        for (ptrdiff_t j = 0; j < full; j += FASTNN_NORM_LANES) {                        \
            memcpy(&x, a + j, sizeof x);                                                 \
            memcpy(&y, b + j, sizeof y);                                                 \
            memcpy(&z, c + j, sizeof z);                                                 \
            x = x * y;                                                                   \
            v1 = v1 + x;                                                                 \
            v2 = v2 + x * z;                                                             \
        }                                                                                \
        memcpy(acc1, &v1, sizeof acc1);                                                  \
        memcpy(acc2, &v2, sizeof acc2);                                                  \
    }
#else
#define FASTNN_NORM_SUM_BLOCKS(T, SUFFIX)                                                \
    for (ptrdiff_t j = 0; j < full; j += FASTNN_NORM_LANES)                              \
        for (int k = 0; k < FASTNN_NORM_LANES; k++) {                                    \
            const T v = a[j + k] - shift;                                                \
            acc[k] = acc[k] + (want_squares ? v * v : a[j + k]);                         \
        }
#define FASTNN_NORM_DOTS_BLOCKS(T, SUFFIX)                                               \
    for (ptrdiff_t j = 0; j < full; j += FASTNN_NORM_LANES)                              \
        for (int k = 0; k < FASTNN_NORM_LANES; k++) {                                    \
            const T v = a[j + k] * b[j + k];                                             \
            acc1[k] = acc1[k] + v;                                                       \
            acc2[k] = acc2[k] + v * c[j + k];                                            \
        }
#endif

#define FASTNN_NORM_BATCH 1
#define FASTNN_NORM_LANES 8
#define FASTNN_NORM_INFERENCE_BLOCK 256

/* 1/√x rounded to T, through the double square root (as the Cython code it
 * replaces wrote it; for float the result is the correctly rounded √x). */
#define FASTNN_NORM_RSQRT(T, x) ((T)1 / (T)sqrt((double)(x)))

#define FASTNN_NORM_LOOPS(T, SUFFIX)                                                     \
/* The 8 partial sums added in a fixed tree order. */                                    \
FASTNN_BODY T fastnn_norm_combine_##SUFFIX(const T *acc)                                 \
{                                                                                        \
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
}                                                                                        \
                                                                                         \
/* Σ a and Σ (a − shift)² of one row (want_squares: the second only). */                 \
FASTNN_BODY T fastnn_norm_row_sum_##SUFFIX(const T *a, T shift, ptrdiff_t units,         \
                                           int want_squares)                             \
{                                                                                        \
    T acc[FASTNN_NORM_LANES] = {0};                                                      \
    const ptrdiff_t full = units - units % FASTNN_NORM_LANES;                            \
    FASTNN_NORM_SUM_BLOCKS(T, SUFFIX)                                                    \
    for (ptrdiff_t j = full; j < units; j++) {                                           \
        const T v = a[j] - shift;                                                        \
        acc[j - full] = acc[j - full] + (want_squares ? v * v : a[j]);                   \
    }                                                                                    \
    return fastnn_norm_combine_##SUFFIX(acc);                                            \
}                                                                                        \
                                                                                         \
/* *s1 = Σ a·b and *s2 = Σ a·b·c over one row. */                                        \
FASTNN_BODY void fastnn_norm_row_dots_##SUFFIX(const T *a, const T *b, const T *c,       \
                                               ptrdiff_t units, T *s1, T *s2)            \
{                                                                                        \
    T acc1[FASTNN_NORM_LANES] = {0}, acc2[FASTNN_NORM_LANES] = {0};                      \
    const ptrdiff_t full = units - units % FASTNN_NORM_LANES;                            \
    FASTNN_NORM_DOTS_BLOCKS(T, SUFFIX)                                                   \
    for (ptrdiff_t j = full; j < units; j++) {                                           \
        const T v = a[j] * b[j];                                                         \
        acc1[j - full] = acc1[j - full] + v;                                             \
        acc2[j - full] = acc2[j - full] + v * c[j];                                      \
    }                                                                                    \
    *s1 = fastnn_norm_combine_##SUFFIX(acc1);                                            \
    *s2 = fastnn_norm_combine_##SUFFIX(acc2);                                            \
}                                                                                        \
                                                                                         \
/* The mean, the biased variance σ² and 1/√(σ² + ε) of one row. */                        \
FASTNN_BODY void fastnn_norm_row_moments_##SUFFIX(const T *x, T eps, ptrdiff_t units,    \
                                                  T *mean, T *var, T *rstd)              \
{                                                                                        \
    const T inv_u = (T)1 / (T)units;                                                     \
    const T m = fastnn_norm_row_sum_##SUFFIX(x, 0, units, 0) * inv_u;                    \
    const T v = fastnn_norm_row_sum_##SUFFIX(x, m, units, 1) * inv_u;                    \
    *mean = m;                                                                           \
    *var = v;                                                                            \
    *rstd = FASTNN_NORM_RSQRT(T, v + eps);                                               \
}                                                                                        \
                                                                                         \
FASTNN_BODY void fastnn_norm_forward_##SUFFIX##_body(                                    \
    int kind, const T *X, T *xhat, T *out, const T *gamma, const T *beta, T *stats,      \
    T *row_mean, T *row_var, double eps, ptrdiff_t n, ptrdiff_t units)                   \
{                                                                                        \
    const T e = (T)eps;                                                                  \
    if (kind == FASTNN_NORM_BATCH) {                                                     \
        T *mean = stats, *rstd = stats + units, *var = stats + 2 * units;                \
        const T inv_n = (T)1 / (T)n;                                                     \
        memset(mean, 0, units * sizeof(T));                                              \
        memset(var, 0, units * sizeof(T));                                               \
        for (ptrdiff_t i = 0; i < n; i++)                                                \
            FASTNN_NORM_IVDEP                                                            \
            for (ptrdiff_t j = 0; j < units; j++)                                        \
                mean[j] = mean[j] + X[i * units + j];                                    \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++)                                            \
            mean[j] = mean[j] * inv_n;                                                   \
        for (ptrdiff_t i = 0; i < n; i++)                                                \
            FASTNN_NORM_IVDEP                                                            \
            for (ptrdiff_t j = 0; j < units; j++) {                                      \
                const T d = X[i * units + j] - mean[j];                                  \
                var[j] = var[j] + d * d;                                                 \
            }                                                                            \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++) {                                          \
            var[j] = var[j] * inv_n;                                                     \
            rstd[j] = FASTNN_NORM_RSQRT(T, var[j] + e);                                  \
        }                                                                                \
        for (ptrdiff_t i = 0; i < n; i++)                                                \
            FASTNN_NORM_IVDEP                                                            \
            for (ptrdiff_t j = 0; j < units; j++) {                                      \
                const T h = (X[i * units + j] - mean[j]) * rstd[j];                      \
                xhat[i * units + j] = h;                                                 \
                out[i * units + j] = gamma[j] * h + beta[j];                             \
            }                                                                            \
        return;                                                                          \
    }                                                                                    \
    for (ptrdiff_t i = 0; i < n; i++) {                                                  \
        T m, v, r;                                                                       \
        fastnn_norm_row_moments_##SUFFIX(X + i * units, e, units, &m, &v, &r);           \
        stats[i] = r;                                                                    \
        if (row_mean != NULL) {                                                          \
            row_mean[i] = m;                                                             \
            row_var[i] = v;                                                              \
        }                                                                                \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++) {                                          \
            const T h = (X[i * units + j] - m) * r;                                      \
            xhat[i * units + j] = h;                                                     \
            out[i * units + j] = gamma[j] * h + beta[j];                                 \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_norm_forward_##SUFFIX,                                \
                    (int kind, const T *X, T *xhat, T *out, const T *gamma,              \
                     const T *beta, T *stats, T *row_mean, T *row_var, double eps,       \
                     ptrdiff_t n, ptrdiff_t units),                                      \
                    (kind, X, xhat, out, gamma, beta, stats, row_mean, row_var, eps, n,  \
                     units))                                                             \
                                                                                         \
FASTNN_BODY void fastnn_norm_backward_##SUFFIX##_body(                                   \
    int kind, T *dY, const T *xhat, const T *stats, const T *gamma, T *dgamma,           \
    T *dbeta, ptrdiff_t n, ptrdiff_t units)                                              \
{                                                                                        \
    memset(dgamma, 0, units * sizeof(T));                                                \
    memset(dbeta, 0, units * sizeof(T));                                                 \
    for (ptrdiff_t i = 0; i < n; i++)                                                    \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++) {                                          \
            dgamma[j] = dgamma[j] + dY[i * units + j] * xhat[i * units + j];             \
            dbeta[j] = dbeta[j] + dY[i * units + j];                                     \
        }                                                                                \
    if (kind == FASTNN_NORM_BATCH) {                                                     \
        /* Σĝ = γ·dβ and Σĝ·x̂ = γ·dγ per column */                                       \
        const T *rstd = stats + units;                                                   \
        const T inv_n = (T)1 / (T)n;                                                     \
        for (ptrdiff_t i = 0; i < n; i++)                                                \
            FASTNN_NORM_IVDEP                                                            \
            for (ptrdiff_t j = 0; j < units; j++)                                        \
                dY[i * units + j] = gamma[j] * rstd[j] * (                               \
                    dY[i * units + j] - inv_n * (dbeta[j] + xhat[i * units + j] * dgamma[j])); \
        return;                                                                          \
    }                                                                                    \
    const T inv_u = (T)1 / (T)units;                                                     \
    for (ptrdiff_t i = 0; i < n; i++) {                                                  \
        T *dy = dY + i * units;                                                          \
        const T *h = xhat + i * units;                                                   \
        /* Σĝ and Σĝ·x̂ over the row */                                                  \
        T s1, s2;                                                                        \
        fastnn_norm_row_dots_##SUFFIX(dy, gamma, h, units, &s1, &s2);                    \
        const T r = stats[i];                                                            \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++) {                                          \
            const T g = dy[j] * gamma[j];                                                \
            dy[j] = r * (g - inv_u * (s1 + h[j] * s2));                                  \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_norm_backward_##SUFFIX,                               \
                    (int kind, T *dY, const T *xhat, const T *stats, const T *gamma,     \
                     T *dgamma, T *dbeta, ptrdiff_t n, ptrdiff_t units),                 \
                    (kind, dY, xhat, stats, gamma, dgamma, dbeta, n, units))             \
                                                                                         \
FASTNN_BODY void fastnn_norm_inference_##SUFFIX##_body(                                  \
    int kind, T *X, const T *gamma, const T *beta, const T *running_mean,                \
    const T *running_var, double eps, ptrdiff_t n, ptrdiff_t units)                      \
{                                                                                        \
    const T e = (T)eps;                                                                  \
    if (kind == FASTNN_NORM_BATCH) {                                                     \
        /* a block of units at a time: their 1/√(running_var + ε) on the stack */        \
        T rstd[FASTNN_NORM_INFERENCE_BLOCK];                                             \
        for (ptrdiff_t start = 0; start < units; start += FASTNN_NORM_INFERENCE_BLOCK) { \
            const ptrdiff_t stop = units - start > FASTNN_NORM_INFERENCE_BLOCK           \
                ? start + FASTNN_NORM_INFERENCE_BLOCK : units;                           \
            FASTNN_NORM_IVDEP                                                            \
            for (ptrdiff_t j = start; j < stop; j++)                                     \
                rstd[j - start] = FASTNN_NORM_RSQRT(T, running_var[j] + e);              \
            for (ptrdiff_t i = 0; i < n; i++)                                            \
                FASTNN_NORM_IVDEP                                                        \
                for (ptrdiff_t j = start; j < stop; j++)                                 \
                    X[i * units + j] = gamma[j] * (                                      \
                        (X[i * units + j] - running_mean[j]) * rstd[j - start]) + beta[j]; \
        }                                                                                \
        return;                                                                          \
    }                                                                                    \
    for (ptrdiff_t i = 0; i < n; i++) {                                                  \
        T m, v, r;                                                                       \
        fastnn_norm_row_moments_##SUFFIX(X + i * units, e, units, &m, &v, &r);           \
        FASTNN_NORM_IVDEP                                                                \
        for (ptrdiff_t j = 0; j < units; j++)                                            \
            X[i * units + j] = gamma[j] * ((X[i * units + j] - m) * r) + beta[j];        \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_norm_inference_##SUFFIX,                              \
                    (int kind, T *X, const T *gamma, const T *beta, const T *running_mean, \
                     const T *running_var, double eps, ptrdiff_t n, ptrdiff_t units),    \
                    (kind, X, gamma, beta, running_mean, running_var, eps, n, units))

FASTNN_NORM_LOOPS(float, f32)
FASTNN_NORM_LOOPS(double, f64)
#undef FASTNN_NORM_LOOPS

#endif
