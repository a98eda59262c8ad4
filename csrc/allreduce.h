/* The gradient allreduce of data-parallel training (fastnn.distributed), called
 * from the compiled training loop without Python and without MPI's headers.
 *
 * What it computes
 *   fastnn_allreduce_sum(r, buf, count, is_double): buf[0:count] (float or
 *   double) becomes, on every rank of r's communicator, the sum over ranks of
 *   the ranks' buf, in place (MPI_Allreduce with MPI_IN_PLACE and MPI_SUM),
 *   in pieces of at most 2^30 elements (MPI's count is an int).  Returns
 *   MPI's error code (0: success; MPI's default error handler aborts every
 *   rank before a failure could return).
 *
 * How it reaches MPI
 *   fastnn is built without MPI: the MPI library is the one mpi4py loaded at
 *   run time, and fastnn/distributed.py reads from it (through mpi4py and
 *   ctypes) the address of MPI_Allreduce and the handles of the
 *   communicator, MPI_FLOAT, MPI_DOUBLE, MPI_SUM and MPI_IN_PLACE's value.
 *   Handles are ints in MPICH's ABI (and Intel MPI's, MVAPICH's) and pointers
 *   in Open MPI's and in the MPI 5 standard ABI; the caller says which
 *   (`handles_are_pointers`), and the call goes through the function type of
 *   that ABI, so its arguments are exactly what the library was compiled to
 *   receive.
 *
 * Threads and memory: called by one thread (the training loop's) per rank;
 *   the caller owns buf and the struct; nothing is allocated.
 */
#ifndef FASTNN_ALLREDUCE_H
#define FASTNN_ALLREDUCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *function;             /* MPI_Allreduce */
    int handles_are_pointers;   /* 0: int handles (MPICH ABI); 1: pointer handles */
    intptr_t comm, float_type, double_type, sum;   /* handle values */
    void *in_place;             /* the value of MPI_IN_PLACE */
} fastnn_allreduce;

typedef int (*fastnn_allreduce_int_abi)(const void *, void *, int, int, int, int);
typedef int (*fastnn_allreduce_pointer_abi)(const void *, void *, int, void *, void *, void *);

#define FASTNN_ALLREDUCE_PIECE ((ptrdiff_t)1 << 30)

static int
fastnn_allreduce_sum(const fastnn_allreduce *r, void *buf, ptrdiff_t count, int is_double)
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

#endif
