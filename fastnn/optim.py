"""Optimizers over one flat parameter buffer: SGD (momentum, Nesterov), Adam, schedules.

A fastnn model keeps all its weights and biases in one C-contiguous 1-D array
``params`` of shape (n_params,), float32 or float64, and their gradient in a
same-shaped array ``grads``; each layer's ``W`` and ``b`` are views into them.
An optimizer is bound to that pair once (:meth:`Optimizer.bind`, which
``model.fit`` calls) and then every :meth:`~Optimizer.step` is one pass of a
compiled kernel (:mod:`fastnn.kernels`) over the whole buffer.  Its state
(momentum velocity, Adam's moments) mirrors the buffer: flat arrays of shape
(n_params,), allocated once, updated in place.

The shape is PyTorch's (``torch.optim``): hyperparameters are validated in
``__init__``, naming the one that is wrong; then ``step()``, ``zero_grad()``,
``state_dict()`` and ``load_state_dict()``.

Conventions
-----------
Momentum and Nesterov follow PyTorch (``torch.optim.SGD`` with dampening 0),
with g the gradient and μ the momentum::

    v = μ·v + g
    p = p − lr·v                 (classical momentum)
    p = p − lr·(g + μ·v)         (Nesterov, with the v just updated)

scikit-learn's ``MLPClassifier(solver='sgd')`` keeps the learning rate inside
the velocity instead, v = μ·v − lr·g; p = p + v (Nesterov: p = p + μ·v − lr·g).
The two give the same trajectory while lr is constant; when a schedule changes
lr, PyTorch's form rescales the whole accumulated velocity at once, while
scikit-learn's lets the old velocity decay at the old rate.

Adam follows ``torch.optim.Adam`` (Kingma & Ba, with bias correction, t
counting steps from 1)::

    m = β₁·m + (1−β₁)·g;   v = β₂·v + (1−β₂)·g²
    p = p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps)

``weight_decay`` is an L2 penalty added to the gradient before the update,
g = grads + weight_decay·params, as in PyTorch's SGD and Adam (not AdamW's
decoupled decay).  It applies to every entry of the flat buffer, biases
included, as PyTorch does for a parameter group holding all parameters.

The learning rate may follow a schedule (:class:`Constant`,
:class:`StepDecay`, :class:`ExponentialDecay`, :class:`InverseScaling`)
evaluated at each epoch boundary (:meth:`Optimizer.epoch_end`).

Batch, mini-batch and stochastic gradient descent are one update with
different batch sizes: :class:`BatchGD`, :class:`MiniBatchGD` and
:class:`StochasticGD` are :class:`SGD` with a preset ``batch_size``.

Updates run with ``check_finite=False``: the model validates its data once
per fit, and non-finite weights after training are caught by the model.
"""

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from fastnn import kernels
from fastnn._typing import FloatArray
from fastnn._validation import FLOAT_DTYPES, check_disjoint, check_inplace, check_scalar, check_shape

__all__ = [
    "Optimizer", "SGD", "Adam", "BatchGD", "StochasticGD", "MiniBatchGD",
    "Schedule", "Constant", "StepDecay", "ExponentialDecay", "InverseScaling",
    "schedule_from_dict", "optimizer_from_state_dict",
]

#: Rule codes of :meth:`Optimizer.compiled_rule`.
RULE_GD, RULE_MOMENTUM, RULE_ADAM = 0, 1, 2

# The smallest learning rate a schedule returns: the update kernels require
# lr > 0, and lr·γᵉᵖᵒᶜʰ underflows to 0 after enough epochs.
_TINY = float(np.finfo(np.float64).tiny)


# --- learning-rate schedules ----------------------------------------------------------

class Schedule:
    """Base class of learning-rate schedules: a function of the epoch count.

    A schedule is called with the number of epochs completed (0 before the
    first epoch) and returns the learning rate for the next epoch, a float
    > 0.  Subclasses list their constructor arguments in ``_fields`` and
    implement ``_value(epoch)``.
    """

    _fields: ClassVar[tuple[str, ...]] = ("lr",)
    lr: float

    def __call__(self, epoch: int) -> float:
        """Learning rate after ``epoch`` completed epochs.

        Parameters
        ----------
        epoch : int
            Epochs completed, >= 0.

        Returns
        -------
        lr : float
            > 0.  A rate that would underflow to 0 is held at the smallest
            positive normal double.
        """
        epoch = check_scalar(epoch, "epoch", low=0, integer=True)
        try:
            value = float(self._value(epoch))
        except OverflowError:
            value = 0.0
        return max(value, _TINY)

    def _value(self, epoch):
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The schedule as a JSON-serialisable dict.

        Returns
        -------
        d : dict
            ``{"type": class name, <argument>: value, ...}``; rebuild it with
            :func:`schedule_from_dict`.
        """
        return {"type": type(self).__name__, **{k: getattr(self, k) for k in self._fields}}

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % (k, getattr(self, k)) for k in self._fields))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))


def _check_lr(lr: float) -> float:
    return check_scalar(lr, "lr", low=0, low_open=True)


class Constant(Schedule):
    """A constant learning rate.

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    """

    _fields = ("lr",)

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr(lr)

    def _value(self, epoch):
        return self.lr


class StepDecay(Schedule):
    """Step decay: lr·factor^(epoch // every).

    The rate is multiplied by ``factor`` every ``every`` epochs, like
    ``torch.optim.lr_scheduler.StepLR(step_size=every, gamma=factor)``.

    Parameters
    ----------
    lr : float
        The initial learning rate, > 0.
    factor : float, default 0.5
        In (0, 1].
    every : int, default 10
        Epochs between decays, >= 1.
    """

    _fields = ("lr", "factor", "every")

    def __init__(self, lr: float, factor: float = 0.5, every: int = 10) -> None:
        self.lr = _check_lr(lr)
        self.factor: float = check_scalar(factor, "factor", low=0, high=1, low_open=True)
        self.every: int = check_scalar(every, "every", low=1, integer=True)

    def _value(self, epoch):
        return self.lr * self.factor ** (epoch // self.every)


class ExponentialDecay(Schedule):
    """Exponential decay: lr·gamma^epoch.

    Like ``torch.optim.lr_scheduler.ExponentialLR(gamma=gamma)``.

    Parameters
    ----------
    lr : float
        The initial learning rate, > 0.
    gamma : float
        The factor per epoch, in (0, 1].
    """

    _fields = ("lr", "gamma")

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = _check_lr(lr)
        self.gamma: float = check_scalar(gamma, "gamma", low=0, high=1, low_open=True)

    def _value(self, epoch):
        return self.lr * self.gamma ** epoch


class InverseScaling(Schedule):
    """Inverse scaling: lr / (epoch + 1)^power_t.

    Here the count is of **epochs** completed.  scikit-learn's
    ``learning_rate='invscaling'`` uses the same formula with a different
    count: ``MLPClassifier``/``MLPRegressor`` divide by (t + 1)^power_t where
    t is the number of training *samples* seen so far (updated at the end of
    each epoch, so t = epoch·n_samples), and ``SGDClassifier`` divides by
    t^power_t with t the number of updates.  Their rate therefore falls
    roughly n_samples^power_t times lower than this one after the first
    epoch; to get a comparable decay here, start from a smaller ``lr`` or use
    a larger ``power_t``.

    Parameters
    ----------
    lr : float
        The initial learning rate, > 0.
    power_t : float, default 0.5
        The exponent, >= 0 (0 gives a constant rate).
    """

    _fields = ("lr", "power_t")

    def __init__(self, lr: float, power_t: float = 0.5) -> None:
        self.lr = _check_lr(lr)
        self.power_t: float = check_scalar(power_t, "power_t", low=0)

    def _value(self, epoch):
        return self.lr / (epoch + 1) ** self.power_t


_SCHEDULES: dict[str, type[Schedule]] = {cls.__name__: cls for cls in (Constant, StepDecay, ExponentialDecay, InverseScaling)}


def _check_keys(d, name, expected):
    """Raise ValueError unless mapping ``d`` has exactly the keys ``expected``."""
    if not isinstance(d, Mapping):
        raise TypeError("%s must be a dict, got %s" % (name, type(d).__name__))
    missing = [k for k in expected if k not in d]
    unexpected = sorted(str(k) for k in d if k not in expected)
    if missing or unexpected:
        raise ValueError("%s must have the keys %s; missing %s, unexpected %s"
                         % (name, sorted(expected), missing, unexpected))


def schedule_from_dict(d: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict`.

    Parameters
    ----------
    d : dict
        ``{"type": "Constant" | "StepDecay" | "ExponentialDecay" |
        "InverseScaling", <argument>: value, ...}``.

    Returns
    -------
    schedule : Schedule
        Its arguments validated as by the constructor.
    """
    if not isinstance(d, Mapping):
        raise TypeError("schedule must be a dict, got %s" % type(d).__name__)
    kind = d.get("type")
    if kind not in _SCHEDULES:
        raise ValueError("schedule['type'] must be one of %s, got %r" % (sorted(_SCHEDULES), kind))
    cls = _SCHEDULES[kind]
    _check_keys(d, "schedule", ("type",) + cls._fields)
    return cls(**{k: d[k] for k in cls._fields})


def _as_schedule(lr: float | Schedule) -> Schedule:
    return lr if isinstance(lr, Schedule) else Constant(lr)


# --- optimizers -------------------------------------------------------------------------

_STATE_KEYS = ("type", "hyperparameters", "schedule", "t", "epoch", "lr", "state")


class Optimizer:
    """Base class: bookkeeping shared by every optimizer of a flat buffer.

    Subclasses define the hyperparameters (``_hyperparameters``, validated by
    ``_validate``), the state they keep (``_state_names_for``) and the update
    (``_update``); this class binds the buffers, allocates state, counts steps
    and epochs, follows the learning-rate schedule and saves and restores it
    all.

    Parameters
    ----------
    lr : float or Schedule
        The learning rate (> 0), or a schedule giving it per epoch.
    **hyperparameters
        Validated by the subclass.

    Attributes
    ----------
    schedule : Schedule
        The learning-rate schedule (a float ``lr`` becomes ``Constant(lr)``).
    lr : float
        The current learning rate, ``schedule(epoch)``.
    t : int
        Steps taken.  Adam's bias correction uses t after the increment, so
        the first step is t = 1.
    epoch : int
        Epochs completed (counted by :meth:`epoch_end`).
    state : dict of str to ndarray of shape (n_params,)
        The optimizer state, same dtype as the bound params (empty until
        :meth:`bind` or :meth:`load_state_dict`).
    batch_size : int, None or 'auto'
        Samples per step that ``fit`` uses when its caller passes none:
        'auto' (the default here) lets ``fit`` decide; None means the whole
        training set (:class:`BatchGD`); an int, that many samples.
    """

    batch_size: int | Literal["auto"] | None = "auto"
    _hyperparameters: ClassVar[tuple[str, ...]] = ()
    schedule: Schedule
    lr: float
    t: int
    epoch: int
    state: dict[str, FloatArray]

    def __init__(self, lr: float | Schedule, **hyperparameters: Any) -> None:
        schedule = _as_schedule(lr)
        self._assign(self._validate(**hyperparameters))
        self.schedule = schedule
        self.t = 0
        self.epoch = 0
        self.lr = self.schedule(0)
        self.state = {}
        self._params: FloatArray | None = None
        self._grads: FloatArray | None = None

    # -- subclass hooks

    @classmethod
    def _validate(cls, **hyperparameters):
        """Return the hyperparameters checked and normalised (raise on bad values)."""
        if hyperparameters:
            raise TypeError("%s takes no hyperparameters %s" % (cls.__name__, sorted(hyperparameters)))
        return {}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        """Names of the state arrays kept under these hyperparameters."""
        return ()

    def _update(self, params, grads, t):
        raise NotImplementedError

    # -- helpers

    def _assign(self, hyperparameters):
        for name, value in hyperparameters.items():
            setattr(self, name, value)

    def _current_hyperparameters(self):
        return {name: getattr(self, name) for name in self._hyperparameters}

    def _state_names(self):
        return self._state_names_for(self._current_hyperparameters())

    def _sync_state(self):
        """Allocate missing state arrays as zeros and drop those no longer used."""
        names = self._state_names()
        for name in list(self.state):
            if name not in names:
                del self.state[name]
        if self._params is not None:
            for name in names:
                if name not in self.state:
                    self.state[name] = np.zeros_like(self._params)

    def _bound(self, what):
        if self._params is None:
            raise RuntimeError(
                "%s.%s() needs the parameter buffer: %s is not bound; call model.fit "
                "or optimizer.bind(params, grads) first"
                % (type(self).__name__, what, type(self).__name__))
        self._sync_state()
        return self._params, self._grads

    # -- public API

    def bind(self, params: FloatArray, grads: FloatArray) -> None:
        """Attach the flat parameter and gradient buffers.

        State arrays are allocated as zeros of params' shape and dtype the
        first time.  Binding again to buffers of the same size and dtype (a
        second ``fit``, or after :meth:`load_state_dict`) keeps the state.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            All the model's weights and biases, float32 or float64,
            C-contiguous and writeable: updated in place by :meth:`step`.
        grads : ndarray of shape (n_params,)
            Their gradient, same dtype, C-contiguous and writeable (filled
            with zeros by :meth:`zero_grad`); must not overlap ``params``.

        Raises
        ------
        TypeError
            A buffer is not an ndarray, not float32/float64, or the dtypes differ.
        ValueError
            A buffer is not 1-D, not C-contiguous, not writeable or empty; the
            shapes differ; the buffers overlap; or the existing state has a
            different size or dtype (the optimizer was used with another
            model: create a new one, or call :meth:`reset` first).
        """
        check_inplace(params, "params")
        if params.ndim != 1:
            raise ValueError("params must be a flat 1-D buffer, got shape %s" % (params.shape,))
        check_inplace(grads, "grads", params.dtype)
        check_shape(grads, "grads", params.shape)
        check_disjoint(grads, "grads", params=params)
        for name, arr in self.state.items():
            if arr.shape != params.shape or arr.dtype != params.dtype:
                raise ValueError(
                    "params has shape %s and dtype %s but the optimizer state %r has shape "
                    "%s and dtype %s: this optimizer holds the state of another parameter "
                    "buffer; create a new optimizer or call reset() first"
                    % (params.shape, params.dtype, name, arr.shape, arr.dtype))
        self._params = params
        self._grads = grads
        self._sync_state()

    def step(self) -> None:
        """Update the bound params from the bound grads, in place; t += 1.

        Uses the current learning rate ``self.lr``.

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        params, grads = self._bound("step")
        t = self.t + 1
        self._update(params, grads, t)
        self.t = t

    def zero_grad(self) -> None:
        """Fill the bound grads of shape (n_params,) with zeros.

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        _, grads = self._bound("zero_grad")
        grads.fill(0)

    def epoch_end(self) -> float:
        """Count a completed epoch and move the learning rate along the schedule.

        Returns
        -------
        lr : float
            The new learning rate, ``schedule(epoch)``.
        """
        self.epoch += 1
        self.lr = self.schedule(self.epoch)
        return self.lr

    def reset(self) -> None:
        """Forget the training so far: t = epoch = 0, lr = schedule(0), state zeroed.

        Bound buffers stay bound (their state arrays are zeroed in place);
        unbound state is dropped.
        """
        self.t = 0
        self.epoch = 0
        self.lr = self.schedule(0)
        if self._params is None:
            self.state = {}
        else:
            for arr in self.state.values():
                arr.fill(0)

    def compiled_rule(self) -> tuple[int, float, float, bool, float, float, float, float,
                                      FloatArray | None, FloatArray | None, int]:
        """The update rule as plain values, for the compiled training loop.

        Returns
        -------
        rule : int
            0 = plain gradient descent, 1 = momentum, 2 = Adam.
        lr : float
            The current learning rate.
        momentum : float
            μ (0.0 unless rule 1).
        nesterov : bool
        beta1, beta2, eps : float
            Adam's (0.0 unless rule 2).
        weight_decay : float
        state1, state2 : ndarray of shape (n_params,) or None
            Rule 1: velocity, None.  Rule 2: m, v.  Rule 0: None, None.
            Updated in place by the loop.
        t : int
            Steps taken so far; the loop's first step is t + 1.  Write the
            count back with :meth:`set_step_count`.

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        self._bound("compiled_rule")
        hp = self._validate(**self._current_hyperparameters())  # catches edited attributes
        return self._compiled(hp, _check_lr(self.lr))

    def _compiled(self, hp, lr):
        raise NotImplementedError

    def set_step_count(self, t: int) -> None:
        """Record the step count after a compiled epoch.

        Parameters
        ----------
        t : int
            Steps taken in all, >= 0.
        """
        self.t = check_scalar(t, "t", low=0, integer=True)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training, as a dict.

        Returns
        -------
        d : dict
            ``{"type": class name, "hyperparameters": {...}, "schedule":
            schedule.to_dict(), "t": int, "epoch": int, "lr": float, "state":
            {name: ndarray of shape (n_params,)}}``.  Apart from the arrays
            in ``state`` (copies, empty before :meth:`bind`), every value is a
            JSON-serialisable scalar, string, list or dict.
        """
        names = self._state_names()
        hp = {k: list(v) if isinstance(v, tuple) else v
              for k, v in self._current_hyperparameters().items()}
        return {
            "type": type(self).__name__,
            "hyperparameters": hp,
            "schedule": self.schedule.to_dict(),
            "t": int(self.t),
            "epoch": int(self.epoch),
            "lr": float(self.lr),
            "state": {k: self.state[k].copy() for k in names if k in self.state},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters, schedule, counters and state from :meth:`state_dict`.

        Works before or after :meth:`bind`: arrays are copied into the
        existing state (so a compiled loop holding them sees the new values),
        or kept as copies until :meth:`bind`, which checks their size.  An
        empty ``state`` restores zero state.  Nothing changes if any check
        fails.

        Parameters
        ----------
        state_dict : dict
            As returned by :meth:`state_dict` of the same class.

        Raises
        ------
        ValueError
            A key is missing or unexpected, the type is another class, a
            hyperparameter has a bad value, or a state array has the wrong
            shape or dtype (the message names the key).
        TypeError
            A value has the wrong type.
        """
        d = state_dict
        _check_keys(d, "state_dict", _STATE_KEYS)
        if d["type"] != type(self).__name__:
            raise ValueError("state_dict['type'] is %r but this optimizer is %s; use "
                             "fastnn.optim.optimizer_from_state_dict to rebuild the right class"
                             % (d["type"], type(self).__name__))
        _check_keys(d["hyperparameters"], "state_dict['hyperparameters']", self._hyperparameters)
        hp = self._validate(**d["hyperparameters"])
        schedule = schedule_from_dict(d["schedule"])
        t = check_scalar(d["t"], "state_dict['t']", low=0, integer=True)
        epoch = check_scalar(d["epoch"], "state_dict['epoch']", low=0, integer=True)
        lr = check_scalar(d["lr"], "state_dict['lr']", low=0, low_open=True)
        state = self._check_state(d["state"], self._state_names_for(hp))

        self._assign(hp)
        self.schedule, self.t, self.epoch, self.lr = schedule, t, epoch, lr
        if self._params is None:
            self.state = {k: np.array(v, order="C") for k, v in state.items()}
        else:
            self._sync_state()
            for name, arr in self.state.items():
                if name in state:
                    np.copyto(arr, state[name])
                else:
                    arr.fill(0)

    def _check_state(self, state, names):
        if not isinstance(state, Mapping):
            raise TypeError("state_dict['state'] must be a dict, got %s" % type(state).__name__)
        if not state:
            return {}
        _check_keys(state, "state_dict['state']", names)
        ref = self._params
        out = {}
        for name in names:
            key = "state_dict['state'][%r]" % name
            arr = np.asarray(state[name])
            if arr.dtype not in FLOAT_DTYPES or arr.ndim != 1 or arr.size == 0:
                raise ValueError("%s must be a non-empty 1-D float32 or float64 array, got "
                                 "dtype %s and shape %s" % (key, arr.dtype, arr.shape))
            if ref is None:
                ref = arr  # unbound: all state arrays must agree with the first
            if arr.shape != ref.shape or arr.dtype != ref.dtype:
                raise ValueError("%s has shape %s and dtype %s; expected shape %s and dtype %s%s"
                                 % (key, arr.shape, arr.dtype, ref.shape, ref.dtype,
                                    " (the bound params)" if ref is self._params else ""))
            if not np.isfinite(arr).all():
                raise ValueError("%s contains NaN or infinity" % key)
            out[name] = arr
        return out

    def __repr__(self) -> str:
        lr = self.schedule.lr if isinstance(self.schedule, Constant) else self.schedule
        args = ["lr=%r" % (lr,)] + ["%s=%r" % kv for kv in self._current_hyperparameters().items()]
        return "%s(%s)" % (type(self).__name__, ", ".join(args))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError("%s must be True or False, got %r" % (name, value))
    return bool(value)


class SGD(Optimizer):
    """Gradient descent, with optional momentum or Nesterov momentum (PyTorch's form).

    With g = grads + weight_decay·params::

        momentum = 0:   p = p − lr·g
        momentum = μ:   v = μ·v + g;  p = p − lr·v
        nesterov:       v = μ·v + g;  p = p − lr·(g + μ·v)

    Parameters
    ----------
    lr : float or Schedule
        Learning rate, > 0, or a schedule of it per epoch.
    momentum : float, default 0
        μ, in [0, 1).  A velocity buffer of shape (n_params,) is kept only
        when μ > 0.
    nesterov : bool, default False
        Nesterov momentum; requires momentum > 0 (as in PyTorch).
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient of every parameter (biases
        included).

    Attributes
    ----------
    batch_size : 'auto'
        ``fit`` chooses the batch size (see :class:`BatchGD`,
        :class:`MiniBatchGD`, :class:`StochasticGD` for presets).
    state : dict
        ``{"velocity": ndarray of shape (n_params,)}`` when momentum > 0.

    Examples
    --------
    >>> import numpy as np
    >>> params, grads = np.ones(3), np.full(3, 0.5)
    >>> opt = SGD(0.1, momentum=0.9)
    >>> opt.bind(params, grads)
    >>> opt.step()
    >>> params
    array([0.95, 0.95, 0.95])
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("momentum", "nesterov", "weight_decay")
    momentum: float
    nesterov: bool
    weight_decay: float

    def __init__(self, lr: float | Schedule, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    @classmethod
    def _validate(cls, momentum=0.0, nesterov=False, weight_decay=0.0):
        momentum = check_scalar(momentum, "momentum", low=0, high=1, high_open=True)
        nesterov = _check_bool(nesterov, "nesterov")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True requires momentum > 0, got momentum=%r" % momentum)
        weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
        return {"momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        return ("velocity",) if hyperparameters["momentum"] > 0 else ()

    def _update(self, params, grads, t):
        if self.momentum > 0:
            kernels.momentum_update(params, grads, self.state["velocity"], self.lr,
                                    self.momentum, self.nesterov, self.weight_decay,
                                    check_finite=False)
        else:
            kernels.sgd_update(params, grads, self.lr, self.weight_decay, check_finite=False)

    def _compiled(self, hp, lr):
        if hp["momentum"] > 0:
            return (RULE_MOMENTUM, lr, hp["momentum"], hp["nesterov"], 0.0, 0.0, 0.0,
                    hp["weight_decay"], self.state["velocity"], None, self.t)
        return (RULE_GD, lr, 0.0, False, 0.0, 0.0, 0.0, hp["weight_decay"], None, None, self.t)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), in PyTorch's form with L2 weight decay.

    With g = grads + weight_decay·params and t the step number (from 1)::

        m = β₁·m + (1−β₁)·g;   v = β₂·v + (1−β₂)·g²
        p = p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps)

    Parameters
    ----------
    lr : float or Schedule, default 1e-3
        Learning rate, > 0, or a schedule of it per epoch.
    betas : (float, float), default (0.9, 0.999)
        β₁ and β₂, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient of every parameter (biases
        included); not AdamW's decoupled decay.

    Attributes
    ----------
    state : dict
        ``{"m": ndarray of shape (n_params,), "v": ndarray of shape (n_params,)}``.
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("betas", "eps", "weight_decay")
    betas: tuple[float, float]
    eps: float
    weight_decay: float

    def __init__(self, lr: float | Schedule = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay)

    @classmethod
    def _validate(cls, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
            raise TypeError("betas must be a pair (beta1, beta2), got %r" % (betas,))
        if len(betas) != 2:
            raise ValueError("betas must be a pair (beta1, beta2), got %r" % (betas,))
        betas = tuple(check_scalar(b, "betas[%d]" % i, low=0, high=1, high_open=True)
                      for i, b in enumerate(betas))
        eps = check_scalar(eps, "eps", low=0, low_open=True)
        weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
        return {"betas": betas, "eps": eps, "weight_decay": weight_decay}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        return ("m", "v")

    def _update(self, params, grads, t):
        kernels.adam_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                            self.betas[0], self.betas[1], self.eps, self.weight_decay,
                            check_finite=False)

    def _compiled(self, hp, lr):
        (beta1, beta2) = hp["betas"]
        return (RULE_ADAM, lr, 0.0, False, beta1, beta2, hp["eps"], hp["weight_decay"],
                self.state["m"], self.state["v"], self.t)


# --- the three textbook variants of gradient descent -----------------------------------

class BatchGD(SGD):
    """Batch gradient descent: each step uses the whole training set.

    The gradient is the exact gradient of the full training loss, so steps
    are smooth and deterministic and the loss falls monotonically for a
    small enough ``lr``; but every step costs a pass over all the data and
    there is no noise to escape shallow minima.  Use it for small datasets,
    convex problems (linear or logistic regression) and for checking that a
    model can fit at all.

    Parameters are those of :class:`SGD`.

    Attributes
    ----------
    batch_size : None
        Full batch: every step uses all the training samples.
    """

    batch_size = None


class StochasticGD(SGD):
    """Stochastic gradient descent in the textbook sense: one sample per step.

    Each step follows the gradient of a single sample: cheap, very noisy
    steps, many per epoch, and no use of vectorised batch arithmetic.  The
    noise helps early progress and escaping poor regions, but the rate
    usually has to decay (a :class:`Schedule`) to converge.  Use it for
    online learning, to reproduce the classic algorithm, or on tiny models
    where a batch has nothing to parallelise.

    Parameters are those of :class:`SGD`.

    Attributes
    ----------
    batch_size : int
        1.
    """

    batch_size = 1


class MiniBatchGD(SGD):
    """Mini-batch gradient descent: the usual compromise.

    Each step averages the gradient over ``batch_size`` samples: less noisy
    than one sample, far cheaper per step than the full set, and the batch
    makes the kernels' matrix products efficient.  The default choice for
    neural networks; batch sizes of 16 to 256 are typical.

    Parameters
    ----------
    lr : float or Schedule
        Learning rate, > 0.
    batch_size : int, default 32
        Samples per step, >= 1.
    momentum, nesterov, weight_decay
        As in :class:`SGD`.

    Attributes
    ----------
    batch_size : int
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("batch_size",) + SGD._hyperparameters
    batch_size: int

    def __init__(self, lr: float | Schedule, batch_size: int = 32, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        Optimizer.__init__(self, lr, batch_size=batch_size, momentum=momentum,
                           nesterov=nesterov, weight_decay=weight_decay)

    @classmethod
    def _validate(cls, batch_size=32, **sgd_hyperparameters):
        hp = {"batch_size": check_scalar(batch_size, "batch_size", low=1, integer=True)}
        hp.update(SGD._validate.__func__(cls, **sgd_hyperparameters))
        return hp


_OPTIMIZERS: dict[str, type[Optimizer]] = {cls.__name__: cls for cls in (SGD, Adam, BatchGD, StochasticGD, MiniBatchGD)}


def optimizer_from_state_dict(state_dict: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer of the right class from :meth:`Optimizer.state_dict`.

    Parameters
    ----------
    state_dict : dict
        With ``"type"`` one of 'SGD', 'Adam', 'BatchGD', 'StochasticGD',
        'MiniBatchGD'.

    Returns
    -------
    optimizer : Optimizer
        Unbound, with hyperparameters, schedule, counters and state restored;
        bind it to buffers of the saved size and dtype.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError("state_dict must be a dict, got %s" % type(state_dict).__name__)
    kind = state_dict.get("type")
    if kind not in _OPTIMIZERS:
        raise ValueError("state_dict['type'] must be one of %s, got %r" % (sorted(_OPTIMIZERS), kind))
    cls = _OPTIMIZERS[kind]
    _check_keys(state_dict, "state_dict", _STATE_KEYS)
    _check_keys(state_dict["hyperparameters"], "state_dict['hyperparameters']", cls._hyperparameters)
    opt = cls(schedule_from_dict(state_dict["schedule"]), **state_dict["hyperparameters"])
    opt.load_state_dict(state_dict)
    return opt
