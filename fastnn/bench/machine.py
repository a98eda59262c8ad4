"""The machine a benchmark runs on: thread limits, load, optional PyTorch, machine facts, labels.

:func:`machine_info` is what goes into pytest-benchmark's ``machine_info``
under ``"fastnn"`` (and what ``python -m fastnn info`` adds to
:func:`fastnn.show_config`, see :func:`describe`); :func:`label` condenses it
into a column title for ``python -m fastnn compare``; :func:`gemm_routes` is
the one place that says where fastnn's ``gemm`` sends the products of the
benchmarked networks.
"""

import functools
import importlib.metadata
import itertools
import os

from threadpoolctl import threadpool_limits

import fastnn
from fastnn._kernels import _blas, _cpu
from fastnn.bench import peak as _peak
from fastnn.bench.cases import NETWORKS, PLANS


@functools.cache
def torch_module():
    """Return the ``torch`` module, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def load_average():
    """The 1-minute load average (None where the OS has none): other work skews timings.

    Returns
    -------
    float or None
        The average number of runnable processes over the last minute (this
        one's threads included); above the core count, processes waited for a CPU.
    """
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


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


def route_shapes():
    """The products of a training step of every benchmarked network and batch.

    Returns
    -------
    list of (m, n, k, trans_a, trans_b)
        For each dense layer (n_in, n_out) at batch b of every plan: the
        forward Z = X·W (b, n_out, n_in, no, no), dW = Xᵀ·dZ (n_in, n_out, b,
        yes, no) and dX = dZ·Wᵀ (b, n_in, n_out, no, yes); without repeats.
    """
    shapes = []
    for net, b in (shape for plan in PLANS.values() for shape in plan.shapes):
        for n_in, n_out, _ in NETWORKS[net].layers():
            shapes += [(b, n_out, n_in, False, False), (n_in, n_out, b, True, False),
                       (b, n_in, n_out, False, True)]
    return list(dict.fromkeys(shapes))


def route_key(m, n, k, trans_a, trans_b, dtype):
    """``NN 10x30x784 float32``: the transposes, m x n x k and the dtype of a product."""
    return "%s%s %dx%dx%d %s" % ("T" if trans_a else "N", "T" if trans_b else "N", m, n, k,
                                 dtype)


def gemm_routes():
    """Where ``gemm`` sends each product of :func:`route_shapes`, in both dtypes.

    Asks the routing itself (``fastnn._kernels._blas.gemm_route``), so it
    reports whatever rule or table is in force on this CPU and path.

    Returns
    -------
    dict
        :func:`route_key` → ``'small'``, ``'packed'`` or ``'blas'``.
    """
    return {route_key(m, n, k, ta, tb, dtype): _blas.gemm_route(m, n, k, ta, tb,
                                                                dtype == "float64")
            for (m, n, k, ta, tb), dtype in itertools.product(route_shapes(),
                                                              ("float32", "float64"))}


def jax_version():
    """The installed JAX's version (read without importing JAX), or None."""
    try:
        return importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """The facts that make results from different machines and builds comparable.

    Returns
    -------
    dict
        fastnn's version; the CPU brand, family/model/stepping and SIMD flags;
        the active instruction-set path and those available; the core count;
        whether OpenMP is built in (and why not); the thread count in use;
        the BLAS libraries with their kernel (``architecture``, OpenBLAS's
        core type) and threads, and ``OPENBLAS_CORETYPE``; the compiler, flags
        and whether the build is portable or ``FASTNN_NATIVE=1``; the
        PyTorch and JAX versions (None when absent); the GEMM routes
        (:func:`gemm_routes`); and one core's peak GFLOP/s per dtype on the
        active path (:func:`fastnn.bench.peak.core_peak`).
    """
    info = fastnn.config()
    torch = torch_module()
    family, model, stepping = _cpu.cpu_signature()
    return {
        "version": info["fastnn"],
        "cpu": info["cpu"],
        "cpu_signature": info["cpu_signature"],
        "cpu_family": family,
        "cpu_model": model,
        "cpu_stepping": stepping,
        "simd": info["simd"],
        "isa": info["isa"],
        "available_isas": info["available_isas"],
        "openblas_coretype": info["openblas_coretype"],
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
        "jax": jax_version(),
        "routes": gemm_routes(),
        "core_peak_gflops": {d: _peak.core_peak(d)["gflops"] for d in ("float32", "float64")},
    }


def describe(info=None):
    """Lines that ``python -m fastnn info`` prints after :func:`fastnn.show_config`.

    Parameters
    ----------
    info : dict, optional
        :func:`machine_info` (measured when omitted).

    Returns
    -------
    str
        One core's peak per dtype on the active path, and the GEMM routes
        grouped by route.
    """
    info = machine_info() if info is None else info
    lines = ["peak:      %s per core on the %s path (multiply-add loop, thread CPU time)" % (
        ", ".join("%s %.1f GFLOP/s" % kv for kv in info["core_peak_gflops"].items()),
        info["isa"])]
    by_route = {}
    for key, route in info["routes"].items():
        by_route.setdefault(route, []).append(key)
    for route in sorted(by_route):
        lines.append("gemm %-6s %d products, e.g. %s" % (
            route + ":", len(by_route[route]), "; ".join(by_route[route][:3])))
    return "\n".join(lines)


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
        e.g. ``Intel Xeon ... (family 6 model 167 stepping 8), 2 cores,
        avx512f, avx512 path, openblas 0.3.30 SkylakeX, portable, openmp``.
    """
    simd = info.get("simd") or []
    best = next((s for s in ("avx512f", "avx2", "avx", "sse4.2", "neon") if s in simd),
                simd[-1] if simd else "no SIMD")
    blas = (info.get("blas") or [{}])[0]
    coretype = info.get("openblas_coretype")
    return "%s (%s), %s cores, %s, %s path, %s %s %s%s, %s" % (
        info.get("cpu", "unknown CPU"), info.get("cpu_signature", "?"),
        info.get("cpu_count", "?"), best, info.get("isa", "?"),
        blas.get("internal_api", "BLAS"), blas.get("version", ""),
        blas.get("architecture", ""), " (OPENBLAS_CORETYPE=%s)" % coretype if coretype else "",
        build_label(info))
