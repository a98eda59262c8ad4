/* The gradient allreduce of data-parallel training (fastnn.distributed), called
 * from the compiled training loop without Python and without MPI's headers.
 *
 * What it computes
 *   fastnn_allreduce_sum(r, buf, count, is_double): buf[0:count] (float or
 *   double) becomes, on every rank, the sum over all ranks of the ranks' buf,
 *   in place.  Returns MPI's error code (0: success; MPI's default error
 *   handler aborts every rank before a failure could return).  Two ways:
 *
 *   - Plain (node_size 0): MPI_Allreduce with MPI_IN_PLACE and MPI_SUM on
 *     `comm`, in pieces of at most 2^30 elements (MPI's count is an int).
 *   - Node-shared (node_size L > 1 ranks on this machine): the L ranks'
 *     buffers are one MPI shared-memory window (fastnn/distributed.py maps
 *     every rank's buffer into every rank: `buffers`).  After a barrier of the
 *     node's ranks, local rank i sums slice i of the elements over the L
 *     buffers, in local-rank order, and writes the sum into slice i of every
 *     buffer; a second barrier ends the step.  Only rank i touches slice i
 *     between the barriers, so there are no races, and the result does not
 *     depend on timing.  Each rank reads and writes count elements, once:
 *     no copies into and out of MPI's own buffers.  With several machines
 *     (`cross_node`), rank i first sums slice i locally into its own buffer,
 *     then MPI_Allreduce's that slice over `comm`, which joins the ranks of
 *     local rank i on every machine (every machine having L ranks), and only
 *     then copies it into the other local buffers: a hierarchical allreduce.
 *   Slices are cut at multiples of 16 elements (cache lines).
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
 *   the caller owns buf, the struct and the window behind `buffers`; the
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
NAME(void *const *buffers, int L, int own, ptrdiff_t lo, ptrdiff_t hi, int to_all) \
{                                                                                   \
    T acc[FASTNN_ALLREDUCE_BLOCK];                                                  \
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
        for (int q = 0; q < L; q++)                                                 \
            if (to_all || q == own)                                                 \
                memcpy((T *)buffers[q] + b, acc, (size_t)n * sizeof(T));            \
    }                                                                               \
}
FASTNN_DEFINE_SLICE_SUM(fastnn_slice_sum_float, float)
FASTNN_DEFINE_SLICE_SUM(fastnn_slice_sum_double, double)
#undef FASTNN_DEFINE_SLICE_SUM

static int
fastnn_allreduce_sum(const fastnn_allreduce *r, void *buf, ptrdiff_t count, int is_double)
{
    if (r->node_size == 0)
        return fastnn_mpi_allreduce_sum(r, buf, count, is_double);
    const int L = r->node_size, me = r->node_rank;
    const size_t item = is_double ? sizeof(double) : sizeof(float);
    const ptrdiff_t lo = fastnn_slice_bound(count, me, L);
    const ptrdiff_t hi = fastnn_slice_bound(count, me + 1, L);
    int err = fastnn_node_barrier(r);          /* every local gradient is written */
    if (err != 0)
        return err;
    if (is_double)
        fastnn_slice_sum_double(r->buffers, L, me, lo, hi, !r->cross_node);
    else
        fastnn_slice_sum_float(r->buffers, L, me, lo, hi, !r->cross_node);
    if (r->cross_node) {
        err = fastnn_mpi_allreduce_sum(r, (char *)buf + (size_t)lo * item, hi - lo, is_double);
        if (err != 0)
            return err;
        for (int q = 0; q < L; q++)
            if (q != me)
                memcpy((char *)r->buffers[q] + (size_t)lo * item,
                       (char *)buf + (size_t)lo * item, (size_t)(hi - lo) * item);
    }
    return fastnn_node_barrier(r);             /* every slice is everywhere */
}

#endif
