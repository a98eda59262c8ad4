/* Instruction-set paths: which SIMD code fastnn's own kernels run.
 *
 * What it decides
 *   fastnn's kernels exist once per path: "avx512" (AVX-512F), "avx2" (AVX2
 *   with FMA, x86-64-v3), "neon" (aarch64 Advanced SIMD) and "portable" (plain
 *   C, every CPU).  The build compiles every path its target can hold (x86
 *   paths through function target attributes, so the build itself stays
 *   baseline x86-64); which one runs is chosen at run time: the best path the
 *   CPU supports, or the one FASTNN_ISA names (a path the CPU lacks falls back
 *   to the best one here; the Python layer refuses it with a clear error
 *   before any kernel runs, so no kernel ever executes an instruction the CPU
 *   does not have).  fastnn.set_isa() switches the path at run time, for
 *   tests and comparisons.
 *
 * State
 *   Every extension module that includes this header holds its own copy of
 *   the active path (a static int), initialised on first use;
 *   fastnn/_isa.py sets all copies together.  Reads and writes are relaxed
 *   atomics: the value changes only between kernel calls (set_isa documents
 *   that), never during one.  Nothing is allocated.
 */
#ifndef FASTNN_ISA_H
#define FASTNN_ISA_H

#include <stdlib.h>
#include <string.h>

enum {
    FASTNN_ISA_PORTABLE = 0,
    FASTNN_ISA_AVX2 = 1,
    FASTNN_ISA_AVX512 = 2,
    FASTNN_ISA_NEON = 3,
    FASTNN_N_ISA = 4
};

static const char *const FASTNN_ISA_NAMES[FASTNN_N_ISA] = {
    "portable", "avx2", "avx512", "neon"};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTNN_HAVE_X86_PATHS 1     /* avx2 and avx512 compiled in */
#else
#define FASTNN_HAVE_X86_PATHS 0
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#define FASTNN_HAVE_NEON_PATH 1     /* NEON is part of the aarch64 baseline */
#else
#define FASTNN_HAVE_NEON_PATH 0
#endif

/* 1 when this build holds the path and this CPU can run it. */
static inline int fastnn_isa_supported(int isa)
{
    switch (isa) {
    case FASTNN_ISA_PORTABLE:
        return 1;
#if FASTNN_HAVE_X86_PATHS
    case FASTNN_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FASTNN_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
#endif
#if FASTNN_HAVE_NEON_PATH
    case FASTNN_ISA_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

/* The fastest path this CPU supports. */
static inline int fastnn_isa_best(void)
{
    if (fastnn_isa_supported(FASTNN_ISA_AVX512)) return FASTNN_ISA_AVX512;
    if (fastnn_isa_supported(FASTNN_ISA_AVX2)) return FASTNN_ISA_AVX2;
    if (fastnn_isa_supported(FASTNN_ISA_NEON)) return FASTNN_ISA_NEON;
    return FASTNN_ISA_PORTABLE;
}

/* The path FASTNN_ISA names, when it names one this CPU supports; else the
 * best path. */
static inline int fastnn_isa_initial(void)
{
    const char *want = getenv("FASTNN_ISA");
    if (want != NULL && want[0] != '\0') {
        for (int isa = 0; isa < FASTNN_N_ISA; isa++)
            if (strcmp(want, FASTNN_ISA_NAMES[isa]) == 0 && fastnn_isa_supported(isa))
                return isa;
    }
    return fastnn_isa_best();
}

static int fastnn_isa_state = -1;

/* The active path (FASTNN_ISA_*). */
static inline int fastnn_isa(void)
{
    int s = __atomic_load_n(&fastnn_isa_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = fastnn_isa_initial();
        __atomic_store_n(&fastnn_isa_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

/* Makes `isa` the active path; returns 0 (nothing changed) when this build
 * or CPU cannot run it, else 1. */
static inline int fastnn_isa_set(int isa)
{
    if (isa < 0 || isa >= FASTNN_N_ISA || !fastnn_isa_supported(isa))
        return 0;
    __atomic_store_n(&fastnn_isa_state, isa, __ATOMIC_RELAXED);
    return 1;
}

#endif /* FASTNN_ISA_H */
