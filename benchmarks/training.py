"""Training throughput, side by side: fastnn, the NumPy reference, PyTorch eager.

Implementations: ``fastnn`` (the compiled loop), ``numpy`` (fastnn's
``backend="numpy"``, batch by batch on ``fastnn.reference``), ``numpy_plain``
(a hand-written vectorised NumPy network, the stronger NumPy baseline) and
``torch`` (PyTorch eager, when installed).  Each case trains the same network with the same optimizer, batch size and
thread count in every implementation, on the same synthetic data, and reports
the median samples/s over several timed epochs.  Run as a script for a table::

    python benchmarks/training.py [--threads 1,2] [--cases nielsen_b10,...] [--repeats 5]

``bench_training.py`` runs the same cases under pytest-benchmark.
"""

import argparse
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastnn

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

# name: (sizes, hidden activation, output activation, loss, optimizer, lr, batch, samples)
CASES = {
    "nielsen_b10": ([784, 30, 10], "sigmoid", "sigmoid", "mse", "sgd", 3.0, 10, 20_000),
    "nielsen_b1": ([784, 30, 10], "sigmoid", "sigmoid", "mse", "sgd", 3.0, 1, 4_000),
    "3b1b_b10": ([784, 16, 16, 10], "sigmoid", "sigmoid", "mse", "sgd", 3.0, 10, 20_000),
    "3b1b_b32": ([784, 16, 16, 10], "sigmoid", "sigmoid", "mse", "sgd", 3.0, 32, 40_000),
    "mlp_relu_b256": ([784, 128, 64, 10], "relu", "softmax", "cce", "sgd", 0.1, 256, 40_000),
    "large_relu_b256": ([1024, 4096, 4096, 1024], "relu", "identity", "mse", "sgd", 1e-3, 256,
                        1_024),
}

_LAYERS = {"sigmoid": fastnn.Sigmoid, "relu": fastnn.ReLU, "softmax": fastnn.Softmax,
           "identity": fastnn.Identity, "tanh": fastnn.Tanh}
_LOSSES = {"mse": fastnn.MSELoss, "cce": fastnn.CrossEntropyLoss, "bce": fastnn.BCELoss}


def make_data(case, dtype=np.float32, seed=0):
    sizes, *_, n = CASES[case]
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0]), dtype=np.float64).astype(dtype)
    labels = rng.integers(0, sizes[-1], n)
    Y = np.zeros((n, sizes[-1]), dtype)
    Y[np.arange(n), labels] = 1
    return X, Y


def fastnn_model(case, dtype=np.float32, backend="cython", seed=0):
    sizes, hidden, out, *_ = CASES[case]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [fastnn.Dense(n_in, n_out),
                   _LAYERS[out if i == len(sizes) - 2 else hidden]()]
    return fastnn.Sequential(layers, dtype=np.dtype(dtype).name, seed=seed, backend=backend)


def fastnn_epoch(case, backend="cython", dtype=np.float32):
    """Return ``train(epochs)``, which trains that many epochs over the case's data.

    fastnn validates the data once per ``fit`` call (one pass over X), so the
    timed runs call ``fit`` once for all their epochs, as a user would.
    """
    _, _, _, loss, _, lr, batch, _ = CASES[case]
    X, Y = make_data(case, dtype)
    model = fastnn_model(case, dtype, backend)
    optimizer = fastnn.SGD(lr)
    loss = _LOSSES[loss]()

    def train(epochs=1):
        model.fit(X, Y, loss, optimizer, epochs=epochs, batch_size=batch, verbose=0)
    return train


def torch_epoch(case, dtype=np.float32):
    """One epoch of PyTorch eager: torch.nn layers, torch.optim.SGD, a shuffled index per epoch."""
    sizes, hidden, out, loss, _, lr, batch, n = CASES[case]
    X, Y = make_data(case, dtype)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    acts = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "identity": torch.nn.Identity,
            "softmax": None}
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
        act = out if i == len(sizes) - 2 else hidden
        if act != "softmax":     # softmax + cross-entropy: fused in the loss, as usual
            layers.append(acts[act]())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    targets = Yt.argmax(dim=1)
    generator = torch.Generator().manual_seed(0)

    def train(epochs=1):
        for _ in range(epochs):
            epoch()

    def epoch():
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            output = model(Xt[idx])
            if loss == "mse":
                value = 0.5 * ((output - Yt[idx]) ** 2).sum(dim=1).mean()
            else:
                value = torch.nn.functional.cross_entropy(output, targets[idx])
            value.backward()
            optimizer.step()
    return train


def numpy_plain_epoch(case, dtype=np.float32):
    """A hand-written vectorised NumPy network, the way a tutorial writes one.

    Lighter than ``fastnn.reference`` (naive sigmoid, no validation, no flat
    buffer), so it is the stronger NumPy baseline.
    """
    sizes, hidden, out, loss, _, lr, batch, n = CASES[case]
    X, Y = make_data(case, dtype)
    model = fastnn_model(case, dtype)
    Ws = [d.W.copy() for d in model.dense]
    bs = [d.b.copy() for d in model.dense]
    acts = [hidden] * (len(Ws) - 1) + [out]
    rng = np.random.default_rng(0)
    lr = dtype(lr)

    def f(z, act):
        if act == "sigmoid":
            return 1 / (1 + np.exp(-z))
        if act == "relu":
            return np.maximum(z, 0)
        if act == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return z

    def train(epochs=1):
        for _ in range(epochs):
            epoch()

    def epoch():
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            a = [X[idx]]
            for W, b, act in zip(Ws, bs, acts):
                a.append(f(a[-1] @ W + b, act))
            m = len(idx)
            delta = (a[-1] - Y[idx]) / m          # softmax+CE, identity+MSE
            if loss == "mse" and out == "sigmoid":
                delta *= a[-1] * (1 - a[-1])
            for i in range(len(Ws) - 1, -1, -1):
                dW, db = a[i].T @ delta, delta.sum(axis=0)
                if i:
                    delta = delta @ Ws[i].T
                    delta *= a[i] * (1 - a[i]) if acts[i - 1] == "sigmoid" else (a[i] > 0)
                Ws[i] -= lr * dW
                bs[i] -= lr * db
    return train


IMPLEMENTATIONS = {
    "fastnn": lambda case: fastnn_epoch(case, "cython"),
    "numpy": lambda case: fastnn_epoch(case, "numpy"),
    "numpy_plain": numpy_plain_epoch,
    "torch": torch_epoch,
}


def set_threads(n):
    """Give every implementation n threads: fastnn, NumPy's own BLAS, PyTorch."""
    threadpool_limits(limits=n)       # every OpenMP runtime and BLAS loaded, NumPy's too
    fastnn.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def samples_per_second(train, n_samples, repeats=5, min_time=0.3):
    """Median samples/s over ``repeats`` runs of ``train(epochs)``, each lasting ``min_time``."""
    train(1)   # warm-up: builds workspaces, touches the data
    started = time.perf_counter()
    train(1)
    per_epoch = max(time.perf_counter() - started, 1e-6)
    epochs = max(1, int(min_time / per_epoch))
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        train(epochs)
        rates.append(epochs * n_samples / (time.perf_counter() - started))
    return statistics.median(rates)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    impls = [i for i in args.impls.split(",") if i != "torch" or torch is not None]
    print("# %s, %s, fastnn %s, torch %s" % (fastnn.config()["cpu"], platform.python_version(),
                                             fastnn.__version__,
                                             torch.__version__ if torch else "absent"))
    print("| case | threads | " + " | ".join("%s samples/s" % i for i in impls)
          + " | fastnn / numpy | fastnn / numpy_plain | fastnn / torch |")
    print("|---|---:|" + "---:|" * (len(impls) + 3))
    for case in args.cases.split(","):
        n = CASES[case][-1]
        for threads in (int(t) for t in args.threads.split(",")):
            set_threads(threads)
            rates = {impl: samples_per_second(IMPLEMENTATIONS[impl](case), n, args.repeats)
                     for impl in impls}
            ratio = lambda other: ("%.1fx" % (rates["fastnn"] / rates[other])
                                   if other in rates and "fastnn" in rates else "-")
            print("| %s | %d | %s | %s | %s | %s |" % (
                case, threads, " | ".join("{:,.0f}".format(rates[i]) for i in impls),
                ratio("numpy"), ratio("numpy_plain"), ratio("torch")))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
