"""Layers: ``Dense`` and the activation layers a ``Sequential`` model is made of.

A model is a list such as ``[Dense(784, 30), Sigmoid(), Dense(30, 10), Sigmoid()]``.
Each activation applies to the Dense layer before it (a Dense layer with no
activation after it is linear); the model fuses each pair into one compiled
forward kernel.  Weights have shape (n_in, n_out): a batch X of shape
(n_samples, n_in) maps to X·W + b of shape (n_samples, n_out).
"""

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from fastnn._typing import FloatArray
from fastnn._validation import check_scalar

__all__ = ["Dense", "Identity", "Sigmoid", "Tanh", "ReLU", "Softmax", "Step", "LeakyReLU",
           "GELU", "Softplus", "LogSoftmax", "Dropout", "BatchNorm", "LayerNorm", "INITIALIZERS"]


def _glorot_uniform(rng, n_in, n_out):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out))


def _glorot_normal(rng, n_in, n_out):
    return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))


def _he_uniform(rng, n_in, n_out):
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, (n_in, n_out))


def _he_normal(rng, n_in, n_out):
    return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)


def _lecun_normal(rng, n_in, n_out):
    return rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)


def _standard_normal(rng, n_in, n_out):
    return rng.standard_normal((n_in, n_out))


#: An initialiser: ``f(rng, n_in, n_out)`` -> weights of shape (n_in, n_out), float64.
Initializer = Callable[[np.random.Generator, int, int], FloatArray]

#: Weight initialisers by name: Glorot/Xavier (sigmoid, tanh, softmax, linear),
#: He (ReLU), LeCun, and Nielsen's network.py N(0, 1) ("standard_normal", which
#: also draws the biases from N(0, 1); every other initialiser zeroes them).
INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "lecun_normal": _lecun_normal,
    "standard_normal": _standard_normal,
}


class Dense:
    """Fully connected layer: Z = X·W + b.

    Parameters
    ----------
    n_in : int
        Inputs per sample.
    n_out : int
        Outputs per sample (units).
    init : str, optional
        Weight initialiser, one of ``INITIALIZERS``.  Default: ``'he_normal'``
        when a ReLU or LeakyReLU follows the layer, ``'glorot_uniform'`` otherwise.

    Notes
    -----
    The weights live in the model's flat parameter buffer; ``W`` and ``b`` are
    views of it of shapes (n_in, n_out) and (n_out,) once the model is built.
    """

    def __init__(self, n_in: int, n_out: int, init: str | None = None) -> None:
        self.n_in: int = check_scalar(n_in, "n_in", low=1, integer=True)
        self.n_out: int = check_scalar(n_out, "n_out", low=1, integer=True)
        if init is not None and init not in INITIALIZERS:
            raise ValueError("init must be one of %s, got %r" % (sorted(INITIALIZERS), init))
        self.init = init
        self.W: FloatArray | None = None
        self.b: FloatArray | None = None

    def initialize(self, rng: np.random.Generator, activation: str | None) -> None:
        """Fill W and b (views into the model's buffer) using ``rng``."""
        name = self.init or ("he_normal" if activation in ("relu", "leaky_relu")
                             else "glorot_uniform")
        # W and b are set (views of the model's buffer) before the model calls this
        self.W[...] = INITIALIZERS[name](rng, self.n_in, self.n_out)  # type: ignore[index]
        self.b[...] = (rng.standard_normal(self.n_out)  # type: ignore[index]
                       if name == "standard_normal" else 0)

    def get_config(self) -> dict[str, Any]:
        return {"type": "Dense", "n_in": self.n_in, "n_out": self.n_out, "init": self.init}

    def __repr__(self) -> str:
        init = "" if self.init is None else ", init=%r" % self.init
        return "Dense(%d, %d%s)" % (self.n_in, self.n_out, init)


class Activation:
    """An activation layer; ``name`` is the kernel's name for it."""

    name: ClassVar[str | None] = None

    @property
    def kernel_param(self) -> float:
        """The activation's parameter as the kernels take it (LeakyReLU's alpha;
        0.0 for activations without one)."""
        return 0.0

    def get_config(self) -> dict[str, Any]:
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        return "%s()" % type(self).__name__


class Identity(Activation):
    """f(z) = z: a linear output (regression)."""
    name = "identity"


class Sigmoid(Activation):
    """f(z) = 1/(1+e^−z): the smooth, differentiable replacement of the threshold unit."""
    name = "sigmoid"


class Tanh(Activation):
    """f(z) = tanh z, a sigmoid rescaled to (−1, 1)."""
    name = "tanh"


class ReLU(Activation):
    """f(z) = max(z, 0)."""
    name = "relu"


class Softmax(Activation):
    """Row-wise f(z)ⱼ = e^zⱼ / Σₖ e^zₖ: class probabilities."""
    name = "softmax"


class Step(Activation):
    """The perceptron's threshold unit: 1 where z > 0, else 0.

    Usable for prediction only: it has no useful gradient, so training a model
    that contains it raises an error explaining why ``Sigmoid`` exists.
    """
    name = "step"


class LeakyReLU(Activation):
    """f(z) = z for z ≥ 0, alpha·z below: a ReLU whose units never go silent.

    Parameters
    ----------
    alpha : float, default 0.01
        The slope below 0, finite and >= 0 (0 is ReLU).  Its derivative
        (1 where f(z) > 0, else alpha) is taken from the output.
    """
    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha: float = check_scalar(alpha, "alpha", low=0)

    @property
    def kernel_param(self) -> float:
        return self.alpha

    def get_config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "alpha": self.alpha}

    def __repr__(self) -> str:
        return "LeakyReLU(alpha=%r)" % self.alpha


class GELU(Activation):
    """f(z) = z·Φ(z) = ½·z·(1 + erf(z/√2)), the exact form (PyTorch's
    ``GELU(approximate='none')``).

    Its derivative Φ(z) + z·φ(z) needs z, not f(z): in training, the model
    keeps the layer's pre-activations in a buffer allocated once per fit.
    """
    name = "gelu"


class Softplus(Activation):
    """f(z) = log(1 + e^z), computed as log1p(exp(−|z|)) + max(z, 0), which
    never overflows; a smooth ReLU.  Its derivative, σ(z) = 1 − e^−f(z), is
    taken from the output."""
    name = "softplus"


class LogSoftmax(Activation):
    """Row-wise f(z)ⱼ = zⱼ − log Σₖ e^zₖ (stable: the row maximum is
    subtracted first): log-probabilities.

    For classification, a linear output with ``CrossEntropyFromLogitsLoss``
    trains the same network with the log-softmax fused into the loss; the
    cross-entropy losses do not take log-probabilities.
    """
    name = "log_softmax"


class Dropout:
    """Inverted dropout after a hidden layer: while training, each unit of each
    sample is zeroed with probability ``rate`` and the others scaled by
    1/(1 − rate); ``predict`` and ``evaluate`` pass values through.

    The mask of a unit is a function of the model's dropout key (from its
    seed), the optimizer's epoch count, the layer and the sample's row in the
    training set (csrc/dropout.h): not of the thread count, the batch size or
    the rank holding the row, so training stays bit-reproducible.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of units dropped.  0 keeps every unit.
    """

    def __init__(self, rate: float) -> None:
        self.rate: float = check_scalar(rate, "rate", low=0, high=1, high_open=True)

    def get_config(self) -> dict[str, Any]:
        return {"type": "Dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return "Dropout(%r)" % self.rate


class Normalization:
    """Base of the normalization layers: ``out = γ·(x − μ)/√(σ² + ε) + β``
    over a Dense layer's units, placed right after the Dense layer (before
    its activation) or after its activation.  ``gamma`` (γ, starting at 1)
    and ``beta`` (β, starting at 0) of shape (units,) are trained with the
    weights (an L2 penalty or weight decay leaves them alone, as it does the
    biases); they are views of the model's parameter buffer once the model is
    built.  ``kind`` is the kernel's name ('batch' or 'layer')."""

    kind: ClassVar[str]

    def __init__(self, eps: float) -> None:
        self.eps: float = check_scalar(eps, "eps", low=0, low_open=True)
        self.gamma: FloatArray | None = None
        self.beta: FloatArray | None = None


class BatchNorm(Normalization):
    """Batch normalization: each unit normalized over the batch's rows.

    While training, μ and σ² (the biased variance) are the batch's, and the
    running statistics move towards them after each batch (PyTorch's
    convention): ``running = (1 − momentum)·running + momentum·batch``, the
    variance's being the unbiased n/(n − 1)·σ²; a batch of one row leaves
    them alone.  ``predict`` and ``evaluate`` use the running statistics
    (``running_mean`` and ``running_var``, of shape (units,), from 0 and 1).
    Not in data-parallel training (each rank would see only its share of a
    batch): use :class:`LayerNorm` there.

    Parameters
    ----------
    momentum : float in [0, 1], default 0.1
        Weight of each batch in the running statistics.
    eps : float > 0, default 1e-5
        Added to σ² before the square root.
    """

    kind = "batch"

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(eps)
        self.momentum: float = check_scalar(momentum, "momentum", low=0, high=1)
        self.running_mean: FloatArray | None = None
        self.running_var: FloatArray | None = None

    def get_config(self) -> dict[str, Any]:
        return {"type": "BatchNorm", "momentum": self.momentum, "eps": self.eps}

    def __repr__(self) -> str:
        return "BatchNorm(momentum=%r, eps=%r)" % (self.momentum, self.eps)


class LayerNorm(Normalization):
    """Layer normalization: each sample's units normalized over themselves
    (μ and the biased σ² of the row), the same in training and inference.

    Parameters
    ----------
    eps : float > 0, default 1e-5
        Added to σ² before the square root.
    """

    kind = "layer"
    momentum = 0.0       # no running statistics

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__(eps)

    def get_config(self) -> dict[str, Any]:
        return {"type": "LayerNorm", "eps": self.eps}

    def __repr__(self) -> str:
        return "LayerNorm(eps=%r)" % self.eps


LAYER_TYPES: dict[str, type[Dense] | type[Activation] | type[Dropout] | type[Normalization]] = {
    cls.__name__: cls for cls in (Dense, Identity, Sigmoid, Tanh, ReLU, Softmax, Step,
                                  LeakyReLU, GELU, Softplus, LogSoftmax, Dropout, BatchNorm,
                                  LayerNorm)}


def layer_from_config(config: dict[str, Any]) -> Dense | Activation | Dropout | Normalization:
    """Rebuild a layer from ``get_config()`` output."""
    if not isinstance(config, dict):
        raise ValueError("a layer config must be a dict, got %r" % (config,))
    kind = config.get("type")
    if kind not in LAYER_TYPES:
        raise ValueError("unknown layer type %r" % (kind,))
    if kind == "Dense":
        return Dense(config["n_in"], config["n_out"], init=config.get("init"))
    if kind == "Dropout":
        return Dropout(config["rate"])
    if kind == "BatchNorm":
        return BatchNorm(config["momentum"], config["eps"])
    if kind == "LayerNorm":
        return LayerNorm(config["eps"])
    if kind == "LeakyReLU":
        return LeakyReLU(config["alpha"])
    return LAYER_TYPES[kind]()
