"""Data-parallel training on MPI: 2 ranks × 1 thread against 1 rank × 1 and × 2 threads.

Starts ``fastnn.bench.data_parallel`` under ``mpiexec`` for each layout in turn,
round after round (so that the machine's drift enters every layout), and
prints the median samples/s of each (epochs after the first of one ``fit``
per launch), their ratios to one rank on one thread, which way the 2 ranks
combine their steps (the gradient sum, or the shared products: see
fastnn.distributed), the time and bytes per step of the exchange and of the
gradient sum alone, and the first epoch's time (the ``fit`` call's setup
included)::

    python benchmarks/data_parallel.py                       # mlp and large, 3 rounds
    python benchmarks/data_parallel.py --cases large --rounds 5

Cases: 784-128-64-10 ReLU softmax-CE, one epoch of 60,000 samples, and
1024-4096-4096-1024 ReLU MSE over 4,096 samples (16 steps), both at global
batch 256, float32.  Needs mpi4py and an MPI (``pip install mpi4py mpich``).
Not part of the test suite.  The benchmark suite measures the same layouts
(``python -m fastnn bench --quick --dtypes float32 -k data_parallel``,
``TestDataParallel`` in fastnn/bench/suite.py) one after the other; this
script alternates them, round after round.
"""

import argparse
import json
import statistics
import subprocess

from fastnn.bench.data_parallel import command, missing

CASES = {"mlp": 60_000, "large": 4_096}
LAYOUTS = [(1, 1), (1, 2), (2, 1)]   # (ranks, threads per rank)


def _run(case, ranks, threads, rounds):
    cmd = command(case, ranks, "--samples", str(CASES[case]), "--threads", str(threads),
                  "--rounds", str(rounds))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=3600)
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mlp,large")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternations of the layouts (each times --per-run epochs)")
    parser.add_argument("--per-run", type=int, default=2, help="timed epochs per launch")
    args = parser.parse_args()
    if missing():
        parser.exit(2, "data_parallel.py: %s\n" % missing())
    print("| network, global batch 256, float32 | 1 rank × 1 thread | 1 rank × 2 threads "
          "| 2 ranks × 1 thread | 2r/1r1t | 1r2t/1r1t | 2 ranks' mode | exchange per step "
          "| gradient sum per step | first epoch (setup), 2 ranks |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for case in args.cases.split(","):
        rates = {layout: [] for layout in LAYOUTS}
        allreduce, exchange, first = [], [], []
        for _ in range(args.rounds):
            for ranks, threads in LAYOUTS:
                result = _run(case, ranks, threads, args.per_run)
                rates[(ranks, threads)] += result["samples_per_s"]
                if ranks == 2:
                    allreduce.append(result["allreduce_us"])
                    exchange.append(result.get("exchange_us", 0.0))
                    first.append(result["first_epoch_s"])
                    info = result
        med = {layout: statistics.median(r) for layout, r in rates.items()}
        base = med[(1, 1)]
        products = info["mode"] == "shared products"
        print("| %s | %s | %s | %s | %.2f× | %.2f× | %s | %s | %.0f µs, %.1f MB | %.2f s |" % (
            info["network"], *("{:,.0f}".format(med[layout]) for layout in LAYOUTS),
            med[(2, 1)] / base, med[(1, 2)] / base, info["mode"],
            "%.0f µs, %.1f MB" % (statistics.median(exchange), info["exchange_bytes"] / 1e6)
            if products else "—", statistics.median(allreduce), info["bytes_per_step"] / 1e6,
            statistics.median(first)), flush=True)

if __name__ == "__main__":
    main()
