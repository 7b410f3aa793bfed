"""``durable-python worker``: a long-running process that resumes runs when they are due."""

from __future__ import annotations

import argparse
import textwrap

from . import add_store_option

PARSER = {
    "help": "resume suspended runs when due, and runs whose process died (long-running)",
    "description": textwrap.fill(
        (
            "Watch the store and resume runs as they become due: suspended runs when their timer"
            " passes, their awaited event arrives or a cancel is requested; runs whose process died"
            " (crash, reboot) at once, backing off if they keep dying. Several workers may share a"
            " store: each run is resumed by exactly one (they take its lock). Stop with Ctrl-C or"
            " SIGTERM; runs it resumed go on in their own processes."
        ),
        90,
    ),
    "epilog": "example: durable-python worker --store /srv/jobs/.durable",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=16,
        metavar="N",
        help="resume at most N runs at a time (default 16)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="look for dead processes at least this often (default 2)",
    )


def execute(args: argparse.Namespace) -> int:
    from durable_python.stores import configured_store
    from durable_python.worker import Worker

    store = configured_store(args.store)
    return Worker(store, max(1, args.max_parallel), max(0.05, args.poll)).serve()
