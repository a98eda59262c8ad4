"""Training benchmarks: one SGD step and one epoch in fastnn, the NumPy reference,
plain NumPy, PyTorch eager and JAX.

Every implementation trains the same network (:data:`~fastnn.bench.cases.NETWORKS`)
from the same initial weights with plain SGD, on the same synthetic data
(uniform inputs, random one-hot targets), with the same batch size:

``fastnn``
    ``Sequential(backend="cython")``.  Per step: one batch through the compiled
    training loop, which is what ``fit`` runs for each batch (gather, forward,
    loss, backward, update), without ``fit``'s once-per-call checks.  Per
    epoch: ``fit(epochs=1)``, as a user calls it.
``numpy``
    The same with ``backend="numpy"``: batch by batch on :mod:`fastnn.reference`.
``numpy_plain``
    A hand-written vectorised NumPy network, the way a tutorial writes one
    (lighter than the reference: no flat buffer, no validation).
``torch``
    PyTorch eager: ``torch.nn.Linear`` layers and activations,
    ``torch.optim.SGD``, ``zero_grad``/``backward``/``step`` per batch;
    softmax + cross-entropy fused in ``torch.nn.functional.cross_entropy``.
``jax``
    JAX, jitted: a whole epoch as one ``jax.lax.scan`` over its batches, a
    step as one jitted SGD step, parameters donated; run in a worker process
    per thread count (:mod:`fastnn.bench.jax_peer`), in ``fit``'s batch order.

Every trainer has ``step()``, ``epoch()``, ``weights()``, ``steps_per_call``
(the SGD steps one ``step()`` call makes: 1, except for JAX, see
:mod:`fastnn.bench.jax_peer`) and ``info()`` (facts for the result's
``extra_info``).
"""

import functools

import numpy as np

import fastnn
from fastnn.bench.cases import NETWORKS
from fastnn.bench import jax_peer
from fastnn.bench.kernels import RTOL
from fastnn.bench.machine import torch_module

_LAYERS = {"sigmoid": fastnn.Sigmoid, "relu": fastnn.ReLU, "softmax": fastnn.Softmax,
           "identity": fastnn.Identity, "tanh": fastnn.Tanh}

#: Batches of data cycled through by the per-step benchmarks.
STEP_BATCHES = 64


def flops_per_sample(network):
    """Floating-point operations of one sample's forward and backward pass.

    2·n_in·n_out per layer forward, as much again for dW, and for dX except in
    the first layer (no gradient with respect to the input is needed).
    """
    layers = network.layers()
    return 6 * sum(i * o for i, o, _ in layers) - 2 * layers[0][0] * layers[0][1]


@functools.lru_cache(maxsize=4)
def make_data(n_in, n_out, samples, dtype, seed=0):
    """Synthetic inputs in [0, 1) and one-hot targets of random classes.

    Parameters
    ----------
    n_in, n_out, samples : int
    dtype : str
    seed : int

    Returns
    -------
    X : ndarray of shape (samples, n_in)
    Y : ndarray of shape (samples, n_out)
    """
    rng = np.random.default_rng(seed)
    X = rng.random((samples, n_in), dtype=np.float64).astype(dtype)
    Y = np.zeros((samples, n_out), dtype)
    Y[np.arange(samples), rng.integers(0, n_out, samples)] = 1
    return X, Y


def fastnn_model(network, dtype, backend="cython", seed=0):
    """The network as a ``fastnn.Sequential`` (weights from ``seed``)."""
    layers = []
    for n_in, n_out, act in network.layers():
        layers += [fastnn.Dense(n_in, n_out), _LAYERS[act]()]
    return fastnn.Sequential(layers, dtype=dtype, seed=seed, backend=backend)


class _Trainer:
    """Shared state: network, batch, data, and the cycling position of ``step``."""

    steps_per_call = 1

    def __init__(self, case, dtype, samples):
        self.network = NETWORKS[case.network]
        self.batch = case.batch
        self.dtype = dtype
        self.X, self.Y = make_data(self.network.sizes[0], self.network.sizes[-1], samples, dtype)
        self.n = samples - samples % self.batch
        self.position = 0

    def _next_batch(self):
        start = self.position
        self.position = (start + self.batch) % self.n
        return start, start + self.batch

    def info(self):
        """Facts about this run for the result's ``extra_info`` (none here)."""
        return {}


class _FastnnTrainer(_Trainer):
    def __init__(self, case, dtype, samples, backend):
        super().__init__(case, dtype, samples)
        self.model = fastnn_model(self.network, dtype, backend)
        self.loss = fastnn.losses.get_loss(self.network.loss)
        self.optimizer = fastnn.SGD(self.network.lr)
        self.optimizer.bind(self.model.params, self.model.grads)
        self.order = np.arange(self.X.shape[0])
        self._train = (self.model._train_compiled if backend == "cython"
                       else self.model._train_numpy)

    def step(self):
        start, stop = self._next_batch()
        self._train(self.X, self.Y, None, self.order, start, stop, self.batch, self.loss,
                    self.optimizer)        # None: no sample weights

    def epoch(self):
        self.model.fit(self.X, self.Y, self.loss, self.optimizer, epochs=1,
                       batch_size=self.batch, verbose=0)

    def weights(self):
        return [(d.W, d.b) for d in self.model.dense]


def _activate(z, act):
    if act == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if act == "relu":
        return np.maximum(z, 0)
    if act == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z


class _PlainTrainer(_Trainer):
    def __init__(self, case, dtype, samples):
        super().__init__(case, dtype, samples)
        model = fastnn_model(self.network, dtype)
        self.Ws = [d.W.copy() for d in model.dense]
        self.bs = [d.b.copy() for d in model.dense]
        self.acts = [act for _, _, act in self.network.layers()]
        self.lr = np.dtype(dtype).type(self.network.lr)
        self.rng = np.random.default_rng(0)

    def _train_batch(self, idx):
        a = [self.X[idx]]
        for W, b, act in zip(self.Ws, self.bs, self.acts):
            a.append(_activate(a[-1] @ W + b, act))
        delta = (a[-1] - self.Y[idx]) / a[0].shape[0]   # softmax+CE, identity+MSE
        if self.network.loss == "mse" and self.acts[-1] == "sigmoid":
            delta *= a[-1] * (1 - a[-1])
        for i in range(len(self.Ws) - 1, -1, -1):
            dW, db = a[i].T @ delta, delta.sum(axis=0)
            if i:
                delta = delta @ self.Ws[i].T
                delta *= a[i] * (1 - a[i]) if self.acts[i - 1] == "sigmoid" else (a[i] > 0)
            self.Ws[i] -= self.lr * dW
            self.bs[i] -= self.lr * db

    def step(self):
        self._train_batch(slice(*self._next_batch()))

    def epoch(self):
        order = self.rng.permutation(self.X.shape[0])
        for start in range(0, len(order), self.batch):
            self._train_batch(order[start:start + self.batch])

    def weights(self):
        return list(zip(self.Ws, self.bs))


class _TorchTrainer(_Trainer):
    def __init__(self, case, dtype, samples):
        super().__init__(case, dtype, samples)
        torch = self.torch = torch_module()
        tdtype = getattr(torch, dtype)
        model = fastnn_model(self.network, dtype)
        acts = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU,
                "identity": torch.nn.Identity, "tanh": torch.nn.Tanh}
        modules = []
        for dense, (_, _, act) in zip(model.dense, self.network.layers()):
            linear = torch.nn.Linear(dense.n_in, dense.n_out, dtype=tdtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(dense.W.T.copy()))
                linear.bias.copy_(torch.from_numpy(dense.b))
            modules.append(linear)
            if act != "softmax":     # softmax + cross-entropy: fused in the loss
                modules.append(acts[act]())
        self.model = torch.nn.Sequential(*modules)
        self.linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.network.lr)
        self.Xt, self.Yt = torch.from_numpy(self.X), torch.from_numpy(self.Y)
        self.targets = self.Yt.argmax(dim=1)
        self.generator = torch.Generator().manual_seed(0)

    def _train_batch(self, idx):
        self.optimizer.zero_grad()
        output = self.model(self.Xt[idx])
        if self.network.loss == "mse":
            value = 0.5 * ((output - self.Yt[idx]) ** 2).sum(dim=1).mean()
        else:
            value = self.torch.nn.functional.cross_entropy(output, self.targets[idx])
        value.backward()
        self.optimizer.step()

    def step(self):
        self._train_batch(slice(*self._next_batch()))

    def epoch(self):
        order = self.torch.randperm(self.X.shape[0], generator=self.generator)
        for start in range(0, len(order), self.batch):
            self._train_batch(order[start:start + self.batch])

    def weights(self):
        return [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in self.linears]


class _JaxTrainer(jax_peer.JaxTrainer):
    def info(self):
        return {"steps_per_call": self.steps_per_call, **(self.thread_use() or {})}


def make(case, impl, dtype, samples):
    """A trainer with ``step()`` (one batch, cycling through the data) and ``epoch()``.

    Parameters
    ----------
    case : TrainingCase
    impl : {'fastnn', 'numpy', 'numpy_plain', 'torch', 'jax'}
    dtype : {'float32', 'float64'}
    samples : int
        Size of the data set (one epoch).

    Returns
    -------
    trainer
        With methods ``step()``, ``epoch()`` and ``weights()``, the latter a
        list of (W, b) per layer with W of shape (n_in, n_out).  JAX runs on
        fastnn's current thread count (``fastnn.get_num_threads()``).
    """
    if impl in ("fastnn", "numpy"):
        return _FastnnTrainer(case, dtype, samples, "cython" if impl == "fastnn" else "numpy")
    if impl == "numpy_plain":
        return _PlainTrainer(case, dtype, samples)
    if impl == "jax":
        if not jax_peer.available():
            raise ImportError("JAX is not installed")
        return _JaxTrainer(case, dtype, samples, fastnn.get_num_threads())
    if torch_module() is None:
        raise ImportError("PyTorch is not installed")
    return _TorchTrainer(case, dtype, samples)


def check(case, impl, dtype):
    """One SGD step of ``impl`` against the NumPy reference, from the same weights.

    The weights after the step must agree within ``RTOL[dtype]`` of the
    largest change the reference made, plus rounding of the weights
    themselves (a few machine epsilons of the largest weight).

    Parameters
    ----------
    case : TrainingCase
    impl : {'fastnn', 'numpy', 'numpy_plain', 'torch', 'jax'}
    dtype : {'float32', 'float64'}

    Returns
    -------
    float
        The largest error, relative to the largest change of a weight.

    Raises
    ------
    AssertionError
        When the weights disagree beyond the tolerance.
    """
    samples = case.batch
    ref = make(case, "numpy", dtype, samples)
    before = [(W.copy(), b.copy()) for W, b in ref.weights()]
    ref.step()
    trainer = make(case, impl, dtype, samples)
    trainer.step()
    return compare_weights(impl, case, dtype, trainer.weights(), ref.weights(), before)


def check_epoch(case, impl, dtype, batches=10):
    """One short epoch of ``impl`` against fastnn's ``fit``, from the same weights.

    For the implementations that follow ``fit``'s batch order (``numpy``,
    ``jax``).  The epoch has ``batches`` full batches and a partial one (so
    the last-batch path is checked too); the tolerance is :func:`check`'s,
    relative to the largest change over the epoch.  Not a whole epoch of the
    benchmark: over a hundred steps the float32 trajectories of the ReLU
    network drift apart by tens of percent even between fastnn and its own
    NumPy reference (rounding differences grow), while they agree to about
    1e-6 over ten steps.

    Parameters
    ----------
    case : TrainingCase
    impl : {'numpy', 'jax'}
    dtype : {'float32', 'float64'}
    batches : int

    Returns
    -------
    float
        The largest error, relative to the largest change of a weight.

    Raises
    ------
    AssertionError
        When the weights disagree beyond the tolerance.
    """
    samples = batches * case.batch + case.batch // 2
    ref = make(case, "fastnn", dtype, samples)
    before = [(W.copy(), b.copy()) for W, b in ref.weights()]
    ref.epoch()
    trainer = make(case, impl, dtype, samples)
    trainer.epoch()
    return compare_weights(impl, case, dtype, trainer.weights(), ref.weights(), before)


def compare_weights(impl, case, dtype, got_weights, want_weights, before):
    """The weights ``impl`` trained against the reference's, from the same start.

    The tolerance of :func:`check`: ``RTOL[dtype]`` of the largest change the
    reference made to each array, plus a few machine epsilons of its largest
    starting value (rounding of the weights themselves).

    Parameters
    ----------
    impl : str
        Named in the error message.
    case : TrainingCase
        Named in the error message.
    dtype : {'float32', 'float64'}
    got_weights, want_weights, before : list of (W, b)
        Per dense layer: ``impl``'s weights, the reference's, and both's
        starting weights.

    Returns
    -------
    float
        The largest error, relative to the largest change of a weight.

    Raises
    ------
    AssertionError
        When an array disagrees beyond the tolerance.
    """
    eps = float(np.finfo(dtype).eps)
    worst = 0.0
    for layer, (got, want, old) in enumerate(zip(got_weights, want_weights, before)):
        for name, g, w, o in zip("Wb", got, want, old):
            change = float(np.max(np.abs(w.astype(np.float64) - o)))
            err = float(np.max(np.abs(np.asarray(g, np.float64) - w)))
            allowed = RTOL[dtype] * change + 4 * eps * float(np.max(np.abs(o)))
            assert err <= allowed, "%s %s layer %d %s: error %.3g > %.3g" % (
                impl, case.name, layer, name, err, allowed)
            worst = max(worst, err / change if change else err)
    return worst
