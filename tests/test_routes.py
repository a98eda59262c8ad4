"""Product routes: the route table (csrc/gemm_route.h), its cache file
(fastnn/_routes.py) and tuning (fastnn/_tune.py).

No test reads the user's cache: files go to pytest's tmp_path, through
XDG_CACHE_HOME or an explicit path, and every test leaves the tables as it
found them (the suite runs with FASTNN_ROUTES=default, conftest.py).
"""

import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import fastnn
from fastnn import _routes, _tune
from fastnn.__main__ import main
from fastnn._isa import ISA_NAMES
from fastnn._kernels import _blas

from conftest import assert_parity

TRANS = list(itertools.product((False, True), repeat=2))
SHAPES = [(1, 1, 1), (1, 30, 784), (10, 30, 784), (784, 30, 10), (10, 784, 30), (3, 5, 7),
          (17, 33, 129), (32, 16, 16), (64, 10, 64), (256, 128, 784), (2, 65, 3)]


@pytest.fixture(autouse=True)
def keep_tables():
    """Restore every path's table and its recorded source after the test."""
    tables = {isa: _blas.get_route_table(ISA_NAMES.index(isa)) for isa in ISA_NAMES}
    sources = dict(_routes._SOURCES)
    yield
    for isa, table in tables.items():
        _blas.set_route_table(ISA_NAMES.index(isa), table)
    _routes._SOURCES.clear()
    _routes._SOURCES.update(sources)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("FASTNN_ROUTES", raising=False)
    return tmp_path


def _every_cell_of(shapes, route):
    """Cells sending every NN/NT/TN product of `shapes`, both dtypes, to `route`."""
    return {_routes.cell_of(dtype, _routes.op_name(ta, tb), m, n, k): route
            for (m, n, k), (ta, tb), dtype in itertools.product(
                shapes, TRANS, _routes.DTYPES) if not (ta and tb)}


def _other_route(isa, m, n, k, ta, tb, dbl):
    """A route path `isa` has, other than the default one for this product (or None)."""
    default = _blas.gemm_route_default(m, n, k, ta, tb, dbl)
    return next((r for r in _tune.candidates(isa) if r != default), None)


def test_bins_are_half_octaves():
    assert [_blas.route_bin(x) for x in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 22, 23,
                                         31, 32, 8191, 8192, 10**6)] == \
        [0, 2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 25, 26, 26]
    for x in range(1, 9000):
        b = _blas.route_bin(x)
        assert b == min(int(np.floor(2 * np.log2(x) + 1e-12)), 26), x
    # the layer widths of the small networks fall in different bins
    assert len({_blas.route_bin(x) for x in (10, 16, 30)}) == 3


def test_untuned_paths_take_the_default_rule():
    for isa in fastnn.available_isas():
        assert not _blas.get_route_table(ISA_NAMES.index(isa)).any()
        with fastnn.use_isa(isa):
            for (m, n, k), (ta, tb), dbl in itertools.product(SHAPES, TRANS, (False, True)):
                assert _blas.gemm_route(m, n, k, ta, tb, dbl) == \
                    _blas.gemm_route_default(m, n, k, ta, tb, dbl)
                if isa in ("portable", "neon"):   # no rule measured there yet
                    assert _blas.gemm_route(m, n, k, ta, tb, dbl) == "blas"


def test_set_route_table_validates():
    code = ISA_NAMES.index(fastnn.get_isa())
    good = np.zeros(_blas.ROUTE_TABLE_SHAPE, np.uint8)
    with pytest.raises(ValueError, match="shape"):
        _blas.set_route_table(code, np.zeros((2, 3, 27, 27, 26), np.uint8))
    with pytest.raises(ValueError):
        _blas.set_route_table(code, good.astype(np.int64))
    with pytest.raises(ValueError):
        _blas.set_route_table(code, np.asfortranarray(good))
    with pytest.raises(ValueError, match="path code"):
        _blas.set_route_table(len(ISA_NAMES), good)
    bad = good.copy()
    bad[1, 2, 3, 4, 5] = len(_blas.ROUTE_NAMES)
    with pytest.raises(ValueError, match="no route"):
        _blas.set_route_table(code, bad)
    # a kernel the path lacks is refused: the portable path has only BLAS
    portable = ISA_NAMES.index("portable")
    for route in ("small", "packed"):
        table = good.copy()
        table[0, 0, 0, 0, 0] = _blas.ROUTE_NAMES.index(route)
        with pytest.raises(ValueError, match="lacks"):
            _blas.set_route_table(portable, table)
    assert not _blas.get_route_table(portable).any()   # unchanged
    with pytest.raises(ValueError):
        _routes.install("portable", {("float32", "NN", 0, 0, 0): "small"})
    with pytest.raises(ValueError):
        _routes.install(fastnn.get_isa(), {("float32", "NN", 0, 0, 27): "blas"})
    with pytest.raises(ValueError):
        _routes.install(fastnn.get_isa(), {("float16", "NN", 0, 0, 0): "blas"})


def test_a_loaded_table_routes_its_cells():
    # On every path, each cell goes where the table says, and only that cell.
    for isa in fastnn.available_isas():
        with fastnn.use_isa(isa):
            for (m, n, k), (ta, tb), dbl in itertools.product(SHAPES, TRANS, (False, True)):
                if ta and tb:
                    continue
                route = _other_route(isa, m, n, k, ta, tb, dbl) or "blas"
                dtype = "float64" if dbl else "float32"
                cell = _routes.cell_of(dtype, _routes.op_name(ta, tb), m, n, k)
                _routes.install(isa, {cell: route})
                assert _blas.gemm_route(m, n, k, ta, tb, dbl) == route
                # the same shape in the other dtype, and the other ops, keep the default
                assert _blas.gemm_route(m, n, k, ta, tb, not dbl) == \
                    _blas.gemm_route_default(m, n, k, ta, tb, not dbl)
                assert _blas.gemm_route(m, n, k, True, True, dbl) == \
                    _blas.gemm_route_default(m, n, k, True, True, dbl)
            _routes.reset(isa)


def test_routes_do_not_depend_on_the_thread_count():
    isa = fastnn.get_isa()
    routes = _tune.candidates(isa)
    # a table using every route this path has, cell by cell
    cells = {cell: routes[i % len(routes)]
             for i, cell in enumerate(sorted(_every_cell_of(SHAPES, "blas")))}
    _routes.install(isa, cells)
    before = fastnn.get_num_threads()
    try:
        decisions = []
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            decisions.append([_blas.gemm_route(m, n, k, ta, tb, dbl) for (m, n, k), (ta, tb), dbl
                              in itertools.product(SHAPES, TRANS, (False, True))])
    finally:
        fastnn.set_num_threads(before)
    assert decisions[0] == decisions[1]


@pytest.mark.parametrize("isa", fastnn.available_isas())
def test_routed_gemm_matches_numpy_on_every_route_of_every_path(isa, dtype, rng):
    shapes = [(1, 1, 1), (3, 5, 7), (17, 33, 129), (2, 65, 3), (10, 30, 784), (64, 10, 64),
              (130, 70, 300)]
    with fastnn.use_isa(isa):
        for route in _tune.candidates(isa):
            _routes.install(isa, _every_cell_of(shapes, route))
            for (m, n, k), (ta, tb) in itertools.product(shapes, TRANS):
                if not (ta and tb):
                    assert _blas.gemm_route(m, n, k, ta, tb, dtype == np.float64) == route
                A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                C0 = rng.standard_normal((m, n)).astype(dtype)
                for alpha, beta in ((1.0, 0.0), (0.5, 1.5)):
                    C = C0.copy() if beta else np.full((m, n), np.nan, dtype)
                    _blas.gemm_rowmajor(ta, tb, alpha, A, B, beta, C)
                    want = alpha * ((A.T if ta else A).astype(np.float64)
                                    @ (B.T if tb else B).astype(np.float64))
                    if beta:
                        want += beta * C0
                    assert_parity("gemm routed (%s)" % route, C, want, dtype)
        _routes.reset(isa)


def test_the_cache_file_is_loaded_on_import(cache_home):
    isa = fastnn.get_isa()
    path = _routes.cache_path(isa)
    assert path.startswith(str(cache_home))
    assert fastnn.__version__ in os.path.basename(path) and isa in os.path.basename(path)
    _routes.load_cache()
    assert not fastnn.config()["routes"]["tuned"]
    assert "not tuned" in fastnn.config()["routes"]["note"]
    cells = {("float64", "TN", 2, 8, 9): "blas"}
    _routes.save(isa, cells, path)
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp")]
    _routes.reset()
    _routes.load_cache()
    table = _blas.get_route_table(ISA_NAMES.index(isa))
    assert table[1, _routes.OPS.index("TN"), 2, 8, 9] == _blas.ROUTE_NAMES.index("blas")
    assert np.count_nonzero(table) == 1
    assert fastnn.config()["routes"] == {"isa": isa, "tuned": True, "file": path,
                                         "note": "tuned"}
    out = []
    fastnn.show_config(file=type("F", (), {"write": lambda self, s: out.append(s)})())
    assert "routes:    %s path, tuned (%s)" % (isa, path) in "".join(out)


def test_import_fastnn_loads_the_cache_and_survives_a_corrupt_one(cache_home):
    isa = fastnn.get_isa()
    path = _routes.cache_path(isa)
    _routes.save(isa, {("float32", "NT", 0, 8, 6): "blas"}, path)
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    env.pop("FASTNN_ROUTES", None)
    code = "import fastnn; print(fastnn.config()['routes'])"

    def run():
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc

    assert "'tuned': True" in run().stdout
    with open(path, "w") as f:
        f.write('{"format": "fastnn-routes/1", "cells": [[')
    proc = run()
    assert "'tuned': False" in proc.stdout
    assert "ignoring the route cache" in proc.stderr


def test_fastnn_routes_default_ignores_the_cache(cache_home, monkeypatch):
    isa = fastnn.get_isa()
    _routes.save(isa, {("float32", "NN", 3, 4, 5): "blas"}, _routes.cache_path(isa))
    monkeypatch.setenv("FASTNN_ROUTES", "default")
    _routes.load_cache()
    assert not _blas.get_route_table(ISA_NAMES.index(isa)).any()
    assert fastnn.config()["routes"]["note"] == (_routes.default_rule_name()
                                                 + " (FASTNN_ROUTES=default)")


@pytest.mark.parametrize("damage", [
    "garbage", "empty", "not-a-dict", "format", "version", "cpu", "isa", "bins", "blas",
    "cells-missing", "cell-short", "cell-bin", "cell-route", "cell-dtype"])
def test_a_bad_cache_file_warns_and_keeps_the_default(cache_home, damage):
    isa = fastnn.get_isa()
    path = _routes.cache_path(isa)
    _routes.save(isa, {("float32", "NN", 3, 4, 5): "blas"}, path)
    data = json.loads(open(path).read())
    text = {"garbage": "{not json", "empty": "", "not-a-dict": "[1, 2]"}.get(damage)
    if text is None:
        key, value = {
            "format": ("format", "other/1"), "version": ("fastnn", "0.0.0"),
            "cpu": ("cpu", "some-other-cpu-6.1.1"), "isa": ("isa", "neon"),
            "bins": ("bins", 14), "blas": ("blas", "mkl 2024 skx"),
            "cells-missing": ("cells", None), "cell-short": ("cells", [["float32", "NN"]]),
            "cell-bin": ("cells", [["float32", "NN", 0, 0, 99, "blas"]]),
            "cell-route": ("cells", [["float32", "NN", 0, 0, 1, "fast"]]),
            "cell-dtype": ("cells", [["int8", "NN", 0, 0, 1, "blas"]]),
        }[damage]
        data[key] = value
        text = json.dumps(data)
    with open(path, "w") as f:
        f.write(text)
    _routes.reset()
    with pytest.warns(RuntimeWarning, match="ignoring the route cache"):
        _routes.load_cache()
    assert not _blas.get_route_table(ISA_NAMES.index(isa)).any()
    source = fastnn.config()["routes"]
    assert not source["tuned"] and "ignored" in source["note"]


def test_an_unreadable_cache_file_warns(cache_home):
    path = _routes.cache_path()
    os.makedirs(path)          # a directory where the file should be
    with pytest.warns(RuntimeWarning, match="ignoring the route cache"):
        _routes.load_cache()
    assert not fastnn.config()["routes"]["tuned"]


def test_a_cell_naming_a_missing_kernel_is_refused(cache_home):
    # portable has BLAS only: a file claiming the small kernel there is refused
    path = _routes.cache_path("portable")
    _routes.save("portable", {}, path)
    data = json.loads(open(path).read())
    data["cells"] = [["float32", "NN", 0, 0, 0, "small"]]
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match="lacks"):
        _routes.load("portable", path)
    with pytest.warns(RuntimeWarning, match="ignoring the route cache"):
        _routes.load_cache()


def test_choose_keeps_the_default_on_near_ties():
    def row(m, n, k, op, default, **us):
        return dict(m=m, n=n, k=k, op=op, dtype="float32", default=default, **us)
    rows = [row(10, 30, 784, "NN", "blas", small=6.0, blas=15.0),     # clear win
            row(32, 16, 16, "NN", "blas", small=0.30, blas=0.31),     # near tie
            row(1, 16, 16, "NN", "small", small=0.30, blas=0.20),     # fused: kept
            row(784, 16, 1, "TN", "small", small=3.0, blas=2.0),      # fused: kept,
            row(784, 17, 1, "TN", "blas", small=1.0, blas=2.0),       # and its cell
            row(3, 3, 3, "TT", "blas", small=0.01, blas=1.0)]         # TT: no table
    # two shapes in one cell: summed
    rows += [row(64, 10, 64, "NT", "blas", small=1.0, blas=2.0),
             row(64, 11, 64, "NT", "blas", small=1.5, blas=1.2)]
    cells = _tune.choose(rows, ["small", "blas"], margin=0.05)
    assert cells == {_routes.cell_of("float32", "NN", 10, 30, 784): "small",
                     _routes.cell_of("float32", "NT", 64, 10, 64): "small"}
    assert _tune.choose(rows, ["small", "blas"], margin=0.5) == {
        _routes.cell_of("float32", "NN", 10, 30, 784): "small"}


def test_measure_times_every_candidate():
    # the timing helper, on kernels every machine has (the small kernel's C
    # fallback where the path has no SIMD one)
    rows = _tune.measure(_tune.QUICK, [np.float32, np.float64], ["small", "blas"],
                         target_s=2e-4, samples=3)
    assert len(rows) == 6
    for r in rows:
        assert r["small"] > 0 and r["blas"] > 0
        assert r["default"] == _blas.gemm_route_default(r["m"], r["n"], r["k"], r["ta"],
                                                         r["tb"], r["dtype"] == "float64")


def test_tune_quick_writes_a_loadable_table(cache_home, capsys):
    start = time.perf_counter()
    result = fastnn.tune(quick=True, samples=3, target_ms=0.2)
    assert time.perf_counter() - start < 20
    isa = fastnn.get_isa()
    assert result["file"] == _routes.cache_path(isa) and os.path.exists(result["file"])
    assert result["routes"] == _tune.candidates(isa)
    assert len(result["rows"]) == (6 if len(result["routes"]) > 1 else 0)
    assert fastnn.config()["routes"]["tuned"]
    table = _blas.get_route_table(ISA_NAMES.index(isa))
    _routes.reset()
    _routes.load_cache()
    np.testing.assert_array_equal(_blas.get_route_table(ISA_NAMES.index(isa)), table)
    assert fastnn.config()["routes"]["file"] == result["file"]
    # the command line, to an explicit file
    out = cache_home / "elsewhere" / "routes.json"
    assert main(["tune", "--quick", "--out", str(out)]) == 0
    assert "wrote %s" % out in capsys.readouterr().out
    assert json.loads(out.read_text())["isa"] == isa


def test_tune_without_writing_only_installs(cache_home):
    result = fastnn.tune(quick=True, samples=3, target_ms=0.2, write=False)
    assert result["file"] is None and not os.listdir(cache_home)
    assert fastnn.config()["routes"]["tuned"]
    with pytest.raises(ValueError):
        fastnn.tune(quick=True, dtypes=("float16",), write=False)


def test_the_avx512_default_rule_follows_the_blas_kernel():
    """With a BLAS without AVX-512 kernels, the AVX-512 path's default rule
    sends every product up to 2^22 multiply-adds to the small kernels; with
    one, the Intel-measured crossover (dW of 16→16 at batch 32 to BLAS).
    Other paths do not depend on the BLAS kernel."""
    before = _blas.blas_avx512()
    shapes = [(16, 16, 32, True, False), (784, 30, 10, True, False),
              (64, 784, 30, False, True), (256, 64, 128, False, False)]
    try:
        routes = {}
        for flag in (False, True):
            _blas.set_blas_avx512(flag)
            routes[flag] = [_blas.gemm_route_default(*shape, False) for shape in shapes]
        if fastnn.get_isa() == "avx512":
            assert routes[False] == ["small"] * len(shapes)
            assert routes[True][0] == "blas"
        else:
            assert routes[False] == routes[True]
    finally:
        _blas.set_blas_avx512(before)
    assert _routes.blas_has_avx512() == before
