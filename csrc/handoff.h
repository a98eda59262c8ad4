/* Gathering one batch's rows with two threads, and handing batches over.
 *
 * What it is for
 *   train.pyx's gather-ahead (2 threads, small networks): a gatherer thread
 *   copies batch b + 1's rows out of the training set while the trainer
 *   trains on batch b.  Two buffer sets alternate (batch b uses set b % 2).
 *   Each set has a row counter that both threads claim rows from: the
 *   gatherer claims batch b + 1's rows ahead of time, and the trainer, when
 *   it reaches a batch that is not complete, claims the rows still left
 *   instead of waiting (then waits only for rows already being copied).  So
 *   a gatherer that falls behind, or loses its core for a while, never stalls
 *   training: the trainer copies the rows itself, as with one thread.
 *
 * Counters
 *   fastnn_rows.claim holds (batch number << 32 | next row): a row is claimed
 *   by compare-and-swap, only while the tag is the batch the claimer means,
 *   so a claim can never land on the set's next batch.  .done counts rows
 *   copied, .bad records a row with NaN or infinity.  The trainer resets a
 *   set for batch b + 2 once batch b is done, then publishes "consumed = b +
 *   1", for which the gatherer waits before touching that set again; "abort"
 *   stops the gatherer early (the trainer met a bad batch).
 *
 * Memory order: copies are published by .done's release increment and seen
 *   after the trainer's acquire wait on it; a reset, by the release store of
 *   .claim and "consumed".  Waiting spins with a pause instruction: the waits
 *   are for a row copy or a batch, microseconds, far below what sleeping and
 *   waking a thread costs.
 *
 * Memory: none; the counters live in the caller's struct.
 */
#ifndef FASTNN_HANDOFF_H
#define FASTNN_HANDOFF_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_SPIN_PAUSE() _mm_pause()
#else
#define FASTNN_SPIN_PAUSE() ((void)0)
#endif

typedef struct {
    long long claim;   /* batch number << 32 | next row to claim */
    int done;          /* rows copied */
    int bad;           /* nonzero: a copied row holds NaN or infinity */
} fastnn_rows;

/* Make the set hold batch `batch`, no row claimed or copied yet. */
static inline void fastnn_rows_reset(fastnn_rows *r, int batch)
{
    r->done = 0;
    r->bad = 0;
    __atomic_store_n(&r->claim, (long long)batch << 32, __ATOMIC_RELEASE);
}

/* Claim the next row of batch `batch` (n rows): its index, or -1 when every
 * row is claimed or the set has moved on to another batch. */
static inline int fastnn_rows_claim(fastnn_rows *r, int batch, int n)
{
    long long v = __atomic_load_n(&r->claim, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((int)(v >> 32) != batch || (int)(v & 0xffffffffLL) >= n)
            return -1;
        if (__atomic_compare_exchange_n(&r->claim, &v, v + 1, 1, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE))
            return (int)(v & 0xffffffffLL);
    }
}

/* A claimed row is copied (row_bad: it holds NaN or infinity). */
static inline void fastnn_rows_finish(fastnn_rows *r, int row_bad)
{
    if (row_bad)
        __atomic_store_n(&r->bad, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->done, 1, __ATOMIC_RELEASE);
}

/* Wait until n rows are copied; then whether any holds NaN or infinity. */
static inline int fastnn_rows_wait_bad(fastnn_rows *r, int n)
{
    while (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) < n)
        FASTNN_SPIN_PAUSE();
    return __atomic_load_n(&r->bad, __ATOMIC_RELAXED);
}

/* Set *counter to value, after every write before it. */
static inline void fastnn_handoff_publish(int *counter, int value)
{
    __atomic_store_n(counter, value, __ATOMIC_RELEASE);
}

/* Wait until *counter >= target (return 1) or *abort is nonzero (return 0). */
static inline int fastnn_handoff_wait(const int *counter, int target, const int *abort)
{
    for (;;) {
        if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= target)
            return 1;
        if (__atomic_load_n(abort, __ATOMIC_ACQUIRE))
            return 0;
        FASTNN_SPIN_PAUSE();
    }
}

#endif /* FASTNN_HANDOFF_H */
