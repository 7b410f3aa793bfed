"""The PostgreSQL store: runs, journals, events, cancel requests and leases in one database, for
a fleet of machines (DESIGN 5.1). Selected by ``--store postgresql://user@host:port/db``.

The tables live in the schema ``durable_python``, or in the one the URL names with
``?schema=NAME`` (several stores in one database: the tests use one each). The tool creates
them, records their ``SCHEMA_VERSION`` in ``meta`` and refuses a schema written by a newer
version.

A claim is a lease on the run's row: a random token, the holder (``leases.py``) and an expiry
on the server's clock. The holder's process renews it every third of its duration; a claim is
free when its lease expired, or at once when its holder was a process of this machine that is
gone. Every write of a claimed run checks the token in its transaction, so a process whose
lease was taken over cannot commit (fencing), and its heartbeat ends it when it learns so.

Each process has one connection (a lock serialises its threads); a lost connection is
retried with backoff for ``RECONNECT_FOR`` seconds, and every write is idempotent, so a retried
commit that had gone through is harmless. The first connection of a process is not retried: a
server that is down or refuses the login is one ``StoreError`` (exit 74). Waiters have their own
connection, on which they ``LISTEN``; polling takes over while it is lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from durable_python.errors import EXIT_STORE, StoreError, UsageError
from durable_python.model import FINAL, JOURNAL_FORMAT, Entry, Event, QueueLimits, Run

from . import leases
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
    wrong_format,
)

SCHEMA_VERSION = 2
DEFAULT_SCHEMA = "durable_python"
RECONNECT_FOR = float(os.environ.get("DURABLE_PYTHON_RECONNECT_FOR", "600"))
NOW = "extract(epoch FROM clock_timestamp())::float8"  # the server's clock: one for the fleet
_FINAL = tuple(sorted(status.value for status in FINAL))  # ('cancelled', 'completed', 'exited')
_T = TypeVar("_T")

# Version 1. Later versions append their own statements to ``MIGRATIONS``.
_VERSION_1 = f"""
CREATE TABLE meta (schema_version INTEGER NOT NULL, journal_format INTEGER NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    script TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    data JSONB NOT NULL,
    queue TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    dedup_key TEXT,
    dequeued_at DOUBLE PRECISION,
    lease_token TEXT,
    lease_holder TEXT,
    lease_seconds DOUBLE PRECISION,
    lease_expires DOUBLE PRECISION,
    cancel_requested BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX runs_by_age ON runs (created_at);
CREATE INDEX runs_unfinished ON runs (created_at) WHERE status NOT IN {_FINAL!r};
CREATE INDEX runs_queued ON runs (queue, priority, created_at)
    WHERE status = 'new' AND dequeued_at IS NULL;
CREATE UNIQUE INDEX runs_dedup ON runs (queue, dedup_key)
    WHERE dedup_key IS NOT NULL AND status NOT IN {_FINAL!r};
-- The journal: each commit of a run is one row holding its entries (pickled tuples of the
-- fields of model.Entry), keyed by the writer that made it and its number, so a commit retried
-- after a lost connection is kept once; read back in one query in ``position`` order.
CREATE TABLE journal (
    position BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id TEXT NOT NULL,
    writer TEXT NOT NULL,
    batch INTEGER NOT NULL,
    records BYTEA NOT NULL,
    entries INTEGER NOT NULL,
    last_ended DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, writer, batch)
);
CREATE TABLE events (
    run_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    sent_ns BIGINT NOT NULL,
    PRIMARY KEY (run_id, event_id)
);
INSERT INTO meta VALUES (1, {JOURNAL_FORMAT});
"""
# Version 2: how far each schedule of ``durable-python serve`` has fired.
_VERSION_2 = "CREATE TABLE schedules (name TEXT PRIMARY KEY, fired_until DOUBLE PRECISION NOT NULL)"
MIGRATIONS = [_VERSION_1, _VERSION_2]  # MIGRATIONS[n] takes a schema from version n to n + 1
assert len(MIGRATIONS) == SCHEMA_VERSION

# One statement, so one round trip: the lease is checked (and held until the implicit
# transaction commits) and the batch inserted only if it is still this writer's.
_APPEND = (
    "WITH fence AS (SELECT 1 FROM runs WHERE run_id = %s AND lease_token = %s FOR SHARE),"
    " kept AS (INSERT INTO journal (run_id, writer, batch, records, entries, last_ended)"
    " SELECT %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM fence)"
    " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM fence"
)
_RUN_COLUMNS = "status, script, created_at, data, queue, priority, dedup_key, dequeued_at"


def _say(message: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"durable-python: {message}\n")
    stream.flush()


def _run_values(run: Run) -> tuple:
    """The runs table's columns of ``run`` (``_RUN_COLUMNS`` order)."""
    return (
        run.status.value,
        run.script,
        run.created_at,
        json.dumps(run.to_dict()),
        run.queue,
        run.priority,
        run.dedup_key,
        run.dequeued_at,
    )


def _run_of(data: dict[str, Any]) -> Run:
    return Run.from_dict(data)


class LeaseLost(StoreError):
    """This process's lease on a run was taken over: it must not record anything more."""


class _Database:
    """One connection of this process, shared by its threads, reconnected when lost."""

    def __init__(self, conninfo: str, schema: str, shown: str) -> None:
        self.conninfo, self.schema, self.shown = conninfo, schema, shown
        self._connection: Any = None
        self._lock = threading.RLock()
        self._connected_once = False
        self._synchronous = True  # the connection's synchronous_commit
        self.prepared = False  # the schema was checked (and created or migrated) once

    def connect(self) -> Any:
        """A new connection with the store's schema on its search path."""
        psycopg = _psycopg()
        try:
            connection = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=10,
                application_name="durable-python",
            )
        except psycopg.OperationalError as exc:
            raise _Unreachable(exc) from exc
        try:
            connection.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.Error:
            connection.close()
            raise
        return connection

    def _current(self) -> Any:
        if self._connection is None or self._connection.closed:
            self._connection = self.connect()
            self._connected_once = True
            self._synchronous = True  # the server's default
        return self._connection

    def drop(self) -> None:
        _close_quietly(self._connection)
        self._connection = None

    def transact(
        self, work: Callable[[Any], _T], synchronous: bool = True, atomic: bool = True
    ) -> _T:
        """``work(cursor)`` in one transaction (``atomic=False``: ``work`` runs one statement,
        its own transaction, saving the round trips of BEGIN and COMMIT); retried on a new
        connection when the one it ran on was lost (``work`` must be idempotent), for
        ``RECONNECT_FOR`` seconds. ``synchronous=False``: commit without waiting for the
        server's disk (``synchronous_commit = off``)."""
        psycopg = _psycopg()
        delay, deadline, told = 0.05, None, False
        while True:
            with self._lock:
                try:
                    connection = self._current()
                    if synchronous != self._synchronous:  # a round trip, only on a change
                        connection.execute(
                            f"SET synchronous_commit TO {'on' if synchronous else 'off'}"
                        )
                        self._synchronous = synchronous
                    if atomic:
                        with connection.transaction(), connection.cursor() as cursor:
                            result = work(cursor)
                    else:
                        with connection.cursor() as cursor:
                            result = work(cursor)
                    if told:
                        _say(f"the PostgreSQL store {self.shown} is reachable again; going on")
                    return result
                except _Unreachable as exc:
                    if not self._connected_once:
                        raise StoreError(_unreachable_message(self.shown, exc.cause)) from None
                    failure: Exception = exc.cause
                except psycopg.OperationalError as exc:
                    self.drop()
                    failure = exc
                except psycopg.Error as exc:
                    raise StoreError(f"the PostgreSQL store {self.shown} failed: {exc}") from exc
            now = time.monotonic()
            deadline = deadline or now + RECONNECT_FOR
            if now > deadline:
                raise StoreError(
                    f"lost the connection to the PostgreSQL store {self.shown} and could not"
                    f" get it back for {RECONNECT_FOR:.0f} s ({_first_line(failure)}). Nothing"
                    " committed is lost: run the same command again once the server is up."
                )
            if not told:
                told = True
                _say(
                    f"lost the connection to the PostgreSQL store {self.shown}"
                    f" ({_first_line(failure)}); retrying"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _close_quietly(connection: Any) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - it is broken already
            pass


class _Unreachable(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unreachable_message(shown: str, exc: Exception) -> str:
    return (
        f"cannot connect to the PostgreSQL store {shown}: {_first_line(exc)}. Start the server"
        " or check the URL (host, port, user, password, database), then run the same command"
        " again; or use a store directory with --store DIR."
    )


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            "a PostgreSQL store needs psycopg 3: pip install 'durable-python[postgresql]'"
        ) from None
    return psycopg


class PostgresClaim(Claim):
    """A lease on a run's row: ``token`` proves this holder's right to write it."""

    def __init__(self, store: PostgresStore, run_id: str, token: str, seconds: float) -> None:
        self.store, self.run_id, self.token, self.seconds = store, run_id, token, seconds
        self._handed_off = False
        self._released = False

    def handoff(self) -> dict[str, Any]:
        self._handed_off = True
        return {"run_id": self.run_id, "token": self.token, "seconds": self.seconds}

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self.store._forget(self)
        if not self._handed_off:
            self.store._release(self)


class PostgresWriter(JournalWriter):
    """Appends a claimed run's entries: each batch one fenced statement, one round trip."""

    def __init__(self, store: PostgresStore, claim: PostgresClaim, sync: bool) -> None:
        self.store, self.claim, self.sync = store, claim, sync
        self.name = secrets.token_hex(8)  # batches are numbered per writer
        self.batches = 0

    def append(self, records: Sequence[tuple], sync: bool = True) -> None:
        self.batches += 1
        body = pickle.dumps(list(records), protocol=pickle.HIGHEST_PROTOCOL)
        last_ended = max((record[-1] for record in records), default=0.0)
        run_id, token = self.claim.run_id, self.claim.token
        params = (run_id, token, run_id, self.name, self.batches, body, len(records), last_ended)

        def work(cursor: Any) -> None:
            (fenced,) = cursor.execute(_APPEND, params).fetchone()
            if not fenced:
                raise LeaseLost(_lost_message(run_id, self.store.location))

        self.store._transact(work, synchronous=self.sync and sync, atomic=False)

    def close(self) -> None:
        pass


class _Listener(Waiter):
    """Wakes on a ``NOTIFY`` to one of ``channels`` (its own connection), on ``wakeup``, or
    when ``seconds`` passed; polls while the connection is lost."""

    SLICE = 0.1  # how often ``wakeup`` is looked at while waiting

    def __init__(self, db: _Database, channels: Sequence[str]) -> None:
        self.db, self.channels = db, list(channels)
        self._connection: Any = None
        self._listen()

    def _listen(self) -> None:
        try:
            connection = self.db.connect()
            for channel in self.channels:
                connection.execute(f'LISTEN "{channel}"')
            self._connection = connection
        except Exception:  # noqa: BLE001 - unreachable now: poll, and try again next time
            self._connection = None

    def wait(self, seconds: float, wakeup: threading.Event) -> None:
        deadline = time.monotonic() + seconds
        while not wakeup.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._connection is None:
                wakeup.wait(min(left, 0.5))
                self._listen()
                return  # the caller looks again: something may have happened meanwhile
            try:
                for _ in self._connection.notifies(timeout=min(left, self.SLICE), stop_after=1):
                    return
            except _psycopg().Error:
                self.close()

    def close(self) -> None:
        _close_quietly(self._connection)
        self._connection = None


def split_location(url: str) -> tuple[str, str, str]:
    """``(conninfo for libpq, schema, the URL as messages show it: no password)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), DEFAULT_SCHEMA)
    rest = [(key, value) for key, value in query if key != "schema"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    shown = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if not schema.replace("_", "").isalnum() or len(schema) > 40:
        raise UsageError(
            f"the schema {schema!r} in {shown} must be letters, digits and _, at most 40 of them"
        )
    return conninfo, schema, shown


class PostgresStore(Store):
    """A store in a PostgreSQL database; see the module docstring."""

    def __init__(self, url: str) -> None:
        conninfo, schema, self.location = split_location(url)
        self.address = url
        # How long a lease lasts without renewal: how soon another worker takes over the run of
        # a process that stopped renewing it (a machine that is gone).
        self.lease_seconds = float(os.environ.get("DURABLE_PYTHON_LEASE_TIMEOUT", "30"))
        self.db = _Database(conninfo, schema, self.location)
        self._held: dict[str, PostgresClaim] = {}  # by token: the leases this process renews
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._cancel_told: set[str] = set()
        digest = hashlib.sha1(schema.encode()).hexdigest()[:8]
        self._channel_prefix = f"dp.{digest}"

    # ----- schema -------------------------------------------------------------------------------

    def ensure(self) -> None:
        if self.db.prepared:
            return
        self.db.transact(self._prepare)
        self.db.prepared = True

    def _prepare(self, cursor: Any) -> None:
        """Create or migrate the schema (one process at a time); refuse a newer one."""
        version, journal_format = self._version(cursor)
        if version < SCHEMA_VERSION:
            lock = f"durable-python:{self.db.schema}"
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.db.schema}"')
            version, journal_format = self._version(cursor)  # another process may have done it
            for statement in MIGRATIONS[version:]:
                cursor.execute(statement)
            if version < SCHEMA_VERSION:
                cursor.execute("UPDATE meta SET schema_version = %s", (SCHEMA_VERSION,))
                version, journal_format = self._version(cursor)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the PostgreSQL store {self.location} was written by a newer durable-python"
                f" (schema version {version}; this one knows up to {SCHEMA_VERSION})."
                " Upgrade durable-python on this machine: pip install -U durable-python"
            )
        if journal_format != JOURNAL_FORMAT:
            raise wrong_format(f"the PostgreSQL store {self.location}", journal_format)

    def _version(self, cursor: Any) -> tuple[int, int]:
        """The schema version and journal format the store has (0 for none yet)."""
        found = cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.db.schema, "meta"),
        ).fetchone()
        if found is None:
            return 0, JOURNAL_FORMAT
        return cursor.execute("SELECT schema_version, journal_format FROM meta").fetchone()

    def _transact(
        self, work: Callable[[Any], _T], synchronous: bool = True, atomic: bool = True
    ) -> _T:
        self.ensure()
        return self.db.transact(work, synchronous, atomic)

    def _one(self, query: str, params: tuple = ()) -> Any:
        return self._transact(lambda cursor: cursor.execute(query, params).fetchone())

    def _all(self, query: str, params: tuple = ()) -> list[Any]:
        return self._transact(lambda cursor: cursor.execute(query, params).fetchall())

    # ----- runs and leases ----------------------------------------------------------------------

    def create(self, run: Run) -> Claim:
        token = secrets.token_hex(12)

        def work(cursor: Any) -> None:
            cursor.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}, run_id, lease_token, lease_holder,"
                f" lease_seconds, lease_expires) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                f" %s, %s, %s, %s, {NOW} + %s) ON CONFLICT (run_id) DO NOTHING",
                (
                    *_run_values(run),
                    run.run_id,
                    token,
                    leases.this_process(),
                    *(self.lease_seconds,) * 2,
                ),
            )
            if cursor.rowcount == 0:
                held = cursor.execute(
                    "SELECT lease_token FROM runs WHERE run_id = %s", (run.run_id,)
                ).fetchone()
                if held is None or held[0] != token:  # not our own retried insert
                    raise StoreError(
                        f"run {run.run_id} exists already in {self.location}. Give another"
                        " --run-id, or resume that run with: durable-python resume"
                        f" {run.run_id}"
                    )

        self._transact(work)
        return self._hold(PostgresClaim(self, run.run_id, token, self.lease_seconds))

    def claim(self, run_id: str, wait: float = 0.0) -> Claim | None:
        """Take the lease if it is free; ``wait`` is not needed (no upkeep holds leases)."""
        token = secrets.token_hex(12)

        def work(cursor: Any) -> bool:
            row = cursor.execute(
                f"SELECT lease_token, lease_holder, lease_expires < {NOW} FROM runs"
                " WHERE run_id = %s FOR UPDATE",
                (run_id,),
            ).fetchone()
            if row is None:
                return False
            held, holder, expired = row
            # held == token: this very claim, committed before a lost connection hid the reply
            if held is not None and held != token and not expired:
                if not leases.holder_gone(holder):
                    return False
            self._lease(cursor, run_id, token)
            return True

        if not self._transact(work):
            return None
        return self._hold(PostgresClaim(self, run_id, token, self.lease_seconds))

    def _lease(self, cursor: Any, run_id: str, token: str) -> None:
        cursor.execute(
            f"UPDATE runs SET lease_token = %s, lease_holder = %s, lease_seconds = %s,"
            f" lease_expires = {NOW} + %s WHERE run_id = %s",
            (token, leases.this_process(), self.lease_seconds, self.lease_seconds, run_id),
        )

    def adopt(self, handoff: dict[str, Any]) -> Claim:
        run_id, token, seconds = handoff["run_id"], handoff["token"], handoff["seconds"]

        def work(cursor: Any) -> int:
            cursor.execute(
                f"UPDATE runs SET lease_holder = %s, lease_expires = {NOW} + lease_seconds"
                " WHERE run_id = %s AND lease_token = %s",
                (leases.this_process(), run_id, token),
            )
            return cursor.rowcount

        if not self._transact(work):
            raise LeaseLost(
                f"run {run_id} was taken by another process of {self.location} before this one"
                " could take it over; nothing was done here."
            )
        return self._hold(PostgresClaim(self, run_id, token, seconds))

    def _hold(self, claim: PostgresClaim) -> PostgresClaim:
        """Renew ``claim``'s lease from now on (one heartbeat thread renews them all)."""
        with self._held_lock:
            self._held[claim.token] = claim
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(
                    target=self._renew_leases, name="durable-python-lease", daemon=True
                )
                self._heartbeat.start()
        return claim

    def _forget(self, claim: PostgresClaim) -> None:
        with self._held_lock:
            self._held.pop(claim.token, None)

    def _release(self, claim: PostgresClaim) -> None:
        def work(cursor: Any) -> None:
            cursor.execute(
                "UPDATE runs SET lease_token = NULL, lease_holder = NULL, lease_expires = NULL"
                " WHERE run_id = %s AND lease_token = %s",
                (claim.run_id, claim.token),
            )

        self._transact(work)

    def _renew_leases(self) -> None:
        """Renew every held lease a third of its time before it expires; a lease found taken
        over ends this process: it may no longer act for the run."""
        while True:
            with self._held_lock:
                held = dict(self._held)
            interval = min((c.seconds for c in held.values()), default=self.lease_seconds) / 3
            time.sleep(max(0.05, interval))
            if not held:
                continue
            tokens = list(held)

            def work(cursor: Any, tokens: list[str] = tokens) -> list[tuple]:
                return cursor.execute(
                    f"UPDATE runs SET lease_expires = {NOW} + lease_seconds"
                    " WHERE lease_token = ANY(%s) RETURNING lease_token, cancel_requested",
                    (tokens,),
                ).fetchall()

            try:
                renewed = dict(self._transact(work))
            except StoreError:
                continue  # unreachable for long: the next commit says so where the user sees it
            with self._held_lock:
                for token, claim in held.items():
                    if token not in renewed and token in self._held:
                        _say(_lost_message(claim.run_id, self.location))
                        os._exit(EXIT_STORE)
            for token, cancel in renewed.items():
                run_id = held[token].run_id
                if cancel and run_id not in self._cancel_told:
                    self._cancel_told.add(run_id)
                    os.kill(os.getpid(), CANCEL_SIGNAL)  # a run's handler raises Cancelled

    def _fence(self, cursor: Any, run_id: str, token: str) -> None:
        """Within a write's transaction: the lease is still ours (held until commit)."""
        row = cursor.execute(
            "SELECT lease_token FROM runs WHERE run_id = %s FOR SHARE", (run_id,)
        ).fetchone()
        if row is None or row[0] != token:
            raise LeaseLost(_lost_message(run_id, self.location))

    def read(self, run_id: str) -> Run | None:
        row = self._one("SELECT data FROM runs WHERE run_id = %s", (run_id,))
        return _run_of(row[0]) if row is not None else None

    def save(self, run: Run) -> None:
        run = replace(run, updated_at=time.time())
        with self._held_lock:
            claim = next((c for c in self._held.values() if c.run_id == run.run_id), None)

        def work(cursor: Any) -> None:
            if claim is not None:
                self._fence(cursor, run.run_id, claim.token)
            cursor.execute(
                f"INSERT INTO runs (run_id, {_RUN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s,"
                " %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,"
                " script = excluded.script, data = excluded.data, queue = excluded.queue,"
                " priority = excluded.priority, dedup_key = excluded.dedup_key,"
                " dequeued_at = excluded.dequeued_at",
                (run.run_id, *_run_values(run)),
            )

        self._transact(work)

    def runs(self) -> list[Run]:
        return [_run_of(data) for (data,) in self._all("SELECT data FROM runs ORDER BY created_at")]

    def runs_page(self, query: RunQuery) -> list[Run]:
        where, params = query.sql(
            "%s",
            "array_to_string(ARRAY(SELECT jsonb_array_elements_text(data->'argv')), ' ')",
            "status = ANY({mark})",
        )
        rows = self._all(
            f"SELECT data FROM runs WHERE {where} ORDER BY created_at DESC, run_id DESC LIMIT %s",
            (*params, query.limit),
        )
        return [_run_of(data) for (data,) in rows]

    def pending(self) -> list[Run]:
        rows = self._all(  # the predicate of the index runs_unfinished, word for word
            f"SELECT data FROM runs WHERE status NOT IN {_FINAL!r} ORDER BY created_at"
        )
        return [_run_of(data) for (data,) in rows]

    def find(self, id_or_prefix: str) -> Run | None:
        rows = self._all(
            "SELECT data FROM runs WHERE starts_with(run_id, %s) ORDER BY run_id <> %s LIMIT 2",
            (id_or_prefix, id_or_prefix),
        )
        runs = [_run_of(data) for (data,) in rows]
        if len(runs) > 1 and runs[0].run_id != id_or_prefix:
            raise UsageError(
                f"run id {id_or_prefix!r} matches several runs in {self.location}; give more"
                " characters. List the runs with: durable-python runs"
            )
        return runs[0] if runs else None

    def is_live(self, run_id: str) -> bool:
        row = self._one(
            f"SELECT lease_token, lease_holder, lease_expires > {NOW} FROM runs WHERE run_id = %s",
            (run_id,),
        )
        if row is None or row[0] is None or not row[2]:
            return False
        return not leases.holder_gone(row[1])

    def last_activity(self, run: Run) -> float:
        row = self._one("SELECT max(last_ended) FROM journal WHERE run_id = %s", (run.run_id,))
        return max(run.updated_at, row[0] or 0.0)

    # ----- queues -------------------------------------------------------------------------------

    def enqueue(self, run: Run) -> tuple[Run, bool]:
        def work(cursor: Any) -> tuple[Run, bool]:
            found = cursor.execute("SELECT data FROM runs WHERE run_id = %s", (run.run_id,))
            existing = found.fetchone()
            if existing is not None:
                return _run_of(existing[0]), False
            cursor.execute(
                f"INSERT INTO runs (run_id, {_RUN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " %s, %s) ON CONFLICT DO NOTHING",
                (run.run_id, *_run_values(run)),
            )
            if cursor.rowcount == 1:
                self._notify(cursor, run.run_id)
                return run, True
            existing = cursor.execute(  # a run of the queue with the same dedup key
                "SELECT data FROM runs WHERE run_id = %s OR (queue = %s AND dedup_key = %s"
                " AND status <> ALL(%s)) LIMIT 1",
                (run.run_id, run.queue, run.dedup_key, list(_FINAL)),
            ).fetchone()
            return _run_of(existing[0]), False

        return self._transact(work)

    def dequeue(
        self,
        queue: str,
        limits: QueueLimits,
        slots: int,
        runnable: Callable[[Run], str | None],
    ) -> list[tuple[Run, Claim]]:
        """One transaction: limits are counted under a lock of the queue (workers admit runs
        of a limited queue one at a time), candidates are locked with ``SKIP LOCKED`` (workers
        of an unlimited queue never wait for each other)."""
        tokens: list[tuple[Run, str]] = []

        def work(cursor: Any) -> None:
            tokens.clear()
            capacity = slots
            if not limits.unlimited:
                lock = f"durable-python:{self.db.schema}:queue:{queue}"
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            if limits.concurrency is not None:
                (active,) = cursor.execute(
                    f"SELECT count(*) FROM runs WHERE queue = %s AND dequeued_at IS NOT NULL"
                    f" AND status IN ('new', 'running') AND lease_expires > {NOW}",
                    (queue,),
                ).fetchone()
                capacity = min(capacity, limits.concurrency - active)
            if limits.limit is not None:
                (recent,) = cursor.execute(
                    f"SELECT count(*) FROM runs WHERE queue = %s AND dequeued_at > {NOW} - %s",
                    (queue, limits.period),
                ).fetchone()
                capacity = min(capacity, limits.limit - recent)
            if capacity <= 0:
                return
            rows = cursor.execute(
                "SELECT data FROM runs WHERE queue = %s AND status = 'new' AND dequeued_at IS NULL"
                " ORDER BY priority, created_at LIMIT %s FOR UPDATE SKIP LOCKED",
                (queue, capacity + 16),  # room for runs this worker has to leave
            ).fetchall()
            for (data,) in rows:
                run = _run_of(data)
                why = runnable(run)
                if why is not None:
                    if run.note != why:
                        cursor.execute(
                            "UPDATE runs SET data = jsonb_set(data, '{note}', to_jsonb(%s::text))"
                            " WHERE run_id = %s",
                            (why, run.run_id),
                        )
                    continue
                token = secrets.token_hex(12)
                (started,) = cursor.execute(
                    f"UPDATE runs SET dequeued_at = {NOW}, lease_token = %s, lease_holder = %s,"
                    f" lease_seconds = %s, lease_expires = {NOW} + %s,"
                    f" data = data || jsonb_build_object('dequeued_at', {NOW}, 'note', null)"
                    " WHERE run_id = %s RETURNING dequeued_at",
                    (token, leases.this_process(), *(self.lease_seconds,) * 2, run.run_id),
                ).fetchone()
                tokens.append((replace(run, dequeued_at=started, note=None), token))
                if len(tokens) == capacity:
                    return

        self._transact(work)
        return [
            (run, self._hold(PostgresClaim(self, run.run_id, token, self.lease_seconds)))
            for run, token in tokens
        ]

    # ----- journals -----------------------------------------------------------------------------

    def journal(self, run: Run) -> list[Entry]:
        def work(cursor: Any) -> list[tuple]:
            (found,) = cursor.execute("SELECT journal_format FROM meta").fetchone()
            if found != JOURNAL_FORMAT:
                raise wrong_format(f"the PostgreSQL store {self.location}", found)
            return cursor.execute(
                "SELECT records FROM journal WHERE run_id = %s ORDER BY position", (run.run_id,)
            ).fetchall()

        rows = self._transact(work)
        with collector_paused():  # the collector would walk every entry decoded so far
            return entries_of(record for (body,) in rows for record in pickle.loads(body))

    def writer(self, claim: Claim, sync: bool) -> JournalWriter:
        assert isinstance(claim, PostgresClaim)
        return PostgresWriter(self, claim, sync)

    def entry_counts(self, run_ids: Sequence[str] | None = None) -> dict[str, int]:
        if run_ids is None:
            return dict(
                self._all("SELECT run_id, sum(entries)::bigint FROM journal GROUP BY run_id")
            )
        return dict(
            self._all(
                "SELECT run_id, sum(entries)::bigint FROM journal WHERE run_id = ANY(%s)"
                " GROUP BY run_id",
                (list(run_ids),),
            )
        )

    # ----- events, cancel requests, wake-ups -----------------------------------------------------

    def _run_channel(self, run_id: str) -> str:
        return f"{self._channel_prefix}.run.{hashlib.sha1(run_id.encode()).hexdigest()[:16]}"

    @property
    def _due_channel(self) -> str:
        return f"{self._channel_prefix}.due"

    def _notify(self, cursor: Any, run_id: str) -> None:
        """Wake the run's waiters and the workers (sent when the transaction commits)."""
        cursor.execute(
            "SELECT pg_notify(%s, ''), pg_notify(%s, %s)",
            (self._run_channel(run_id), self._due_channel, run_id),
        )

    def send_event(
        self, run_id: str, name: str, payload: Any, event_id: str | None = None
    ) -> tuple[str, bool]:
        event_id, payload_json = event_fields(name, payload, event_id)

        def work(cursor: Any) -> bool:
            cursor.execute(
                "INSERT INTO events VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (run_id, event_id, name, payload_json, time.time_ns()),
            )
            new = cursor.rowcount == 1
            if new:
                self._notify(cursor, run_id)
            return new

        return event_id, self._transact(work)

    def events(self, run_id: str) -> list[Event]:
        rows = self._all(
            "SELECT event_id, name, payload, sent_ns FROM events WHERE run_id = %s"
            " ORDER BY sent_ns, event_id",
            (run_id,),
        )
        return [
            Event(event_id, name, json.loads(payload), ns) for event_id, name, payload, ns in rows
        ]

    def request_cancel(self, run_id: str) -> None:
        """Keep the request and notify; a holder on this machine gets the signal at once,
        another machine's at its next wait or lease renewal (its worker relays it sooner)."""

        def work(cursor: Any) -> tuple | None:
            row = cursor.execute(
                f"UPDATE runs SET cancel_requested = true WHERE run_id = %s"
                f" RETURNING lease_holder, lease_expires > {NOW}",
                (run_id,),
            ).fetchone()
            self._notify(cursor, run_id)
            return row

        row = self._transact(work)
        if row is not None and row[0] and row[1] and not leases.holder_gone(row[0]):
            pid = leases.pid_here(row[0])
            if pid is not None:
                try:
                    os.kill(pid, CANCEL_SIGNAL)
                except (ProcessLookupError, PermissionError):
                    pass

    def cancel_requested(self, run_id: str) -> bool:
        row = self._one("SELECT cancel_requested FROM runs WHERE run_id = %s", (run_id,))
        return bool(row and row[0])

    def clear_cancel(self, run_id: str) -> None:
        self._transact(
            lambda cursor: cursor.execute(
                "UPDATE runs SET cancel_requested = false WHERE run_id = %s", (run_id,)
            )
        )
        self._cancel_told.discard(run_id)

    def watch_run(self, run_id: str) -> Waiter:
        self.ensure()
        return _Listener(self.db, [self._run_channel(run_id)])

    def watch_due(self) -> Waiter:
        self.ensure()
        return _Listener(self.db, [self._due_channel])

    def notify_due(self, run_id: str) -> None:
        self._transact(
            lambda cursor: cursor.execute(
                "SELECT pg_notify(%s, %s)", (self._due_channel, run_id)
            ).fetchone()
        )

    # ----- schedules ----------------------------------------------------------------------------

    def schedule_cursor(self, name: str) -> float | None:
        row = self._transact(
            lambda cursor: cursor.execute(
                "SELECT fired_until FROM schedules WHERE name = %s", (name,)
            ).fetchone()
        )
        return row[0] if row is not None else None

    def advance_schedule(self, name: str, seen: float | None, until: float) -> bool:
        def work(cursor: Any) -> bool:
            if seen is None:
                moved = cursor.execute(
                    "INSERT INTO schedules VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, until)
                )
            else:
                moved = cursor.execute(
                    "UPDATE schedules SET fired_until = %s WHERE name = %s AND fired_until = %s",
                    (until, name, seen),
                )
            return moved.rowcount == 1

        return self._transact(work)

    # ----- upkeep -------------------------------------------------------------------------------

    def stopped(self, run: Run, entries: int = 0) -> None:
        """Nothing to fold: entries are in their table from the start."""

    def compact(self) -> int:
        return 0

    def delete(self, run_ids: Sequence[str]) -> list[str]:
        if not run_ids:
            return []

        def work(cursor: Any) -> list[str]:
            rows = cursor.execute(
                f"SELECT run_id, lease_token, lease_holder, lease_expires > {NOW} FROM runs"
                " WHERE run_id = ANY(%s) FOR UPDATE",
                (list(run_ids),),
            ).fetchall()
            live = {
                run_id
                for run_id, token, holder, unexpired in rows
                if token is not None and unexpired and not leases.holder_gone(holder)
            }
            doomed = [run_id for run_id in run_ids if run_id not in live]
            for table in ("journal", "events", "runs"):
                cursor.execute(f"DELETE FROM {table} WHERE run_id = ANY(%s)", (doomed,))
            return doomed

        return self._transact(work)


def _lost_message(run_id: str, location: str) -> str:
    return (
        f"run {run_id} was taken over by another process: its lease in {location} expired"
        " while this process could not renew it. This process stops without recording"
        " anything more; the run goes on in the process that holds it now."
    )
