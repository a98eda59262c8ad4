/* The calling thread's floating-point modes that change results: on x86-64,
 * MXCSR's flush-to-zero (FTZ, bit 15) and denormals-are-zero (DAZ, bit 6)
 * bits, which fastnn.flush_denormals sets.  A kernel that hands pieces of one
 * product to other threads makes each of them adopt the caller's bits for the
 * duration (fastnn_fp_mode_adopt, then fastnn_fp_mode_restore), so a piece's
 * bits never depend on the thread that computed it.  Elsewhere these are
 * no-ops (aarch64's FPCR flush bit is never set by fastnn).  Nothing is
 * allocated; each thread's state is its own register.
 */
#ifndef FASTNN_FP_MODE_H
#define FASTNN_FP_MODE_H

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define FASTNN_FTZ_DAZ 0x8040u
#define FASTNN_HAVE_FLUSH 1
/* The caller's FTZ/DAZ bits. */
static inline unsigned fastnn_fp_mode_get(void) { return _mm_getcsr() & FASTNN_FTZ_DAZ; }
/* 1 when both FTZ and DAZ are on for this thread. */
static inline int fastnn_fp_mode_flushing(void) { return fastnn_fp_mode_get() == FASTNN_FTZ_DAZ; }
/* Sets FTZ and DAZ both on (on != 0) or both off for this thread. */
static inline void fastnn_fp_mode_set_flush(int on)
{
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(on ? (csr | FASTNN_FTZ_DAZ) : (csr & ~FASTNN_FTZ_DAZ));
}
/* This thread takes `mode` (from fastnn_fp_mode_get); returns its own MXCSR. */
static inline unsigned fastnn_fp_mode_adopt(unsigned mode)
{
    const unsigned own = _mm_getcsr();
    _mm_setcsr((own & ~FASTNN_FTZ_DAZ) | mode);
    return own;
}
static inline void fastnn_fp_mode_restore(unsigned own) { _mm_setcsr(own); }
#else
#define FASTNN_HAVE_FLUSH 0
static inline unsigned fastnn_fp_mode_get(void) { return 0; }
static inline int fastnn_fp_mode_flushing(void) { return 0; }
static inline void fastnn_fp_mode_set_flush(int on) { (void)on; }
static inline unsigned fastnn_fp_mode_adopt(unsigned mode) { (void)mode; return 0; }
static inline void fastnn_fp_mode_restore(unsigned own) { (void)own; }
#endif

#endif /* FASTNN_FP_MODE_H */
