"""``durable-python runs``: list the runs of a store, live ones included."""

from __future__ import annotations

import argparse

from . import add_store_option

PARSER = {
    "help": "list the runs in the store (live ones too)",
    "description": "List runs: id, status, start, entries, last activity, command.",
    "epilog": "example: durable-python runs --json | jq .status",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per run")


def execute(args: argparse.Namespace) -> int:
    from durable_python.inspect_runs import list_runs
    from durable_python.stores import configured_store

    return list_runs(configured_store(args.store), args.json)
