# The instruction-set path of this extension module (csrc/isa.h).  Included by
# every module whose kernels come in one variant per path; each holds its own
# copy of the active path, which fastnn/_isa.py sets in all of them together.

cdef extern from "isa.h" nogil:
    int FASTNN_N_ISA
    const char* const* FASTNN_ISA_NAMES
    int fastnn_isa()
    int fastnn_isa_set(int isa)
    int fastnn_isa_supported(int isa)
    int fastnn_isa_best()


def _isa_names():
    """Every path's name, indexed by its code."""
    return tuple(FASTNN_ISA_NAMES[i].decode() for i in range(FASTNN_N_ISA))


def _isa_supported(int isa):
    """True when this build holds the path and this CPU can run it."""
    return bool(fastnn_isa_supported(isa))


def _isa_best():
    """Code of the fastest path this CPU supports."""
    return fastnn_isa_best()


def _get_isa():
    """Code of this module's active path."""
    return fastnn_isa()


def _set_isa(int isa):
    """Make ``isa`` this module's active path; False (nothing changed) when unsupported."""
    return bool(fastnn_isa_set(isa))
