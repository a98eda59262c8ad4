"""Property-based fuzzing of the public kernels (Hypothesis), about a minute in all.

Random shapes, dtypes and values (NaN, ±inf, ±0, denormals and moderate
magnitudes mixed in) through every kernel of ``fastnn.kernels``:

- with ``check_finite=False`` each kernel agrees with ``fastnn.reference``:
  NaN and ±inf at the same places, finite values within a rounding bound;
- with ``check_finite=True`` a non-finite input is a ``ValueError`` naming it;
- malformed arguments (ranks, shapes, dtypes, layouts, names, aliasing) are a
  ``ValueError`` or ``TypeError``, never another exception or a crash.

Values stay within ±1e4 where results are compared: near the overflow
threshold the reference and a fused or reordered kernel may legitimately
overflow at different places.
"""

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from fastnn import kernels, reference  # noqa: E402

FUZZ = settings(max_examples=700, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax", "step", "leaky_relu", "gelu",
               "softplus", "log_softmax")
GRADIENT_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax", "leaky_relu", "gelu",
                        "softplus", "log_softmax")
DERIVATIVES = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")
# activations whose results sum over a row
ROW_ACTIVATIONS = ("softmax", "log_softmax")
LOSSES = ("mse", "bce", "cce", "poisson", "cross_entropy_from_logits", "bce_with_logits",
          "huber")
DELTA_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax", "leaky_relu", "gelu",
                     "softplus", "log_softmax")
RTOL = {np.float32: 2e-4, np.float64: 1e-9}

dtypes = st.sampled_from([np.float32, np.float64])
dims = st.integers(1, 9)


def values(dtype, specials=True):
    """Moderate floats, with NaN, ±inf and denormals when ``specials``."""
    finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False,
                       width=32 if dtype == np.float32 else 64)
    if not specials:
        return finite
    tiny = float(np.finfo(dtype).smallest_subnormal)
    return st.one_of(finite, finite, finite, st.sampled_from(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny]))


def arrays(dtype, shape, specials=True):
    return hnp.arrays(dtype, shape, elements=values(dtype, specials))


def _agree(got, want, dtype, scale=None):
    """NaN and ±inf at the same places; finite values within rtol of ``scale``
    (the magnitude the result was summed from; default: the values)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    ok = np.isfinite(want)
    scale = np.abs(want) if scale is None else np.broadcast_to(scale, want.shape)
    bound = RTOL[dtype] * (scale[ok] + 1e-30) + np.finfo(dtype).tiny
    assert np.all(np.abs(got[ok] - want[ok]) <= bound), np.max(np.abs(got[ok] - want[ok]) / bound)


@FUZZ
@given(dtypes.flatmap(lambda d: st.tuples(
    st.just(d), dims, dims, st.sampled_from(ACTIVATIONS),
    st.data())))
def test_activations_agree_with_the_reference(case):
    dtype, rows, cols, act, data = case
    Z = data.draw(arrays(dtype, (rows, cols)))
    dA = data.draw(arrays(dtype, (rows, cols)))
    with np.errstate(all="ignore"):
        # GELU's erf (C library against SciPy) differs in the last bits, which
        # its sums 1 + erf and Φ + z·φ can cancel down to: compare against
        # the terms' size; log_softmax subtracts a row's log-sum-exp
        want = reference.activation_forward(Z, act)
        scale = np.abs(want) + np.abs(Z) if act in ("gelu", "log_softmax") else None
        _agree(kernels.activation_forward(Z, act, check_finite=False), want, dtype, scale)
        if act in DERIVATIVES:
            _agree(kernels.activation_derivative(Z, act, check_finite=False),
                   reference.activation_derivative(Z, act), dtype)
        if act in GRADIENT_ACTIVATIONS:
            want = reference.activation_backward(Z, dA, act, Z)
            scale = None
            if act == "softmax":
                scale = (np.abs(Z) * np.abs(dA) * (1 + np.abs(Z))).sum(axis=1, keepdims=True)
            elif act == "log_softmax":
                scale = np.abs(dA).sum(axis=1, keepdims=True) * (1 + np.exp(np.minimum(Z, 80)))
            elif act == "gelu":
                scale = np.abs(dA) * (1 + np.abs(Z))
            _agree(kernels.activation_backward(Z, dA, act, Z=Z, check_finite=False), want,
                   dtype, scale)
    if not np.isfinite(Z).all():
        with pytest.raises(ValueError, match="Z|A"):
            kernels.activation_forward(Z, act)


@FUZZ
@given(dtypes.flatmap(lambda d: st.tuples(
    st.just(d), dims, dims, dims, st.sampled_from(ACTIVATIONS), st.data())))
def test_dense_layers_agree_with_the_reference(case):
    dtype, n, n_in, n_out, act, data = case
    X = data.draw(arrays(dtype, (n, n_in)))
    W = data.draw(arrays(dtype, (n_in, n_out)))
    b = data.draw(arrays(dtype, (n_out,)))
    with np.errstate(all="ignore"):
        got = kernels.dense_forward(X, W, b, act, check_finite=False)
        want = reference.dense_forward(X, W, b, act)
        if act in ("identity", "relu", "leaky_relu"):   # a sum: compare against its magnitude
            _agree(got, want, dtype, np.abs(X) @ np.abs(W) + np.abs(b))
        else:
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        if act == "step":
            return
        A = data.draw(arrays(dtype, (n, n_out), specials=False))
        dA = data.draw(arrays(dtype, (n, n_out)))
        # A stands for the pre-activations too (GELU's backward reads Z)
        dW, db, dX = kernels.dense_backward(X, W, A, dA, act, Z=A, check_finite=False)
        rW, rb, rX = reference.dense_backward(X, W, A, dA, act, Z=A)
        dZ = np.abs(reference.activation_backward(A, dA, act, A))
        if act == "softmax":
            dZ = (np.abs(A) * np.abs(dA) * (1 + np.abs(A))).sum(axis=1, keepdims=True) + dZ
        elif act == "log_softmax":
            dZ = np.abs(dA).sum(axis=1, keepdims=True) * (1 + np.exp(np.minimum(A, 80))) + dZ
        elif act == "gelu":
            dZ = np.abs(dA) * (1 + np.abs(A)) + dZ
        _agree(dW, rW, dtype, np.abs(X).T @ dZ)
        _agree(db, rb, dtype, dZ.sum(axis=0))
        _agree(dX, rX, dtype, dZ @ np.abs(W).T)


@FUZZ
@given(dtypes.flatmap(lambda d: st.tuples(
    st.just(d), dims, dims, st.sampled_from(LOSSES), st.sampled_from(DELTA_ACTIVATIONS),
    st.booleans(), st.data())))
def test_losses_agree_with_the_reference(case):
    dtype, n, n_out, loss, act, weighted, data = case
    A = data.draw(arrays(dtype, (n, n_out)))
    if loss in ("bce", "cce"):                 # probabilities, and specials
        with np.errstate(invalid="ignore"):
            A = np.where(np.isfinite(A), np.abs(A) % 1, A).astype(dtype)
    Y = data.draw(hnp.arrays(dtype, (n, n_out), elements=st.sampled_from([0.0, 0.5, 1.0])))
    w = None
    if weighted:
        w = data.draw(hnp.arrays(dtype, (n,), elements=st.floats(
            0.0, 1e6, width=32 if dtype == np.float32 else 64)))
        if not (w > 0).any():
            w[0] = 1
    with np.errstate(all="ignore"):
        value, dA = kernels.loss_gradient(A, Y, loss, sample_weight=w, check_finite=False)
        ref_value, ref_dA = reference.loss_gradient(A, Y, loss, w)
        np.testing.assert_array_equal(np.isnan(dA), np.isnan(ref_dA))
        assert np.isnan(value) == np.isnan(ref_value)
        if np.isfinite(A).all():
            _agree(dA, ref_dA, dtype)
            _agree([value], [ref_value], dtype, np.abs(ref_value) + 1)
        # A stands for the pre-activations too (GELU's backward reads Z)
        value, delta = kernels.loss_delta(A, Y, loss, act, sample_weight=w, Z=A,
                                          check_finite=False)
        ref_value, ref_delta = reference.loss_delta(A, Y, loss, act, w, Z=A)
        np.testing.assert_array_equal(np.isnan(delta), np.isnan(ref_delta))
        assert np.isnan(value) == np.isnan(ref_value)


@FUZZ
@given(dtypes.flatmap(lambda d: st.tuples(
    st.just(d), st.integers(1, 40), st.sampled_from(["sgd", "momentum", "nesterov", "adam"]),
    st.floats(1e-4, 1.0), st.floats(0.0, 0.1), st.data())))
def test_optimizer_updates_agree_with_the_reference(case):
    dtype, size, rule, lr, decay, data = case
    params = data.draw(arrays(dtype, (size,)))
    grads = data.draw(arrays(dtype, (size,)))
    state = [data.draw(arrays(dtype, (size,), specials=False)) for _ in range(2)]
    state[1] = np.abs(state[1])                     # Adam's second moment
    ours = [params.copy(), [s.copy() for s in state]]
    theirs = [params.copy(), [s.copy() for s in state]]
    with np.errstate(all="ignore"):
        if rule == "sgd":
            kernels.sgd_update(ours[0], grads, lr, decay, check_finite=False)
            reference.sgd_update(theirs[0], grads, lr, decay)
        elif rule in ("momentum", "nesterov"):
            kernels.momentum_update(ours[0], grads, ours[1][0], lr, 0.9, rule == "nesterov",
                                    decay, check_finite=False)
            reference.momentum_update(theirs[0], grads, theirs[1][0], lr, 0.9,
                                      rule == "nesterov", decay)
        else:
            kernels.adam_update(ours[0], grads, ours[1][0], ours[1][1], 3, lr,
                                weight_decay=decay, check_finite=False)
            reference.adam_update(theirs[0], grads, theirs[1][0], theirs[1][1], 3, lr,
                                  weight_decay=decay)
    scale = np.abs(params) + lr * (np.abs(grads) + np.abs(state[0]) + 1)
    _agree(ours[0], theirs[0], dtype, scale)


BAD_ARRAYS = [
    np.zeros((3,)), np.zeros((2, 3, 4)), np.zeros((3, 4), np.int64), np.zeros((3, 4), bool),
    np.zeros((4, 3)).T, np.zeros((3, 8))[:, ::2], np.zeros((0, 4)), np.zeros((3, 0)),
    np.array([["a"] * 4] * 3), np.zeros((3, 4), np.complex128), np.zeros((3, 4), np.float16),
    "not an array", None, 3.0, [[1, 2], [3]],
]


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["activation_forward", "activation_derivative", "activation_backward",
                        "dense_forward", "dense_backward", "loss_gradient", "loss_delta",
                        "sgd_update", "momentum_update", "adam_update"]),
       st.integers(0, len(BAD_ARRAYS) - 1), st.integers(0, 4),
       st.sampled_from(["relu", "softmax", "bogus", "", None, 3]),
       st.sampled_from(["mse", "cce", "bogus", None]))
def test_malformed_arguments_raise_clear_errors(kernel, bad, position, act, loss):
    """One argument replaced by something malformed: ValueError or TypeError."""
    good = {
        "activation_forward": lambda: [np.ones((3, 4)), "relu"],
        "activation_derivative": lambda: [np.ones((3, 4)), "relu"],
        "activation_backward": lambda: [np.ones((3, 4)), np.ones((3, 4)), "relu"],
        "dense_forward": lambda: [np.ones((3, 4)), np.ones((4, 2)), np.ones(2), "relu"],
        "dense_backward": lambda: [np.ones((3, 4)), np.ones((4, 2)), np.ones((3, 2)),
                                   np.ones((3, 2)), "relu"],
        "loss_gradient": lambda: [np.full((3, 4), 0.5), np.ones((3, 4)), "mse"],
        "loss_delta": lambda: [np.full((3, 4), 0.5), np.ones((3, 4)), "mse", "identity"],
        "sgd_update": lambda: [np.ones(5), np.ones(5), 0.1],
        "momentum_update": lambda: [np.ones(5), np.ones(5), np.zeros(5), 0.1, 0.9],
        "adam_update": lambda: [np.ones(5), np.ones(5), np.zeros(5), np.zeros(5), 1, 0.1],
    }[kernel]()
    args = list(good)
    slot = position % len(args)
    if isinstance(args[slot], np.ndarray):
        args[slot] = BAD_ARRAYS[bad]
    elif isinstance(args[slot], str):
        args[slot] = act if args[slot] in ACTIVATIONS else loss
    else:
        args[slot] = [-1.0, np.nan, "x", None, np.inf][bad % 5]
    try:
        getattr(kernels, kernel)(*args)
    except (ValueError, TypeError):
        pass
