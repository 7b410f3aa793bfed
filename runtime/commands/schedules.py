"""``durable-python schedules``: the schedules ``serve`` fires, their next fires and how far
they have fired."""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING

from . import add_store_option

if TYPE_CHECKING:
    from datetime import datetime

PARSER = {
    "help": "list the schedules of [tool.durable-python.schedules] and their next fires",
    "description": textwrap.fill(
        (
            "List the schedules that durable-python serve fires, from the nearest"
            " pyproject.toml's [tool.durable-python.schedules]: cron expression, time zone,"
            " script, overlap and catch-up policies, the next fire times (in the schedule's"
            " time zone) and until when the store says the schedule has fired."
        ),
        90,
    ),
    "epilog": "example: durable-python schedules --count 3 --json | jq .next",
}

_EXAMPLE = """\
[tool.durable-python.schedules]
nightly = { cron = "0 2 * * *", timezone = "Europe/Riga", script = "jobs/report.py", \
args = ["--full"], overlap = "skip", catch_up = "last" }"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per schedule")
    parser.add_argument(
        "--count",
        type=int,
        default=5,
        metavar="N",
        help="show the next N fire times of each schedule (default 5)",
    )


def execute(args: argparse.Namespace) -> int:
    import json
    import shlex
    import sys
    import time
    from datetime import datetime
    from pathlib import Path

    from durable_python import config
    from durable_python.errors import UsageError
    from durable_python.serve import schedules
    from durable_python.stores import open_store

    if args.count < 1:
        raise UsageError("--count must be at least 1, like --count 5")
    settings = config.load(Path.cwd(), args.store)
    table = settings.triggers.get("schedules")
    if not table:
        if settings.source is None:
            found = f"no schedules: no pyproject.toml in {Path.cwd()} or above it"
        else:
            found = f"no [tool.durable-python.schedules] in {settings.source}"
        print(f"durable-python: {found}. Add schedules like this:\n\n{_EXAMPLE}", file=sys.stderr)
        return 0
    listed = schedules.parse(table, settings.source)
    store = open_store(settings.store)
    soon = schedules.upcoming(listed, time.time(), args.count)
    for schedule in listed:
        cursor = store.schedule_cursor(schedule.name)
        times = [datetime.fromtimestamp(fire, schedule.zone) for s, fire in soon if s is schedule]
        fired = None if cursor is None else datetime.fromtimestamp(cursor, schedule.zone)
        if args.json:
            record = {
                "name": schedule.name,
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "script": schedule.script,
                "args": list(schedule.args),
                "overlap": schedule.overlap,
                "catch_up": schedule.catch_up,
                "queue": schedules.queue_of(schedule),
                "next": [moment.isoformat() for moment in times],
                "fired_until": None if fired is None else fired.isoformat(),
            }
            print(json.dumps(record))
            continue
        print(f"{schedule.name}: {shlex.join([schedule.script, *schedule.args])}")
        print(f"  cron      {schedule.cron}  ({schedule.timezone})")
        print(f"  overlap   {schedule.overlap}, catch-up {schedule.catch_up}")
        print(f"  fired     {'never' if fired is None else 'until ' + _when(fired, '%H:%M:%S')}")
        for n, moment in enumerate(times):
            print(f"  {'next' if n == 0 else '':8}  {_when(moment, '%H:%M')}")
    return 0


def _when(moment: datetime, clock: str) -> str:
    """``2026-12-07 02:00 +02:00``: the date, the wall clock and its offset from UTC."""
    offset = f"{moment:%z}"
    return f"{moment:%Y-%m-%d} {moment:{clock}} {offset[:3]}:{offset[3:5]}"
