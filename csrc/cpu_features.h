/* CPU-feature probe: the processor's brand string and the SIMD extensions it
 * supports at run time (not what the build targeted; see setup.py for that).
 *
 * x86 uses CPUID for the brand and the compiler's __builtin_cpu_supports for
 * the features; on other architectures the brand is empty and no feature is
 * reported.  Everything here is read-only and allocation-free: the caller owns
 * the output buffer.
 */
#ifndef FASTNN_CPU_FEATURES_H
#define FASTNN_CPU_FEATURES_H

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FASTNN_X86 1
#include <cpuid.h>
#else
#define FASTNN_X86 0
#endif

/* Writes the NUL-terminated brand string (at most 48 characters) into out[49]. */
static inline void fastnn_cpu_brand(char *out)
{
    memset(out, 0, 49);
#if FASTNN_X86
    unsigned int regs[12];
    unsigned int max_leaf = __get_cpuid_max(0x80000000u, 0);
    if (max_leaf < 0x80000004u) return;
    for (unsigned int i = 0; i < 3; i++) {
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1],
                    &regs[4 * i + 2], &regs[4 * i + 3]);
    }
    memcpy(out, regs, 48);
#endif
}

/* Writes the CPU's family, model and stepping (CPUID leaf 1, with the
 * extended fields folded in as the vendors document); zeros elsewhere. */
static inline void fastnn_cpu_signature(int *family, int *model, int *stepping)
{
    *family = *model = *stepping = 0;
#if FASTNN_X86
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    *stepping = (int)(a & 0xf);
    *family = (int)(base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family);
    *model = (int)((base_family == 0x6 || base_family == 0xf)
                   ? base_model + (((a >> 16) & 0xf) << 4) : base_model);
#endif
}

/* The features fastnn's kernels care about, in the order of FASTNN_FEATURE_NAMES. */
#define FASTNN_N_FEATURES 10
static const char *const FASTNN_FEATURE_NAMES[FASTNN_N_FEATURES] = {
    "sse2", "sse4.2", "avx", "avx2", "fma",
    "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512bf16"};

/* Writes 1 or 0 for each feature into out[FASTNN_N_FEATURES]. */
static inline void fastnn_cpu_features(int *out)
{
    memset(out, 0, FASTNN_N_FEATURES * sizeof(int));
#if FASTNN_X86
    __builtin_cpu_init();
    out[0] = __builtin_cpu_supports("sse2") != 0;
    out[1] = __builtin_cpu_supports("sse4.2") != 0;
    out[2] = __builtin_cpu_supports("avx") != 0;
    out[3] = __builtin_cpu_supports("avx2") != 0;
    out[4] = __builtin_cpu_supports("fma") != 0;
    out[5] = __builtin_cpu_supports("avx512f") != 0;
    out[6] = __builtin_cpu_supports("avx512bw") != 0;
    out[7] = __builtin_cpu_supports("avx512vl") != 0;
    out[8] = __builtin_cpu_supports("avx512dq") != 0;
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 11)
    out[9] = __builtin_cpu_supports("avx512bf16") != 0;
#endif
#endif
}

#endif
