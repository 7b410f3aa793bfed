"""One module per ``durable-python`` subcommand.

Each module defines ``configure(parser)`` (its arguments, with an example in the epilog) and
``execute(args) -> int`` (the exit code); ``PARSER`` holds the ``add_parser`` keywords. Add a
command by adding its module name to ``COMMANDS``.
"""

from __future__ import annotations

import argparse

COMMANDS = [
    "run",
    "enqueue",
    "runs",
    "show",
    "transpile",
    "fold",
    "send",
    "resume",
    "cancel",
    "worker",
    "serve",
    "schedules",
    "prune",
    "replay",
    "watch",
    "fork",
    "check",
]


# Commands whose own options may come before or after the script: the script's arguments follow
# ``--`` (``watch job.py --once -- --day 1``). ``run`` is not one: like ``python``, everything after
# the script is the script's.
SCRIPT_ARGUMENTS_AFTER_DASHES = frozenset({"watch", "check"})


def split_script_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(durable-python's arguments, the script's)`` for a command in
    ``SCRIPT_ARGUMENTS_AFTER_DASHES``; ``argv`` unchanged and no script arguments otherwise."""
    if not argv or argv[0] not in SCRIPT_ARGUMENTS_AFTER_DASHES or "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR|URL",
        help="store directory or postgresql:// URL (default .durable, or DURABLE_PYTHON_STORE)",
    )


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """What ``worker`` and ``serve`` (which runs a worker) both take."""
    parser.add_argument(
        "--concurrency",
        "--max-parallel",
        dest="concurrency",
        type=int,
        default=16,
        metavar="N",
        help="execute at most N runs at a time on this worker (default 16)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="look for dead processes at least this often (default 2)",
    )
