/* Handing batches from one thread to another: two counters and a spin wait.
 *
 * What it is for
 *   train.pyx's gather-ahead (2 threads, small networks): one thread gathers
 *   batch b + 1's rows from the training set while the other trains on batch
 *   b.  The gatherer counts the batches it has finished ("produced"), the
 *   trainer the batches it is done with ("consumed"); each waits for the
 *   other's counter to reach a value.  A third flag ("abort") lets the
 *   trainer stop early (a batch with NaN) without leaving the gatherer
 *   waiting forever.
 *
 * Memory order: a counter is published with release semantics after the
 *   buffer it covers is written (or last read), and read with acquire
 *   semantics before the buffer is touched, so the buffer's contents cross
 *   threads with no lock.
 *
 * Waiting spins with a pause instruction: a hand-off is due within
 *   microseconds, far below what sleeping and waking a thread costs.  The
 *   spinning thread has a core of its own: train.pyx uses this only when
 *   fastnn may use 2 threads and no product of the step starts threads of its
 *   own.
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

/* Set *counter to value, after every write before it. */
static inline void fastnn_handoff_publish(int *counter, int value)
{
    __atomic_store_n(counter, value, __ATOMIC_RELEASE);
}

/* Wait until *counter >= target (return 1) or *abort is nonzero (return 0);
 * reads after a return of 1 see every write made before the publish. */
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
