"""Central finite differences of a whole three-layer network, forward and backward.

This is the first link of the correctness chain: finite differences validate
backpropagation as written in the reference and in the compiled kernels (the
kernels are then held to the reference in test_kernels.py).
"""

import numpy as np
import pytest

from fastnn import kernels, reference

from conftest import relative_error
from network import forward_backward, init_layers, loss_value

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "softmax", "leaky_relu", "gelu", "softplus",
          "log_softmax"]
OUTPUT = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "tanh"), ("mse", "softmax"),
          ("bce", "sigmoid"), ("bce", "softmax"), ("cce", "softmax"), ("cce", "sigmoid"),
          ("cross_entropy_from_logits", "identity"), ("bce_with_logits", "identity"),
          ("huber", "identity"), ("huber", "softplus"), ("mse", "leaky_relu"),
          ("mse", "gelu"), ("mse", "log_softmax")]
# LeakyReLU's slope and Huber's δ, away from their defaults so that a value
# that does not reach the kernels shows
ALPHA, HUBER_DELTA = 0.3, 0.5


def _targets(rng, n, k, loss):
    if loss in ("mse", "huber"):
        return rng.standard_normal((n, k))
    if loss in ("bce", "bce_with_logits"):
        return (rng.random((n, k)) < 0.5).astype(np.float64)
    return np.eye(k)[rng.integers(0, k, n)]


def numerical_gradient(module, X, Y, layers, activations, loss, h=1e-6, **options):
    grads = []
    for W, b in layers:
        pair = []
        for P in (W, b):
            G = np.empty_like(P)
            for idx in np.ndindex(P.shape):
                saved = P[idx]
                P[idx] = saved + h
                plus = loss_value(module, X, Y, layers, activations, loss, **options)
                P[idx] = saved - h
                minus = loss_value(module, X, Y, layers, activations, loss, **options)
                P[idx] = saved
                G[idx] = (plus - minus) / (2 * h)
            pair.append(G)
        grads.append(tuple(pair))
    return grads


@pytest.mark.parametrize("module", [kernels, reference], ids=["compiled", "reference"])
@pytest.mark.parametrize("loss, out_act", OUTPUT, ids=["-".join(p) for p in OUTPUT])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_three_layer_gradient_matches_finite_differences(rng, module, hidden, loss, out_act):
    n, sizes = 7, [6, 5, 4, 3]
    X = rng.standard_normal((n, sizes[0]))
    Y = _targets(rng, n, sizes[-1], loss)
    layers = init_layers(rng, sizes, np.float64)
    activations = [hidden, hidden, out_act]
    options = dict(alpha=ALPHA, huber_delta=HUBER_DELTA)
    _, grads = forward_backward(module, X, Y, layers, activations, loss, **options)
    numeric = numerical_gradient(module, X, Y, layers, activations, loss, **options)
    for (dW, db), (nW, nb) in zip(grads, numeric):
        assert relative_error(dW, nW) <= 1e-6
        assert relative_error(db, nb) <= 1e-6


def test_gradient_check_can_fail(rng):
    # A wrong backward pass (sigmoid' dropped) must be caught by the same check.
    n, sizes = 7, [6, 5, 4, 3]
    X, Y = rng.standard_normal((n, 6)), rng.standard_normal((n, 3))
    layers = init_layers(rng, sizes, np.float64)
    acts = ["sigmoid", "sigmoid", "identity"]
    _, grads = forward_backward(reference, X, Y, layers, acts, "mse")
    wrong = forward_backward(reference, X, Y, layers, ["identity", "identity", "identity"],
                             "mse")[1]
    numeric = numerical_gradient(reference, X, Y, layers, acts, "mse")
    assert relative_error(grads[0][0], numeric[0][0]) <= 1e-6
    assert relative_error(wrong[0][0], numeric[0][0]) > 1e-2
