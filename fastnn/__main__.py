"""Command line: ``python -m fastnn info``."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="print how fastnn was built and what it runs on")
    args = parser.parse_args(argv)
    if args.command == "info":
        from fastnn import show_config
        show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
