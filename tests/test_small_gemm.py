"""fastnn's own small-matrix GEMM (csrc/small_gemm.h) and the routed gemm, against NumPy.

Every transpose combination, float32 and float64, alpha and beta (beta = 0 with
C full of NaN: the kernel must not read C), on edge shapes (1×1×1, m/n/k = 1,
column tails of every width up to two vectors, odd k) and on the products of a
dense layer's training step for the textbook layer sizes and batches; each on
every instruction-set path this CPU can run (the ``isa`` fixture).
"""

import itertools

import numpy as np
import pytest

import fastnn
from fastnn._kernels import _blas

from conftest import assert_parity

LAYERS = [(784, 30), (30, 10), (784, 16), (16, 16), (16, 10), (784, 128), (128, 64),
          (64, 10)]
BATCHES = [1, 10, 32, 64]


def _textbook_shapes():
    """(m, n, k) of Z = X·W, dW = Xᵀ·dZ and dX = dZ·Wᵀ for every layer and batch."""
    shapes = set()
    for (n_in, n_out), batch in itertools.product(LAYERS, BATCHES):
        shapes |= {(batch, n_out, n_in), (n_in, n_out, batch), (batch, n_in, n_out)}
    return sorted(shapes)


EDGE_SHAPES = (
    [(1, 1, 1), (1, 30, 784), (1, 1, 300), (30, 1, 17), (17, 33, 1), (1, 17, 1), (1, 1, 5),
     (13, 200, 3), (3, 5, 7), (4, 16, 16), (12, 32, 9), (13, 33, 129), (25, 48, 257),
     (7, 130, 5)]
    + [(5, n, 9) for n in (1, 7, 15, 17, 30, 31, 32, 33, 47, 64, 65)]   # column tails
    + [(2, n, 3) for n in (1, 7, 15, 16, 17, 30, 33)]                  # NT by dot products
    + [(m, 24, 11) for m in (2, 3, 4, 5, 6, 7, 11, 12, 13, 24, 25)]    # row blocking
)
TEXTBOOK_SHAPES = _textbook_shapes()
SHAPES = list(dict.fromkeys(EDGE_SHAPES + TEXTBOOK_SHAPES))
TRANS = [(False, False), (True, False), (False, True), (True, True)]
#: float32 / float64 lanes of a vector on the paths with SIMD small kernels
LANES = {"avx512": (16, 8), "avx2": (8, 4)}


TRANS_IDS = ["NN", "TN", "NT", "TT"]
#: (alpha, beta, fill C with NaN): beta = 0 must not read C
SCALARS = [(1.0, 0.0, True), (-0.75, 0.0, True), (0.5, 2.0, False), (1.0, 1.0, False),
           (2.0, -0.5, False)]


def _operands(rng, dtype, m, n, k, trans_a, trans_b):
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    return A, B, C0


def _expected(A, B, C0, alpha, beta, trans_a, trans_b):
    A64 = (A.T if trans_a else A).astype(np.float64)
    B64 = (B.T if trans_b else B).astype(np.float64)
    product = alpha * (A64 @ B64)
    return product if beta == 0 else product + beta * C0.astype(np.float64)


def _pad_nan(X):
    """X with 5 NaN columns appended: its first columns are a slice with a row
    stride larger than its width (and a kernel that reads or writes past the
    row shows up as NaN)."""
    return np.concatenate([X, np.full((X.shape[0], 5), np.nan, X.dtype)], axis=1)


def _check(entry, kernel, rng, dtype, shape, trans, **kwargs):
    (m, n, k), (trans_a, trans_b) = shape, trans
    A, B, C0 = _operands(rng, dtype, m, n, k, trans_a, trans_b)
    for alpha, beta, nan_fill in SCALARS:
        C = np.full_like(C0, np.nan) if nan_fill else C0.copy()
        entry(trans_a, trans_b, alpha, A, B, beta, C, **kwargs)
        assert not np.isnan(C).any(), "NaN leaked (alpha=%g, beta=%g)" % (alpha, beta)
        assert_parity(kernel, C, _expected(A, B, C0, alpha, beta, trans_a, trans_b), dtype)


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_own_kernel_matches_numpy(isa, rng, dtype, shape, trans):
    _check(_blas.gemm_small, "gemm_small", rng, dtype, shape, trans)


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_routed_gemm_matches_numpy(isa, rng, dtype, shape, trans):
    _check(_blas.gemm_rowmajor, "gemm (routed)", rng, dtype, shape, trans)


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=["x".join(map(str, s)) for s in EDGE_SHAPES])
def test_portable_fallback_matches_numpy(rng, dtype, shape, trans):
    # The plain C loop nest that CPUs without AVX-512F run.
    _check(_blas.gemm_small, "gemm_small (portable)", rng, dtype, shape, trans, portable=True)


@pytest.mark.parametrize("trans", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("portable", [False, True], ids=["simd", "portable"])
def test_leading_dimensions_larger_than_the_rows(isa, rng, dtype, trans, portable):
    # Column slices of wider arrays: lda, ldb, ldc exceed the row lengths.
    (trans_a, trans_b), (m, n, k) = trans, (13, 37, 21)
    A, B, C0 = _operands(rng, dtype, m, n, k, trans_a, trans_b)
    A_wide, B_wide, C_wide = _pad_nan(A), _pad_nan(B), _pad_nan(C0)
    for alpha, beta, _ in SCALARS:
        C_wide[:, :n] = C0
        _blas.gemm_small(trans_a, trans_b, alpha, A_wide[:, :A.shape[1]],
                         B_wide[:, :B.shape[1]], beta, C_wide[:, :n], portable=portable)
        assert_parity("gemm_small", C_wide[:, :n],
                      _expected(A, B, C0, alpha, beta, trans_a, trans_b), dtype)
        assert np.isnan(C_wide[:, n:]).all(), "wrote past the end of C's rows"


def test_results_are_deterministic(isa, rng, dtype):
    A, B, _ = _operands(rng, dtype, 10, 30, 784, False, False)
    first = np.empty((10, 30), dtype)
    _blas.gemm_small(False, False, 1.0, A, B, 0.0, first)
    for _ in range(3):
        again = np.full((10, 30), np.nan, dtype)
        _blas.gemm_small(False, False, 1.0, A, B, 0.0, again, repeats=5)
        np.testing.assert_array_equal(again, first)


def test_the_routing_rule_depends_on_the_shape_only():
    # Thread settings must not move a product between the two implementations
    # (their roundings differ); the rule has no other input than these.
    before = fastnn.get_num_threads()
    try:
        decisions = []
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            decisions.append([_blas.gemm_route(m, n, k, ta, tb, dbl)
                              for (m, n, k), (ta, tb), dbl in itertools.product(
                                  TEXTBOOK_SHAPES, TRANS, (False, True))])
        assert decisions[0] == decisions[1]
    finally:
        fastnn.set_num_threads(before)


def test_own_kernels_are_used_on_simd_paths(isa):
    assert _blas.small_gemm_isa() == (isa if isa in LANES else "portable")
    # The forward product of the 784-30-10 network at batch 10: the case that
    # motivated them; the portable loop nest never beats BLAS.
    assert _blas.gemm_route(10, 30, 784, False, False, False) == (
        "small" if isa in LANES else "blas")


@pytest.mark.parametrize("bad_call, match", [
    (lambda: _blas.gemm_small(False, False, 1.0, np.ones((3, 4)), np.ones((5, 2)), 0.0,
                              np.ones((3, 2))), "gemm_small: inconsistent shapes"),
    (lambda: _blas.gemm_small(False, False, 1.0, np.ones((3, 0)), np.ones((0, 2)), 0.0,
                              np.ones((3, 2))), "every dimension must be at least 1"),
    (lambda: _blas.gemm_small(False, False, 1.0, np.ones((3, 4))[:, ::2], np.ones((2, 2)), 0.0,
                              np.ones((3, 2))), "rows of A must be contiguous"),
    (lambda: _blas.gemm_small(False, False, 1.0, np.ones((3, 4)), np.ones((4, 2)), 0.0,
                              np.ones((3, 2)), repeats=0), "repeats must be at least 1"),
    (lambda: _blas.gemm_small(False, False, 1.0, np.ones((3, 4)), np.ones((4, 2), np.float32),
                              0.0, np.ones((3, 2))), "No matching signature|dtype"),
])
def test_gemm_small_rejects_bad_calls(bad_call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad_call()


#: dW = Xᵀ·dZ with a short k: the k ≤ 12, n ≤ two vectors path (B held in
#: registers, C streamed row by row), its edges, and the tiles just past it
TN_STREAM_K = [1, 2, 3, 7, 10, 12, 13, 16, 33, 64]
TN_STREAM_N = [1, 10, 16, 17, 30, 32, 33, 64, 128]
TN_STREAM_SHAPES = [(m, n, k) for k in TN_STREAM_K for n in TN_STREAM_N for m in (1, 13, 784)]


@pytest.mark.parametrize("shape", TN_STREAM_SHAPES,
                         ids=["x".join(map(str, s)) for s in TN_STREAM_SHAPES])
def test_dw_short_k_matches_numpy(isa, rng, dtype, shape):
    (m, n, k) = shape
    A, B, C0 = _operands(rng, dtype, m, n, k, True, False)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for alpha, beta, nan_fill in [(1.0, 0.0, True), (-0.5, 0.0, True), (1.0, 1.0, False),
                                  (-0.5, 1.0, False)]:
        for entry in (_blas.gemm_small, _blas.gemm_rowmajor):
            C = np.full_like(C0, np.nan) if nan_fill else C0.copy()
            entry(True, False, alpha, A, B, beta, C)
            want = _expected(A, B, C0, alpha, beta, True, False)
            assert not np.isnan(C).any()
            err = np.max(np.abs(C - want)) / max(np.max(np.abs(want)), 1e-300)
            assert err <= tol, (entry.__name__, alpha, beta, err)


@pytest.mark.parametrize("k", [1, 3, 12])
@pytest.mark.parametrize("n", [1, 17, 30, 64])
def test_dw_short_k_with_leading_dimensions(isa, rng, dtype, k, n):
    # The streaming dW path on column slices: lda, ldb, ldc exceed the row lengths.
    m = 37
    A_wide = rng.standard_normal((k, m + 13)).astype(dtype)
    B_wide = rng.standard_normal((k, n + 11)).astype(dtype)
    C_wide = np.full((m, n + 7), np.nan, dtype)
    A, B = A_wide[:, :m], B_wide[:, :n]
    _blas.gemm_small(True, False, -0.5, A, B, 0.0, C_wide[:, :n])
    want = _expected(A, B, None, -0.5, 0.0, True, False)
    err = np.max(np.abs(C_wide[:, :n] - want)) / np.max(np.abs(want))
    assert err <= (1e-12 if dtype == np.float64 else 1e-5)
    assert np.isnan(C_wide[:, n:]).all(), "wrote past the end of C's rows"


# --- batch-1 fusion: a step on W and the next row's product, one pass ---------

@pytest.mark.parametrize("k", [1, 2, 3, 5, 13, 784])
@pytest.mark.parametrize("alpha", [1.0, -0.7])
def test_step_forward_is_bit_identical_to_the_two_products(isa, rng, dtype, k, alpha):
    # Every width up to 4 vectors (the panels 1, 2, 2 + 1 and 4, with column
    # tails), against the two gemm calls it replaces in batch-1 training.
    lanes = LANES.get(isa, LANES["avx512"])[dtype == np.float64]
    for n in range(1, 4 * lanes + 3):
        x_old, x_new = rng.standard_normal((2, k)).astype(dtype)
        dz = rng.standard_normal(n).astype(dtype)
        W = rng.standard_normal((k, n)).astype(dtype)
        fused_W, fused_z = W.copy(), np.full(n, np.nan, dtype)
        exact = _blas.step_forward_small(x_old, dz, alpha, x_new, fused_W, fused_z)
        pair_W, pair_z = W.copy(), np.full((1, n), np.nan, dtype)
        _blas.gemm_rowmajor(True, False, alpha, x_old[None], dz[None], 1.0, pair_W)
        _blas.gemm_rowmajor(False, False, 1.0, x_new[None], pair_W, 0.0, pair_z)
        # exact where the small kernels route both products (SIMD paths)
        assert exact == (isa in LANES and n <= 4 * lanes
                         and _blas.gemm_route(k, n, 1, True, False, dtype == np.float64)
                         == "small"
                         and _blas.gemm_route(1, n, k, False, False, dtype == np.float64)
                         == "small"), n
        tol = 50 * np.finfo(dtype).eps
        np.testing.assert_allclose(fused_W, W + alpha * np.outer(x_old, dz), rtol=tol,
                                   atol=tol)
        np.testing.assert_allclose(fused_z, x_new @ fused_W.astype(np.float64),
                                   rtol=tol * k, atol=tol * k * np.abs(fused_W).max())
        if exact:
            np.testing.assert_array_equal(fused_W, pair_W)
            np.testing.assert_array_equal(fused_z, pair_z[0])


def test_step_forward_rejects_inconsistent_shapes():
    f = np.zeros
    with pytest.raises(ValueError, match="inconsistent shapes"):
        _blas.step_forward_small(f(3, np.float32), f(2, np.float32), 1.0, f(3, np.float32),
                                 f((4, 2), np.float32), f(2, np.float32))
    with pytest.raises(ValueError, match="empty"):
        _blas.step_forward_small(f(3, np.float32), f(2, np.float32), 1.0, f(3, np.float32),
                                 f((3, 2), np.float32), f(2, np.float32), repeats=0)
