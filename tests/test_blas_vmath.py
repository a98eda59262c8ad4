"""The two foundations under the kernels: the row-major BLAS wrapper and the vector math."""

import numpy as np
import pytest

from fastnn._kernels import _blas, _vmath

from conftest import assert_parity


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (1, 30, 784), (10, 30, 784), (17, 1, 33),
                                     (65, 129, 3)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_rowmajor_matches_numpy(rng, dtype, m, n, k, trans_a, trans_b):
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = 0.5 * (A.T if trans_a else A) @ (B.T if trans_b else B) + 2.0 * C
    _blas.gemm_rowmajor(trans_a, trans_b, 0.5, A, B, 2.0, C)
    assert_parity("gemm", C, expected, dtype)


@pytest.mark.parametrize("name", ["exp", "tanh", "log", "log1p", "expm1"])
def test_vmath_is_numpys_loop_at_any_offset_and_length(rng, dtype, name):
    x = (rng.standard_normal(10_007) * 20).astype(dtype)
    if name in ("log", "log1p"):
        x = np.abs(x) + dtype(1e-3)
    expected = getattr(np, name)(x)
    for start, length in [(0, 10_007), (1, 1), (3, 17), (5, 64), (7, 9_999)]:
        out = np.full(length, np.nan, dtype)
        _vmath.apply(name, x[start:start + length], out)
        np.testing.assert_array_equal(out, expected[start:start + length])
    inplace = x.copy()
    _vmath.apply(name, inplace, inplace)
    np.testing.assert_array_equal(inplace, expected)
