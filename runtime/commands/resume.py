"""``durable-python resume RUN`` / ``resume --due``: continue runs now (one-shot, for cron)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from durable_python.errors import EXIT_SUSPENDED, UsageError

from . import add_store_option

PARSER = {
    "help": "resume a run now, or every due run once (--due, for cron)",
    "description": textwrap.fill(
        (
            "Resume RUN in this terminal (its exit code is this command's), or with --due start every"
            " run that is due: suspended runs whose timer passed, whose event arrived or that were"
            " asked to cancel, and runs whose process died; then wait for them. Use --due from cron"
            " where a long-running `durable-python worker` is not wanted."
        ),
        90,
    ),
    "epilog": "examples: durable-python resume 3f2a --no-suspend\n"
    "          */5 * * * * cd /srv/jobs && durable-python resume --due",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", nargs="?")
    parser.add_argument("--due", action="store_true", help="resume every due run once")
    parser.add_argument(
        "--suspend",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="RUN only: override whether long waits suspend (--no-suspend waits in this process)",
    )
    add_store_option(parser)


def execute(args: argparse.Namespace) -> int:
    from durable_python import worker
    from durable_python.model import FINAL
    from durable_python.stores import configured_store
    from durable_python.stores.base import CLAIM_WAIT

    store = configured_store(args.store)
    if args.due == (args.run_id is not None):
        raise UsageError("give either a RUN to resume or --due, like: durable-python resume --due")
    if args.due:
        children = worker.resume_due(store)
        for run_id, child in children:
            code = child.wait()
            if code not in (0, EXIT_SUSPENDED):
                worker.say(f"run {run_id} stopped with exit code {code}")
        return 0
    run = store.require(args.run_id)
    if run.status in FINAL:
        print(
            f"durable-python: run {run.run_id} already {run.status} (exit code {run.exit_code});"
            " nothing to resume",
            file=sys.stderr,
        )
        return run.exit_code or 0
    claim = store.claim(run.run_id, wait=CLAIM_WAIT)
    if claim is None:
        raise UsageError(f"run {run.run_id} is running now in process {run.pid}; nothing to do")
    fresh = store.read(run.run_id)
    if fresh is None or fresh.status in FINAL:
        claim.release()
        print(f"durable-python: run {run.run_id} has just finished", file=sys.stderr)
        return 0
    extra = [] if args.suspend is None else ["--suspend" if args.suspend else "--no-suspend"]
    worker.exec_run(store, fresh, claim, extra)
    return 0  # not reached
