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
 *   .claim and "consumed".
 *
 * Waiting (fastnn_wait_step): the waits are for a row copy or a batch,
 *   usually microseconds, below what sleeping and waking a thread costs, so
 *   a waiter first spins (FASTNN_WAIT_SPINS pause instructions, some tens of
 *   microseconds); then yields its core (FASTNN_WAIT_YIELDS times), and then
 *   sleeps FASTNN_WAIT_SLEEP_NS at a time.  On a busy machine the thread it
 *   waits for may have lost its core to another process: an unbounded spin
 *   would then hold a core that this process, or the other, needs (the
 *   gatherer waits out every training step), while a sleeping waiter costs
 *   only its wake-ups.  A waiter that wakes late changes nothing but timing:
 *   the trainer copies the rows the gatherer has not claimed itself.
 *
 * Memory: none; the counters live in the caller's struct.
 */
#ifndef FASTNN_HANDOFF_H
#define FASTNN_HANDOFF_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_SPIN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define FASTNN_SPIN_PAUSE() __asm__ __volatile__("yield")
#else
#define FASTNN_SPIN_PAUSE() ((void)0)
#endif
#if defined(_WIN32)
#include <windows.h>
#else
#include <sched.h>
#include <time.h>
#endif

enum {
    FASTNN_WAIT_SPINS = 4096,        /* pauses before the first yield */
    FASTNN_WAIT_YIELDS = 64,         /* yields before the first sleep */
    FASTNN_WAIT_SLEEP_NS = 50000     /* then sleeps of 50 µs */
};

/* One step of a wait loop; *steps counts the steps taken (start at 0). */
static inline void fastnn_wait_step(unsigned *steps)
{
    if (*steps < FASTNN_WAIT_SPINS) {
        FASTNN_SPIN_PAUSE();
        ++*steps;
    } else if (*steps < FASTNN_WAIT_SPINS + FASTNN_WAIT_YIELDS) {
#if defined(_WIN32)
        SwitchToThread();
#else
        sched_yield();
#endif
        ++*steps;
    } else {
#if defined(_WIN32)
        Sleep(0);
#else
        struct timespec pause = {0, FASTNN_WAIT_SLEEP_NS};
        nanosleep(&pause, NULL);
#endif
    }
}

/* The atomics are GCC's and clang's builtins.  Other compilers get plain
 * accesses and FASTNN_HANDOFF_AVAILABLE 0: train.pyx then never starts a
 * second thread, and these functions only ever run on one. */
#if defined(__GNUC__) || defined(__clang__)
#define FASTNN_HANDOFF_AVAILABLE 1
#define FASTNN_LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FASTNN_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FASTNN_ADD_RELEASE(p, v) ((void)__atomic_add_fetch((p), (v), __ATOMIC_RELEASE))
#define FASTNN_CAS_ACQUIRE(p, expected, desired)                                     \
    __atomic_compare_exchange_n((p), (expected), (desired), 1, __ATOMIC_ACQUIRE,    \
                                __ATOMIC_ACQUIRE)
#else
#define FASTNN_HANDOFF_AVAILABLE 0
#define FASTNN_LOAD_ACQUIRE(p) (*(p))
#define FASTNN_STORE_RELEASE(p, v) ((void)(*(p) = (v)))
#define FASTNN_ADD_RELEASE(p, v) ((void)(*(p) += (v)))
#define FASTNN_CAS_ACQUIRE(p, expected, desired)                                     \
    (*(p) == *(expected) ? (*(p) = (desired), 1) : (*(expected) = *(p), 0))
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
    FASTNN_STORE_RELEASE(&r->claim, (long long)batch << 32);
}

/* Claim the next row of batch `batch` (n rows): its index, or -1 when every
 * row is claimed or the set has moved on to another batch. */
static inline int fastnn_rows_claim(fastnn_rows *r, int batch, int n)
{
    long long v = FASTNN_LOAD_ACQUIRE(&r->claim);
    for (;;) {
        if ((int)(v >> 32) != batch || (int)(v & 0xffffffffLL) >= n)
            return -1;
        if (FASTNN_CAS_ACQUIRE(&r->claim, &v, v + 1))
            return (int)(v & 0xffffffffLL);
    }
}

/* A claimed row is copied (row_bad: it holds NaN or infinity). */
static inline void fastnn_rows_finish(fastnn_rows *r, int row_bad)
{
    if (row_bad)
        FASTNN_STORE_RELEASE(&r->bad, 1);
    FASTNN_ADD_RELEASE(&r->done, 1);
}

/* Wait until n rows are copied; then whether any holds NaN or infinity. */
static inline int fastnn_rows_wait_bad(fastnn_rows *r, int n)
{
    unsigned steps = 0;
    while (FASTNN_LOAD_ACQUIRE(&r->done) < n)
        fastnn_wait_step(&steps);
    return FASTNN_LOAD_ACQUIRE(&r->bad);
}

/* Set *counter to value, after every write before it. */
static inline void fastnn_handoff_publish(int *counter, int value)
{
    FASTNN_STORE_RELEASE(counter, value);
}

/* Wait until *counter >= target (return 1) or *abort is nonzero (return 0). */
static inline int fastnn_handoff_wait(const int *counter, int target, const int *abort)
{
    unsigned steps = 0;
    for (;;) {
        if (FASTNN_LOAD_ACQUIRE(counter) >= target)
            return 1;
        if (FASTNN_LOAD_ACQUIRE(abort))
            return 0;
        fastnn_wait_step(&steps);
    }
}

#endif /* FASTNN_HANDOFF_H */
