"""Every compiled kernel against its NumPy twin in fastnn.reference.

Parametrized over dtype × shape × thread count.  Elementwise kernels must be
bit-identical to the reference; kernels with matrix products or reductions
must agree within 1e-12 (float64) or 1e-5 (float32) of the largest magnitude.
"""

import numpy as np
import pytest

from fastnn import kernels, reference

from conftest import assert_parity

# (n_samples, n_in, n_out): batch 1, widths that are not multiples of 16, a
# layer of width 1, the textbook 784-30 layer, and shapes large enough that
# the kernels use more than one thread when allowed to.
SHAPES = [(1, 1, 1), (1, 784, 30), (10, 784, 30), (7, 33, 1), (1, 5, 17),
          (33, 17, 10), (64, 100, 129), (520, 40, 300)]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "softmax", "step"]
GRAD_ACTIVATIONS = ACTIVATIONS[:-1]
ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "step"]


def _pre_activations(rng, shape, dtype):
    # A wide spread, so sigmoid and tanh saturate on some entries, plus exact zeros.
    Z = (rng.standard_normal(shape) * 4).astype(dtype)
    Z.flat[:: 7] = 0
    return Z


def _activations(rng, shape, activation, dtype):
    return reference.activation_forward(_pre_activations(rng, shape, dtype), activation)


def _targets(rng, shape, loss, dtype):
    n, k = shape
    if loss == "mse":
        return rng.standard_normal(shape).astype(dtype)
    if loss == "bce":
        return (rng.random(shape) < 0.5).astype(dtype)
    Y = np.zeros(shape, dtype)
    Y[np.arange(n), rng.integers(0, k, n)] = 1
    return Y


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(rng, dtype, shape, activation, num_threads):
    Z = _pre_activations(rng, shape[::2], dtype)
    exact = activation in ELEMENTWISE
    assert_parity("activation_forward[%s]" % activation, kernels.activation_forward(Z, activation),
                  reference.activation_forward(Z, activation), dtype, exact=exact)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu"])
def test_activation_derivative(rng, dtype, shape, activation, num_threads):
    A = _activations(rng, shape[::2], activation, dtype)
    assert_parity("activation_derivative[%s]" % activation,
                  kernels.activation_derivative(A, activation),
                  reference.activation_derivative(A, activation), dtype, exact=True)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", GRAD_ACTIVATIONS)
def test_activation_backward(rng, dtype, shape, activation, num_threads):
    A = _activations(rng, shape[::2], activation, dtype)
    dA = rng.standard_normal(A.shape).astype(dtype)
    assert_parity("activation_backward[%s]" % activation,
                  kernels.activation_backward(A, dA, activation),
                  reference.activation_backward(A, dA, activation), dtype,
                  exact=activation != "softmax")


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward(rng, dtype, shape, activation, num_threads):
    n, n_in, n_out = shape
    X = rng.standard_normal((n, n_in)).astype(dtype)
    W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    actual = kernels.dense_forward(X, W, b, activation)
    expected = reference.dense_forward(X, W, b, activation)
    if activation == "step":
        # A threshold turns a rounding difference at z ≈ 0 into a 0/1 flip, so
        # compare the pre-activation instead, and the step where it is clear.
        Z = reference.dense_forward(X, W, b)
        clear = np.abs(Z) > 1e-3
        np.testing.assert_array_equal(actual[clear], expected[clear])
        return
    assert_parity("dense_forward[%s]" % activation, actual, expected, dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", GRAD_ACTIVATIONS)
@pytest.mark.parametrize("need_dX", [True, False], ids=["dX", "no_dX"])
def test_dense_backward(rng, dtype, shape, activation, need_dX, num_threads):
    n, n_in, n_out = shape
    X = rng.standard_normal((n, n_in)).astype(dtype)
    W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    A = _activations(rng, (n, n_out), activation, dtype)
    dA = rng.standard_normal((n, n_out)).astype(dtype)
    got = kernels.dense_backward(X, W, A, dA, activation, need_dX)
    want = reference.dense_backward(X, W, A, dA, activation, need_dX)
    for name, actual, expected in zip(("dW", "db", "dX"), got, want):
        if expected is None:
            assert actual is None
        else:
            assert_parity("dense_backward[%s].%s" % (activation, name), actual, expected, dtype)


LOSS_PAIRS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"), ("mse", "softmax"),
              ("bce", "sigmoid"), ("bce", "softmax"), ("cce", "softmax"), ("cce", "sigmoid"),
              ("mse", "relu")]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("loss", ["mse", "bce", "cce"])
def test_loss_gradient(rng, dtype, shape, loss, num_threads):
    act = "identity" if loss == "mse" else "sigmoid"
    A = _activations(rng, shape[::2], act, dtype)
    Y = _targets(rng, A.shape, loss, dtype)
    value, dA = kernels.loss_gradient(A, Y, loss)
    ref_value, ref_dA = reference.loss_gradient(A, Y, loss)
    assert isinstance(value, float)
    assert_parity("loss_gradient[%s].value" % loss, value, ref_value, dtype)
    assert_parity("loss_gradient[%s].dA" % loss, dA, ref_dA, dtype, exact=True)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("loss, activation", LOSS_PAIRS, ids=["-".join(p) for p in LOSS_PAIRS])
def test_loss_delta(rng, dtype, shape, loss, activation, num_threads):
    A = _activations(rng, shape[::2], activation, dtype)
    Y = _targets(rng, A.shape, loss, dtype)
    value, delta = kernels.loss_delta(A, Y, loss, activation)
    ref_value, ref_delta = reference.loss_delta(A, Y, loss, activation)
    name = "loss_delta[%s+%s]" % (loss, activation)
    assert_parity(name + ".value", value, ref_value, dtype)
    # Fused pairs and elementwise chains are elementwise; softmax chains reduce rows.
    assert_parity(name + ".delta", delta, ref_delta, dtype, exact=activation != "softmax"
                  or loss == "cce")


def test_saturated_probabilities_give_finite_losses(dtype):
    A = np.array([[0.0, 1.0], [1.0, 0.0]], dtype)
    Y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype)
    for loss in ("bce", "cce"):
        value, dA = kernels.loss_gradient(A, Y, loss)
        ref_value, ref_dA = reference.loss_gradient(A, Y, loss)
        assert np.isfinite(value) and np.isfinite(dA).all()
        assert value == pytest.approx(ref_value, rel=1e-6)
        np.testing.assert_array_equal(dA, ref_dA)


def test_softmax_cross_entropy_delta_is_a_minus_y_for_one_hot(rng, dtype):
    A = reference.softmax(rng.standard_normal((6, 4)).astype(dtype))
    Y = _targets(rng, A.shape, "cce", dtype)
    _, delta = kernels.loss_delta(A, Y, "cce", "softmax")
    np.testing.assert_array_equal(delta, (A - Y) / dtype(6))


N_PARAMS = [1, 17, 1000, 300_001]


def _update_inputs(rng, n, dtype):
    params = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    return params, grads


@pytest.mark.parametrize("n", N_PARAMS)
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_sgd_update(rng, dtype, n, weight_decay, num_threads):
    params, grads = _update_inputs(rng, n, dtype)
    expected = params.copy()
    reference.sgd_update(expected, grads, 0.1, weight_decay)
    kernels.sgd_update(params, grads, 0.1, weight_decay)
    assert_parity("sgd_update", params, expected, dtype, exact=True)


@pytest.mark.parametrize("n", N_PARAMS)
@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_momentum_update(rng, dtype, n, nesterov, weight_decay, num_threads):
    params, grads = _update_inputs(rng, n, dtype)
    velocity = rng.standard_normal(n).astype(dtype)
    p_ref, v_ref = params.copy(), velocity.copy()
    for _ in range(3):
        reference.momentum_update(p_ref, grads, v_ref, 0.05, 0.9, nesterov, weight_decay)
        kernels.momentum_update(params, grads, velocity, 0.05, 0.9, nesterov, weight_decay)
    name = "nesterov_update" if nesterov else "momentum_update"
    assert_parity(name, params, p_ref, dtype, exact=True)
    assert_parity(name + ".velocity", velocity, v_ref, dtype, exact=True)


@pytest.mark.parametrize("n", N_PARAMS)
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_update(rng, dtype, n, weight_decay, num_threads):
    params, grads = _update_inputs(rng, n, dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    p_ref, m_ref, v_ref = params.copy(), m.copy(), v.copy()
    for step in range(1, 4):
        reference.adam_update(p_ref, grads, m_ref, v_ref, step, 1e-3, 0.9, 0.999, 1e-8,
                              weight_decay)
        kernels.adam_update(params, grads, m, v, step, 1e-3, 0.9, 0.999, 1e-8, weight_decay)
    assert_parity("adam_update", params, p_ref, dtype, exact=True)
    assert_parity("adam_update.m", m, m_ref, dtype, exact=True)
    assert_parity("adam_update.v", v, v_ref, dtype, exact=True)


def test_optimizer_one_step_matches_its_formula():
    # The reference itself, against the update rules written out by hand.
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    q = p.copy()
    reference.sgd_update(q, g, 0.1, 0.01)
    np.testing.assert_allclose(q, p - 0.1 * (g + 0.01 * p), rtol=0, atol=1e-15)
    q, v = p.copy(), np.array([0.2, -0.1])
    reference.momentum_update(q, g, v, 0.1, 0.9, nesterov=True)
    v_new = 0.9 * np.array([0.2, -0.1]) + g
    np.testing.assert_allclose(q, p - 0.1 * (g + 0.9 * v_new), rtol=0, atol=1e-15)
    q, m, v = p.copy(), np.zeros(2), np.zeros(2)
    reference.adam_update(q, g, m, v, 1, 0.01)
    # On the first step Adam moves every weight by lr·sign(g) (up to eps).
    np.testing.assert_allclose(q, p - 0.01 * np.sign(g), rtol=0, atol=1e-9)


@pytest.mark.parametrize("z", [1e4, -1e4, 800.0, -800.0, 100.0, -100.0, 0.0])
def test_sigmoid_is_stable(dtype, z):
    Z = np.array([[z]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is right
        expected = reference.sigmoid(Z)
    got = kernels.activation_forward(Z, "sigmoid")
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, expected)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-np.float64(z)))  # the naive form, in float64
    # Relative accuracy down to the smallest normal number of the dtype.
    np.testing.assert_allclose(got[0, 0], exact, rtol=1e-6, atol=np.finfo(dtype).tiny)
