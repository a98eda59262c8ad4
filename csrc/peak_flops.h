/* Peak floating-point rate of one core on one instruction-set path.
 *
 * What it computes
 *   fastnn_peak_flops(isa, is_double, rounds) runs `rounds` rounds of
 *   multiply-adds on independent accumulators held in the vector registers of
 *   the path `isa` (csrc/isa.h) and returns the floating-point operations it
 *   did (2 per lane per multiply-add), or -1 when this build or CPU cannot
 *   run that path.  The caller times the call: operations over seconds is
 *   the rate this core reaches on that path with nothing but arithmetic in
 *   the way, the ceiling of any kernel running on the path.
 *     avx512  _mm512_fmadd_ps/pd, 16 accumulators
 *     avx2    _mm256_fmadd_ps/pd, 12 accumulators
 *     neon    vfmaq_f32/f64, 24 accumulators
 *     portable  acc = acc * m + a on GNU C vectors of 16 bytes (a multiply
 *             and an add: the build has -ffp-contract=off), 12 accumulators;
 *             the baseline target's vectors (SSE2 on x86-64), which is what
 *             the compiler vectorises the portable kernels to.
 *   The accumulator counts cover FMA latency times FMA units of current
 *   cores (x86: latency 4, 2 units: 8 chains needed; aarch64 cores with 4
 *   units: 16), with a margin, and leave registers for the two constants.
 *   Every accumulator converges to a / (1 - m) (m < 1), so no value
 *   overflows or becomes denormal however long the loop runs.
 *
 * Parallel strategy
 *   None: one call, one thread.  A caller wanting n cores' peak runs it on
 *   n threads, or multiplies (the FMA units are private to a core).
 *
 * Memory
 *   None: registers only; the accumulators' sum goes to a volatile sink so
 *   the compiler keeps the loop.
 */
#ifndef FASTNN_PEAK_FLOPS_H
#define FASTNN_PEAK_FLOPS_H

#include "isa.h"

#if FASTNN_HAVE_X86_PATHS
#include <immintrin.h>
#endif
#if FASTNN_HAVE_NEON_PATH
#include <arm_neon.h>
#endif

static volatile double fastnn_peak_sink;

#define FASTNN_PEAK_M 0.999999
#define FASTNN_PEAK_A 1e-6

/* One SIMD loop: NACC accumulators of vector type V with LANES lanes, FMA
 * intrinsic FMA(acc, m, a) = acc * m + a, broadcast SET1, lane sum SUM. */
#define FASTNN_PEAK_SIMD(NAME, ATTR, V, LANES, NACC, SET1, FMA, ADD, SUM)       \
    static __attribute__((noinline)) ATTR double NAME(long rounds)            \
    {                                                                          \
        V acc[NACC];                                                           \
        const V m = SET1(FASTNN_PEAK_M), a = SET1(FASTNN_PEAK_A);              \
        for (int i = 0; i < NACC; i++) acc[i] = SET1((double)i);               \
        for (long r = 0; r < rounds; r++)                                      \
            for (int i = 0; i < NACC; i++) acc[i] = FMA(acc[i], m, a);         \
        for (int i = 1; i < NACC; i++) acc[0] = ADD(acc[0], acc[i]);           \
        fastnn_peak_sink = (double)SUM(acc[0]);                                \
        return 2.0 * (LANES) * (NACC) * (double)rounds;                        \
    }

/* The portable path: GNU C vectors of 16 bytes, the compiler's baseline
 * vector width (SSE2 on x86-64, Advanced SIMD on aarch64; scalar code where
 * there is none), a multiply then an add. */
typedef float fastnn_peak_v4f __attribute__((vector_size(16)));
typedef double fastnn_peak_v2d __attribute__((vector_size(16)));
#define FASTNN_PEAK_SET1_V4F(x) ((fastnn_peak_v4f){0, 0, 0, 0} + (float)(x))
#define FASTNN_PEAK_SET1_V2D(x) ((fastnn_peak_v2d){0, 0} + (double)(x))
#define FASTNN_PEAK_MULADD(acc, m, a) ((acc) * (m) + (a))
#define FASTNN_PEAK_ADDV(x, y) ((x) + (y))
#define FASTNN_PEAK_SUM_V4F(v) ((v)[0] + (v)[1] + (v)[2] + (v)[3])
#define FASTNN_PEAK_SUM_V2D(v) ((v)[0] + (v)[1])
FASTNN_PEAK_SIMD(fastnn_peak_portable_f32, , fastnn_peak_v4f, 4, 12, FASTNN_PEAK_SET1_V4F,
                 FASTNN_PEAK_MULADD, FASTNN_PEAK_ADDV, FASTNN_PEAK_SUM_V4F)
FASTNN_PEAK_SIMD(fastnn_peak_portable_f64, , fastnn_peak_v2d, 2, 12, FASTNN_PEAK_SET1_V2D,
                 FASTNN_PEAK_MULADD, FASTNN_PEAK_ADDV, FASTNN_PEAK_SUM_V2D)

#if FASTNN_HAVE_X86_PATHS
static inline __attribute__((always_inline, target("avx2,fma"))) float
fastnn_peak_sum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
static inline __attribute__((always_inline, target("avx2,fma"))) double
fastnn_peak_sum256d(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define FASTNN_PEAK_SET1_PS(x) _mm256_set1_ps((float)(x))
FASTNN_PEAK_SIMD(fastnn_peak_avx2_f32, __attribute__((target("avx2,fma"))), __m256, 8, 12,
                 FASTNN_PEAK_SET1_PS, _mm256_fmadd_ps, _mm256_add_ps, fastnn_peak_sum256)
FASTNN_PEAK_SIMD(fastnn_peak_avx2_f64, __attribute__((target("avx2,fma"))), __m256d, 4, 12,
                 _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, fastnn_peak_sum256d)
#define FASTNN_PEAK_SET1_PS512(x) _mm512_set1_ps((float)(x))
FASTNN_PEAK_SIMD(fastnn_peak_avx512_f32, __attribute__((target("avx512f"))), __m512, 16, 16,
                 FASTNN_PEAK_SET1_PS512, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps)
FASTNN_PEAK_SIMD(fastnn_peak_avx512_f64, __attribute__((target("avx512f"))), __m512d, 8, 16,
                 _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_reduce_add_pd)
#endif

#if FASTNN_HAVE_NEON_PATH
/* vfmaq(a, b, c) = a + b * c: the accumulator is the addend here. */
#define FASTNN_PEAK_FMA_F32(acc, m, a) vfmaq_f32(a, acc, m)
#define FASTNN_PEAK_FMA_F64(acc, m, a) vfmaq_f64(a, acc, m)
#define FASTNN_PEAK_SET1_F32(x) vdupq_n_f32((float)(x))
FASTNN_PEAK_SIMD(fastnn_peak_neon_f32, , float32x4_t, 4, 24, FASTNN_PEAK_SET1_F32,
                 FASTNN_PEAK_FMA_F32, vaddq_f32, vaddvq_f32)
FASTNN_PEAK_SIMD(fastnn_peak_neon_f64, , float64x2_t, 2, 24, vdupq_n_f64,
                 FASTNN_PEAK_FMA_F64, vaddq_f64, vaddvq_f64)
#endif

/* Operations done by `rounds` rounds on path `isa`, or -1 when it cannot run here. */
static inline double fastnn_peak_flops(int isa, int is_double, long rounds)
{
    if (!fastnn_isa_supported(isa))
        return -1;
    switch (isa) {
#if FASTNN_HAVE_X86_PATHS
    case FASTNN_ISA_AVX512:
        return is_double ? fastnn_peak_avx512_f64(rounds) : fastnn_peak_avx512_f32(rounds);
    case FASTNN_ISA_AVX2:
        return is_double ? fastnn_peak_avx2_f64(rounds) : fastnn_peak_avx2_f32(rounds);
#endif
#if FASTNN_HAVE_NEON_PATH
    case FASTNN_ISA_NEON:
        return is_double ? fastnn_peak_neon_f64(rounds) : fastnn_peak_neon_f32(rounds);
#endif
    default:
        return is_double ? fastnn_peak_portable_f64(rounds) : fastnn_peak_portable_f32(rounds);
    }
}

#endif /* FASTNN_PEAK_FLOPS_H */
