"""``durable-python cancel RUN``: stop a run, letting a live one compensate."""

from __future__ import annotations

import argparse
import sys
import textwrap
import time

from durable_python.errors import EXIT_USAGE

from . import add_store_option

PARSER = {
    "help": "cancel a run (a live one gets durable_python.Cancelled raised)",
    "description": textwrap.fill(
        (
            "Cancel RUN. A live run gets durable_python.Cancelled raised at its next recorded call"
            " (or at once if it is sleeping or waiting), so its try/except/finally blocks can"
            " compensate; it ends with status cancelled (exit code 79) unless it catches it."
            " A run with no process (suspended, crashed, failed) is marked cancelled without running"
            " anything, or, with --compensate, resumed here so that Cancelled is raised in it."
        ),
        90,
    ),
    "epilog": "example: durable-python cancel 3f2a --wait",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN")
    parser.add_argument(
        "--wait", action="store_true", help="wait until a live run has stopped, then report"
    )
    parser.add_argument(
        "--compensate",
        action="store_true",
        help="a run with no process: resume it here and raise Cancelled in it",
    )
    add_store_option(parser)


def _say(message: str) -> None:
    print(f"durable-python: {message}", file=sys.stderr)


def execute(args: argparse.Namespace) -> int:
    from durable_python import worker
    from durable_python.model import RunStatus
    from durable_python.stores import configured_store
    from durable_python.waiting import cancel

    store = configured_store(args.store)
    run = store.require(args.run_id)
    if run.status == RunStatus.CANCELLED:
        _say(f"run {run.run_id} is already cancelled")
        return 0
    if run.is_final:
        _say(f"run {run.run_id} already {run.status}; it cannot be cancelled")
        return EXIT_USAGE
    compensate = (
        (lambda fresh, claim: worker.exec_run(store, fresh, claim)) if args.compensate else None
    )
    outcome, run = cancel(store, run, compensate)
    if outcome == "final":
        _say(f"run {run.run_id} has just finished; nothing to cancel")
    elif outcome == "cancelled":
        _say(f"run {run.run_id} cancelled (it had no process: nothing ran)")
    else:
        _say(f"cancelling run {run.run_id}: Cancelled is raised at its next recorded call")
        if args.wait:
            while store.is_live(run.run_id):
                time.sleep(0.05)
            final = store.find(run.run_id)
            _say(f"run {run.run_id} stopped: {final.status if final else 'gone'}")
    return 0
