/* Hot elementwise loops compiled for several instruction sets, chosen at run time.
 *
 * The default build is portable (baseline x86-64: SSE2), so loops that GCC
 * would vectorise 16 floats wide on this machine run 4 wide.  Functions marked
 * FASTNN_CLONES are compiled once per target in the list and dispatched by the
 * dynamic loader on the CPU it finds (GCC's target_clones, an ifunc on glibc);
 * elsewhere the macro is empty and they compile once, portably.  Vectorising
 * an elementwise loop does not change its results: each element goes through
 * the same operations (the build forbids FMA contraction), so these stay
 * bit-identical to the NumPy reference.  Pointers are `restrict`: callers
 * pass buffers that do not overlap (the Python boundary rejects overlaps).
 * No allocation; the caller owns every buffer.
 */
#ifndef FASTNN_SIMD_LOOPS_H
#define FASTNN_SIMD_LOOPS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FASTNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTNN_CLONES
#endif

/* p[i] = p[i] - lr * g[i]: a plain gradient-descent step. */
FASTNN_CLONES static void
fastnn_descend_f32(float *restrict p, const float *restrict g, ptrdiff_t n, float lr)
{
    for (ptrdiff_t i = 0; i < n; i++)
        p[i] = p[i] - lr * g[i];
}

FASTNN_CLONES static void
fastnn_descend_f64(double *restrict p, const double *restrict g, ptrdiff_t n, double lr)
{
    for (ptrdiff_t i = 0; i < n; i++)
        p[i] = p[i] - lr * g[i];
}

/* 1 when none of the n values is NaN or infinite, else 0.  The values are
 * read as their bit patterns (float32 as uint32, float64 as uint64): a value
 * is not finite exactly when its exponent bits are all ones.  Integer tests
 * vectorise (floating-point reductions would not, without reassociation), and
 * the scan never stops early: the common case is "all finite", read once at
 * memory speed. */
FASTNN_CLONES static int
fastnn_all_finite_u32(const uint32_t *restrict bits, ptrdiff_t n)
{
    uint32_t bad = 0;
    for (ptrdiff_t i = 0; i < n; i++)
        bad |= (bits[i] & 0x7f800000u) == 0x7f800000u;
    return bad == 0;
}

FASTNN_CLONES static int
fastnn_all_finite_u64(const uint64_t *restrict bits, ptrdiff_t n)
{
    uint64_t bad = 0;
    for (ptrdiff_t i = 0; i < n; i++)
        bad |= (bits[i] & 0x7ff0000000000000u) == 0x7ff0000000000000u;
    return bad == 0;
}

/* dst[i] = src[i] for the n values, and the test above on them in the same
 * pass: 1 when all are finite.  For a copy that must also be checked (the
 * training loop's gather of a first epoch's rows), so the values are read
 * once, while the copy's memory traffic hides the test. */
#define FASTNN_COPY_ALL_FINITE(NAME, T, EXPONENT)                                   \
    FASTNN_CLONES static int                                                        \
    NAME(T *restrict dst, const T *restrict src, ptrdiff_t n)                       \
    {                                                                               \
        T bad = 0;                                                                  \
        for (ptrdiff_t i = 0; i < n; i++) {                                         \
            const T v = src[i];                                                     \
            dst[i] = v;                                                             \
            bad |= (v & (EXPONENT)) == (EXPONENT);                                  \
        }                                                                           \
        return bad == 0;                                                            \
    }
FASTNN_COPY_ALL_FINITE(fastnn_copy_all_finite_u32, uint32_t, 0x7f800000u)
FASTNN_COPY_ALL_FINITE(fastnn_copy_all_finite_u64, uint64_t, 0x7ff0000000000000u)
#undef FASTNN_COPY_ALL_FINITE

#endif
