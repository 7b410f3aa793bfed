"""Schedules of ``durable-python serve``: cron expressions that start runs.

    [tool.durable-python.schedules]
    [tool.durable-python.schedules.nightly]
    cron = "0 2 * * *"
    timezone = "Europe/Riga"
    script = "jobs/report.py"
    args = ["--full"]
    overlap = "skip"
    catch_up = "last"

Fire times come from cronsim in the schedule's time zone, so daylight saving time behaves as
cron does: a fixed-time job in the hour that is skipped fires when the clock resumes, one in the
hour that repeats fires once. Each fire starts a run through ``starting.start_run`` under an id
made of the schedule's name and the fire time (``nightly-20261207T000000Z``), so two servers, or a
server that crashed between starting a run and recording it, start each fire once. The store
keeps how far each schedule has fired (its cursor); a fire is done with once the cursor passes it.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from durable_python.errors import UsageError
from durable_python.model import QueueLimits, RunStatus
from durable_python.serve.starting import DEFAULT_QUEUE, Start, StartRefused
from durable_python.stores.base import Store

GRACE = 60.0  # seconds after its time a fire is still on time (what catch_up = "none" starts)
MAX_FIRES = 1000  # fires one tick starts at most (catch_up = "all"); the next tick goes on
OVERLAPS = ("skip", "queue", "allow")
CATCH_UPS = ("none", "last", "all")
QUEUE_PREFIX = "schedule-"  # overlap = "queue": the schedule's own queue, one run at a time
_KEYS = ("cron", "timezone", "script", "args", "overlap", "catch_up")
# The name starts the run ids of its fires, which "-20261207T000000Z" (17 characters) ends.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,110}")
_EXAMPLE = (
    '{ cron = "0 2 * * *", timezone = "Europe/Riga", script = "jobs/report.py",'
    ' args = ["--full"], overlap = "skip", catch_up = "last" }'
)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """One entry of ``[tool.durable-python.schedules]``."""

    name: str
    cron: str  # 5 fields: minute hour day-of-month month day-of-week
    timezone: str = "UTC"  # IANA name: the zone the cron expression is read in
    script: str  # relative to the server's scripts directory
    args: tuple[str, ...] = ()
    overlap: str = "skip"  # a fire while an earlier run is unfinished: skip, queue, allow
    catch_up: str = "last"  # fires missed while no server ran: none, last, all

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# ----- configuration ----------------------------------------------------------------------------


def parse(table: dict[str, Any], source: Path | None) -> list[Schedule]:
    """The schedules of ``[tool.durable-python.schedules]`` (read from ``source``); every
    mistake is a ``UsageError`` naming the file, the schedule and a correct example."""
    return [_schedule(name, entry, source) for name, entry in table.items()]


def _schedule(name: str, entry: Any, source: Path | None) -> Schedule:
    def wrong(problem: str) -> UsageError:
        example = f"{name if _NAME.fullmatch(name) else 'nightly'} = {_EXAMPLE}"
        return UsageError(
            f"{source or 'pyproject.toml'}: [tool.durable-python.schedules] {name}: {problem}."
            f" For example: {example}"
        )

    if not _NAME.fullmatch(name):
        raise wrong(
            "a schedule's name starts the ids of its runs, so it must be letters, digits and"
            " . _ - (at most 111, starting with a letter or digit)"
        )
    if not isinstance(entry, dict):
        raise wrong(f"must be a table of {', '.join(_KEYS)}")
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise wrong(f"unknown key {', '.join(unknown)} (the keys are {', '.join(_KEYS)})")
    cron = entry.get("cron")
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise wrong(
            f"cron must be 5 fields (minute hour day-of-month month day-of-week), not {cron!r}"
        )
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise wrong(f"cron {cron!r} is not a cron expression: {exc}") from exc
    timezone = entry.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise wrong(f"unknown time zone {timezone!r}: use an IANA name like Europe/Riga") from exc
    script = entry.get("script")
    if not isinstance(script, str) or not script or Path(script).is_absolute():
        raise wrong("script must be the path of a script relative to the scripts directory")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise wrong("args must be a list of strings")
    overlap = entry.get("overlap", "skip")
    if overlap not in OVERLAPS:
        raise wrong(
            f"overlap {overlap!r} is not one of {', '.join(OVERLAPS)} (skip: no new run while"
            " one is unfinished; queue: one at a time, in order; allow: runs side by side)"
        )
    catch_up = entry.get("catch_up", "last")
    if catch_up not in CATCH_UPS:
        raise wrong(
            f"catch_up {catch_up!r} is not one of {', '.join(CATCH_UPS)} (what fires missed"
            " while no server ran start: none, the last one, all of them)"
        )
    return Schedule(
        name=name,
        cron=cron,
        timezone=timezone,
        script=script,
        args=tuple(args),
        overlap=overlap,
        catch_up=catch_up,
    )


def queue_of(schedule: Schedule) -> str:
    """The queue its runs are enqueued in: a queue of its own for overlap = "queue"."""
    return QUEUE_PREFIX + schedule.name if schedule.overlap == "queue" else DEFAULT_QUEUE


def dedup_key(schedule: Schedule) -> str | None:
    """For overlap = "skip": the key that makes a fire find the schedule's unfinished run."""
    return "schedule:" + schedule.name if schedule.overlap == "skip" else None


def queue_limits(schedules: Sequence[Schedule]) -> dict[str, QueueLimits]:
    """The limits of the schedules' own queues (one run at a time), for the server's worker."""
    return {queue_of(s): QueueLimits(concurrency=1) for s in schedules if s.overlap == "queue"}


# ----- fire times -------------------------------------------------------------------------------


def _forward(schedule: Schedule, after: float) -> Iterator[float]:
    """The fire times after ``after``, ascending (cronsim gives up 50 years on)."""
    last = after
    for moment in CronSim(schedule.cron, datetime.fromtimestamp(after, schedule.zone)):
        fire = moment.timestamp()
        if fire > last:  # a start inside the hour that repeats can give a time before it
            last = fire
            yield fire


def fires(schedule: Schedule, after: float, until: float, limit: int = MAX_FIRES) -> list[float]:
    """The first ``limit`` fire times in ``(after, until]`` (epoch seconds)."""
    due = itertools.takewhile(lambda fire: fire <= until, _forward(schedule, after))
    return list(itertools.islice(due, limit))


def next_fire(schedule: Schedule, after: float) -> float:
    """The first fire time after ``after``; ``math.inf`` if it never fires again."""
    return next(_forward(schedule, after), math.inf)


def last_fire(schedule: Schedule, at: float) -> float | None:
    """The latest fire time at or before ``at`` (``None``: none). Found backwards, so a long
    stop costs nothing, then forwards from there: walking back in wall-clock time, cronsim can
    step over the first pass of an hour that repeats."""
    start = datetime.fromtimestamp(math.floor(at) + 1, schedule.zone)  # cronsim starts before it
    back = CronSim(schedule.cron, start, reverse=True)
    earlier = next((m.timestamp() for m in back if m.timestamp() <= at), None)
    if earlier is None:
        return None
    later = itertools.takewhile(lambda fire: fire <= at, _forward(schedule, earlier))
    return max(later, default=earlier)


def upcoming(schedules: Sequence[Schedule], now: float, count: int) -> list[tuple[Schedule, float]]:
    """The next ``count`` fires of every schedule, soonest first."""
    pairs = [(s, fire) for s in schedules for fire in fires(s, now, math.inf, count)]
    return sorted(pairs, key=lambda pair: pair[1])


def run_id(schedule: Schedule, fire: float) -> str:
    """The id of the run of a fire: the same on every server (``nightly-20261207T000000Z``)."""
    return f"{schedule.name}-{datetime.fromtimestamp(fire, UTC):%Y%m%dT%H%M%SZ}"


def _trigger(schedule: Schedule, fire: float) -> dict[str, Any]:
    """What ``durable_python.trigger()`` tells the run."""
    return {
        "kind": "schedule",
        "schedule": schedule.name,
        "fire_time": fire,
        "fire_time_iso": datetime.fromtimestamp(fire, schedule.zone).isoformat(),
        "cron": schedule.cron,
        "timezone": schedule.timezone,
    }


def _wall_clock(schedule: Schedule, fire: float) -> str:
    return f"{datetime.fromtimestamp(fire, schedule.zone):%Y-%m-%d %H:%M} {schedule.timezone}"


def _say(message: str) -> None:
    print(f"durable-python: {message}", file=sys.stderr, flush=True)


# ----- firing -----------------------------------------------------------------------------------


class Scheduler:
    """Starts the runs of the schedules' fires; the server calls ``tick`` and sleeps until the
    time it returns. Any number of servers may tick on one store: runs are started first under
    deterministic ids, then the cursor is moved by compare-and-set, so each fire starts once and
    a crash in between only starts the same ids again (which starts nothing)."""

    def __init__(self, schedules: Sequence[Schedule], store: Store, start: Start) -> None:
        self.schedules = list(schedules)
        self.store = store
        self.start = start

    def tick(self, now: float) -> float:
        """Start the runs due at ``now``; return when the next fire of any schedule is due (a
        time already past when more than ``MAX_FIRES`` were due: tick again at once)."""
        return min((self._tick(schedule, now) for schedule in self.schedules), default=math.inf)

    def _tick(self, schedule: Schedule, now: float) -> float:
        cursor = self.store.schedule_cursor(schedule.name)
        while cursor is None or cursor < now:
            # Never fired (the first start): fire nothing of the past.
            due, until = ([], now) if cursor is None else self._due(schedule, cursor, now)
            for fire in due:
                self._fire(schedule, fire)
            if self.store.advance_schedule(schedule.name, cursor, until):
                cursor = until
            else:  # another server moved it: carry on from there
                cursor = self.store.schedule_cursor(schedule.name)
            if until < now:  # more than MAX_FIRES due: tick again at once
                return until
        return next_fire(schedule, cursor)

    def _due(self, schedule: Schedule, cursor: float, now: float) -> tuple[list[float], float]:
        """Which fires of ``(cursor, now]`` start, by the catch-up policy, and how far the
        cursor moves past them."""
        if schedule.catch_up == "all":
            due = fires(schedule, cursor, now, MAX_FIRES)
            return due, (due[-1] if len(due) == MAX_FIRES else now)
        latest = last_fire(schedule, now)
        if latest is None or latest <= cursor:
            return [], now
        if schedule.catch_up == "none" and now - latest > GRACE:
            _say(
                f"schedule {schedule.name} missed its fire for {_wall_clock(schedule, latest)}"
                f' (over {GRACE:.0f} s late; catch_up = "none" starts no late fires)'
            )
            return [], now
        return [latest], now

    def _fire(self, schedule: Schedule, fire: float) -> None:
        wanted = run_id(schedule, fire)
        said = f"schedule {schedule.name} fired for {_wall_clock(schedule, fire)}"
        try:
            run, new = self.start(
                script=schedule.script,
                args=schedule.args,
                run_id=wanted,
                trigger=_trigger(schedule, fire),
                queue=queue_of(schedule),
                dedup_key=dedup_key(schedule),
            )
        except StartRefused as exc:  # logged, not raised: the server goes on, the cursor too
            _say(
                f"{said}, but no run started: {exc}. Fix script or args of"
                f" [tool.durable-python.schedules] {schedule.name} (or the scripts directory);"
                " the schedule goes on with its next fire"
            )
            return
        if run.run_id != wanted:
            failed = run.status == RunStatus.FAILED  # blocks the schedule until someone acts
            _say(
                f"{said}: skipped: run {run.run_id} of the schedule is still unfinished"
                + (
                    f" (it failed: fix the cause and durable-python resume {run.run_id}, or"
                    f" durable-python cancel {run.run_id})"
                    if failed
                    else ""
                )
            )
        else:
            _say(f"{said}: run {wanted}" + ("" if new else " (started already)"))
