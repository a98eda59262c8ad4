/* What the plain-C harnesses (test_gemm.c, test_norm.c) share: the counts of
 * checks and failures, and the run over the instruction-set paths named on
 * the command line (every path when none is named).  Not a public header. */
#ifndef FASTNN_TEST_HARNESS_H
#define FASTNN_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "isa.h"

static long n_checks, n_fails;

/* Runs check_path(isa) on each path asked for in argv[1:] (path names; none:
 * all) that this build holds and this CPU runs, after making it the active
 * path; reports the others as skipped.  Returns main's exit status: 2 for an
 * unknown name or when no path ran, 1 when a check failed, else 0. */
static int harness_run_paths(int argc, char **argv, void (*check_path)(int isa))
{
    int want[FASTNN_N_ISA] = {0};
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (int isa = 0; isa < FASTNN_N_ISA; isa++)
            if (strcmp(argv[a], FASTNN_ISA_NAMES[isa]) == 0)
                want[isa] = found = 1;
        if (!found) {
            fprintf(stderr, "unknown path %s\n", argv[a]);
            return 2;
        }
    }
    int ran = 0;
    for (int isa = 0; isa < FASTNN_N_ISA; isa++) {
        if (argc > 1 && !want[isa])
            continue;
        if (!fastnn_isa_set(isa)) {
            printf("%-8s skipped: not in this build or not on this CPU\n",
                   FASTNN_ISA_NAMES[isa]);
            continue;
        }
        check_path(isa);
        ran++;
    }
    if (ran == 0) {
        printf("no path ran\n");
        return 2;
    }
    return n_fails == 0 ? 0 : 1;
}

#endif
