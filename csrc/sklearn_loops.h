/* scikit-learn's MLP optimizer steps (momentum, Nesterov, Adam), compiled for
 * each instruction-set path and chosen at run time (FASTNN_ISA_VARIANTS, see
 * simd_loops.h): the portable build would otherwise run them 4 floats wide.
 *
 * Each element goes through exactly the operations of fastnn.reference's
 * sklearn_momentum_update / sklearn_adam_update, in the same order (the build
 * forbids FMA contraction; vector sqrt and division are correctly rounded),
 * so the results are bit-identical to the reference whatever the width.
 * g = grad + wd·param is the L2 term; one loop per case (wd zero or not,
 * Nesterov or not) keeps each a straight vectorisable pass.  Pointers are
 * `restrict`: the callers pass distinct buffers.  No allocation.
 *
 *   momentum: u = mu·v − lr·g; v = u; p = p + u
 *   Nesterov: u = mu·v − lr·g; v = u; p = p + (mu·u − lr·g)
 *   Adam:     m = b1·m + c1·g; v = b2·v + c2·(g·g); p = p + neg_lr·m / (√v + eps)
 *             (c1 = 1−b1, c2 = 1−b2, neg_lr = −lr·√(1−b2ᵗ)/(1−b1ᵗ))
 *
 * Also Σ x² (the L2 penalty's ‖W‖²), in FASTNN_LANES independent partial sums
 * added in a fixed order, so that it vectorises without reassociation and
 * gives the same bits on every run and instruction set.  (BLAS's dot would
 * do, but OpenBLAS wakes its threads for it above 10,000 elements, in the
 * middle of the training loop: see train.pyx's parallel strategy.)
 */
#ifndef FASTNN_SKLEARN_LOOPS_H
#define FASTNN_SKLEARN_LOOPS_H

#include <math.h>
#include <stddef.h>

#include "simd_loops.h"


#define FASTNN_SKLEARN_LOOPS(T, SUFFIX, SQRT)                                          \
FASTNN_BODY void                                                                       \
fastnn_sklearn_momentum_##SUFFIX##_body(T *restrict p, const T *restrict g,            \
                                        T *restrict v, ptrdiff_t n, T lr, T mu, T wd,  \
                                        int nesterov)                                  \
{                                                                                      \
    if (wd == 0 && !nesterov) {                                                        \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T u = mu * v[i] - lr * g[i];                                               \
            v[i] = u;                                                                  \
            p[i] = p[i] + u;                                                           \
        }                                                                              \
    } else if (wd == 0) {                                                              \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T u = mu * v[i] - lr * g[i];                                               \
            v[i] = u;                                                                  \
            p[i] = p[i] + (mu * u - lr * g[i]);                                        \
        }                                                                              \
    } else if (!nesterov) {                                                            \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T gi = g[i] + wd * p[i];                                                   \
            T u = mu * v[i] - lr * gi;                                                 \
            v[i] = u;                                                                  \
            p[i] = p[i] + u;                                                           \
        }                                                                              \
    } else {                                                                           \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T gi = g[i] + wd * p[i];                                                   \
            T u = mu * v[i] - lr * gi;                                                 \
            v[i] = u;                                                                  \
            p[i] = p[i] + (mu * u - lr * gi);                                          \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
FASTNN_ISA_VARIANTS(void, , fastnn_sklearn_momentum_##SUFFIX,                           \
                    (T *restrict p, const T *restrict g, T *restrict v, ptrdiff_t n,   \
                     T lr, T mu, T wd, int nesterov), (p, g, v, n, lr, mu, wd, nesterov)) \
                                                                                       \
FASTNN_BODY void                                                                       \
fastnn_sklearn_adam_##SUFFIX##_body(T *restrict p, const T *restrict g, T *restrict m, \
                                    T *restrict v, ptrdiff_t n, T neg_lr, T b1, T c1,  \
                                    T b2, T c2, T eps, T wd)                           \
{                                                                                      \
    if (wd == 0) {                                                                     \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T gi = g[i];                                                               \
            m[i] = b1 * m[i] + c1 * gi;                                                \
            v[i] = b2 * v[i] + c2 * (gi * gi);                                         \
            p[i] = p[i] + neg_lr * m[i] / (SQRT(v[i]) + eps);                          \
        }                                                                              \
    } else {                                                                           \
        for (ptrdiff_t i = 0; i < n; i++) {                                            \
            T gi = g[i] + wd * p[i];                                                   \
            m[i] = b1 * m[i] + c1 * gi;                                                \
            v[i] = b2 * v[i] + c2 * (gi * gi);                                         \
            p[i] = p[i] + neg_lr * m[i] / (SQRT(v[i]) + eps);                          \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
FASTNN_ISA_VARIANTS(void, , fastnn_sklearn_adam_##SUFFIX,                               \
                    (T *restrict p, const T *restrict g, T *restrict m, T *restrict v, \
                     ptrdiff_t n, T neg_lr, T b1, T c1, T b2, T c2, T eps, T wd),      \
                    (p, g, m, v, n, neg_lr, b1, c1, b2, c2, eps, wd))

#define FASTNN_LANES 16

#define FASTNN_SUM_SQUARES(T, SUFFIX)                                                  \
FASTNN_BODY double fastnn_sum_squares_##SUFFIX##_body(const T *restrict x, ptrdiff_t n) \
{                                                                                      \
    T lanes[FASTNN_LANES] = {0};                                                       \
    ptrdiff_t i = 0;                                                                   \
    for (; i + FASTNN_LANES <= n; i += FASTNN_LANES)                                   \
        for (int j = 0; j < FASTNN_LANES; j++)                                         \
            lanes[j] = lanes[j] + x[i + j] * x[i + j];                                 \
    for (int j = 0; i < n; i++, j++)                                                   \
        lanes[j] = lanes[j] + x[i] * x[i];                                             \
    double total = 0;                                                                  \
    for (int j = 0; j < FASTNN_LANES; j++)                                             \
        total += lanes[j];                                                             \
    return total;                                                                      \
}                                                                                      \
FASTNN_ISA_VARIANTS(double, return, fastnn_sum_squares_##SUFFIX,                       \
                    (const T *restrict x, ptrdiff_t n), (x, n))

FASTNN_SUM_SQUARES(float, f32)
FASTNN_SUM_SQUARES(double, f64)
#undef FASTNN_SUM_SQUARES

FASTNN_SKLEARN_LOOPS(float, f32, sqrtf)
FASTNN_SKLEARN_LOOPS(double, f64, sqrt)

#undef FASTNN_SKLEARN_LOOPS

#endif
