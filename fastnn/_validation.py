"""The boundary checks: every public call validates here once, then runs compiled code.

Conventions (scikit-learn's and SciPy's): a wrong dtype is a ``TypeError``;
a wrong ndim, shape, layout or value is a ``ValueError``; every message names
the argument and says what was expected.  Input arrays that are not
C-contiguous are copied once, here; output and in-place arrays are never
copied, so they must already be C-contiguous, writeable and of the right dtype.
"""

import numbers
from typing import Any

import numpy as np

from fastnn._typing import FloatArray
from fastnn._kernels import _finite

#: Activation name -> code used by the compiled kernels (fastnn/_kernels/activations.pxd).
ACTIVATIONS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "softmax": 4, "step": 5,
               "leaky_relu": 6, "gelu": 7, "softplus": 8, "log_softmax": 9}
#: Activations whose derivative is elementwise and a function of their output
#: (softmax and log_softmax have a Jacobian instead; GELU's needs Z).
ELEMENTWISE_DERIVATIVES = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")
#: Normalization kind -> code used by the compiled kernels (normalization.pxd);
#: 0 marks a layer without one.
NORMALIZATIONS = {"batch": 1, "layer": 2}
#: Loss name -> code used by the compiled kernels (fastnn/_kernels/losses.pxd).
LOSSES = {"mse": 0, "bce": 1, "cce": 2, "poisson": 3, "cross_entropy_from_logits": 4,
          "bce_with_logits": 5, "huber": 6}
#: (loss, output activation) pairs whose delta collapses to (a - y) / n.
FUSED_PAIRS = (("mse", "identity"), ("bce", "sigmoid"), ("cce", "softmax"))

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# The BLAS behind scipy.linalg.cython_blas takes 32-bit integer dimensions.
MAX_DIM = 2**31 - 1

STEP_HAS_NO_GRADIENT = (
    "the step (threshold) unit has no useful gradient: its derivative is 0 "
    "everywhere except at 0, where it does not exist, so backpropagation cannot "
    "tell how a small change in a weight would change the output. That is why "
    "'sigmoid' exists: a smooth, differentiable replacement for the step unit. "
    "Use 'step' only in forward passes."
)


def activation_code(name, *, gradient=False, elementwise=False):
    """Return the kernel code of activation ``name``.

    Parameters
    ----------
    name : str
        One of ``ACTIVATIONS``.
    gradient : bool
        The caller needs the activation's gradient: 'step' is refused.
    elementwise : bool
        The caller needs an elementwise derivative: 'softmax' is refused too.
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            "activation must be one of %s, got %r" % (sorted(ACTIVATIONS), name))
    if gradient and name == "step":
        raise ValueError(STEP_HAS_NO_GRADIENT)
    if elementwise and name == "gelu":
        raise ValueError(
            "activation 'gelu' has no derivative as a function of its output (GELU is "
            "not monotonic); use activation_backward with Z, its pre-activations")
    if elementwise and name not in ELEMENTWISE_DERIVATIVES:
        raise ValueError(
            "activation %r has no elementwise derivative (its Jacobian is not "
            "diagonal); use activation_backward, which applies it to a gradient"
            % (name,))
    return ACTIVATIONS[name]


def loss_code(name):
    """Return the kernel code of loss ``name`` (one of ``LOSSES``)."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError("loss must be one of %s, got %r" % (sorted(LOSSES), name))
    return LOSSES[name]


def all_finite(arr):
    """True when no element of the float array ``arr`` is NaN or infinite.

    A contiguous array goes to the compiled scan
    (``fastnn._kernels._finite``), which tests exponent bits at memory speed
    on up to ``fastnn.get_num_threads()`` threads and allocates nothing.  Other
    layouts take scikit-learn's fast path: the sum of the elements is finite
    only if every element is (one pass, no temporary); only when it is not,
    which may also be an overflow of finite elements, are the elements
    checked one by one.

    Parameters
    ----------
    arr : ndarray of float32 or float64, any shape

    Returns
    -------
    bool
    """
    if arr.dtype in FLOAT_DTYPES and (arr.flags.c_contiguous or arr.flags.f_contiguous):
        return _finite.all_finite_contiguous(arr.reshape(-1, order="A"))
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    return bool(np.isfinite(arr).all())


def check_array(x: Any, name: str, ndim: int, dtype: Any = None,
                check_finite: bool = True) -> FloatArray:
    """Return ``x`` as a C-contiguous float32/float64 array with ``ndim`` dimensions.

    Parameters
    ----------
    x : array_like
        The argument.
    name : str
        The argument's name, used in error messages.
    ndim : int
        Required number of dimensions.
    dtype : numpy.dtype or None
        When given, the dtype every other operand of the call has: ``x`` must
        have it too (no silent casts between float32 and float64).
    check_finite : bool
        Reject NaN and infinity.

    Returns
    -------
    numpy.ndarray
        ``x`` itself when it already fits, else one C-contiguous copy.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s could not be read as an array (%s); expected a "
                         "rectangular float32 or float64 array" % (name, exc)) from None
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            "%s must be a float32 or float64 array, got dtype %s" % (name, arr.dtype))
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(
            "%s has dtype %s but the other operands are %s: all arrays of one call "
            "must share one dtype (convert with .astype(%s))"
            % (name, arr.dtype, dtype, dtype.name))
    if arr.ndim != ndim:
        raise ValueError(
            "%s must be a %d-D array, got %d-D with shape %s" % (name, ndim, arr.ndim, arr.shape))
    if arr.size == 0:
        raise ValueError("%s must not be empty, got shape %s" % (name, arr.shape))
    if max(arr.shape) > MAX_DIM:
        raise ValueError("%s has a dimension above 2**31 - 1, which BLAS cannot index: shape %s"
                         % (name, arr.shape))
    if check_finite and not all_finite(arr):
        raise ValueError("%s contains NaN or infinity; expected finite values" % name)
    return np.ascontiguousarray(arr)


def check_shape(arr, name, shape):
    """Raise ValueError unless ``arr.shape == shape``; ``None`` in ``shape`` matches anything."""
    if len(arr.shape) != len(shape) or any(
            want is not None and got != want for got, want in zip(arr.shape, shape)):
        expected = "(%s)" % ", ".join("*" if s is None else str(s) for s in shape)
        raise ValueError("%s must have shape %s, got %s" % (name, expected, arr.shape))


def check_out(out: Any, name: str, shape: tuple[int, ...], dtype: Any) -> FloatArray:
    """Return a C-contiguous, writeable array of ``shape`` and ``dtype`` to write into.

    ``out=None`` allocates one; an array passed by the caller is used as it is
    and must already have the right shape, dtype and layout (it is never copied,
    since the caller expects the result in it).
    """
    if out is None:
        return np.empty(shape, dtype=dtype)
    check_inplace(out, name, dtype)
    check_shape(out, name, shape)
    return out


def check_inplace(arr, name, dtype=None):
    """Raise unless ``arr`` is an ndarray the kernels can write into directly."""
    if not isinstance(arr, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray (it is written in place), got %s"
                        % (name, type(arr).__name__))
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError("%s must be float32 or float64, got dtype %s" % (name, arr.dtype))
    if dtype is not None and arr.dtype != dtype:
        raise TypeError("%s has dtype %s but the other operands are %s"
                        % (name, arr.dtype, dtype))
    if not arr.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous (it is written in place, so it "
                         "cannot be copied)" % name)
    if not arr.flags.writeable:
        raise ValueError("%s must be writeable" % name)
    if arr.size == 0:
        raise ValueError("%s must not be empty, got shape %s" % (name, arr.shape))


def check_disjoint(out, name, **inputs):
    """Raise ValueError if result array ``out`` overlaps any of ``inputs`` in memory."""
    for other_name, other in inputs.items():
        if other is not None and np.may_share_memory(out, other):
            raise ValueError("%s must not overlap %s in memory" % (name, other_name))


def check_scalar(value, name, *, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """Return ``value`` as a float (or int) after checking type, finiteness and range.

    ``low``/``high`` bound the value, inclusive unless ``low_open``/``high_open``.
    """
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError("%s must be %s, got %r" % (name, "an integer" if integer else "a real number", value))
    try:
        value = int(value) if integer else float(value)
    except OverflowError:
        raise ValueError("%s is too large: %r" % (name, value)) from None
    if not np.isfinite(value):
        raise ValueError("%s must be finite, got %r" % (name, value))
    if low is not None and (value <= low if low_open else value < low) or \
            high is not None and (value >= high if high_open else value > high):
        interval = "%s%s, %s%s" % ("(" if low_open else "[", "-inf" if low is None else low,
                                   "inf" if high is None else high,
                                   ")" if high_open or high is None else "]")
        raise ValueError("%s must be in %s, got %r" % (name, interval, value))
    return value
