"""Every compiled kernel against its NumPy twin in fastnn.reference.

Parametrized over dtype × shape × thread count.  Elementwise kernels must be
bit-identical to the reference; kernels with matrix products or reductions
must agree within 1e-12 (float64) or 1e-5 (float32) of the largest magnitude.
GELU is elementwise but not bit-identical: the kernels' erf is the C
library's (erff, erf) and the reference's SciPy's; they agree within a few
units in the last place (``test_gelu_is_within_a_few_ulp_of_the_reference``),
so GELU is held to the tolerance of the reductions.
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
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "softmax", "step", "leaky_relu", "gelu",
               "softplus", "log_softmax"]
GRAD_ACTIVATIONS = [a for a in ACTIVATIONS if a != "step"]
# bit-identical to the reference (no row sums, no erf)
EXACT = ["identity", "sigmoid", "tanh", "relu", "step", "leaky_relu", "softplus"]
DERIVATIVES = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]


def _pre_activations(rng, shape, dtype):
    # A wide spread, so sigmoid and tanh saturate on some entries, plus exact zeros.
    Z = (rng.standard_normal(shape) * 4).astype(dtype)
    Z.flat[:: 7] = 0
    return Z


def _activations(rng, shape, activation, dtype):
    return reference.activation_forward(_pre_activations(rng, shape, dtype), activation)


def _targets(rng, shape, loss, dtype):
    n, k = shape
    if loss in ("mse", "huber"):
        return rng.standard_normal(shape).astype(dtype)
    if loss in ("bce", "bce_with_logits"):
        return (rng.random(shape) < 0.5).astype(dtype)
    Y = np.zeros(shape, dtype)
    Y[np.arange(n), rng.integers(0, k, n)] = 1
    return Y


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(rng, dtype, shape, activation, num_threads):
    Z = _pre_activations(rng, shape[::2], dtype)
    exact = activation in EXACT
    assert_parity("activation_forward[%s]" % activation, kernels.activation_forward(Z, activation),
                  reference.activation_forward(Z, activation), dtype, exact=exact)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", DERIVATIVES)
def test_activation_derivative(rng, dtype, shape, activation, num_threads):
    A = _activations(rng, shape[::2], activation, dtype)
    assert_parity("activation_derivative[%s]" % activation,
                  kernels.activation_derivative(A, activation),
                  reference.activation_derivative(A, activation), dtype, exact=True)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", GRAD_ACTIVATIONS)
def test_activation_backward(rng, dtype, shape, activation, num_threads):
    Z = _pre_activations(rng, shape[::2], dtype)
    A = reference.activation_forward(Z, activation)
    dA = rng.standard_normal(A.shape).astype(dtype)
    assert_parity("activation_backward[%s]" % activation,
                  kernels.activation_backward(A, dA, activation, Z=Z),
                  reference.activation_backward(A, dA, activation, Z), dtype,
                  exact=activation in EXACT)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 2.0])
def test_leaky_relu_alpha_reaches_every_kernel(rng, dtype, alpha, num_threads):
    # forward, derivative, backward and the dense layer, bit for bit
    Z = _pre_activations(rng, (40, 33), dtype)
    A = kernels.activation_forward(Z, "leaky_relu", alpha=alpha)
    np.testing.assert_array_equal(A, reference.activation_forward(Z, "leaky_relu", alpha))
    np.testing.assert_array_equal(A, np.where(Z < 0, Z * dtype(alpha), Z))
    np.testing.assert_array_equal(kernels.activation_derivative(A, "leaky_relu", alpha=alpha),
                                  np.where(Z > 0, dtype(1), dtype(alpha)))
    dA = rng.standard_normal(A.shape).astype(dtype)
    np.testing.assert_array_equal(kernels.activation_backward(A, dA, "leaky_relu", alpha=alpha),
                                  reference.activation_backward(A, dA, "leaky_relu",
                                                                alpha=alpha))
    X, W, b = Z[:, :5], rng.standard_normal((5, 7)).astype(dtype), np.zeros(7, dtype)
    assert_parity("dense_forward[leaky_relu]", kernels.dense_forward(X, W, b, "leaky_relu",
                                                                     alpha=alpha),
                  reference.dense_forward(X, W, b, "leaky_relu", alpha), dtype)


def test_gelu_is_within_a_few_ulp_of_the_reference(rng, dtype):
    # erf from the C library against SciPy's, whose results differ by an ulp or
    # so; the sums 1 + erf(·) and Φ + z·φ then cancel for z < 0, so the error
    # is measured in units in the last place of the terms: ½|z| for GELU, 1 for
    # its derivative (Φ and z·φ are at most about 1).
    Z = (rng.standard_normal(100_000) * 4).astype(dtype).reshape(-1, 100)
    A = kernels.activation_forward(Z, "gelu")
    dZ = kernels.activation_backward(A, np.ones_like(Z), "gelu", Z=Z)
    ulp_of_terms = np.spacing(np.maximum(np.abs(Z) / 2, np.finfo(dtype).tiny))
    assert (np.abs(A - reference.gelu(Z)) <= 4 * ulp_of_terms).all()
    assert (np.abs(dZ - reference.gelu_derivative(Z)) <= 4 * np.finfo(dtype).eps).all()


def test_gelu_softplus_log_softmax_match_their_definitions(rng):
    # the reference against the textbook formulas, in float64 and in extended range
    from scipy.special import erf, log_softmax
    Z = rng.standard_normal((30, 9)) * 5
    np.testing.assert_allclose(reference.gelu(Z), Z * 0.5 * (1 + erf(Z / np.sqrt(2))),
                               rtol=0, atol=1e-15 * np.abs(Z).max())
    np.testing.assert_allclose(reference.softplus(Z), np.logaddexp(0, Z), rtol=1e-15)
    np.testing.assert_allclose(reference.log_softmax(Z), log_softmax(Z, axis=1), rtol=1e-14)
    for z in (-800.0, -40.0, 0.0, 40.0, 800.0):   # stable at the extremes, both twins
        for dtype in (np.float32, np.float64):
            Zs = np.array([[z, 0.0]], dtype)
            with np.errstate(over="raise", invalid="raise"):
                for name in ("softplus", "log_softmax", "gelu"):
                    got = kernels.activation_forward(Zs, name)
                    assert np.isfinite(got).all(), (name, z)
                    np.testing.assert_allclose(got, reference.activation_forward(Zs, name),
                                               rtol=1e-6)


def test_gelu_backward_needs_z(rng):
    A = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match="Z is required for activation 'gelu'"):
        kernels.activation_backward(A, A, "gelu")
    with pytest.raises(ValueError, match="Z must have shape"):
        kernels.activation_backward(A, A, "gelu", Z=A[:2])
    with pytest.raises(ValueError, match="'gelu' has no derivative as a function of its "
                                         "output"):
        kernels.activation_derivative(A, "gelu")
    with pytest.raises(ValueError, match="Z is required"):
        kernels.dense_backward(A, np.ones((4, 2)), A[:, :2], A[:, :2], "gelu")


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
    Z = _pre_activations(rng, (n, n_out), dtype)
    A = reference.activation_forward(Z, activation)
    dA = rng.standard_normal((n, n_out)).astype(dtype)
    got = kernels.dense_backward(X, W, A, dA, activation, need_dX, Z=Z)
    want = reference.dense_backward(X, W, A, dA, activation, need_dX, Z=Z)
    for name, actual, expected in zip(("dW", "db", "dX"), got, want):
        if expected is None:
            assert actual is None
        else:
            assert_parity("dense_backward[%s].%s" % (activation, name), actual, expected, dtype)


LOSS_PAIRS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"), ("mse", "softmax"),
              ("bce", "sigmoid"), ("bce", "softmax"), ("cce", "softmax"), ("cce", "sigmoid"),
              ("mse", "relu"), ("cross_entropy_from_logits", "identity"),
              ("bce_with_logits", "identity"), ("huber", "identity"), ("huber", "gelu"),
              ("mse", "leaky_relu"), ("mse", "softplus"), ("mse", "log_softmax"),
              ("huber", "softplus")]
# losses whose gradient sums over a row (the log-sum-exp)
ROW_LOSSES = ["cross_entropy_from_logits"]
LOSSES = ["mse", "bce", "cce", "cross_entropy_from_logits", "bce_with_logits", "huber"]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_gradient(rng, dtype, shape, loss, num_threads):
    act = "sigmoid" if loss in ("bce", "cce") else "identity"
    A = _activations(rng, shape[::2], act, dtype)
    Y = _targets(rng, A.shape, loss, dtype)
    value, dA = kernels.loss_gradient(A, Y, loss, huber_delta=0.7)
    ref_value, ref_dA = reference.loss_gradient(A, Y, loss, huber_delta=0.7)
    assert isinstance(value, float)
    assert_parity("loss_gradient[%s].value" % loss, value, ref_value, dtype)
    assert_parity("loss_gradient[%s].dA" % loss, dA, ref_dA, dtype,
                  exact=loss not in ROW_LOSSES)


@pytest.mark.parametrize("loss", LOSSES[3:])
def test_new_losses_with_sample_weights(rng, dtype, loss):
    A = _activations(rng, (13, 4), "identity", dtype)
    Y = _targets(rng, A.shape, loss, dtype)
    w = rng.random(13).astype(dtype)
    value, dA = kernels.loss_gradient(A, Y, loss, sample_weight=w)
    ref_value, ref_dA = reference.loss_gradient(A, Y, loss, w)
    assert_parity("loss_gradient[%s].weighted" % loss, value, ref_value, dtype)
    assert_parity("loss_gradient[%s].weighted.dA" % loss, dA, ref_dA, dtype,
                  exact=loss not in ROW_LOSSES)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("loss, activation", LOSS_PAIRS, ids=["-".join(p) for p in LOSS_PAIRS])
def test_loss_delta(rng, dtype, shape, loss, activation, num_threads):
    Z = _pre_activations(rng, shape[::2], dtype)
    A = reference.activation_forward(Z, activation)
    Y = _targets(rng, A.shape, loss, dtype)
    value, delta = kernels.loss_delta(A, Y, loss, activation, Z=Z)
    ref_value, ref_delta = reference.loss_delta(A, Y, loss, activation, Z=Z)
    name = "loss_delta[%s+%s]" % (loss, activation)
    assert_parity(name + ".value", value, ref_value, dtype)
    # Fused pairs and elementwise chains are elementwise; softmax chains reduce rows.
    assert_parity(name + ".delta", delta, ref_delta, dtype,
                  exact=(activation in EXACT or loss == "cce") and loss not in ROW_LOSSES)


def test_from_logits_losses_match_their_probability_twins(rng, dtype):
    # on logits z, the from-logits losses are cce on softmax(z) and bce on σ(z)
    # (which clip; these logits keep the probabilities clear of the clip)
    Z = rng.standard_normal((11, 5)).astype(dtype)
    Y = _targets(rng, Z.shape, "cce", dtype)
    Yb = _targets(rng, Z.shape, "bce", dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for loss, twin, act, y in [("cross_entropy_from_logits", "cce", "softmax", Y),
                               ("bce_with_logits", "bce", "sigmoid", Yb)]:
        value, delta = kernels.loss_delta(Z, y, loss, "identity")
        twin_value, twin_delta = kernels.loss_delta(reference.activation_forward(Z, act), y,
                                                    twin, act)
        assert value == pytest.approx(twin_value, rel=rtol)
        np.testing.assert_allclose(delta, twin_delta, rtol=0, atol=rtol)


@pytest.mark.parametrize("z", [1e4, -1e4, 800.0, -800.0, 0.0])
def test_from_logits_losses_are_stable(dtype, z):
    Z = np.array([[z, 0.0, -z]], dtype)
    Y = np.array([[1.0, 0.0, 0.0]], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for loss in ("cross_entropy_from_logits", "bce_with_logits"):
            expected = reference.loss_gradient(Z, Y, loss)
            value, dA = kernels.loss_gradient(Z, Y, loss)
            assert np.isfinite(value) and np.isfinite(dA).all()
            assert value == pytest.approx(expected[0], rel=1e-6)
            np.testing.assert_allclose(dA, expected[1], rtol=1e-6, atol=1e-30)
    # −log softmax(z)₀ = log(e^z + 1 + e^−z) − z: about 0 when right, 2|z| when wrong
    ce = kernels.loss_gradient(Z, Y, "cross_entropy_from_logits")[0]
    assert ce == pytest.approx(np.logaddexp.reduce([z, 0.0, -z]) - z, rel=1e-6, abs=1e-6)


def test_huber_is_mse_within_delta_and_linear_beyond(dtype):
    A = np.array([[0.5, -0.25], [3.0, -5.0]], dtype)
    Y = np.zeros_like(A)
    value, dA = kernels.loss_gradient(A[:1], Y[:1], "huber", huber_delta=1.0)
    assert value == kernels.loss_gradient(A[:1], Y[:1], "mse")[0]
    value, dA = kernels.loss_gradient(A, Y, "huber", huber_delta=2.0)
    # rows: ½(0.25 + 0.0625); 2(3 − 1) + 2(5 − 1)
    assert value == pytest.approx((0.15625 + 12.0) / 2)
    np.testing.assert_array_equal(dA, np.array([[0.25, -0.125], [1.0, -1.0]], dtype))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_huber_delta_must_be_positive_and_finite(bad):
    A = np.zeros((2, 2))
    with pytest.raises(ValueError, match="huber_delta"):
        kernels.loss_gradient(A, A, "huber", huber_delta=bad)
    with pytest.raises(ValueError, match="huber_delta"):
        kernels.loss_delta(A, A, "huber", "identity", huber_delta=bad)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_alpha_must_be_finite_and_nonnegative(bad):
    Z = np.zeros((2, 2))
    for call in (lambda: kernels.activation_forward(Z, "leaky_relu", alpha=bad),
                 lambda: kernels.activation_backward(Z, Z, "leaky_relu", alpha=bad),
                 lambda: kernels.dense_forward(Z, Z, Z[0], "leaky_relu", alpha=bad)):
        with pytest.raises(ValueError, match="alpha"):
            call()


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
