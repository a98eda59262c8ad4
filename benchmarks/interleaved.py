"""Side-by-side timings in one process, alternating, for noisy machines.

On a shared VM the speed of the whole machine drifts by 20-30% over minutes, so
two numbers taken in separate runs (or even in one suite run, minutes apart)
compare the machine's moods as much as the code.  This script alternates the
two things being compared, round after round, in one process, and reports the
medians and their ratio:

``--vs torch``
    fastnn against PyTorch eager on the same network, data and thread count
    (both from ``fastnn.bench.training``): whole epochs of 60,000 samples, or
    single steps for the large network.
``--vs jax``
    fastnn against JAX (a jitted epoch, ``lax.scan`` over its batches; the
    peer of ``fastnn.bench.jax_peer``, in its worker process) on
    ``--threads`` threads: under ``--load N``, the two side by side round
    after round, where the suite's ``contention`` rows come minutes apart.
``--vs threads``
    fastnn on 1 thread against fastnn on 2 threads.
``--vs isa``
    fastnn on its default instruction-set path against fastnn on the path
    ``--isa`` names (``fastnn.use_isa``), same thread count.
``--vs adaptive``
    fastnn on ``--threads`` threads, taking fewer while other processes hold
    the CPUs (the default), against the same fixed (``adaptive=False``):
    what measuring the load costs on a quiet machine, and what it saves on a
    busy one (``--load N``).  Epochs only: the large network's steps do not
    go through ``fit``.

``--load N`` starts N CPU-bound processes (busy loops) first and stops them
at the end: the comparison under contention, as on a busy laptop or CI
runner (``--load 2 --vs threads`` on 2 cores: the default 2 threads against
1 when every core is also wanted by another process).

Examples::

    python benchmarks/interleaved.py 3b1b 32 --vs torch --threads 2
    python benchmarks/interleaved.py large 256 --vs torch --threads 1 --rounds 4
    python benchmarks/interleaved.py large 256 --vs threads --rounds 8
    python benchmarks/interleaved.py nielsen 10 --vs isa --isa portable --threads 1
    python benchmarks/interleaved.py mlp 256 --vs threads --load 2
    python benchmarks/interleaved.py 3b1b 32 --vs adaptive --rounds 9
    python benchmarks/interleaved.py mlp 256 --vs jax --load 2 --rounds 15

Network names are the keys of ``fastnn.bench.cases.NETWORKS`` (nielsen,
3b1b, mlp, large).  Needs PyTorch for ``--vs torch``, JAX for ``--vs jax``.
"""

import argparse
import time

import numpy as np

import fastnn
from fastnn.bench import jax_peer, training
from fastnn.bench.cases import EPOCH_SAMPLES, NETWORKS, TrainingCase
from fastnn.bench.load import competing_processes


def _timer(trainer, per_step, reps, epoch_samples):
    """A function timing one round: ``reps`` steps, or one epoch of
    ``epoch_samples``; samples/s."""
    def run():
        start = time.perf_counter()
        if per_step:
            for _ in range(reps):
                trainer.step()
            samples = reps * trainer.batch * trainer.steps_per_call
        else:
            trainer.epoch()
            samples = epoch_samples
        return samples / (time.perf_counter() - start)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", choices=sorted(NETWORKS))
    parser.add_argument("batch", type=int)
    parser.add_argument("--vs", choices=["torch", "jax", "threads", "isa", "adaptive"], required=True)
    parser.add_argument("--threads", type=int, default=2,
                        help="thread count for --vs torch, jax, isa and adaptive (default 2)")
    parser.add_argument("--isa", default="portable",
                        help="the other instruction-set path for --vs isa (default portable)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2,
                        help="steps per round for the large network (default 2)")
    parser.add_argument("--load", type=int, default=0,
                        help="CPU-bound competing processes to run meanwhile (default 0)")
    args = parser.parse_args(argv)
    with competing_processes(args.load):
        _compare(args)


def _compare(args):
    per_step = args.network == "large"
    samples = args.batch * training.STEP_BATCHES if per_step else EPOCH_SAMPLES
    case = TrainingCase(args.network, args.batch, samples)
    if args.vs in ("torch", "jax"):
        if args.vs == "torch":
            torch = training.torch_module()
            if torch is None:
                raise SystemExit("--vs torch needs PyTorch (pip install torch==2.13.0)")
            torch.set_num_threads(args.threads)
        elif not jax_peer.available():
            raise SystemExit('--vs jax needs JAX (pip install "jax[cpu]")')
        fastnn.set_num_threads(args.threads)      # the JAX worker takes as many
        runners = {name: _timer(training.make(case, name, "float32", samples), per_step,
                                args.steps, samples)
                   for name in ("fastnn", args.vs)}
        settings = {name: None for name in runners}   # nothing to switch between rounds
    elif args.vs == "threads":
        trainer = training.make(case, "fastnn", "float32", samples)
        runners = {"2 threads": _timer(trainer, per_step, args.steps, samples),
                   "1 thread": _timer(trainer, per_step, args.steps, samples)}
        settings = {"2 threads": lambda: fastnn.set_num_threads(2),
                    "1 thread": lambda: fastnn.set_num_threads(1)}
    elif args.vs == "adaptive":
        if per_step:
            raise SystemExit("--vs adaptive times epochs (fit); the large network runs steps")
        trainer = training.make(case, "fastnn", "float32", samples)
        runners = {"adaptive": _timer(trainer, per_step, args.steps, samples),
                   "fixed": _timer(trainer, per_step, args.steps, samples)}
        settings = {"adaptive": lambda: fastnn.set_num_threads(args.threads),
                    "fixed": lambda: fastnn.set_num_threads(args.threads, adaptive=False)}
    else:
        fastnn.set_num_threads(args.threads)
        default = fastnn.get_isa()
        trainer = training.make(case, "fastnn", "float32", samples)
        runners = {default: _timer(trainer, per_step, args.steps, samples),
                   args.isa: _timer(trainer, per_step, args.steps, samples)}
        settings = {default: lambda: fastnn.set_isa(default),
                    args.isa: lambda: fastnn.set_isa(args.isa)}

    times = {name: [] for name in runners}
    for name, run in runners.items():          # warm-up round, not counted
        if settings[name]:
            settings[name]()
        run()
    for _ in range(args.rounds):
        for name, run in runners.items():
            if settings[name]:
                settings[name]()
            times[name].append(run())
    medians = {name: float(np.median(v)) for name, v in times.items()}
    (a, ma), (b, mb) = medians.items()   # fastnn/torch or jax, 2/1 threads, default/other path, adaptive/fixed
    what = "steps" if per_step else "epochs"
    print("%s b%d, %d rounds of %s, float32, %ssamples/s medians: %s %s, %s %s, "
          "ratio %.2f" % (NETWORKS[args.network].name, args.batch, args.rounds, what,
                          "%d competing processes, " % args.load if args.load else "",
                          a, format(round(ma), ","), b, format(round(mb), ","), ma / mb))


if __name__ == "__main__":
    main()
