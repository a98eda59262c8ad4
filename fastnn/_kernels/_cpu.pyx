"""CPU brand string and run-time SIMD features (wraps csrc/cpu_features.h)."""

cdef extern from "cpu_features.h":
    int FASTNN_N_FEATURES
    const char* const* FASTNN_FEATURE_NAMES
    void fastnn_cpu_brand(char* out)
    void fastnn_cpu_features(int* out)
    void fastnn_cpu_signature(int* family, int* model, int* stepping)


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
