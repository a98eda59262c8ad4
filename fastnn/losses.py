"""Losses: the quadratic cost, Huber's, and the cross-entropies, each a mean over the batch.

Pass one to ``Sequential.fit`` / ``evaluate`` / ``gradients``.  The model's last
layer gives the outputs (probabilities, for ``BCELoss`` and ``CrossEntropyLoss``;
logits, for the from-logits losses); the model fuses the output activation with
the loss, so that the output delta is (ŷ − y)/n for identity+MSE, sigmoid+BCE
and softmax+cross-entropy, and (softmax(z) − y)/n, (σ(z) − y)/n for the
cross-entropies from logits z.
"""

from typing import Any, ClassVar

from fastnn._validation import check_scalar

__all__ = ["Loss", "MSELoss", "BCELoss", "CrossEntropyLoss", "CrossEntropyFromLogitsLoss",
           "BCEWithLogitsLoss", "HuberLoss", "get_loss", "loss_from_config"]


class Loss:
    """Base class; ``name`` is the kernel's name for the loss."""

    name: ClassVar[str | None] = None
    #: Output activations the loss accepts (None: any).
    output_activations: ClassVar[tuple[str, ...] | None] = None
    #: Whether targets are classes (accuracy is reported, integer labels accepted).
    classification: ClassVar[bool] = False
    #: For a loss on logits: the activation that turns the model's outputs
    #: into the probabilities ``predict_proba`` returns ('softmax' or
    #: 'sigmoid'); None: the outputs are the predictions.
    from_logits: ClassVar[str | None] = None

    def check_output(self, activation: str | None) -> None:
        """Raise ValueError unless the model's output activation suits this loss."""
        if self.output_activations is not None and activation not in self.output_activations:
            hint = ""
            if activation == "log_softmax":
                hint = ("; for log-probabilities, end the model with a linear layer "
                        "(Identity) and use CrossEntropyFromLogitsLoss, which fuses the "
                        "log-softmax into the loss")
            raise ValueError(
                "%s needs %s: the model's last layer must be %s, got %r%s"
                % (type(self).__name__, "logits" if self.from_logits else "probabilities",
                   " or ".join(self.output_activations), activation, hint))

    def kernel_options(self) -> dict[str, float]:
        """The loss's parameters as keywords of the loss kernels (none here)."""
        return {}

    def get_config(self) -> dict[str, Any]:
        """The loss as a model file stores it (:func:`loss_from_config` reads it)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return "%s()" % type(self).__name__


class MSELoss(Loss):
    """The textbook quadratic cost: ½·Σⱼ(aⱼ − yⱼ)² per sample, averaged over the batch.

    Works with any output activation (Nielsen's digit network uses it with
    sigmoid outputs and one-hot targets).
    """
    name = "mse"


class BCELoss(Loss):
    """Binary cross-entropy −Σⱼ[yⱼ log aⱼ + (1−yⱼ) log(1−aⱼ)] per sample, on sigmoid outputs.

    For binary (one output unit) and multi-label targets in {0, 1}.
    """
    name = "bce"
    output_activations = ("sigmoid",)
    classification = True


class CrossEntropyLoss(Loss):
    """Categorical cross-entropy −Σⱼ yⱼ log aⱼ per sample, on softmax outputs.

    Targets are one-hot rows or integer class labels.
    """
    name = "cce"
    output_activations = ("softmax",)
    classification = True


class CrossEntropyFromLogitsLoss(Loss):
    """Categorical cross-entropy on logits: −Σⱼ yⱼ·log softmax(z)ⱼ per sample,
    averaged over the batch (PyTorch's ``CrossEntropyLoss``, Keras's
    ``from_logits=True``).

    The model's last layer is linear (a Dense with no activation, or
    ``Identity()``); the log-softmax is fused into the loss and computed
    stably (log Σ exp z with the row maximum subtracted), so it never
    overflows nor takes the log of 0, and the output delta is
    (softmax(z)·Σⱼyⱼ − y)/n, i.e. (softmax(z) − y)/n for one-hot or
    probability targets (weighted like the other losses with sample weights).
    Targets are one-hot rows or integer class labels.

    A model trained with it keeps the logits as its outputs:
    ``predict_proba`` returns softmax(z), ``predict`` the argmax class, and
    its ONNX export appends a Softmax.
    """
    name = "cross_entropy_from_logits"
    output_activations = ("identity",)
    classification = True
    from_logits = "softmax"


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits: Σⱼ[max(zⱼ, 0) − zⱼ·yⱼ + log1p(exp(−|zⱼ|))]
    per sample, averaged over the batch (PyTorch's ``BCEWithLogitsLoss`` summed
    over outputs, like ``BCELoss`` here).

    The model's last layer is linear; the sigmoid is fused into the loss in a
    form that never overflows, and the output delta is (σ(z) − y)/n.  For
    binary (one output) and multi-label targets in {0, 1}.  A model trained
    with it keeps the logits as its outputs: ``predict_proba`` returns σ(z),
    ``predict`` the class (z > 0, i.e. σ(z) > 0.5, for one output; the argmax
    for several), and its ONNX export appends a Sigmoid.
    """
    name = "bce_with_logits"
    output_activations = ("identity",)
    classification = True
    from_logits = "sigmoid"


class HuberLoss(Loss):
    """Huber's loss: Σⱼ h(aⱼ − yⱼ) per sample, averaged over the batch, with
    h(d) = ½d² for |d| ≤ delta and delta·(|d| − ½·delta) beyond.

    Quadratic near the target and linear far from it, so outliers pull less
    than with MSE.  Reduced like ``MSELoss`` here (a sum over outputs, a mean
    over samples: equal to MSELoss while every |a − y| ≤ delta); PyTorch's
    ``HuberLoss(reduction='mean')`` also divides by the number of outputs, so
    it is this loss / n_outputs.  dL/da = clip(a − y, −delta, delta)/n.  Works
    with any output activation (regression: a linear one).

    Parameters
    ----------
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; finite and > 0.
    """
    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta: float = check_scalar(delta, "delta", low=0, low_open=True)

    def kernel_options(self) -> dict[str, float]:
        return {"huber_delta": self.delta}

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta}

    def __repr__(self) -> str:
        return "HuberLoss(delta=%r)" % self.delta


_BY_NAME: dict[str, type[Loss]] = {
    "mse": MSELoss, "bce": BCELoss, "cce": CrossEntropyLoss,
    "cross_entropy_from_logits": CrossEntropyFromLogitsLoss,
    "bce_with_logits": BCEWithLogitsLoss, "huber": HuberLoss}

#: Other names of the losses (Keras's and PyTorch's), mapped to the canonical ``name``.
ALIASES: dict[str, str] = {
    "mean_squared_error": "mse",
    "binary_crossentropy": "bce", "binary_cross_entropy": "bce",
    "categorical_crossentropy": "cce", "cross_entropy": "cce", "crossentropy": "cce",
    "binary_cross_entropy_with_logits": "bce_with_logits",
    "huber_loss": "huber",
}


def get_loss(loss: Loss | type[Loss] | str) -> Loss:
    """Return a Loss instance from an instance, a class, or a name.

    Names: 'mse' (or 'mean_squared_error'), 'bce' (or
    'binary_crossentropy', 'binary_cross_entropy'), 'cce' (or
    'categorical_crossentropy', 'cross_entropy', 'crossentropy'),
    'cross_entropy_from_logits', 'bce_with_logits' (or
    'binary_cross_entropy_with_logits'), 'huber' (or 'huber_loss'; delta 1).
    The loss's ``name`` is always the canonical one.
    """
    if isinstance(loss, Loss) and loss.name in _BY_NAME:
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss) and loss.name in _BY_NAME:
        return loss()
    if isinstance(loss, str):
        key = ALIASES.get(loss, loss)
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise ValueError("loss must be a fastnn loss (MSELoss(), BCELoss(), CrossEntropyLoss(), "
                     "CrossEntropyFromLogitsLoss(), BCEWithLogitsLoss(), HuberLoss()) "
                     "or one of %s, got %r" % (sorted(_BY_NAME) + sorted(ALIASES), loss))


def loss_from_config(config: str | dict[str, Any]) -> Loss:
    """Rebuild a loss from ``get_config()`` output (or a name, as older model
    files hold it); ValueError for anything else."""
    if isinstance(config, str):
        return get_loss(config)
    if not isinstance(config, dict) or config.get("name") not in _BY_NAME:
        raise ValueError("a loss config must be a dict with a 'name' among %s, got %r"
                         % (sorted(_BY_NAME), config))
    cls = _BY_NAME[config["name"]]
    options = {k: v for k, v in config.items() if k != "name"}
    unknown = set(options) - set(cls().get_config())
    if unknown:
        raise ValueError("loss %r has no options %s" % (config["name"], sorted(unknown)))
    return cls(**options)
