"""``durable-python show RUN``: a run's journal as a timeline."""

from __future__ import annotations

import argparse

from . import add_store_option

PARSER = {
    "help": "show a run's journal as a timeline",
    "description": "Show every recorded call of RUN (an id or a unique prefix of one).",
    "epilog": "example: durable-python show 3f2a",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN")
    add_store_option(parser)
    parser.add_argument(
        "--json", action="store_true", help="JSON lines: one object per entry, values as JSON"
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="only what the script did and waited for: effects, timers, events, errors",
    )


def execute(args: argparse.Namespace) -> int:
    from durable_python.inspect_runs import show_run
    from durable_python.stores import configured_store

    return show_run(configured_store(args.store), args.run_id, args.json, args.calls)
