"""The local store: a directory with DuckDB for runs and entries, and a directory per live run.

Layout of the store directory (``.durable/`` by default)::

    store.duckdb        runs and entries: the queryable record every command reads; its
                        ``meta`` table holds the journal format it was written in
    store.lock          flock that serialises the short DuckDB sessions of all processes
    live/RUN/run.json   the run's row (and how many of its entries DuckDB holds) while it is
                        unfinished or not yet folded into DuckDB
    live/RUN/lock       flock held by the process executing RUN (free lock = no live process)
    live/RUN/*.seg      journal segments that process appends to (see segments.py)
    live/RUN/inbox/KEY.json   an event sent to RUN. Events are never removed while the run is
                        unfinished: an event sent before the script waits is there when it does,
                        and a repeated event id finds its file and is refused.
    live/RUN/cancel     a cancel request; the run raises Cancelled
    queues/NAME.json    when the queue's recent runs started (its rate limit); queue.lock
                        serialises enqueueing and the workers' admissions
    live/RUN/folding    a fold holds RUN's lock for a moment (``claim`` with ``wait`` waits)
    wake/RUN            touched on send, cancel and suspension; ``durable-python worker``
                        watches this directory

DuckDB lets one process open a file at a time and spends 0.1 s on import and tens of ms per
session, so the run path avoids it: a new run touches only its own directory, and when a run
stops a detached ``durable-python fold`` moves its segments and row into DuckDB. A resumed run
reads its folded entries in one query. ``runs`` and ``show`` read DuckDB and the live directories
together, so they are right at every moment, before or after a fold. A waiting run watches its
live directory with watchfiles, so an event or a cancel reaches it at once.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from durable_python import child
from durable_python.errors import StoreError, unwritable
from durable_python.model import FINAL, JOURNAL_FORMAT, Entry, Event, QueueLimits, Run, RunStatus

from . import segments
from .base import (
    CANCEL_SIGNAL,
    Claim,
    JournalWriter,
    RunQuery,
    Store,
    Waiter,
    collector_paused,
    entries_of,
    event_fields,
    newest_first,
    wrong_format,
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (journal_format INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    script VARCHAR NOT NULL,
    source_hash VARCHAR NOT NULL,
    argv VARCHAR NOT NULL,
    cwd VARCHAR NOT NULL,
    hash_seed BIGINT NOT NULL,
    random_seed BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    exit_code INTEGER,
    error VARCHAR,
    pid INTEGER,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    folded BIGINT NOT NULL,
    trigger VARCHAR
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS trigger VARCHAR;
CREATE TABLE IF NOT EXISTS entries (
    run_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    policy VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    site VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    payload BLOB,
    started DOUBLE NOT NULL,
    ended DOUBLE NOT NULL,
    PRIMARY KEY (run_id, task, seq, attempt)
);
INSERT INTO meta SELECT {JOURNAL_FORMAT} WHERE NOT EXISTS (SELECT * FROM meta);
"""
ENTRY_COLUMNS = ", ".join(Entry._fields)
# The runs table holds a run's row but its waiting state, which lives in run.json only (a
# waiting run keeps its live directory), and how many of its entries the table holds.
RUN_COLUMNS = (
    "run_id, script, source_hash, argv, cwd, hash_seed, random_seed, status, exit_code,"
    " error, pid, created_at, updated_at, folded, trigger"
)
FOLD_BATCH = 8  # stopped runs left unfolded before a run's end starts a fold
FOLD_NOW = 10_000  # a run that stops with this many entries is folded at once
LOCK_TIMEOUT = float(os.environ.get("DURABLE_PYTHON_LOCK_TIMEOUT", "30"))
WATCH_CAP = 5.0  # a waiter re-checks at least this often even if no change is reported


_claimed: set[int] = set()  # the descriptors of the claims this process holds


def _drop_claims_in_forked_child() -> None:
    """A forked child (a process pool's worker) shares the parent's claim descriptors, and so
    its flocks: closed in the child, so that a run whose process was killed is not taken for
    live while its workers wind down (non-inheritable descriptors survive a fork)."""
    for fd in _claimed:
        with suppress(OSError):
            os.close(fd)
    _claimed.clear()


os.register_at_fork(after_in_child=_drop_claims_in_forked_child)


class LocalClaim(Claim):
    """The flock of ``live/RUN/lock``, held through an open descriptor."""

    def __init__(self, run_id: str, fd: int) -> None:
        self.run_id = run_id
        self._fd = fd
        _claimed.add(fd)

    def handoff(self) -> dict[str, Any]:
        os.set_inheritable(self._fd, True)
        return {"run_id": self.run_id, "lock_fd": self._fd}

    def descriptors(self) -> tuple[int, ...]:
        return (self._fd,)

    def release(self) -> None:
        if self._fd >= 0:
            _claimed.discard(self._fd)
            os.close(self._fd)
            self._fd = -1


class LocalStore(Store):
    """A store directory; see the module docstring for its layout."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.location = self.address = str(self.root)
        self.database = self.root / "store.duckdb"
        self.live = self.root / "live"
        self.wake = self.root / "wake"
        self._inboxes: dict[str, dict[str, Event]] = {}  # watched runs' events, by file name

    def ensure(self) -> None:
        try:
            self.live.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store at {self.root}: {exc.strerror}. "
                "Choose a writable place with --store DIR or DURABLE_PYTHON_STORE."
            ) from exc

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """A DuckDB connection held under ``store.lock``; closed when the block ends."""
        self.ensure()
        with _file_lock(self.root / "store.lock", LOCK_TIMEOUT, self.root):
            import duckdb

            try:
                db = duckdb.connect(str(self.database))
            except duckdb.Error as exc:
                raise StoreError(_open_failure(self.database, exc)) from exc
            try:
                self._check_format(db)
                yield db
            except duckdb.Error as exc:
                raise StoreError(f"the store {self.database} failed: {exc}") from exc
            finally:
                db.close()

    def _check_format(self, db: Any) -> None:
        """Refuse a database of another journal format; give a new (or empty) one this one."""
        tables = {
            name
            for (name,) in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if "meta" in tables:
            found = db.execute("SELECT journal_format FROM meta").fetchone()
            if found is not None and found[0] != JOURNAL_FORMAT:
                raise wrong_format(str(self.database), found[0])
        elif "runs" in tables and db.execute("SELECT count(*) FROM runs").fetchone()[0]:
            raise wrong_format(str(self.database), segments.UNVERSIONED)
        db.execute(SCHEMA)

    # ----- runs ---------------------------------------------------------------------------------

    def create(self, run: Run) -> Claim:
        claim = self._take(run.run_id)
        if claim is None:
            raise StoreError(
                f"could not take the live lock of the new run {run.run_id} in {self.root}: another"
                " process holds it. Run the command again."
            )
        try:
            self._write_live(run, 0)
        except BaseException:
            claim.release()
            raise
        return claim

    def claim(self, run_id: str, wait: float = 0.0) -> Claim | None:
        deadline = time.monotonic() + wait
        while True:
            claim = self._take(run_id)
            if claim is not None or wait <= 0:
                return claim
            live = self._live(run_id)
            executing = live is None or (
                live[0].status in (RunStatus.RUNNING, RunStatus.NEW)
                and not self._being_folded(run_id)
            )
            if executing or time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def _fold_marker(self, run_id: str) -> Path:
        """Present while this process folds ``run_id``, from before it takes the run's lock to
        after it lets go: a claimer that finds the lock held then waits for the fold instead of
        taking the run for live (one per process: two folds may try the same run)."""
        return self.live / run_id / f"folding-{os.getpid()}"

    def _being_folded(self, run_id: str) -> bool:
        for marker in (self.live / run_id).glob("folding-*"):
            try:
                os.kill(int(marker.name.partition("-")[2]), 0)
            except ProcessLookupError:
                continue  # left by a fold that was killed
            except (ValueError, PermissionError):
                pass
            return True
        return False

    def _take(self, run_id: str) -> LocalClaim | None:
        """The live lock of a run; ``None`` if another process holds it."""
        directory = self.live / run_id
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return LocalClaim(run_id, fd)

    def adopt(self, handoff: dict[str, Any]) -> Claim:
        fd = handoff["lock_fd"]
        os.set_inheritable(fd, False)  # the script's own child processes must not hold it
        return LocalClaim(handoff["run_id"], fd)

    def read(self, run_id: str) -> Run | None:
        live = self._live(run_id)
        if live is not None:
            return live[0]
        if not self.database.exists():
            return None
        with self._session() as db:
            row = db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return _run_of(row) if row is not None else None

    def save(self, run: Run) -> None:
        live = self._live(run.run_id)
        self._write_live(run, live[1] if live is not None else self._folded_in_database(run.run_id))

    def _folded_in_database(self, run_id: str) -> int:
        if not self.database.exists():
            return 0
        with self._session() as db:
            row = db.execute("SELECT folded FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return row[0] if row is not None else 0

    def _write_live(self, run: Run, folded: int) -> None:
        """Save a run's row in its live directory, stamped now (atomically: write, rename)."""
        directory = self.live / run.run_id
        staging = directory / f".run.json.{os.getpid()}"
        data = replace(run, updated_at=time.time()).to_dict()
        data["folded"] = folded  # entries already in DuckDB
        try:
            directory.mkdir(parents=True, exist_ok=True)
            staging.write_text(json.dumps(data))
            os.replace(staging, directory / "run.json")
        except OSError as exc:
            raise unwritable(
                str(directory / "run.json"), exc, "The run's journal so far is kept."
            ) from exc

    def _live(self, run_id: str) -> tuple[Run, int] | None:
        """A live run's row and how many of its entries DuckDB holds."""
        try:
            data = json.loads((self.live / run_id / "run.json").read_text())
            folded = data.pop("folded", 0)
            return Run.from_dict(data), folded
        except (OSError, ValueError, TypeError):
            return None

    def _live_runs(self) -> list[Run]:
        """Runs that still have a live directory (unfinished, or finished but not yet folded)."""
        found = []
        if self.live.is_dir():
            for directory in self.live.iterdir():
                live = self._live(directory.name)
                if live is not None:
                    found.append(live[0])
        return sorted(found, key=lambda r: r.created_at)

    def runs(self) -> list[Run]:
        """DuckDB's rows, overridden by newer live rows."""
        runs: dict[str, Run] = {}
        if self.database.exists():
            with self._session() as db:
                rows = db.execute(f"SELECT {RUN_COLUMNS} FROM runs").fetchall()
            runs = {run.run_id: run for run in map(_run_of, rows)}
        for run in self._live_runs():
            runs[run.run_id] = run
        return sorted(runs.values(), key=lambda r: r.created_at)

    def runs_page(self, query: RunQuery) -> list[Run]:
        """The live rows that match, and one DuckDB query for the folded ones (whose live row,
        where a run has one, is newer: those are left out of the query)."""
        live = self._live_runs()
        found = [run for run in live if query.matches(run)]
        if self.database.exists():
            where, params = query.sql(
                "?",
                "array_to_string(from_json(argv, '[\"VARCHAR\"]'), ' ')",
                "list_contains({mark}, status)",
            )
            with self._session() as db:
                rows = db.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE {where} AND run_id NOT IN"
                    " (SELECT unnest(?::VARCHAR[])) ORDER BY created_at DESC, run_id DESC LIMIT ?",
                    (*params, [run.run_id for run in live], query.limit),
                ).fetchall()
            found += map(_run_of, rows)
        return newest_first(found)[: query.limit]

    def pending(self) -> list[Run]:
        """Unfinished runs always keep their live directory: no DuckDB needed."""
        return [run for run in self._live_runs() if run.status not in FINAL]

    def is_live(self, run_id: str) -> bool:
        try:
            fd = os.open(self.live / run_id / "lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def last_activity(self, run: Run) -> float:
        times = [run.updated_at]
        times.extend(p.stat().st_mtime for p in self._segments(run.run_id))
        return max(times)

    # ----- queues -------------------------------------------------------------------------------

    def enqueue(self, run: Run) -> tuple[Run, bool]:
        self.ensure()
        with _file_lock(self.root / "queue.lock", LOCK_TIMEOUT, self.root):
            existing = self.read(run.run_id)
            if existing is not None:
                return existing, False
            if run.dedup_key is not None:
                for other in self.pending():
                    if other.queue == run.queue and other.dedup_key == run.dedup_key:
                        return other, False
            self.create(run).release()
        self.notify_due(run.run_id)
        return run, True

    def dequeue(
        self,
        queue: str,
        limits: QueueLimits,
        slots: int,
        runnable: Callable[[Run], str | None],
    ) -> list[tuple[Run, Claim]]:
        """Under ``queue.lock``: limits count the live runs of the queue and the start times
        kept in ``queues/NAME.json``; a run is taken by taking its live lock."""
        self.ensure()
        taken: list[tuple[Run, Claim]] = []
        with _file_lock(self.root / "queue.lock", LOCK_TIMEOUT, self.root):
            now = time.time()
            runs = [run for run in self.pending() if run.queue == queue]
            starts_file = self.root / "queues" / f"{hashlib.sha1(queue.encode()).hexdigest()}.json"
            try:
                starts = [t for t in json.loads(starts_file.read_text()) if t > now - limits.period]
            except (OSError, ValueError):
                starts = []
            capacity = slots
            if limits.concurrency is not None:
                active = sum(
                    1
                    for run in runs
                    if run.dequeued_at is not None
                    and run.status in (RunStatus.NEW, RunStatus.RUNNING)
                    and self.is_live(run.run_id)
                )
                capacity = min(capacity, limits.concurrency - active)
            if limits.limit is not None:
                capacity = min(capacity, limits.limit - len(starts))
            waiting = [r for r in runs if r.in_queue]
            for run in sorted(waiting, key=lambda r: (r.priority, r.created_at)):
                if len(taken) >= capacity:
                    break
                claim = self._take(run.run_id)
                if claim is None:
                    continue
                why = runnable(run)
                if why is not None:
                    if run.note != why:
                        self._write_live(replace(run, note=why), 0)
                    claim.release()
                    continue
                started = replace(run, dequeued_at=now, note=None)
                self._write_live(started, 0)
                starts.append(now)
                taken.append((started, claim))
            if taken and limits.limit is not None:
                starts_file.parent.mkdir(exist_ok=True)
                starts_file.write_text(json.dumps(starts))
        return taken

    # ----- journals -----------------------------------------------------------------------------

    def _segments(self, run_id: str) -> list[Path]:
        return sorted((self.live / run_id).glob("*.seg"))

    def journal(self, run: Run) -> list[Entry]:
        with collector_paused():  # the collector would walk every entry read so far
            return self._journal(run)

    def _journal(self, run: Run) -> list[Entry]:
        """Folded entries (one query), then the segments' (one read each)."""
        live = self._live(run.run_id)
        folded = live[1] if live is not None else None  # None: all in DuckDB, if anywhere
        entries: list[Entry] = []
        if folded != 0 and self.database.exists():
            with self._session() as db:
                rows = db.execute(
                    f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=?"
                    " ORDER BY task, seq, attempt",
                    (run.run_id,),
                ).fetchall()
            entries = entries_of(rows)
        if folded and not entries:  # never replay from scratch what the journal says already ran
            raise StoreError(
                f"run {run.run_id} has {folded} journal entries in {self.database}, but that"
                " database does not hold them (was it moved aside or replaced?). Put it back and"
                " run the same command again, or start afresh with --new."
            )
        records = [r for path in self._segments(run.run_id) for r in segments.read(path)]
        pending = entries_of(records)
        if pending and entries:  # a fold that stopped between its insert and its deletes
            known = {(e.task, e.seq, e.attempt) for e in entries}
            pending = [e for e in pending if (e.task, e.seq, e.attempt) not in known]
        return entries + pending if entries else pending

    def writer(self, claim: Claim, sync: bool) -> JournalWriter:
        path = self.live / claim.run_id / f"{time.time_ns():020d}-{os.getpid()}.seg"
        return segments.SegmentWriter(path, sync)

    def entry_counts(self, run_ids: Sequence[str] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.database.exists():
            only = "" if run_ids is None else "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))"
            with self._session() as db:
                rows = db.execute(
                    f"SELECT run_id, count(*) FROM entries {only} GROUP BY run_id",
                    () if run_ids is None else (list(run_ids),),
                ).fetchall()
            counts = dict(rows)
        wanted = None if run_ids is None else set(run_ids)
        for run in self._live_runs():
            if wanted is not None and run.run_id not in wanted:
                continue
            pending = sum(len(segments.read(p)) for p in self._segments(run.run_id))
            counts[run.run_id] = counts.get(run.run_id, 0) + pending
        return counts

    # ----- events, cancel requests, wake-ups -----------------------------------------------------

    def send_event(
        self, run_id: str, name: str, payload: Any, event_id: str | None = None
    ) -> tuple[str, bool]:
        """The event's file is linked into the inbox under a hash of its id: atomic, and it
        fails if the id was seen."""
        event_id, payload_json = event_fields(name, payload, event_id)
        key = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        directory = self.live / run_id / "inbox"
        directory.mkdir(parents=True, exist_ok=True)
        text = (
            f'{{"id": {json.dumps(event_id)}, "name": {json.dumps(name)},'
            f' "sent_ns": {time.time_ns()}, "payload": {payload_json}}}'
        )
        staging = directory / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            with open(staging, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(staging, directory / f"{key}.json")
                new = True
            except FileExistsError:
                new = False
        finally:
            staging.unlink(missing_ok=True)
        if new:
            _sync_directory(directory)
            self.notify_due(run_id)
        return event_id, new

    def events(self, run_id: str) -> list[Event]:
        """Event files never change, so a watched run's are read once."""
        directory = self.live / run_id / "inbox"
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        cache = self._inboxes.get(run_id)
        found = []
        for file_name in names:
            if file_name.startswith(".") or not file_name.endswith(".json"):
                continue
            event = cache.get(file_name) if cache is not None else None
            if event is None:
                try:
                    data = json.loads((directory / file_name).read_text())
                except (OSError, ValueError):
                    continue
                event = Event(data["id"], data["name"], data["payload"], data["sent_ns"])
                if cache is not None:
                    cache[file_name] = event
            found.append(event)
        found.sort(key=lambda e: (e.sent_ns, e.event_id))
        return found

    def request_cancel(self, run_id: str) -> None:
        """Write the cancel marker, tell the worker, and signal a live process: the marker
        alone is seen at its waits, the signal makes its next recorded call raise."""
        marker = self.live / run_id / "cancel"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(time.time()))
        self.notify_due(run_id)
        if self.is_live(run_id):
            live = self._live(run_id)
            if live is not None and live[0].pid:
                try:
                    os.kill(live[0].pid, CANCEL_SIGNAL)
                except (ProcessLookupError, PermissionError):
                    pass

    def cancel_requested(self, run_id: str) -> bool:
        return (self.live / run_id / "cancel").exists()

    def clear_cancel(self, run_id: str) -> None:
        (self.live / run_id / "cancel").unlink(missing_ok=True)

    def watch_run(self, run_id: str) -> Waiter:
        directory = self.live / run_id
        (directory / "inbox").mkdir(parents=True, exist_ok=True)  # watched before events come
        self._inboxes.setdefault(run_id, {})
        return _Watcher(directory)

    def watch_due(self) -> Waiter:
        self.wake.mkdir(parents=True, exist_ok=True)
        return _Watcher(self.wake)

    def notify_due(self, run_id: str) -> None:
        """Touch ``wake/RUN`` (best effort)."""
        try:
            self.wake.mkdir(parents=True, exist_ok=True)
            (self.wake / run_id).write_text(str(time.time()))
        except OSError:
            pass

    # ----- schedules ----------------------------------------------------------------------------

    def schedule_cursor(self, name: str) -> float | None:
        return self._schedule_cursors().get(name)

    def advance_schedule(self, name: str, seen: float | None, until: float) -> bool:
        """Under ``queue.lock``, in ``schedules.json`` (written aside, then renamed)."""
        self.ensure()
        with _file_lock(self.root / "queue.lock", LOCK_TIMEOUT, self.root):
            cursors = self._schedule_cursors()
            if cursors.get(name) != seen:
                return False
            cursors[name] = until
            staging = self.root / f".schedules.json.{os.getpid()}"
            try:
                staging.write_text(json.dumps(cursors))
                os.replace(staging, self.root / "schedules.json")
            except OSError as exc:
                raise StoreError(
                    f"cannot write {self.root / 'schedules.json'}: {exc.strerror}. Free space or"
                    " fix the permissions of the store."
                ) from exc
        return True

    def _schedule_cursors(self) -> dict[str, float]:
        path = self.root / "schedules.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read {path}: {exc}. Fix its permissions, or delete it: the schedules"
                " then fire from now on, without catching up."
            ) from exc

    # ----- upkeep -------------------------------------------------------------------------------

    def stopped(self, run: Run, entries: int = 0) -> None:
        self._fold_in_background(now=entries >= FOLD_NOW)

    def compact(self) -> int:
        """Move every stopped run's segments and row into DuckDB; return for how many runs
        something moved (a stopped unfinished run's row is refreshed in DuckDB, its directory
        stays).

        A run is folded while holding its live lock, so a process resuming it never reads half
        a fold. Idempotent: entries already in DuckDB are not inserted twice.
        """
        moved = 0
        with self._session() as db:
            for listed in self._live_runs():
                run_id = listed.run_id
                marker = self._fold_marker(run_id)
                try:
                    marker.touch()
                except FileNotFoundError:  # another fold moved it meanwhile
                    continue
                claim = self._take(run_id)
                if claim is None:
                    marker.unlink(missing_ok=True)
                    continue
                try:
                    # Read the row again now that no process runs it: the one listed above may
                    # predate the end of a run that stopped meanwhile (its status would be lost).
                    live = self._live(run_id)
                    if live is None:  # another fold moved it meanwhile (_take made the dir)
                        self._remove_live_dir(run_id)
                        continue
                    run, folded = live
                    paths = self._segments(run_id)
                    records = [r for path in paths for r in segments.read(path)]
                    if records:
                        _bulk_insert_entries(db, self.root, run_id, records)
                        folded += len(records)
                    db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
                    row = _row_of(run, folded)
                    db.execute(f"INSERT INTO runs VALUES ({','.join('?' * len(row))})", row)
                    if run.status not in FINAL:
                        self._write_live(run, folded)
                    for path in paths:
                        path.unlink(missing_ok=True)
                    if run.status in FINAL:
                        self._remove_live_dir(run_id)
                    moved += bool(records) or run.status in FINAL
                finally:
                    claim.release()
                    marker.unlink(missing_ok=True)
        return moved

    def _fold_in_background(self, now: bool) -> None:
        """Start a detached ``durable-python fold`` so the script's command returns at once.

        Folding costs a DuckDB import (0.1-0.3 s of CPU), so it waits until ``FOLD_BATCH`` runs
        have stopped unfolded (``now`` for a run with a long journal): until then ``runs``,
        ``show`` and resume read their live directories, which are as good.
        """
        if os.environ.get("DURABLE_PYTHON_TEST_NO_FOLD"):  # scratch stores (durable-python check)
            return
        if not now and self._unfolded_count() < FOLD_BATCH:
            return
        # posix_spawn rather than subprocess.Popen: no Popen object left behind to warn
        # (ResourceWarning) in the script's process; the child outlives us in its own session.
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        argv = child.command("fold", "--store", self.location)
        os.posix_spawn(
            argv[0],
            argv,
            {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_PYTHON_TEST")},
            file_actions=quiet,
            setsid=True,
        )

    def _unfolded_count(self) -> int:
        """How many live directories hold something a fold would move (a cheap estimate)."""
        count = 0
        for directory in self.live.iterdir():
            if next(directory.glob("*.seg"), None) is not None:
                count += 1
            else:
                live = self._live(directory.name)
                count += live is not None and live[0].status in FINAL
        return count

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        deleted = []
        if not run_ids:
            return deleted
        with self._session() as db:
            for run_id in run_ids:
                directory = self.live / run_id
                claim = self._take(run_id) if directory.is_dir() else None
                if directory.is_dir() and claim is None:
                    continue  # a process has it (resumed after a fix): not finished after all
                try:
                    db.execute("DELETE FROM entries WHERE run_id=?", (run_id,))
                    db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
                    shutil.rmtree(directory, ignore_errors=True)
                    (self.wake / run_id).unlink(missing_ok=True)
                finally:
                    if claim is not None:
                        claim.release()
                self._inboxes.pop(run_id, None)
                deleted.append(run_id)
            if deleted:
                db.execute("CHECKPOINT")
        return deleted

    def _remove_live_dir(self, run_id: str) -> None:
        directory = self.live / run_id
        shutil.rmtree(directory / "inbox", ignore_errors=True)
        for name in ("run.json", "lock", "cancel"):
            (directory / name).unlink(missing_ok=True)
        for marker in directory.glob("folding-*"):
            marker.unlink(missing_ok=True)
        try:
            directory.rmdir()
        except OSError:
            pass
        (self.wake / run_id).unlink(missing_ok=True)


class _Watcher(Waiter):
    """Wakes on any change in a directory (watchfiles), on ``wakeup`` (the cancel signal), or
    after at most ``WATCH_CAP`` seconds; polls if the file system cannot be watched."""

    def __init__(self, directory: Path) -> None:
        self._notify: Any = None
        try:
            from watchfiles._rust_notify import RustNotify

            self._notify = RustNotify([str(directory)], False, False, 300, True, False)
        except Exception:  # noqa: BLE001 - no inotify (limits, odd file system): poll instead
            self._notify = None

    def wait(self, seconds: float, wakeup: threading.Event) -> None:
        seconds = min(seconds, WATCH_CAP)
        if self._notify is None:
            wakeup.wait(min(seconds, 0.25))
        else:
            result = self._notify.watch(50, 20, max(1, math.ceil(seconds * 1000)), wakeup)
            if result == "signal":  # Ctrl-C while waiting: what Python does in a plain sleep
                raise KeyboardInterrupt

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None


def _run_of(row: tuple) -> Run:
    """A run from a row of the runs table (its ``folded`` count is the store's own)."""
    values = list(row[:-2])
    values[3] = json.loads(values[3])
    trigger = row[-1]
    return Run(*values, trigger=json.loads(trigger) if trigger is not None else None)


def _row_of(run: Run, folded: int) -> tuple:
    return (
        run.run_id,
        run.script,
        run.source_hash,
        json.dumps(list(run.argv)),
        run.cwd,
        run.hash_seed,
        run.random_seed,
        run.status.value,
        run.exit_code,
        run.error,
        run.pid,
        run.created_at,
        run.updated_at,
        folded,
        json.dumps(run.trigger) if run.trigger is not None else None,
    )


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _bulk_insert_entries(db: Any, root: Path, run_id: str, records: list[tuple]) -> None:
    """Insert many entries at once through a CSV file (parameter binding costs 0.25 ms a row)."""
    import base64
    import csv

    staging = root / f"staging-{os.getpid()}.csv"
    with open(staging, "w", newline="") as f:
        writer = csv.writer(f)
        for entry in map(Entry._make, records):
            payload = base64.b64encode(entry.payload).decode() if entry.payload is not None else ""
            writer.writerow((run_id, *entry._replace(payload=payload)))
    try:
        db.execute(
            "INSERT OR IGNORE INTO entries SELECT run_id, task, seq, attempt, policy, name,"
            " coalesce(site, ''), coalesce(fingerprint, ''), outcome,"
            " from_base64(coalesce(payload, '')), started, ended FROM read_csv(?,"
            " header=false, quote='\"', escape='\"', columns={'run_id': 'VARCHAR',"
            " 'task': 'VARCHAR', 'seq': 'BIGINT', 'attempt': 'INTEGER', 'policy': 'VARCHAR',"
            " 'name': 'VARCHAR', 'site': 'VARCHAR', 'fingerprint': 'VARCHAR',"
            " 'outcome': 'VARCHAR', 'payload': 'VARCHAR', 'started': 'DOUBLE',"
            " 'ended': 'DOUBLE'})",
            (str(staging),),
        )
    finally:
        staging.unlink(missing_ok=True)


@contextmanager
def _file_lock(path: Path, timeout: float, root: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            f"cannot open the store lock {path}: {exc.strerror}. "
            "Check the permissions of the store directory, or use --store DIR."
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the store {root} has been locked by another process for {timeout:.0f}"
                        " s. Wait for it to finish, or set DURABLE_PYTHON_LOCK_TIMEOUT."
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)


def _open_failure(database: Path, exc: Exception) -> str:
    text = str(exc)
    if "lock" in text.lower():
        return (
            f"the store {database} is held open by a program that is not durable-python "
            f"({text.splitlines()[0]}). Close it and try again."
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS):
        return f"the store {database} is not writable. Use --store DIR for a writable place."
    return (
        f"the store {database} cannot be opened: {text.splitlines()[0]}. If it is damaged, move it"
        " aside (mv store.duckdb store.duckdb.bad) and run again; journal segments of live runs"
        " in live/ are kept and will be folded into the new store."
    )
