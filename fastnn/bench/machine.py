"""The machine a benchmark runs on: thread limits, optional PyTorch, machine facts, labels.

:func:`machine_info` is what goes into pytest-benchmark's ``machine_info``
under ``"fastnn"``; :func:`label` condenses it into a column title for
``python -m fastnn compare``.
"""

import functools

from threadpoolctl import threadpool_limits

import fastnn


@functools.cache
def torch_module():
    """Return the ``torch`` module, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def set_threads(n):
    """Give every implementation ``n`` threads.

    Limits every OpenMP runtime and BLAS library loaded in the process (NumPy's
    too, through threadpoolctl), fastnn's own pools and PyTorch's intra-op pool.

    Parameters
    ----------
    n : int
        Number of threads, >= 1.
    """
    threadpool_limits(limits=n)
    fastnn.set_num_threads(n)
    torch = torch_module()
    if torch is not None:
        torch.set_num_threads(n)


def machine_info():
    """The facts that make results from different machines and builds comparable.

    Returns
    -------
    dict
        fastnn's version; the CPU brand, family/model and SIMD flags; the core
        count; whether OpenMP is built in (and why not); the thread count in
        use; the BLAS libraries with their kernel and threads; the compiler,
        flags and whether the build is portable or ``FASTNN_NATIVE=1``; and the
        PyTorch version (None when absent).
    """
    info = fastnn.config()
    torch = torch_module()
    return {
        "version": info["fastnn"],
        "cpu": info["cpu"],
        "cpu_signature": info["cpu_signature"],
        "simd": info["simd"],
        "cpu_count": info["cpu_count"],
        "openmp": info["openmp"],
        "openmp_reason": info["openmp_reason"],
        "num_threads": info["num_threads"],
        "blas": info["blas"],
        "compiler": info["compiler"],
        "compile_args": info["compile_args"],
        "native": info["native"],
        "numpy": info["numpy"],
        "torch": torch.__version__ if torch is not None else None,
    }


def build_label(info):
    """``native`` or ``portable``, then ``openmp`` or ``serial``, from :func:`machine_info`."""
    return "%s, %s" % ("native" if info.get("native") else "portable",
                       "openmp" if info.get("openmp") else "serial")


def label(info):
    """One-line description of a machine and build, for a column legend.

    Parameters
    ----------
    info : dict
        :func:`machine_info` of a run (``machine_info["fastnn"]`` in the JSON).

    Returns
    -------
    str
        e.g. ``Intel Xeon ... (family 6 model 167), 2 cores, avx512f, OpenBLAS
        0.3.30 SkylakeX, portable, openmp``.
    """
    simd = info.get("simd") or []
    best = next((s for s in ("avx512f", "avx2", "avx", "sse4.2", "neon") if s in simd),
                simd[-1] if simd else "no SIMD")
    blas = (info.get("blas") or [{}])[0]
    return "%s (%s), %s cores, %s, %s %s %s, %s" % (
        info.get("cpu", "unknown CPU"), info.get("cpu_signature", "?"),
        info.get("cpu_count", "?"), best, blas.get("internal_api", "BLAS"),
        blas.get("version", ""), blas.get("architecture", ""), build_label(info))
