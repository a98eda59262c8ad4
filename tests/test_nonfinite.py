"""NaN and infinity go through every compiled kernel as through the NumPy
reference: where the reference gives NaN (or ±inf), so does the kernel, and
the finite values agree.  A model holding a NaN never predicts finite outputs
(but through the step unit, whose reference is (z > 0) too)."""

import itertools

import numpy as np
import pytest

import fastnn
from fastnn import kernels, reference

DTYPES = ("float32", "float64")
SPECIALS = (np.nan, np.inf, -np.inf)
ACTS = ("identity", "sigmoid", "tanh", "relu", "softmax", "step")
DERIVABLE = ("identity", "sigmoid", "tanh", "relu")
LOSSES = ("mse", "bce", "cce", "poisson")
TOL = {"float32": 1e-5, "float64": 1e-12}
LAYERS = {"relu": fastnn.ReLU, "sigmoid": fastnn.Sigmoid, "tanh": fastnn.Tanh,
          "softmax": fastnn.Softmax, "identity": fastnn.Identity}


def _same(got, want, dtype):
    """The same NaN and ±inf positions; the finite values close."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=TOL[dtype], atol=TOL[dtype])


def _with(a, value, where):
    a = a.copy()
    a.flat[where] = value
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("special", SPECIALS, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("operand", ["X", "W", "b"])
def test_dense_forward(dtype, act, special, operand):
    rng = np.random.default_rng(0)
    ops = {"X": rng.standard_normal((5, 7)).astype(dtype),
           "W": rng.standard_normal((7, 4)).astype(dtype),
           "b": rng.standard_normal(4).astype(dtype)}
    ops[operand] = _with(ops[operand], special, 2)
    got = kernels.dense_forward(ops["X"], ops["W"], ops["b"], act, check_finite=False)
    with np.errstate(all="ignore"):
        want = reference.dense_forward(ops["X"], ops["W"], ops["b"], act)
    _same(got, want, dtype)
    if np.isnan(special) and act != "step":
        assert np.isnan(got).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("special", SPECIALS, ids=["nan", "inf", "-inf"])
def test_activations(dtype, special):
    rng = np.random.default_rng(1)
    Z = _with(rng.standard_normal((4, 6)).astype(dtype), special, 3)
    dA = rng.standard_normal((4, 6)).astype(dtype)
    with np.errstate(all="ignore"):
        for act in ACTS:
            _same(kernels.activation_forward(Z, act, check_finite=False),
                  reference.activation_forward(Z, act), dtype)
        for act in DERIVABLE:
            _same(kernels.activation_derivative(Z, act, check_finite=False),
                  reference.activation_derivative(Z, act), dtype)
        for act in DERIVABLE + ("softmax",):
            for A, D in ((Z, dA), (dA, Z)):
                _same(kernels.activation_backward(A, D, act, check_finite=False),
                      reference.activation_backward(A, D, act), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, act", [("mse", "identity"), ("bce", "sigmoid"),
                                       ("cce", "softmax"), ("poisson", "identity"),
                                       ("mse", "sigmoid"), ("cce", "identity")])
@pytest.mark.parametrize("special", SPECIALS, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
def test_losses(dtype, loss, act, special, weighted):
    rng = np.random.default_rng(2)
    A = rng.random((5, 3)).astype(dtype) * 0.8 + 0.1
    Y = rng.random((5, 3)).astype(dtype)
    if loss == "cce":
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 5)]
    A = _with(A, special, 4)
    w = rng.random(5).astype(dtype) + 0.5 if weighted else None
    with np.errstate(all="ignore"):
        value, dA = kernels.loss_gradient(A, Y, loss, sample_weight=w, check_finite=False)
        ref_value, ref_dA = reference.loss_gradient(A, Y, loss, w)
        _same(dA, ref_dA, dtype)
        _same([value], [ref_value], dtype)
        value, delta = kernels.loss_delta(A, Y, loss, act, sample_weight=w, check_finite=False)
        ref_value, ref_delta = reference.loss_delta(A, Y, loss, act, w)
        _same(delta, ref_delta, dtype)
        _same([value], [ref_value], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, out", list(itertools.product(
    ("relu", "sigmoid", "tanh"), ("softmax", "sigmoid", "identity"))))
def test_a_nan_weight_never_predicts_finite_outputs(dtype, hidden, out):
    rng = np.random.default_rng(3)
    X = rng.random((20, 12)).astype(dtype)
    for backend in ("cython", "numpy"):
        model = fastnn.Sequential([fastnn.Dense(12, 9), LAYERS[hidden](), fastnn.Dense(9, 3),
                                   LAYERS[out]()], seed=0, dtype=dtype, backend=backend)
        model.dense[0].W[4, 2] = np.nan      # one weight of one hidden unit: every output
        assert np.isnan(model.predict_proba(X)).all(), backend   # reads it, in every row


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_weights_whose_sum_overflows_give_the_weighted_mean(loss):
    rng = np.random.default_rng(4)
    A = (rng.random((6, 3)) * 0.8 + 0.1).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    huge = np.full(6, 3e38, np.float32)             # Σ = 1.8e39 > float32's 3.4e38
    ones = np.ones(6, np.float32)
    v_huge, d_huge = kernels.loss_gradient(A, Y, loss, sample_weight=huge)
    v_ones, d_ones = kernels.loss_gradient(A, Y, loss, sample_weight=ones)
    assert np.isfinite(v_huge) and np.isfinite(d_huge).all()
    np.testing.assert_allclose(v_huge, v_ones, rtol=1e-6)
    np.testing.assert_allclose(d_huge, d_ones, rtol=1e-6)
    ref_value, ref_dA = reference.loss_gradient(A, Y, loss, huge)
    np.testing.assert_allclose(v_huge, ref_value, rtol=1e-6)
    np.testing.assert_allclose(d_huge, ref_dA, rtol=1e-6)
