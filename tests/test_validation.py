"""Bad input to fastnn.kernels raises a clear TypeError/ValueError naming the argument.

Conventions under test (fastnn/_validation.py): a wrong dtype is a TypeError;
a wrong ndim, shape, layout or value is a ValueError; every message starts
with the argument's name and says what was expected.  Inputs that are not
C-contiguous are copied; ``out=`` and in-place buffers never are.  The private
compiled entry points in fastnn._kernels.* must raise, never crash.

Each test builds one valid call (``valid_args``) and breaks exactly one thing.
"""

import re

import numpy as np
import pytest

from fastnn import kernels
from fastnn._kernels import _blas, _vmath, activations, dense, losses, optim

# Shapes of every valid call: a batch of N samples, a layer of N_IN -> N_OUT units,
# and a flat parameter buffer of N_PARAMS values.
N, N_IN, N_OUT, N_PARAMS = 3, 4, 2, 4

FUNCTIONS = [
    "activation_forward", "activation_derivative", "activation_backward",
    "dense_forward", "dense_backward", "loss_gradient", "loss_delta",
    "sgd_update", "momentum_update", "adam_update",
]

#: function -> its array arguments, in the order they are validated.
ARRAY_ARGS = {
    "activation_forward": ["Z"],
    "activation_derivative": ["A"],
    "activation_backward": ["A", "dA"],
    "dense_forward": ["X", "W", "b"],
    "dense_backward": ["X", "W", "A", "dA"],
    "loss_gradient": ["A", "Y"],
    "loss_delta": ["A", "Y"],
    "sgd_update": ["params", "grads"],
    "momentum_update": ["params", "grads", "velocity"],
    "adam_update": ["params", "grads", "m", "v"],
}
#: Optimizer state: written in place, never checked for NaN.
STATE_ARGS = {"velocity", "m", "v"}
#: function -> its output keywords and their shapes.
OUT_ARGS = {
    "activation_forward": {"out": (N, N_OUT)},
    "activation_derivative": {"out": (N, N_OUT)},
    "activation_backward": {"out": (N, N_OUT)},
    "dense_forward": {"out": (N, N_OUT)},
    "dense_backward": {"dW_out": (N_IN, N_OUT), "db_out": (N_OUT,), "dX_out": (N, N_IN)},
    "loss_gradient": {"out": (N, N_OUT)},
    "loss_delta": {"out": (N, N_OUT)},
}


def _pairs(table, skip=()):
    return [(f, a) for f, args in table.items() for a in args if a not in skip]


def _ids(pairs):
    return ["%s-%s" % p for p in pairs]


ARRAY_PAIRS = _pairs(ARRAY_ARGS)
OUT_PAIRS = _pairs(OUT_ARGS)


def valid_args(func, dtype=np.float64):
    """Fresh keyword arguments of a valid call to ``kernels.<func>``."""
    def full(shape, value):
        return np.full(shape, value, dtype=dtype)

    A = full((N, N_OUT), 0.25)
    table = {
        "activation_forward": dict(Z=full((N, N_OUT), -0.5), activation="sigmoid"),
        "activation_derivative": dict(A=A, activation="sigmoid"),
        "activation_backward": dict(A=A, dA=full((N, N_OUT), 1.0), activation="sigmoid"),
        "dense_forward": dict(X=full((N, N_IN), 0.5), W=full((N_IN, N_OUT), 0.1),
                              b=full((N_OUT,), 0.2), activation="sigmoid"),
        "dense_backward": dict(X=full((N, N_IN), 0.5), W=full((N_IN, N_OUT), 0.1), A=A,
                               dA=full((N, N_OUT), 1.0), activation="sigmoid"),
        "loss_gradient": dict(A=A, Y=full((N, N_OUT), 1.0), loss="bce"),
        "loss_delta": dict(A=A, Y=full((N, N_OUT), 1.0), loss="bce", activation="sigmoid"),
        "sgd_update": dict(params=full(N_PARAMS, 1.0), grads=full(N_PARAMS, 0.5), lr=0.1),
        "momentum_update": dict(params=full(N_PARAMS, 1.0), grads=full(N_PARAMS, 0.5),
                                velocity=full(N_PARAMS, 0.0), lr=0.1, momentum=0.9),
        "adam_update": dict(params=full(N_PARAMS, 1.0), grads=full(N_PARAMS, 0.5),
                            m=full(N_PARAMS, 0.0), v=full(N_PARAMS, 0.0), step=1, lr=0.1),
    }
    return table[func]


def call(func, dtype=np.float64, **overrides):
    """Call ``kernels.<func>`` with valid arguments, except for ``overrides``."""
    kwargs = valid_args(func, dtype)
    kwargs.update(overrides)
    return getattr(kernels, func)(**kwargs)


def names(arg):
    """Regex: the message starts with the argument's name."""
    return "^%s " % re.escape(arg)


# --- a valid call runs (so every failure below comes from the one thing broken) --

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("func", FUNCTIONS)
def test_valid_call_runs(func, dtype):
    kwargs = valid_args(func, dtype)
    result = getattr(kernels, func)(**kwargs)
    if func.endswith("_update"):
        assert result is None
        assert kwargs["params"].dtype == dtype
        assert not np.array_equal(kwargs["params"], valid_args(func, dtype)["params"])
    else:
        results = result if isinstance(result, tuple) else (result,)
        for r in results:
            if isinstance(r, np.ndarray):
                assert r.dtype == dtype
            assert np.isfinite(r).all()


# --- ndim, shape -------------------------------------------------------------------

def _expected_ndim_message(func, arg):
    if arg == "params":
        return r"^params must be a flat 1-D buffer, got shape"
    if arg in STATE_ARGS:
        return r"^%s must have shape \(%d\), got" % (arg, N_PARAMS)
    ndim = valid_args(func)[arg].ndim
    return r"^%s must be a %d-D array, got \d-D with shape" % (arg, ndim)


@pytest.mark.parametrize("change", ["add_axis", "drop_axis"])
@pytest.mark.parametrize("func, arg", ARRAY_PAIRS, ids=_ids(ARRAY_PAIRS))
def test_wrong_ndim(func, arg, change):
    x = valid_args(func)[arg]
    bad = x[None] if change == "add_axis" else np.array(x[0])
    with pytest.raises(ValueError, match=_expected_ndim_message(func, arg)):
        call(func, **{arg: bad})


MISMATCHED_SHAPES = [
    ("activation_backward", "dA", (N, N_OUT + 1), r"^dA must have shape \(3, 2\), got \(3, 3\)"),
    ("activation_backward", "dA", (N + 1, N_OUT), r"^dA must have shape \(3, 2\), got \(4, 2\)"),
    ("dense_forward", "W", (N_IN + 1, N_OUT),
     r"^W must have shape \(n_in, n_out\) with n_in = X.shape\[1\] = 4, got \(5, 2\)"),
    ("dense_forward", "b", (N_OUT + 1,), r"^b must have shape \(2\), got \(3,\)"),
    ("dense_backward", "W", (N_IN - 1, N_OUT),
     r"^W must have shape \(n_in, n_out\) with n_in = X.shape\[1\] = 4, got \(3, 2\)"),
    ("dense_backward", "A", (N, N_OUT + 1), r"^A must have shape \(3, 2\), got \(3, 3\)"),
    ("dense_backward", "A", (N + 1, N_OUT), r"^A must have shape \(3, 2\), got \(4, 2\)"),
    ("dense_backward", "dA", (N, N_OUT + 1), r"^dA must have shape \(3, 2\), got \(3, 3\)"),
    ("loss_gradient", "Y", (N, N_OUT + 1), r"^Y must have shape \(3, 2\), got \(3, 3\)"),
    ("loss_gradient", "Y", (N_OUT, N), r"^Y must have shape \(3, 2\), got \(2, 3\)"),
    ("loss_delta", "Y", (N + 1, N_OUT), r"^Y must have shape \(3, 2\), got \(4, 2\)"),
    ("sgd_update", "grads", (N_PARAMS + 1,), r"^grads must have shape \(4\), got \(5,\)"),
    ("momentum_update", "grads", (N_PARAMS - 1,), r"^grads must have shape \(4\), got \(3,\)"),
    ("momentum_update", "velocity", (N_PARAMS + 1,),
     r"^velocity must have shape \(4\), got \(5,\)"),
    ("adam_update", "grads", (N_PARAMS + 1,), r"^grads must have shape \(4\), got \(5,\)"),
    ("adam_update", "m", (N_PARAMS - 1,), r"^m must have shape \(4\), got \(3,\)"),
    ("adam_update", "v", (N_PARAMS + 1,), r"^v must have shape \(4\), got \(5,\)"),
]


@pytest.mark.parametrize("func, arg, shape, match", MISMATCHED_SHAPES,
                         ids=["%s-%s-%s" % (f, a, "x".join(map(str, s)))
                              for f, a, s, _ in MISMATCHED_SHAPES])
def test_mismatched_shapes(func, arg, shape, match):
    bad = np.full(shape, 0.5)
    with pytest.raises(ValueError, match=match):
        call(func, **{arg: bad})


# --- dtypes ------------------------------------------------------------------------

BAD_DTYPES = [np.int64, np.int32, np.bool_, np.complex128, np.float16]


@pytest.mark.parametrize("bad_dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("func, arg", ARRAY_PAIRS, ids=_ids(ARRAY_PAIRS))
def test_non_float_dtype_is_type_error(func, arg, bad_dtype):
    bad = valid_args(func)[arg].astype(bad_dtype)
    match = r"^%s must be (a )?float32 or float64( array)?, got dtype %s" % (
        arg, np.dtype(bad_dtype).name)
    with pytest.raises(TypeError, match=match):
        call(func, **{arg: bad})


# Every array argument but the first, which sets the dtype of the call.
MIXED_PAIRS = [(f, a) for f, args in ARRAY_ARGS.items() for a in args[1:]]


@pytest.mark.parametrize("base, other", [(np.float64, np.float32), (np.float32, np.float64)],
                         ids=["f64+f32", "f32+f64"])
@pytest.mark.parametrize("func, arg", MIXED_PAIRS, ids=_ids(MIXED_PAIRS))
def test_mixed_float_dtypes_is_type_error(func, arg, base, other):
    bad = valid_args(func, base)[arg].astype(other)
    match = r"^%s has dtype %s but the other operands are %s" % (
        arg, np.dtype(other).name, np.dtype(base).name)
    with pytest.raises(TypeError, match=match):
        call(func, base, **{arg: bad})


# --- NaN and infinity ----------------------------------------------------------------

FINITE_PAIRS = _pairs(ARRAY_ARGS, skip=STATE_ARGS)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("func, arg", FINITE_PAIRS, ids=_ids(FINITE_PAIRS))
def test_non_finite_input(func, arg, value):
    kwargs = valid_args(func)
    kwargs[arg].flat[-1] = value
    before = {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    with pytest.raises(ValueError, match=r"^%s contains NaN or infinity; expected finite values"
                       % arg):
        getattr(kernels, func)(**kwargs)
    for k, v in before.items():  # rejected before anything was written
        np.testing.assert_array_equal(kwargs[k], v)
    # check_finite=False skips the pass: the same call runs.
    kwargs["check_finite"] = False
    getattr(kernels, func)(**kwargs)
    if func.endswith("_update") and arg == "params":
        assert not np.isfinite(kwargs["params"][-1])


# --- empty arrays --------------------------------------------------------------------

@pytest.mark.parametrize("func, arg", ARRAY_PAIRS, ids=_ids(ARRAY_PAIRS))
def test_empty_array(func, arg):
    x = valid_args(func)[arg]
    bad = np.empty((0,) + x.shape[1:], dtype=x.dtype)
    with pytest.raises(ValueError, match=r"^%s must not be empty, got shape \(0," % arg):
        call(func, **{arg: bad})


@pytest.mark.parametrize("func", ["activation_forward", "activation_derivative",
                                  "dense_forward", "loss_gradient"])
def test_empty_columns(func):
    arg = ARRAY_ARGS[func][0]
    bad = np.empty((N, 0))
    with pytest.raises(ValueError, match=r"^%s must not be empty, got shape \(3, 0\)" % arg):
        call(func, **{arg: bad})


# --- activation and loss names ----------------------------------------------------------

ACTIVATION_FUNCS = ["activation_forward", "activation_derivative", "activation_backward",
                    "dense_forward", "dense_backward", "loss_delta"]


@pytest.mark.parametrize("name", ["swish", "ReLU", "", None, 3], ids=repr)
@pytest.mark.parametrize("func", ACTIVATION_FUNCS)
def test_unknown_activation(func, name):
    with pytest.raises(ValueError, match=r"^activation must be one of \['gelu', 'identity', "
                       r"'leaky_relu', 'log_softmax', 'relu', 'sigmoid', 'softmax', 'softplus', "
                       r"'step', 'tanh'\], got %s" % re.escape(repr(name))):
        call(func, activation=name)


@pytest.mark.parametrize("name", ["mae", "MSE", "cross_entropy", None], ids=repr)
@pytest.mark.parametrize("func", ["loss_gradient", "loss_delta"])
def test_unknown_loss(func, name):
    with pytest.raises(ValueError, match=r"^loss must be one of \['bce', 'bce_with_logits', 'cce', "
                       r"'cross_entropy_from_logits', 'huber', 'mse', 'poisson'\], got %s"
                       % re.escape(repr(name))):
        call(func, loss=name)


@pytest.mark.parametrize("func", ["activation_derivative", "activation_backward",
                                  "dense_backward", "loss_delta"])
def test_step_has_no_gradient(func):
    with pytest.raises(ValueError, match=r"step \(threshold\) unit has no useful gradient") as e:
        call(func, activation="step")
    assert "'sigmoid'" in str(e.value)
    assert "differentiable replacement" in str(e.value)


@pytest.mark.parametrize("func", ["activation_forward", "dense_forward"])
def test_step_is_fine_forward(func):
    A = call(func, activation="step")
    assert set(np.unique(A)) <= {0.0, 1.0}


def test_softmax_has_no_elementwise_derivative():
    with pytest.raises(ValueError, match=r"^activation 'softmax' has no elementwise derivative"
                       r".*use activation_backward"):
        call("activation_derivative", activation="softmax")


# --- out= arrays -------------------------------------------------------------------------

def _bad_out(kind, shape):
    if kind == "float32":
        return np.empty(shape, np.float32)
    if kind == "int64":
        return np.empty(shape, np.int64)
    if kind == "list":
        return np.zeros(shape).tolist()
    if kind == "wrong_shape":
        return np.empty(shape[:-1] + (shape[-1] + 1,))
    if kind == "extra_axis":
        return np.empty((1,) + shape)
    if kind == "non_contiguous":
        return np.empty(shape[:-1] + (2 * shape[-1],))[..., ::2]
    if kind == "fortran":
        return np.asfortranarray(np.empty(shape))
    if kind == "read_only":
        out = np.empty(shape)
        out.flags.writeable = False
        return out
    raise AssertionError(kind)


BAD_OUT = [
    ("float32", TypeError, r"has dtype float32 but the other operands are float64"),
    ("int64", TypeError, r"must be float32 or float64, got dtype int64"),
    ("list", TypeError, r"must be a numpy.ndarray \(it is written in place\), got list"),
    ("wrong_shape", ValueError, r"must have shape \("),
    ("extra_axis", ValueError, r"must have shape \("),
    ("non_contiguous", ValueError, r"must be C-contiguous \(it is written in place"),
    ("fortran", ValueError, r"must be C-contiguous"),
    ("read_only", ValueError, r"must be writeable"),
]


# (function, out keyword, kind of bad array, exception, message after the name);
# a 1-D array is Fortran- and C-contiguous at once, so it has no "fortran" case.
BAD_OUT_CASES = [(f, o, kind, exc, match) for f, o in OUT_PAIRS for kind, exc, match in BAD_OUT
                 if not (kind == "fortran" and len(OUT_ARGS[f][o]) == 1)]


@pytest.mark.parametrize("func, out_arg, kind, exc, match", BAD_OUT_CASES,
                         ids=["%s-%s-%s" % c[:3] for c in BAD_OUT_CASES])
def test_bad_out(func, out_arg, kind, exc, match):
    with pytest.raises(exc, match=names(out_arg) + match):
        call(func, **{out_arg: _bad_out(kind, OUT_ARGS[func][out_arg])})


def _overlapping(kwargs, arg, shape):
    """Rebuild ``kwargs[arg]`` inside a buffer and return an array of ``shape`` overlapping it."""
    x = kwargs[arg]
    buf = np.zeros(x.size + int(np.prod(shape)))
    view = buf[:x.size].reshape(x.shape)
    view[...] = x
    kwargs[arg] = view
    start = x.size - 1  # share exactly one element
    return buf[start:start + int(np.prod(shape))].reshape(shape)


OVERLAPS = [
    ("activation_forward", "out", "Z"),
    ("activation_derivative", "out", "A"),
    ("activation_backward", "out", "A"),
    ("activation_backward", "out", "dA"),
    ("dense_forward", "out", "X"),
    ("dense_forward", "out", "W"),
    ("dense_forward", "out", "b"),
    ("dense_backward", "dW_out", "X"),
    ("dense_backward", "dW_out", "W"),
    ("dense_backward", "dW_out", "dA"),
    ("dense_backward", "db_out", "A"),
    ("dense_backward", "dX_out", "X"),
    ("dense_backward", "dX_out", "W"),
    ("dense_backward", "dX_out", "dA"),
    ("loss_gradient", "out", "A"),
    ("loss_gradient", "out", "Y"),
    ("loss_delta", "out", "A"),
    ("loss_delta", "out", "Y"),
]


@pytest.mark.parametrize("func, out_arg, arg", OVERLAPS, ids=["%s-%s-%s" % o for o in OVERLAPS])
def test_out_overlapping_an_input(func, out_arg, arg):
    kwargs = valid_args(func)
    kwargs[out_arg] = _overlapping(kwargs, arg, OUT_ARGS[func][out_arg])
    with pytest.raises(ValueError, match=r"^%s must not overlap %s in memory" % (out_arg, arg)):
        getattr(kernels, func)(**kwargs)


@pytest.mark.parametrize("first, second", [("dW_out", "db_out"), ("dW_out", "dX_out"),
                                           ("db_out", "dX_out")])
def test_dense_backward_outputs_overlapping_each_other(first, second):
    kwargs = valid_args("dense_backward")
    shapes = OUT_ARGS["dense_backward"]
    size = int(np.prod(shapes[first]))
    buf = np.empty(size + int(np.prod(shapes[second])))
    kwargs[first] = buf[:size].reshape(shapes[first])
    kwargs[second] = buf[size - 1:size - 1 + int(np.prod(shapes[second]))].reshape(shapes[second])
    with pytest.raises(ValueError, match=r"^%s must not overlap %s in memory" % (first, second)):
        kernels.dense_backward(**kwargs)


@pytest.mark.parametrize("func, arg, same_object", [
    ("activation_forward", "Z", False),      # out=Z itself is allowed, a view of Z is not
    ("activation_derivative", "A", False),
    ("activation_backward", "A", True),
    ("loss_gradient", "A", True),
    ("loss_delta", "Y", True),
])
def test_out_is_an_input(func, arg, same_object):
    kwargs = valid_args(func)
    out = kwargs[arg] if same_object else kwargs[arg][:]
    with pytest.raises(ValueError, match=r"^out must not overlap %s in memory" % arg):
        getattr(kernels, func)(out=out, **kwargs)


# --- in place and out= give the same result as without ------------------------------------

@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "softmax", "step"])
def test_activation_forward_in_place(activation):
    Z = np.linspace(-3, 3, N * 5).reshape(N, 5)
    expected = kernels.activation_forward(Z, activation)
    result = kernels.activation_forward(Z, activation, out=Z)
    assert result is Z
    np.testing.assert_array_equal(Z, expected)


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "softmax"])
def test_activation_backward_in_place(activation):
    A = kernels.activation_forward(np.linspace(-3, 3, N * 5).reshape(N, 5), activation)
    dA = np.linspace(-1, 2, N * 5).reshape(N, 5)
    expected = kernels.activation_backward(A, dA, activation)
    assert not np.array_equal(expected, dA) or activation == "identity"
    result = kernels.activation_backward(A, dA, activation, out=dA)
    assert result is dA
    np.testing.assert_array_equal(dA, expected)


@pytest.mark.parametrize("func", list(OUT_ARGS))
def test_out_gives_the_same_result(func):
    expected = call(func)
    outs = {k: np.full(s, np.nan) for k, s in OUT_ARGS[func].items()}
    result = call(func, **outs)
    if func == "dense_backward":
        for got, want, out in zip(result, expected, outs.values()):
            assert got is out
            np.testing.assert_array_equal(got, want)
    elif func.startswith("loss"):
        assert result[0] == expected[0] and result[1] is outs["out"]
        np.testing.assert_array_equal(result[1], expected[1])
    else:
        assert result is outs["out"]
        np.testing.assert_array_equal(result, expected)


# --- non-contiguous inputs are copied, and give the same result ---------------------------

def _layout(x, kind):
    """``x`` (C-contiguous) with the same values in another memory layout."""
    if kind == "strided":  # every other column (or element) of a wider array
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if kind == "transposed":  # the transpose of a C-contiguous array
        return np.ascontiguousarray(x.T).T
    if kind == "fortran":
        return np.asfortranarray(x)
    if kind == "reversed":  # negative strides
        return np.ascontiguousarray(x[::-1])[::-1]
    raise AssertionError(kind)


LAYOUT_CASES = [(f, a, k) for f, args in ARRAY_ARGS.items() for a in args
                if a != "params" and a not in STATE_ARGS
                for k in (["strided", "reversed"] if valid_args(f)[a].ndim == 1
                          else ["strided", "transposed", "fortran"])]


@pytest.mark.parametrize("func, arg, kind", LAYOUT_CASES, ids=["%s-%s-%s" % c for c in LAYOUT_CASES])
def test_non_contiguous_inputs_are_accepted(func, arg, kind):
    rng = np.random.default_rng(7)
    kwargs = valid_args(func)
    # Distinct values, so a wrong stride would change the result.
    kwargs[arg] = kwargs[arg] + rng.uniform(0, 0.1, kwargs[arg].shape)
    contiguous = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    odd = _layout(kwargs[arg], kind)
    assert not odd.flags.c_contiguous and np.array_equal(odd, kwargs[arg])
    kwargs[arg] = odd
    got = getattr(kernels, func)(**kwargs)
    want = getattr(kernels, func)(**contiguous)
    np.testing.assert_array_equal(odd, contiguous[arg])  # the input is left alone
    if func.endswith("_update"):
        np.testing.assert_array_equal(kwargs["params"], contiguous["params"])
    else:
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_array_equal(g, w)


def test_dense_forward_with_transposed_weights_and_strided_batch():
    rng = np.random.default_rng(3)
    X_wide = rng.standard_normal((N, 2 * N_IN))
    W_t = rng.standard_normal((N_OUT, N_IN))
    b = rng.standard_normal(N_OUT)
    got = kernels.dense_forward(X_wide[:, ::2], W_t.T, b, "tanh")
    want = kernels.dense_forward(np.ascontiguousarray(X_wide[:, ::2]),
                                 np.ascontiguousarray(W_t.T), b, "tanh")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np.tanh(X_wide[:, ::2] @ W_t.T + b), rtol=1e-12)


def test_list_inputs_are_accepted():
    Z = [[-1.0, 0.5], [2.0, -3.0]]
    np.testing.assert_array_equal(kernels.activation_forward(Z, "relu"),
                                  [[0.0, 0.5], [2.0, 0.0]])


# --- optimizer buffers, written in place ---------------------------------------------------

def _bad_buffer(x, kind):
    if kind == "non_contiguous":
        wide = np.zeros(2 * x.size, x.dtype)
        wide[::2] = x
        return wide[::2]
    if kind == "2d":
        return x.reshape(2, -1)
    if kind == "read_only":
        x = x.copy()
        x.flags.writeable = False
        return x
    if kind == "float32":
        return x.astype(np.float32)
    if kind == "int64":
        return x.astype(np.int64)
    if kind == "list":
        return x.tolist()
    raise AssertionError(kind)


def _expected_buffer_error(arg, kind):
    if kind == "non_contiguous":
        return ValueError, r"^%s must be C-contiguous \(it is written in place, so it cannot be copied\)" % arg
    if kind == "2d":
        return ValueError, (r"^params must be a flat 1-D buffer, got shape \(2, 2\)" if arg == "params"
                            else r"^%s must have shape \(4\), got \(2, 2\)" % arg)
    if kind == "read_only":
        return ValueError, r"^%s must be writeable" % arg
    if kind == "float32":
        # params sets the dtype of the call: the mismatch is reported on grads.
        return TypeError, (r"^grads has dtype float64 but the other operands are float32"
                           if arg == "params"
                           else r"^%s has dtype float32 but the other operands are float64" % arg)
    if kind == "int64":
        return TypeError, r"^%s must be float32 or float64, got dtype int64" % arg
    if kind == "list":
        return TypeError, r"^%s must be a numpy.ndarray \(it is written in place\), got list" % arg
    raise AssertionError(kind)


BUFFER_PAIRS = [(f, a) for f, args in ARRAY_ARGS.items() if f.endswith("_update")
                for a in args if a != "grads"]


@pytest.mark.parametrize("kind", ["non_contiguous", "2d", "read_only", "float32", "int64", "list"])
@pytest.mark.parametrize("func, arg", BUFFER_PAIRS, ids=_ids(BUFFER_PAIRS))
def test_bad_optimizer_buffer(func, arg, kind):
    kwargs = valid_args(func)
    kwargs[arg] = _bad_buffer(kwargs[arg], kind)
    exc, match = _expected_buffer_error(arg, kind)
    with pytest.raises(exc, match=match):
        getattr(kernels, func)(**kwargs)


# --- hyperparameters ---------------------------------------------------------------------

HYPERPARAMETERS = [
    ("sgd_update", "lr", 0.0, ValueError, r"^lr must be in \(0, inf[)\]], got 0.0"),
    ("sgd_update", "lr", -0.1, ValueError, r"^lr must be in \(0, inf[)\]], got -0.1"),
    ("sgd_update", "lr", float("nan"), ValueError, r"^lr must be finite, got nan"),
    ("sgd_update", "lr", float("inf"), ValueError, r"^lr must be finite, got inf"),
    ("sgd_update", "lr", "0.1", TypeError, r"^lr must be a real number, got '0.1'"),
    ("sgd_update", "lr", None, TypeError, r"^lr must be a real number, got None"),
    ("sgd_update", "lr", True, TypeError, r"^lr must be a real number, got True"),
    ("sgd_update", "lr", np.array([0.1]), TypeError, r"^lr must be a real number"),
    ("sgd_update", "weight_decay", -1e-4, ValueError, r"^weight_decay must be in \[0, inf[)\]]"),
    ("momentum_update", "lr", 0, ValueError, r"^lr must be in \(0, inf[)\]], got 0.0"),
    ("momentum_update", "lr", float("nan"), ValueError, r"^lr must be finite"),
    ("momentum_update", "momentum", 1.0, ValueError, r"^momentum must be in \[0, 1\), got 1.0"),
    ("momentum_update", "momentum", -0.5, ValueError, r"^momentum must be in \[0, 1\), got -0.5"),
    ("momentum_update", "momentum", "0.9", TypeError, r"^momentum must be a real number"),
    ("momentum_update", "weight_decay", -1.0, ValueError, r"^weight_decay must be in \[0, inf[)\]]"),
    ("adam_update", "lr", -1.0, ValueError, r"^lr must be in \(0, inf[)\]], got -1.0"),
    ("adam_update", "lr", "1e-3", TypeError, r"^lr must be a real number, got '1e-3'"),
    ("adam_update", "beta1", 1.0, ValueError, r"^beta1 must be in \[0, 1\), got 1.0"),
    ("adam_update", "beta1", -0.1, ValueError, r"^beta1 must be in \[0, 1\), got -0.1"),
    ("adam_update", "beta2", -0.1, ValueError, r"^beta2 must be in \[0, 1\), got -0.1"),
    ("adam_update", "beta2", 1.0, ValueError, r"^beta2 must be in \[0, 1\), got 1.0"),
    ("adam_update", "eps", 0.0, ValueError, r"^eps must be in \(0, inf[)\]], got 0.0"),
    ("adam_update", "eps", -1e-8, ValueError, r"^eps must be in \(0, inf[)\]]"),
    ("adam_update", "weight_decay", -0.01, ValueError, r"^weight_decay must be in \[0, inf[)\]]"),
    ("adam_update", "step", 0, ValueError, r"^step must be in \[1, 9007199254740992\], got 0"),
    ("adam_update", "step", -3, ValueError, r"^step must be in \[1, 9007199254740992\], got -3"),
    ("adam_update", "step", 1.5, TypeError, r"^step must be an integer, got 1.5"),
    ("adam_update", "step", 2.0, TypeError, r"^step must be an integer, got 2.0"),
    ("adam_update", "step", True, TypeError, r"^step must be an integer, got True"),
    ("adam_update", "step", "1", TypeError, r"^step must be an integer, got '1'"),
]


@pytest.mark.parametrize("func, name, value, exc, match", HYPERPARAMETERS,
                         ids=["%s-%s=%r" % h[:3] for h in HYPERPARAMETERS])
def test_bad_hyperparameter(func, name, value, exc, match):
    kwargs = valid_args(func)
    kwargs[name] = value
    before = {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    with pytest.raises(exc, match=match):
        getattr(kernels, func)(**kwargs)
    for k, v in before.items():  # nothing was updated
        np.testing.assert_array_equal(kwargs[k], v)


@pytest.mark.parametrize("name, value", [("lr", np.float32(0.1)), ("step", np.int64(3)),
                                         ("beta1", 0), ("weight_decay", 0)])
def test_numpy_and_integer_hyperparameters_are_accepted(name, value):
    kwargs = valid_args("adam_update")
    kwargs[name] = value
    kernels.adam_update(**kwargs)
    assert np.all(kwargs["params"] < 1.0)


# --- overflowing scalars, ragged lists and aliased buffers are named, not crashed on ----------

def test_huge_adam_step_is_named():
    with pytest.raises((ValueError, TypeError), match=r"^step "):
        call("adam_update", step=2**63)


def test_huge_integer_lr_is_named():
    with pytest.raises((ValueError, TypeError), match=r"^lr "):
        call("sgd_update", lr=10**400)


def test_ragged_list_input_is_named():
    with pytest.raises(ValueError, match=r"^Z "):
        kernels.activation_forward([[1.0], [1.0, 2.0]], "relu")


def _aliased_state(func):
    kwargs = valid_args(func)
    if func == "momentum_update":
        kwargs["velocity"] = kwargs["params"]
        return kwargs, r"^(velocity must not overlap params|params must not overlap velocity)"
    if func == "adam_update":
        kwargs["v"] = kwargs["m"]
        return kwargs, r"^(v must not overlap m|m must not overlap v)"
    buf = np.arange(1.0, 2.0 + N_PARAMS)  # grads shifted one element behind params
    kwargs["params"], kwargs["grads"] = buf[1:], buf[:-1]
    return kwargs, r"^(grads must not overlap params|params must not overlap grads)"


@pytest.mark.parametrize("func", ["sgd_update", "momentum_update", "adam_update"])
def test_aliased_optimizer_buffers(func):
    kwargs, match = _aliased_state(func)
    with pytest.raises(ValueError, match=match):
        getattr(kernels, func)(**kwargs)


# --- the private compiled entry points raise instead of crashing ----------------------------

def _f(*shape, dtype=np.float64):
    return np.full(shape, 0.5, dtype=dtype)


def _read_only(x):
    x.flags.writeable = False
    return x


F32 = np.float32
DTYPE_MISMATCH = r"[Bb]uffer dtype mismatch|No matching signature"
NOT_CONTIGUOUS = r"not C-contiguous|contiguous"

PRIVATE_BAD_CALLS = [
    # dense
    ("dense_forward-W_rows", lambda: dense.dense_forward(_f(3, 4), _f(5, 2), _f(2), 0, _f(3, 2)),
     r"W rows != X columns"),
    ("dense_forward-b_len", lambda: dense.dense_forward(_f(3, 4), _f(4, 2), _f(3), 0, _f(3, 2)),
     r"b length != W columns"),
    ("dense_forward-out", lambda: dense.dense_forward(_f(3, 4), _f(4, 2), _f(2), 0, _f(2, 3)),
     r"inconsistent shapes \(out\)"),
    ("dense_forward-empty", lambda: dense.dense_forward(_f(0, 4), _f(4, 2), _f(2), 0, _f(0, 2)),
     r"inconsistent shapes \(empty\)"),
    ("dense_forward-empty_in", lambda: dense.dense_forward(_f(3, 0), _f(0, 2), _f(2), 0, _f(3, 2)),
     r"inconsistent shapes \(empty\)"),
    ("dense_forward-code", lambda: dense.dense_forward(_f(3, 4), _f(4, 2), _f(2), 10, _f(3, 2)),
     r"unknown activation code 10"),
    ("dense_forward-mixed", lambda: dense.dense_forward(_f(3, 4), _f(4, 2, dtype=F32), _f(2), 0,
                                                        _f(3, 2)), DTYPE_MISMATCH),
    ("dense_forward-strided", lambda: dense.dense_forward(_f(3, 8)[:, ::2], _f(4, 2), _f(2), 0,
                                                          _f(3, 2)), NOT_CONTIGUOUS),
    ("dense_backward-A", lambda: dense.dense_backward(_f(3, 4), _f(4, 2), _f(3, 3), _f(3, 2), 0,
                                                      _f(3, 2), _f(4, 2), _f(2)), r"\(A\)"),
    ("dense_backward-dW", lambda: dense.dense_backward(_f(3, 4), _f(4, 2), _f(3, 2), _f(3, 2), 0,
                                                       _f(3, 2), _f(2, 4), _f(2)), r"\(dW\)"),
    ("dense_backward-dX", lambda: dense.dense_backward(_f(3, 4), _f(4, 2), _f(3, 2), _f(3, 2), 0,
                                                       _f(3, 2), _f(4, 2), _f(2), _f(4, 3)),
     r"\(dX\)"),
    ("dense_backward-empty", lambda: dense.dense_backward(_f(0, 4), _f(4, 2), _f(0, 2), _f(0, 2),
                                                          0, _f(0, 2), _f(4, 2), _f(2)),
     r"\(empty\)"),
    ("dense_backward-step", lambda: dense.dense_backward(_f(3, 4), _f(4, 2), _f(3, 2), _f(3, 2),
                                                         5, _f(3, 2), _f(4, 2), _f(2)),
     r"no gradient for activation code 5"),
    ("dense_backward-mixed", lambda: dense.dense_backward(_f(3, 4), _f(4, 2), _f(3, 2, dtype=F32),
                                                          _f(3, 2), 0, _f(3, 2), _f(4, 2), _f(2)),
     DTYPE_MISMATCH),
    ("column_sums-len", lambda: dense.column_sums(_f(3, 4), _f(3)), r"out length != M columns"),
    ("column_sums-empty", lambda: dense.column_sums(_f(0, 4), _f(4)), r"\(empty\)"),
    # activations
    ("activation_forward-shape", lambda: activations.activation_forward(1, _f(3, 2), _f(2, 3)),
     r"Z and out differ in shape"),
    ("activation_forward-empty_shape", lambda: activations.activation_forward(1, _f(0, 2),
                                                                              _f(0, 3)),
     r"Z and out differ in shape"),
    ("activation_forward-code", lambda: activations.activation_forward(10, _f(3, 2), _f(3, 2)),
     r"unknown activation code 10"),
    ("activation_forward-negative_code", lambda: activations.activation_forward(-1, _f(3, 2),
                                                                                _f(3, 2)),
     r"unknown activation code -1"),
    ("activation_forward-mixed", lambda: activations.activation_forward(1, _f(3, 2),
                                                                        _f(3, 2, dtype=F32)),
     DTYPE_MISMATCH),
    ("activation_derivative-softmax", lambda: activations.activation_derivative(4, _f(3, 2),
                                                                                _f(3, 2)),
     r"no elementwise derivative for code 4"),
    ("activation_derivative-shape", lambda: activations.activation_derivative(1, _f(3, 2),
                                                                              _f(3, 3)),
     r"A and out differ in shape"),
    ("activation_backward-shape", lambda: activations.activation_backward(1, _f(3, 2), _f(3, 3),
                                                                          _f(3, 2)),
     r"A, dA and dZ differ in shape"),
    ("activation_backward-step", lambda: activations.activation_backward(5, _f(3, 2), _f(3, 2),
                                                                         _f(3, 2)),
     r"no gradient for activation code 5"),
    ("activation_backward-mixed", lambda: activations.activation_backward(
        1, _f(3, 2, dtype=F32), _f(3, 2), _f(3, 2)), DTYPE_MISMATCH),
    # losses
    ("loss_delta-shape", lambda: losses.loss_delta(0, 0, _f(3, 2), _f(3, 3), _f(3, 2)),
     r"A, Y and delta differ in shape or are empty"),
    ("loss_delta-empty", lambda: losses.loss_delta(0, 0, _f(0, 2), _f(0, 2), _f(0, 2)),
     r"A, Y and delta differ in shape or are empty"),
    ("loss_delta-loss", lambda: losses.loss_delta(7, 0, _f(3, 2), _f(3, 2), _f(3, 2)),
     r"unknown loss code 7"),
    ("loss_delta-weights", lambda: losses.loss_delta(0, 0, _f(3, 2), _f(3, 2), _f(3, 2),
                                                     0, _f(2)),
     r"weights has 2 entries for 3 samples"),
    ("loss_delta-step", lambda: losses.loss_delta(0, 5, _f(3, 2), _f(3, 2), _f(3, 2)),
     r"no gradient for activation code 5"),
    ("loss_delta-mixed", lambda: losses.loss_delta(0, 0, _f(3, 2), _f(3, 2, dtype=F32),
                                                   _f(3, 2)), DTYPE_MISMATCH),
    ("loss_gradient-shape", lambda: losses.loss_gradient(0, _f(3, 2), _f(3, 2), _f(2, 2)),
     r"A, Y and dA differ in shape or are empty"),
    ("loss_gradient-empty", lambda: losses.loss_gradient(0, _f(3, 0), _f(3, 0), _f(3, 0)),
     r"A, Y and dA differ in shape or are empty"),
    # optimizers
    ("sgd_update-grads", lambda: optim.sgd_update(_f(4), _f(5), 0.1),
     r"grads differs in length from params"),
    ("momentum_update-velocity", lambda: optim.momentum_update(_f(4), _f(4), _f(3), 0.1, 0.9),
     r"velocity differs in length from params"),
    ("adam_update-m", lambda: optim.adam_update(_f(4), _f(4), _f(3), _f(4), 1, 0.1, 0.9, 0.999,
                                                1e-8), r"m differs in length from params"),
    ("adam_update-v", lambda: optim.adam_update(_f(4), _f(4), _f(4), _f(0), 1, 0.1, 0.9, 0.999,
                                                1e-8), r"v differs in length from params"),
    ("adam_update-step", lambda: optim.adam_update(_f(4), _f(4), _f(4), _f(4), 0, 0.1, 0.9, 0.999,
                                                   1e-8), r"step counts from 1, got 0"),
    ("adam_update-mixed", lambda: optim.adam_update(_f(4), _f(4), _f(4, dtype=F32), _f(4), 1, 0.1,
                                                    0.9, 0.999, 1e-8), DTYPE_MISMATCH),
    ("sgd_update-read_only", lambda: optim.sgd_update(_read_only(_f(4)), _f(4), 0.1),
     r"read-only"),
    ("sgd_update-strided", lambda: optim.sgd_update(_f(8)[::2], _f(4), 0.1), NOT_CONTIGUOUS),
    # BLAS
    ("gemm-k", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(3, 4), _f(5, 2), 0.0, _f(3, 2)),
     r"gemm_rowmajor: inconsistent shapes"),
    ("gemm-m", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(3, 4), _f(4, 2), 0.0, _f(2, 2)),
     r"gemm_rowmajor: inconsistent shapes"),
    ("gemm-trans_a", lambda: _blas.gemm_rowmajor(True, False, 1.0, _f(3, 4), _f(4, 2), 0.0,
                                                 _f(3, 2)), r"gemm_rowmajor: inconsistent shapes"),
    ("gemm-trans_b", lambda: _blas.gemm_rowmajor(False, True, 1.0, _f(3, 4), _f(4, 2), 0.0,
                                                 _f(3, 2)), r"gemm_rowmajor: inconsistent shapes"),
    ("gemm-empty", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(3, 0), _f(0, 2), 0.0,
                                               _f(3, 2)), r"every dimension must be at least 1"),
    ("gemm-empty_out", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(0, 4), _f(4, 2), 0.0,
                                                   _f(0, 2)), r"every dimension must be at least 1"),
    ("gemm-mixed", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(3, 4), _f(4, 2, dtype=F32),
                                               0.0, _f(3, 2)), DTYPE_MISMATCH),
    ("gemm-read_only", lambda: _blas.gemm_rowmajor(False, False, 1.0, _f(3, 4), _f(4, 2), 0.0,
                                                   _read_only(_f(3, 2))), r"read-only"),
    # vector math
    ("vmath-length", lambda: _vmath.apply("exp", _f(4), _f(3)), r"x and out differ in length"),
    ("vmath-name", lambda: _vmath.apply("sqrt", _f(4), _f(4)), r"unknown function 'sqrt'"),
    ("vmath-mixed", lambda: _vmath.apply("exp", _f(4), _f(4, dtype=F32)),
     r"out must have x's dtype float64, got float32"),
    ("vmath-2d", lambda: _vmath.apply("exp", _f(2, 2), _f(2, 2)),
     r"x must be a 1-D C-contiguous array, got shape \(2, 2\)"),
    ("vmath-int", lambda: _vmath.apply("exp", np.zeros(4, np.int64), np.zeros(4, np.int64)),
     r"x must be float32 or float64, got dtype int64"),
    ("vmath-read_only", lambda: _vmath.apply("exp", _f(4), _read_only(_f(4))), r"out is read-only"),
    ("vmath-byte_order", lambda: _vmath.apply("exp", _f(4).astype(_f(4).dtype.newbyteorder()), _f(4)),
     r"x and out must be in the machine's byte order"),
]


@pytest.mark.parametrize("bad_call, match", [c[1:] for c in PRIVATE_BAD_CALLS],
                         ids=[c[0] for c in PRIVATE_BAD_CALLS])
def test_private_entry_points_raise(bad_call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad_call()


# Consistent but empty arrays: the elementwise entry points return without
# touching memory (documented ``if n == 0: return``), which is also safe.
PRIVATE_EMPTY_NOOPS = [
    ("activation_forward", lambda: activations.activation_forward(1, _f(0, 3), _f(0, 3))),
    ("activation_forward-cols", lambda: activations.activation_forward(4, _f(3, 0), _f(3, 0))),
    ("activation_derivative", lambda: activations.activation_derivative(1, _f(0, 3), _f(0, 3))),
    ("activation_backward", lambda: activations.activation_backward(4, _f(0, 3), _f(0, 3),
                                                                    _f(0, 3))),
    ("vmath", lambda: _vmath.apply("log", _f(0), _f(0))),
    ("sgd_update", lambda: optim.sgd_update(_f(0), _f(0), 0.1)),
    ("adam_update", lambda: optim.adam_update(_f(0), _f(0), _f(0), _f(0), 1, 0.1, 0.9, 0.999,
                                              1e-8)),
]


@pytest.mark.parametrize("empty_call", [c[1] for c in PRIVATE_EMPTY_NOOPS],
                         ids=[c[0] for c in PRIVATE_EMPTY_NOOPS])
def test_private_entry_points_accept_consistent_empty_arrays(empty_call):
    assert empty_call() is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite(dtype):
    from fastnn._validation import all_finite
    big = np.finfo(dtype).max
    assert all_finite(np.zeros((3, 4), dtype))
    # finite elements whose sum overflows: the fast path must fall back, not reject
    assert all_finite(np.array([big, big, -big / 2], dtype))
    for bad in (np.nan, np.inf, -np.inf):
        x = np.ones((5, 7), dtype)
        x[3, 2] = bad
        assert not all_finite(x)
    # +inf and -inf together sum to NaN; NaN beside overflow stays NaN
    assert not all_finite(np.array([np.inf, -np.inf], dtype))
    assert not all_finite(np.array([big, big, np.nan], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_compiled_scan_every_position(dtype, num_threads):
    """The bit-pattern scan: every special value, anywhere, with 1 and 2 threads."""
    from fastnn._validation import all_finite
    info = np.finfo(dtype)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    exponent_all_ones = np.array(np.inf, dtype).view(uint)
    signalling_nan = (exponent_all_ones | uint(1)).view(dtype)
    specials = [np.nan, np.inf, -np.inf, -np.array(np.nan, dtype), signalling_nan]
    # Above two scan chunks' worth of values, so that 2 threads split it.
    n = (1 << 22) + 37
    x = np.full(n, info.max, dtype)
    x[1::3] = info.smallest_subnormal
    x[2::3] = -info.max
    assert all_finite(x)
    for pos in (0, n // 2 - 1, n // 2, n - 1):
        for bad in specials:
            saved = x[pos]
            x[pos] = bad
            assert not all_finite(x), (pos, bad)
            x[pos] = saved
    assert all_finite(x)
    # Fortran order scans in place; other layouts take the NumPy path.
    m = np.ones((40, 30), dtype, order="F")
    m[39, 0] = np.nan
    assert not all_finite(m)
    assert not all_finite(m[:, ::2]) and all_finite(m[:20, ::2])
