/* C harness for the normalization loops (csrc/norm_loops.h) on every
 * instruction-set path this build holds and this CPU runs, without Python:
 * with tests/c/run_gemm.sh, the only test of their aarch64 (NEON) build here,
 * where it runs under qemu-user.
 *
 * Build and run (tests/c/run_gemm.sh does both, natively and for aarch64):
 *   gcc -O3 -ffp-contract=off -fno-math-errno -std=c11 -Icsrc \
 *       tests/c/test_norm.c -o /tmp/test_norm -lm && /tmp/test_norm [path ...]
 *
 * What it checks, per path, float and double, batch and layer kinds, shapes
 * below, at and past a row's 8-element blocks: forward (out, x̂, the
 * statistics, LayerNorm's row means and variances), backward (dX, dγ, dβ)
 * and inference are bit for bit those of the plain scalar code below, which
 * spells out the loops' documented operations one element at a time (the 8
 * partial sums of a row as 8 scalars).  So every path, on every CPU, gives
 * the same bits.  Exit status: 0 when everything passed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norm_loops.h"
#include "harness.h"

/* ---- the scalar oracle: the operations of norm_loops.h, element by element */

#define ORACLE(T, S)                                                                 \
static T combine_##S(const T *acc)                                                   \
{                                                                                    \
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
}                                                                                    \
static T rsqrt_##S(T x) { return (T)1 / (T)sqrt((double)x); }                        \
static void row_moments_##S(const T *x, T eps, long u, T *mean, T *var, T *rstd)     \
{                                                                                    \
    T acc[8] = {0}, inv_u = (T)1 / (T)u;                                             \
    for (long j = 0; j < u; j++)                                                     \
        acc[j % 8] = acc[j % 8] + x[j];                                              \
    const T m = combine_##S(acc) * inv_u;                                            \
    memset(acc, 0, sizeof acc);                                                      \
    for (long j = 0; j < u; j++) {                                                   \
        const T d = x[j] - m;                                                        \
        acc[j % 8] = acc[j % 8] + d * d;                                             \
    }                                                                                \
    *mean = m;                                                                       \
    *var = combine_##S(acc) * inv_u;                                                 \
    *rstd = rsqrt_##S(*var + eps);                                                   \
}                                                                                    \
static void forward_##S(int kind, const T *X, T *xhat, T *out, const T *g, const T *b, \
                        T *stats, T *row_mean, T *row_var, T e, long n, long u)      \
{                                                                                    \
    if (kind == FASTNN_NORM_BATCH) {                                                 \
        T *mean = stats, *rstd = stats + u, *var = stats + 2 * u, inv_n = (T)1 / (T)n; \
        for (long j = 0; j < u; j++) {                                               \
            mean[j] = 0;                                                             \
            for (long i = 0; i < n; i++)                                             \
                mean[j] = mean[j] + X[i * u + j];                                    \
            mean[j] = mean[j] * inv_n;                                               \
            var[j] = 0;                                                              \
            for (long i = 0; i < n; i++) {                                           \
                const T d = X[i * u + j] - mean[j];                                  \
                var[j] = var[j] + d * d;                                             \
            }                                                                        \
            var[j] = var[j] * inv_n;                                                 \
            rstd[j] = rsqrt_##S(var[j] + e);                                         \
            for (long i = 0; i < n; i++) {                                           \
                xhat[i * u + j] = (X[i * u + j] - mean[j]) * rstd[j];                \
                out[i * u + j] = g[j] * xhat[i * u + j] + b[j];                      \
            }                                                                        \
        }                                                                            \
        return;                                                                      \
    }                                                                                \
    for (long i = 0; i < n; i++) {                                                   \
        T m, v, r;                                                                   \
        row_moments_##S(X + i * u, e, u, &m, &v, &r);                                \
        stats[i] = r;                                                                \
        row_mean[i] = m;                                                             \
        row_var[i] = v;                                                              \
        for (long j = 0; j < u; j++) {                                               \
            xhat[i * u + j] = (X[i * u + j] - m) * r;                                \
            out[i * u + j] = g[j] * xhat[i * u + j] + b[j];                          \
        }                                                                            \
    }                                                                                \
}                                                                                    \
static void backward_##S(int kind, T *dY, const T *xhat, const T *stats, const T *g, \
                         T *dg, T *db, long n, long u)                               \
{                                                                                    \
    for (long j = 0; j < u; j++) {                                                   \
        dg[j] = db[j] = 0;                                                           \
        for (long i = 0; i < n; i++) {                                               \
            dg[j] = dg[j] + dY[i * u + j] * xhat[i * u + j];                         \
            db[j] = db[j] + dY[i * u + j];                                           \
        }                                                                            \
    }                                                                                \
    if (kind == FASTNN_NORM_BATCH) {                                                 \
        const T inv_n = (T)1 / (T)n;                                                 \
        for (long i = 0; i < n; i++)                                                 \
            for (long j = 0; j < u; j++)                                             \
                dY[i * u + j] = g[j] * stats[u + j] * (                              \
                    dY[i * u + j] - inv_n * (db[j] + xhat[i * u + j] * dg[j]));      \
        return;                                                                      \
    }                                                                                \
    const T inv_u = (T)1 / (T)u;                                                     \
    for (long i = 0; i < n; i++) {                                                   \
        T a1[8] = {0}, a2[8] = {0};                                                  \
        for (long j = 0; j < u; j++) {                                               \
            const T v = dY[i * u + j] * g[j];                                        \
            a1[j % 8] = a1[j % 8] + v;                                               \
            a2[j % 8] = a2[j % 8] + v * xhat[i * u + j];                             \
        }                                                                            \
        const T s1 = combine_##S(a1), s2 = combine_##S(a2);                          \
        for (long j = 0; j < u; j++)                                                 \
            dY[i * u + j] = stats[i] * (dY[i * u + j] * g[j]                         \
                                        - inv_u * (s1 + xhat[i * u + j] * s2));      \
    }                                                                                \
}                                                                                    \
static void inference_##S(int kind, T *X, const T *g, const T *b, const T *rm,       \
                          const T *rv, T e, long n, long u)                          \
{                                                                                    \
    for (long i = 0; i < n; i++) {                                                   \
        T m, v, r;                                                                   \
        if (kind != FASTNN_NORM_BATCH)                                               \
            row_moments_##S(X + i * u, e, u, &m, &v, &r);                            \
        for (long j = 0; j < u; j++)                                                 \
            X[i * u + j] = kind == FASTNN_NORM_BATCH                                 \
                ? g[j] * ((X[i * u + j] - rm[j]) * rsqrt_##S(rv[j] + e)) + b[j]      \
                : g[j] * ((X[i * u + j] - m) * r) + b[j];                            \
    }                                                                                \
}

ORACLE(float, f32)
ORACLE(double, f64)

/* ---- the checks ------------------------------------------------------------ */

static unsigned long long lcg_state = 88172645463325252ull;

static double uniform(void)   /* in [-1, 1) */
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / (double)(1ull << 52) - 1.0;
}

static void same_bits(const char *what, const void *got, const void *want, size_t bytes,
                      const char *path, const char *type, int kind, long n, long u)
{
    n_checks++;
    if (memcmp(got, want, bytes) != 0 && n_fails++ < 20)
        printf("  FAIL: %s differs (%s, %s, %s, n=%ld, units=%ld)\n", what, path, type,
               kind == FASTNN_NORM_BATCH ? "batch" : "layer", n, u);
}

#define CHECK_TYPE(T, S, NAME)                                                       \
static void check_##S(const char *path, int kind, long n, long u)                    \
{                                                                                    \
    const size_t nu = (size_t)(n * u), ns = (size_t)(3 * u > n ? 3 * u : n);         \
    T *X = malloc(nu * sizeof(T)), *dY = malloc(nu * sizeof(T));                     \
    T *h[2], *o[2], *st[2], *rm[2], *rv[2], *d[2], *dg[2], *db[2], *inf[2];          \
    T *g = malloc(u * sizeof(T)), *b = malloc(u * sizeof(T));                        \
    T *mu = malloc(u * sizeof(T)), *va = malloc(u * sizeof(T));                      \
    for (size_t i = 0; i < nu; i++) {                                                \
        X[i] = (T)(3 * uniform() + 1);                                               \
        dY[i] = (T)uniform();                                                        \
    }                                                                                \
    for (long j = 0; j < u; j++) {                                                   \
        g[j] = (T)uniform();                                                         \
        b[j] = (T)uniform();                                                         \
        mu[j] = (T)uniform();                                                        \
        va[j] = (T)(uniform() + 1.5);                                                \
    }                                                                                \
    for (int w = 0; w < 2; w++) {   /* 0: the loops, 1: the oracle */                \
        h[w] = malloc(nu * sizeof(T)); o[w] = malloc(nu * sizeof(T));                \
        d[w] = malloc(nu * sizeof(T)); inf[w] = malloc(nu * sizeof(T));              \
        st[w] = calloc(ns, sizeof(T)); rm[w] = calloc(n, sizeof(T));                 \
        rv[w] = calloc(n, sizeof(T)); dg[w] = malloc(u * sizeof(T));                 \
        db[w] = malloc(u * sizeof(T));                                               \
        memcpy(d[w], dY, nu * sizeof(T));                                            \
        memcpy(inf[w], X, nu * sizeof(T));                                           \
    }                                                                                \
    const double eps = 1e-5;                                                         \
    int layer = kind != FASTNN_NORM_BATCH;                                           \
    fastnn_norm_forward_##S(kind, X, h[0], o[0], g, b, st[0], layer ? rm[0] : NULL,  \
                            layer ? rv[0] : NULL, eps, n, u);                        \
    forward_##S(kind, X, h[1], o[1], g, b, st[1], rm[1], rv[1], (T)eps, n, u);       \
    fastnn_norm_backward_##S(kind, d[0], h[0], st[0], g, dg[0], db[0], n, u);        \
    backward_##S(kind, d[1], h[1], st[1], g, dg[1], db[1], n, u);                    \
    fastnn_norm_inference_##S(kind, inf[0], g, b, mu, va, eps, n, u);                \
    inference_##S(kind, inf[1], g, b, mu, va, (T)eps, n, u);                         \
    same_bits("out", o[0], o[1], nu * sizeof(T), path, NAME, kind, n, u);            \
    same_bits("xhat", h[0], h[1], nu * sizeof(T), path, NAME, kind, n, u);           \
    same_bits("stats", st[0], st[1], (layer ? n : 3 * u) * sizeof(T), path, NAME, kind, n, u); \
    if (layer) {                                                                     \
        same_bits("row means", rm[0], rm[1], n * sizeof(T), path, NAME, kind, n, u); \
        same_bits("row variances", rv[0], rv[1], n * sizeof(T), path, NAME, kind, n, u); \
    }                                                                                \
    same_bits("dX", d[0], d[1], nu * sizeof(T), path, NAME, kind, n, u);             \
    same_bits("dgamma", dg[0], dg[1], u * sizeof(T), path, NAME, kind, n, u);        \
    same_bits("dbeta", db[0], db[1], u * sizeof(T), path, NAME, kind, n, u);         \
    same_bits("inference", inf[0], inf[1], nu * sizeof(T), path, NAME, kind, n, u);  \
    for (int w = 0; w < 2; w++) {                                                    \
        free(h[w]); free(o[w]); free(d[w]); free(inf[w]); free(st[w]);               \
        free(rm[w]); free(rv[w]); free(dg[w]); free(db[w]);                          \
    }                                                                                \
    free(X); free(dY); free(g); free(b); free(mu); free(va);                         \
}

CHECK_TYPE(float, f32, "float")
CHECK_TYPE(double, f64, "double")

static void check_path(int isa)
{
    static const long shapes[][2] = {{1, 1}, {1, 3}, {2, 8}, {5, 13}, {9, 16}, {4, 17},
                                     {33, 100}, {3, 300}};
    const long checks0 = n_checks, fails0 = n_fails;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 1; kind <= 2; kind++) {
            check_f32(FASTNN_ISA_NAMES[isa], kind, shapes[s][0], shapes[s][1]);
            check_f64(FASTNN_ISA_NAMES[isa], kind, shapes[s][0], shapes[s][1]);
        }
    printf("%-8s %s: %ld normalization checks, %ld failed (bit for bit with the "
           "scalar oracle)\n", FASTNN_ISA_NAMES[isa], n_fails == fails0 ? "ok" : "FAILED",
           n_checks - checks0, n_fails - fails0);
}

int main(int argc, char **argv)
{
    return harness_run_paths(argc, argv, check_path);
}
