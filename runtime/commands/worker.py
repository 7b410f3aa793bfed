"""``durable-python worker``: a long-running process that resumes runs when they are due."""

from __future__ import annotations

import argparse
import textwrap

from . import add_store_option, add_worker_options

PARSER = {
    "help": "resume suspended runs when due, and runs whose process died (long-running)",
    "description": textwrap.fill(
        (
            "Watch the store, start enqueued runs as their queues admit them, and resume runs as"
            " they become due: suspended runs when their timer passes, their awaited event"
            " arrives or a cancel is requested; runs whose process died (crash, reboot) at once,"
            " backing off if they keep dying; runs of a PostgreSQL store whose holder stopped"
            " renewing its lease (a machine gone) after the lease timeout. Any number of workers"
            " on any number of machines may share a store: each run is executed by one at a"
            " time. Stop with Ctrl-C or SIGTERM; runs it started go on in their own processes."
        ),
        90,
    ),
    "epilog": "example: durable-python worker --store postgresql://jobs@db/jobs --queue emails",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    add_worker_options(parser)
    parser.add_argument(
        "--queue",
        action="append",
        metavar="NAME",
        help="start enqueued runs of this queue only (repeatable; default every queue)",
    )
    parser.add_argument(
        "--lease-timeout",
        type=float,
        metavar="SECONDS",
        help="PostgreSQL stores: how long the runs it starts keep their lease without renewing"
        " it, so how soon another worker takes over from a machine that is gone (default 30,"
        " or DURABLE_PYTHON_LEASE_TIMEOUT)",
    )


def execute(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from durable_python import config
    from durable_python.errors import UsageError
    from durable_python.stores import open_store
    from durable_python.worker import Worker

    if args.lease_timeout is not None:
        if args.lease_timeout < 1:
            raise UsageError("--lease-timeout is in seconds and must be at least 1")
        os.environ["DURABLE_PYTHON_LEASE_TIMEOUT"] = str(args.lease_timeout)  # its runs' too
    settings = config.load(Path.cwd(), args.store)
    store = open_store(settings.store)
    only = set(args.queue) if args.queue else None
    worker = Worker(store, max(1, args.concurrency), max(0.05, args.poll), settings.queues, only)
    return worker.serve()
