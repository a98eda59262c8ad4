/* C harness for fastnn's own GEMM kernels (csrc/small_gemm.h, csrc/packed_gemm.h)
 * on every instruction-set path this build holds and this CPU runs, without
 * Python: the only test of the NEON path here, where it runs under qemu-user.
 *
 * Build and run (tests/c/run_gemm.sh does both, natively and for aarch64):
 *   gcc -O3 -ffp-contract=off -fno-math-errno -std=c11 -fopenmp -Icsrc \
 *       tests/c/test_gemm.c -o /tmp/test_gemm -lm && /tmp/test_gemm [path ...]
 * With path names (portable, avx2, avx512, neon) only those run; a path the
 * build or the CPU lacks is reported as skipped.
 *
 * What it checks, per path, float and double:
 *   - fastnn_{s,d}gemm_small and fastnn_{s,d}gemm_packed against a naive
 *     double-precision product, for every (trans_a, trans_b), shapes of 1, the
 *     vector tails of 2, 4, 8 and 16 lanes and the kernels' path edges (short-k
 *     TN, dot-product NT, packed NT, several k and n blocks of the packed
 *     kernel), with alpha/beta in {1, 0}, {-0.5, 0}, {1, 1}, {0.75, -1.25}:
 *     |C - ref| <= 2 (k + 3) u (|alpha| sum_p |a||b| + |beta c|), u the unit
 *     roundoff of the type;
 *   - beta == 0 never reads C (C starts as NaN) and k == 0 gives beta*C;
 *   - nothing is written outside C's m x n corner (the row padding holds a
 *     sentinel) and nothing is read past the end of any operand (each ends
 *     just before an inaccessible page);
 *   - determinism: the same call twice gives the same bits; the packed kernel
 *     gives the same bits with 1 and 2 OpenMP threads;
 *   - fastnn_{s,d}step_forward_small is bit for bit the two products it fuses.
 * Exit status: 0 when everything passed.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "packed_gemm.h"
#include "harness.h"
static double worst_ratio[2];   /* largest error / bound seen, [is_double] */

#define FAIL(...)                                                                    \
    do {                                                                             \
        if (n_fails++ < 20) {                                                        \
            printf("  FAIL: ");                                                      \
            printf(__VA_ARGS__);                                                     \
            printf("\n");                                                            \
        }                                                                            \
    } while (0)

/* The case being run, named when a kernel faults (a read past an operand's
 * end hits its guard page). */
static char current_case[160];

static void on_fault(int sig)
{
    static const char msg[] = "  FAULT (out-of-bounds access) in: ";
    if (write(2, msg, sizeof msg - 1) < 0 ||
        write(2, current_case, strlen(current_case)) < 0 || write(2, "\n", 1) < 0)
        _exit(3);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- operands ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1), deterministic. */
static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* `bytes` of memory that end right before a PROT_NONE page, so that a read
 * past the end faults; free with guarded_free. */
static void *guarded_alloc(size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t span = (bytes + page - 1) / page * page;
    char *base = mmap(NULL, span + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mprotect(base + span, page, PROT_NONE) != 0) {
        perror("guarded_alloc");
        exit(2);
    }
    return base + span - bytes;
}

static void guarded_free(void *p, size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t span = (bytes + page - 1) / page * page;
    munmap((char *)p + bytes - span, span + page);
}

static double get(const void *p, int dbl, ptrdiff_t i)
{
    return dbl ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void put(void *p, int dbl, ptrdiff_t i, double x)
{
    if (dbl)
        ((double *)p)[i] = x;
    else
        ((float *)p)[i] = (float)x;
}

/* ---- the kernels under test -------------------------------------------------- */

enum { SMALL = 0, PACKED = 1 };
static const char *const ENTRY_NAMES[2] = {"small", "packed"};

static void gemm(int entry, int dbl, int ta, int tb, int m, int n, int k, double alpha,
                 const void *A, int lda, const void *B, int ldb, double beta, void *C,
                 int ldc)
{
    if (dbl && entry == SMALL)
        fastnn_dgemm_small(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (dbl)
        fastnn_dgemm_packed(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                            omp_get_max_threads());
    else if (entry == SMALL)
        fastnn_sgemm_small(ta, tb, m, n, k, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc);
    else
        fastnn_sgemm_packed(ta, tb, m, n, k, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc,
                            omp_get_max_threads());
}

/* ---- one product checked ----------------------------------------------------- */

static const double SENTINEL = 12345.0;

/* Fills C's m x n corner (NaN when beta == 0, else copies c0) and its row
 * padding (the sentinel). */
static void fill_c(void *C, int dbl, int m, int n, int ldc, const void *c0, double beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
            const ptrdiff_t at = (ptrdiff_t)i * ldc + j;
            put(C, dbl, at, j >= n ? SENTINEL : beta == 0 ? NAN : get(c0, dbl, at));
        }
}

static void check_gemm(int entry, int dbl, int ta, int tb, int m, int n, int k,
                       double alpha, double beta, int pad)
{
    const size_t size = dbl ? sizeof(double) : sizeof(float);
    /* stored shapes: A is m x k (k x m when transposed), B k x n (n x k) */
    const int a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    /* the last row ends at the end of the buffer, before the guard page */
    const size_t a_len = a_rows > 0 ? (size_t)(a_rows - 1) * lda + a_cols : 0;
    const size_t b_len = b_rows > 0 ? (size_t)(b_rows - 1) * ldb + b_cols : 0;
    const size_t c_len = (size_t)m * ldc;
    void *A = guarded_alloc(a_len * size), *B = guarded_alloc(b_len * size);
    void *C = guarded_alloc(c_len * size), *C2 = guarded_alloc(c_len * size);
    void *c0 = malloc(c_len * size);
    for (size_t i = 0; i < a_len; i++) put(A, dbl, i, uniform());
    for (size_t i = 0; i < b_len; i++) put(B, dbl, i, uniform());
    for (size_t i = 0; i < c_len; i++) put(c0, dbl, i, uniform());
    snprintf(current_case, sizeof current_case, "%s %s t%d%d %dx%dx%d a=%g b=%g pad=%d",
             ENTRY_NAMES[entry], dbl ? "f64" : "f32", ta, tb, m, n, k, alpha, beta, pad);

    fill_c(C, dbl, m, n, ldc, c0, beta);
    gemm(entry, dbl, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    fill_c(C2, dbl, m, n, ldc, c0, beta);
    gemm(entry, dbl, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C2, ldc);

    const double u = dbl ? 0x1p-53 : 0x1p-24;
    int bad = 0;
    for (int i = 0; i < m && !bad; i++)
        for (int j = 0; j < ldc && !bad; j++) {
            const ptrdiff_t at = (ptrdiff_t)i * ldc + j;
            const double got = get(C, dbl, at);
            if (j >= n) {
                if (got != SENTINEL) {
                    FAIL("%s %s t%d%d %dx%dx%d a=%g b=%g: wrote C[%d,%d] past row end",
                         ENTRY_NAMES[entry], dbl ? "f64" : "f32", ta, tb, m, n, k, alpha,
                         beta, i, j);
                    bad = 1;
                }
                continue;
            }
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                const double a = get(A, dbl, ta ? (ptrdiff_t)p * lda + i
                                                : (ptrdiff_t)i * lda + p);
                const double b = get(B, dbl, tb ? (ptrdiff_t)j * ldb + p
                                                : (ptrdiff_t)p * ldb + j);
                s += a * b;
                mag += fabs(a * b);
            }
            const double cc = beta == 0 ? 0 : get(c0, dbl, at);
            const double want = alpha * s + beta * cc;
            const double bound = 2 * (k + 3) * u * (fabs(alpha) * mag + fabs(beta * cc))
                                 + 1e-300;
            const double err = fabs(got - want);
            if (!(err <= bound)) {
                FAIL("%s %s t%d%d %dx%dx%d a=%g b=%g pad=%d: C[%d,%d] = %.17g, want %.17g",
                     ENTRY_NAMES[entry], dbl ? "f64" : "f32", ta, tb, m, n, k, alpha, beta,
                     pad, i, j, got, want);
                bad = 1;
            } else if (err / bound > worst_ratio[dbl]) {
                worst_ratio[dbl] = err / bound;
            }
        }
    if (!bad && memcmp(C, C2, c_len * size) != 0)
        FAIL("%s %s t%d%d %dx%dx%d a=%g b=%g: two calls differ", ENTRY_NAMES[entry],
             dbl ? "f64" : "f32", ta, tb, m, n, k, alpha, beta);
    n_checks++;
    guarded_free(A, a_len * size);
    guarded_free(B, b_len * size);
    guarded_free(C, c_len * size);
    guarded_free(C2, c_len * size);
    free(c0);
}

static const double ALPHA_BETA[4][2] = {{1, 0}, {-0.5, 0}, {1, 1}, {0.75, -1.25}};

/* Small kernels: every transpose, alpha/beta and a grid of shapes around the
 * tails and the path edges (TN with k <= 12; NT with m <= 2 by dot products,
 * above by packing, k chunks of 128). */
static void test_small(int dbl)
{
    static const int MS[] = {1, 2, 3, 5, 7, 13, 26};
    static const int NS[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 130};
    static const int KS[] = {0, 1, 2, 3, 5, 12, 13, 17, 129};
    int case_no = 0;
    for (int t = 0; t < 4; t++)
        for (size_t mi = 0; mi < sizeof MS / sizeof *MS; mi++)
            for (size_t ni = 0; ni < sizeof NS / sizeof *NS; ni++)
                for (size_t ki = 0; ki < sizeof KS / sizeof *KS; ki++, case_no++) {
                    /* two of the four alpha/beta pairs per shape, all pairs
                     * over neighbouring shapes; odd row padding every other */
                    for (int h = 0; h < 2; h++) {
                        const double *ab = ALPHA_BETA[(case_no + 2 * h) % 4];
                        check_gemm(SMALL, dbl, t >> 1, t & 1, MS[mi], NS[ni], KS[ki],
                                   ab[0], ab[1], (case_no + h) % 2 ? 3 : 0);
                    }
                }
    /* textbook training shapes: 784-30-10 at batch 32, their three products */
    static const int BIG[][5] = {{32, 30, 784, 0, 0}, {784, 30, 32, 1, 0},
                                 {32, 784, 30, 0, 1}, {1, 30, 784, 0, 0},
                                 {784, 30, 1, 1, 0}, {1, 784, 30, 0, 1},
                                 {40, 33, 300, 0, 1}, {40, 33, 300, 1, 1}};
    for (size_t s = 0; s < sizeof BIG / sizeof *BIG; s++)
        for (int ab = 0; ab < 4; ab++)
            check_gemm(SMALL, dbl, BIG[s][3], BIG[s][4], BIG[s][0], BIG[s][1], BIG[s][2],
                       ALPHA_BETA[ab][0], ALPHA_BETA[ab][1], ab % 2 ? 3 : 0);
}

/* Packed kernel: tails of its 6- and 12-row tiles, several k blocks (KC = 384
 * floats, 256 doubles on AVX-512; 256 and 256 on NEON) and column blocks
 * (NB = 480 / 240 on AVX-512, 384 / 192 on NEON). */
static void test_packed(int dbl)
{
    static const int SHAPES[][3] = {{1, 1, 1}, {13, 37, 5}, {25, 70, 257},
                                    {12, 32, 385}, {61, 129, 40}, {7, 500, 30},
                                    {130, 9, 20}};
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++)
        for (int t = 0; t < 4; t++) {
            const double *ab = ALPHA_BETA[(s + t) % 4];
            check_gemm(PACKED, dbl, t >> 1, t & 1, SHAPES[s][0], SHAPES[s][1],
                       SHAPES[s][2], ab[0], ab[1], t % 2 ? 3 : 0);
        }
}

/* Packed kernel, 1 against 2 threads: same bits (a product big enough for
 * the driver to use both). */
static void test_packed_threads(int dbl)
{
    const size_t size = dbl ? sizeof(double) : sizeof(float);
    const int m = 150, n = 260, k = 300;
    void *A = malloc((size_t)m * k * size), *B = malloc((size_t)k * n * size);
    void *C1 = malloc((size_t)m * n * size), *C2 = malloc((size_t)m * n * size);
    for (ptrdiff_t i = 0; i < (ptrdiff_t)m * k; i++) put(A, dbl, i, uniform());
    for (ptrdiff_t i = 0; i < (ptrdiff_t)k * n; i++) put(B, dbl, i, uniform());
    snprintf(current_case, sizeof current_case, "packed %s 1 vs 2 threads",
             dbl ? "f64" : "f32");
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 4; t++) {
        const int ta = t >> 1, tb = t & 1;
        omp_set_num_threads(1);
        gemm(PACKED, dbl, ta, tb, m, n, k, 1, A, ta ? m : k, B, tb ? k : n, 0, C1, n);
        omp_set_num_threads(2);
        gemm(PACKED, dbl, ta, tb, m, n, k, 1, A, ta ? m : k, B, tb ? k : n, 0, C2, n);
        if (memcmp(C1, C2, (size_t)m * n * size) != 0)
            FAIL("packed %s t%d%d %dx%dx%d: 1 and 2 threads differ", dbl ? "f64" : "f32",
                 ta, tb, m, n, k);
        n_checks++;
    }
    omp_set_num_threads(saved);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

/* step_forward against the two products it fuses, bit for bit, every width up
 * to 4 vectors of 16 lanes and past it. */
static void test_step_forward(int dbl)
{
    static const int KS[] = {1, 2, 3, 5, 13, 100};
    static const double ALPHAS[] = {1, -0.7};
    const size_t size = dbl ? sizeof(double) : sizeof(float);
    for (int n = 1; n <= 4 * 16 + 2; n++)
        for (size_t ki = 0; ki < sizeof KS / sizeof *KS; ki++)
            for (int ai = 0; ai < 2; ai++) {
                const int k = KS[ki], ldw = n + (n % 2 ? 3 : 0);
                const double alpha = ALPHAS[ai];
                const size_t w_len = (size_t)(k - 1) * ldw + n;
                void *x_old = malloc(k * size), *x_new = malloc(k * size);
                void *dz = malloc(n * size);
                void *W1 = guarded_alloc(w_len * size), *W2 = guarded_alloc(w_len * size);
                void *z1 = guarded_alloc(n * size), *z2 = guarded_alloc(n * size);
                for (int p = 0; p < k; p++) {
                    put(x_old, dbl, p, uniform());
                    put(x_new, dbl, p, uniform());
                }
                for (int j = 0; j < n; j++) {
                    put(dz, dbl, j, uniform());
                    put(z1, dbl, j, NAN);
                    put(z2, dbl, j, NAN);
                }
                for (size_t i = 0; i < w_len; i++) {
                    const double w = (i % ldw) < (size_t)n ? uniform() : SENTINEL;
                    put(W1, dbl, i, w);
                    put(W2, dbl, i, w);
                }
                snprintf(current_case, sizeof current_case, "step_forward %s n=%d k=%d",
                         dbl ? "f64" : "f32", n, k);
                if (dbl) {
                    fastnn_dstep_forward_small(n, k, x_old, dz, alpha, x_new, W1, ldw, z1);
                    fastnn_dgemm_small(1, 0, k, n, 1, alpha, x_old, k, dz, n, 1.0, W2, ldw);
                    fastnn_dgemm_small(0, 0, 1, n, k, 1.0, x_new, k, W2, ldw, 0.0, z2, n);
                } else {
                    fastnn_sstep_forward_small(n, k, x_old, dz, (float)alpha, x_new, W1,
                                               ldw, z1);
                    fastnn_sgemm_small(1, 0, k, n, 1, (float)alpha, x_old, k, dz, n, 1.0f,
                                       W2, ldw);
                    fastnn_sgemm_small(0, 0, 1, n, k, 1.0f, x_new, k, W2, ldw, 0.0f, z2, n);
                }
                if (memcmp(W1, W2, w_len * size) != 0 || memcmp(z1, z2, n * size) != 0)
                    FAIL("step_forward %s n=%d k=%d alpha=%g: not the two products' bits"
                         " (fused path: %d)", dbl ? "f64" : "f32", n, k, alpha,
                         fastnn_small_step_forward_fits(n, dbl));
                for (int j = 0; j < n; j++)
                    if (isnan(get(z1, dbl, j))) {
                        FAIL("step_forward %s n=%d k=%d: z[%d] not written",
                             dbl ? "f64" : "f32", n, k, j);
                        break;
                    }
                n_checks++;
                free(x_old);
                free(x_new);
                free(dz);
                guarded_free(W1, w_len * size);
                guarded_free(W2, w_len * size);
                guarded_free(z1, n * size);
                guarded_free(z2, n * size);
            }
}

static void check_path(int isa)
{
    const long checks0 = n_checks, fails0 = n_fails;
    worst_ratio[0] = worst_ratio[1] = 0;
    for (int dbl = 0; dbl < 2; dbl++) {
        test_small(dbl);
        test_packed(dbl);
        test_packed_threads(dbl);
        test_step_forward(dbl);
    }
    printf("%-8s %s: %ld checks, %ld failed; largest error/bound f32 %.3f, f64 %.3f"
           " (small kernels: %s, packed kernel: %s)\n", FASTNN_ISA_NAMES[isa],
           n_fails == fails0 ? "ok" : "FAILED", n_checks - checks0, n_fails - fails0,
           worst_ratio[0], worst_ratio[1], fastnn_small_gemm_isa(),
           fastnn_pg_have_kernel() ? "own" : "none, the small kernels");
}

int main(int argc, char **argv)
{
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    return harness_run_paths(argc, argv, check_path);
}
