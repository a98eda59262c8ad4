"""fastnn.optim: optimizers over one flat buffer, schedules, presets, state dicts.

Each optimizer's step() must be bit-identical to the fastnn.reference update
over several steps (both dtypes), match the update written out by hand, and,
when torch is installed, match torch.optim on the same flat parameter.
"""

import json
import math

import numpy as np
import pytest

from fastnn import optim, reference
from fastnn.optim import (
    SGD, Adagrad, Adam, AdamW, BatchGD, Constant, CosineDecay, ExponentialDecay,
    InverseScaling, MiniBatchGD, RMSprop, StepDecay, StochasticGD,
    optimizer_from_state_dict, schedule_from_dict)

N = 37  # an odd size: not a multiple of any SIMD width
N_STEPS = 5

# name -> (class, kwargs); lr schedules included so that lr changes mid-run.
CONFIGS = {
    "sgd": (SGD, dict(lr=0.1)),
    "sgd_wd": (SGD, dict(lr=StepDecay(0.1, factor=0.5, every=2), weight_decay=0.01)),
    "momentum": (SGD, dict(lr=0.05, momentum=0.9)),
    "nesterov_wd": (SGD, dict(lr=ExponentialDecay(0.05, 0.7), momentum=0.8, nesterov=True,
                              weight_decay=1e-3)),
    "adam": (Adam, dict(lr=1e-2)),
    "adam_wd": (Adam, dict(lr=InverseScaling(1e-2, 0.5), betas=(0.8, 0.99), eps=1e-6,
                           weight_decay=0.01)),
    "minibatch": (MiniBatchGD, dict(lr=0.1, batch_size=8, momentum=0.5)),
    "adam_amsgrad_wd": (Adam, dict(lr=CosineDecay(1e-2, 4, 1e-3, 1), amsgrad=True,
                                   weight_decay=0.01)),
    "adamw": (AdamW, dict(lr=1e-2)),
    "adamw_amsgrad": (AdamW, dict(lr=StepDecay(1e-2, 0.5, 2), betas=(0.8, 0.99), eps=1e-6,
                                  weight_decay=0.1, amsgrad=True)),
    "rmsprop": (RMSprop, dict(lr=1e-2)),
    "rmsprop_momentum_wd": (RMSprop, dict(lr=ExponentialDecay(1e-2, 0.8), rho=0.95,
                                          momentum=0.9, weight_decay=0.01)),
    "rmsprop_centered": (RMSprop, dict(lr=1e-2, centered=True, eps=1e-6)),
    "rmsprop_centered_momentum": (RMSprop, dict(lr=1e-2, rho=0.5, centered=True,
                                                momentum=0.5, weight_decay=1e-3)),
    "adagrad": (Adagrad, dict(lr=0.1)),
    "adagrad_decay": (Adagrad, dict(lr=0.1, lr_decay=0.05, eps=1e-8,
                                    initial_accumulator_value=0.1, weight_decay=0.01)),
    "sgd_clip_value": (SGD, dict(lr=0.1, clip_value=0.5)),
    "momentum_clip_norm": (SGD, dict(lr=0.05, momentum=0.9, clip_norm=2.0)),
    "adam_clip_both": (Adam, dict(lr=1e-2, clip_value=0.8, clip_norm=1.5)),
    "rmsprop_clip_norm": (RMSprop, dict(lr=1e-2, momentum=0.5, clip_norm=1.0)),
}


def _buffers(rng, dtype, n=N):
    params = rng.standard_normal(n).astype(dtype)
    grads = np.zeros(n, dtype)
    grad_seq = [rng.standard_normal(n).astype(dtype) for _ in range(2 * N_STEPS + 2)]
    return params, grads, grad_seq


def _reference_step(opt, p, state, g, t):
    """The reference update with opt's hyperparameters and current lr, at step t."""
    g = g.copy()
    reference.clip_gradients(g, opt.clip_value or 0.0, opt.clip_norm or 0.0)
    if isinstance(opt, AdamW):
        reference.adamw_update(p, g, state["m"], state["v"], t, opt.lr, opt.betas[0],
                               opt.betas[1], opt.eps, opt.weight_decay, state.get("v_max"))
    elif isinstance(opt, Adam):
        reference.adam_update(p, g, state["m"], state["v"], t, opt.lr, opt.betas[0],
                              opt.betas[1], opt.eps, opt.weight_decay, state.get("v_max"))
    elif isinstance(opt, RMSprop):
        reference.rmsprop_update(p, g, state["square_avg"], opt.lr, opt.rho, opt.eps,
                                 opt.weight_decay, opt.momentum, state.get("momentum_buffer"),
                                 state.get("grad_avg"))
    elif isinstance(opt, Adagrad):
        reference.adagrad_update(p, g, state["sum"], t, opt.lr, opt.lr_decay, opt.eps,
                                 opt.weight_decay)
    elif opt.momentum > 0:
        reference.momentum_update(p, g, state["velocity"], opt.lr, opt.momentum,
                                  opt.nesterov, opt.weight_decay)
    else:
        reference.sgd_update(p, g, opt.lr, opt.weight_decay)


def _train(opt, params, grads, grad_seq, steps, epoch_every=2):
    """``steps`` steps, an epoch boundary every ``epoch_every`` steps (counted by opt.t)."""
    for _ in range(steps):
        grads[...] = grad_seq[opt.t]
        opt.step()
        if opt.t % epoch_every == 0:
            opt.epoch_end()


# --- parity with the reference and the formulas -------------------------------------------

@pytest.mark.parametrize("config", CONFIGS)
def test_step_matches_reference(rng, dtype, config):
    cls, kwargs = CONFIGS[config]
    params, grads, grad_seq = _buffers(rng, dtype)
    opt = cls(**kwargs)
    opt.bind(params, grads)
    p_ref = params.copy()
    state_ref = {k: np.full_like(params, getattr(opt, "initial_accumulator_value", 0))
                 for k in opt.state}
    lrs = []
    for t in range(1, 2 * N_STEPS + 1):
        grads[...] = grad_seq[t]
        _reference_step(opt, p_ref, state_ref, grad_seq[t], t)
        opt.step()
        assert opt.t == t
        lrs.append(opt.lr)
        if t % 2 == 0:
            opt.epoch_end()
        np.testing.assert_array_equal(params, p_ref, err_msg="%s step %d" % (config, t))
        for k in state_ref:
            np.testing.assert_array_equal(opt.state[k], state_ref[k], err_msg=k)
    assert params.dtype == dtype and all(s.dtype == dtype for s in opt.state.values())
    assert lrs == [opt.schedule(e) for e in [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]]


def _assert_close(actual, expected, dtype):
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_one_step_formula(rng, dtype, nesterov):
    params, grads, grad_seq = _buffers(rng, dtype)
    p0, g = params.astype(np.float64), grad_seq[0].astype(np.float64)
    lr, wd, mu = 0.1, 0.01, 0.9
    grads[...] = grad_seq[0]

    plain = SGD(lr, weight_decay=wd)
    p = params.copy()
    plain.bind(p, grads)
    plain.step()
    _assert_close(p, p0 - lr * (g + wd * p0), dtype)

    mom = SGD(lr, momentum=mu, nesterov=nesterov, weight_decay=wd)
    p = params.copy()
    mom.bind(p, grads)
    mom.step()
    d = g + wd * p0                 # v = μ·0 + d = d
    step = d + mu * d if nesterov else d
    _assert_close(mom.state["velocity"], d, dtype)
    _assert_close(p, p0 - lr * step, dtype)


def test_adam_one_step_formula(rng, dtype):
    params, grads, grad_seq = _buffers(rng, dtype)
    p0, g = params.astype(np.float64), grad_seq[0].astype(np.float64)
    lr, (b1, b2), eps, wd = 0.01, (0.8, 0.99), 1e-6, 0.05
    grads[...] = grad_seq[0]
    opt = Adam(lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    opt.bind(params, grads)
    opt.step()
    d = g + wd * p0
    m, v = (1 - b1) * d, (1 - b2) * d * d
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    _assert_close(opt.state["m"], m, dtype)
    _assert_close(opt.state["v"], v, dtype)
    _assert_close(params, p0 - lr * m_hat / (np.sqrt(v_hat) + eps), dtype)


def test_adam_step_count_drives_bias_correction(rng, dtype):
    params, grads, grad_seq = _buffers(rng, dtype)
    opt = Adam(0.01)
    opt.bind(params, grads)
    assert opt.t == 0
    grads[...] = grad_seq[0]
    for t in (1, 2, 3):
        opt.step()
        assert opt.t == t
    # Continue from t = 10: the next step must use t = 11 in the bias correction.
    opt.set_step_count(10)
    p_ref, m_ref, v_ref = params.copy(), opt.state["m"].copy(), opt.state["v"].copy()
    p_wrong, m_w, v_w = params.copy(), m_ref.copy(), v_ref.copy()
    reference.adam_update(p_ref, grads, m_ref, v_ref, 11, 0.01)
    reference.adam_update(p_wrong, grads, m_w, v_w, 4, 0.01)
    opt.step()
    assert opt.t == 11
    np.testing.assert_array_equal(params, p_ref)
    assert not np.array_equal(params, p_wrong)


def test_zero_grad(rng, dtype):
    params, grads, _ = _buffers(rng, dtype)
    grads[...] = 3
    opt = SGD(0.1)
    opt.bind(params, grads)
    before = params.copy()
    opt.zero_grad()
    assert grads.dtype == dtype and not grads.any()
    np.testing.assert_array_equal(params, before)


# --- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs, exc, match", [
    (SGD, dict(lr=0.0), ValueError, "lr"),
    (SGD, dict(lr=-1.0), ValueError, "lr"),
    (SGD, dict(lr=float("nan")), ValueError, "lr"),
    (SGD, dict(lr="0.1"), TypeError, "lr"),
    (SGD, dict(lr=0.1, momentum=1.0), ValueError, "momentum"),
    (SGD, dict(lr=0.1, momentum=-0.1), ValueError, "momentum"),
    (SGD, dict(lr=0.1, nesterov=True), ValueError, "nesterov.*momentum"),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (Adam, dict(lr=0.0), ValueError, "lr"),
    (Adam, dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    (Adam, dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    (Adam, dict(betas=(0.9,)), ValueError, "betas"),
    (Adam, dict(betas=0.9), TypeError, "betas"),
    (Adam, dict(eps=0.0), ValueError, "eps"),
    (Adam, dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (MiniBatchGD, dict(lr=0.1, batch_size=0), ValueError, "batch_size"),
    (MiniBatchGD, dict(lr=0.1, batch_size=2.5), TypeError, "batch_size"),
    (StochasticGD, dict(lr=0.1, momentum=2.0), ValueError, "momentum"),
])
def test_constructor_validation(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls, args, exc, match", [
    (Constant, (0.0,), ValueError, "lr"),
    (StepDecay, (0.1, 0.0), ValueError, "factor"),
    (StepDecay, (0.1, 1.5), ValueError, "factor"),
    (StepDecay, (0.1, 0.5, 0), ValueError, "every"),
    (StepDecay, (0.1, 0.5, 2.0), TypeError, "every"),
    (ExponentialDecay, (0.1, 0.0), ValueError, "gamma"),
    (ExponentialDecay, (-0.1, 0.9), ValueError, "lr"),
    (InverseScaling, (0.1, -0.5), ValueError, "power_t"),
])
def test_schedule_validation(cls, args, exc, match):
    with pytest.raises(exc, match=match):
        cls(*args)


def test_bind_errors(dtype):
    other = np.float32 if dtype == np.float64 else np.float64
    opt = SGD(0.1, momentum=0.9)
    p, g = np.zeros(8, dtype), np.zeros(8, dtype)
    with pytest.raises(ValueError, match="params.*1-D"):
        opt.bind(np.zeros((2, 4), dtype), np.zeros((2, 4), dtype))
    with pytest.raises(TypeError, match="grads"):
        opt.bind(p, np.zeros(8, other))
    with pytest.raises(TypeError, match="params"):
        opt.bind(np.zeros(8, np.int64), g)
    with pytest.raises(ValueError, match="params.*C-contiguous"):
        opt.bind(np.zeros(16, dtype)[::2], g)
    with pytest.raises(ValueError, match="grads.*C-contiguous"):
        opt.bind(p, np.zeros(16, dtype)[::2])
    with pytest.raises(ValueError, match="grads.*shape"):
        opt.bind(p, np.zeros(9, dtype))
    with pytest.raises(ValueError, match="grads.*overlap"):
        opt.bind(p, p)
    with pytest.raises(TypeError, match="params"):
        opt.bind([0.0] * 8, g)
    assert opt.state == {}  # nothing allocated by failed binds

    opt.bind(p, g)
    velocity = opt.state["velocity"]
    assert velocity.shape == (8,) and velocity.dtype == dtype and not velocity.any()
    opt.bind(np.ones(8, dtype), np.ones(8, dtype))  # same size: state kept
    assert opt.state["velocity"] is velocity
    with pytest.raises(ValueError, match="velocity"):
        opt.bind(np.zeros(9, dtype), np.zeros(9, dtype))
    with pytest.raises(ValueError, match="velocity"):
        opt.bind(np.zeros(8, other), np.zeros(8, other))


@pytest.mark.parametrize("method", ["step", "zero_grad", "compiled_rule"])
def test_use_before_bind(method):
    for opt in (SGD(0.1), Adam()):
        with pytest.raises(RuntimeError, match=r"call model\.fit or optimizer\.bind"):
            getattr(opt, method)()


def test_state_allocation(dtype):
    p, g = np.zeros(5, dtype), np.zeros(5, dtype)
    for opt, names in [(SGD(0.1), []), (SGD(0.1, momentum=0.5), ["velocity"]),
                       (Adam(), ["m", "v"])]:
        assert opt.state == {}
        opt.bind(p, g)
        assert sorted(opt.state) == names
        assert all(s.dtype == dtype and s.shape == (5,) for s in opt.state.values())


# --- compiled-loop interface ------------------------------------------------------------------

def test_compiled_rule(dtype):
    p, g = np.zeros(5, dtype), np.zeros(5, dtype)
    opt = SGD(0.1, weight_decay=0.01)
    opt.bind(p, g)
    assert opt.compiled_rule() == (0, 0.1, 0.0, False, 0.0, 0.0, 0.0, 0.01, None, None, 0)

    opt = SGD(StepDecay(0.2, 0.5, 1), momentum=0.9, nesterov=True)
    opt.bind(p, g)
    opt.epoch_end()
    rule = opt.compiled_rule()
    assert rule[:8] == (1, 0.1, 0.9, True, 0.0, 0.0, 0.0, 0.0)
    assert rule[8] is opt.state["velocity"] and rule[9] is None and rule[10] == 0

    opt = Adam(1e-3, betas=(0.8, 0.9), eps=1e-7, weight_decay=0.5)
    opt.bind(p, g)
    opt.set_step_count(7)
    rule = opt.compiled_rule()
    assert rule[:8] == (2, 1e-3, 0.0, False, 0.8, 0.9, 1e-7, 0.5)
    assert rule[8] is opt.state["m"] and rule[9] is opt.state["v"] and rule[10] == 7
    assert opt.t == 7
    with pytest.raises(ValueError, match="t"):
        opt.set_step_count(-1)


# --- state dicts ---------------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("load", ["before_bind", "after_bind", "from_state_dict"])
def test_state_dict_round_trip(rng, dtype, config, load):
    cls, kwargs = CONFIGS[config]
    params, grads, grad_seq = _buffers(rng, dtype)

    straight = cls(**kwargs)
    p_straight = params.copy()
    straight.bind(p_straight, grads)
    _train(straight, p_straight, grads, grad_seq, 6)

    first = cls(**kwargs)
    p = params.copy()
    first.bind(p, grads)
    _train(first, p, grads, grad_seq, 3)
    saved, p_saved = first.state_dict(), p.copy()  # a checkpoint: optimizer and params
    _train(first, p, grads, grad_seq, 2)  # the saved dict must not change with it

    # Constructed with another lr: load_state_dict restores the schedule and lr.
    second = (optimizer_from_state_dict(saved) if load == "from_state_dict"
              else cls(**{**kwargs, "lr": 3.0}))
    assert type(second) is cls
    p_resume = p_saved.copy()
    if load == "after_bind":
        second.bind(p_resume, grads)
        second.load_state_dict(saved)
    else:
        if load == "before_bind":
            second.load_state_dict(saved)
        second.bind(p_resume, grads)
    assert (second.t, second.epoch, second.lr) == (3, saved["epoch"], saved["lr"])
    assert second.schedule == straight.schedule
    _train(second, p_resume, grads, grad_seq, 3)
    np.testing.assert_array_equal(p_resume, p_straight)
    assert (second.t, second.epoch, second.lr) == (straight.t, straight.epoch, straight.lr)
    for k, v in straight.state.items():
        np.testing.assert_array_equal(second.state[k], v, err_msg=k)


@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_json(rng, config):
    cls, kwargs = CONFIGS[config]
    params, grads, grad_seq = _buffers(rng, np.float32)
    opt = cls(**kwargs)
    assert opt.state_dict()["state"] == {}
    opt.bind(params, grads)
    _train(opt, params, grads, grad_seq, 3)
    d = opt.state_dict()
    assert set(d) == {"type", "hyperparameters", "schedule", "t", "epoch", "lr", "state"}
    assert d["type"] == cls.__name__
    assert set(d["state"]) == set(opt.state)
    assert all(isinstance(a, np.ndarray) and a is not opt.state[k] for k, a in d["state"].items())
    text = json.dumps({k: v for k, v in d.items() if k != "state"})
    restored = json.loads(text)
    restored["state"] = d["state"]
    again = optimizer_from_state_dict(restored)
    assert again.state_dict()["hyperparameters"] == d["hyperparameters"]
    assert again.schedule == opt.schedule and again.lr == opt.lr and again.t == opt.t


def test_load_state_dict_errors(dtype):
    opt = SGD(0.1, momentum=0.9)
    p, g = np.zeros(6, dtype), np.zeros(6, dtype)
    opt.bind(p, g)
    good = opt.state_dict()

    def broken(**changes):
        d = {**good, **changes}
        return d

    with pytest.raises(ValueError, match="type"):
        opt.load_state_dict(Adam().state_dict())
    with pytest.raises(ValueError, match="epoch"):
        opt.load_state_dict({k: v for k, v in good.items() if k != "epoch"})
    with pytest.raises(ValueError, match="dampening"):
        opt.load_state_dict(broken(hyperparameters={**good["hyperparameters"], "dampening": 0.0}))
    with pytest.raises(ValueError, match="momentum"):
        opt.load_state_dict(broken(hyperparameters={**good["hyperparameters"], "momentum": 1.5}))
    with pytest.raises(ValueError, match="schedule"):
        opt.load_state_dict(broken(schedule={"type": "Cosine", "lr": 0.1}))
    with pytest.raises(ValueError, match="velocity"):
        opt.load_state_dict(broken(state={"velocity": np.zeros(7, dtype)}))
    other = np.float32 if dtype == np.float64 else np.float64
    with pytest.raises(ValueError, match="velocity"):
        opt.load_state_dict(broken(state={"velocity": np.zeros(6, other)}))
    with pytest.raises(ValueError, match="m"):
        opt.load_state_dict(broken(state={"m": np.zeros(6, dtype)}))
    with pytest.raises(ValueError, match="t"):
        opt.load_state_dict(broken(t=-1))
    assert opt.state_dict()["hyperparameters"] == good["hyperparameters"]  # nothing changed

    # Unbound: arrays are held until bind, which checks their size.
    fresh = SGD(0.1, momentum=0.9)
    fresh.load_state_dict(broken(state={"velocity": np.ones(6, dtype)}))
    with pytest.raises(ValueError, match="velocity"):
        fresh.bind(np.zeros(5, dtype), np.zeros(5, dtype))
    fresh.bind(p, g)
    np.testing.assert_array_equal(fresh.state["velocity"], 1)


def test_load_state_dict_into_bound_state_in_place(dtype):
    p, g = np.zeros(4, dtype), np.zeros(4, dtype)
    opt = Adam()
    opt.bind(p, g)
    m = opt.state["m"]
    d = opt.state_dict()
    d["state"] = {"m": np.full(4, 2, dtype), "v": np.full(4, 3, dtype)}
    opt.load_state_dict(d)
    assert opt.state["m"] is m  # a compiled loop holding the array sees the values
    np.testing.assert_array_equal(m, 2)
    opt.reset()
    assert opt.t == 0 and opt.epoch == 0 and not m.any()


# --- schedules ----------------------------------------------------------------------------

def test_schedule_values():
    epochs = [0, 1, 2, 9, 10, 11, 25, 100]
    for e in epochs:
        assert Constant(0.3)(e) == 0.3
        assert StepDecay(0.4, factor=0.1, every=10)(e) == 0.4 * 0.1 ** (e // 10)
        assert StepDecay(0.4)(e) == 0.4 * 0.5 ** (e // 10)
        assert ExponentialDecay(0.2, 0.95)(e) == 0.2 * 0.95 ** e
        assert InverseScaling(0.1)(e) == 0.1 / (e + 1) ** 0.5
        assert InverseScaling(0.1, power_t=0.25)(e) == 0.1 / (e + 1) ** 0.25
    assert StepDecay(1.0, 0.5, 3)(5) == 0.5 and StepDecay(1.0, 0.5, 3)(6) == 0.25
    assert InverseScaling(1.0, 1.0)(3) == 0.25
    assert math.isclose(ExponentialDecay(1.0, 0.5)(3), 0.125)
    # Never 0, which the kernels would reject.
    assert ExponentialDecay(1.0, 0.5)(5000) > 0
    with pytest.raises(ValueError, match="epoch"):
        Constant(0.1)(-1)


@pytest.mark.parametrize("schedule", [Constant(0.1), StepDecay(0.1, 0.3, 4),
                                      ExponentialDecay(0.5, 0.9), InverseScaling(0.2, 0.75)])
def test_schedule_dict_round_trip(schedule):
    d = schedule.to_dict()
    assert json.loads(json.dumps(d)) == d
    again = schedule_from_dict(d)
    assert type(again) is type(schedule) and again == schedule
    assert [again(e) for e in range(5)] == [schedule(e) for e in range(5)]
    with pytest.raises(ValueError):
        schedule_from_dict({**d, "extra": 1})


def test_epoch_end_updates_lr():
    opt = SGD(StepDecay(0.8, factor=0.5, every=2))
    assert isinstance(SGD(0.1).schedule, Constant)
    assert (opt.epoch, opt.lr) == (0, 0.8)
    lrs = [opt.epoch_end() for _ in range(5)]
    assert opt.epoch == 5
    assert lrs == [0.8, 0.4, 0.4, 0.2, 0.2] and opt.lr == 0.2


# --- presets ---------------------------------------------------------------------------

def test_presets():
    # 'auto': fit chooses; None: the whole training set (what model.fit reads).
    assert optim.Optimizer.batch_size == "auto"
    assert SGD(0.1).batch_size == "auto" and Adam().batch_size == "auto"
    assert BatchGD(0.1).batch_size is None
    assert StochasticGD(0.1).batch_size == 1
    assert MiniBatchGD(0.1).batch_size == 32
    assert MiniBatchGD(0.1, 64, momentum=0.9).batch_size == 64
    for cls in (BatchGD, StochasticGD, MiniBatchGD):
        opt = cls(0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        assert isinstance(opt, SGD)
        assert (opt.momentum, opt.nesterov, opt.weight_decay) == (0.9, True, 0.01)


# --- against PyTorch ---------------------------------------------------------------------

@pytest.mark.parametrize("config", ["nesterov_wd", "momentum_wd", "adam_wd"])
def test_matches_torch(rng, config):
    torch = pytest.importorskip("torch")
    kwargs = {
        "nesterov_wd": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        "momentum_wd": dict(lr=0.05, momentum=0.5, nesterov=False, weight_decay=0.1),
        "adam_wd": dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
    }[config]
    cls, torch_cls = (Adam, torch.optim.Adam) if config == "adam_wd" else (SGD, torch.optim.SGD)
    n = 23
    A = rng.standard_normal((n, n)) / n
    b = rng.standard_normal(n)
    params = rng.standard_normal(n)
    grads = np.zeros(n)
    opt = cls(**kwargs)
    opt.bind(params, grads)
    p_torch = torch.tensor(params.copy(), dtype=torch.float64, requires_grad=True)
    t_opt = torch_cls([p_torch], **kwargs)
    for _ in range(5):
        # The gradient of a quadratic, evaluated at each side's own parameters.
        grads[...] = A @ params - b
        opt.step()
        with torch.no_grad():
            p_now = p_torch.detach().numpy()
            p_torch.grad = torch.tensor(A @ p_now - b, dtype=torch.float64)
        t_opt.step()
    expected = p_torch.detach().numpy()
    np.testing.assert_allclose(params, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
