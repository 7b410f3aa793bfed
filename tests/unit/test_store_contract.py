"""The contract of the Store interface (stores/base.py), run against every implementation.

Each store is a ``Kind``: how to open a fresh one, and the two things a test cannot do through
the interface (leave a torn write behind, make data of another journal format). A new store is
one more entry in ``KINDS``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from durable_python.errors import StoreError, UsageError
from durable_python.model import JOURNAL_FORMAT, Entry, QueueLimits, Run, RunStatus
from durable_python.stores import open_store, segments
from durable_python.stores.base import RunQuery, Store


@dataclass(frozen=True)
class Kind:
    open: Callable[[pytest.FixtureRequest, Path], Store]
    tear: Callable[[Store, str], None]  # leave a half-written append behind, if it can happen
    old_format: Callable[[Store, str], None]  # make the run's data another journal format's
    compacts: bool  # stopped runs move to long-term storage (``compact`` has work to do)


def _tear_local(store: Store, run_id: str) -> None:
    (last,) = sorted((store.root / "live" / run_id).glob("*.seg"))[-1:]
    with open(last, "ab") as f:
        f.write(segments.encode([_record(99)])[:-4])


def _old_format_local(store: Store, run_id: str) -> None:
    for path in (store.root / "live" / run_id).glob("*.seg"):
        path.write_bytes(segments.encode([_record(0)]))  # as written before segments had headers


def _old_format_postgresql(store: Store, run_id: str) -> None:
    store.db.transact(lambda cursor: cursor.execute("UPDATE meta SET journal_format = 1"))


def _no_torn_writes(store: Store, run_id: str) -> None:
    """A transaction commits whole or not at all."""


KINDS = {
    "local": Kind(
        lambda request, tmp: open_store(tmp / "store"), _tear_local, _old_format_local, True
    ),
    "postgresql": Kind(
        lambda request, tmp: open_store(request.getfixturevalue("postgresql_url")),
        _no_torn_writes,
        _old_format_postgresql,
        False,
    ),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def store(kind: Kind, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    opened = kind.open(request, tmp_path)
    opened.ensure()
    return opened


def _run(run_id: str = "a1b2c3", status: RunStatus = RunStatus.NEW, **fields: object) -> Run:
    fields = {"script": "/job.py", "argv": ("job.py", "x"), **fields}
    return Run(run_id, fields.pop("script"), "", fields.pop("argv"), "/", 7, 9, status, **fields)


def _record(seq: int, attempt: int = 0, task: str = "main", outcome: str = "ok") -> tuple:
    return (task, seq, attempt, "effect", "m.f", "job.py:3", "fp", outcome, b"p", 1.0, 2.0)


def _stopped(store: Store, run: Run, records: list[tuple], status: RunStatus) -> Run:
    """Create ``run``, append ``records`` in one commit each, and stop it with ``status``."""
    claim = store.create(run)
    writer = store.writer(claim, sync=False)
    for record in records:
        writer.append([record])
    writer.close()
    store.save(replace(run, status=status))
    claim.release()
    return store.read(run.run_id)


def test_a_run_is_claimed_by_one_holder_at_a_time(store: Store) -> None:
    claim = store.create(_run(status=RunStatus.RUNNING))
    assert claim.run_id == "a1b2c3" and store.is_live("a1b2c3")
    assert store.claim("a1b2c3") is None
    assert store.claim("a1b2c3", wait=5.0) is None  # running: no waiting for it to end
    adopted = store.adopt(claim.handoff())  # as a child process would
    assert adopted.run_id == "a1b2c3" and store.claim("a1b2c3") is None
    adopted.release()
    adopted.release()  # idempotent
    assert not store.is_live("a1b2c3")
    again = store.claim("a1b2c3")
    assert again is not None
    again.release()


_ADOPTER = """
import json, sys
from durable_python.stores import open_store
claim = open_store(sys.argv[1]).adopt(json.loads(sys.argv[2]))
print(claim.run_id, flush=True)
sys.stdin.readline()
claim.release()
"""


def test_a_claim_handed_to_a_child_process_stays_held_until_the_child_lets_go(
    store: Store,
) -> None:
    claim = store.create(_run(status=RunStatus.RUNNING))
    child = subprocess.Popen(
        [sys.executable, "-c", _ADOPTER, store.location, json.dumps(claim.handoff())],
        pass_fds=claim.descriptors(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    claim.release()  # this process's share only
    assert child.stdout.readline() == "a1b2c3\n"
    assert store.claim("a1b2c3") is None and store.is_live("a1b2c3")
    child.communicate("done\n")
    assert child.returncode == 0
    again = store.claim("a1b2c3")
    assert again is not None
    again.release()


def test_rows_are_saved_read_and_found_by_prefix(store: Store) -> None:
    run = _run()
    store.create(run).release()
    store.save(replace(run, status=RunStatus.FAILED, exit_code=1, error="ValueError: x"))
    read = store.read("a1b2c3")
    assert (read.status, read.exit_code, read.error, read.argv) == (
        RunStatus.FAILED,
        1,
        "ValueError: x",
        ("job.py", "x"),
    )
    assert read.updated_at >= run.updated_at
    assert store.read("a1b2") is None  # read wants the full id
    assert store.find("a1b2").run_id == "a1b2c3"
    store.create(_run("a1ffff")).release()
    assert store.find("a1b2c3").run_id == "a1b2c3"
    with pytest.raises(UsageError, match="matches several runs"):
        store.find("a1")
    with pytest.raises(UsageError, match=r"unknown run id 'zz'.*durable-python runs"):
        store.require("zz")
    assert [r.run_id for r in store.runs()] == ["a1b2c3", "a1ffff"]


def test_unfinished_runs_of_a_command_newest_first(store: Store) -> None:
    for n, status in enumerate([RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.SUSPENDED]):
        run = _run(f"run{n}", created_at=100.0 + n)
        store.create(run).release()
        store.save(replace(run, status=status))
    store.create(_run("other", argv=("job.py", "y"))).release()
    assert [r.run_id for r in store.unfinished_runs("/job.py", ["job.py", "x"])] == [
        "run2",
        "run0",
    ]
    assert {r.run_id for r in store.pending()} == {"run0", "run2", "other"}


def test_the_journal_keeps_recording_order_and_attempts(store: Store, kind: Kind) -> None:
    run = _run()
    claim = store.create(run)
    writer = store.writer(claim, sync=True)
    writer.append([_record(0), _record(1, outcome="error")])
    writer.append([_record(0, task="main/pool0"), _record(1, attempt=1)])
    kind.tear(store, run.run_id)  # a crash in the middle of the next append
    writer.close()
    claim.release()
    journal = store.journal(run)
    assert all(isinstance(e, Entry) for e in journal)
    assert [(e.task, e.seq, e.attempt) for e in journal] == [
        ("main", 0, 0),
        ("main", 1, 0),
        ("main/pool0", 0, 0),
        ("main", 1, 1),
    ]
    assert journal[0] == Entry(*_record(0))
    assert [(e.task, e.seq, e.attempt) for e in store.entries(run)] == [
        ("main", 0, 0),
        ("main", 1, 1),
        ("main/pool0", 0, 0),
    ]
    assert len(store.entries(run, attempts=True)) == 4
    assert store.entry_counts() == {"a1b2c3": 4}


def test_events_are_kept_once_per_id_and_in_order(store: Store) -> None:
    store.create(_run()).release()
    assert store.send_event("a1b2c3", "go", {"n": 1}, "e1") == ("e1", True)
    assert store.send_event("a1b2c3", "go", {"n": 2}, "e1") == ("e1", False)
    generated, new = store.send_event("a1b2c3", "stop", None)
    assert new and generated != "e1"
    events = store.events("a1b2c3")
    assert [(e.event_id, e.name, e.payload) for e in events] == [
        ("e1", "go", {"n": 1}),
        (generated, "stop", None),
    ]
    assert store.events("nobody") == []
    with pytest.raises(UsageError, match="not JSON"):
        store.send_event("a1b2c3", "go", object())


def test_cancel_requests_are_kept_until_cleared(store: Store) -> None:
    store.create(_run(status=RunStatus.SUSPENDED)).release()
    assert not store.cancel_requested("a1b2c3")
    store.request_cancel("a1b2c3")
    assert store.cancel_requested("a1b2c3")
    store.clear_cancel("a1b2c3")
    assert not store.cancel_requested("a1b2c3")


def test_waiters_return_when_woken(store: Store) -> None:
    store.create(_run()).release()
    wakeup = threading.Event()
    wakeup.set()
    with store.watch_run("a1b2c3") as waiter:
        waiter.wait(60, wakeup)
    with store.watch_due() as waiter:
        store.notify_due("a1b2c3")
        waiter.wait(60, wakeup)


def test_compacted_runs_stay_readable_and_resumable(store: Store, kind: Kind) -> None:
    done = _stopped(store, _run("done01"), [_record(0), _record(1)], RunStatus.COMPLETED)
    failed = _stopped(store, _run("fail01"), [_record(0, outcome="error")], RunStatus.FAILED)
    before = {r.run_id: store.journal(r) for r in (done, failed)}
    assert store.compact() == (2 if kind.compacts else 0)
    assert store.compact() == 0  # nothing left to move
    assert store.read("done01").status == RunStatus.COMPLETED
    assert {r.run_id: r.status for r in store.runs()} == {
        "done01": RunStatus.COMPLETED,
        "fail01": RunStatus.FAILED,
    }
    assert {r.run_id: store.journal(r) for r in store.runs()} == before
    assert store.entry_counts() == {"done01": 2, "fail01": 1}
    claim = store.claim("fail01")  # resumed after a fix: the journal goes on
    writer = store.writer(claim, sync=False)
    writer.append([_record(0, attempt=1)])
    writer.close()
    claim.release()
    assert [(e.seq, e.attempt) for e in store.journal(failed)] == [(0, 0), (0, 1)]
    assert store.compact() == (1 if kind.compacts else 0)
    assert [(e.seq, e.attempt) for e in store.journal(failed)] == [(0, 0), (0, 1)]


def test_what_started_a_run_is_kept_through_compaction(store: Store) -> None:
    trigger = {"kind": "webhook", "body": {"pull_request": {"number": 42}}, "query": {}}
    _stopped(store, _run("hook01", trigger=trigger), [_record(0)], RunStatus.FAILED)
    assert store.read("hook01").trigger == trigger
    store.compact()
    assert store.read("hook01").trigger == trigger
    assert {r.run_id: r.trigger for r in store.runs()} == {"hook01": trigger}


def test_a_schedule_cursor_moves_only_from_where_the_mover_saw_it(store: Store) -> None:
    assert store.schedule_cursor("nightly") is None
    assert store.advance_schedule("nightly", None, 100.0)
    assert not store.advance_schedule("nightly", None, 150.0)  # another server set it first
    assert store.schedule_cursor("nightly") == 100.0
    assert store.advance_schedule("nightly", 100.0, 200.0)
    assert not store.advance_schedule("nightly", 100.0, 300.0)  # moved since it was read
    assert store.schedule_cursor("nightly") == 200.0
    assert store.schedule_cursor("hourly") is None  # each schedule has its own


def test_a_page_of_runs_is_filtered_and_ordered_by_the_store(store: Store) -> None:
    statuses = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING]
    for n in range(12):
        argv = (f"jobs/job{n % 3}.py", "Invoice" if n % 2 else "refund", f"#{n}")
        run = _run(f"run{n:02d}", script=f"/w/jobs/job{n % 3}.py", argv=argv, created_at=100.0 + n)
        _stopped(store, run, [_record(0)], statuses[n % 4])
    twin = _run("run12b", script="/w/jobs/job0.py", argv=("jobs/job0.py", "x"), created_at=111.0)
    _stopped(store, twin, [], RunStatus.COMPLETED)  # the same start as run11: ordered by id
    store.compact()  # the local store: most rows in DuckDB...
    claim = store.claim("run03")  # ...and one live again, its newer row the one that counts
    store.save(replace(store.read("run03"), status=RunStatus.SUSPENDED))
    claim.release()
    everything = store.runs()
    queries = [
        RunQuery(limit=100),
        RunQuery(limit=5),
        RunQuery(limit=4, before=(111.0, "run12b")),
        RunQuery(limit=100, since=103.0, until=108.0),
        RunQuery(limit=100, script="job1.py"),
        RunQuery(limit=100, text="INVOICE #1"),
        RunQuery(limit=100, statuses=frozenset({"failed", "suspended"})),
        RunQuery(limit=2, text="invoice", statuses=frozenset({"completed", "failed"})),
    ]
    for query in queries:
        expected = sorted(
            (r for r in everything if query.matches(r)),
            key=lambda r: (r.created_at, r.run_id),
            reverse=True,
        )[: query.limit]
        page = store.runs_page(query)
        assert [r.run_id for r in page] == [r.run_id for r in expected], query
    assert [r.run_id for r in store.runs_page(RunQuery(limit=3))] == ["run12b", "run11", "run10"]
    assert [r.status for r in store.runs_page(RunQuery(text="#3"))] == [RunStatus.SUSPENDED]
    assert store.entry_counts(["run01", "run12b", "nope"]) == {"run01": 1}


def test_deleted_runs_are_gone_unless_a_process_has_them(store: Store) -> None:
    _stopped(store, _run("done01"), [_record(0)], RunStatus.COMPLETED)
    _stopped(store, _run("done02"), [_record(0)], RunStatus.COMPLETED)
    store.compact()
    held = store.claim("done02")
    assert store.delete(["done01", "done02"]) == ["done01"]
    held.release()
    assert store.read("done01") is None and store.journal(_run("done01")) == []
    assert [r.run_id for r in store.runs()] == ["done02"]
    assert store.delete([]) == []


def test_data_of_another_journal_format_is_refused(store: Store, kind: Kind) -> None:
    run = _stopped(store, _run(), [_record(0)], RunStatus.FAILED)
    kind.old_format(store, run.run_id)
    with pytest.raises(
        StoreError, match=f"format 1, but this durable-python reads format {JOURNAL_FORMAT}"
    ):
        store.journal(run)


def test_a_local_database_of_another_journal_format_is_refused(tmp_path: Path) -> None:
    import duckdb

    store = open_store(tmp_path / "store")
    _stopped(store, _run(), [_record(0)], RunStatus.COMPLETED)
    store.compact()
    with duckdb.connect(str(tmp_path / "store" / "store.duckdb")) as db:
        db.execute("DROP TABLE meta")  # as written before the database recorded its format
    with pytest.raises(StoreError) as refused:
        store.runs()
    message = str(refused.value)
    assert f"journal format 1, but this durable-python reads format {JOURNAL_FORMAT}" in message
    assert "store.duckdb" in message and "--store DIR" in message
    with duckdb.connect(str(tmp_path / "store" / "store.duckdb")) as db:
        db.execute("CREATE TABLE meta AS SELECT ? AS journal_format", (JOURNAL_FORMAT + 1,))
    with pytest.raises(StoreError, match=f"journal format {JOURNAL_FORMAT + 1}, but"):
        store.read("a1b2c3")
    with duckdb.connect(str(tmp_path / "store" / "store.duckdb")) as db:
        db.execute("DROP TABLE meta")
        db.execute("DELETE FROM runs")  # an old store whose runs were all pruned
        db.execute("DELETE FROM entries")
    assert store.runs() == []  # taken over: nothing in it is of the old format
    with duckdb.connect(str(tmp_path / "store" / "store.duckdb")) as db:
        assert db.execute("SELECT journal_format FROM meta").fetchall() == [(JOURNAL_FORMAT,)]


_ENQUEUED = itertools.count()


def _queued(run_id: str, priority: int = 0, **fields: object) -> Run:
    """A run of queue ``jobs``, enqueued after the ones made before it."""
    return _run(
        run_id, queue="jobs", priority=priority, created_at=100.0 + next(_ENQUEUED), **fields
    )


def test_enqueued_runs_are_kept_once_per_id_and_dedup_key(store: Store) -> None:
    run, new = store.enqueue(_queued("q1", dedup_key="invoice-7"))
    assert new and run.run_id == "q1" and not store.is_live("q1")
    assert store.enqueue(_queued("q1")) == (store.read("q1"), False)
    again, new = store.enqueue(_queued("q2", dedup_key="invoice-7"))
    assert (again.run_id, new) == ("q1", False)
    assert store.enqueue(_queued("q3", dedup_key="invoice-8"))[1]
    store.save(replace(store.read("q1"), status=RunStatus.COMPLETED))
    assert store.enqueue(_queued("q4", dedup_key="invoice-7"))[1]  # q1 is finished
    assert store.unfinished_runs("/job.py", ["job.py", "x"]) == []  # the workers' runs


def test_a_queue_admits_by_priority_within_its_limits(store: Store) -> None:
    for run_id, priority in [("low", 5), ("high", -1), ("mid1", 0), ("mid2", 0)]:
        store.enqueue(_queued(run_id, priority))
    limits = QueueLimits(concurrency=2)
    first = store.dequeue("jobs", limits, 10, lambda run: None)
    assert [run.run_id for run, _ in first] == ["high", "mid1"]
    assert all(run.dequeued_at is not None for run, _ in first)
    assert all(store.is_live(run.run_id) for run, _ in first)
    assert store.dequeue("jobs", limits, 10, lambda run: None) == []  # two execute
    assert store.dequeue("other", limits, 10, lambda run: None) == []
    done, claim = first[0]
    store.save(replace(done, status=RunStatus.COMPLETED))
    claim.release()
    (third,) = store.dequeue("jobs", limits, 10, lambda run: None)
    assert third[0].run_id == "mid2"
    assert store.dequeue("jobs", QueueLimits(), 0, lambda run: None) == []  # no room here
    for _, held in [first[1], third]:
        held.release()


def test_a_rate_limit_counts_the_runs_started_in_its_period(store: Store) -> None:
    for n in range(5):
        store.enqueue(_queued(f"r{n}"))
    limits = QueueLimits(limit=3, period=3600)
    taken = store.dequeue("jobs", limits, 2, lambda run: None)
    assert len(taken) == 2
    for run, claim in taken:
        store.save(replace(run, status=RunStatus.COMPLETED))
        claim.release()
    assert len(store.dequeue("jobs", limits, 10, lambda run: None)) == 1
    assert store.dequeue("jobs", limits, 10, lambda run: None) == []


def test_a_run_a_worker_cannot_execute_is_left_with_the_reason(store: Store) -> None:
    store.enqueue(_queued("q1"))
    assert store.dequeue("jobs", QueueLimits(), 5, lambda run: "no script here") == []
    left = store.read("q1")
    assert (left.note, left.dequeued_at, store.is_live("q1")) == ("no script here", None, False)
    ((taken, claim),) = store.dequeue("jobs", QueueLimits(), 5, lambda run: None)
    assert taken.note is None and store.read("q1").note is None
    claim.release()
