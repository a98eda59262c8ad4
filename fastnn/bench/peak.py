"""The peak probe: the best GEMM rate this machine reaches, per dtype and thread count.

Times a square product C = A·B of side ``size`` through the BLAS library that
fastnn's kernels call (``gemm_blas`` in ``fastnn/_kernels/_blas.pyx``, SciPy's
BLAS) and through NumPy's ``matmul`` (NumPy's own BLAS), and keeps the best
rate of either: 2·size³ floating-point operations over the fastest of
``repeats`` calls.  Every benchmark that counts its operations is then also
shown as a fraction of this peak.
"""

import time

import numpy as np

from fastnn._kernels import _blas


def measure(dtype, size, repeats=3):
    """Best GFLOP/s of a square GEMM, under the current thread limits.

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
