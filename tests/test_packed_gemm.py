"""fastnn's own packed GEMM for large products (csrc/packed_gemm.h), against NumPy.

On every instruction-set path this CPU can run (the ``isa`` fixture: the
AVX-512 and AVX2 packed kernels; elsewhere the entry points fall back to the
small kernels, which must keep the same contract): every transpose
combination, float32 and float64, alpha and beta (beta = 0 with C full of NaN:
the kernel must not read C), on shapes that cross each blocking boundary: the
micro-tile's rows (12 / 6) and two vectors of columns (32 / 16 floats, 16 / 8
doubles), the k block (AVX-512 384 / 256, AVX2 384 / 192, so later blocks add
into C), the column block (480 / 240, 256 / 256), a piece of several column
blocks (AVX2) and the row block (1020); then the thread split (bit-identical
for 1 and 2 threads) and the routing rule.
"""

import itertools

import numpy as np
import pytest

import fastnn
from fastnn._kernels import _blas

from conftest import assert_parity
from test_small_gemm import SCALARS, TRANS, TRANS_IDS, _expected, _operands, _pad_nan

SHAPES = [
    (1, 1, 1), (1, 33, 5), (13, 1, 7), (11, 17, 3),          # less than one tile
    (6, 16, 192), (7, 17, 193), (5, 15, 191),                # AVX2 tile, double k block
    (12, 32, 384), (13, 33, 385), (25, 47, 769),             # tile and k-block edges
    (19, 1100, 40),                                          # AVX2: pieces of 4 blocks
    (24, 481, 70), (37, 500, 257),                           # column blocks
    (1030, 40, 20),                                          # row blocks
    (256, 130, 300), (100, 64, 1000),                        # mixed
]


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_packed_kernel_matches_numpy(isa, rng, dtype, shape, trans):
    (m, n, k), (trans_a, trans_b) = shape, trans
    A, B, C0 = _operands(rng, dtype, m, n, k, trans_a, trans_b)
    for alpha, beta, nan_fill in SCALARS:
        C = np.full_like(C0, np.nan) if nan_fill else C0.copy()
        _blas.gemm_packed(trans_a, trans_b, alpha, A, B, beta, C)
        assert not np.isnan(C).any(), "NaN leaked (alpha=%g, beta=%g)" % (alpha, beta)
        assert_parity("gemm_packed", C, _expected(A, B, C0, alpha, beta, trans_a, trans_b),
                      dtype)


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
def test_packed_kernel_with_leading_dimensions(isa, rng, dtype, trans):
    # Column slices of wider arrays: lda, ldb, ldc exceed the row lengths.
    (trans_a, trans_b), (m, n, k) = trans, (29, 70, 400)
    A, B, C0 = _operands(rng, dtype, m, n, k, trans_a, trans_b)
    A_wide, B_wide, C_wide = _pad_nan(A), _pad_nan(B), _pad_nan(C0)
    for alpha, beta, _ in SCALARS:
        C_wide[:, :n] = C0
        _blas.gemm_packed(trans_a, trans_b, alpha, A_wide[:, :A.shape[1]],
                          B_wide[:, :B.shape[1]], beta, C_wide[:, :n])
        assert_parity("gemm_packed", C_wide[:, :n],
                      _expected(A, B, C0, alpha, beta, trans_a, trans_b), dtype)
        assert np.isnan(C_wide[:, n:]).all(), "wrote past the end of C's rows"


# Split by columns (many column tiles) and by rows (one column tile), both
# large enough for two threads.
THREAD_SHAPES = [(256, 1024, 512), (2000, 30, 512)]


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shape", THREAD_SHAPES, ids=["by_columns", "by_rows"])
def test_packed_kernel_is_bit_identical_for_any_thread_count(isa, rng, dtype, shape, trans):
    (m, n, k), (trans_a, trans_b) = shape, trans
    A, B, C0 = _operands(rng, dtype, m, n, k, trans_a, trans_b)
    before = fastnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 1):
            fastnn.set_num_threads(threads)
            C = C0.copy()
            _blas.gemm_packed(trans_a, trans_b, 0.5, A, B, 1.5, C)
            results.append(C)
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])
    assert_parity("gemm_packed", results[0], _expected(A, B, C0, 0.5, 1.5, trans_a, trans_b),
                  dtype)


def test_routing_sends_large_float32_products_to_the_packed_kernel(isa):
    large = [(256, 4096, 1024), (1024, 4096, 256), (4096, 1024, 256)]   # above 2^25
    upper = [(256, 128, 784), (784, 128, 256), (256, 30, 784)]   # 2^22 < m·n·k <= 2^25
    mid = [(128, 64, 256), (784, 16, 32)]      # 2^18 < m·n·k <= 2^22
    tiny = [(64, 10, 64), (16, 16, 32)]        # OpenBLAS stays on one thread
    if isa not in ("avx512", "avx2"):
        assert all(_blas.gemm_route(*s, ta, tb, False) == "blas"
                   for s in large + upper + mid for ta, tb in TRANS)
        pytest.skip("no packed kernel on the %s path: gemm calls BLAS for all but nothing"
                    % isa)
    for (m, n, k), (ta, tb) in itertools.product(large, TRANS):
        assert _blas.gemm_route(m, n, k, ta, tb, False) == "packed"
        assert _blas.gemm_route(m, n, k, ta, tb, True) == "blas"
    if isa == "avx2":
        assert all(_blas.gemm_route(*s, ta, tb, False) == "packed"
                   for s in upper for ta, tb in TRANS)
        return   # below 2^22 the AVX2 routes are the small kernels' and BLAS's
    for (m, n, k), (ta, tb) in itertools.product(upper, TRANS):   # AVX-512: small
        if ta and tb:    # TT (nothing in fastnn makes it): never the small kernels
            assert _blas.gemm_route(m, n, k, ta, tb, False) == "packed"
            continue
        assert _blas.gemm_route(m, n, k, ta, tb, False) == "small"
        assert _blas.gemm_route(m, n, k, ta, tb, True) == "small"
    for (m, n, k), (ta, tb) in itertools.product(mid, TRANS):
        if ta and tb:    # TT: small or BLAS, by the BLAS kernel (gemm_route.h)
            continue
        assert _blas.gemm_route(m, n, k, ta, tb, False) == "small"
    for (m, n, k), (ta, tb) in itertools.product(tiny, TRANS):
        assert _blas.gemm_route(m, n, k, ta, tb, False) in ("small", "blas")


def test_the_route_depends_on_the_shape_only(isa):
    # Thread settings must not move a product between implementations.
    shapes = [(m, n, k) for m in (1, 10, 256, 1024) for n in (10, 30, 128, 4096)
              for k in (1, 32, 784)]
    before = fastnn.get_num_threads()
    try:
        decisions = []
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            decisions.append([_blas.gemm_route(*s, ta, tb, dbl) for s in shapes
                              for (ta, tb), dbl in itertools.product(TRANS, (False, True))])
    finally:
        fastnn.set_num_threads(before)
    assert decisions[0] == decisions[1]


def test_packed_kernel_threads_follow_the_callers_flush_to_zero(isa):
    # MXCSR is per thread: under fastnn.flush_denormals every thread of the
    # packed kernel's team must flush too, or a piece's bits would depend on
    # which thread computed it.  Products of 1e-20 · 1e-20 = 1e-40 are float32
    # denormals: flushed, C is exactly 0; not flushed, it is not.
    m, n, k = 256, 1024, 512
    A = np.full((m, k), 1e-20, np.float32)
    B = np.full((k, n), 1e-20, np.float32)
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            C = np.empty((m, n), np.float32)
            _blas.gemm_packed(False, False, 1.0, A, B, 0.0, C)
            assert (C > 0).all(), "denormal products were lost without flushing"
            if _blas.small_gemm_isa() in ("avx512", "avx2"):   # x86: FTZ/DAZ exist
                with fastnn.flush_denormals():
                    _blas.gemm_packed(False, False, 1.0, A, B, 0.0, C)
                np.testing.assert_array_equal(C, 0)
    finally:
        fastnn.set_num_threads(before)


@pytest.mark.parametrize("bad_call, match", [
    (lambda: _blas.gemm_packed(False, False, 1.0, np.ones((3, 4)), np.ones((5, 2)), 0.0,
                               np.ones((3, 2))), "gemm_packed: inconsistent shapes"),
    (lambda: _blas.gemm_packed(False, False, 1.0, np.ones((3, 4))[:, ::2], np.ones((2, 2)),
                               0.0, np.ones((3, 2))), "rows of A must be contiguous"),
    (lambda: _blas.gemm_packed(False, False, 1.0, np.ones((3, 4)),
                               np.ones((4, 2), np.float32), 0.0, np.ones((3, 2))),
     "No matching signature|dtype"),
])
def test_gemm_packed_rejects_bad_calls(bad_call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad_call()
