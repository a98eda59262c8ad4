"""What the benchmark suite measures: the networks, the shapes, and the plans.

One place defines every case.  A *plan* (``full``, ``quick``, ``tiny``) picks
(network, batch) shapes; the kernel cases are derived from them (each dense
layer of each shape, the activations on the first hidden layer's output, the
losses on the output layer's, the optimizer updates on the whole parameter
vector), and the training cases are the shapes themselves.  Data-parallel
cases (``fit`` on MPI ranks, :class:`DataParallelCase`) run each of the
plan's ``data_parallel`` shapes on one rank and on one rank per core.

Every case has a stable *key* that names what is measured and nothing about
the machine (``kernel/dense_forward/784x30-sigmoid/b10/float32/1t/fastnn``), so
results from different CPUs, thread counts and builds line up by key.
"""

import os
from dataclasses import dataclass

#: Samples in one training epoch (MNIST's training set).
EPOCH_SAMPLES = 60_000

#: The implementations compared: fastnn's compiled kernels, the NumPy
#: reference (:mod:`fastnn.reference`), a plain hand-written NumPy network
#: (training only), PyTorch eager (when installed), jitted JAX (training only,
#: when installed).
KERNEL_IMPLS = ("fastnn", "numpy", "torch")
TRAINING_IMPLS = ("fastnn", "numpy", "numpy_plain", "torch", "jax")


@dataclass(frozen=True)
class Network:
    """A dense network: layer sizes, hidden and output activations, loss, SGD rate."""

    sizes: tuple
    hidden: str
    output: str
    loss: str
    lr: float

    @property
    def name(self):
        """Layer sizes joined by dashes, e.g. ``784-30-10``."""
        return "-".join(map(str, self.sizes))

    def layers(self):
        """Return ``(n_in, n_out, activation)`` of each dense layer."""
        n = len(self.sizes) - 1
        return [(self.sizes[i], self.sizes[i + 1], self.output if i == n - 1 else self.hidden)
                for i in range(n)]

    def n_params(self):
        """Number of weights and biases."""
        return sum(n_in * n_out + n_out for n_in, n_out, _ in self.layers())

    def describe(self):
        """Human-readable description, e.g. ``784-30-10 sigmoid, mse``."""
        acts = self.hidden if self.hidden == self.output else "%s/%s" % (self.hidden, self.output)
        return "%s %s, %s" % (self.name, acts, self.loss)


NETWORKS = {
    "nielsen": Network((784, 30, 10), "sigmoid", "sigmoid", "mse", 3.0),
    "3b1b": Network((784, 16, 16, 10), "sigmoid", "sigmoid", "mse", 3.0),
    "mlp": Network((784, 128, 64, 10), "relu", "softmax", "cce", 0.1),
    "large": Network((1024, 4096, 4096, 1024), "relu", "identity", "mse", 1e-3),
    "tiny": Network((20, 8, 4), "sigmoid", "softmax", "cce", 0.1),
}


@dataclass(frozen=True)
class Plan:
    """A selection of the suite.

    Attributes
    ----------
    shapes : tuple of (network name, batch)
        Training steps at these shapes; dense kernels on each of their layers.
    elementwise : tuple of network names
        Activations, losses and optimizer updates at these networks' shapes
        (largest batch of the network in ``shapes``).
    epochs : tuple of (network name, batch)
        Whole epochs of ``epoch_samples`` samples.
    epoch_samples : int
    peak_size : int
        Side of the square GEMM of the peak probe.
    contention : tuple of (network name, batch, samples)
        ``fit`` over ``samples`` samples while one CPU-bound process per CPU
        competes (:mod:`fastnn.bench.load`).
    data_parallel : tuple of (network name, global batch, samples)
        ``fit`` with ``comm`` over ``samples`` samples on MPI ranks
        (:func:`data_parallel_layouts`).
    """

    shapes: tuple
    elementwise: tuple
    epochs: tuple
    epoch_samples: int
    peak_size: int
    contention: tuple
    data_parallel: tuple


_ALL_SHAPES = (("nielsen", 1), ("nielsen", 10), ("nielsen", 32), ("3b1b", 1), ("3b1b", 10),
               ("3b1b", 32), ("mlp", 64), ("mlp", 256), ("large", 256))

#: The five standard training configurations, under competing load: epochs,
#: and 8 batches of the large network (an epoch takes minutes).
_CONTENTION = (("nielsen", 1, EPOCH_SAMPLES), ("nielsen", 10, EPOCH_SAMPLES),
               ("3b1b", 32, EPOCH_SAMPLES), ("mlp", 256, EPOCH_SAMPLES), ("large", 256, 2048))

#: Data-parallel training: an epoch of 784-128-64-10, and 8 global batches of
#: the large network.
_DATA_PARALLEL = (("mlp", 256, EPOCH_SAMPLES), ("large", 256, 2048))

PLANS = {
    # An epoch of the large network takes about 2 minutes per implementation
    # on 2 cores, so it is timed per step only.
    "full": Plan(_ALL_SHAPES, ("nielsen", "3b1b", "mlp", "large"),
                 tuple(s for s in _ALL_SHAPES if s[0] != "large"), EPOCH_SAMPLES, 2048,
                 _CONTENTION, _DATA_PARALLEL),
    "quick": Plan((("nielsen", 1), ("nielsen", 10), ("3b1b", 32), ("mlp", 256)), ("mlp",),
                  (("mlp", 256),), EPOCH_SAMPLES, 1024, _CONTENTION, _DATA_PARALLEL),
    # Exercises every code path in seconds; its figures mean nothing.
    "tiny": Plan((("tiny", 4),), ("tiny",), (("tiny", 4),), 64, 64, (("tiny", 4, 64),),
                 (("tiny", 4, 64),)),
}


def default_threads():
    """Thread counts measured by default: 1 and all cores (once on a 1-core machine)."""
    return sorted({1, os.cpu_count() or 1})


def threads_label(threads):
    """``1t`` for one thread, ``all`` for every core, else ``<n>t``.

    Keys use this label so that the all-cores rows of machines with different
    core counts line up; the actual count is in each result's ``extra_info``.
    """
    if threads == 1:
        return "1t"
    return "all" if threads == (os.cpu_count() or 1) else "%dt" % threads


@dataclass(frozen=True)
class KernelCase:
    """One kernel at one shape.

    Attributes
    ----------
    kernel : str
        ``dense_forward``, ``dense_backward``, ``activation_forward``,
        ``activation_derivative``, ``activation_backward``, ``loss_gradient``,
        ``loss_delta``, ``sgd_update``, ``momentum_update``, ``nesterov_update``
        or ``adam_update``.
    shape : tuple
        (batch, n_in, n_out) for dense kernels, (rows, cols) for activations
        and losses, (n_params,) for updates.
    variant : str
        Activation, loss or ``loss+activation``; empty for updates.
    """

    kernel: str
    shape: tuple
    variant: str = ""

    @property
    def name(self):
        """``kernel/variant-shape`` part of the key."""
        if self.kernel.startswith("dense"):
            batch, n_in, n_out = self.shape
            return "%s/%dx%d-%s/b%d" % (self.kernel, n_in, n_out, self.variant, batch)
        shape = "x".join(map(str, self.shape))
        return "%s/%s" % (self.kernel, "%s-%s" % (self.variant, shape) if self.variant else shape)


@dataclass(frozen=True)
class TrainingCase:
    """Training one network at one batch size, per step or per epoch."""

    network: str
    batch: int
    samples: int

    @property
    def name(self):
        """``<sizes>/b<batch>`` part of the key."""
        return "%s/b%d" % (NETWORKS[self.network].name, self.batch)


@dataclass(frozen=True)
class DataParallelCase(TrainingCase):
    """Data-parallel ``fit`` on ``ranks`` MPI processes; ``batch`` is the global batch.

    The key names the rank count itself (``2r``), not a label like the
    threads' ``all``: the layout is what is measured.
    """

    ranks: int = 1

    @property
    def name(self):
        """``<sizes>/b<batch>/<ranks>r`` part of the key."""
        return "%s/%dr" % (super().name, self.ranks)


ACTIVATION_FORWARD = ("identity", "sigmoid", "tanh", "relu", "softmax", "step")
ACTIVATION_DERIVATIVE = ("identity", "sigmoid", "tanh", "relu")
LOSSES = ("mse", "bce", "cce")
LOSS_DELTAS = ("mse+identity", "bce+sigmoid", "cce+softmax")
UPDATES = ("sgd_update", "momentum_update", "nesterov_update", "adam_update")


def kernel_cases(plan):
    """Every :class:`KernelCase` of a plan, without duplicates, in a stable order."""
    cases = []
    for net, batch in plan.shapes:
        for n_in, n_out, act in NETWORKS[net].layers():
            for kernel in ("dense_forward", "dense_backward"):
                cases.append(KernelCase(kernel, (batch, n_in, n_out), act))
    for net in plan.elementwise:
        network = NETWORKS[net]
        batch = max(b for n, b in plan.shapes if n == net)
        hidden = (batch, network.sizes[1])
        output = (batch, network.sizes[-1])
        cases += [KernelCase("activation_forward", hidden, a) for a in ACTIVATION_FORWARD]
        cases += [KernelCase("activation_derivative", hidden, a) for a in ACTIVATION_DERIVATIVE]
        cases.append(KernelCase("activation_backward", output, "softmax"))
        cases += [KernelCase("loss_gradient", output, loss) for loss in LOSSES]
        cases += [KernelCase("loss_delta", output, pair) for pair in LOSS_DELTAS]
        cases += [KernelCase(u, (network.n_params(),)) for u in UPDATES]
    return list(dict.fromkeys(cases))


def training_cases(plan, per):
    """The :class:`TrainingCase` list of a plan, ``per`` being ``'step'``,
    ``'epoch'`` or ``'contention'``."""
    if per == "step":
        return [TrainingCase(net, batch, batch) for net, batch in plan.shapes]
    if per == "contention":
        return [TrainingCase(net, batch, samples) for net, batch, samples in plan.contention]
    return [TrainingCase(net, batch, plan.epoch_samples) for net, batch in plan.epochs]


def data_parallel_layouts(shape, threads):
    """The layouts of one data-parallel shape: one rank on each thread count,
    and one rank per core on one thread each (when there are several cores).

    Parameters
    ----------
    shape : (network name, global batch, samples)
        One entry of :attr:`Plan.data_parallel`.
    threads : sequence of int
        The run's thread counts.

    Returns
    -------
    list of (DataParallelCase, int)
        Each case with its threads per rank.
    """
    cores = os.cpu_count() or 1
    out = [(DataParallelCase(*shape, ranks=1), n) for n in threads]
    if cores > 1:
        out.append((DataParallelCase(*shape, ranks=cores), 1))
    return out


def key(group, case, dtype, threads, impl):
    """The stable key of one benchmark: ``group/case/dtype/threads/impl``."""
    return "/".join([group, case.name, dtype, threads_label(threads), impl])
