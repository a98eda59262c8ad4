"""Losses: the quadratic cost and the cross-entropies, each a mean over the batch.

Pass one to ``Sequential.fit`` / ``evaluate`` / ``gradients``.  The model's last
layer gives the outputs (probabilities, for the cross-entropies); the model
fuses the output activation with the loss, so that the output delta is
(ŷ − y)/n for identity+MSE, sigmoid+BCE and softmax+cross-entropy.
"""

from typing import ClassVar

__all__ = ["Loss", "MSELoss", "BCELoss", "CrossEntropyLoss", "get_loss"]


class Loss:
    """Base class; ``name`` is the kernel's name for the loss."""

    name: ClassVar[str | None] = None
    #: Output activations the loss accepts (None: any).
    output_activations: ClassVar[tuple[str, ...] | None] = None
    #: Whether targets are classes (accuracy is reported, integer labels accepted).
    classification: ClassVar[bool] = False

    def check_output(self, activation: str | None) -> None:
        """Raise ValueError unless the model's output activation suits this loss."""
        if self.output_activations is not None and activation not in self.output_activations:
            raise ValueError(
                "%s needs probabilities: the model's last layer must be %s, got %r"
                % (type(self).__name__, " or ".join(self.output_activations), activation))

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


_BY_NAME: dict[str, type[Loss]] = {"mse": MSELoss, "bce": BCELoss, "cce": CrossEntropyLoss}

#: Other names of the losses (Keras's and PyTorch's), mapped to the canonical ``name``.
ALIASES: dict[str, str] = {
    "mean_squared_error": "mse",
    "binary_crossentropy": "bce", "binary_cross_entropy": "bce",
    "categorical_crossentropy": "cce", "cross_entropy": "cce", "crossentropy": "cce",
}


def get_loss(loss: Loss | type[Loss] | str) -> Loss:
    """Return a Loss instance from an instance, a class, or a name.

    Names: 'mse' (or 'mean_squared_error'), 'bce' (or
    'binary_crossentropy', 'binary_cross_entropy'), 'cce' (or
    'categorical_crossentropy', 'cross_entropy', 'crossentropy').  The
    loss's ``name`` is always the canonical one.
    """
    if isinstance(loss, Loss) and loss.name in _BY_NAME:
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss) and loss.name in _BY_NAME:
        return loss()
    if isinstance(loss, str):
        key = ALIASES.get(loss, loss)
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise ValueError("loss must be a fastnn loss (MSELoss(), BCELoss(), CrossEntropyLoss()) "
                     "or one of %s, got %r" % (sorted(_BY_NAME) + sorted(ALIASES), loss))
