"""fastnn against jitted JAX, side by side in one process, one thread, float32.

Both train the same network from the same initial weights, in the same batch
order, on the same synthetic data of MNIST's shape (60,000 samples of 784
uniform inputs, random one-hot targets; ``fastnn.bench.training.make_data``):
fastnn through ``fit(epochs=1)``, JAX through ``fastnn.bench.jax_peer``'s
network (the whole epoch one jitted ``jax.lax.scan`` over its batches,
parameters donated; a step one jitted, donated SGD step).  Rounds alternate
the two (and which goes first), so that the machine's drift over minutes
enters both; the medians and their ratio are printed, in wall time and in
the process's CPU time (both run on one thread, so CPU time is their work
without the time other processes took the core: the figure to trust on a
loaded machine).  Compilation is left out (one untimed call of each first).

    python benchmarks/jax_vs_fastnn.py                  # the four cases below
    python benchmarks/jax_vs_fastnn.py --rounds 7 --cases nielsen,large

Cases: 784-30-10 sigmoid MSE at batch 10, 784-16-16-10 at batch 32,
784-128-64-10 ReLU softmax + cross-entropy at batch 256 (one epoch each), and
1024-4096-4096-1024 ReLU at batch 256 (``--steps`` steps per round; per step).

One thread: fastnn and NumPy's BLAS through ``fastnn.bench.machine.set_threads``;
XLA through ``PJRT_NPROC=1``, set before JAX starts (XLA's CPU client sizes
its thread pool from it once; see ``fastnn.bench.jax_peer``).  The script
reports how many threads of the process did the JAX work of the last round.
Needs JAX (``pip install "jax[cpu]"``).
"""

import argparse
import os
import statistics
import sys
import time

import fastnn
from fastnn.bench import jax_peer, machine, training
from fastnn.bench.cases import EPOCH_SAMPLES, NETWORKS, TrainingCase

# Before JAX starts (it starts in jax_peer.LocalTrainer): XLA on one thread.
os.environ.update(jax_peer.worker_env(1))

CASES = {"nielsen": 10, "3b1b": 32, "mlp": 256, "large": 256}


def _timed(trainer, steps, impl):
    """Wall and process CPU seconds of one round: ``steps`` steps, or an epoch (steps=0)."""
    wall, cpu = time.perf_counter(), time.process_time()
    if impl == "jax":
        trainer.steps(steps) if steps else trainer.epoch()
    elif steps:
        for _ in range(steps):
            trainer.step()
    else:
        trainer.epoch()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_case(name, rounds, steps):
    """Median seconds per epoch (or per step) of fastnn and JAX, interleaved."""
    batch = CASES[name]
    per_step = name == "large"
    samples = batch * training.STEP_BATCHES if per_step else EPOCH_SAMPLES
    case = TrainingCase(name, batch, samples)
    fast = training.make(case, "fastnn", "float32", samples)
    jx = jax_peer.LocalTrainer(name, batch, "float32", samples)
    n = steps if per_step else 0
    trainers = {"fastnn": fast, "jax": jx}
    for impl, trainer in trainers.items():
        _timed(trainer, n, impl)             # JAX compiles here
    times = {(impl, clock): [] for impl in trainers for clock in ("wall", "cpu")}
    for r in range(rounds):
        for impl in (("fastnn", "jax") if r % 2 == 0 else ("jax", "fastnn")):
            for clock, t in zip(("wall", "cpu"), _timed(trainers[impl], n, impl)):
                times[impl, clock].append(t / steps if per_step else t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return case, per_step, med, jx.thread_use()[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3,
                        help="steps per round for the large network (default 3)")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated, of %s" % ", ".join(CASES))
    args = parser.parse_args(argv)
    if not jax_peer.available():
        print("jax_vs_fastnn.py needs JAX: pip install \"jax[cpu]\"", file=sys.stderr)
        return 2
    import jax
    machine.set_threads(1)
    print("fastnn %s (%s path), jax %s, one thread, float32, load average %.1f"
          % (fastnn.__version__, fastnn.get_isa(), jax.__version__, os.getloadavg()[0]))
    print("| case | per | fastnn wall (s) | jax wall (s) | jax/fastnn wall | "
          "fastnn CPU (s) | jax CPU (s) | jax/fastnn CPU | jax busy threads |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.cases.split(","):
        case, per_step, med, use = run_case(name, args.rounds, args.steps)
        print("| %s %s b%d | %s | %.4g | %.4g | %.2f× | %.4g | %.4g | %.2f× | %s |" % (
            NETWORKS[name].name, NETWORKS[name].hidden, case.batch,
            "step" if per_step else "epoch",
            med["fastnn", "wall"], med["jax", "wall"], med["jax", "wall"] / med["fastnn", "wall"],
            med["fastnn", "cpu"], med["jax", "cpu"], med["jax", "cpu"] / med["fastnn", "cpu"],
            (use or {}).get("busy_threads", "?")), flush=True)
    print("load average at the end %.1f" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
