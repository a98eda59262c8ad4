"""Command line: ``python -m fastnn {demo,info,tune,bench,compare}``."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train a handwritten-digit classifier (scikit-learn's 8x8 digits, "
                     "or MNIST with --mnist DIR) and report test accuracy and time")
    demo.add_argument("--mnist", metavar="DIR",
                      help="train Nielsen's 784-30-10 sigmoid network on the MNIST IDX "
                           "files (.gz or raw) in DIR")
    demo.add_argument("--epochs", type=int, help="epochs (default: 40 digits, 30 MNIST)")
    demo.add_argument("--seed", type=int, default=0, help="seed of weights and shuffles")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("info", help="print how fastnn was built and what it runs on")
    tune = commands.add_parser(
        "tune", help="measure fastnn's own matrix kernels against BLAS on this CPU (one "
                     "thread, under a minute) and save the fastest routes to the cache "
                     "that import fastnn loads")
    tune.add_argument("--quick", action="store_true",
                      help="three tiny products only (checks that tuning runs)")
    tune.add_argument("--out", metavar="FILE.json",
                      help="where to write the table (default: the per-user cache file)")
    tune.add_argument("--margin", type=float, default=0.05,
                      help="how much slower the default route must be before a "
                           "measured one replaces it (default 0.05)")
    bench = commands.add_parser(
        "bench", help="run the benchmark suite (fastnn vs the NumPy reference and PyTorch) "
                      "and save pytest-benchmark JSON; needs pip install \"fastnn[bench]\"")
    bench.add_argument("--quick", action="store_true",
                       help="a subset with short timings (a few minutes)")
    bench.add_argument("--tiny", action="store_true",
                       help="a tiny network and shapes with minimal timings: checks that "
                            "the suite runs (seconds); its figures mean nothing")
    bench.add_argument("--out", metavar="FILE.json",
                       help="where to save the results (default: "
                            "fastnn-bench-<plan>-<date>-<time>.json)")
    bench.add_argument("--threads", metavar="N,N", help="thread counts (default: 1 and all "
                                                         "cores)")
    bench.add_argument("--dtypes", metavar="DTYPES", help="default float32,float64")
    bench.add_argument("-k", dest="select", metavar="EXPR",
                       help="only benchmarks whose key matches this pytest -k expression, "
                            "e.g. 'dense and float32'")
    bench.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                       help="more pytest arguments, after --")
    from fastnn.bench import compare as comparing
    comparing.add_arguments(commands.add_parser(
        "compare", help="print benchmark results of several runs (CPUs, threads, builds) "
                        "side by side, and draw PNG charts when matplotlib is installed"))
    args = parser.parse_args(argv)
    if args.command == "info":
        from fastnn import show_config
        from fastnn.bench import machine
        show_config()
        print(machine.describe())
        return 0
    if args.command == "tune":
        return _tune(args)
    if args.command == "bench":
        from fastnn.bench import runner
        plan = "tiny" if args.tiny else "quick" if args.quick else "full"
        return runner.run(plan, args.out, args.threads, args.dtypes, args.select,
                          args.pytest_args)
    if args.command == "compare":
        return comparing.run(args.files, None if args.no_charts else args.charts, args.dtype,
                             select=args.select)
    from fastnn import demo as demos
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    verbose = 0 if args.quiet else 1
    try:
        if args.mnist:
            demos.mnist(args.mnist, epochs=args.epochs or 30, seed=args.seed, verbose=verbose)
        else:
            demos.digits(epochs=args.epochs or 40, seed=args.seed, verbose=verbose)
    except (FileNotFoundError, ValueError, ImportError) as exc:
        print("fastnn demo: %s" % exc, file=sys.stderr)
        return 1
    return 0


def _tune(args):
    import fastnn
    result = fastnn.tune(quick=args.quick, margin=args.margin, path=args.out)
    rows, cells = result["rows"], result["cells"]
    print("fastnn %s, %s path: candidates %s" % (
        fastnn.__version__, result["isa"], ", ".join(result["routes"])))
    if not rows:
        print("only BLAS has a kernel on this path: nothing to measure")
    else:
        changed = sum(1 for r in rows if fastnn._routes.cell_of(
            r["dtype"], r["op"], r["m"], r["n"], r["k"]) in cells)
        print("%d products measured in %.1f s; %d table cells (%d products) differ "
              "from the default rule" % (len(rows), result["seconds"], len(cells), changed))
        for cell, route in sorted(cells.items()):
            print("  %s %s bins m/n/k %d/%d/%d -> %s" % (cell + (route,)))
    print("wrote %s" % result["file"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
