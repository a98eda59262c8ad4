"""Optimizers over one flat parameter buffer: SGD (momentum, Nesterov), Adam (AMSGrad),
AdamW, RMSprop, Adagrad; gradient clipping; learning-rate schedules.

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

(AMSGrad, ``Adam(amsgrad=True)``: v̂ = max(v̂, v) in place of v in the
denominator.)  :class:`AdamW`, :class:`RMSprop` and :class:`Adagrad` follow
``torch.optim.AdamW``, ``RMSprop`` and ``Adagrad``; each class's docstring
writes its update out.

``weight_decay`` is an L2 penalty added to the gradient before the update,
g = grads + weight_decay·params, as in PyTorch's SGD, Adam, RMSprop and
Adagrad; AdamW's is decoupled (params *= 1 − lr·weight_decay).  It applies
to every entry of the flat buffer, biases included, as PyTorch does for a
parameter group holding all parameters.

Every optimizer takes ``clip_value=`` and ``clip_norm=`` (keyword, default
None: off): before each update the gradient's elements are clamped to
[−clip_value, clip_value] (``torch.nn.utils.clip_grad_value_``), then the
whole gradient, all layers together, is scaled by
min(1, clip_norm/(‖g‖₂ + 10⁻⁶)) (``torch.nn.utils.clip_grad_norm_``).  The
L2 weight decay comes after (PyTorch's order: clip ``.grad``, then
``step()``).  In ``fit`` this happens inside the compiled loop after each
step's gradient (and its sum over data-parallel ranks); the norm is summed
on one thread in a fixed order, so any thread count gives the same bits.

The learning rate may follow a schedule (:class:`Constant`,
:class:`StepDecay`, :class:`ExponentialDecay`, :class:`InverseScaling`,
:class:`CosineDecay`, :class:`ReduceLROnPlateau`) evaluated at each epoch
boundary (:meth:`Optimizer.epoch_end`, which ``fit`` calls with the epoch's
logs, as :class:`ReduceLROnPlateau` needs).

Names: :func:`get_optimizer` turns 'sgd', 'adam', 'adamw', 'rmsprop' or
'adagrad' into an optimizer with default hyperparameters (``fit`` accepts
them in place of an instance).

Batch, mini-batch and stochastic gradient descent are one update with
different batch sizes: :class:`BatchGD`, :class:`MiniBatchGD` and
:class:`StochasticGD` are :class:`SGD` with a preset ``batch_size``.

Updates run with ``check_finite=False``: the model validates its data once
per fit, and non-finite weights after training are caught by the model.
"""

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from fastnn import kernels, reference
from fastnn._kernels import optim as _optim
from fastnn._typing import FloatArray
from fastnn._validation import FLOAT_DTYPES, check_disjoint, check_inplace, check_scalar, check_shape

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
    "BatchGD", "StochasticGD", "MiniBatchGD",
    "Schedule", "Constant", "StepDecay", "ExponentialDecay", "InverseScaling",
    "CosineDecay", "ReduceLROnPlateau",
    "get_optimizer", "schedule_from_dict", "optimizer_from_state_dict",
]

#: Rule codes of :meth:`Optimizer.compiled_rule` (fastnn/_kernels/train.pyx).
RULE_GD, RULE_MOMENTUM, RULE_ADAM, RULE_ADAMW, RULE_RMSPROP, RULE_ADAGRAD = 0, 1, 2, 5, 6, 7

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
    #: Attributes that change as training goes (saved by :meth:`to_dict`).
    _state: ClassVar[tuple[str, ...]] = ()
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

    def observe(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Take note of an epoch's results (:meth:`Optimizer.epoch_end` calls it
        before asking for the next rate).  Nothing here; :class:`ReduceLROnPlateau`
        follows the loss.

        Parameters
        ----------
        epoch : int
            Epochs completed, this one included (>= 1).
        logs : dict of str to float
            The epoch's ``fit`` logs: ``'loss'``, and ``'val_loss'`` with
            validation data, ...
        """

    def reset(self) -> None:
        """Forget what :meth:`observe` saw (:meth:`Optimizer.reset`).  Nothing here."""

    def to_dict(self) -> dict[str, Any]:
        """The schedule as a JSON-serialisable dict.

        Returns
        -------
        d : dict
            ``{"type": class name, <argument>: value, ...}``, and the values of
            what it has observed for a stateful schedule; rebuild it with
            :func:`schedule_from_dict`.
        """
        return {"type": type(self).__name__,
                **{k: getattr(self, k) for k in self._fields + self._state}}

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


class CosineDecay(Schedule):
    """Cosine decay from lr to min_lr over ``total_epochs``, after an optional linear warm-up.

    With W = ``warmup_epochs`` and T = ``total_epochs`` − W, the rate of epoch
    e (counting from 0) is::

        e < W:          lr·(e + 1)/(W + 1)
        W ≤ e < W + T:  min_lr + (lr − min_lr)·(1 + cos(π·(e − W)/T))/2
        later:          min_lr

    so a ``fit(epochs=total_epochs)`` climbs to lr at epoch W and ends just above
    min_lr.  This is PyTorch's ``CosineAnnealingLR(T_max=T, eta_min=min_lr)``
    stepped per epoch (held at min_lr after T instead of rising again), after
    ``LinearLR(start_factor=1/(W+1), total_iters=W)`` (``SequentialLR``).

    Parameters
    ----------
    lr : float
        The peak learning rate, > 0.
    total_epochs : int
        Epochs of warm-up and decay together, >= 1.
    min_lr : float, default 0
        The final rate, in [0, lr].  (A rate of 0 is held at the smallest
        positive double.)
    warmup_epochs : int, default 0
        Epochs of linear warm-up, in [0, total_epochs).
    """

    _fields = ("lr", "total_epochs", "min_lr", "warmup_epochs")

    def __init__(self, lr: float, total_epochs: int, min_lr: float = 0.0,
                 warmup_epochs: int = 0) -> None:
        self.lr = _check_lr(lr)
        self.total_epochs: int = check_scalar(total_epochs, "total_epochs", low=1, integer=True)
        self.min_lr: float = check_scalar(min_lr, "min_lr", low=0, high=self.lr)
        self.warmup_epochs: int = check_scalar(warmup_epochs, "warmup_epochs", low=0,
                                               high=self.total_epochs, high_open=True,
                                               integer=True)

    def _value(self, epoch):
        warmup = self.warmup_epochs
        if epoch < warmup:
            return self.lr * (epoch + 1) / (warmup + 1)
        progress = min(1.0, (epoch - warmup) / (self.total_epochs - warmup))
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class ReduceLROnPlateau(Schedule):
    """Divide the rate when the loss stops falling (PyTorch's ``ReduceLROnPlateau``).

    After each epoch (:meth:`observe`, with ``fit``'s logs) the monitored loss
    counts as an improvement when it is below the best so far minus
    ``min_delta``; otherwise the epoch is a bad one.  After more than
    ``patience`` bad epochs in a row the rate becomes max(rate·factor, min_lr)
    (ignored when that changes it by 10⁻⁸ or less), the count restarts, and
    the next ``cooldown`` epochs count no bad epochs.  This is
    ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min', factor, patience,
    threshold=min_delta, threshold_mode='abs', cooldown, min_lr)`` stepped with
    the epoch's loss.

    It holds state (the current rate, the best loss, the counts), saved with
    the optimizer's state: give each optimizer its own.

    Parameters
    ----------
    lr : float
        The initial learning rate, > 0.
    factor : float, default 0.1
        In (0, 1).
    patience : int, default 10
        Bad epochs tolerated before a reduction, >= 0.
    min_delta : float, default 1e-4
        The least fall that counts as an improvement, >= 0.
    min_lr : float, default 0
        The rate is never reduced below it; in [0, lr].
    cooldown : int, default 0
        Epochs after a reduction during which no bad epochs are counted, >= 0.
    monitor : {'auto', 'loss', 'val_loss'}, default 'auto'
        The logged loss to follow; 'auto': ``val_loss`` when ``fit`` has
        validation data, else ``loss`` (what ``fit``'s early stopping follows).

    Attributes
    ----------
    current : float
        The rate now.
    best : float or None
        The lowest loss seen (None before the first epoch).
    bad_epochs, cooldown_left : int
    """

    _fields = ("lr", "factor", "patience", "min_delta", "min_lr", "cooldown", "monitor")
    _state = ("current", "best", "bad_epochs", "cooldown_left")
    _MONITORS = ("auto", "loss", "val_loss")
    _EPS = 1e-8     # PyTorch's eps: smaller reductions are ignored

    def __init__(self, lr: float, factor: float = 0.1, patience: int = 10,
                 min_delta: float = 1e-4, min_lr: float = 0.0, cooldown: int = 0,
                 monitor: str = "auto") -> None:
        self.lr = _check_lr(lr)
        self.factor: float = check_scalar(factor, "factor", low=0, high=1, low_open=True,
                                          high_open=True)
        self.patience: int = check_scalar(patience, "patience", low=0, integer=True)
        self.min_delta: float = check_scalar(min_delta, "min_delta", low=0)
        self.min_lr: float = check_scalar(min_lr, "min_lr", low=0, high=self.lr)
        self.cooldown: int = check_scalar(cooldown, "cooldown", low=0, integer=True)
        if monitor not in self._MONITORS:
            raise ValueError("monitor must be one of %s, got %r" % (list(self._MONITORS), monitor))
        self.monitor: str = monitor
        self.reset()

    def reset(self) -> None:
        self.current: float = self.lr
        self.best: float | None = None
        self.bad_epochs: int = 0
        self.cooldown_left: int = 0

    def _value(self, epoch):
        return self.current

    def observe(self, epoch: int, logs: Mapping[str, float]) -> None:
        key = self.monitor
        if key == "auto":
            key = "val_loss" if "val_loss" in logs else "loss"
        if key not in logs:
            raise ValueError("ReduceLROnPlateau(monitor=%r) needs %r in the epoch's logs, which "
                             "hold %s%s" % (self.monitor, key, sorted(logs),
                                            "; fit with validation data" if key == "val_loss"
                                            else ""))
        value = float(logs[key])
        best = math.inf if self.best is None else self.best
        if value < best - self.min_delta:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            reduced = max(self.current * self.factor, self.min_lr)
            if self.current - reduced > self._EPS:
                self.current = reduced
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

    def _restore(self, d):
        current = check_scalar(d["current"], "schedule['current']", low=0, low_open=True)
        best = d["best"]
        if best is not None:
            best = check_scalar(best, "schedule['best']")
        bad = check_scalar(d["bad_epochs"], "schedule['bad_epochs']", low=0, integer=True)
        left = check_scalar(d["cooldown_left"], "schedule['cooldown_left']", low=0,
                            integer=True)
        self.current, self.best, self.bad_epochs, self.cooldown_left = current, best, bad, left


_SCHEDULES: dict[str, type[Schedule]] = {
    cls.__name__: cls for cls in (Constant, StepDecay, ExponentialDecay, InverseScaling,
                                  CosineDecay, ReduceLROnPlateau)}


def _check_keys(d, name, expected, optional=()):
    """Raise ValueError unless mapping ``d`` has exactly the keys ``expected``
    (those also in ``optional`` may be missing)."""
    if not isinstance(d, Mapping):
        raise TypeError("%s must be a dict, got %s" % (name, type(d).__name__))
    missing = [k for k in expected if k not in d and k not in optional]
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
        "InverseScaling" | "CosineDecay" | "ReduceLROnPlateau", <argument>:
        value, ...}`` (and a stateful schedule's state).

    Returns
    -------
    schedule : Schedule
        Its arguments validated as by the constructor, its state restored.
    """
    if not isinstance(d, Mapping):
        raise TypeError("schedule must be a dict, got %s" % type(d).__name__)
    kind = d.get("type")
    if kind not in _SCHEDULES:
        raise ValueError("schedule['type'] must be one of %s, got %r" % (sorted(_SCHEDULES), kind))
    cls = _SCHEDULES[kind]
    _check_keys(d, "schedule", ("type",) + cls._fields + cls._state)
    schedule = cls(**{k: d[k] for k in cls._fields})
    if cls._state:
        schedule._restore(d)
    return schedule


def _as_schedule(lr: float | Schedule) -> Schedule:
    return lr if isinstance(lr, Schedule) else Constant(lr)


# --- optimizers -------------------------------------------------------------------------

_STATE_KEYS = ("type", "hyperparameters", "schedule", "t", "epoch", "lr", "state")
#: Keyword arguments of every optimizer (saved with its hyperparameters).
_CLIP_KEYS = ("clip_value", "clip_norm")


def _check_clip(clip_value=None, clip_norm=None):
    """{"clip_value": None or > 0, "clip_norm": None or > 0}."""
    return {name: None if value is None else check_scalar(value, name, low=0, low_open=True)
            for name, value in (("clip_value", clip_value), ("clip_norm", clip_norm))}


class Optimizer:
    """Base class: bookkeeping shared by every optimizer of a flat buffer.

    Subclasses define the hyperparameters (``_hyperparameters``, validated by
    ``_validate``), the state they keep (``_state_names_for``, starting at
    ``_initial_state``), the update by the compiled kernels (``_update``) and
    by fastnn.reference (``_reference_update``), and the compiled loop's rule
    (``_compiled``, ``_compiled_options``); this class binds the buffers,
    allocates state, clips gradients, counts steps and epochs, follows the
    learning-rate schedule and saves and restores it all.

    Parameters
    ----------
    lr : float or Schedule
        The learning rate (> 0), or a schedule giving it per epoch.
    clip_value : float or None, default None
        Clamp each gradient element to [−clip_value, clip_value] (> 0) before
        the update.
    clip_norm : float or None, default None
        Scale the whole gradient by min(1, clip_norm/(‖g‖₂ + 10⁻⁶)) (> 0)
        before the update, after ``clip_value``.  Not with data-parallel
        ``fit(comm=...)`` (:meth:`check_data_parallel`).
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
    #: Hyperparameters that older saved state dicts may lack (their defaults apply).
    _added_hyperparameters: ClassVar[tuple[str, ...]] = _CLIP_KEYS
    schedule: Schedule
    lr: float
    t: int
    epoch: int
    state: dict[str, FloatArray]
    clip_value: float | None
    clip_norm: float | None

    def __init__(self, lr: float | Schedule, *, clip_value: float | None = None,
                 clip_norm: float | None = None, **hyperparameters: Any) -> None:
        schedule = _as_schedule(lr)
        self._assign(self._validate(**hyperparameters))
        self._assign(_check_clip(clip_value, clip_norm))
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

    def _initial_state(self, name):
        """The value state array ``name`` starts at (and returns to on reset)."""
        return 0.0

    def _update(self, params, grads, t):
        """Step t (>= 1) of the compiled kernels, the gradient already clipped."""
        raise NotImplementedError

    def _reference_update(self, params, grads, t):
        """The same step by fastnn.reference."""
        raise NotImplementedError

    def _compiled_options(self, hp):
        """This rule's keyword arguments of train_samples beyond the defaults."""
        return {}

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
                    self.state[name] = np.full_like(self._params, self._initial_state(name))

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
        if self.clip_value is not None or self.clip_norm is not None:
            _optim.clip_gradients(grads, self.clip_value or 0.0, self.clip_norm or 0.0)
        self._update(params, grads, t)
        self.t = t

    def reference_step(self, t: int) -> None:
        """Step ``t`` by :mod:`fastnn.reference` on the bound buffers, clipping included.

        What :meth:`step` does with the compiled kernels, for the NumPy
        backend (``Sequential(backend='numpy')``), which counts the steps
        itself: ``self.t`` is left alone.

        Parameters
        ----------
        t : int
            The step's number, >= 1 (Adam's bias correction, Adagrad's decay).

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        params, grads = self._bound("reference_step")
        t = check_scalar(t, "t", low=1, integer=True)
        if self.clip_value is not None or self.clip_norm is not None:
            reference.clip_gradients(grads, self.clip_value or 0.0, self.clip_norm or 0.0)
        self._reference_update(params, grads, t)

    def zero_grad(self) -> None:
        """Fill the bound grads of shape (n_params,) with zeros.

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        _, grads = self._bound("zero_grad")
        grads.fill(0)

    def epoch_end(self, logs: Mapping[str, float] | None = None) -> float:
        """Count a completed epoch and move the learning rate along the schedule.

        Parameters
        ----------
        logs : dict of str to float, optional
            The epoch's results (``fit`` passes its logs: ``'loss'``,
            ``'val_loss'``, ...), shown to the schedule first
            (:meth:`Schedule.observe`; :class:`ReduceLROnPlateau` needs them).

        Returns
        -------
        lr : float
            The new learning rate, ``schedule(epoch)``.
        """
        self.epoch += 1
        if logs is not None:
            self.schedule.observe(self.epoch, logs)
        self.lr = self.schedule(self.epoch)
        return self.lr

    def reset(self) -> None:
        """Forget the training so far: t = epoch = 0, the schedule's observations,
        lr = schedule(0), state back to its start (zeros; Adagrad's
        ``initial_accumulator_value``).

        Bound buffers stay bound (their state arrays are reset in place);
        unbound state is dropped.
        """
        self.t = 0
        self.epoch = 0
        self.schedule.reset()
        self.lr = self.schedule(0)
        if self._params is None:
            self.state = {}
        else:
            for name, arr in self.state.items():
                arr.fill(self._initial_state(name))

    def check_data_parallel(self) -> None:
        """Raise ValueError unless this optimizer can train data-parallel (``fit(comm=...)``).

        ``clip_norm`` needs the norm of the whole gradient, and ranks sharing a
        machine each sum and update only a slice of it; ``clip_value`` is
        elementwise and works.
        """
        if self.clip_norm is not None:
            raise ValueError("clip_norm=%r cannot be used with data-parallel training (comm=): "
                             "the ranks each hold a slice of the summed gradient, not its "
                             "whole norm; use clip_value, or train without comm"
                             % (self.clip_norm,))

    def compiled_rule(self) -> tuple[int, float, float, bool, float, float, float, float,
                                      FloatArray | None, FloatArray | None, int]:
        """The update rule as plain values, for the compiled training loop.

        The first eleven positional arguments of
        ``fastnn._kernels.train.train_samples`` from ``rule``;
        :meth:`compiled_options` gives its keyword arguments for the rest.

        Returns
        -------
        rule : int
            0 = plain gradient descent, 1 = momentum, 2 = Adam, 5 = AdamW,
            6 = RMSprop, 7 = Adagrad.
        lr : float
            The current learning rate.
        momentum : float
            μ (0.0 unless rule 1 or 6).
        nesterov : bool
        beta1, beta2, eps : float
            Adam's and AdamW's (rules 2, 5); RMSprop's ρ is beta2 and its eps
            eps; Adagrad's eps is eps; else 0.0.
        weight_decay : float
            AdamW's is decoupled; the others' is added to the gradient.
        state1, state2 : ndarray of shape (n_params,) or None
            Rule 1: velocity, None.  Rules 2 and 5: m, v.  Rule 6: square_avg,
            momentum_buffer (None without momentum).  Rule 7: sum, None.
            Rule 0: None, None.  Updated in place by the loop.
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

    def compiled_options(self) -> dict[str, Any]:
        """The keyword arguments of ``train_samples`` beyond :meth:`compiled_rule`.

        Returns
        -------
        options : dict
            ``state3`` (ndarray of shape (n_params,) or None: AMSGrad's v_max,
            centered RMSprop's grad_avg; updated in place by the loop),
            ``amsgrad`` and ``centered`` (bool), ``lr_decay`` (Adagrad's),
            ``clip_value`` and ``clip_norm`` (float, 0.0: off).

        Raises
        ------
        RuntimeError
            Before :meth:`bind`.
        """
        self._bound("compiled_options")
        hp = self._validate(**self._current_hyperparameters())
        clip = _check_clip(self.clip_value, self.clip_norm)
        options = {"state3": None, "amsgrad": False, "centered": False, "lr_decay": 0.0,
                   "clip_value": clip["clip_value"] or 0.0,
                   "clip_norm": clip["clip_norm"] or 0.0}
        options.update(self._compiled_options(hp))
        return options

    def state_arrays(self) -> tuple[FloatArray | None, FloatArray | None, FloatArray | None]:
        """The state arrays the compiled loop updates: (state1, state2, state3), None
        for those unused (:meth:`compiled_rule`, :meth:`compiled_options`)."""
        return self.compiled_rule()[8:10] + (self.compiled_options()["state3"],)

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
            ``{"type": class name, "hyperparameters": {..., "clip_value": ...,
            "clip_norm": ...}, "schedule": schedule.to_dict(), "t": int,
            "epoch": int, "lr": float, "state":
            {name: ndarray of shape (n_params,)}}``.  Apart from the arrays
            in ``state`` (copies, empty before :meth:`bind`), every value is a
            JSON-serialisable scalar, string, list or dict.
        """
        names = self._state_names()
        hp = {k: list(v) if isinstance(v, tuple) else v
              for k, v in self._current_hyperparameters().items()}
        hp.update(clip_value=self.clip_value, clip_norm=self.clip_norm)
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
        hp, clip = self._split_hyperparameters(d["hyperparameters"])
        schedule = schedule_from_dict(d["schedule"])
        t = check_scalar(d["t"], "state_dict['t']", low=0, integer=True)
        epoch = check_scalar(d["epoch"], "state_dict['epoch']", low=0, integer=True)
        lr = check_scalar(d["lr"], "state_dict['lr']", low=0, low_open=True)
        state = self._check_state(d["state"], self._state_names_for(hp))

        self._assign(hp)
        self._assign(clip)
        self.schedule, self.t, self.epoch, self.lr = schedule, t, epoch, lr
        if self._params is None:
            self.state = {k: np.array(v, order="C") for k, v in state.items()}
        else:
            self._sync_state()
            for name, arr in self.state.items():
                if name in state:
                    np.copyto(arr, state[name])
                else:
                    arr.fill(self._initial_state(name))

    @classmethod
    def _split_hyperparameters(cls, d):
        """(this class's hyperparameters, the clipping's) from a state dict's,
        validated; older dicts may lack ``_added_hyperparameters``."""
        name = "state_dict['hyperparameters']"
        _check_keys(d, name, cls._hyperparameters + _CLIP_KEYS, cls._added_hyperparameters)
        hp = cls._validate(**{k: v for k, v in d.items() if k not in _CLIP_KEYS})
        return hp, _check_clip(**{k: v for k, v in d.items() if k in _CLIP_KEYS})

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
        args += ["%s=%r" % (k, getattr(self, k)) for k in _CLIP_KEYS if getattr(self, k) is not None]
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
    clip_value, clip_norm : float or None, default None
        Gradient clipping before each update (keyword only; see :class:`Optimizer`).

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
                 weight_decay: float = 0.0, *, clip_value: float | None = None,
                 clip_norm: float | None = None) -> None:
        super().__init__(lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                         clip_value=clip_value, clip_norm=clip_norm)

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

    def _reference_update(self, params, grads, t):
        if self.momentum > 0:
            reference.momentum_update(params, grads, self.state["velocity"], self.lr,
                                      self.momentum, self.nesterov, self.weight_decay)
        else:
            reference.sgd_update(params, grads, self.lr, self.weight_decay)

    def _compiled(self, hp, lr):
        if hp["momentum"] > 0:
            return (RULE_MOMENTUM, lr, hp["momentum"], hp["nesterov"], 0.0, 0.0, 0.0,
                    hp["weight_decay"], self.state["velocity"], None, self.t)
        return (RULE_GD, lr, 0.0, False, 0.0, 0.0, 0.0, hp["weight_decay"], None, None, self.t)


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
        raise TypeError("betas must be a pair (beta1, beta2), got %r" % (betas,))
    if len(betas) != 2:
        raise ValueError("betas must be a pair (beta1, beta2), got %r" % (betas,))
    return tuple(check_scalar(b, "betas[%d]" % i, low=0, high=1, high_open=True)
                 for i, b in enumerate(betas))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), in PyTorch's form with L2 weight decay; AMSGrad optional.

    With g = grads + weight_decay·params and t the step number (from 1)::

        m = β₁·m + (1−β₁)·g;   v = β₂·v + (1−β₂)·g²
        p = p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps)

    With ``amsgrad`` (Reddi et al., 2018, as ``torch.optim.Adam(amsgrad=True)``),
    v̂ = max(v̂, v) (from v̂ = 0) takes v's place in the last line.

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
    amsgrad : bool, default False
        Keep the running maximum of v and divide by its root.
    clip_value, clip_norm : float or None, default None
        Gradient clipping before each update (keyword only; see :class:`Optimizer`).

    Attributes
    ----------
    state : dict
        ``{"m": ndarray of shape (n_params,), "v": ndarray of shape (n_params,)}``,
        and ``"v_max"`` with amsgrad.
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("betas", "eps", "weight_decay", "amsgrad")
    _added_hyperparameters = _CLIP_KEYS + ("amsgrad",)
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    amsgrad: bool

    def __init__(self, lr: float | Schedule = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 clip_value: float | None = None, clip_norm: float | None = None) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         clip_value=clip_value, clip_norm=clip_norm)

    @classmethod
    def _validate(cls, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        return {"betas": _check_betas(betas), "eps": check_scalar(eps, "eps", low=0, low_open=True),
                "weight_decay": check_scalar(weight_decay, "weight_decay", low=0),
                "amsgrad": _check_bool(amsgrad, "amsgrad")}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        return ("m", "v", "v_max") if hyperparameters["amsgrad"] else ("m", "v")

    def _update(self, params, grads, t):
        if self.amsgrad:
            _optim.adam_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                               self.betas[0], self.betas[1], self.eps, self.weight_decay, 0,
                               self.state["v_max"])
        else:
            kernels.adam_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                                self.betas[0], self.betas[1], self.eps, self.weight_decay,
                                check_finite=False)

    def _reference_update(self, params, grads, t):
        reference.adam_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                              self.betas[0], self.betas[1], self.eps, self.weight_decay,
                              self.state.get("v_max"))

    def _compiled(self, hp, lr):
        (beta1, beta2) = hp["betas"]
        return (RULE_ADAM, lr, 0.0, False, beta1, beta2, hp["eps"], hp["weight_decay"],
                self.state["m"], self.state["v"], self.t)

    def _compiled_options(self, hp):
        if hp["amsgrad"]:
            return {"amsgrad": True, "state3": self.state["v_max"]}
        return {}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    With g = grads (no decay added) and t the step number (from 1)::

        p = p·(1 − lr·weight_decay)
        m = β₁·m + (1−β₁)·g;   v = β₂·v + (1−β₂)·g²
        p = p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + eps)

    (AMSGrad: v̂ = max(v̂, v) in place of v in the last line.)  The decay
    shrinks every parameter, biases included, by the current lr (undivided
    by the bias correction), as PyTorch does.

    Parameters
    ----------
    lr : float or Schedule, default 1e-3
        Learning rate, > 0, or a schedule of it per epoch.
    betas : (float, float), default (0.9, 0.999)
        β₁ and β₂, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0.01
        Decoupled decay λ, >= 0.
    amsgrad : bool, default False
    clip_value, clip_norm : float or None, default None
        Gradient clipping before each update (keyword only; see :class:`Optimizer`).

    Attributes
    ----------
    state : dict
        ``{"m": ..., "v": ...}`` (and ``"v_max"`` with amsgrad), each of shape (n_params,).
    """

    _added_hyperparameters = _CLIP_KEYS

    def __init__(self, lr: float | Schedule = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False, *,
                 clip_value: float | None = None, clip_norm: float | None = None) -> None:
        Optimizer.__init__(self, lr, betas=betas, eps=eps, weight_decay=weight_decay,
                           amsgrad=amsgrad, clip_value=clip_value, clip_norm=clip_norm)

    @classmethod
    def _validate(cls, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
        return Adam._validate.__func__(cls, betas, eps, weight_decay, amsgrad)

    def _update(self, params, grads, t):
        _optim.adamw_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                            self.betas[0], self.betas[1], self.eps, self.weight_decay,
                            self.state.get("v_max"))

    def _reference_update(self, params, grads, t):
        reference.adamw_update(params, grads, self.state["m"], self.state["v"], t, self.lr,
                               self.betas[0], self.betas[1], self.eps, self.weight_decay,
                               self.state.get("v_max"))

    def _compiled(self, hp, lr):
        return (RULE_ADAMW,) + super()._compiled(hp, lr)[1:]


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), as ``torch.optim.RMSprop`` with alpha = ``rho``.

    With g = grads + weight_decay·params::

        s = ρ·s + (1−ρ)·g²
        d = √s + eps                       (centered: ḡ = ρ·ḡ + (1−ρ)·g;
                                            d = √(s − ḡ²) + eps)
        momentum = 0:  p = p − lr·g/d
        momentum = μ:  b = μ·b + g/d;  p = p − lr·b

    PyTorch updates ḡ with ``lerp``, the same value to rounding.  The
    defaults (lr 1e-3, ρ 0.9) are Keras's and Hinton's; PyTorch's are
    lr=0.01, alpha=0.99.

    Parameters
    ----------
    lr : float or Schedule, default 1e-3
        Learning rate, > 0, or a schedule of it per epoch.
    rho : float, default 0.9
        Decay of the mean square, in [0, 1).
    eps : float, default 1e-8
        Added to the root, > 0.
    momentum : float, default 0
        μ, in [0, 1).
    centered : bool, default False
        Divide by the root of the variance estimate s − ḡ² instead of s.
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient.
    clip_value, clip_norm : float or None, default None
        Gradient clipping before each update (keyword only; see :class:`Optimizer`).

    Attributes
    ----------
    state : dict
        ``{"square_avg": ...}``, with ``"momentum_buffer"`` when momentum > 0
        and ``"grad_avg"`` when centered; each of shape (n_params,).
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("rho", "eps", "momentum", "centered",
                                                    "weight_decay")
    rho: float
    eps: float
    momentum: float
    centered: bool
    weight_decay: float

    def __init__(self, lr: float | Schedule = 1e-3, rho: float = 0.9, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0, *,
                 clip_value: float | None = None, clip_norm: float | None = None) -> None:
        super().__init__(lr, rho=rho, eps=eps, momentum=momentum, centered=centered,
                         weight_decay=weight_decay, clip_value=clip_value, clip_norm=clip_norm)

    @classmethod
    def _validate(cls, rho=0.9, eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
        return {"rho": check_scalar(rho, "rho", low=0, high=1, high_open=True),
                "eps": check_scalar(eps, "eps", low=0, low_open=True),
                "momentum": check_scalar(momentum, "momentum", low=0, high=1, high_open=True),
                "centered": _check_bool(centered, "centered"),
                "weight_decay": check_scalar(weight_decay, "weight_decay", low=0)}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        return (("square_avg",) + (("momentum_buffer",) if hyperparameters["momentum"] > 0 else ())
                + (("grad_avg",) if hyperparameters["centered"] else ()))

    def _update(self, params, grads, t):
        _optim.rmsprop_update(params, grads, self.state["square_avg"], self.lr, self.rho,
                              self.eps, self.weight_decay, self.momentum,
                              self.state.get("momentum_buffer"), self.state.get("grad_avg"))

    def _reference_update(self, params, grads, t):
        reference.rmsprop_update(params, grads, self.state["square_avg"], self.lr, self.rho,
                                 self.eps, self.weight_decay, self.momentum,
                                 self.state.get("momentum_buffer"), self.state.get("grad_avg"))

    def _compiled(self, hp, lr):
        return (RULE_RMSPROP, lr, hp["momentum"], False, 0.0, hp["rho"], hp["eps"],
                hp["weight_decay"], self.state["square_avg"], self.state.get("momentum_buffer"),
                self.t)

    def _compiled_options(self, hp):
        if hp["centered"]:
            return {"centered": True, "state3": self.state["grad_avg"]}
        return {}


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011), as ``torch.optim.Adagrad``.

    With g = grads + weight_decay·params and t the step number (from 1)::

        s = s + g²                         (s starts at initial_accumulator_value)
        p = p − (lr/(1 + (t−1)·lr_decay))·g / (√s + eps)

    Parameters
    ----------
    lr : float or Schedule, default 1e-2
        Learning rate, > 0, or a schedule of it per epoch.
    lr_decay : float, default 0
        Per-step decay of the rate, >= 0.
    eps : float, default 1e-10
        Added to the root, > 0.
    initial_accumulator_value : float, default 0
        The start of s, >= 0.
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient.
    clip_value, clip_norm : float or None, default None
        Gradient clipping before each update (keyword only; see :class:`Optimizer`).

    Attributes
    ----------
    state : dict
        ``{"sum": ndarray of shape (n_params,)}``.
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("lr_decay", "eps",
                                                    "initial_accumulator_value", "weight_decay")
    lr_decay: float
    eps: float
    initial_accumulator_value: float
    weight_decay: float

    def __init__(self, lr: float | Schedule = 1e-2, lr_decay: float = 0.0, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0, *,
                 clip_value: float | None = None, clip_norm: float | None = None) -> None:
        super().__init__(lr, lr_decay=lr_decay, eps=eps,
                         initial_accumulator_value=initial_accumulator_value,
                         weight_decay=weight_decay, clip_value=clip_value, clip_norm=clip_norm)

    @classmethod
    def _validate(cls, lr_decay=0.0, eps=1e-10, initial_accumulator_value=0.0, weight_decay=0.0):
        return {"lr_decay": check_scalar(lr_decay, "lr_decay", low=0),
                "eps": check_scalar(eps, "eps", low=0, low_open=True),
                "initial_accumulator_value": check_scalar(
                    initial_accumulator_value, "initial_accumulator_value", low=0),
                "weight_decay": check_scalar(weight_decay, "weight_decay", low=0)}

    @classmethod
    def _state_names_for(cls, hyperparameters):
        return ("sum",)

    def _initial_state(self, name):
        return self.initial_accumulator_value

    def _update(self, params, grads, t):
        _optim.adagrad_update(params, grads, self.state["sum"], t, self.lr, self.lr_decay,
                              self.eps, self.weight_decay)

    def _reference_update(self, params, grads, t):
        reference.adagrad_update(params, grads, self.state["sum"], t, self.lr, self.lr_decay,
                                 self.eps, self.weight_decay)

    def _compiled(self, hp, lr):
        return (RULE_ADAGRAD, lr, 0.0, False, 0.0, 0.0, hp["eps"], hp["weight_decay"],
                self.state["sum"], None, self.t)

    def _compiled_options(self, hp):
        return {"lr_decay": hp["lr_decay"]}


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
    momentum, nesterov, weight_decay, clip_value, clip_norm
        As in :class:`SGD`.

    Attributes
    ----------
    batch_size : int
    """

    _hyperparameters: ClassVar[tuple[str, ...]] = ("batch_size",) + SGD._hyperparameters
    batch_size: int

    def __init__(self, lr: float | Schedule, batch_size: int = 32, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, *,
                 clip_value: float | None = None, clip_norm: float | None = None) -> None:
        Optimizer.__init__(self, lr, batch_size=batch_size, momentum=momentum,
                           nesterov=nesterov, weight_decay=weight_decay,
                           clip_value=clip_value, clip_norm=clip_norm)

    @classmethod
    def _validate(cls, batch_size=32, **sgd_hyperparameters):
        hp = {"batch_size": check_scalar(batch_size, "batch_size", low=1, integer=True)}
        hp.update(SGD._validate.__func__(cls, **sgd_hyperparameters))
        return hp


_OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, BatchGD, StochasticGD,
                                  MiniBatchGD)}

#: What :func:`get_optimizer` makes of a name.
_BY_NAME: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {"lr": 0.01}), "adam": (Adam, {}), "adamw": (AdamW, {}),
    "rmsprop": (RMSprop, {}), "adagrad": (Adagrad, {})}


def get_optimizer(optimizer: "Optimizer | type[Optimizer] | str") -> Optimizer:
    """An optimizer from an instance (returned as is), a class or a name.

    Names, with their default hyperparameters:

    ==========  =====================================================================
    'sgd'       ``SGD(lr=0.01)``: no momentum, no weight decay
    'adam'      ``Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)``
    'adamw'     ``AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)``
    'rmsprop'   ``RMSprop(lr=1e-3, rho=0.9, eps=1e-8)``
    'adagrad'   ``Adagrad(lr=1e-2, eps=1e-10)``
    ==========  =====================================================================

    A class is built with its defaults (lr=0.01 for SGD and its presets, which
    have no default).  A name or class makes a new optimizer, with fresh state,
    at every call: pass an instance to continue training with the same state.

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones).
    TypeError
        Anything else that is not an optimizer.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer) \
            and optimizer is not Optimizer:
        return optimizer(**({"lr": 0.01} if issubclass(optimizer, SGD) else {}))
    if isinstance(optimizer, str):
        if optimizer in _BY_NAME:
            cls, kwargs = _BY_NAME[optimizer]
            return cls(**kwargs)
        raise ValueError("optimizer must be a fastnn optimizer or one of %s, got %r"
                         % (sorted(_BY_NAME), optimizer))
    raise TypeError("optimizer must be a fastnn optimizer (fastnn.SGD, fastnn.Adam, ...) or one "
                    "of %s, got %r" % (sorted(_BY_NAME), optimizer))


def optimizer_from_state_dict(state_dict: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer of the right class from :meth:`Optimizer.state_dict`.

    Parameters
    ----------
    state_dict : dict
        With ``"type"`` one of 'SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad',
        'BatchGD', 'StochasticGD', 'MiniBatchGD'.

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
    hp, clip = cls._split_hyperparameters(state_dict["hyperparameters"])
    opt = cls(schedule_from_dict(state_dict["schedule"]), **hp, **clip)
    opt.load_state_dict(state_dict)
    return opt
