"""``durable-python prune``: forget old finished runs (retention)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from . import add_store_option

PARSER = {
    "help": "delete finished runs older than their retention (completed 7 days, failed 30)",
    "description": textwrap.fill(
        (
            "Delete runs that finished longer ago than their retention: their journal and row in"
            " store.duckdb and their live directory. Suspended, running and crashed runs are never"
            " pruned. Ages count from a run's last update."
        ),
        90,
    ),
    "epilog": "example: durable-python prune --completed-days 1 --failed-days 14 --dry-run",
}

DAY = 86400.0


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    for status, default in (
        ("completed", 7.0),
        ("exited", 7.0),
        ("failed", 30.0),
        ("cancelled", 7.0),
    ):
        parser.add_argument(
            f"--{status}-days",
            type=float,
            default=default,
            metavar="DAYS",
            help=f"keep {status} runs this many days (default {default:g})",
        )
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    parser.add_argument("--json", action="store_true", help="one JSON object per pruned run")


def execute(args: argparse.Namespace) -> int:
    from durable_python import clock
    from durable_python.model import RunStatus
    from durable_python.stores import configured_store

    store = configured_store(args.store)
    keep = {
        RunStatus.COMPLETED: args.completed_days * DAY,
        RunStatus.EXITED: args.exited_days * DAY,
        RunStatus.FAILED: args.failed_days * DAY,
        RunStatus.CANCELLED: args.cancelled_days * DAY,
    }
    now = clock.now()
    old = [
        run
        for run in store.runs()
        if run.status in keep and now - run.updated_at > keep[run.status]
    ]
    if args.dry_run:
        pruned = old
    else:
        deleted = set(store.delete([run.run_id for run in old]))
        pruned = [run for run in old if run.run_id in deleted]
    verb = "would delete" if args.dry_run else "deleted"
    for run in pruned:
        if args.json:
            print(
                json.dumps(
                    {"run_id": run.run_id, "status": run.status.value, "ended": run.updated_at}
                )
            )
        else:
            print(f"{verb} {run.run_id}  {run.status}  {' '.join(run.argv)}")
    counts = {s: sum(r.status == s for r in pruned) for s in keep}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs"
    print(f"durable-python: prune {verb} {summary} in {store.location}", file=sys.stderr)
    return 0
