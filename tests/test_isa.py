"""Instruction-set paths: choosing one, refusing one the CPU lacks, and the
promises that must hold on every path this CPU can run.

Each path (csrc/isa.h) has its own matrix kernels, which sum in their own
order; so results are held to the NumPy reference within tolerance on every
path, and to bit-identity across thread counts on each path (forward and
backward passes: test_threads.py; training: here).  The elementwise loops are
bit-identical across paths.  CI also runs the whole suite once per path
(FASTNN_ISA, .ci/run).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import reference
from fastnn._kernels import _finite
from fastnn._kernels import normalization as _normalization
from fastnn._validation import NORMALIZATIONS
from fastnn._kernels import optim as _optim

from conftest import assert_parity

ALL_PATHS = ("avx512", "avx2", "neon", "portable")


def test_available_paths_are_known_and_include_portable():
    available = fastnn.available_isas()
    assert set(available) <= set(ALL_PATHS)
    assert available[-1] == "portable"
    wanted = os.environ.get("FASTNN_ISA", "").strip()
    assert fastnn.get_isa() == (wanted or available[0])


@pytest.mark.parametrize("name", ["sse", "AVX2", "", None, 2])
def test_set_isa_rejects_names_that_are_no_path(name):
    with pytest.raises(ValueError, match="isa must be one of"):
        fastnn.set_isa(name)


def test_set_isa_refuses_a_path_this_cpu_lacks():
    missing = [name for name in ALL_PATHS if name not in fastnn.available_isas()]
    assert missing   # no CPU runs both the x86 paths and NEON
    before = fastnn.get_isa()
    for name in missing:
        with pytest.raises(ValueError, match="cannot run the %s path" % name):
            fastnn.set_isa(name)
        assert fastnn.get_isa() == before


def test_use_isa_restores_the_path():
    before = fastnn.get_isa()
    with fastnn.use_isa("portable"):
        assert fastnn.get_isa() == "portable"
    assert fastnn.get_isa() == before


def _import_with(value):
    env = dict(os.environ, FASTNN_ISA=value)
    return subprocess.run([sys.executable, "-c", "import fastnn; print(fastnn.get_isa())"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_environment_variable_forces_a_path():
    for name in fastnn.available_isas():
        out = _import_with(name)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == name


def test_environment_variable_naming_a_missing_path_is_a_clear_error():
    missing = next(name for name in ALL_PATHS if name not in fastnn.available_isas())
    out = _import_with(missing)
    assert out.returncode != 0
    assert "FASTNN_ISA=%r" % missing in out.stderr
    assert "available here" in out.stderr
    assert "Illegal instruction" not in out.stderr


def test_every_path_trains_with_the_same_bits_for_1_and_2_threads(isa, dtype):
    rng = np.random.default_rng(7)
    X = rng.random((200, 64)).astype(dtype)
    y = rng.integers(0, 10, 200)
    params = []
    before = fastnn.get_num_threads()
    try:
        for n in (1, 2):
            fastnn.set_num_threads(n)
            model = fastnn.Sequential([fastnn.Dense(64, 30), fastnn.Sigmoid(),
                                       fastnn.Dense(30, 10), fastnn.Softmax()],
                                      dtype=dtype, seed=3)
            model.fit(X, y, loss=fastnn.CrossEntropyLoss(), optimizer=fastnn.SGD(0.5),
                      epochs=3, batch_size=10, verbose=0)
            params.append(model.params.copy())
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(params[0], params[1])


def test_elementwise_loops_give_the_same_bits_on_every_path(rng, dtype):
    p0 = rng.standard_normal(1003).astype(dtype)
    g = rng.standard_normal(1003).astype(dtype)
    expected = p0.copy()
    reference.sgd_update(expected, g, 0.1)
    for name in fastnn.available_isas():
        with fastnn.use_isa(name):
            p = p0.copy()
            _optim.sgd_update(p, g, 0.1, 0.0, 1)
            assert_parity("sgd_update [%s]" % name, p, expected, dtype, exact=True)
            for bad in (0, 500, 1002):      # head, middle and tail of the vector loop
                for value in (np.nan, np.inf, -np.inf):
                    x = p0.copy()
                    x[bad] = value
                    assert not _finite.all_finite_contiguous(x)
            assert _finite.all_finite_contiguous(p0)


def _normalization_passes(name, X, gamma, beta, dY, running_mean, running_var):
    """Training forward, backward and inference of normalization ``name``."""
    kind = NORMALIZATIONS[name]
    n, units = X.shape
    xhat, out = np.empty_like(X), np.empty_like(X)
    stats = np.empty(max(3 * units, n), X.dtype)
    _normalization.norm_forward(kind, X, gamma, beta, 1e-5, xhat, out, stats)
    dX, dgamma, dbeta = dY.copy(), np.empty_like(gamma), np.empty_like(gamma)
    _normalization.norm_backward(kind, dX, xhat, stats, gamma, dgamma, dbeta)
    inferred = X.copy()
    _normalization.norm_inference(kind, inferred, gamma, beta, running_mean, running_var, 1e-5)
    return {"out": out, "xhat": xhat, "stats": stats[:3 * units if name == "batch" else n],
            "dX": dX, "dgamma": dgamma, "dbeta": dbeta, "inference": inferred}


@pytest.mark.parametrize("name", ["batch", "layer"])
@pytest.mark.parametrize("n, units", [(1, 3), (5, 8), (9, 13), (40, 300)])
def test_normalization_gives_the_same_bits_on_every_path(rng, dtype, name, n, units):
    # units below, at and past the 8-lane blocks of a row's sums (and a tail);
    # one path's results against another's, and the portable path's against
    # the NumPy reference within tolerance
    X = (rng.standard_normal((n, units)) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(units).astype(dtype), rng.standard_normal(units).astype(dtype)
    dY = rng.standard_normal((n, units)).astype(dtype)
    running_mean = rng.standard_normal(units).astype(dtype)
    running_var = (rng.random(units) + 0.1).astype(dtype)
    args = (X, gamma, beta, dY, running_mean, running_var)
    with fastnn.use_isa("portable"):
        expected = _normalization_passes(name, *args)
    out, xhat, mean, var = reference.norm_forward(X, gamma, beta, name, 1e-5)
    assert_parity("norm_forward [portable]", expected["out"], out, dtype)
    dX = reference.norm_backward(dY, xhat, var, gamma, name, 1e-5)[0]
    assert_parity("norm_backward [portable]", expected["dX"], dX, dtype)
    for path in fastnn.available_isas():
        with fastnn.use_isa(path):
            actual = _normalization_passes(name, *args)
        for key, value in expected.items():
            np.testing.assert_array_equal(actual[key], value, err_msg="%s [%s]" % (key, path))
