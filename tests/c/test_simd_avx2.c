/* C harness for csrc/simd_avx2.h (masks, transposes, reduce, lane moves).
 * Build and run on an AVX2+FMA CPU:
 *   gcc -O3 -ffp-contract=off -std=c11 -Wall -Icsrc tests/c/test_simd_avx2.c -o /tmp/t && /tmp/t
 */
#include <stdio.h>
#include <string.h>
#include "simd_avx2.h"
static int fails = 0;
#define CHECK(c) do { if (!(c)) { fails++; if (fails < 10) printf("FAIL %s line %d\n", #c, __LINE__); } } while (0)
FASTNN_AVX2_TARGET static void run(void) {
    float src[8 * 11], dst[8 * 9]; double sd[4 * 7], dd[4 * 5];
    for (int i = 0; i < 88; i++) src[i] = (float)(i + 1);
    for (int i = 0; i < 28; i++) sd[i] = i + 1;
    for (int nrows = 1; nrows <= 8; nrows++) for (int np = 0; np <= 8; np++) {
        for (int i = 0; i < 72; i++) dst[i] = -1;
        fastnn_avx2_transpose_s(src, 11, nrows, np, dst, 9);
        for (int p = 0; p < 8; p++) for (int r = 0; r < 9; r++) {
            float want = (p < np && r < 8) ? src[(r < nrows ? r : nrows - 1) * 11 + p] : -1;
            if (r < 8 && r >= nrows && p < np) continue;  /* unspecified-ish: repeats last row */
            CHECK(dst[p * 9 + r] == want);
        }
    }
    for (int nrows = 1; nrows <= 4; nrows++) for (int np = 0; np <= 4; np++) {
        for (int i = 0; i < 20; i++) dd[i] = -1;
        fastnn_avx2_transpose_d(sd, 7, nrows, np, dd, 5);
        for (int p = 0; p < 4; p++) for (int r = 0; r < 5; r++) {
            double want = (p < np && r < 4) ? sd[(r < nrows ? r : nrows - 1) * 7 + p] : -1;
            CHECK(dd[p * 5 + r] == want);
        }
    }
    for (int l = 0; l <= 9; l++) {
        __m256i m = fastnn_avx2_tail_mask_s(l); int c = l > 8 ? 8 : l;
        CHECK(fastnn_avx2_mask_count_s(m) == c);
        float out[8] = {0}; _mm256_maskstore_ps(out, m, _mm256_set1_ps(1));
        for (int i = 0; i < 8; i++) CHECK(out[i] == (i < c));
        __m256i md = fastnn_avx2_tail_mask_d(l); int cd = l > 4 ? 4 : l;
        CHECK(fastnn_avx2_mask_count_d(md) == cd);
        double od[4] = {0}; _mm256_maskstore_pd(od, md, _mm256_set1_pd(1));
        for (int i = 0; i < 4; i++) CHECK(od[i] == (i < cd));
    }
    __m256 v[8]; float vs[8][8], sum[8];
    for (int i = 0; i < 8; i++) { for (int j = 0; j < 8; j++) vs[i][j] = (float)(i * 8 + j) * 0.5f + 1; v[i] = _mm256_loadu_ps(vs[i]); }
    _mm256_storeu_ps(sum, fastnn_avx2_reduce_s(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[0], v[0], v[0], v[0], v[0], v[0], v[0], v[0]));
    for (int i = 0; i < 8; i++) { float s = 0; for (int j = 0; j < 8; j++) s += vs[i][j]; CHECK(sum[i] == s); }
    __m256d w[4]; double ws[4][4], sumd[4];
    for (int i = 0; i < 4; i++) { for (int j = 0; j < 4; j++) ws[i][j] = i * 4 + j + 0.25; w[i] = _mm256_loadu_pd(ws[i]); }
    _mm256_storeu_pd(sumd, fastnn_avx2_reduce_d(w[0], w[1], w[2], w[3], w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0]));
    for (int i = 0; i < 4; i++) { double s = 0; for (int j = 0; j < 4; j++) s += ws[i][j]; CHECK(sumd[i] == s); }
    for (int sh = 0; sh < 8; sh++) {
        float o[8]; _mm256_storeu_ps(o, fastnn_avx2_lanes_down_s(v[1], sh));
        for (int l = 0; l + sh < 8; l++) CHECK(o[l] == vs[1][l + sh]);
    }
    for (int sh = 0; sh < 4; sh++) {
        double o[4]; _mm256_storeu_pd(o, fastnn_avx2_lanes_down_d(w[2], sh));
        for (int l = 0; l + sh < 4; l++) CHECK(o[l] == ws[2][l + sh]);
    }
}
int main(void) { run(); printf("%s (%d failures)\n", fails ? "FAILED" : "ok", fails); return fails != 0; }
