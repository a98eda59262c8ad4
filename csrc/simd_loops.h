/* Hot elementwise loops compiled for each instruction-set path, chosen at run time.
 *
 * The default build is portable (baseline x86-64: SSE2), so loops that GCC
 * would vectorise 16 floats wide on an AVX-512 CPU run 4 wide.  Each loop is
 * written once, as an always-inline body; FASTNN_ISA_VARIANTS compiles that
 * body once per path of csrc/isa.h (x86: AVX-512F and AVX2+FMA through target
 * attributes, and the baseline) and a dispatcher, named like the loop, calls
 * the variant of the active path (fastnn_isa(), which FASTNN_ISA and
 * fastnn.set_isa choose).  Vectorising an elementwise loop does not change
 * its results: each element goes through the same operations (the build
 * forbids FMA contraction), so every variant stays bit-identical to the NumPy
 * reference.  Pointers are `restrict`: callers pass buffers that do not
 * overlap (the Python boundary rejects overlaps).  No allocation; the caller
 * owns every buffer.
 */
#ifndef FASTNN_SIMD_LOOPS_H
#define FASTNN_SIMD_LOOPS_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

#define FASTNN_BODY static inline __attribute__((always_inline))

/* NAME PARAMS -> RET, dispatching to NAME_body compiled for each path.
 * PARAMS and ARGS are parenthesised lists (the parameters, and their names);
 * RETURN is `return`, or nothing for a void loop. */
#if FASTNN_HAVE_X86_PATHS
#define FASTNN_ISA_VARIANTS(RET, RETURN, NAME, PARAMS, ARGS)                        \
    static __attribute__((target("avx512f"))) RET NAME##_avx512 PARAMS              \
    { RETURN NAME##_body ARGS; }                                                    \
    static __attribute__((target("avx2,fma"))) RET NAME##_avx2 PARAMS               \
    { RETURN NAME##_body ARGS; }                                                    \
    static RET NAME##_portable PARAMS { RETURN NAME##_body ARGS; }                  \
    static inline RET NAME PARAMS                                                   \
    {                                                                               \
        switch (fastnn_isa()) {                                                     \
        case FASTNN_ISA_AVX512: RETURN NAME##_avx512 ARGS; break;                   \
        case FASTNN_ISA_AVX2: RETURN NAME##_avx2 ARGS; break;                       \
        default: RETURN NAME##_portable ARGS; break;                                \
        }                                                                           \
    }
#else   /* one variant: the baseline (on aarch64 it is the NEON path) */
#define FASTNN_ISA_VARIANTS(RET, RETURN, NAME, PARAMS, ARGS)                        \
    static inline RET NAME PARAMS { RETURN NAME##_body ARGS; }
#endif

/* p[i] = p[i] - lr * g[i]: a plain gradient-descent step. */
#define FASTNN_DESCEND(NAME, T)                                                     \
    FASTNN_BODY void NAME##_body(T *restrict p, const T *restrict g, ptrdiff_t n, T lr) \
    {                                                                               \
        for (ptrdiff_t i = 0; i < n; i++)                                           \
            p[i] = p[i] - lr * g[i];                                                \
    }                                                                               \
    FASTNN_ISA_VARIANTS(void, , NAME, (T *restrict p, const T *restrict g, ptrdiff_t n, T lr), \
                        (p, g, n, lr))
FASTNN_DESCEND(fastnn_descend_f32, float)
FASTNN_DESCEND(fastnn_descend_f64, double)
#undef FASTNN_DESCEND

/* 1 when none of the n values is NaN or infinite, else 0.  The values are
 * read as their bit patterns (float32 as uint32, float64 as uint64): a value
 * is not finite exactly when its exponent bits are all ones.  Integer tests
 * vectorise (floating-point reductions would not, without reassociation), and
 * the scan never stops early: the common case is "all finite", read once at
 * memory speed. */
#define FASTNN_ALL_FINITE(NAME, T, EXPONENT)                                        \
    FASTNN_BODY int NAME##_body(const T *restrict bits, ptrdiff_t n)                \
    {                                                                               \
        T bad = 0;                                                                  \
        for (ptrdiff_t i = 0; i < n; i++)                                           \
            bad |= (bits[i] & (EXPONENT)) == (EXPONENT);                            \
        return bad == 0;                                                            \
    }                                                                               \
    FASTNN_ISA_VARIANTS(int, return, NAME, (const T *restrict bits, ptrdiff_t n), (bits, n))
FASTNN_ALL_FINITE(fastnn_all_finite_u32, uint32_t, 0x7f800000u)
FASTNN_ALL_FINITE(fastnn_all_finite_u64, uint64_t, 0x7ff0000000000000u)
#undef FASTNN_ALL_FINITE

/* dst[i] = src[i] for the n values, and the test above on them in the same
 * pass: 1 when all are finite.  For a copy that must also be checked (the
 * training loop's gather of a first epoch's rows), so the values are read
 * once, while the copy's memory traffic hides the test. */
#define FASTNN_COPY_ALL_FINITE(NAME, T, EXPONENT)                                   \
    FASTNN_BODY int NAME##_body(T *restrict dst, const T *restrict src, ptrdiff_t n) \
    {                                                                               \
        T bad = 0;                                                                  \
        for (ptrdiff_t i = 0; i < n; i++) {                                         \
            const T v = src[i];                                                     \
            dst[i] = v;                                                             \
            bad |= (v & (EXPONENT)) == (EXPONENT);                                  \
        }                                                                           \
        return bad == 0;                                                            \
    }                                                                               \
    FASTNN_ISA_VARIANTS(int, return, NAME, (T *restrict dst, const T *restrict src, ptrdiff_t n), \
                        (dst, src, n))
FASTNN_COPY_ALL_FINITE(fastnn_copy_all_finite_u32, uint32_t, 0x7f800000u)
FASTNN_COPY_ALL_FINITE(fastnn_copy_all_finite_u64, uint64_t, 0x7ff0000000000000u)
#undef FASTNN_COPY_ALL_FINITE

#endif
