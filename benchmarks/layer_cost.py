"""What each optional piece costs a training epoch: regularisation layers,
normalization, optimizers, clipping, side by side in one process.

Every variant trains the same network on the same synthetic data (one epoch
of 60,000 samples through ``Sequential.fit``, float32), alternating with the
plain network (SGD, no extra layer) round after round, so that the machine's
drift over minutes falls on all of them alike.  It prints each variant's
median samples/s and its cost: 1 − (its speed / the plain network's speed).

``--load N`` starts N CPU-bound processes first and stops them at the end
(``fastnn.bench.load``, as ``interleaved.py --load``): the costs beside a
busy machine's other work.

``--torch`` adds PyTorch eager with the same layers (Dropout: ``nn.Dropout``,
BatchNorm: ``nn.BatchNorm1d``, LayerNorm: ``nn.LayerNorm``) and reports
fastnn's speed over PyTorch's for each layer variant.

Examples::

    python benchmarks/layer_cost.py mlp 256 --rounds 5
    python benchmarks/layer_cost.py nielsen 10 --only plain dropout --torch
    python benchmarks/layer_cost.py nielsen 10 --only dropout --torch --load 2

Issue 17's bounds: Dropout, BatchNorm and the new optimizers cost at most
15% at 784-128-64-10 batch 256, and fastnn with Dropout stays at least 20x
PyTorch eager at 784-30-10 batch 10.
"""

import argparse
import time

import numpy as np

import fastnn
from fastnn.bench import training
from fastnn.bench.cases import EPOCH_SAMPLES, NETWORKS
from fastnn.bench.load import competing_processes


def _hidden_count(network):
    return len(network.sizes) - 2


def _fastnn_layers(network, extra):
    layers = []
    for i, (n_in, n_out, act) in enumerate(network.layers()):
        hidden = i < _hidden_count(network)
        layers.append(fastnn.Dense(n_in, n_out))
        if hidden and extra == "batchnorm":
            layers.append(fastnn.BatchNorm())
        if hidden and extra == "layernorm":
            layers.append(fastnn.LayerNorm())
        layers.append(training._LAYERS[act]())
        if hidden and extra == "dropout":
            layers.append(fastnn.Dropout(0.2))
    return layers


#: variant -> (extra layer, optimizer factory taking the network's SGD rate)
VARIANTS = {
    "plain": (None, lambda lr: fastnn.SGD(lr)),
    "dropout": ("dropout", lambda lr: fastnn.SGD(lr)),
    "batchnorm": ("batchnorm", lambda lr: fastnn.SGD(lr)),
    "layernorm": ("layernorm", lambda lr: fastnn.SGD(lr)),
    "adam": (None, lambda lr: fastnn.Adam(1e-3)),
    "adamw": (None, lambda lr: fastnn.AdamW(1e-3)),
    "amsgrad": (None, lambda lr: fastnn.Adam(1e-3, amsgrad=True)),
    "rmsprop": (None, lambda lr: fastnn.RMSprop(1e-3)),
    "adagrad": (None, lambda lr: fastnn.Adagrad(1e-2)),
    "clip_norm": (None, lambda lr: fastnn.SGD(lr, clip_norm=1.0)),
}


def _fastnn_run(network, batch, X, Y, variant):
    extra, make_optimizer = VARIANTS[variant]
    model = fastnn.Sequential(_fastnn_layers(network, extra), dtype="float32", seed=0)
    optimizer = make_optimizer(network.lr)

    def run():
        start = time.perf_counter()
        model.fit(X, Y, network.loss, optimizer, epochs=1, batch_size=batch, verbose=0)
        return X.shape[0] / (time.perf_counter() - start)
    return run


def _torch_run(torch, network, batch, X, Y, extra):
    nn = torch.nn
    modules = []
    for i, (n_in, n_out, act) in enumerate(network.layers()):
        hidden = i < _hidden_count(network)
        modules.append(nn.Linear(n_in, n_out))
        if hidden and extra == "batchnorm":
            modules.append(nn.BatchNorm1d(n_out))
        if hidden and extra == "layernorm":
            modules.append(nn.LayerNorm(n_out))
        if act == "sigmoid":
            modules.append(nn.Sigmoid())
        elif act == "relu":
            modules.append(nn.ReLU())
        if hidden and extra == "dropout":
            modules.append(nn.Dropout(0.2))
    model = nn.Sequential(*modules).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=network.lr)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    labels = Yt.argmax(axis=1)

    def loss_of(out, rows):
        if network.loss == "cce":                      # softmax output fused, as fastnn
            return nn.functional.cross_entropy(out, labels[rows])
        return 0.5 * ((out - Yt[rows]) ** 2).sum(axis=1).mean()

    def run():
        start = time.perf_counter()
        order = torch.randperm(X.shape[0])
        for pos in range(0, X.shape[0], batch):
            rows = order[pos:pos + batch]
            optimizer.zero_grad()
            loss_of(model(Xt[rows]), rows).backward()
            optimizer.step()
        return X.shape[0] / (time.perf_counter() - start)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("batch", type=int)
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS),
                        help="variants to time (default: all; 'plain' is always timed)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torch", action="store_true",
                        help="also time PyTorch eager with the same layers (plain and the "
                             "layer variants)")
    parser.add_argument("--load", type=int, default=0,
                        help="CPU-bound competing processes to run meanwhile (default 0)")
    args = parser.parse_args(argv)
    with competing_processes(args.load):
        _compare(args)


def _compare(args):
    network = NETWORKS[args.network]
    variants = ["plain"] + [v for v in (args.only or VARIANTS) if v != "plain"]
    X, Y = training.make_data(network.sizes[0], network.sizes[-1], EPOCH_SAMPLES, "float32")
    fastnn.set_num_threads(args.threads, adaptive=False)
    runners = {v: _fastnn_run(network, args.batch, X, Y, v) for v in variants}
    if args.torch:
        torch = training.torch_module()
        if torch is None:
            raise SystemExit("--torch needs PyTorch (pip install torch==2.13.0)")
        torch.set_num_threads(args.threads)
        for v in variants:
            if v == "plain" or VARIANTS[v][0] is not None:
                runners["torch " + v] = _torch_run(torch, network, args.batch, X, Y,
                                                   VARIANTS[v][0])
    times = {name: [] for name in runners}
    for run in runners.values():            # warm-up round, not counted
        run()
    for _ in range(args.rounds):
        for name, run in runners.items():
            times[name].append(run())
    medians = {name: float(np.median(v)) for name, v in times.items()}
    print("%s b%d, float32, %d thread(s), %d rounds of an epoch of %d samples, %s; medians"
          % (network.describe(), args.batch, args.threads, args.rounds, EPOCH_SAMPLES,
             "%d competing processes" % args.load if args.load else "no competing load"))
    plain = medians["plain"]
    for v in variants:
        line = "  %-10s %10s samples/s  cost %+6.1f%%" % (
            v, format(round(medians[v]), ","), 100 * (1 - medians[v] / plain))
        if "torch " + v in medians:
            line += "   PyTorch %9s samples/s, fastnn %.1fx" % (
                format(round(medians["torch " + v]), ","), medians[v] / medians["torch " + v])
        print(line)


if __name__ == "__main__":
    main()
