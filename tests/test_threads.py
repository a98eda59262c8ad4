"""Same inputs, same bits: 1 thread and 2 threads give identical results.

The compiled entry points take an explicit ``n_threads``, so every kernel's
parallel path is forced here even on shapes too small to use it by default;
whole forward/backward passes are also run under ``fastnn.set_num_threads``,
which changes the BLAS thread count too.
"""

import numpy as np
import pytest

import fastnn
from fastnn import kernels, reference
from fastnn._kernels import activations as _act
from fastnn._kernels import dense as _dense
from fastnn._kernels import losses as _losses
from fastnn._kernels import optim as _optim
from fastnn._validation import ACTIVATIONS, ELEMENTWISE_DERIVATIVES, LOSSES

from conftest import assert_parity
from network import forward_backward, init_layers

SHAPES = [(1, 3, 1), (2, 5, 7), (3, 17, 33), (65, 40, 129), (257, 100, 300)]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


def _run_both(fn):
    one, two = fn(1), fn(2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activations_forced_threads(rng, dtype, shape, activation):
    # alpha (LeakyReLU's) and Z (GELU's pre-activations) are ignored by the others
    Z = (rng.standard_normal(shape[::2]) * 3).astype(dtype)
    A = kernels.activation_forward(Z, activation, alpha=0.2)
    dA = rng.standard_normal(Z.shape).astype(dtype)
    code = ACTIVATIONS[activation]

    def run(n_threads):
        out = np.empty_like(Z)
        _act.activation_forward(code, Z, out, n_threads, 0.2)
        results = [out]
        if activation != "step":
            dZ = np.empty_like(Z)
            _act.activation_backward(code, A, dA, dZ, n_threads, 0.2, Z)
            results.append(dZ)
        if activation in ELEMENTWISE_DERIVATIVES:
            d = np.empty_like(Z)
            _act.activation_derivative(code, A, d, n_threads, 0.2)
            results.append(d)
        return results

    _run_both(run)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "softmax"])
def test_dense_forced_threads(rng, dtype, shape, activation):
    n, n_in, n_out = shape
    X = rng.standard_normal((n, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    A = kernels.dense_forward(X, W, b, activation)
    dA = rng.standard_normal(A.shape).astype(dtype)
    code = ACTIVATIONS[activation]

    def run(n_threads):
        out = np.empty_like(A)
        _dense.dense_forward(X, W, b, code, out, n_threads)
        dZ, dW, db, dX = (np.empty_like(A), np.empty_like(W), np.empty_like(b),
                          np.empty_like(X))
        _dense.dense_backward(X, W, A, dA, code, dZ, dW, db, dX, n_threads)
        sums = np.empty_like(b)
        _dense.column_sums(dA, sums, n_threads)
        return out, dZ, dW, db, dX, sums

    _run_both(run)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("loss, activation", [("mse", "sigmoid"), ("cce", "softmax"),
                                               ("bce", "sigmoid"), ("mse", "softmax"),
                                               ("cross_entropy_from_logits", "identity"),
                                               ("bce_with_logits", "identity"),
                                               ("huber", "gelu"), ("mse", "log_softmax"),
                                               ("huber", "leaky_relu")])
def test_loss_delta_forced_threads(rng, dtype, shape, loss, activation):
    Z = rng.standard_normal(shape[::2]).astype(dtype)
    A = kernels.activation_forward(Z, activation, alpha=0.2)
    Y = rng.random(A.shape).astype(dtype)

    def run(n_threads):
        delta = np.empty_like(A)
        value = _losses.loss_delta(LOSSES[loss], ACTIVATIONS[activation], A, Y, delta, n_threads,
                                   None, 0.5, 0.2, Z)
        return np.array(value), delta

    _run_both(run)


@pytest.mark.parametrize("n", [1, 2, 3, 1001, 100_003])
def test_optimizers_forced_threads(rng, dtype, n):
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)

    def run(n_threads):
        p_sgd = p0.copy()
        _optim.sgd_update(p_sgd, g, 0.1, 0.01, n_threads)
        p_mom, vel = p0.copy(), np.zeros_like(p0)
        _optim.momentum_update(p_mom, g, vel, 0.1, 0.9, True, 0.01, n_threads)
        p_adam, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for step in (1, 2):
            _optim.adam_update(p_adam, g, m, v, step, 1e-3, 0.9, 0.999, 1e-8, 0.01, n_threads)
        return p_sgd, p_mom, vel, p_adam, m, v

    _run_both(run)


@pytest.mark.parametrize("sizes, batch", [([784, 30, 10], 1), ([784, 30, 10], 10),
                                          ([784, 16, 16, 10], 32),
                                          ([300, 512, 256, 10], 256)],
                         ids=["784-30-10xb1", "784-30-10xb10", "784-16-16-10xb32",
                              "300-512-256-10xb256"])
def test_whole_network_same_bits_with_1_and_2_threads(isa, rng, dtype, sizes, batch):
    # On every instruction-set path; under set_num_threads both fastnn's
    # OpenMP pool and the BLAS pool change size.  Each path's products sum in
    # their own order, so each is also held to the reference.
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    layers = init_layers(rng, sizes, dtype)
    acts = ["relu"] * (len(sizes) - 2) + ["softmax"]
    expected = forward_backward(reference, X, Y, layers, acts, "cce")
    before = fastnn.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            fastnn.set_num_threads(n)
            results.append(forward_backward(kernels, X, Y, layers, acts, "cce"))
    finally:
        fastnn.set_num_threads(before)
    (v1, g1), (v2, g2) = results
    assert v1 == v2
    for (dW1, db1), (dW2, db2), (dW, db) in zip(g1, g2, expected[1]):
        np.testing.assert_array_equal(dW1, dW2)
        np.testing.assert_array_equal(db1, db2)
        assert_parity("whole network dW [%s]" % isa, dW1, dW, dtype)
        assert_parity("whole network db [%s]" % isa, db1, db, dtype)
