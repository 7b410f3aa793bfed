"""One module per ``durable-python`` subcommand.

Each module defines ``configure(parser)`` (its arguments, with an example in the epilog) and
``execute(args) -> int`` (the exit code); ``PARSER`` holds the ``add_parser`` keywords. Add a
command by adding its module name to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_python.store import Store

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


def store_from(args: argparse.Namespace) -> Store:
    """The store the command line, the environment or pyproject.toml points at."""
    from durable_python import config
    from durable_python.store import Store

    return Store(config.load(Path.cwd(), getattr(args, "store", None)).store)
