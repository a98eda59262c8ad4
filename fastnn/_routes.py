"""Product routes measured on this CPU: the route tables and their cache file.

``gemm`` sends each matrix product to fastnn's small kernels, its packed kernel
or BLAS by a route table per instruction-set path (``csrc/gemm_route.h``;
where a table cell is empty, a default rule decides).  :func:`fastnn.tune`
(``python -m fastnn tune``) measures the three on this CPU and writes the
table of the active path to a per-user cache file::

    $XDG_CACHE_HOME/fastnn/routes-<fastnn version>-<cpu key>-<path>.json

(``~/.cache`` when ``XDG_CACHE_HOME`` is unset; the cpu key is the brand
string and family, model and stepping).  On import fastnn loads the file of
every path this CPU runs, when there is one; a file that cannot be read, is
not valid, or was measured with another BLAS library is ignored with a
warning (the default rule stays).  ``FASTNN_ROUTES=default`` ignores the cache
altogether.  :func:`fastnn.config` reports where the active path's routes come
from.

State: the tables live in the ``_blas`` extension (one static array); this
module remembers, per path, which file filled it (``_SOURCES``).  Tables
change only on import, in ``tune`` and in ``install``/``reset``, never while a
product runs.
"""

import json
import os
import re
import warnings

import numpy as np

from fastnn._isa import ISA_NAMES, available_isas, get_isa
from fastnn._kernels import _blas, _cpu
from fastnn._version import __version__

#: Version of the cache file's layout.
FORMAT = "fastnn-routes/1"
DTYPES = ("float32", "float64")
#: The table's op axis (csrc/gemm_route.h): op(A)·op(B) with N = as stored,
#: T = transposed.
OPS = ("NN", "NT", "TN")

#: Path name -> (tuned, file, note): where that path's table came from.
_SOURCES = {}


def op_name(trans_a, trans_b):
    """'NN', 'NT', 'TN' or 'TT' for a product's transposes."""
    return ("T" if trans_a else "N") + ("T" if trans_b else "N")


def cell_of(dtype, op, m, n, k):
    """A product's cell, as ``install`` takes it: (dtype name, op, bin of m,
    bin of n, bin of k)."""
    return (np.dtype(dtype).name, op, _blas.route_bin(m), _blas.route_bin(n),
            _blas.route_bin(k))


def cpu_key():
    """This CPU, as the cache file names it: brand, family.model.stepping."""
    brand = re.sub(r"[^a-z0-9]+", "-", _cpu.cpu_brand().lower()).strip("-")[:48]
    return "%s-%d.%d.%d" % ((brand or "cpu",) + tuple(_cpu.cpu_signature()))


def blas_key():
    """The BLAS library gemm calls: API, version and kernel ('unknown' if unseen)."""
    from fastnn._config import _blas_controllers   # _config imports this module
    infos = [c.info() for c in _blas_controllers()]
    return "; ".join("%s %s %s" % (i.get("internal_api"), i.get("version"),
                                   i.get("architecture")) for i in infos) or "unknown"


#: OpenBLAS core types whose kernels use AVX-512 (lower case).
AVX512_OPENBLAS_CORES = ("skylakex", "cooperlake", "sapphirerapids")


def blas_has_avx512():
    """True when the BLAS library gemm calls has AVX-512 kernels: MKL, or
    OpenBLAS on one of ``AVX512_OPENBLAS_CORES``.  The default rule of the
    AVX-512 path depends on it (``csrc/gemm_route.h``): an AVX2 BLAS kernel
    loses dW = Xᵀ·dZ to the small kernels by 2-6x."""
    from fastnn._config import _blas_controllers   # _config imports this module
    for controller in _blas_controllers():
        info = controller.info()
        api = info.get("internal_api")
        if api == "mkl" or (api == "openblas" and str(info.get("architecture")).lower()
                            in AVX512_OPENBLAS_CORES):
            return True
    return False


def cache_dir():
    """Directory of the route cache files."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".cache")
    return os.path.join(base, "fastnn")


def cache_path(isa=None):
    """The cache file of path ``isa`` (default: the active path) on this CPU."""
    return os.path.join(cache_dir(), "routes-%s-%s-%s.json" % (
        __version__, cpu_key(), isa or get_isa()))


def install(isa, cells):
    """Make ``cells`` path ``isa``'s table: ``{(dtype, op, bin m, bin n, bin k): route}``,
    routes by name; every other cell left to the default rule.  Raises ValueError,
    changing nothing, when a cell is outside the table or names a route the path
    has no kernel for."""
    table = np.zeros(_blas.ROUTE_TABLE_SHAPE, np.uint8)
    for (dtype, op, bm, bn, bk), route in cells.items():
        if dtype not in DTYPES or op not in OPS or route not in _blas.ROUTE_NAMES:
            raise ValueError("not a table cell: %r -> %r" % ((dtype, op, bm, bn, bk), route))
        bins = (bm, bn, bk)
        if not all(isinstance(b, int) and 0 <= b < table.shape[2] for b in bins):
            raise ValueError("bins out of range: %r" % (bins,))
        table[DTYPES.index(dtype), OPS.index(op), bm, bn, bk] = \
            _blas.ROUTE_NAMES.index(route)
    _blas.set_route_table(ISA_NAMES.index(isa), table)


def reset(isa=None):
    """Give path ``isa`` (default: every path) the default rule back."""
    for name in [isa] if isa else ISA_NAMES:
        install(name, {})
        _SOURCES[name] = (False, None, default_rule_name(name))


def default_rule_name(isa=None):
    """The default rule of path ``isa`` (default: the active path), as ``info``
    names it."""
    if (isa or get_isa()) == "avx512":
        return "default rule for %s BLAS" % ("an AVX-512" if _blas.blas_avx512()
                                             else "a non-AVX-512")
    return "default rule"


def _parse(text, isa):
    """The cells of a cache file's text, after checking it belongs here."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a %s file" % FORMAT)
    expected = {"fastnn": __version__, "cpu": cpu_key(), "isa": isa,
                "bins": _blas.ROUTE_TABLE_SHAPE[2]}
    for key, want in expected.items():
        if data.get(key) != want:
            raise ValueError("%s is %r, not %r" % (key, data.get(key), want))
    if data.get("blas") != blas_key():
        raise ValueError("measured with BLAS %r, this is %r (run python -m fastnn tune "
                         "again)" % (data.get("blas"), blas_key()))
    cells = {}
    for cell in data.get("cells"):
        if not (isinstance(cell, list) and len(cell) == 6):
            raise ValueError("bad cell %r" % (cell,))
        cells[tuple(cell[:5])] = cell[5]
    return cells


def load(isa, path):
    """Fill path ``isa``'s table from the cache file ``path``.

    Raises OSError when the file cannot be read, ValueError when it is not a
    valid table for this CPU, fastnn version, path and BLAS library; the table
    is then unchanged.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        cells = _parse(text, isa)
    except (TypeError, KeyError, AttributeError) as exc:   # valid JSON, wrong layout
        raise ValueError("malformed: %s" % exc) from None
    install(isa, cells)
    _SOURCES[isa] = (True, path, "tuned")


def save(isa, cells, path, measured=(), margin=None):
    """Write path ``isa``'s ``cells`` (as ``install`` takes them) to ``path``,
    atomically (a temporary file in the same directory, then a rename)."""
    data = {"format": FORMAT, "fastnn": __version__, "cpu": cpu_key(),
            "cpu_brand": _cpu.cpu_brand(), "isa": isa, "blas": blas_key(),
            "bins": _blas.ROUTE_TABLE_SHAPE[2], "margin": margin,
            "cells": [list(cell) + [route] for cell, route in sorted(cells.items())],
            "measured": list(measured)}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=None, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_cache():
    """Load the cache file of every path this CPU runs (on import), unless
    ``FASTNN_ROUTES=default``; a bad file gives a warning and the default rule."""
    mode = os.environ.get("FASTNN_ROUTES", "").strip()
    if mode not in ("", "default"):
        warnings.warn("FASTNN_ROUTES=%r is not understood (only 'default' is); "
                      "loading the tuned routes" % mode, RuntimeWarning, stacklevel=2)
    _blas.set_blas_avx512(blas_has_avx512())
    for isa in available_isas():
        reset(isa)
        rule = default_rule_name(isa)
        if mode == "default":
            _SOURCES[isa] = (False, None, "%s (FASTNN_ROUTES=default)" % rule)
            continue
        path = cache_path(isa)
        if not os.path.exists(path):
            _SOURCES[isa] = (False, None, "%s (not tuned: no %s)" % (rule, path))
            continue
        try:
            load(isa, path)
        except (OSError, ValueError) as exc:
            warnings.warn("fastnn: ignoring the route cache %s (%s); using the default "
                          "routes" % (path, exc), RuntimeWarning, stacklevel=2)
            _SOURCES[isa] = (False, None, "%s (ignored %s: %s)" % (rule, path, exc))


def source(isa=None):
    """Where path ``isa``'s routes (default: the active path's) come from:
    a dict with ``isa``, ``tuned`` (bool), ``file`` (or None) and ``note``."""
    isa = isa or get_isa()
    tuned, path, note = _SOURCES.get(isa, (False, None, "default rule"))
    return {"isa": isa, "tuned": tuned, "file": path, "note": note}


load_cache()
