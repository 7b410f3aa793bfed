"""Schedules of ``durable-python serve`` (serve/schedules.py): the configuration, fire times
across daylight saving time, and the Scheduler against both stores with an injected clock
(``now`` is passed to ``tick``; nothing sleeps)."""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from durable_python.commands import schedules as command
from durable_python.errors import UsageError
from durable_python.model import QueueLimits, RunStatus
from durable_python.serve import schedules
from durable_python.serve.schedules import Schedule, Scheduler
from durable_python.serve.starting import Scripts, start_run
from durable_python.stores import open_store
from durable_python.stores.base import Store

RIGA = ZoneInfo("Europe/Riga")
SOURCE = Path("/project/pyproject.toml")


def at(*fields: int, zone: ZoneInfo | None = None) -> float:
    """Epoch seconds of a wall-clock time (UTC unless ``zone``)."""
    return datetime(*fields, tzinfo=zone or UTC).timestamp()


def utc(fire: float) -> str:
    return f"{datetime.fromtimestamp(fire, UTC):%m-%d %H:%M}"


def local(fire: float) -> str:
    return datetime.fromtimestamp(fire, RIGA).isoformat()


# ----- configuration ----------------------------------------------------------------------------


def test_parse_reads_every_key_and_fills_the_defaults() -> None:
    table = {
        "nightly": {
            "cron": "0 2 * * *",
            "timezone": "Europe/Riga",
            "script": "jobs/report.py",
            "args": ["--full"],
            "overlap": "queue",
            "catch_up": "all",
        },
        "hourly.sync_2": {"cron": "0 * * * *", "script": "sync.py"},
    }
    assert schedules.parse(table, SOURCE) == [
        Schedule(
            name="nightly",
            cron="0 2 * * *",
            timezone="Europe/Riga",
            script="jobs/report.py",
            args=("--full",),
            overlap="queue",
            catch_up="all",
        ),
        Schedule(
            name="hourly.sync_2",
            cron="0 * * * *",
            timezone="UTC",
            script="sync.py",
            args=(),
            overlap="skip",
            catch_up="last",
        ),
    ]


GOOD = {"cron": "0 2 * * *", "script": "jobs/report.py"}


@pytest.mark.parametrize(
    ("name", "entry", "problem"),
    [
        ("nightly", {**GOOD, "cronn": "0 2 * * *"}, "unknown key cronn"),
        ("nightly", "0 2 * * *", "must be a table of cron, timezone, script"),
        ("nightly", {**GOOD, "cron": "0 2 * *"}, "cron must be 5 fields"),
        ("nightly", {**GOOD, "cron": "0 0 2 * * *"}, "cron must be 5 fields"),
        ("nightly", {"script": "a.py"}, "cron must be 5 fields"),
        ("nightly", {**GOOD, "cron": "61 2 * * *"}, "is not a cron expression: Bad minute"),
        ("nightly", {**GOOD, "cron": "0 2 30 2 *"}, "is not a cron expression: Bad day-of-month"),
        ("nightly", {**GOOD, "timezone": "Europe/Rigga"}, "unknown time zone 'Europe/Rigga'"),
        ("nightly", {**GOOD, "timezone": "../etc"}, "unknown time zone '../etc'"),
        ("nightly", {**GOOD, "timezone": 2}, "unknown time zone 2"),
        ("nightly", {"cron": "0 2 * * *"}, "script must be the path of a script relative"),
        ("nightly", {**GOOD, "script": "/abs/job.py"}, "script must be the path of a script"),
        ("nightly", {**GOOD, "args": "--full"}, "args must be a list of strings"),
        ("nightly", {**GOOD, "args": [1]}, "args must be a list of strings"),
        ("nightly", {**GOOD, "overlap": "never"}, "overlap 'never' is not one of skip, queue"),
        ("nightly", {**GOOD, "catch_up": True}, "catch_up True is not one of none, last, all"),
        ("night ly", GOOD, "letters, digits and . _ -"),
        ("-nightly", GOOD, "letters, digits and . _ -"),
        ("n" * 112, GOOD, "letters, digits and . _ -"),
    ],
)
def test_parse_names_the_file_the_schedule_the_problem_and_an_example(
    name: str, entry: object, problem: str
) -> None:
    with pytest.raises(UsageError) as raised:
        schedules.parse({"fine": GOOD, name: entry}, SOURCE)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}: [tool.durable-python.schedules] {name}: ")
    assert problem in message
    assert "For example: " in message and 'cron = "0 2 * * *"' in message


# ----- fire times -------------------------------------------------------------------------------


def test_fires_are_after_exclusive_until_inclusive_and_limited() -> None:
    quarter = Schedule(name="quarter", cron="*/15 * * * *", script="job.py")
    start, end = at(2026, 12, 7, 10, 0), at(2026, 12, 7, 11, 0)
    assert [utc(f) for f in schedules.fires(quarter, start, end)] == [
        "12-07 10:15",
        "12-07 10:30",
        "12-07 10:45",
        "12-07 11:00",
    ]
    assert schedules.fires(quarter, start, end, limit=2) == [
        at(2026, 12, 7, 10, 15),
        at(2026, 12, 7, 10, 30),
    ]
    assert schedules.fires(quarter, start + 0.5, start + 899.5) == []
    assert schedules.next_fire(quarter, start) == at(2026, 12, 7, 10, 15)
    assert schedules.next_fire(quarter, start - 0.25) == start


def test_daily_0230_in_riga_is_untouched_by_the_dst_changes_at_0300_and_0400() -> None:
    """Riga springs forward 03:00 -> 04:00 and falls back 04:00 -> 03:00: 02:30 is one
    real time on both days; only its UTC offset changes."""
    daily = Schedule(name="daily", cron="30 2 * * *", timezone="Europe/Riga", script="job.py")
    spring = schedules.fires(daily, at(2026, 3, 28, zone=RIGA), at(2026, 3, 31, zone=RIGA))
    assert [local(f) for f in spring] == [
        "2026-03-28T02:30:00+02:00",
        "2026-03-29T02:30:00+02:00",
        "2026-03-30T02:30:00+03:00",
    ]
    assert [utc(f) for f in spring] == ["03-28 00:30", "03-29 00:30", "03-29 23:30"]
    autumn = schedules.fires(daily, at(2026, 10, 24, zone=RIGA), at(2026, 10, 27, zone=RIGA))
    assert [local(f) for f in autumn] == [
        "2026-10-24T02:30:00+03:00",
        "2026-10-25T02:30:00+03:00",
        "2026-10-26T02:30:00+02:00",
    ]
    assert [utc(f) for f in autumn] == ["10-23 23:30", "10-24 23:30", "10-26 00:30"]


def test_a_fixed_time_in_a_skipped_hour_fires_as_the_clock_resumes_once_in_a_repeated() -> None:
    """As Debian cron: 03:30 does not exist on 2026-03-29 in Riga (fires at 04:00 EEST), and
    happens twice on 2026-10-25 (fires at the first)."""
    daily = Schedule(name="daily", cron="30 3 * * *", timezone="Europe/Riga", script="job.py")
    spring = schedules.fires(daily, at(2026, 3, 28, zone=RIGA), at(2026, 3, 31, zone=RIGA))
    assert [local(f) for f in spring] == [
        "2026-03-28T03:30:00+02:00",
        "2026-03-29T04:00:00+03:00",
        "2026-03-30T03:30:00+03:00",
    ]
    autumn = schedules.fires(daily, at(2026, 10, 24, zone=RIGA), at(2026, 10, 27, zone=RIGA))
    assert [local(f) for f in autumn] == [
        "2026-10-24T03:30:00+03:00",
        "2026-10-25T03:30:00+03:00",
        "2026-10-26T03:30:00+02:00",
    ]
    inside_repeat = at(2026, 10, 25, 1, 10)  # 03:10 EET, the second 03:xx: its 03:30 is past
    assert local(schedules.next_fire(daily, inside_repeat)) == "2026-10-26T03:30:00+02:00"


def test_an_hourly_schedule_follows_real_hours_across_both_changes() -> None:
    hourly = Schedule(name="hourly", cron="0 * * * *", timezone="Europe/Riga", script="job.py")
    spring = schedules.fires(
        hourly, at(2026, 3, 29, 1, 30, zone=RIGA), at(2026, 3, 29, 4, 0, zone=RIGA)
    )
    assert [local(f) for f in spring] == ["2026-03-29T02:00:00+02:00", "2026-03-29T04:00:00+03:00"]
    autumn = schedules.fires(hourly, at(2026, 10, 25, 2, 30, zone=RIGA), at(2026, 10, 25, 3, 0))
    assert [local(f) for f in autumn] == [
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:00:00+02:00",
        "2026-10-25T04:00:00+02:00",
        "2026-10-25T05:00:00+02:00",
    ]


@pytest.mark.parametrize("cron", ["0 * * * *", "30 3 * * *", "*/20 * * * *", "0 4 * * 0"])
def test_last_fire_is_the_last_of_the_fires_up_to_then(cron: str) -> None:
    schedule = Schedule(name="s", cron=cron, timezone="Europe/Riga", script="job.py")
    for day in (at(2026, 3, 27), at(2026, 10, 23)):
        every = schedules.fires(schedule, day - 7 * 86400, day + 4 * 86400)
        for now in range(int(day), int(day + 4 * 86400), 600):
            for moment in (now, now + 0.5):
                expected = max(f for f in every if f <= moment)
                assert schedules.last_fire(schedule, moment) == expected, (cron, local(moment))


def test_run_ids_are_the_name_and_the_fire_time_in_utc() -> None:
    nightly = Schedule(name="nightly", cron="0 2 * * *", timezone="Europe/Riga", script="j.py")
    fire = schedules.next_fire(nightly, at(2026, 12, 6, 12, 0))
    assert schedules.run_id(nightly, fire) == "nightly-20261207T000000Z"


def test_upcoming_lists_the_next_fires_of_every_schedule_soonest_first() -> None:
    hourly = Schedule(name="hourly", cron="0 * * * *", script="a.py")
    nightly = Schedule(name="nightly", cron="30 10 * * *", script="b.py")
    listed = schedules.upcoming([hourly, nightly], at(2026, 12, 7, 9, 40), 2)
    assert [(s.name, utc(f)) for s, f in listed] == [
        ("hourly", "12-07 10:00"),
        ("nightly", "12-07 10:30"),
        ("hourly", "12-07 11:00"),
        ("nightly", "12-08 10:30"),
    ]


def test_queues_by_overlap() -> None:
    skip = Schedule(name="a", cron="0 * * * *", script="a.py")
    queue = replace(skip, name="b", overlap="queue")
    allow = replace(skip, name="c", overlap="allow")
    assert [(schedules.queue_of(s), schedules.dedup_key(s)) for s in (skip, queue, allow)] == [
        ("default", "schedule:a"),
        ("schedule-b", None),
        ("default", None),
    ]
    assert schedules.queue_limits([skip, queue, allow]) == {
        "schedule-b": QueueLimits(concurrency=1)
    }


# ----- the Scheduler, against both stores -------------------------------------------------------


@pytest.fixture
def location(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_kind == "postgresql":
        return request.getfixturevalue("postgresql_url")
    return str(tmp_path / "store")


@pytest.fixture
def store(location: str) -> Store:
    opened = open_store(location)
    opened.ensure()
    return opened


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "job.py").write_text("print('tick')\n")
    return Scripts.at(tmp_path / "scripts")


HOURLY = Schedule(name="hourly", cron="0 * * * *", script="job.py")
H10 = at(2026, 12, 7, 10, 0)  # a fire of HOURLY; H10 + n * HOUR the later ones
HOUR = 3600.0


def scheduler(store: Store, scripts: Scripts, *listed: Schedule) -> Scheduler:
    return Scheduler(listed or [HOURLY], store, functools.partial(start_run, store, scripts))


def run_ids(store: Store) -> list[str]:
    return sorted(run.run_id for run in store.runs())


def finish(store: Store, run_id: str) -> None:
    """An enqueued run has no process: its row is saved without a claim."""
    store.save(replace(store.read(run_id), status=RunStatus.COMPLETED, exit_code=0))


def test_the_first_tick_fires_nothing_and_sets_the_cursor(store: Store, scripts: Scripts) -> None:
    now = H10 + 30
    assert scheduler(store, scripts).tick(now) == H10 + HOUR
    assert run_ids(store) == []
    assert store.schedule_cursor("hourly") == now


def test_a_tick_after_the_fire_time_fires_once(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    server = scheduler(store, scripts)
    server.tick(H10 + 30)
    assert server.tick(H10 + HOUR + 5) == H10 + 2 * HOUR
    assert run_ids(store) == ["hourly-20261207T110000Z"]
    run = store.read("hourly-20261207T110000Z")
    assert (run.status, run.queue, run.dedup_key) == (RunStatus.NEW, "default", "schedule:hourly")
    assert run.argv == ("job.py",)
    assert server.tick(H10 + HOUR + 5) == H10 + 2 * HOUR
    server.tick(H10 + HOUR + 1800)
    assert run_ids(store) == ["hourly-20261207T110000Z"]
    assert store.schedule_cursor("hourly") == H10 + HOUR + 1800
    assert capsys.readouterr().err == (
        "durable-python: schedule hourly fired for 2026-12-07 11:00 UTC:"
        " run hourly-20261207T110000Z\n"
    )


def test_the_trigger_of_a_run_tells_the_fire(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly = Schedule(
        name="nightly", cron="0 2 * * *", timezone="Europe/Riga", script="job.py", args=("-v",)
    )
    server = scheduler(store, scripts, nightly)
    fire = at(2026, 12, 7, 2, 0, zone=RIGA)
    server.tick(fire - 600)
    assert server.tick(fire + 2) == fire + 86400
    run = store.read("nightly-20261207T000000Z")
    assert run.argv == ("job.py", "-v")
    assert run.trigger == {
        "kind": "schedule",
        "schedule": "nightly",
        "fire_time": fire,
        "fire_time_iso": "2026-12-07T02:00:00+02:00",
        "cron": "0 2 * * *",
        "timezone": "Europe/Riga",
    }
    assert capsys.readouterr().err == (
        "durable-python: schedule nightly fired for 2026-12-07 02:00 Europe/Riga:"
        " run nightly-20261207T000000Z\n"
    )


def test_two_servers_start_each_fire_once(location: str, scripts: Scripts) -> None:
    allow = replace(HOURLY, overlap="allow")  # no dedup key to hide a second start
    one, two = open_store(location), open_store(location)
    first, second = scheduler(one, scripts, allow), scheduler(two, scripts, allow)
    first.tick(H10 + 30)
    second.tick(H10 + 31)
    for offset in (HOUR + 1, HOUR + 2, 2 * HOUR + 5, 2 * HOUR + 1, 3 * HOUR + 4, 3 * HOUR + 4):
        first.tick(H10 + offset)
        second.tick(H10 + offset)
    assert run_ids(one) == [
        "hourly-20261207T110000Z",
        "hourly-20261207T120000Z",
        "hourly-20261207T130000Z",
    ]


def test_a_server_that_loses_the_race_for_the_cursor_carries_on(
    location: str, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second server ticks while the first is starting the fire's run: both start the same
    id (one run), the first's compare-and-set fails, it reads the cursor and stops."""
    allow = replace(HOURLY, overlap="allow")
    one, two = open_store(location), open_store(location)
    second = scheduler(two, scripts, allow)
    real = functools.partial(start_run, one, scripts)

    def start_while_the_other_ticks(**fields: object) -> object:
        second.tick(H10 + HOUR + 1)
        return real(**fields)

    first = Scheduler([allow], one, start_while_the_other_ticks)
    Scheduler([allow], one, real).tick(H10 + 30)
    assert first.tick(H10 + HOUR + 1) == H10 + 2 * HOUR
    assert run_ids(one) == ["hourly-20261207T110000Z"]
    assert one.schedule_cursor("hourly") == H10 + HOUR + 1
    assert capsys.readouterr().err.splitlines() == [
        "durable-python: schedule hourly fired for 2026-12-07 11:00 UTC:"
        " run hourly-20261207T110000Z",
        "durable-python: schedule hourly fired for 2026-12-07 11:00 UTC:"
        " run hourly-20261207T110000Z (started already)",
    ]


def test_overlap_skip_starts_nothing_while_a_run_is_unfinished(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    server = scheduler(store, scripts)
    server.tick(H10 + 30)
    server.tick(H10 + HOUR + 1)
    server.tick(H10 + 2 * HOUR + 1)
    assert run_ids(store) == ["hourly-20261207T110000Z"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "durable-python: schedule hourly fired for 2026-12-07 12:00 UTC: skipped:"
        " run hourly-20261207T110000Z of the schedule is still unfinished"
    )
    finish(store, "hourly-20261207T110000Z")
    server.tick(H10 + 3 * HOUR + 1)
    assert run_ids(store) == ["hourly-20261207T110000Z", "hourly-20261207T130000Z"]


def test_overlap_skip_says_what_to_do_about_a_failed_run(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    server = scheduler(store, scripts)
    server.tick(H10 + 30)
    server.tick(H10 + HOUR + 1)
    failed = replace(store.read("hourly-20261207T110000Z"), status=RunStatus.FAILED, exit_code=1)
    store.save(failed)
    server.tick(H10 + 2 * HOUR + 1)
    assert run_ids(store) == ["hourly-20261207T110000Z"]
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "is still unfinished (it failed: fix the cause and durable-python resume"
            " hourly-20261207T110000Z, or durable-python cancel hourly-20261207T110000Z)"
        )
    )


def test_overlap_queue_enqueues_every_fire_in_a_queue_of_its_own(
    store: Store, scripts: Scripts
) -> None:
    queued = replace(HOURLY, overlap="queue")
    server = scheduler(store, scripts, queued)
    for offset in (30, HOUR + 1, 2 * HOUR + 1):
        server.tick(H10 + offset)
    runs = store.runs()
    assert sorted(run.run_id for run in runs) == [
        "hourly-20261207T110000Z",
        "hourly-20261207T120000Z",
    ]
    assert {(run.queue, run.dedup_key, run.status) for run in runs} == {
        ("schedule-hourly", None, RunStatus.NEW)
    }
    assert schedules.queue_limits([queued]) == {"schedule-hourly": QueueLimits(concurrency=1)}


def test_overlap_allow_starts_every_fire(store: Store, scripts: Scripts) -> None:
    server = scheduler(store, scripts, replace(HOURLY, overlap="allow"))
    for offset in (30, HOUR + 1, 2 * HOUR + 1):
        server.tick(H10 + offset)
    runs = store.runs()
    assert len(runs) == 2 and all(run.status == RunStatus.NEW for run in runs)
    assert {(run.queue, run.dedup_key) for run in runs} == {("default", None)}


@pytest.mark.parametrize(
    ("catch_up", "now", "started"),
    [
        ("all", 5 * HOUR + 10, ["11", "12", "13", "14", "15"]),
        ("last", 5 * HOUR + 10, ["15"]),
        ("last", 5 * HOUR + 1800, ["15"]),
        ("none", 5 * HOUR + 10, ["15"]),
        ("none", 5 * HOUR + 1800, []),
    ],
)
def test_catch_up_after_the_server_was_down_from_10_to_15(
    store: Store, scripts: Scripts, catch_up: str, now: float, started: list[str]
) -> None:
    server = scheduler(store, scripts, replace(HOURLY, overlap="allow", catch_up=catch_up))
    server.tick(H10 + 30)
    assert server.tick(H10 + now) == H10 + 6 * HOUR
    assert run_ids(store) == [f"hourly-20261207T{hour}0000Z" for hour in started]
    assert store.schedule_cursor("hourly") == H10 + now
    server.tick(H10 + now + 60)
    assert len(run_ids(store)) == len(started)


def test_catch_up_none_says_which_fire_it_missed(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    server = scheduler(store, scripts, replace(HOURLY, catch_up="none"))
    server.tick(H10 + 30)
    server.tick(H10 + 5 * HOUR + 1800)
    assert "schedule hourly missed its fire for 2026-12-07 15:00 UTC" in capsys.readouterr().err


def test_catch_up_all_starts_at_most_max_fires_a_tick(
    store: Store, scripts: Scripts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedules, "MAX_FIRES", 3)
    server = scheduler(store, scripts, replace(HOURLY, overlap="allow", catch_up="all"))
    server.tick(H10 + 30)
    now = H10 + 5 * HOUR + 10
    assert server.tick(now) == H10 + 3 * HOUR  # fires are left: tick again at once
    assert len(run_ids(store)) == 3
    assert server.tick(now) == H10 + 6 * HOUR
    assert len(run_ids(store)) == 5
    assert store.schedule_cursor("hourly") == now


def test_a_missing_script_is_logged_and_the_schedule_goes_on(
    store: Store, scripts: Scripts, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = replace(HOURLY, script="gone.py", catch_up="all")
    server = scheduler(store, scripts, gone)
    server.tick(H10 + 30)
    assert server.tick(H10 + HOUR + 5) == H10 + 2 * HOUR
    assert run_ids(store) == []
    assert store.schedule_cursor("hourly") == H10 + HOUR + 5
    err = capsys.readouterr().err
    assert "schedule hourly fired for 2026-12-07 11:00 UTC, but no run started:" in err
    assert "no script 'gone.py' in the scripts directory" in err
    assert "[tool.durable-python.schedules] hourly" in err
    server.tick(H10 + 2 * HOUR + 5)
    (scripts.root / "gone.py").write_text("pass\n")
    server.tick(H10 + 3 * HOUR + 5)
    assert run_ids(store) == ["hourly-20261207T130000Z"]  # no backlog of the failed fires


# ----- the command ------------------------------------------------------------------------------


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return command.execute(parser.parse_args(argv))


def test_the_command_lists_schedules_with_their_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DURABLE_PYTHON_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.durable-python.schedules]\n"
        'nightly = { cron = "0 2 * * *", timezone = "Europe/Riga", script = "report.py" }\n'
        'hourly = { cron = "0 * * * *", script = "sync.py", overlap = "queue" }\n'
    )
    open_store(tmp_path / ".durable").advance_schedule("hourly", None, at(2026, 12, 7, 10, 30))
    assert run_command("--json", "--count", "2") == 0
    nightly, hourly = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert nightly["fired_until"] is None and hourly["queue"] == "schedule-hourly"
    assert hourly["fired_until"] == "2026-12-07T10:30:00+00:00"
    assert len(nightly["next"]) == 2 and nightly["next"][0].endswith(
        ("T02:00:00+02:00", "T02:00:00+03:00")
    )
    assert run_command() == 0
    out = capsys.readouterr().out
    assert "nightly: report.py\n" in out and "fired     never" in out
    assert "fired     until 2026-12-07 10:30:00 +00:00" in out


def test_the_command_without_schedules_shows_an_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.durable-python]\nsync = true\n")
    assert run_command() == 0
    err = capsys.readouterr().err
    assert f"no [tool.durable-python.schedules] in {tmp_path / 'pyproject.toml'}" in err
    assert 'nightly = { cron = "0 2 * * *"' in err
