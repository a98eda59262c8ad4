/* The gradient sum of data-parallel training (fastnn.distributed), called from
 * the compiled training loop without Python and without MPI's headers.
 *
 * What it computes
 *   fastnn_allreduce_slice(r, buf, count, is_double, &lo, &hi): afterwards
 *   buf[lo:hi] (float or double) holds, on this rank, the sum over all ranks
 *   of the ranks' buf; the caller updates the parameters of that slice,
 *   then calls fastnn_allreduce_end(r) before any rank writes its buf again.
 *   Both return MPI's error code (0: success; MPI's default error handler
 *   aborts every rank before a failure could return).  Two ways:
 *
 *   - Plain (node_size 0): the slice is everything, [0, count): one
 *     MPI_Allreduce with MPI_IN_PLACE and MPI_SUM on `comm`, in pieces of at
 *     most 2^30 elements (MPI's count is an int); the end does nothing.
 *   - Node-shared (node_size L > 1 ranks on this machine): the L ranks'
 *     gradient buffers are one MPI shared-memory window, every rank's buffer
 *     mapped in every rank (`buffers`), and the L ranks share one copy of
 *     the parameters and optimizer state (a second window; see
 *     fastnn/distributed.py).  After a barrier of the node's ranks, local
 *     rank i sums slice i of the elements over the L buffers, in local-rank
 *     order, into its own buffer; with several machines (`cross_node`) it
 *     then MPI_Allreduce's that slice over `comm`, which joins the ranks of
 *     local rank i on every machine (a hierarchical sum; every machine has L
 *     ranks).  Rank i then updates slice i of the shared parameters, and the
 *     end is a second barrier: after it every rank sees the whole updated
 *     model.  Between the barriers only rank i writes slice i of anything,
 *     so there are no races, and the result does not depend on timing.  Each
 *     rank reads `count` gradient elements (its slice of every buffer),
 *     writes count/L, and updates 1/L of the model: no copies through MPI's
 *     buffers, and the node updates its one model once, not L times.
 *   Slices are cut at multiples of 16 elements (cache lines):
 *   fastnn_slice_bound.
 *
 * Order of the additions: fixed by the layout (ranks per machine and number
 * of machines) and the count, so a run with a fixed layout repeats bit for
 * bit; it differs from one process's single sum by rounding only.
 *
 * How it reaches MPI
 *   fastnn is built without MPI: the MPI library is the one mpi4py loaded at
 *   run time, and fastnn/distributed.py reads from it (through mpi4py and
 *   ctypes) the addresses of MPI_Allreduce and MPI_Barrier and the handles of
 *   the communicators, MPI_FLOAT, MPI_DOUBLE, MPI_SUM and MPI_IN_PLACE's
 *   value.  Handles are ints in MPICH's ABI (and Intel MPI's, MVAPICH's) and
 *   pointers in Open MPI's and in the MPI 5 standard ABI; the caller says
 *   which (`handles_are_pointers`), and each call goes through the function
 *   type of that ABI, so its arguments are exactly what the library was
 *   compiled to receive.
 *
 * Threads and memory: called by one thread (the training loop's) per rank;
 *   the caller owns buf, the struct and the windows behind `buffers`; the
 *   block sum uses a 4 KiB stack buffer; nothing is allocated.
 */
#ifndef FASTNN_ALLREDUCE_H
#define FASTNN_ALLREDUCE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    void *function;             /* MPI_Allreduce */
    int handles_are_pointers;   /* 0: int handles (MPICH ABI); 1: pointer handles */
    intptr_t comm, float_type, double_type, sum;   /* handle values */
    void *in_place;             /* the value of MPI_IN_PLACE */
    /* node-shared reduction (node_size 0: plain MPI_Allreduce on comm) */
    void *barrier;              /* MPI_Barrier */
    intptr_t node_comm;         /* the ranks of this machine */
    int node_rank, node_size;
    void *const *buffers;       /* node_size buffers, local-rank order; ours at node_rank */
    int cross_node;             /* 1: comm joins this local rank's peers on other machines */
} fastnn_allreduce;

typedef int (*fastnn_allreduce_int_abi)(const void *, void *, int, int, int, int);
typedef int (*fastnn_allreduce_pointer_abi)(const void *, void *, int, void *, void *, void *);
typedef int (*fastnn_barrier_int_abi)(int);
typedef int (*fastnn_barrier_pointer_abi)(void *);

#define FASTNN_ALLREDUCE_PIECE ((ptrdiff_t)1 << 30)
#define FASTNN_ALLREDUCE_BLOCK 512   /* elements summed at a time (≤ 4 KiB) */

static int
fastnn_mpi_allreduce_sum(const fastnn_allreduce *r, void *buf, ptrdiff_t count, int is_double)
{
    const size_t item = is_double ? sizeof(double) : sizeof(float);
    const intptr_t type = is_double ? r->double_type : r->float_type;
    for (ptrdiff_t done = 0; done < count; done += FASTNN_ALLREDUCE_PIECE) {
        const int n = (int)(count - done < FASTNN_ALLREDUCE_PIECE
                            ? count - done : FASTNN_ALLREDUCE_PIECE);
        char *piece = (char *)buf + (size_t)done * item;
        int err;
        if (r->handles_are_pointers)
            err = ((fastnn_allreduce_pointer_abi)r->function)(
                r->in_place, piece, n, (void *)type, (void *)r->sum, (void *)r->comm);
        else
            err = ((fastnn_allreduce_int_abi)r->function)(
                r->in_place, piece, n, (int)type, (int)r->sum, (int)r->comm);
        if (err != 0)
            return err;
    }
    return 0;
}

static int
fastnn_node_barrier(const fastnn_allreduce *r)
{
    if (r->handles_are_pointers)
        return ((fastnn_barrier_pointer_abi)r->barrier)((void *)r->node_comm);
    return ((fastnn_barrier_int_abi)r->barrier)((int)r->node_comm);
}

/* Slice i of L over count elements: [bound(i), bound(i + 1)). */
static ptrdiff_t
fastnn_slice_bound(ptrdiff_t count, int i, int L)
{
    return i == L ? count : (ptrdiff_t)(((count / 16) * i / L) * 16);
}

#define FASTNN_DEFINE_SLICE_SUM(NAME, T)                                            \
static void                                                                         \
NAME(void *const *buffers, int L, int own, ptrdiff_t lo, ptrdiff_t hi)              \
{                                                                                   \
    T acc[FASTNN_ALLREDUCE_BLOCK];                                                  \
    T *out = (T *)buffers[own];                                                     \
    for (ptrdiff_t b = lo; b < hi; b += FASTNN_ALLREDUCE_BLOCK) {                   \
        const ptrdiff_t n = hi - b < FASTNN_ALLREDUCE_BLOCK                         \
                            ? hi - b : FASTNN_ALLREDUCE_BLOCK;                       \
        const T *first = (const T *)buffers[0] + b;                                 \
        for (ptrdiff_t k = 0; k < n; k++)                                           \
            acc[k] = first[k];                                                      \
        for (int q = 1; q < L; q++) {                                               \
            const T *other = (const T *)buffers[q] + b;                             \
            for (ptrdiff_t k = 0; k < n; k++)                                       \
                acc[k] += other[k];                                                 \
        }                                                                           \
        memcpy(out + b, acc, (size_t)n * sizeof(T));                                \
    }                                                                               \
}
FASTNN_DEFINE_SLICE_SUM(fastnn_slice_sum_float, float)
FASTNN_DEFINE_SLICE_SUM(fastnn_slice_sum_double, double)
#undef FASTNN_DEFINE_SLICE_SUM

static int
fastnn_allreduce_slice(const fastnn_allreduce *r, void *buf, ptrdiff_t count, int is_double,
                       ptrdiff_t *lo, ptrdiff_t *hi)
{
    if (r->node_size == 0) {
        *lo = 0;
        *hi = count;
        return fastnn_mpi_allreduce_sum(r, buf, count, is_double);
    }
    const int L = r->node_size, me = r->node_rank;
    const size_t item = is_double ? sizeof(double) : sizeof(float);
    *lo = fastnn_slice_bound(count, me, L);
    *hi = fastnn_slice_bound(count, me + 1, L);
    int err = fastnn_node_barrier(r);          /* every local gradient is written */
    if (err != 0)
        return err;
    if (is_double)
        fastnn_slice_sum_double(r->buffers, L, me, *lo, *hi);
    else
        fastnn_slice_sum_float(r->buffers, L, me, *lo, *hi);
    if (r->cross_node)
        err = fastnn_mpi_allreduce_sum(r, (char *)buf + (size_t)*lo * item, *hi - *lo,
                                       is_double);
    return err;
}

static int
fastnn_allreduce_end(const fastnn_allreduce *r)
{
    return r->node_size == 0 ? 0 : fastnn_node_barrier(r);   /* every slice is updated */
}

#endif
