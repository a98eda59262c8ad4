"""fastnn: neural networks trained by gradient descent and backpropagation, fast.

The hot work runs in compiled Cython/OpenMP kernels (:mod:`fastnn.kernels`),
each with a plain NumPy twin in :mod:`fastnn.reference` that the tests hold it
to.  ``fastnn.MLPClassifier`` and ``fastnn.MLPRegressor`` are scikit-learn's
estimators trained by these kernels (:mod:`fastnn.sklearn`; they need the
``sklearn`` extra).  ``python -m fastnn info`` (or :func:`show_config`) shows how this copy was
built and what it runs on; ``python -m fastnn tune`` (or :func:`tune`) measures
which implementation of each matrix product is fastest on this CPU.
"""

from typing import TYPE_CHECKING, Any

from fastnn import datasets, distributed, kernels, reference
from fastnn._isa import available_isas, get_isa, set_isa, use_isa
from fastnn._config import (
    config, flush_denormals, get_num_threads, set_num_threads, show_config)
from fastnn._version import __version__
from fastnn import _routes  # noqa: F401  (loads the tuned routes of this CPU)
from fastnn._tune import tune
from fastnn.layers import (
    BatchNorm, Dense, Dropout, GELU, Identity, LayerNorm, LeakyReLU, LogSoftmax, ReLU, Sigmoid,
    Softmax, Softplus, Step, Tanh)
from fastnn.losses import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyFromLogitsLoss, CrossEntropyLoss, HuberLoss, MSELoss)
from fastnn.model import Callback, History, Sequential, load
from fastnn.callbacks import (
    CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint, TerminateOnNaN)
from fastnn.export import export_onnx
from fastnn.optim import (
    SGD, Adagrad, Adam, AdamW, BatchGD, Constant, CosineDecay, ExponentialDecay,
    InverseScaling, MiniBatchGD, ReduceLROnPlateau, RMSprop, StepDecay, StochasticGD,
    get_optimizer)

if TYPE_CHECKING:   # for type checkers; at run time they load on first use (below)
    from fastnn.sklearn import MLPClassifier, MLPRegressor

__all__ = [
    "__version__", "config", "get_num_threads", "set_num_threads", "show_config",
    "flush_denormals", "available_isas", "get_isa", "set_isa", "use_isa", "tune",
    "datasets", "distributed", "kernels", "reference",
    "Sequential", "Dense", "Dropout", "BatchNorm", "LayerNorm",
    "Identity", "Sigmoid", "Tanh", "ReLU", "Softmax", "Step",
    "LeakyReLU", "GELU", "Softplus", "LogSoftmax",
    "MSELoss", "BCELoss", "CrossEntropyLoss", "CrossEntropyFromLogitsLoss", "BCEWithLogitsLoss",
    "HuberLoss",
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "BatchGD", "StochasticGD", "MiniBatchGD",
    "get_optimizer", "Constant", "StepDecay", "ExponentialDecay", "InverseScaling",
    "CosineDecay", "ReduceLROnPlateau",
    "History", "Callback", "load", "export_onnx",
    "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN",
    "MLPClassifier", "MLPRegressor",
]


def __getattr__(name: str) -> Any:
    # The scikit-learn estimators load on first use, so that ``import fastnn``
    # needs no scikit-learn; without it this raises an ImportError naming the
    # extra to install.
    if name in ("MLPClassifier", "MLPRegressor"):
        from fastnn import sklearn
        return getattr(sklearn, name)
    raise AttributeError("module 'fastnn' has no attribute %r" % (name,))
