/* Dropout masks from a counter-based generator (fastnn.layers.Dropout).
 *
 * What it computes
 *   A unit survives when the top 24 bits of a 32-bit hash reach `threshold`
 *   = round(rate · 2^24), so it is dropped with probability rate (to 2^-24).
 *   The hash is a function of the unit, the sample's row in the training set
 *   (not its place in a batch), the layer, the epoch and the model's dropout
 *   key, in three stages: fastnn_dropout_stream(key, epoch, layer) and
 *   fastnn_dropout_row(stream, row) are SplitMix64's finaliser (Steele, Lea
 *   and Flood 2014) applied to Weyl sequences, once per layer and once per
 *   row; each unit's bits are then Wellons' "lowbias32" finaliser of the
 *   row's 64 bits folded with a Weyl step of the unit, 32-bit arithmetic that
 *   compilers vectorise on every x86-64 and aarch64 CPU.
 *   fastnn_dropout_forward_{float,double} apply it to one row of activations:
 *   D = A·scale where kept, A·0 where dropped, and the factor into M.
 *
 * Why counter-based: a mask is a function of (key, epoch, layer, row, unit)
 *   alone, so it does not depend on the thread count, on which thread draws
 *   it, on the batch size or the split of batches into runs, or, in
 *   data-parallel training, on which rank holds the row: the same training
 *   gives the same bits everywhere.  fastnn/reference.py's dropout_keep
 *   computes the same integers with NumPy.
 *
 * Threads and memory: pure functions of their arguments; the caller owns the
 *   rows; nothing is shared or allocated.
 */
#ifndef FASTNN_DROPOUT_H
#define FASTNN_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#define FASTNN_DROPOUT_GOLDEN 0x9E3779B97F4A7C15ULL
#define FASTNN_DROPOUT_GOLDEN32 0x9E3779B9U

static inline uint64_t
fastnn_splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t
fastnn_dropout_stream(uint64_t key, uint64_t epoch, uint64_t layer)
{
    uint64_t k = fastnn_splitmix64(key + FASTNN_DROPOUT_GOLDEN * (epoch + 1));
    return fastnn_splitmix64(k + FASTNN_DROPOUT_GOLDEN * (layer + 1));
}

static inline uint64_t
fastnn_dropout_row(uint64_t stream, uint64_t row)
{
    return fastnn_splitmix64(stream + FASTNN_DROPOUT_GOLDEN * (row + 1));
}

/* The 32 bits of unit j of a row: lowbias32(lo + φ32·(j + 1) ^ hi). */
static inline uint32_t
fastnn_dropout_bits(uint64_t row_bits, uint32_t j)
{
    uint32_t x = ((uint32_t)row_bits + FASTNN_DROPOUT_GOLDEN32 * (j + 1))
                 ^ (uint32_t)(row_bits >> 32);
    x ^= x >> 16;
    x *= 0x7FEB352DU;
    x ^= x >> 15;
    x *= 0x846CA68BU;
    x ^= x >> 16;
    return x;
}

#define FASTNN_DEFINE_DROPOUT_FORWARD(NAME, T)                                         \
static void                                                                            \
NAME(const T *A, T *D, T *M, ptrdiff_t units, uint64_t row_bits, uint32_t threshold,   \
     T scale)                                                                          \
{                                                                                      \
    for (ptrdiff_t j = 0; j < units; j++) {                                            \
        const T m = (fastnn_dropout_bits(row_bits, (uint32_t)j) >> 8) >= threshold     \
                    ? scale : (T)0;                                                    \
        M[j] = m;                                                                      \
        D[j] = A[j] * m;                                                               \
    }                                                                                  \
}
FASTNN_DEFINE_DROPOUT_FORWARD(fastnn_dropout_forward_float, float)
FASTNN_DEFINE_DROPOUT_FORWARD(fastnn_dropout_forward_double, double)
#undef FASTNN_DEFINE_DROPOUT_FORWARD

#endif
