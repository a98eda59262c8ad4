/* OpenMP, or a serial stand-in when the build has none.
 *
 * setup.py compiles with -fopenmp only when its probe succeeds.  Without it,
 * _OPENMP is undefined, Cython's prange runs as a plain loop, and the few
 * runtime calls the kernels make are replaced by their one-thread answers, so
 * every module compiles and links the same way in both builds.
 */
#ifndef FASTNN_OPENMP_H
#define FASTNN_OPENMP_H

#ifdef _OPENMP
#include <omp.h>
#define FASTNN_OPENMP_ENABLED 1
#else
#define FASTNN_OPENMP_ENABLED 0
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_num_procs(void) { return 1; }
#endif

#endif
