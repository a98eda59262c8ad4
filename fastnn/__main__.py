"""Train a demo network, describe the build, tune the kernels and benchmark fastnn.

Run "fastnn COMMAND -h" (or "python -m fastnn COMMAND -h") for a command's options.
"""

import argparse
import math
import os
import sys

from fastnn._version import __version__

COMMANDS = ("demo", "info", "tune", "bench", "compare")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: ``fastnn bench: error: ...``."""

    def error(self, message):
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


def _checked(parse):
    """An argparse ``type`` from a parser that raises ValueError with the message to show."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("expected an integer >= 1, got %r" % text)
    return value


def _margin(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError("expected a finite number >= 0 such as 0.05, got %r" % text)
    return value


def _output_file(text):
    folder = os.path.dirname(text) or "."
    if not os.path.isdir(folder):
        raise ValueError("expected a file in an existing folder, got %r (no folder %r)"
                         % (text, folder))
    return text


def _directory(text):
    if not os.path.isdir(text):
        raise ValueError("expected a folder, got %r (no such folder)" % text)
    return text


def build_parser():
    """The parser of the command line.

    Returns
    -------
    argparse.ArgumentParser
        Its program name is ``fastnn``; errors print one line and exit 2.
    """
    from fastnn.bench import compare, options

    parser = _Parser(prog="fastnn", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="fastnn %s" % __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="train a handwritten-digit classifier (scikit-learn's 8x8 digits, "
                     "or MNIST with --mnist DIR) and report test accuracy and time")
    demo.add_argument("--mnist", metavar="DIR", type=_checked(_directory),
                      help="train Nielsen's 784-30-10 sigmoid network on the MNIST IDX "
                           "files (.gz or raw) in DIR")
    demo.add_argument("--epochs", type=_checked(_positive_int),
                      help="epochs, >= 1 (default: 40 digits, 30 MNIST)")
    demo.add_argument("--seed", type=int, default=0, help="seed of weights and shuffles")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--distributed", action="store_true",
                      help="train data-parallel on the ranks of an MPI job: start with "
                           "mpiexec -n P fastnn demo --distributed (needs mpi4py)")
    commands.add_parser("info", help="print how fastnn was built and what it runs on")
    tune = commands.add_parser(
        "tune", help="measure fastnn's own matrix kernels against BLAS on this CPU (one "
                     "thread, under a minute) and save the fastest routes to the cache "
                     "that import fastnn loads")
    tune.add_argument("--quick", action="store_true",
                      help="three tiny products only (checks that tuning runs)")
    tune.add_argument("--out", metavar="FILE.json",
                      help="where to write the table, its folder created if needed "
                           "(default: the per-user cache file)")
    tune.add_argument("--margin", type=_checked(_margin), default=0.05,
                      help="how much slower the default route must be before a "
                           "measured one replaces it, >= 0 (default 0.05)")
    bench = commands.add_parser(
        "bench", help="run the benchmark suite (fastnn vs the NumPy reference and PyTorch) "
                      "and save pytest-benchmark JSON; needs pip install \"fastnn[bench]\"")
    bench.add_argument("--quick", action="store_true",
                       help="a subset with short timings (a few minutes)")
    bench.add_argument("--tiny", action="store_true",
                       help="a tiny network and shapes with minimal timings: checks that "
                            "the suite runs (seconds); its figures mean nothing")
    bench.add_argument("--out", metavar="FILE.json", type=_checked(_output_file),
                       help="where to save the results (default: "
                            "fastnn-bench-<plan>-<date>-<time>.json)")
    bench.add_argument("--threads", metavar="N,N", type=_checked(options.parse_threads),
                       help="comma-separated thread counts, e.g. 1,2 (default: 1 and "
                            "all cores)")
    bench.add_argument("--dtypes", metavar="DTYPES", type=_checked(options.parse_dtypes),
                       help="comma-separated, among %s (default: all)"
                            % ", ".join(options.DTYPES))
    bench.add_argument("-k", dest="select", metavar="EXPR",
                       help="only benchmarks whose key matches this pytest -k expression, "
                            "e.g. 'dense and float32'")
    bench.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                       help="progress on standard error: a bar redrawn in place, a line per "
                            "benchmark, or none (default auto: the bar on a terminal, "
                            "else lines)")
    bench.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                       help="more pytest arguments, after --")
    compare.add_arguments(commands.add_parser(
        "compare", help="print benchmark results of several runs (CPUs, threads, builds) "
                        "side by side, and draw PNG charts when matplotlib is installed"))
    return parser


def main(argv=None):
    """Run the ``fastnn`` command line (also ``python -m fastnn``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when a command fails at run time (the
        demo's data files are missing or unreadable), 2 on a usage error found
        after parsing (a ``bench -k`` that selects nothing, ``compare`` files
        that are not benchmark results), pytest's status for ``bench``.

    Raises
    ------
    SystemExit
        As argparse does: status 2 after a one-line usage error on standard
        error, 0 after ``--help`` or ``--version``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("expected a command among %s" % ", ".join(COMMANDS))
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
                          args.pytest_args, progress=args.progress)
    if args.command == "compare":
        from fastnn.bench import compare
        return compare.run(args.files, None if args.no_charts else args.charts, args.dtype,
                           select=args.select)
    return _demo(args)


def _demo(args):
    from fastnn import demo as demos
    verbose = 0 if args.quiet else 1
    try:
        comm = None
        if args.distributed:
            from fastnn.distributed import _mpi
            comm = _mpi().COMM_WORLD
        if args.mnist:
            demos.mnist(args.mnist, epochs=args.epochs or 30, seed=args.seed, verbose=verbose,
                        comm=comm)
        else:
            demos.digits(epochs=args.epochs or 40, seed=args.seed, verbose=verbose, comm=comm)
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
