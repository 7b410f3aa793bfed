"""``durable-python enqueue``: record a run for the workers of the store, and print its id."""

from __future__ import annotations

import argparse
import textwrap

from . import add_store_option

PARSER = {
    "help": "record a run for the workers to execute (prints its id)",
    "description": textwrap.fill(
        (
            "Record a pending run of SCRIPT with its arguments, working directory and source"
            " hash, and print its id; `durable-python worker` on any machine of the store runs"
            " it. A run id that exists, or a dedup key an unfinished run of the queue has, records"
            " nothing new and prints that run's id. Queue limits are set in"
            " [tool.durable-python.queues]."
        ),
        90,
    ),
    "epilog": (
        "example: durable-python enqueue --store postgresql://jobs@db/jobs --queue emails"
        " --dedup invoice-1138 send_invoice.py 1138"
    ),
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument(
        "--queue", default="default", metavar="NAME", help="its queue (default: default)"
    )
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: a new one)")
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        metavar="N",
        help="lower numbers start first within the queue (default 0)",
    )
    parser.add_argument(
        "--dedup",
        metavar="KEY",
        help="record nothing while an unfinished run of the queue has this key",
    )
    parser.add_argument(
        "--accept-changes",
        action="store_true",
        help="workers may run an edited script (replayed against it, like `run` does)",
    )
    parser.add_argument("script", help="the Python script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")


def execute(args: argparse.Namespace) -> int:
    import hashlib
    import os
    import secrets
    import sys
    from pathlib import Path

    from durable_python.errors import EXIT_MISSING_SCRIPT
    from durable_python.model import Run, RunStatus
    from durable_python.stores import configured_store

    path = os.path.abspath(args.script)
    try:
        with open(path, "rb") as f:
            source_hash = hashlib.sha256(f.read()).hexdigest()
    except OSError as exc:
        print(f"durable-python: can't open file {path!r}: {exc.strerror}", file=sys.stderr)
        return EXIT_MISSING_SCRIPT
    store = configured_store(args.store, near=Path(path).parent)
    store.ensure()
    wanted = Run(
        run_id=args.run_id or secrets.token_hex(6),
        script=path,
        source_hash=source_hash,
        argv=(args.script, *args.args),
        cwd=os.getcwd(),
        hash_seed=secrets.randbelow(2**32 - 2) + 1,
        random_seed=secrets.randbits(63),
        status=RunStatus.NEW,
        queue=args.queue,
        priority=args.priority,
        dedup_key=args.dedup,
        accept_changes=args.accept_changes,
    )
    run, new = store.enqueue(wanted)
    if not new:
        why = f"run id {run.run_id}" if run.run_id == wanted.run_id else f"dedup key {args.dedup!r}"
        print(
            f"durable-python: {why} is taken by run {run.run_id} ({run.status}); nothing new"
            " recorded",
            file=sys.stderr,
        )
    print(run.run_id)
    return 0
