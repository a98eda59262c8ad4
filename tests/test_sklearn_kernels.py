"""The kernels behind fastnn's scikit-learn estimators, against their NumPy twins.

Per-sample weights in the losses and deltas, the Poisson (log-link) loss,
scikit-learn's forms of momentum/Nesterov and Adam, and the compiled training
loop with an L2 penalty on the weights only: each compiled result against
``fastnn.reference`` in float32 and float64, and the formulas against
scikit-learn's own code where it has them.
"""

from itertools import pairwise

import numpy as np
import pytest

from fastnn import kernels, reference
from fastnn._kernels import train as _train
from fastnn._validation import ACTIVATIONS, LOSSES
from conftest import assert_parity

PAIRS = [("mse", "identity"), ("bce", "sigmoid"), ("cce", "softmax"), ("poisson", "identity"),
         ("mse", "tanh")]


def _outputs(rng, loss, activation, n, k, dtype):
    Z = rng.standard_normal((n, k))
    A = reference.activation_forward(Z, activation) if loss != "poisson" else Z
    if loss == "cce":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif loss == "bce":
        Y = (rng.random((n, k)) < 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, (n, k)).astype(float)
    else:
        Y = rng.standard_normal((n, k))
    return A.astype(dtype), Y.astype(dtype)


@pytest.mark.parametrize("loss, activation", PAIRS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_delta_matches_reference(rng, dtype, loss, activation, weighted):
    A, Y = _outputs(rng, loss, activation, 9, 4, dtype)
    w = rng.random(9).astype(dtype) * 3 if weighted else None
    value, delta = kernels.loss_delta(A, Y, loss, activation, sample_weight=w)
    ref_value, ref_delta = reference.loss_delta(A, Y, loss, activation, w)
    assert_parity("loss_delta[%s, weights]" % loss, delta, ref_delta, dtype)
    assert_parity("loss_value[%s, weights]" % loss, value, ref_value, dtype)
    value, dA = kernels.loss_gradient(A, Y, loss, sample_weight=w)
    ref_value, ref_dA = reference.loss_gradient(A, Y, loss, w)
    assert_parity("loss_gradient[%s, weights]" % loss, dA, ref_dA, dtype)


@pytest.mark.parametrize("loss, activation", PAIRS)
def test_weight_two_is_a_duplicated_sample_and_zero_a_removed_one(rng, loss, activation):
    A, Y = _outputs(rng, loss, activation, 6, 3, np.float64)
    w = np.array([2.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    keep = [0, 0, 1, 3, 4, 5]
    value, delta = kernels.loss_delta(A, Y, loss, activation, sample_weight=w)
    dup_value, dup_delta = kernels.loss_delta(A[keep], Y[keep], loss, activation)
    np.testing.assert_allclose(value, dup_value, rtol=1e-13)
    np.testing.assert_allclose(delta[0], dup_delta[0] + dup_delta[1], rtol=1e-13)
    np.testing.assert_allclose(delta[[1, 3, 4, 5]], dup_delta[2:], rtol=1e-13)
    assert not delta[2].any()


def test_unweighted_losses_keep_their_bits(rng, dtype):
    """Unit weights are the unweighted arithmetic exactly (a product by 1)."""
    for loss, activation in PAIRS:
        A, Y = _outputs(rng, loss, activation, 7, 3, dtype)
        ones = np.ones(7, dtype)
        v1, d1 = kernels.loss_delta(A, Y, loss, activation)
        v2, d2 = kernels.loss_delta(A, Y, loss, activation, sample_weight=ones)
        assert v1 == v2
        np.testing.assert_array_equal(d1, d2)


def test_poisson_is_scikit_learns_half_deviance(rng):
    from sklearn.neural_network._base import poisson_loss

    Z = rng.standard_normal((20, 2))
    Y = rng.poisson(1.5, (20, 2)).astype(float)   # zeros included: y·log(y/λ) = 0 there
    w = rng.random(20)
    assert (Y == 0).any()
    value, dA = kernels.loss_gradient(Z, Y, "poisson", sample_weight=w)
    np.testing.assert_allclose(value, poisson_loss(Y, np.exp(Z), w), rtol=1e-13)
    np.testing.assert_allclose(dA, (np.exp(Z) - Y) * w[:, None] / w.sum(), rtol=1e-13)


def test_bad_sample_weight_is_refused(rng):
    A, Y = _outputs(rng, "mse", "identity", 4, 2, np.float64)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        kernels.loss_delta(A, Y, "mse", "identity", sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be >= 0 with a positive sum"):
        kernels.loss_delta(A, Y, "mse", "identity", sample_weight=-np.ones(4))
    with pytest.raises(TypeError, match="sample_weight has dtype float32"):
        kernels.loss_delta(A, Y, "mse", "identity", sample_weight=np.ones(4, np.float32))


# --- scikit-learn's update forms ---------------------------------------------------

def _sk_optimizer_steps(kind, params, grad_seq, lrs, **kw):
    """scikit-learn's own optimizer over one flat parameter, lr changed per step."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    p = params.copy()
    opt = SGDOptimizer([p], lrs[0], **kw) if kind == "sgd" else AdamOptimizer([p], lrs[0], **kw)
    for g, lr in zip(grad_seq, lrs):
        if kind == "sgd":
            opt.learning_rate = lr
        opt.update_params([p], [g])
    return p


@pytest.mark.parametrize("nesterov", [False, True])
def test_sklearn_momentum_matches_reference_and_scikit_learn(rng, dtype, nesterov):
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    grad_seq = [rng.standard_normal(n).astype(dtype) for _ in range(6)]
    lrs = [0.1, 0.1, 0.05, 0.02, 0.02, 0.004]    # the rule differs from PyTorch's when lr moves
    p, v = params.copy(), np.zeros(n, dtype)
    rp, rv = params.copy(), np.zeros(n, dtype)
    for g, lr in zip(grad_seq, lrs):
        kernels.sklearn_momentum_update(p, g, v, lr, 0.9, nesterov)
        reference.sklearn_momentum_update(rp, g, rv, lr, 0.9, nesterov)
    assert_parity("sklearn_momentum_update", p, rp, dtype, exact=True)
    assert_parity("sklearn_momentum_update.velocity", v, rv, dtype, exact=True)
    sk = _sk_optimizer_steps("sgd", params, grad_seq, lrs, momentum=0.9, nesterov=nesterov)
    np.testing.assert_array_equal(p, sk)


def test_sklearn_adam_matches_reference_and_scikit_learn(rng, dtype):
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    grad_seq = [rng.standard_normal(n).astype(dtype) * 1e-3 for _ in range(6)]
    p, m, v = params.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    rp, rm, rv = params.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    for t, g in enumerate(grad_seq, start=1):
        kernels.sklearn_adam_update(p, g, m, v, t, 0.01, 0.8, 0.99, 1e-4)
        reference.sklearn_adam_update(rp, g, rm, rv, t, 0.01, 0.8, 0.99, 1e-4)
    assert_parity("sklearn_adam_update", p, rp, dtype, exact=True)
    assert_parity("sklearn_adam_update.m", m, rm, dtype, exact=True)
    assert_parity("sklearn_adam_update.v", v, rv, dtype, exact=True)
    sk = _sk_optimizer_steps("adam", params, grad_seq, [0.01] * 6, beta_1=0.8, beta_2=0.99,
                             epsilon=1e-4)
    np.testing.assert_allclose(p, sk, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_sklearn_rules_with_weight_decay_match_reference(rng, dtype):
    n = 37
    params = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    p, v, rp, rv = params.copy(), np.zeros(n, dtype), params.copy(), np.zeros(n, dtype)
    kernels.sklearn_momentum_update(p, g, v, 0.1, 0.5, True, weight_decay=0.01)
    reference.sklearn_momentum_update(rp, g, rv, 0.1, 0.5, True, weight_decay=0.01)
    assert_parity("sklearn_momentum_update[wd]", p, rp, dtype, exact=True)
    p, m, v = params.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    rp, rm, rv = params.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    kernels.sklearn_adam_update(p, g, m, v, 1, 0.1, weight_decay=0.01)
    reference.sklearn_adam_update(rp, g, rm, rv, 1, 0.1, weight_decay=0.01)
    assert_parity("sklearn_adam_update[wd]", p, rp, dtype, exact=True)


def test_sklearn_update_arguments_are_validated(rng):
    p, g = np.zeros(4), np.zeros(4)
    with pytest.raises(ValueError, match="momentum must be"):
        kernels.sklearn_momentum_update(p, g, np.zeros(4), 0.1, 1.5)
    with pytest.raises(ValueError, match="step must be"):
        kernels.sklearn_adam_update(p, g, np.zeros(4), np.zeros(4), 0, 0.1)
    with pytest.raises(ValueError, match="velocity must have shape"):
        kernels.sklearn_momentum_update(p, g, np.zeros(3), 0.1, 0.5)


# --- the compiled loop with weights and the L2 penalty -----------------------------

SIZES = [5, 4, 3]


def _layout(sizes):
    w_off, b_off, p = [], [], 0
    for n_in, n_out in pairwise(sizes):
        w_off.append(p)
        b_off.append(p + n_in * n_out)
        p += n_in * n_out + n_out
    cum = np.cumsum(sizes)
    return dict(sizes=np.asarray(sizes, np.intp), w_off=np.asarray(w_off, np.intp),
                b_off=np.asarray(b_off, np.intp),
                a_off=np.concatenate([[0], cum[:-1]]).astype(np.intp),
                d_off=np.concatenate([[0, 0], np.cumsum(sizes[1:])[:-1]]).astype(np.intp),
                n_params=p)


def _views(params, lay):
    sizes = lay["sizes"]
    return [(params[w:b].reshape(sizes[i], sizes[i + 1]), params[b:b + sizes[i + 1]])
            for i, (w, b) in enumerate(zip(lay["w_off"], lay["b_off"]))]


def _reference_grads(params, lay, X, Y, w, l2, hidden, out, loss):
    """Loss, penalty and flat gradient by fastnn.reference, as scikit-learn defines them."""
    layers = _views(params, lay)
    acts = [X]
    for i, (W, b) in enumerate(layers):
        acts.append(reference.dense_forward(acts[-1], W, b,
                                            out if i == len(layers) - 1 else hidden))
    value, dA = reference.loss_delta(acts[-1], Y, loss, out, w)
    grads = np.zeros_like(params)
    gl = _views(grads, lay)
    act = "identity"
    sw = X.shape[0] if w is None else w.astype(np.float64).sum()
    for i in reversed(range(len(layers))):
        dW, db, dX = reference.dense_backward(acts[i], layers[i][0], acts[i + 1], dA, act)
        gl[i][0][...] = dW + X.dtype.type(l2 / sw) * layers[i][0]
        gl[i][1][...] = db
        dA, act = dX, hidden
    penalty = 0.5 * l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W, _ in layers) / sw
    return value, penalty, grads


@pytest.mark.parametrize("loss, out", [("cce", "softmax"), ("bce", "sigmoid"),
                                       ("mse", "identity"), ("poisson", "identity")])
def test_gradients_with_weights_and_l2_match_reference(rng, dtype, loss, out):
    lay = _layout(SIZES)
    params = (rng.standard_normal(lay["n_params"]) * 0.5).astype(dtype)
    X = rng.standard_normal((8, SIZES[0])).astype(dtype)
    _, Y = _outputs(rng, loss, out, 8, SIZES[-1], dtype)
    w = (rng.random(8) * 2).astype(dtype)
    grads = np.zeros_like(params)
    acts = np.empty(8 * sum(SIZES), dtype)
    deltas = np.empty(8 * sum(SIZES[1:]), dtype)
    codes = np.asarray([ACTIVATIONS["tanh"], ACTIVATIONS[out]], np.intc)
    value = _train.gradients(X, Y, lay["sizes"], codes, LOSSES[loss], params, grads, acts,
                             deltas, lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"],
                             w, 0.3)
    ref_value, _, ref_grads = _reference_grads(params, lay, X, Y, w, 0.3, "tanh", out, loss)
    assert_parity("train.gradients[weights, l2]", grads, ref_grads, dtype)
    assert_parity("train.gradients.value[weights]", value, ref_value, dtype)


@pytest.mark.parametrize("rule", ["gd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_train_samples_with_weights_and_l2_follows_reference(rng, dtype, rule, batch_size):
    """Batches, weights, the penalty on W only and scikit-learn's rules, step by step."""
    lay = _layout(SIZES)
    n = 8
    params = (rng.standard_normal(lay["n_params"]) * 0.5).astype(dtype)
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    Y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], n)]
    w = (rng.random(n) * 2).astype(dtype)
    order = rng.permutation(n).astype(np.intp)
    l2, lr = 0.05, 0.1
    code = {"gd": 0, "momentum": 3, "nesterov": 3, "adam": 4}[rule]
    s1 = np.zeros(lay["n_params"] if rule != "gd" else 0, dtype)
    s2 = np.zeros(lay["n_params"] if rule == "adam" else 0, dtype)
    codes = np.asarray([ACTIVATIONS["relu"], ACTIVATIONS["softmax"]], np.intc)
    p = params.copy()
    total, _, t, penalty = _train.train_samples(
        X, Y, order, 0, n, batch_size, lay["sizes"], codes, LOSSES["cce"], p,
        np.zeros_like(p), np.empty(batch_size * sum(SIZES), dtype),
        np.empty(batch_size * sum(SIZES[1:]), dtype), np.empty(batch_size * SIZES[-1], dtype),
        lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], code, lr, 0.9,
        rule == "nesterov", 0.9, 0.999, 1e-8, 0.0, s1, s2, 0, w, l2)

    rp, r1, r2 = params.copy(), np.zeros_like(params), np.zeros_like(params)
    ref_total = ref_penalty = 0.0
    for step, pos in enumerate(range(0, n, batch_size), start=1):
        idx = order[pos:pos + batch_size]
        value, pen, g = _reference_grads(rp, lay, X[idx], Y[idx], w[idx], l2, "relu",
                                         "softmax", "cce")
        ref_total += value * len(idx)
        ref_penalty += pen * len(idx)
        if rule == "gd":
            reference.sgd_update(rp, g, lr)
        elif rule == "adam":
            reference.sklearn_adam_update(rp, g, r1, r2, step, lr)
        else:
            reference.sklearn_momentum_update(rp, g, r1, lr, 0.9, rule == "nesterov")
    assert t == -(-n // batch_size)
    assert_parity("train_samples[weights, l2, %s]" % rule, p, rp, dtype)
    assert_parity("train_samples.loss[weights]", total, ref_total, dtype)
    assert_parity("train_samples.penalty", penalty, ref_penalty, dtype)


def test_l2_leaves_biases_alone(rng):
    """One step with and without l2: the biases take the same step, the weights decay more."""
    lay = _layout(SIZES)
    params = rng.standard_normal(lay["n_params"])
    X = rng.standard_normal((2, SIZES[0]))
    Y = rng.standard_normal((2, SIZES[-1]))
    codes = np.asarray([ACTIVATIONS["tanh"], ACTIVATIONS["identity"]], np.intc)
    results = []
    for l2 in (0.0, 0.2):
        p, grads = params.copy(), np.zeros_like(params)
        _train.train_samples(X, Y, np.arange(2, dtype=np.intp), 0, 2, 2, lay["sizes"], codes,
                             LOSSES["mse"], p, grads, np.empty(2 * sum(SIZES)),
                             np.empty(2 * sum(SIZES[1:])), np.empty(2 * SIZES[-1]),
                             lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], 0, 0.5,
                             0.0, False, 0.9, 0.999, 1e-8, 0.0, np.empty(0), np.empty(0), 0,
                             None, l2)
        results.append(_views(p, lay))
    for (W0, b0), (W1, b1), (W, _) in zip(*results, _views(params, lay)):
        np.testing.assert_array_equal(b1, b0)
        np.testing.assert_allclose(W1, W0 - 0.5 * (0.2 / 2) * W, rtol=1e-13, atol=1e-15)


def test_train_samples_refuses_bad_extras(rng):
    lay = _layout(SIZES)
    p = np.zeros(lay["n_params"])
    args = [np.zeros((4, SIZES[0])), np.zeros((4, SIZES[-1])), np.arange(4, dtype=np.intp),
            0, 4, 2, lay["sizes"], np.zeros(2, np.intc), 0, p, np.zeros_like(p),
            np.empty(2 * sum(SIZES)), np.empty(2 * sum(SIZES[1:])), np.empty(2 * SIZES[-1]),
            lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], 0, 0.1, 0.0, False,
            0.9, 0.999, 1e-8, 0.0, np.empty(0), np.empty(0), 0]
    with pytest.raises(ValueError, match="sample_weight has 3 entries for 4 samples"):
        _train.train_samples(*args, np.ones(3), 0.0)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        _train.train_samples(*args, None, -1.0)
    args[18] = 99
    with pytest.raises(ValueError, match="unknown optimizer rule 99"):
        _train.train_samples(*args)
