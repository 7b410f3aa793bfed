"""``durable-python cancel RUN``: stop a run, letting a live one compensate."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

from durable_python.errors import EXIT_USAGE

from . import add_store_option, store_from

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
    from durable_python import events, worker
    from durable_python.errors import EXIT_CANCELLED
    from durable_python.store import FINAL

    store = store_from(args)
    run = store.require_run(args.run_id)
    if run.status == "cancelled":
        _say(f"run {run.run_id} is already cancelled")
        return 0
    if run.status in FINAL:
        _say(f"run {run.run_id} already {run.status}; it cannot be cancelled")
        return EXIT_USAGE
    marker = events.cancel_marker(store, run.run_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(time.time()))
    events.notify_worker(store, run.run_id)
    lock_fd = store.claim_when_free(run.run_id)
    if lock_fd is None:  # a process executes it: tell it (the marker alone is seen at its waits)
        live = store.read_meta(run.run_id)
        if live is not None and live.pid:
            try:
                os.kill(live.pid, events.CANCEL_SIGNAL)
            except (ProcessLookupError, PermissionError):
                pass
        _say(f"cancelling run {run.run_id}: Cancelled is raised at its next recorded call")
        if not args.wait:
            return 0
        while store.is_live(run.run_id):
            time.sleep(0.05)
        final = store.find_run(run.run_id)
        _say(f"run {run.run_id} stopped: {final.status if final else 'gone'}")
        return 0
    fresh = store.read_meta(run.run_id)
    if fresh is None or fresh.status in FINAL:
        os.close(lock_fd)
        marker.unlink(missing_ok=True)
        _say(f"run {run.run_id} has just finished; nothing to cancel")
        return 0
    if args.compensate:
        worker.exec_run(store, fresh, lock_fd)
    fresh.status, fresh.exit_code = "cancelled", EXIT_CANCELLED
    fresh.error, fresh.wake_at, fresh.waiting_for, fresh.pid = "cancelled", None, None, None
    store.write_meta(fresh)
    marker.unlink(missing_ok=True)
    os.close(lock_fd)
    store.fold_in_background()
    _say(f"run {run.run_id} cancelled (it had no process: nothing ran)")
    return 0
