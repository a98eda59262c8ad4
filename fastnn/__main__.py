"""Command line: ``python -m fastnn {demo,info}``."""

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
    args = parser.parse_args(argv)
    if args.command == "info":
        from fastnn import show_config
        show_config()
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
