"""Measuring the product routes on this CPU: :func:`tune`, and the shapes and
timing helpers it shares with ``benchmarks/small_gemm_crossover.py``.

``tune`` times fastnn's small kernels, its packed kernel and BLAS side by side
on the products of dense layers' training steps (the crossover grid), on one
thread, for the active instruction-set path; fills the route table's cells
(``csrc/gemm_route.h``) where the default rule is measurably slower than the
best; installs the table and writes it to the cache file that
``import fastnn`` loads (``fastnn/_routes.py``).
"""

import itertools
import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn import _routes
from fastnn._isa import ISA_NAMES, get_isa
from fastnn._kernels import _blas

#: Dense layers (n_in, n_out) and batches of the crossover grid: the networks
#: of the README (784-30-10, 784-16-16-10, 784-128-64-10) at the batches of
#: its benchmarks.
LAYERS = [(784, 30), (30, 10), (784, 16), (16, 16), (16, 10), (784, 128), (128, 64),
          (64, 10)]
BATCHES = [1, 10, 32, 64, 256]
#: The optional (m, n, k) grid around them (every op, m·n·k <= 784·256·64).
GRID = [1, 4, 16, 64, 256, 784]
#: A few shapes, for checking that tuning runs (tests): one per op.
QUICK = [("Z=X·W 16→10 n=1", 1, 10, 16, False, False),
         ("dW=Xᵀ·dZ 16→10 n=1", 16, 10, 1, True, False),
         ("dX=dZ·Wᵀ 16→10 n=1", 1, 16, 10, False, True)]

#: The implementations, as ``_blas`` entries: small, packed, blas.
KERNELS = {"small": _blas.gemm_small, "packed": _blas.gemm_packed, "blas": _blas.gemm_blas}


def textbook_shapes():
    """(label, m, n, k, trans_a, trans_b) of Z = X·W (NN), dW = Xᵀ·dZ (TN) and
    dX = dZ·Wᵀ (NT) for every layer and batch of the crossover grid."""
    for (n_in, n_out), batch in itertools.product(LAYERS, BATCHES):
        layer = "%d→%d n=%d" % (n_in, n_out, batch)
        yield ("Z=X·W   " + layer, batch, n_out, n_in, False, False)
        yield ("dW=Xᵀ·dZ " + layer, n_in, n_out, batch, True, False)
        yield ("dX=dZ·Wᵀ " + layer, batch, n_in, n_out, False, True)


def grid_shapes():
    """(label, m, n, k, trans_a, trans_b) of the (m, n, k) grid, every op."""
    for (ta, tb), m, n, k in itertools.product([(False, False), (True, False),
                                                (False, True), (True, True)],
                                               GRID, GRID, GRID):
        if m * n * k <= 784 * 256 * 64:
            yield ("grid", m, n, k, ta, tb)


def operands(rng, dtype, m, n, k, ta, tb):
    """Random A, B and a zero C for C (m×n) = op(A)·op(B)."""
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return A, B, np.zeros((m, n), dtype)


def time_interleaved(fns, target_s, samples):
    """Median seconds per call of each ``fn(reps)``, sampled in turn.

    Each fn runs ``reps`` calls in one go (a ``repeats=`` entry of ``_blas``),
    ``reps`` sized so that one sample of the first fn lasts about
    ``target_s``.  The fns are sampled round after round, in an order that
    rotates each round, so that a slow spell of a noisy machine falls on all of
    them; the median of each fn's samples is returned.
    """
    for fn in fns:                       # warm up (caches, the packed workspace)
        fn(1)
    t0 = time.perf_counter()
    fns[0](10)
    per_call = max((time.perf_counter() - t0) / 10, 1e-8)
    reps = max(1, int(target_s / per_call))
    times = [[] for _ in fns]
    for r in range(samples):
        for i in range(len(fns)):
            j = (i + r) % len(fns)
            t0 = time.perf_counter()
            fns[j](reps)
            times[j].append((time.perf_counter() - t0) / reps)
    return [statistics.median(t) for t in times]


def candidates(isa=None):
    """The routes path ``isa`` (default: the active one) has kernels for."""
    code = ISA_NAMES.index(isa or get_isa())
    return [r for r in KERNELS if _blas.route_available(code, r)]


def measure(shapes, dtypes, routes, target_s, samples, seed=0):
    """Time ``routes`` on every shape and dtype: a list of dicts with the shape,
    ``dtype``, ``op``, ``default`` (the route of the default rule) and, per
    route, its median µs per call."""
    rng = np.random.default_rng(seed)
    rows = []
    for (label, m, n, k, ta, tb), dtype in itertools.product(shapes, dtypes):
        A, B, C = operands(rng, dtype, m, n, k, ta, tb)
        fns = [lambda reps, f=KERNELS[r]: f(ta, tb, 1.0, A, B, 0.0, C, repeats=reps)
               for r in routes]
        row = dict(label=label, m=m, n=n, k=k, ta=bool(ta), tb=bool(tb),
                   op=_routes.op_name(ta, tb), dtype=np.dtype(dtype).name,
                   default=_blas.gemm_route_default(m, n, k, ta, tb, dtype == np.float64))
        for r, t in zip(routes, time_interleaved(fns, target_s, samples)):
            row[r] = t * 1e6
        rows.append(row)
    return rows


def _fused_by_step_forward(row):
    """Products that batch-1 training fuses into one pass over W when both go
    to the small kernels (_blas.step_forward): the weight step (TN, k = 1) and
    the forward product (NN, m = 1).  Timed alone they miss the pass saved."""
    return row["default"] == "small" and (
        (row["op"] == "TN" and row["k"] == 1) or (row["op"] == "NN" and row["m"] == 1))


def choose(rows, routes, margin):
    """The table cells of measured ``rows``: per cell, the route with the least
    summed time over the cell's shapes, where the default rule's routes are
    slower than that by more than ``margin`` (a fraction); else, and in cells
    holding a product that batch-1 training fuses, the cell is left to the
    default rule.  Returns ``{cell: route}``."""
    by_cell = {}
    for row in rows:
        if row["op"] in _routes.OPS:
            key = _routes.cell_of(row["dtype"], row["op"], row["m"], row["n"], row["k"])
            by_cell.setdefault(key, []).append(row)
    cells = {}
    for key, members in by_cell.items():
        if any(_fused_by_step_forward(row) for row in members):
            continue
        totals = {r: sum(row[r] for row in members) for r in routes}
        best = min(routes, key=totals.get)
        default = sum(row[row["default"]] for row in members)
        if default > totals[best] * (1.0 + margin):
            cells[key] = best
    return cells


def tune(quick: bool = False,
         shapes: Iterable[tuple[str, int, int, int, bool, bool]] | None = None,
         dtypes: Sequence[npt.DTypeLike] = ("float32", "float64"), margin: float = 0.05,
         samples: int = 7, target_ms: float = 1.0, path: str | None = None,
         write: bool = True) -> dict[str, Any]:
    """Measure which implementation computes each matrix product fastest on
    this CPU, and route products accordingly from now on.

    Times fastnn's small kernels, its packed kernel and BLAS side by side (in
    turn, medians of several samples) on the products of dense layers'
    training steps, on one thread, for the active instruction-set path
    (:func:`fastnn.get_isa`); only kernels that path has are candidates.
    Where the route of the default rule is slower than the fastest by more
    than ``margin``, the product's table cell (a bin of m, n and k) takes the
    fastest; the table is installed at once and, with ``write``, saved to the
    per-user cache file that ``import fastnn`` loads on this CPU.  Routes never
    depend on the thread count, so neither does any result.

    Parameters
    ----------
    quick : bool, default False
        Three tiny shapes (seconds; checks that tuning runs).
    shapes : iterable of (label, m, n, k, trans_a, trans_b), optional
        The products to measure (default: the crossover grid, the three
        products of the layers 784-30-10, 784-16-16-10 and 784-128-64-10 at
        batches 1, 10, 32 and 64, 96 per dtype; well under a minute).
    dtypes : sequence of {'float32', 'float64'}, default both
    margin : float, default 0.05
        How much slower (a fraction) the default route must measure before a
        cell overrides it; near-ties keep the default.
    samples : int, default 7
        Timing samples per implementation and product.
    target_ms : float, default 1.0
        Length of one sample.
    path : str, optional
        Where to write the table (default: the cache file of this CPU, fastnn
        version and path, ``fastnn._routes.cache_path()``).
    write : bool, default True
        Write the file; with False the table is only installed in this process.

    Returns
    -------
    dict
        ``isa``, ``routes`` (the candidates), ``cells`` (``{(dtype, op, bin m,
        bin n, bin k): route}``, the cells that override the default rule),
        ``rows`` (per product: shape, dtype, default route, µs per call of each
        candidate), ``file`` (None when not written) and ``seconds``.

    Examples
    --------
    >>> import fastnn
    >>> result = fastnn.tune(quick=True, write=False)
    >>> sorted(result)
    ['cells', 'file', 'isa', 'routes', 'rows', 'seconds']
    """
    from fastnn._config import get_num_threads, set_num_threads
    start = time.perf_counter()
    if margin < 0 or samples < 1 or target_ms <= 0:
        raise ValueError("margin must be >= 0, samples >= 1 and target_ms > 0")
    dtypes = [np.dtype(d) for d in dtypes]
    if any(d.name not in _routes.DTYPES for d in dtypes):
        raise ValueError("dtypes must be float32 and/or float64")
    isa = get_isa()
    routes = candidates(isa)
    shapes = list(QUICK if quick else textbook_shapes() if shapes is None else shapes)
    before = get_num_threads()
    set_num_threads(1)
    try:
        rows = (measure(shapes, dtypes, routes, target_ms / 1e3, samples)
                if len(routes) > 1 else [])
    finally:
        set_num_threads(before)
    cells = choose(rows, routes, margin)
    _routes.install(isa, cells)
    file = None
    if write:
        file = path or _routes.cache_path(isa)
        _routes.save(isa, cells, file, rows, margin)
    _routes._SOURCES[isa] = (True, file, "tuned" if file else "tuned (not saved)")
    return {"isa": isa, "routes": routes, "cells": cells, "rows": rows, "file": file,
            "seconds": time.perf_counter() - start}
