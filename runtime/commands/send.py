"""``durable-python send RUN NAME [JSON]``: deliver an event to a run (live, suspended or not yet
waiting for it)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from durable_python.errors import UsageError

from . import add_store_option

PARSER = {
    "help": "send an event to a run (durable_python.wait_for_event receives it)",
    "description": textwrap.fill(
        (
            "Deliver event NAME with a JSON payload to RUN (an id or a unique prefix). A run waiting"
            " for it gets it at once; a suspended run is resumed by the worker; a run that does not"
            " wait for it yet keeps it until it does. With --id, sending the same id again is a"
            " no-op, so retries are safe."
        ),
        90,
    ),
    "epilog": "example: durable-python send 3f2a approval '{\"approved\": true}' --id ticket-81",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN")
    parser.add_argument("name", metavar="NAME", help="the event's name")
    parser.add_argument(
        "payload", metavar="JSON", nargs="?", default="null", help="payload ('-' reads stdin)"
    )
    parser.add_argument("--id", dest="event_id", metavar="ID", help="event id (idempotent send)")
    add_store_option(parser)


def execute(args: argparse.Namespace) -> int:
    from durable_python.model import RunStatus
    from durable_python.stores import configured_store
    from durable_python.waiting import send_event

    text = sys.stdin.read() if args.payload == "-" else args.payload
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"the payload is not JSON ({exc}); quote a string as JSON, like '\"yes\"'"
        ) from None
    event_id, new, run = send_event(
        configured_store(args.store), args.run_id, args.name, payload, args.event_id
    )
    if not new:
        print(
            f"durable-python: event {event_id!r} was already sent to run {run.run_id}; not sent"
            " again",
            file=sys.stderr,
        )
    else:
        where = (
            "it is suspended; the worker resumes it"
            if run.status == RunStatus.SUSPENDED
            else run.status
        )
        print(
            f"durable-python: sent {args.name!r} (id {event_id}) to run {run.run_id} ({where})",
            file=sys.stderr,
        )
    return 0
