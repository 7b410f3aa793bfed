"""``durable-python prune``: forget old finished runs (retention)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap

from . import add_store_option, store_from

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
    for status, default in (("completed", 7.0), ("failed", 30.0), ("cancelled", 7.0)):
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
    import os

    from durable_python import events

    store = store_from(args)
    keep = {
        "completed": args.completed_days * DAY,
        "failed": args.failed_days * DAY,
        "cancelled": args.cancelled_days * DAY,
    }
    now = events.clock()
    old = [
        run
        for run in store.all_runs()
        if run.status in keep and now - run.updated_at > keep[run.status]
    ]
    pruned = []
    if old and not args.dry_run:
        with store.session() as db:
            for run in old:
                directory = store.live / run.run_id
                lock_fd = store.claim(run.run_id) if directory.is_dir() else None
                if directory.is_dir() and lock_fd is None:
                    continue  # a process has it (resumed after a fix): not finished after all
                try:
                    db.execute("DELETE FROM entries WHERE run_id=?", (run.run_id,))
                    db.execute("DELETE FROM runs WHERE run_id=?", (run.run_id,))
                    shutil.rmtree(directory, ignore_errors=True)
                    (events.wake_dir(store) / run.run_id).unlink(missing_ok=True)
                finally:
                    if lock_fd is not None:
                        os.close(lock_fd)
                pruned.append(run)
            if pruned:
                db.execute("CHECKPOINT")
    else:
        pruned = old
    verb = "would delete" if args.dry_run else "deleted"
    for run in pruned:
        if args.json:
            print(json.dumps({"run_id": run.run_id, "status": run.status, "ended": run.updated_at}))
        else:
            print(f"{verb} {run.run_id}  {run.status}  {' '.join(run.argv)}")
    counts = {s: sum(r.status == s for r in pruned) for s in keep}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs"
    print(f"durable-python: prune {verb} {summary} in {store.root}", file=sys.stderr)
    return 0
