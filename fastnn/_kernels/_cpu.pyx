"""CPU brand string and run-time SIMD features (wraps csrc/cpu_features.h); the
peak multiply-add loop of each instruction-set path (csrc/peak_flops.h)."""

cdef extern from "cpu_features.h":
    int FASTNN_N_FEATURES
    const char* const* FASTNN_FEATURE_NAMES
    void fastnn_cpu_brand(char* out)
    void fastnn_cpu_features(int* out)
    void fastnn_cpu_signature(int* family, int* model, int* stepping)


cdef extern from "peak_flops.h":
    double fastnn_peak_flops(int isa, int is_double, long rounds) nogil


def peak_flops(int isa, bint is_double, long rounds):
    """Run ``rounds`` rounds of the peak loop of path ``isa`` (code of csrc/isa.h).

    Returns the floating-point operations done, or -1.0 when this build or
    CPU cannot run the path; the caller times the call (one thread, no memory
    traffic: see csrc/peak_flops.h).
    """
    cdef double flops
    with nogil:
        flops = fastnn_peak_flops(isa, is_double, rounds)
    return flops


def cpu_brand():
    """The processor's brand string ('' where the CPU does not report one)."""
    cdef char buf[49]
    fastnn_cpu_brand(buf)
    return buf.decode("ascii", "replace").strip()


def cpu_features():
    """Dict of SIMD feature name -> bool, as detected at run time."""
    cdef int flags[16]
    fastnn_cpu_features(flags)
    return {FASTNN_FEATURE_NAMES[i].decode(): bool(flags[i]) for i in range(FASTNN_N_FEATURES)}


def cpu_signature():
    """(family, model, stepping) of an x86 CPU; (0, 0, 0) elsewhere."""
    cdef int family, model, stepping
    fastnn_cpu_signature(&family, &model, &stepping)
    return family, model, stepping


cdef extern from "fp_mode.h":
    int FASTNN_HAVE_FLUSH
    int fastnn_fp_mode_flushing()
    void fastnn_fp_mode_set_flush(int on)


def set_flush_denormals(bint on):
    """Set the calling thread's flush-to-zero / denormals-are-zero modes; return the old state.

    x86-64 only (MXCSR's FTZ and DAZ bits); elsewhere nothing changes and the
    old state is reported as False.
    """
    cdef bint old = fastnn_fp_mode_flushing()
    fastnn_fp_mode_set_flush(on)
    return old


def flush_denormals_supported():
    """True where ``set_flush_denormals`` has an effect (x86-64)."""
    return bool(FASTNN_HAVE_FLUSH)
