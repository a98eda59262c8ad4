"""RMSprop, AdamW, Adagrad, AMSGrad, gradient clipping, CosineDecay, ReduceLROnPlateau, names.

Each compiled update and the clipping must equal its fastnn.reference twin bit
for bit (both dtypes, any thread count); the compiled training loop must equal
the model's gradients followed by the reference clipping and update; PyTorch,
when installed, is the outside oracle of the formulas.  (tests/test_optim.py
runs the Optimizer-level checks, step() against the reference and state dicts,
over these optimizers too.)
"""

import json
import math

import numpy as np
import pytest

import fastnn
from fastnn import reference
from fastnn._kernels import optim as _optim
from fastnn._kernels import train as _train
from fastnn.losses import get_loss
from fastnn.optim import (
    SGD, Adagrad, Adam, AdamW, CosineDecay, MiniBatchGD, ReduceLROnPlateau, RMSprop,
    StepDecay, get_optimizer, optimizer_from_state_dict, schedule_from_dict)

# name -> a fresh optimizer; each rule and option of the compiled loop once
OPTIMIZERS = {
    "adam_amsgrad": lambda: Adam(0.01, amsgrad=True, weight_decay=0.01),
    "adamw": lambda: AdamW(0.01),
    "adamw_amsgrad": lambda: AdamW(0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1),
    "rmsprop": lambda: RMSprop(0.01),
    "rmsprop_momentum": lambda: RMSprop(0.01, momentum=0.9, weight_decay=0.01),
    "rmsprop_centered": lambda: RMSprop(0.01, centered=True),
    "rmsprop_centered_momentum": lambda: RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
    "adagrad": lambda: Adagrad(0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                               weight_decay=0.01),
    "sgd_clip_value": lambda: SGD(0.3, clip_value=0.02),     # no fused step with clipping
    "momentum_clip_norm": lambda: SGD(0.1, momentum=0.9, clip_norm=0.1),
    "adam_clip_both": lambda: Adam(0.01, clip_value=0.05, clip_norm=0.1),
    "adagrad_clip_norm": lambda: Adagrad(0.1, clip_norm=0.05),
}


def _model(dtype, backend="cython", seed=3, sizes=(6, 9, 4)):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [fastnn.Dense(n_in, n_out), fastnn.Tanh()]
    layers += [fastnn.Dense(sizes[-2], sizes[-1]), fastnn.Softmax()]
    return fastnn.Sequential(layers, dtype=np.dtype(dtype).name, seed=seed, backend=backend)


def _data(rng, dtype, n=23, d=6, k=4):
    X = rng.standard_normal((n, d)).astype(dtype)
    Y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    return X, Y


# --- kernels against the reference --------------------------------------------------------

def _kernel_steps(module, p, g, states, n_threads=None):
    """Three steps of every new update and of the clipping, by ``module`` (the
    compiled kernels, with ``n_threads``, or fastnn.reference); returns every
    array it wrote."""
    kw = {} if n_threads is None else {"n_threads": n_threads}
    out = []
    for step in (1, 2, 3):
        gs = (g * step).astype(g.dtype)
        clipped = gs.copy()
        norm = module.clip_gradients(clipped, 0.9, 3.0)
        out += [clipped, np.array([norm])]
        s = states
        module.adam_update(p[0], gs, s[0], s[1], step, 1e-2, 0.8, 0.99, 1e-6, 0.01,
                           v_max=s[2], **kw)
        module.adamw_update(p[1], gs, s[3], s[4], step, 1e-2, 0.9, 0.999, 1e-8, 0.1,
                            v_max=s[5], **kw)
        module.adamw_update(p[2], gs, s[6], s[7], step, 1e-2, 0.9, 0.999, 1e-8, 0.1, **kw)
        module.rmsprop_update(p[3], gs, s[8], 1e-2, 0.9, 1e-8, **kw)
        module.rmsprop_update(p[4], gs, s[9], 1e-2, 0.7, 1e-7, 0.01, 0.9,
                              momentum_buffer=s[10], grad_avg=s[11], **kw)
        module.rmsprop_update(p[5], gs, s[12], 1e-2, 0.9, 1e-8, grad_avg=s[13], **kw)
        module.adagrad_update(p[6], gs, s[14], step, 0.1, 0.05, 1e-10, 0.01, **kw)
    return out + list(p) + list(states)


@pytest.mark.parametrize("n", [1, 37, 100_003])
def test_kernels_equal_the_reference_for_1_and_2_threads(isa, rng, dtype, n):
    # on every instruction-set path (csrc/optim_loops.h)
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)

    def run(module, n_threads=None):
        p = [p0.copy() for _ in range(7)]
        states = [np.zeros_like(p0) for _ in range(15)]
        states[14] += dtype(0.1)     # Adagrad's initial_accumulator_value
        return _kernel_steps(module, p, g, states, n_threads)

    expected = run(reference)
    for n_threads in (1, 2):
        for i, (a, b) in enumerate(zip(run(_optim, n_threads), expected)):
            np.testing.assert_array_equal(a, b, err_msg="array %d, %d threads" % (i, n_threads))


@pytest.mark.parametrize("clip", [(0.0, 1e9), (0.0, 0.5), (0.1, 0.0), (0.1, 0.2), (0.0, 0.0)],
                         ids=["norm-inactive", "norm", "value", "both", "none"])
def test_clip_gradients(rng, dtype, clip):
    clip_value, clip_norm = clip
    g0 = (rng.standard_normal(1001) * 0.1).astype(dtype)
    ours, ref = g0.copy(), g0.copy()
    norm = _optim.clip_gradients(ours, clip_value, clip_norm)
    assert norm == reference.clip_gradients(ref, clip_value, clip_norm)
    np.testing.assert_array_equal(ours, ref)
    clamped = (np.clip(g0, -clip_value, clip_value) if clip_value else g0).astype(np.float64)
    if clip_norm:
        assert math.isclose(norm, np.linalg.norm(clamped), rel_tol=1e-12)
        assert np.linalg.norm(ours.astype(np.float64)) <= clip_norm * (1 + 1e-6)
    if clip_value:
        assert np.abs(ours).max() <= dtype(clip_value)
    if clip_norm == 1e9 or clip == (0.0, 0.0):
        np.testing.assert_array_equal(ours, g0)


def test_clipping_matches_torch(rng, dtype):
    torch = pytest.importorskip("torch")
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    g0 = rng.standard_normal(700).astype(dtype)
    bounds = [0, 300, 310, 690, 700]            # four "layers" of the flat gradient
    for clip_value, clip_norm in [(0.0, 5.0), (0.0, 1e3), (0.7, 0.0), (0.7, 4.0)]:
        ours = g0.copy()
        _optim.clip_gradients(ours, clip_value, clip_norm)
        tensors = [torch.zeros(b - a, dtype=tdtype, requires_grad=True)
                   for a, b in zip(bounds, bounds[1:])]
        for t, a, b in zip(tensors, bounds, bounds[1:]):
            t.grad = torch.tensor(g0[a:b])
        if clip_value:
            torch.nn.utils.clip_grad_value_(tensors, clip_value)
        if clip_norm:
            torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
        theirs = np.concatenate([t.grad.numpy() for t in tensors])
        rtol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0,
                                   err_msg="clip_value=%r, clip_norm=%r" % (clip_value, clip_norm))


# --- PyTorch as the oracle of the formulas ---------------------------------------------------

TORCH_CONFIGS = {
    # name: (fastnn class, its kwargs, torch.optim class name, torch kwargs)
    "adam_amsgrad": (Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01,
                                amsgrad=True), "Adam", None),
    "adamw": (AdamW, dict(lr=0.01, weight_decay=0.1), "AdamW", None),
    "adamw_amsgrad": (AdamW, dict(lr=0.01, amsgrad=True), "AdamW", None),
    "rmsprop": (RMSprop, dict(lr=0.01, rho=0.9), "RMSprop", dict(lr=0.01, alpha=0.9)),
    "rmsprop_all": (RMSprop, dict(lr=0.01, rho=0.8, eps=1e-6, momentum=0.9, centered=True,
                                  weight_decay=0.01),
                    "RMSprop", dict(lr=0.01, alpha=0.8, eps=1e-6, momentum=0.9, centered=True,
                                    weight_decay=0.01)),
    "adagrad": (Adagrad, dict(lr=0.1, lr_decay=0.1, eps=1e-8, initial_accumulator_value=0.2,
                              weight_decay=0.01), "Adagrad", None),
    "sgd_clip_norm": (SGD, dict(lr=0.1, momentum=0.9, clip_norm=0.5), "SGD",
                      dict(lr=0.1, momentum=0.9)),
    "rmsprop_clip_value": (RMSprop, dict(lr=0.01, clip_value=0.3), "RMSprop",
                           dict(lr=0.01, alpha=0.9)),
}


@pytest.mark.parametrize("config", TORCH_CONFIGS)
def test_matches_torch(rng, dtype, config):
    torch = pytest.importorskip("torch")
    cls, kwargs, torch_name, torch_kwargs = TORCH_CONFIGS[config]
    torch_kwargs = dict(kwargs if torch_kwargs is None else torch_kwargs)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    n = 23
    A = (rng.standard_normal((n, n)) / n).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    params = rng.standard_normal(n).astype(dtype)
    grads = np.zeros(n, dtype)
    opt = cls(**kwargs)
    opt.bind(params, grads)
    p_torch = torch.tensor(params.copy(), dtype=tdtype, requires_grad=True)
    t_opt = getattr(torch.optim, torch_name)([p_torch], **torch_kwargs)
    for _ in range(8):
        # the gradient of a quadratic, times 3 so that the clipping acts
        grads[...] = 3 * (A @ params - b)
        opt.step()
        with torch.no_grad():
            p_torch.grad = torch.tensor(3 * (A @ p_torch.detach().numpy() - b), dtype=tdtype)
        if kwargs.get("clip_value"):
            torch.nn.utils.clip_grad_value_([p_torch], kwargs["clip_value"])
        if kwargs.get("clip_norm"):
            torch.nn.utils.clip_grad_norm_([p_torch], kwargs["clip_norm"])
        t_opt.step()
    expected = p_torch.detach().numpy()
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    for name, torch_name in [("v_max", "max_exp_avg_sq"), ("square_avg", "square_avg"),
                             ("grad_avg", "grad_avg"), ("momentum_buffer", "momentum_buffer"),
                             ("sum", "sum")]:
        if name in opt.state:
            theirs = t_opt.state[p_torch][torch_name].numpy()
            np.testing.assert_allclose(opt.state[name], theirs, rtol=rtol,
                                       atol=rtol * np.abs(theirs).max(), err_msg=name)


# --- the compiled training loop ------------------------------------------------------------

@pytest.mark.parametrize("config", OPTIMIZERS)
def test_training_loop_equals_gradients_then_reference_update(rng, dtype, config):
    # fit's compiled loop (gradient, clipping, update; a short last batch; an
    # epoch boundary) against the model's own gradient of each batch followed by
    # the reference clipping and update: the same bits.
    X, Y = _data(rng, dtype)
    fast, manual = _model(dtype), _model(dtype)
    opt = OPTIMIZERS[config]()
    opt.schedule = StepDecay(opt.lr, 0.5, 1)
    fast.fit(X, Y, "cce", opt, epochs=2, batch_size=5, shuffle=False, verbose=0)
    ref_opt = OPTIMIZERS[config]()
    ref_opt.schedule = StepDecay(ref_opt.lr, 0.5, 1)
    ref_opt.bind(manual.params, manual.grads)
    t = 0
    for _ in range(2):
        for start in range(0, len(X), 5):
            manual.gradients(X[start:start + 5], Y[start:start + 5], "cce")   # into .grads
            t += 1
            ref_opt.reference_step(t)
        ref_opt.epoch_end()
    assert opt.t == t == 10 and opt.lr == ref_opt.lr
    np.testing.assert_array_equal(fast.params, manual.params)
    for name, arr in opt.state.items():
        np.testing.assert_array_equal(arr, ref_opt.state[name], err_msg=name)


@pytest.mark.parametrize("config", ["adamw_amsgrad", "rmsprop_centered_momentum", "adagrad",
                                    "adam_clip_both", "sgd_clip_value"])
def test_backends_agree(rng, config):
    X, Y = _data(rng, np.float64, n=30)
    params = []
    for backend in ("cython", "numpy"):
        m = _model(np.float64, backend)
        m.fit(X, Y, "cce", OPTIMIZERS[config](), epochs=3, batch_size=7, verbose=0)
        params.append(m.params)
    assert np.abs(params[0] - params[1]).max() <= 1e-9 * np.abs(params[1]).max()


@pytest.mark.parametrize("config", ["adamw_amsgrad", "rmsprop_centered_momentum", "adagrad",
                                    "momentum_clip_norm"])
def test_same_bits_for_1_and_2_threads(config):
    # 64 float64 inputs at batch 64: the 2-thread run gathers batches on the
    # second thread; the update and the norm stay on one thread.
    rng = np.random.default_rng(7)
    X, Y = _data(rng, np.float64, n=640, d=64, k=10)
    before = fastnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            m = _model(np.float64, sizes=(64, 128, 10))
            opt = OPTIMIZERS[config]()
            m.fit(X, Y, "cce", opt, epochs=1, batch_size=64, verbose=0)
            results.append([m.params] + [opt.state[k] for k in sorted(opt.state)])
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_train_samples_checks_the_rule(rng):
    X, Y = _data(rng, np.float64, n=4)
    m = _model(np.float64)
    lay = m._layout
    n = m.params.size
    full, empty = np.zeros(n), np.empty(0)

    def call(rule, s1=full, s2=full, **kw):
        with m._workspaces.borrow(2) as ws:
            return _train.train_samples(
                X, Y, np.arange(4, dtype=np.intp), 0, 4, 2, lay["sizes"], lay["act_codes"], 2,
                m.params.copy(), np.zeros(n), ws["acts"], ws["deltas"], ws["y_batch"],
                lay["w_off"], lay["b_off"], lay["a_off"], lay["d_off"], rule, 0.01, 0.0,
                False, 0.9, 0.999, 1e-8, 0.0, s1, s2, 0, **kw)

    call(2, state3=np.zeros(n), amsgrad=True)
    call(6, full, empty)
    call(7, full, None, lr_decay=0.1, clip_norm=1.0, clip_value=0.5)
    for rule, s1, s2, kw, match in [
            (0, empty, empty, dict(amsgrad=True), "amsgrad is an option"),
            (2, full, full, dict(centered=True), "centered is an option"),
            (2, full, full, dict(lr_decay=0.1), "lr_decay is an option"),
            (2, full, full, dict(amsgrad=True), r"state missing \(state3\)"),
            (5, full, empty, {}, r"state missing \(state2\)"),
            (6, full, full, dict(centered=True, state3=np.zeros(3)), "differs in size"),
            (7, empty, empty, {}, r"state missing \(state1\)"),
            (8, full, full, {}, "unknown optimizer rule 8"),
            (0, empty, empty, dict(clip_norm=-1.0), "clip_norm must be >= 0")]:
        with pytest.raises(ValueError, match=match):
            call(rule, s1, s2, **kw)


def test_train_samples_refuses_clip_norm_with_a_node_shared_sum(rng):
    # Ranks sharing a model each hold a slice of the summed gradient: no global
    # norm.  (The check comes before any step: the MPI addresses are never used.)
    X, Y = _data(rng, np.float64, n=4)
    m = _model(np.float64)
    lay = m._layout
    grads = np.zeros(m.params.size)
    buffers = np.array([grads.ctypes.data, grads.ctypes.data], dtype=np.int64)
    reducer = np.zeros(_train.REDUCER_FIELDS, dtype=np.int64)
    reducer[0] = reducer[7] = 1            # "function addresses", never called
    reducer[10], reducer[11] = 2, buffers.ctypes.data
    with m._workspaces.borrow(4) as ws, pytest.raises(ValueError, match="clip_norm"):
        _train.train_samples(
            X, Y, np.arange(4, dtype=np.intp), 0, 4, 4, lay["sizes"], lay["act_codes"], 2,
            m.params, grads, ws["acts"], ws["deltas"], ws["y_batch"], lay["w_off"],
            lay["b_off"], lay["a_off"], lay["d_off"], 0, 0.1, 0.0, False, 0.9, 0.999, 1e-8,
            0.0, None, None, 0, step_counts=np.array([4], dtype=np.intp),
            step_totals=np.array([4.0]), reducer=reducer, clip_norm=1.0)
    SGD(0.1, clip_value=1.0).check_data_parallel()
    with pytest.raises(ValueError, match="clip_norm=1.0 cannot be used with data-parallel"):
        SGD(0.1, clip_norm=1.0).check_data_parallel()


def test_state_arrays_and_options(dtype):
    p, g = np.zeros(5, dtype), np.zeros(5, dtype)
    cases = [(AdamW(amsgrad=True), 5, ("m", "v", "v_max"), dict(amsgrad=True)),
             (RMSprop(momentum=0.5, centered=True), 6,
              ("square_avg", "momentum_buffer", "grad_avg"), dict(centered=True)),
             (RMSprop(), 6, ("square_avg", None, None), {}),
             (Adagrad(lr_decay=0.5), 7, ("sum", None, None), dict(lr_decay=0.5)),
             (SGD(0.1, clip_value=2.0, clip_norm=3.0), 0, (None, None, None),
              dict(clip_value=2.0, clip_norm=3.0))]
    for opt, rule, names, options in cases:
        opt.bind(p, g)
        assert opt.compiled_rule()[0] == rule
        for arr, name in zip(opt.state_arrays(), names):
            assert arr is (None if name is None else opt.state[name])
        got = opt.compiled_options()
        expected = {"amsgrad": False, "centered": False, "lr_decay": 0.0, "clip_value": 0.0,
                    "clip_norm": 0.0, **options}
        assert {k: v for k, v in got.items() if k != "state3"} == expected


# --- state: saving and resuming ---------------------------------------------------------------

RESUMED = {
    "rmsprop_plateau": lambda: RMSprop(ReduceLROnPlateau(0.01, patience=0, min_delta=1.0),
                                       momentum=0.5, centered=True),
    "adamw_cosine": lambda: AdamW(CosineDecay(0.01, 6, 1e-3, warmup_epochs=2), amsgrad=True),
    "adagrad": lambda: Adagrad(0.1, initial_accumulator_value=0.5, clip_norm=0.1),
    "minibatch_clip": lambda: MiniBatchGD(0.1, 5, momentum=0.9, clip_value=0.01),
}


@pytest.mark.parametrize("config", RESUMED)
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_save_load_resume_is_bit_identical(tmp_path, rng, dtype, config, backend):
    X, Y = _data(rng, dtype, n=25)
    kwargs = dict(epochs=2, batch_size=5, validation_data=(X[:5], Y[:5]), verbose=0)
    model = _model(dtype, backend)
    model.fit(X, Y, "cce", RESUMED[config](), **kwargs)
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load(tmp_path / "m.npz")
    a, b = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert type(loaded.optimizer) is type(model.optimizer)
    assert {k: v for k, v in a.items() if k != "state"} == \
        {k: v for k, v in b.items() if k != "state"}
    assert sorted(a["state"]) == sorted(b["state"]) == sorted(model.optimizer.state)
    for k in a["state"]:
        np.testing.assert_array_equal(a["state"][k], b["state"][k])
    h1 = model.fit(X, Y, "cce", model.optimizer, **kwargs)
    h2 = loaded.fit(X, Y, "cce", loaded.optimizer, **kwargs)
    assert h1.history == {k: v for k, v in h2.history.items() if k != "time"} | \
        {"time": h1.history["time"]}
    np.testing.assert_array_equal(loaded.params, model.params)
    if config == "rmsprop_plateau":     # it did reduce, and the reduction was restored
        assert model.optimizer.lr < 0.01


def test_old_state_dicts_without_the_new_keys_load(dtype):
    p, g = np.zeros(4, dtype), np.zeros(4, dtype)
    for opt in (SGD(0.1, momentum=0.5), Adam()):
        opt.bind(p, g)
        d = opt.state_dict()
        for key in ("clip_value", "clip_norm", "amsgrad"):
            d["hyperparameters"].pop(key, None)
        again = optimizer_from_state_dict(d)
        assert again.clip_value is None and again.clip_norm is None
        assert getattr(again, "amsgrad", False) is False
        opt.load_state_dict(d)


def test_adagrad_state_starts_and_resets_at_the_initial_value(dtype):
    p, g = np.zeros(4, dtype), np.ones(4, dtype)
    opt = Adagrad(0.1, initial_accumulator_value=0.25)
    opt.bind(p, g)
    np.testing.assert_array_equal(opt.state["sum"], 0.25)
    opt.step()
    np.testing.assert_array_equal(opt.state["sum"], 1.25)
    d = opt.state_dict()
    d["state"] = {}
    opt.load_state_dict(d)
    np.testing.assert_array_equal(opt.state["sum"], 0.25)
    opt.step()
    opt.reset()
    np.testing.assert_array_equal(opt.state["sum"], 0.25)


# --- schedules ----------------------------------------------------------------------------------

def test_cosine_decay_values():
    s = CosineDecay(0.1, total_epochs=10, min_lr=0.01, warmup_epochs=2)
    assert [s(e) for e in range(2)] == [0.1 / 3, 0.1 * 2 / 3]
    assert s(2) == 0.1
    for e in range(2, 10):
        assert s(e) == 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * (e - 2) / 8)) / 2
    assert s(10) == s(50) == 0.01
    assert CosineDecay(1.0, 4)(4) > 0 and CosineDecay(1.0, 4)(2) == 0.5
    assert CosineDecay(1.0, 1)(0) == 1.0


def test_cosine_decay_matches_torch():
    torch = pytest.importorskip("torch")
    for lr, total, min_lr, warmup in [(0.1, 12, 0.0, 0), (0.1, 12, 0.02, 3), (1.0, 5, 0.5, 4)]:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup,
                                                            eta_min=min_lr)
        sched = cosine if warmup == 0 else torch.optim.lr_scheduler.SequentialLR(
            opt, [torch.optim.lr_scheduler.LinearLR(opt, 1 / (warmup + 1), 1.0, warmup),
                  cosine], milestones=[warmup])
        theirs = []
        for _ in range(total):
            theirs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        ours = [CosineDecay(lr, total, min_lr, warmup)(e) for e in range(total)]
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


LOSSES = [1.0, 0.9, 0.95, 0.91, 0.89, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
          0.5, 0.5]


@pytest.mark.parametrize("kwargs", [dict(factor=0.5, patience=1, min_delta=0.02),
                                    dict(factor=0.1, patience=2, cooldown=2, min_lr=0.002),
                                    dict(factor=0.5, patience=0, min_delta=0.0)])
def test_reduce_on_plateau_matches_torch(kwargs):
    ours = ReduceLROnPlateau(0.1, monitor="loss", **kwargs)
    lrs = []
    for e, loss in enumerate(LOSSES, start=1):
        ours.observe(e, {"loss": loss, "lr": 0.0})
        lrs.append(ours(e))
    assert min(lrs) < 0.1
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=kwargs["factor"], patience=kwargs["patience"],
        threshold=kwargs.get("min_delta", 1e-4), threshold_mode="abs",
        cooldown=kwargs.get("cooldown", 0), min_lr=kwargs.get("min_lr", 0.0))
    theirs = []
    for loss in LOSSES:
        sched.step(loss)
        theirs.append(opt.param_groups[0]["lr"])
    assert lrs == theirs


def test_reduce_on_plateau_follows_fit_logs(rng):
    X, Y = _data(rng, np.float64)
    # min_delta 10: no epoch after the first counts as an improvement
    opt = SGD(ReduceLROnPlateau(0.1, factor=0.5, patience=1, min_delta=10.0))
    h = _model(np.float64).fit(X, Y, "cce", opt, epochs=6, verbose=0)
    assert h.history["lr"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]
    assert opt.lr == 0.025

    # 'auto' follows val_loss when there is validation data; the plateau is on val_loss
    opt = Adam(ReduceLROnPlateau(0.01, factor=0.1, patience=0, min_delta=10.0))
    h = _model(np.float64).fit(X, Y, "cce", opt, epochs=3, validation_data=(X, Y), verbose=0)
    assert h.history["lr"] == pytest.approx([0.01, 0.01, 0.001])
    assert opt.schedule.best == h.history["val_loss"][0]

    with pytest.raises(ValueError, match="'val_loss'.*fit with validation data"):
        _model(np.float64).fit(X, Y, "cce",
                               SGD(ReduceLROnPlateau(0.1, monitor="val_loss")), epochs=1,
                               verbose=0)


def test_stateful_schedule_round_trip():
    s = ReduceLROnPlateau(0.1, factor=0.5, patience=0, cooldown=1)
    assert s.to_dict()["best"] is None
    for e, loss in enumerate([1.0, 1.0, 1.0, 0.5], start=1):
        s.observe(e, {"loss": loss})
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    again = schedule_from_dict(d)
    assert again == s and again(5) == s(5) == 0.05
    assert (again.best, again.bad_epochs, again.cooldown_left) == (0.5, 0, 0)
    s.reset()
    assert s(0) == 0.1 and s.best is None
    with pytest.raises(ValueError, match="current"):
        schedule_from_dict({**d, "current": -1.0})
    with pytest.raises(ValueError, match="missing"):
        schedule_from_dict({k: v for k, v in d.items() if k != "bad_epochs"})
    c = CosineDecay(0.1, 10, 0.01, 2)
    assert schedule_from_dict(json.loads(json.dumps(c.to_dict()))) == c


# --- names and validation --------------------------------------------------------------------

def test_get_optimizer():
    expected = {"sgd": (SGD, 0.01), "adam": (Adam, 1e-3), "adamw": (AdamW, 1e-3),
                "rmsprop": (RMSprop, 1e-3), "adagrad": (Adagrad, 1e-2)}
    for name, (cls, lr) in expected.items():
        opt = get_optimizer(name)
        assert type(opt) is cls and opt.lr == lr
        assert get_optimizer(name) is not opt           # a new one each time
    assert get_optimizer("adamw").weight_decay == 0.01
    assert get_optimizer("rmsprop").rho == 0.9
    opt = Adam(0.5)
    assert get_optimizer(opt) is opt
    assert type(get_optimizer(RMSprop)) is RMSprop
    assert get_optimizer(MiniBatchGD).lr == 0.01
    for bad in ("Adam", "adadelta", ""):
        with pytest.raises(ValueError, match=r"optimizer must be .* one of \['adagrad', 'adam', "
                                             r"'adamw', 'rmsprop', 'sgd'\], got '%s'" % bad):
            get_optimizer(bad)
    for bad in (None, 0.1, fastnn.optim.Optimizer, object()):
        with pytest.raises(TypeError, match="optimizer must be a fastnn optimizer"):
            get_optimizer(bad)


def test_fit_takes_names(rng):
    X, Y = _data(rng, np.float64)
    for name in ("adamw", "rmsprop", "adagrad", "sgd"):
        m = _model(np.float64)
        h = m.fit(X, Y.argmax(axis=1), "categorical_crossentropy", name, epochs=2, verbose=0)
        assert type(m.optimizer) is type(get_optimizer(name)) and m.loss.name == "cce"
        assert h.history["loss"][1] < h.history["loss"][0]


@pytest.mark.parametrize("alias, name", [
    ("mean_squared_error", "mse"), ("mse", "mse"), ("binary_crossentropy", "bce"),
    ("binary_cross_entropy", "bce"), ("categorical_crossentropy", "cce"),
    ("cross_entropy", "cce"), ("crossentropy", "cce")])
def test_loss_aliases(alias, name):
    assert get_loss(alias).name == name


def test_unknown_loss_lists_the_names():
    with pytest.raises(ValueError, match="'cce', .*'mse', .*'cross_entropy'.*got 'hinge'"):
        get_loss("hinge")


@pytest.mark.parametrize("make, exc, match", [
    (lambda: RMSprop(-0.1), ValueError, r"lr must be in \(0, inf\), got -0.1"),
    (lambda: RMSprop(rho=1.0), ValueError, r"rho must be in \[0, 1\), got 1.0"),
    (lambda: RMSprop(rho=-0.1), ValueError, r"rho must be in \[0, 1\)"),
    (lambda: RMSprop(eps=0.0), ValueError, r"eps must be in \(0, inf\)"),
    (lambda: RMSprop(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: RMSprop(centered=1), TypeError, "centered must be True or False"),
    (lambda: RMSprop(weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: AdamW(weight_decay=-0.01), ValueError, r"weight_decay must be in \[0, inf\)"),
    (lambda: AdamW(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
    (lambda: AdamW(amsgrad="no"), TypeError, "amsgrad must be True or False"),
    (lambda: Adam(amsgrad=None), TypeError, "amsgrad"),
    (lambda: Adagrad(0.0), ValueError, "lr must be in"),
    (lambda: Adagrad(lr_decay=-1.0), ValueError, r"lr_decay must be in \[0, inf\)"),
    (lambda: Adagrad(eps=-1e-10), ValueError, "eps"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), ValueError,
     r"initial_accumulator_value must be in \[0, inf\)"),
    (lambda: SGD(0.1, clip_value=0.0), ValueError, r"clip_value must be in \(0, inf\)"),
    (lambda: Adam(clip_norm=-1.0), ValueError, r"clip_norm must be in \(0, inf\)"),
    (lambda: Adam(clip_norm=float("nan")), ValueError, "clip_norm must be finite"),
    (lambda: AdamW(clip_value="1"), TypeError, "clip_value must be a real number"),
    (lambda: SGD(0.1, 0.9, False, 0.0, 1.0), TypeError, "positional"),
    (lambda: CosineDecay(0.1, 0), ValueError, r"total_epochs must be in \[1, inf\)"),
    (lambda: CosineDecay(0.1, 5, warmup_epochs=5), ValueError,
     r"warmup_epochs must be in \[0, 5\)"),
    (lambda: CosineDecay(0.1, 5, min_lr=0.2), ValueError, r"min_lr must be in \[0, 0.1\]"),
    (lambda: CosineDecay(0.1, 2.5), TypeError, "total_epochs must be an integer"),
    (lambda: ReduceLROnPlateau(0.1, factor=1.0), ValueError, r"factor must be in \(0, 1\)"),
    (lambda: ReduceLROnPlateau(0.1, patience=-1), ValueError, "patience"),
    (lambda: ReduceLROnPlateau(0.1, min_delta=-1.0), ValueError, "min_delta"),
    (lambda: ReduceLROnPlateau(0.1, min_lr=1.0), ValueError, "min_lr"),
    (lambda: ReduceLROnPlateau(0.1, cooldown=0.5), TypeError, "cooldown"),
    (lambda: ReduceLROnPlateau(0.1, monitor="accuracy"), ValueError,
     r"monitor must be one of \['auto', 'loss', 'val_loss'\], got 'accuracy'"),
])
def test_validation(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_repr_and_hyperparameters_in_state_dict():
    opt = RMSprop(0.01, momentum=0.5, clip_norm=1.0)
    assert repr(opt) == ("RMSprop(lr=0.01, rho=0.9, eps=1e-08, momentum=0.5, centered=False, "
                         "weight_decay=0.0, clip_norm=1.0)")
    hp = opt.state_dict()["hyperparameters"]
    assert hp == {"rho": 0.9, "eps": 1e-08, "momentum": 0.5, "centered": False,
                  "weight_decay": 0.0, "clip_value": None, "clip_norm": 1.0}
    assert json.loads(json.dumps(hp)) == hp
