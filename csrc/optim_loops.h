/* PyTorch's adaptive optimizer steps (Adam, AdamW, AMSGrad, RMSprop, Adagrad)
 * and the gradient norm of clip_norm, compiled for each instruction-set path
 * and chosen at run time (FASTNN_ISA_VARIANTS, see simd_loops.h): the portable
 * build would run them 4 floats wide, and each element costs a square root
 * and one or two divisions, so the width is most of their time.
 *
 * Each element goes through exactly the operations of fastnn.reference's
 * adam_update / adamw_update / rmsprop_update / adagrad_update, in the same
 * order (the build forbids FMA contraction; vector sqrt and division are
 * correctly rounded), so the results are bit-identical to the reference
 * whatever the width.  The scalars arrive rounded to T by the caller
 * (fastnn/_kernels/optim.pyx).  gi = g + wd·p is the L2 term (wd = 0: gi = g
 * exactly).  Pointers are `restrict`: the callers pass distinct buffers; the
 * optional state buffers (v_max, b, gbar) may be NULL.  No allocation.
 *
 *   Adam:     p = p·decay (AdamW's 1 − lr·λ; 1 for Adam, exact);
 *             m = m·b1 + c1·gi; v = v·b2 + c2·(gi·gi); (AMSGrad: v̂ = max(v̂, v));
 *             p = p − lr·m / (√v / sqrt_bc2 + eps)       (lr = lr/(1−β₁ᵗ), v̂ for v)
 *   RMSprop:  s = s·rho + c·(gi·gi); (centered: ḡ = ḡ·rho + c·gi; d = √(s − ḡ·ḡ) + eps,
 *             else d = √s + eps); p = p − lr·gi/d, or with momentum
 *             b = b·mu + gi/d; p = p − lr·b                         (c = 1 − rho)
 *   Adagrad:  s = s + gi·gi; p = p − lr·gi/(√s + eps)      (lr = lr/(1 + (t−1)·lr_decay))
 *
 * Σ x² in double (the global norm of clip_norm): 8 partial sums, element i
 * in sum i mod 8, then the sums in order: it vectorises without reassociation
 * and gives the same bits on every run, thread count and instruction set.
 */
#ifndef FASTNN_OPTIM_LOOPS_H
#define FASTNN_OPTIM_LOOPS_H

#include <math.h>
#include <stddef.h>

#include "simd_loops.h"

#define FASTNN_L2(T) T gi = wd != 0 ? g[i] + wd * p[i] : g[i];

#define FASTNN_OPTIM_LOOPS(T, SUFFIX, SQRT)                                              \
FASTNN_BODY void                                                                         \
fastnn_adam_##SUFFIX##_body(T *restrict p, const T *restrict g, T *restrict m,           \
                            T *restrict v, T *restrict v_max, ptrdiff_t n, T lr, T b1,   \
                            T c1, T b2, T c2, T sqrt_bc2, T eps, T wd, T decay)          \
{                                                                                        \
    if (v_max != NULL) {                                                                 \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            T pi = p[i] * decay;                                                         \
            m[i] = m[i] * b1 + c1 * gi;                                                  \
            v[i] = v[i] * b2 + c2 * (gi * gi);                                           \
            T vm = v[i] > v_max[i] ? v[i] : v_max[i];                                    \
            v_max[i] = vm;                                                               \
            p[i] = pi - lr * m[i] / (SQRT(vm) / sqrt_bc2 + eps);                         \
        }                                                                                \
    } else if (decay != 1) {                                                             \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            T pi = p[i] * decay;                                                         \
            m[i] = m[i] * b1 + c1 * gi;                                                  \
            v[i] = v[i] * b2 + c2 * (gi * gi);                                           \
            p[i] = pi - lr * m[i] / (SQRT(v[i]) / sqrt_bc2 + eps);                       \
        }                                                                                \
    } else {                                                                             \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            m[i] = m[i] * b1 + c1 * gi;                                                  \
            v[i] = v[i] * b2 + c2 * (gi * gi);                                           \
            p[i] = p[i] - lr * m[i] / (SQRT(v[i]) / sqrt_bc2 + eps);                     \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_adam_##SUFFIX,                                        \
                    (T *restrict p, const T *restrict g, T *restrict m, T *restrict v,   \
                     T *restrict v_max, ptrdiff_t n, T lr, T b1, T c1, T b2, T c2,       \
                     T sqrt_bc2, T eps, T wd, T decay),                                  \
                    (p, g, m, v, v_max, n, lr, b1, c1, b2, c2, sqrt_bc2, eps, wd, decay)) \
                                                                                         \
FASTNN_BODY void                                                                         \
fastnn_rmsprop_##SUFFIX##_body(T *restrict p, const T *restrict g, T *restrict s,        \
                               T *restrict b, T *restrict gbar, ptrdiff_t n, T lr,       \
                               T rho, T c, T mu, T eps, T wd)                            \
{                                                                                        \
    if (gbar == NULL && b == NULL) {                                                     \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            s[i] = s[i] * rho + c * (gi * gi);                                           \
            p[i] = p[i] - lr * gi / (SQRT(s[i]) + eps);                                  \
        }                                                                                \
    } else if (gbar == NULL) {                                                           \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            s[i] = s[i] * rho + c * (gi * gi);                                           \
            b[i] = b[i] * mu + gi / (SQRT(s[i]) + eps);                                  \
            p[i] = p[i] - lr * b[i];                                                     \
        }                                                                                \
    } else if (b == NULL) {                                                              \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            s[i] = s[i] * rho + c * (gi * gi);                                           \
            gbar[i] = gbar[i] * rho + c * gi;                                            \
            p[i] = p[i] - lr * gi / (SQRT(s[i] - gbar[i] * gbar[i]) + eps);              \
        }                                                                                \
    } else {                                                                             \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            FASTNN_L2(T)                                                                 \
            s[i] = s[i] * rho + c * (gi * gi);                                           \
            gbar[i] = gbar[i] * rho + c * gi;                                            \
            b[i] = b[i] * mu + gi / (SQRT(s[i] - gbar[i] * gbar[i]) + eps);              \
            p[i] = p[i] - lr * b[i];                                                     \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_rmsprop_##SUFFIX,                                     \
                    (T *restrict p, const T *restrict g, T *restrict s, T *restrict b,   \
                     T *restrict gbar, ptrdiff_t n, T lr, T rho, T c, T mu, T eps, T wd), \
                    (p, g, s, b, gbar, n, lr, rho, c, mu, eps, wd))                      \
                                                                                         \
FASTNN_BODY void                                                                         \
fastnn_adagrad_##SUFFIX##_body(T *restrict p, const T *restrict g, T *restrict s,        \
                               ptrdiff_t n, T lr, T eps, T wd)                           \
{                                                                                        \
    for (ptrdiff_t i = 0; i < n; i++) {                                                  \
        FASTNN_L2(T)                                                                     \
        s[i] = s[i] + gi * gi;                                                           \
        p[i] = p[i] - lr * gi / (SQRT(s[i]) + eps);                                      \
    }                                                                                    \
}                                                                                        \
FASTNN_ISA_VARIANTS(void, , fastnn_adagrad_##SUFFIX,                                     \
                    (T *restrict p, const T *restrict g, T *restrict s, ptrdiff_t n,     \
                     T lr, T eps, T wd), (p, g, s, n, lr, eps, wd))                      \
                                                                                         \
FASTNN_BODY double fastnn_sum_squares_wide_##SUFFIX##_body(const T *restrict x,         \
                                                           ptrdiff_t n)                  \
{                                                                                        \
    double lanes[8] = {0};                                                               \
    ptrdiff_t i = 0;                                                                     \
    for (; i + 8 <= n; i += 8)                                                           \
        for (int j = 0; j < 8; j++) {                                                    \
            double xj = x[i + j];                                                        \
            lanes[j] = lanes[j] + xj * xj;                                               \
        }                                                                                \
    for (int j = 0; i < n; i++, j++) {                                                   \
        double xj = x[i];                                                                \
        lanes[j] = lanes[j] + xj * xj;                                                   \
    }                                                                                    \
    double total = 0;                                                                    \
    for (int j = 0; j < 8; j++)                                                          \
        total += lanes[j];                                                               \
    return total;                                                                        \
}                                                                                        \
FASTNN_ISA_VARIANTS(double, return, fastnn_sum_squares_wide_##SUFFIX,                    \
                    (const T *restrict x, ptrdiff_t n), (x, n))

FASTNN_OPTIM_LOOPS(float, f32, sqrtf)
FASTNN_OPTIM_LOOPS(double, f64, sqrt)

#undef FASTNN_OPTIM_LOOPS
#undef FASTNN_L2

#endif
