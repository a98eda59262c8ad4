"""The machine's peak rates: what one core can compute, and what GEMM reaches.

:func:`core_peak` is the **peak** every counted benchmark is shown as a
fraction of (``%peak``): the floating-point rate of one core on fastnn's
active instruction-set path, *measured* by a loop of independent
multiply-adds in registers (``csrc/peak_flops.h``: FMA on avx512, avx2 and
neon, multiply then add on the portable path), timed in the thread's CPU
time (so time the scheduler gives to other processes does not lower it),
best of a few runs, once per process and path.  Measured rather than
computed from vector width x FMA units x clock because neither the FMA unit
count nor the clock a VM runs at is reliably visible from inside it (this
KVM guest reports a 2.45 GHz base clock and no boost; the loop runs at about
3.1 GHz).  The peak of ``n`` threads is ``n`` times one core's: FMA units are
private to a core, and a measurement on all cores of a shared VM would
measure the neighbours.

:func:`measure` (the GEMM probe) times a square product C = A·B of side
``size`` through the BLAS library that fastnn's kernels call (``gemm_blas``
in ``fastnn/_kernels/_blas.pyx``, SciPy's BLAS) and through NumPy's
``matmul`` (NumPy's own BLAS), and keeps the best rate of either: 2·size³
floating-point operations over the fastest of ``repeats`` calls, in wall
time.  It says how close the BLAS comes to the peak; it is no peak itself
(it was used as one, and any load on the machine during the probe lowered
it and sent ``%peak`` above 100%).
"""

import functools
import time

import numpy as np

import fastnn
from fastnn._isa import ISA_NAMES
from fastnn._kernels import _blas, _cpu

#: Thread CPU time of one timed run of the peak loop, in seconds.
PEAK_RUN_SECONDS = 0.01


def core_peak(dtype, isa=None):
    """Peak GFLOP/s of one core on an instruction-set path; measured once per process.

    Parameters
    ----------
    dtype : {'float32', 'float64'}
    isa : str, optional
        A path of :func:`fastnn.available_isas`; default the active one.

    Returns
    -------
    dict
        ``gflops`` (best of 5 runs of about :data:`PEAK_RUN_SECONDS` of
        thread CPU time), ``isa``, ``method`` (``'fma_loop'``).

    Raises
    ------
    ValueError
        When this build or CPU cannot run the path.
    """
    isa = fastnn.get_isa() if isa is None else isa
    if isa not in fastnn.available_isas():
        raise ValueError("this CPU or build cannot run the %r path" % (isa,))
    return _core_peak(dtype, isa)


@functools.cache
def _core_peak(dtype, isa):
    code, is_double = ISA_NAMES.index(isa), dtype == "float64"
    rounds = 1000
    while True:                     # grow the run until it lasts long enough to time
        flops, seconds = _peak_run(code, is_double, rounds)
        if seconds >= PEAK_RUN_SECONDS / 4:
            break
        rounds *= 4
    rounds = max(rounds, int(rounds * PEAK_RUN_SECONDS / seconds))
    best = max(f / t for f, t in (_peak_run(code, is_double, rounds) for _ in range(5)))
    return {"gflops": best / 1e9, "isa": isa, "method": "fma_loop"}


def peak(dtype, threads, isa=None):
    """Peak GFLOP/s of ``threads`` cores: ``threads`` x :func:`core_peak`.

    Returns
    -------
    dict
        ``gflops``, ``per_core``, ``threads``, ``isa``, ``method``.
    """
    core = core_peak(dtype, isa)
    return {"gflops": threads * core["gflops"], "per_core": core["gflops"],
            "threads": threads, "isa": core["isa"], "method": core["method"]}


def _peak_run(code, is_double, rounds):
    started = time.thread_time()
    flops = _cpu.peak_flops(code, is_double, rounds)
    return flops, max(time.thread_time() - started, 1e-9)


def measure(dtype, size, repeats=3):
    """The GEMM probe: best GFLOP/s of a square GEMM, under the current thread limits.

    Parameters
    ----------
    dtype : {'float32', 'float64'}
    size : int
        Side of the square matrices.
    repeats : int
        Timed calls per library (after one warm-up call each).

    Returns
    -------
    dict
        ``gflops`` (the best rate), ``source`` (``'fastnn_blas'`` or
        ``'numpy_matmul'``, whichever reached it), ``size``, and
        ``by_source``, the best rate of each.
    """
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size)).astype(dtype)
    B = rng.standard_normal((size, size)).astype(dtype)
    C = np.empty((size, size), dtype)
    calls = {
        "fastnn_blas": lambda: _blas.gemm_blas(False, False, 1.0, A, B, 0.0, C),
        "numpy_matmul": lambda: np.matmul(A, B, out=C),
    }
    flops = 2.0 * size ** 3
    by_source = {}
    for source, call in calls.items():
        call()
        best = min(_elapsed(call) for _ in range(repeats))
        by_source[source] = flops / best / 1e9
    source = max(by_source, key=by_source.get)
    return {"gflops": by_source[source], "source": source, "size": size, "by_source": by_source}


def _elapsed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
