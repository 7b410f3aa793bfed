"""One module per ``durable-python`` subcommand.

Each module defines ``configure(parser)`` (its arguments, with an example in the epilog) and
``execute(args) -> int`` (the exit code); ``PARSER`` holds the ``add_parser`` keywords. Add a
command by adding its module name to ``COMMANDS``.
"""

from __future__ import annotations

import argparse

COMMANDS = [
    "run",
    "runs",
    "show",
    "transpile",
    "fold",
    "send",
    "resume",
    "cancel",
    "worker",
    "prune",
    "replay",
    "watch",
    "fork",
    "check",
]


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="DIR", help="store directory (default .durable, or DURABLE_PYTHON_STORE)"
    )
