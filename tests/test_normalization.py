"""BatchNorm and LayerNorm: kernels against the reference and finite
differences, the compiled loop against the NumPy backend, placement, running
statistics, persistence, thread counts and bad arguments."""

import io

import numpy as np
import pytest

import fastnn
from fastnn import reference
from fastnn._kernels import normalization
from fastnn._validation import NORMALIZATIONS

KINDS = ["batch", "layer"]
TOL = {np.float64: 1e-12, np.float32: 2e-6}


def _data(n=101, n_in=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)) * 2 + 0.5, rng.integers(0, classes, n)


def _norm(kind, **kw):
    return fastnn.BatchNorm(**kw) if kind == "batch" else fastnn.LayerNorm(**kw)


# Placements: before the activation, after it, on the output layer (before its
# softmax), with dropout after the normalization.
LAYOUTS = {
    "before": lambda k: [fastnn.Dense(6, 9), _norm(k), fastnn.ReLU(), fastnn.Dense(9, 3),
                         fastnn.Softmax()],
    "after": lambda k: [fastnn.Dense(6, 9), fastnn.Tanh(), _norm(k), fastnn.Dense(9, 3),
                        fastnn.Softmax()],
    "output": lambda k: [fastnn.Dense(6, 9), fastnn.Sigmoid(), fastnn.Dense(9, 3), _norm(k),
                         fastnn.Softmax()],
    "mixed": lambda k: [fastnn.Dense(6, 9), _norm(k, momentum=0.3) if k == "batch"
                        else _norm(k), fastnn.ReLU(), fastnn.Dense(9, 7), fastnn.ReLU(),
                        fastnn.LayerNorm(eps=1e-3), fastnn.Dropout(0.2), fastnn.Dense(7, 3),
                        fastnn.Softmax()],
}


def _model(layout, kind, dtype="float64", backend="cython", seed=1):
    return fastnn.Sequential(LAYOUTS[layout](kind), dtype=dtype, seed=seed, backend=backend)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n, units", [(1, 5), (2, 5), (7, 5), (64, 5), (3, 300)])
def test_kernels_match_the_reference(kind, dtype, n, units):
    # 300 units: inference takes BatchNorm's units in blocks of 256
    rng = np.random.default_rng(n)
    X = (rng.standard_normal((n, units)) * 3 + 1).astype(dtype)
    gamma, beta = (rng.standard_normal(units).astype(dtype) for _ in range(2))
    xhat, out = np.empty_like(X), np.empty_like(X)
    stats = np.empty(max(3 * units, n), dtype)
    running = [np.full(units, 0.5, dtype), np.full(units, 2.0, dtype)]
    code = NORMALIZATIONS[kind]
    normalization.norm_forward(code, X, gamma, beta, 1e-5, xhat, out, stats)
    if kind == "batch":
        normalization.norm_running_update(stats, *running, 0.25, n)
    want, want_xhat, mean, var = reference.norm_forward(X, gamma, beta, kind, 1e-5)
    tol = TOL[dtype]
    np.testing.assert_allclose(out, want, rtol=0, atol=50 * tol * np.abs(want).max())
    np.testing.assert_allclose(xhat, want_xhat, rtol=0, atol=50 * tol * max(1, np.abs(want_xhat).max()))
    if kind == "batch":
        ref_running = [np.full(units, 0.5, dtype), np.full(units, 2.0, dtype)]
        reference.norm_running_update(*ref_running, mean, var, n, 0.25)
        for got, ref in zip(running, ref_running):
            np.testing.assert_allclose(got, ref, rtol=50 * tol)
        if n == 1:       # one row: the running statistics stay
            np.testing.assert_array_equal(running[1], np.full(units, 2.0, dtype))
    dY = rng.standard_normal((n, units)).astype(dtype)
    dX, dgamma, dbeta = reference.norm_backward(dY, want_xhat, var, gamma, kind, 1e-5)
    got, got_dgamma, got_dbeta = dY.copy(), np.empty(units, dtype), np.empty(units, dtype)
    normalization.norm_backward(code, got, xhat, stats, gamma, got_dgamma, got_dbeta)
    for a, b in ((got, dX), (got_dgamma, dgamma), (got_dbeta, dbeta)):
        np.testing.assert_allclose(a, b, rtol=0, atol=200 * tol * max(1, np.abs(b).max()))
    inferred = X.copy()
    normalization.norm_inference(code, inferred, gamma, beta, *running, 1e-5)
    np.testing.assert_allclose(
        inferred, reference.norm_inference(X, gamma, beta, kind, 1e-5, *running),
        rtol=0, atol=50 * tol * max(1, np.abs(want).max()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n, units", [(1, 5), (7, 5), (3, 300), (40, 17)])
def test_public_kernels_match_the_reference(kind, dtype, n, units):
    # fastnn.kernels' validated twins of the reference functions, same arguments
    rng = np.random.default_rng(units)
    X = (rng.standard_normal((n, units)) * 3 + 1).astype(dtype)
    gamma, beta = (rng.standard_normal(units).astype(dtype) for _ in range(2))
    tol = TOL[dtype]
    got = fastnn.kernels.norm_forward(X, gamma, beta, kind, 1e-5)
    want = reference.norm_forward(X, gamma, beta, kind, 1e-5)
    for name, a, b in zip(("out", "xhat", "mean", "var"), got, want):
        assert a.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=0, atol=50 * tol * max(1, np.abs(b).max()),
                                   err_msg=name)
    dY = rng.standard_normal((n, units)).astype(dtype)
    got_back = fastnn.kernels.norm_backward(dY, got[1], got[3], gamma, kind, 1e-5)
    want_back = reference.norm_backward(dY, want[1], want[3], gamma, kind, 1e-5)
    for name, a, b in zip(("dX", "dgamma", "dbeta"), got_back, want_back):
        np.testing.assert_allclose(a, b, rtol=0, atol=200 * tol * max(1, np.abs(b).max()),
                                   err_msg=name)
    # the backward from the forward's variance is the training loop's, bit for bit
    code = NORMALIZATIONS[kind]
    xhat, out, stats = np.empty_like(X), np.empty_like(X), np.empty(max(3 * units, n), dtype)
    normalization.norm_forward(code, X, gamma, beta, 1e-5, xhat, out, stats)
    dX, dgamma, dbeta = dY.copy(), np.empty(units, dtype), np.empty(units, dtype)
    normalization.norm_backward(code, dX, xhat, stats, gamma, dgamma, dbeta)
    for a, b in zip(got_back, (dX, dgamma, dbeta)):
        np.testing.assert_array_equal(a, b)
    running = [np.full(units, 0.5, dtype), np.full(units, 2.0, dtype)]
    if kind == "batch":
        ref_running = [r.copy() for r in running]
        fastnn.kernels.norm_running_update(*running, got[2], got[3], n, 0.25)
        reference.norm_running_update(*ref_running, got[2], got[3], n, 0.25)
        for a, b in zip(running, ref_running):
            np.testing.assert_allclose(a, b, rtol=50 * tol)
    args = running if kind == "batch" else ()
    np.testing.assert_allclose(
        fastnn.kernels.norm_inference(X, gamma, beta, kind, 1e-5, *args),
        reference.norm_inference(X, gamma, beta, kind, 1e-5, *args),
        rtol=0, atol=50 * tol * max(1, np.abs(want[0]).max()))


def _bad_norm_calls():
    X, g = np.ones((4, 3)), np.ones(3)
    k = fastnn.kernels
    return [
        (lambda: k.norm_forward(X, g, g, "group", 1e-5), ValueError, "kind must be one of"),
        (lambda: k.norm_forward(X, np.ones(4), g, "batch", 1e-5), ValueError,
         r"gamma must have shape \(3\)"),
        (lambda: k.norm_forward(X, g, g.astype(np.float32), "batch", 1e-5), TypeError, "beta"),
        (lambda: k.norm_forward(X, g, g, "layer", 0.0), ValueError, "eps must be in"),
        (lambda: k.norm_forward(np.ones((0, 3)), g, g, "layer", 1e-5), ValueError,
         "X must not be empty"),
        (lambda: k.norm_forward(np.full((4, 3), np.nan), g, g, "layer", 1e-5), ValueError,
         "X contains NaN"),
        (lambda: k.norm_backward(X, X[:3], g, g, "batch", 1e-5), ValueError,
         r"xhat must have shape \(4, 3\)"),
        (lambda: k.norm_backward(X, X, g, g, "layer", 1e-5), ValueError,
         r"var must have shape \(4\)"),
        (lambda: k.norm_backward(X, X, -g, g, "batch", 1e-5), ValueError, "var holds variances"),
        (lambda: k.norm_inference(X, g, g, "batch", 1e-5), ValueError,
         "needs running_mean and running_var"),
        (lambda: k.norm_running_update([0.0] * 3, np.ones(3), g, g, 4, 0.1), TypeError,
         "running_mean must be a numpy.ndarray"),
        (lambda: k.norm_running_update(np.ones(3), np.ones(3), g, g, 4, 1.5), ValueError,
         "momentum must be in"),
        (lambda: k.norm_running_update(np.ones(3), np.ones(3), g, g, 0, 0.1), ValueError,
         "n must be in"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_norm_calls())))
def test_public_kernels_refuse_bad_input(case):
    call, error, message = _bad_norm_calls()[case]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4)) * 2
    gamma, beta, C = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((6, 4))

    def loss(X, gamma, beta):
        return (reference.norm_forward(X, gamma, beta, kind, 1e-5)[0] * C).sum()

    xhat, out, stats = np.empty_like(X), np.empty_like(X), np.empty(12)
    normalization.norm_forward(NORMALIZATIONS[kind], X, gamma, beta, 1e-5, xhat, out, stats)
    dX, dgamma, dbeta = C.copy(), np.empty(4), np.empty(4)
    normalization.norm_backward(NORMALIZATIONS[kind], dX, xhat, stats, gamma, dgamma, dbeta)
    h = 1e-6
    for analytic, arg in ((dX, 0), (dgamma, 1), (dbeta, 2)):
        args = [X, gamma, beta]
        numeric = np.zeros_like(args[arg])
        for k in np.ndindex(numeric.shape):
            up, down = [a.copy() for a in args], [a.copy() for a in args]
            up[arg][k] += h
            down[arg][k] -= h
            numeric[k] = (loss(*up) - loss(*down)) / (2 * h)
        np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-7)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("kind", KINDS)
def test_model_gradients_match_finite_differences(layout, kind):
    X, y = _data(12)
    model = _model(layout, kind, backend="numpy")
    if "mixed" == layout:
        model = fastnn.Sequential([layer for layer in LAYOUTS[layout](kind)
                                   if not isinstance(layer, fastnn.Dropout)],
                                  dtype="float64", seed=1, backend="numpy")
    model.gradients(X, y, "cce")
    analytic = model.grads.copy()
    p0 = model.params.copy()

    def value(params):
        model.params[...] = params
        return model._reference_gradients(X, np.eye(3)[y], fastnn.losses.get_loss("cce"))[0]

    h = 1e-6
    rng = np.random.default_rng(0)
    for k in np.concatenate([rng.choice(len(p0), 20, replace=False),
                             np.arange(len(p0) - 2 * model._normed_units, len(p0))]):
        e = np.zeros_like(p0)
        e[k] = h
        numeric = (value(p0 + e) - value(p0 - e)) / (2 * h)
        assert abs(numeric - analytic[k]) <= 1e-6 * max(1.0, abs(numeric)), k
    model.params[...] = p0
    # the compiled kernels give the same gradients
    compiled = _model(layout, kind) if layout != "mixed" else fastnn.Sequential(
        [layer for layer in LAYOUTS[layout](kind) if not isinstance(layer, fastnn.Dropout)],
        dtype="float64", seed=1)
    compiled.params[...] = p0
    compiled.gradients(X, y, "cce")
    np.testing.assert_allclose(compiled.grads, analytic, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("kind, batch_size", [("batch", 4), ("batch", 16), ("batch", 200),
                                              ("layer", 1), ("layer", 16)])
def test_compiled_training_matches_the_reference(kind, layout, dtype, tol, batch_size):
    # SGD with momentum, not Adam: with BatchNorm before an activation, the
    # Dense layer's bias has a zero gradient in exact arithmetic, and Adam
    # turns its rounding noise into whole steps, different in each.  At batch
    # 1, one epoch without momentum: with it, rounding differences between
    # the two grow ~10x every 30 steps on this small problem (as without
    # normalization).
    X, y = _data()
    models = []
    for backend in ("cython", "numpy"):
        model = _model(layout, kind, dtype=dtype, backend=backend)
        optimizer = fastnn.SGD(0.05, momentum=0.0 if batch_size == 1 else 0.9)
        model.fit(X, y, "cce", optimizer, epochs=1 if batch_size == 1 else 2,
                  batch_size=batch_size, verbose=0)
        models.append(model)
    compiled, numpy_ = models
    scale = np.abs(numpy_.params).max()
    np.testing.assert_allclose(compiled.params, numpy_.params, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(compiled._norm_running, numpy_._norm_running, rtol=0,
                               atol=tol * max(1, np.abs(numpy_._norm_running).max()))
    np.testing.assert_allclose(compiled.predict_proba(X), numpy_.predict_proba(X), rtol=0,
                               atol=10 * tol)
    untrained = _model(layout, kind, dtype=dtype)
    assert np.abs(compiled.params - untrained.params).max() > 1e-3    # it trained
    if kind == "batch":
        assert np.abs(compiled._norm_running - untrained._norm_running).max() > 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_same_bits_for_any_thread_count(dtype):
    X, y = _data(3000, seed=3)
    runs, before = [], fastnn.get_num_threads()
    for threads in (1, 2):
        fastnn.set_num_threads(threads, adaptive=False)
        try:
            model = _model("mixed", "batch", dtype=dtype)
            model.fit(X, y, "cce", fastnn.Adam(1e-3), epochs=2, batch_size=64, verbose=0)
            runs.append((model.params.copy(), model._norm_running.copy(), model.predict_proba(X)))
        finally:
            fastnn.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_predict_uses_the_running_statistics_and_gradients_leave_them():
    X, y = _data()
    model = _model("before", "batch")
    bn = model.layers[1]
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)
    model.fit(X, y, "cce", fastnn.SGD(0.1), epochs=1, batch_size=32, verbose=0)
    running = model._norm_running.copy()
    model.gradients(X, y, "cce")
    np.testing.assert_array_equal(model._norm_running, running)
    # inference: the running statistics, not the batch's
    dense = model.dense[0]
    Z = X @ dense.W + dense.b
    hidden = np.maximum(bn.gamma * (Z - bn.running_mean) / np.sqrt(bn.running_var + bn.eps)
                        + bn.beta, 0)
    want = reference.softmax(hidden @ model.dense[1].W + model.dense[1].b)
    np.testing.assert_allclose(model.predict_proba(X), want, rtol=1e-12)
    # one row predicts as it does among others (no batch statistics)
    np.testing.assert_allclose(model.predict_proba(X[:1]), want[:1], rtol=1e-12)


def test_layer_norm_is_the_same_in_training_and_inference():
    X, _ = _data(8)
    model = _model("after", "layer")
    ln = model.layers[2]
    ln.gamma[...] = np.linspace(0.5, 1.5, 9)
    ln.beta[...] = 0.25
    H = np.tanh(X @ model.dense[0].W + model.dense[0].b)
    normed = reference.norm_forward(H, ln.gamma, ln.beta, "layer", ln.eps)[0]
    want = reference.softmax(normed @ model.dense[1].W + model.dense[1].b)
    np.testing.assert_allclose(model.predict_proba(X), want, rtol=1e-12)


def test_the_l2_penalty_leaves_gamma_and_beta_alone():
    # the estimators' L2 (train_samples' l2) acts on each W only: gamma and
    # beta take the same step with or without it, as the biases do
    from fastnn._kernels import train
    X, y = _data(16)
    Y = np.eye(3)[y]
    model = _model("after", "layer")
    lay = model._layout
    steps = []
    for l2 in (0.0, 10.0):
        params = model.params.copy()
        with model._workspaces.borrow(16) as ws:
            train.train_samples(X, Y, np.arange(16), 0, 16, 16, lay["sizes"], lay["act_codes"],
                                2, params, np.empty_like(params), ws["acts"], ws["deltas"],
                                ws["y_batch"], lay["w_off"], lay["b_off"], lay["a_off"],
                                lay["d_off"], 0, 0.1, 0.0, False, 0.9, 0.999, 1e-8, 0.0,
                                np.empty(0), np.empty(0), 0, l2=l2,
                                **model._norm_args(ws, running=True))
        steps.append(params - model.params)
    normed = slice(len(model.params) - 2 * model._normed_units, None)
    np.testing.assert_array_equal(steps[0][normed], steps[1][normed])
    assert np.abs(steps[0][normed]).max() > 0
    W = slice(0, lay["b_off"][0])
    assert np.abs(steps[0][W] - steps[1][W]).max() > 1e-3


def test_save_and_load_keep_the_running_statistics(tmp_path):
    X, y = _data()
    straight = _model("mixed", "batch")
    straight.fit(X, y, "cce", fastnn.Adam(1e-2), epochs=4, batch_size=16, verbose=0)
    first = _model("mixed", "batch")
    first.fit(X, y, "cce", fastnn.Adam(1e-2), epochs=2, batch_size=16, verbose=0)
    first.save(tmp_path / "m.npz")
    resumed = fastnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(resumed._norm_running, first._norm_running)
    np.testing.assert_array_equal(resumed.predict_proba(X), first.predict_proba(X))
    assert [type(layer).__name__ for layer in resumed.layers] == \
        [type(layer).__name__ for layer in first.layers]
    assert resumed.layers[1].momentum == 0.3 and resumed.layers[5].eps == 1e-3
    resumed.fit(X, y, "cce", resumed.optimizer, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(resumed.params, straight.params)
    np.testing.assert_array_equal(resumed._norm_running, straight._norm_running)


def test_a_file_with_bad_running_statistics_is_refused(tmp_path):
    model = _model("before", "batch")
    model._norm_running[0] = np.nan
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="norm_running contains NaN"):
        fastnn.load(tmp_path / "m.npz")


def test_summary_shows_the_normalization():
    text = _model("mixed", "batch").summary(file=io.StringIO())
    assert "Dense(6, 9) + BatchNorm + relu" in text
    assert "Dense(9, 7) + relu + LayerNorm" in text
    assert "{:,}".format(6 * 9 + 9 + 18) in text


@pytest.mark.parametrize("layers, message", [
    ([fastnn.BatchNorm(), fastnn.Dense(3, 2)], "must follow a Dense layer"),
    ([fastnn.Dense(3, 4), fastnn.BatchNorm(), fastnn.LayerNorm(), fastnn.Dense(4, 2)],
     "one normalization per layer"),
    ([fastnn.Dense(3, 4), fastnn.BatchNorm(), fastnn.ReLU(), fastnn.LayerNorm(),
      fastnn.Dense(4, 2)], "one normalization per layer"),
    ([fastnn.Dense(3, 4), fastnn.Dropout(0.1), fastnn.BatchNorm(), fastnn.Dense(4, 2)],
     "must follow a Dense layer or its activation"),
    ([fastnn.Dense(3, 2), fastnn.Softmax(), fastnn.BatchNorm()],
     "after the output layer's activation"),
    ([fastnn.Dense(3, 4), fastnn.ReLU(), fastnn.LayerNorm(), fastnn.Tanh(), fastnn.Dense(4, 2)],
     "an activation must follow a Dense layer"),
])
def test_bad_placements_are_refused(layers, message):
    with pytest.raises(ValueError, match=message):
        fastnn.Sequential(layers)


def test_a_layer_in_two_models_is_refused():
    bn = fastnn.BatchNorm()
    fastnn.Sequential([fastnn.Dense(3, 4), bn, fastnn.Dense(4, 2)])
    with pytest.raises(ValueError, match="already belongs to a model"):
        fastnn.Sequential([fastnn.Dense(3, 4), bn, fastnn.Dense(4, 2)])


@pytest.mark.parametrize("make, error, message", [
    (lambda: fastnn.BatchNorm(momentum=1.5), ValueError, "momentum"),
    (lambda: fastnn.BatchNorm(momentum="0.1"), TypeError, "momentum"),
    (lambda: fastnn.BatchNorm(eps=0), ValueError, "eps"),
    (lambda: fastnn.LayerNorm(eps=-1e-5), ValueError, "eps"),
    (lambda: fastnn.LayerNorm(eps=float("nan")), ValueError, "eps"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_batch_norm_needs_batches_of_two_rows():
    X, y = _data()
    with pytest.raises(ValueError, match="BatchNorm needs batches of 2 rows or more"):
        _model("before", "batch").fit(X, y, "cce", fastnn.SGD(0.1), batch_size=1, verbose=0)
    # a last batch of one row is trained (x-hat is 0 there: the output is beta)
    _model("before", "batch").fit(X, y, "cce", fastnn.SGD(0.1), batch_size=50, verbose=0)


def test_batch_norm_is_refused_in_data_parallel_training():
    X, y = _data()
    with pytest.raises(ValueError, match="cannot train BatchNorm.*LayerNorm"):
        _model("before", "batch").fit(X, y, "cce", "sgd", comm=object(), verbose=0)


def test_the_compiled_loop_refuses_inconsistent_normalization_arguments():
    from fastnn._kernels import train
    model = _model("before", "batch")
    lay = dict(model._layout["norm"])
    X, y = _data(8)
    Y = np.eye(3)[y]
    ws = {"acts": np.empty(8 * 18), "deltas": np.empty(8 * 12)}
    base = (X, Y, model._layout["sizes"], model._layout["act_codes"], 2, model.params,
            model.grads, ws["acts"], ws["deltas"], model._layout["w_off"],
            model._layout["b_off"], model._layout["a_off"], model._layout["d_off"])
    with pytest.raises(ValueError, match="norm_buffer"):
        train.gradients(*base, **lay)
    bad = dict(lay, norm_param_offsets=lay["norm_param_offsets"] + 1)
    with pytest.raises(ValueError, match="out of place"):
        train.gradients(*base, **bad, norm_buffer=np.empty(1000))
    bad = dict(lay, norm_kinds=np.array([3, 0], np.intc))
    with pytest.raises(ValueError, match="unknown normalization kind"):
        train.gradients(*base, **bad, norm_buffer=np.empty(1000))
    bad = dict(lay, norm_eps=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="eps > 0"):
        train.gradients(*base, **bad, norm_buffer=np.empty(1000))
    with pytest.raises(ValueError, match="one entry per Dense layer"):
        train.gradients(*base, **dict(lay, norm_pre=np.zeros(1, np.intc)),
                        norm_buffer=np.empty(1000))
    with pytest.raises(ValueError, match="norm_running"):
        train.predict(X, model._layout["sizes"], model._layout["act_codes"], model.params,
                      np.empty(8 * 18), model._layout["w_off"], model._layout["b_off"],
                      model._layout["a_off"], 8, np.empty((8, 3)), **lay)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_terminate_on_nan_keeps_the_running_statistics_of_the_last_step(backend):
    # a diverging network: the stop leaves BatchNorm's running statistics as
    # the same batches trained without the callback leave them
    import warnings
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    Y = 10 * X @ rng.standard_normal((6, 2))

    def model():
        return fastnn.Sequential([fastnn.Dense(6, 16), fastnn.BatchNorm(), fastnn.ReLU(),
                                  fastnn.Dense(16, 2)], dtype="float64", seed=1,
                                 backend=backend)

    stopped, stopper = model(), fastnn.TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stopped.fit(X, Y, "mse", fastnn.SGD(30.0, momentum=0.9), epochs=5, batch_size=10,
                    shuffle=False, verbose=0, callbacks=[stopper])
    batch = stopper.stopped_batch
    assert stopper.stopped_epoch == 0 and batch > 1
    replay = model()
    replay.fit(X[:10 * batch], Y[:10 * batch], "mse", fastnn.SGD(30.0, momentum=0.9),
               epochs=1, batch_size=10, shuffle=False, verbose=0)
    assert np.isfinite(stopped._norm_running).all()
    np.testing.assert_array_equal(stopped._norm_running, replay._norm_running)
    np.testing.assert_array_equal(stopped.params, replay.params)


def _with_new_activations(kind, dtype="float64", backend="cython"):
    # GELU after a normalization (its pre-activations are the normalized
    # values), LeakyReLU before one, logits out
    return fastnn.Sequential([fastnn.Dense(6, 9), _norm(kind), fastnn.GELU(), fastnn.Dense(9, 7),
                              fastnn.LeakyReLU(0.1), _norm(kind), fastnn.Dense(7, 3)],
                             dtype=dtype, seed=1, backend=backend)


@pytest.mark.parametrize("kind", KINDS)
def test_with_gelu_leaky_relu_and_logits_against_finite_differences(kind):
    X, y = _data(12)
    model = _with_new_activations(kind, backend="numpy")
    loss = fastnn.losses.get_loss("cross_entropy_from_logits")
    model.gradients(X, y, loss)
    analytic = model.grads.copy()
    p0 = model.params.copy()

    def value(params):
        model.params[...] = params
        return model._reference_gradients(X, np.eye(3)[y], loss)[0]

    h = 1e-6
    for k in range(0, len(p0), 3):
        e = np.zeros_like(p0)
        e[k] = h
        numeric = (value(p0 + e) - value(p0 - e)) / (2 * h)
        assert abs(numeric - analytic[k]) <= 1e-6 * max(1.0, abs(numeric)), k
    model.params[...] = p0
    compiled = _with_new_activations(kind)
    compiled.params[...] = p0
    compiled.gradients(X, y, loss)
    np.testing.assert_allclose(compiled.grads, analytic, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("kind", KINDS)
def test_with_gelu_leaky_relu_and_logits_compiled_matches_the_reference(kind, dtype, tol):
    X, y = _data()
    models = []
    for backend in ("cython", "numpy"):
        model = _with_new_activations(kind, dtype, backend)
        model.fit(X, y, "cross_entropy_from_logits", fastnn.SGD(0.05, momentum=0.9),
                  epochs=2, batch_size=16, verbose=0)
        models.append(model)
    scale = np.abs(models[1].params).max()
    np.testing.assert_allclose(models[0].params, models[1].params, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(models[0].predict_proba(X), models[1].predict_proba(X),
                               rtol=0, atol=10 * tol)
    np.testing.assert_array_equal(models[0].predict(X), models[1].predict(X))
