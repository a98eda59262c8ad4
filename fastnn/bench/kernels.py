"""Kernel benchmarks: each kernel in fastnn, the NumPy reference and PyTorch eager.

:func:`make` builds, for one :class:`~fastnn.bench.cases.KernelCase`, one
implementation and one dtype, the operands and a zero-argument callable that
runs the kernel once; :func:`check` runs it once against the NumPy reference;
:func:`work` counts the floating-point operations (dense kernels) or the bytes
moved (elementwise kernels, optimizer updates) of one call.

fastnn is called the way its training loop uses it: results into preallocated
``out=`` arrays, ``check_finite=False``.  The reference allocates, as written.
PyTorch runs the same arithmetic with eager tensor operations on zero-copy
views of the same arrays (``torch.addmm``, the ``aten`` backward kernels that
autograd uses, ``torch.optim.SGD``/``Adam`` on one flat parameter).
"""

from functools import partial

import numpy as np

from fastnn import kernels as fast
from fastnn import reference
from fastnn.bench.machine import torch_module

#: Largest error relative to the largest reference magnitude, per dtype.
RTOL = {"float32": 1e-5, "float64": 1e-12}

_LR, _MOMENTUM = 1e-3, 0.9
_BYTES_PER_ELEMENT = {  # arrays read + written per element
    "activation_forward": 2, "activation_derivative": 2, "activation_backward": 3,
    "loss_gradient": 3, "loss_delta": 3,
    "sgd_update": 3, "momentum_update": 5, "nesterov_update": 5, "adam_update": 7,
}


def work(case, dtype):
    """Floating-point operations and bytes moved by one call.

    Parameters
    ----------
    case : KernelCase
    dtype : str

    Returns
    -------
    flops : int or None
        2·n·n_in·n_out for ``dense_forward``, twice that for
        ``dense_backward`` (dW and dX); None for the others.
    nbytes : int or None
        Bytes of the arrays read and written, for elementwise kernels and
        updates; None for dense kernels.
    """
    if case.kernel.startswith("dense"):
        batch, n_in, n_out = case.shape
        return (2 if case.kernel == "dense_forward" else 4) * batch * n_in * n_out, None
    size = int(np.prod(case.shape))
    return None, _BYTES_PER_ELEMENT[case.kernel] * size * np.dtype(dtype).itemsize


def _operands(case, dtype, seed=0):
    """Inputs of one call, the same for every implementation."""
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    def one_hot(rows, cols):
        Y = np.zeros((rows, cols), dtype)
        Y[np.arange(rows), rng.integers(0, cols, rows)] = 1
        return Y

    k = case.kernel
    if k.startswith("dense"):
        batch, n_in, n_out = case.shape
        X, W, b = normal(batch, n_in), normal(n_in, n_out, scale=n_in ** -0.5), normal(n_out)
        if k == "dense_forward":
            return {"X": X, "W": W, "b": b}
        return {"X": X, "W": W, "A": reference.dense_forward(X, W, b, case.variant),
                "dA": normal(batch, n_out)}
    if k.startswith("activation"):
        Z = normal(*case.shape)
        if k == "activation_forward":
            return {"Z": Z}
        A = reference.activation_forward(Z, case.variant)
        return {"A": A} if k == "activation_derivative" else {"A": A, "dA": normal(*case.shape)}
    if k.startswith("loss"):
        loss, _, act = case.variant.partition("+")
        act = act or {"mse": "identity", "bce": "sigmoid", "cce": "softmax"}[loss]
        return {"A": reference.activation_forward(normal(*case.shape), act),
                "Y": one_hot(*case.shape)}
    n = case.shape[0]
    state = {"momentum_update": ("velocity",), "nesterov_update": ("velocity",),
             "adam_update": ("m", "v")}.get(k, ())
    return {"params": normal(n), "grads": normal(n, scale=0.01),
            **{name: np.zeros(n, dtype) for name in state}}


def _fastnn(case, ops):
    k, v = case.kernel, case.variant
    if k == "dense_forward":
        out = np.empty((ops["X"].shape[0], ops["W"].shape[1]), ops["X"].dtype)
        return (lambda: fast.dense_forward(ops["X"], ops["W"], ops["b"], v, out=out,
                                           check_finite=False)), lambda: [out]
    if k == "dense_backward":
        dW, db, dX = np.empty_like(ops["W"]), np.empty_like(ops["W"][0]), np.empty_like(ops["X"])
        return (lambda: fast.dense_backward(
            ops["X"], ops["W"], ops["A"], ops["dA"], v, True, dW_out=dW, db_out=db, dX_out=dX,
            check_finite=False)), lambda: [dW, db, dX]
    if k.startswith("activation"):
        args = [ops[name] for name in ("Z", "A", "dA") if name in ops]
        out = np.empty_like(args[0])
        kernel = getattr(fast, k)
        return (lambda: kernel(*args, v, out=out, check_finite=False)), lambda: [out]
    if k.startswith("loss"):
        out = np.empty_like(ops["A"])
        extra = v.split("+")
        kernel = getattr(fast, k)
        result = {}

        def run():
            result["value"] = kernel(ops["A"], ops["Y"], *extra, out=out, check_finite=False)[0]
        return run, lambda: [np.float64(result["value"]), out]
    p, g = ops["params"], ops["grads"]
    if k == "sgd_update":
        run = partial(fast.sgd_update, p, g, _LR, check_finite=False)
    elif k == "adam_update":
        run = partial(fast.adam_update, p, g, ops["m"], ops["v"], 1, _LR, check_finite=False)
    else:
        run = partial(fast.momentum_update, p, g, ops["velocity"], _LR, _MOMENTUM,
                      k == "nesterov_update", check_finite=False)
    return run, lambda: [p]


def _numpy(case, ops):
    k, v = case.kernel, case.variant
    result = {}
    if k == "dense_forward":
        def run():
            result["out"] = [reference.dense_forward(ops["X"], ops["W"], ops["b"], v)]
    elif k == "dense_backward":
        def run():
            result["out"] = list(reference.dense_backward(ops["X"], ops["W"], ops["A"], ops["dA"],
                                                          v, True))
    elif k.startswith("activation"):
        args = [ops[name] for name in ("Z", "A", "dA") if name in ops]
        kernel = getattr(reference, k)

        def run():
            result["out"] = [kernel(*args, v)]
    elif k.startswith("loss"):
        kernel, extra = getattr(reference, k), v.split("+")

        def run():
            value, grad = kernel(ops["A"], ops["Y"], *extra)
            result["out"] = [np.float64(value), grad]
    else:
        p, g = ops["params"], ops["grads"]
        if k == "sgd_update":
            run = partial(reference.sgd_update, p, g, _LR)
        elif k == "adam_update":
            run = partial(reference.adam_update, p, g, ops["m"], ops["v"], 1, _LR)
        else:
            run = partial(reference.momentum_update, p, g, ops["velocity"], _LR, _MOMENTUM,
                          k == "nesterov_update")
        return run, lambda: [p]
    return run, lambda: result["out"]


def _torch_activation(torch, name, Z):
    if name == "identity":
        return Z.clone()
    if name == "softmax":
        return torch.softmax(Z, dim=1)
    if name == "step":
        return (Z > 0).to(Z.dtype)
    return getattr(torch, name)(Z)


def _torch_backward(torch, name, A, dA):
    """dZ from dA through the activation: the aten kernels autograd runs."""
    aten = torch.ops.aten
    if name == "identity":
        return dA
    if name == "sigmoid":
        return aten.sigmoid_backward(dA, A)
    if name == "tanh":
        return aten.tanh_backward(dA, A)
    if name == "relu":
        return aten.threshold_backward(dA, A, 0)
    return aten._softmax_backward_data(dA, A, 1, A.dtype)


def _torch_derivative(torch, name, A):
    if name == "identity":
        return torch.ones_like(A)
    if name == "sigmoid":
        return A * (1 - A)
    if name == "tanh":
        return 1 - A * A
    return (A > 0).to(A.dtype)


def _torch_loss(torch, A, Y, loss):
    n, eps = A.shape[0], float(torch.finfo(A.dtype).eps)
    if loss == "mse":
        diff = A - Y
        return 0.5 * (diff * diff).sum().item() / n, diff / n
    if loss == "bce":
        Ac = A.clamp(eps, 1 - eps)
        value = -(Y * Ac.log() + (1 - Y) * torch.log1p(-Ac)).sum().item() / n
        return value, (Ac - Y) / (Ac * (1 - Ac)) / n
    Ac = A.clamp_min(eps)
    return -(Y * Ac.log()).sum().item() / n, -Y / Ac / n


def _torch(case, ops):
    torch = torch_module()
    t = {name: torch.from_numpy(arr) for name, arr in ops.items()}
    k, v = case.kernel, case.variant
    result = {}
    if k == "dense_forward":
        def run():
            result["out"] = [_torch_activation(torch, v, torch.addmm(t["b"], t["X"], t["W"]))]
    elif k == "dense_backward":
        def run():
            dZ = _torch_backward(torch, v, t["A"], t["dA"])
            result["out"] = [t["X"].T @ dZ, dZ.sum(0), dZ @ t["W"].T]
    elif k == "activation_forward":
        def run():
            result["out"] = [_torch_activation(torch, v, t["Z"])]
    elif k == "activation_derivative":
        def run():
            result["out"] = [_torch_derivative(torch, v, t["A"])]
    elif k == "activation_backward":
        def run():
            result["out"] = [_torch_backward(torch, v, t["A"], t["dA"])]
    elif k.startswith("loss"):
        loss, _, act = v.partition("+")

        def run():
            value, grad = _torch_loss(torch, t["A"], t["Y"], loss)
            if act:   # the fused deltas of loss_delta
                n = t["A"].shape[0]
                grad = ((t["A"] * t["Y"].sum(1, keepdim=True) - t["Y"]) / n if loss == "cce"
                        else (t["A"] - t["Y"]) / n)
            result["out"] = [np.float64(value), grad]
    else:
        param = torch.nn.Parameter(t["params"])   # shares ops["params"]'s memory
        param.grad = t["grads"]
        if k == "adam_update":
            optimizer = torch.optim.Adam([param], lr=_LR)
        else:
            momentum = 0.0 if k == "sgd_update" else _MOMENTUM
            optimizer = torch.optim.SGD([param], lr=_LR, momentum=momentum,
                                        nesterov=k == "nesterov_update")
        return optimizer.step, lambda: [ops["params"]]
    return run, lambda: [np.asarray(r) for r in result["out"]]


_IMPLEMENTATIONS = {"fastnn": _fastnn, "numpy": _numpy, "torch": _torch}


def make(case, impl, dtype, seed=0):
    """Operands and callables for one kernel benchmark.

    Parameters
    ----------
    case : KernelCase
    impl : {'fastnn', 'numpy', 'torch'}
    dtype : {'float32', 'float64'}
    seed : int
        Seed of the operands (every implementation gets the same ones).

    Returns
    -------
    run : callable
        Runs the kernel once (in place for optimizer updates).
    outputs : callable
        Returns the results of the latest ``run()`` as a list of NumPy arrays
        (the loss value first for loss kernels).
    """
    if impl == "torch" and torch_module() is None:
        raise ImportError("PyTorch is not installed")
    return _IMPLEMENTATIONS[impl](case, _operands(case, dtype, seed))


def relative_error(actual, expected):
    """max |actual − expected| / max |expected| (the absolute error when expected is 0)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    diff = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return diff / scale if scale > 0 else diff


def check(case, impl, dtype):
    """Run one call of ``impl`` and of the reference on fresh operands and compare.

    Parameters
    ----------
    case : KernelCase
    impl : {'fastnn', 'numpy', 'torch'}
    dtype : {'float32', 'float64'}

    Returns
    -------
    float
        The largest relative error over the outputs.

    Raises
    ------
    AssertionError
        When an output's shape differs or its error exceeds ``RTOL[dtype]``.
    """
    run, outputs = make(case, impl, dtype)
    run()
    ref_run, ref_outputs = make(case, "numpy", dtype)
    ref_run()
    worst = 0.0
    for i, (got, want) in enumerate(zip(outputs(), ref_outputs(), strict=True)):
        assert np.shape(got) == np.shape(want), "%s output %d: shape %s, expected %s" % (
            impl, i, np.shape(got), np.shape(want))
        err = relative_error(got, want)
        assert err <= RTOL[dtype], "%s %s output %d: relative error %.3g > %g" % (
            impl, case.name, i, err, RTOL[dtype])
        worst = max(worst, err)
    return worst
